/*
 * What an attempt's outcome does to its order (design.md, reconcile): the backoff, the giving up
 * and, per kind of attempt, how its answers map onto them. Pure: no clock, no I/O, no state; the
 * reconciler and lianpayctl query --apply call it with their own policy and carry the action out
 * with store_query_outcome.
 */
#include "attempt.h"

#include <stdio.h>
#include <string.h>

#include "query.h"
#include "state.h"

int64_t attempt_backoff(const struct attempt_policy *p, int64_t attempts)
{
    int64_t wait = p->retry_interval;
    for (int64_t i = 0; i < attempts && wait < p->max_retry_interval; i++)
        wait *= 2;
    return wait < p->max_retry_interval ? wait : p->max_retry_interval;
}

static bool past_give_up(const struct attempt_history *h, const struct attempt_policy *p,
                         int64_t now_ms)
{
    return p->give_up_after > 0 && h->started && now_ms >= h->started_ms + p->give_up_after * 1000;
}

void attempt_decide(enum attempt_answer answer, const struct attempt_history *h,
                    const struct attempt_policy *p, int64_t now_ms, struct attempt_action *out)
{
    memset(out, 0, sizeof(*out));
    out->record = answer != ATTEMPT_NOTHING;
    if (answer == ATTEMPT_SETTLED)
        out->next = ATTEMPT_DONE;
    else if (past_give_up(h, p, now_ms))
        out->next = ATTEMPT_GIVE_UP;
    else {
        out->next = ATTEMPT_RETRY;
        out->retry_at_ms = now_ms + attempt_backoff(p, h->attempts) * 1000;
    }
}

/* "7d 0h", "36m 5s": how long an order has been waiting, for a person to read. */
static const char *format_age(int64_t secs, char *buf, size_t len)
{
    if (secs >= 86400)
        snprintf(buf, len, "%lldd %lldh", (long long)(secs / 86400),
                 (long long)(secs % 86400 / 3600));
    else if (secs >= 3600)
        snprintf(buf, len, "%lldh %lldm", (long long)(secs / 3600), (long long)(secs % 3600 / 60));
    else
        snprintf(buf, len, "%lldm %llds", (long long)(secs / 60), (long long)(secs % 60));
    return buf;
}

void attempt_after_query(const struct query_answer *a, const struct attempt_history *h,
                         const struct attempt_policy *p, int64_t now_ms, struct attempt_action *out)
{
    enum attempt_answer answer = ATTEMPT_NOTHING;
    char age[32];

    if (a->status == QUERY_RESULT)
        answer = state_is_final(a->result.result_pay) ? ATTEMPT_SETTLED : ATTEMPT_PENDING;
    attempt_decide(answer, h, p, now_ms, out);
    if (out->next == ATTEMPT_GIVE_UP)
        snprintf(out->reason, sizeof(out->reason),
                 ATTEMPT_GIVE_UP_PREFIX "%s after registration; last query answer: %.160s",
                 format_age((now_ms - h->started_ms) / 1000, age, sizeof(age)),
                 answer == ATTEMPT_PENDING ? state_result_name(a->result.result_pay) : a->detail);
}

const char *attempt_next_name(enum attempt_next next)
{
    static const char *const names[] = {
        [ATTEMPT_DONE] = "recorded",
        [ATTEMPT_RETRY] = "rescheduled",
        [ATTEMPT_GIVE_UP] = "gave_up",
    };
    return (unsigned)next < sizeof(names) / sizeof(names[0]) ? names[next] : "unknown";
}
