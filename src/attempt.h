#ifndef LIANPAY_ATTEMPT_H
#define LIANPAY_ATTEMPT_H

#include <stdbool.h>
#include <stdint.h>

struct query_answer;

/*
 * The outcome of an attempt: what one try at LianLian (a queryPayment today) does to the order it
 * was about. The decision is a pure function, the attempt's answer, the order's history and the
 * policy in, one action out; the caller carries the action out in one transaction
 * (store_query_outcome). Any kind of attempt maps its answers onto enum attempt_answer and its
 * policy onto struct attempt_policy, and so shares the backoff and the giving up.
 */

/* When to try again and when to stop, in seconds. */
struct attempt_policy {
    int64_t retry_interval;     /* the wait after the first attempt that settled nothing */
    int64_t max_retry_interval; /* the wait doubles per attempt up to this (>= retry_interval) */
    int64_t give_up_after;      /* since the start of the chase; 0: never give up */
};

/* What is known of the order before this attempt. */
struct attempt_history {
    bool started;       /* false: when the chase began is unknown, so it never gives up */
    int64_t started_ms; /* when it began (registration), ms since the epoch */
    int64_t attempts;   /* attempts made before this one, >= 0 */
};

/* What an attempt's answer amounts to, whatever the kind of attempt. */
enum attempt_answer {
    ATTEMPT_SETTLED, /* a believable final answer: nothing more to try */
    ATTEMPT_PENDING, /* a believable answer that settles nothing yet */
    ATTEMPT_NOTHING, /* nothing learned: no answer, or none to believe */
};

/* What follows once the answer is recorded (or not). */
enum attempt_next {
    ATTEMPT_DONE,    /* nothing: the answer settled it */
    ATTEMPT_RETRY,   /* try again at retry_at_ms */
    ATTEMPT_GIVE_UP, /* stop trying and flag the order for review, with reason */
};

struct attempt_action {
    bool record; /* record the answer first (it is believable: SETTLED or PENDING) */
    enum attempt_next next;
    int64_t retry_at_ms; /* ATTEMPT_RETRY: ms since the epoch; 0 otherwise */
    char reason[256];    /* ATTEMPT_GIVE_UP: the review reason; "" otherwise */
};

/* The wait in seconds before the next attempt after `attempts` earlier ones: retry_interval
 * doubled per attempt, at most max_retry_interval. */
int64_t attempt_backoff(const struct attempt_policy *p, int64_t attempts);

/*
 * The policy, for any kind of attempt, at now_ms:
 *   SETTLED                     -> record, done (even past give_up_after)
 *   PENDING before give_up_after -> record, retry after attempt_backoff()
 *   NOTHING before give_up_after -> retry after attempt_backoff()
 *   PENDING from give_up_after on -> record, give up
 *   NOTHING from give_up_after on -> give up
 * leaving out->reason "" for the caller's words. Fills every field of *out.
 */
void attempt_decide(enum attempt_answer answer, const struct attempt_history *h,
                    const struct attempt_policy *p, int64_t now_ms, struct attempt_action *out);

/*
 * attempt_decide for a queryPayment answer (query.c's classification): a verified final result
 * is SETTLED, a verified pending one PENDING, anything else (8901, a refusal, an unsigned, badly
 * signed or invalid answer, no answer) NOTHING. Giving up, the reason names how long the order
 * has waited since registration and the last answer ("no final result 7d 0h after registration;
 * last query answer: 8901: LianLian has no record (unsigned)").
 */
void attempt_after_query(const struct query_answer *a, const struct attempt_history *h,
                         const struct attempt_policy *p, int64_t now_ms,
                         struct attempt_action *out);
/* How that give-up reason begins: what marks payments.review_reason as the reconciler's give-up
 * (store_submit_sending clears it when a resubmitted payout is sent again). */
#define ATTEMPT_GIVE_UP_PREFIX "no final result "

/* The word the log's action= gives it: "recorded" (done), "rescheduled", "gave_up". */
const char *attempt_next_name(enum attempt_next next);

#endif
