/*
 * attempt: the reconciler's policy, one test per row of attempt_decide's table (attempt.h), for
 * the answers query.c classifies, with the daemon's default policy (retry 10 min, at most 2 h,
 * give up after 7 days) and lianpayctl query --apply's (a fixed retry_interval, never give up).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "attempt.h"
#include "query.h"
#include "state.h"
#include "store.h"

#define T0   1795336200000LL /* 2026-11-22T08:30:00.000Z: the order's registration */
#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

static const struct attempt_policy daemon_policy = {
    .retry_interval = 600,
    .max_retry_interval = 7200,
    .give_up_after = 7 * 86400,
};

static const struct attempt_history registered = {.started = true, .started_ms = T0};

static struct query_answer result_answer(enum result_pay result)
{
    struct query_answer a;

    memset(&a, 0, sizeof(a));
    a.status = QUERY_RESULT;
    a.signed_ok = 1;
    snprintf(a.ret_code, sizeof(a.ret_code), "0000");
    snprintf(a.result.no_order, sizeof(a.result.no_order), "20261122000123");
    a.result.result_pay = result;
    return a;
}

static struct query_answer other_answer(enum query_status status, const char *detail)
{
    struct query_answer a;

    memset(&a, 0, sizeof(a));
    a.status = status;
    snprintf(a.detail, sizeof(a.detail), "%s", detail);
    return a;
}

/* Every answer that is not a verified result, with query.c's words for it. */
static const struct {
    enum query_status status;
    const char *detail;
} nothing[] = {
    {QUERY_NO_RECORD, "8901: LianLian has no record (unsigned)"},
    {QUERY_REFUSED, "LianLian answered 9999"},
    {QUERY_UNSIGNED, "answer without a valid signature"},
    {QUERY_INVALID, "answer is about another order"},
    {QUERY_TRANSPORT, "Timeout was reached"},
};
#define NOTHING_COUNT (sizeof(nothing) / sizeof(nothing[0]))

static const enum result_pay finals[] = {RESULT_SUCCESS, RESULT_FAILURE, RESULT_CANCEL,
                                         RESULT_CLOSED};
static const enum result_pay pendings[] = {RESULT_APPLY, RESULT_CHECK, RESULT_WAITING,
                                           RESULT_PROCESSING};

/* Asserts the action: what is recorded, what follows, when, and why. */
static void assert_action(const struct attempt_action *act, bool record, enum attempt_next next,
                          int64_t retry_at_ms, const char *reason)
{
    if (act->record != record || act->next != next)
        fail_msg("got %s%s, want %s%s", act->record ? "record, " : "", attempt_next_name(act->next),
                 record ? "record, " : "", attempt_next_name(next));
    assert_int_equal(act->retry_at_ms, retry_at_ms);
    assert_string_equal(act->reason, reason);
}

/* Row: a verified final result is recorded and ends the chase, before and past give_up_after. */
static void test_final_result_recorded_done(void **state)
{
    (void)state;
    const int64_t when[] = {T0 + 40 * MIN, T0 + 7 * DAY, T0 + 30 * DAY};

    for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
        for (size_t t = 0; t < sizeof(when) / sizeof(when[0]); t++) {
            struct query_answer a = result_answer(finals[i]);
            struct attempt_action act;
            attempt_after_query(&a, &registered, &daemon_policy, when[t], &act);
            assert_action(&act, true, ATTEMPT_DONE, 0, "");
        }
    }
}

/* Row: a verified pending result before give_up_after is recorded and asked again after the
 * backoff of the attempts so far. */
static void test_pending_result_recorded_rescheduled(void **state)
{
    (void)state;
    struct attempt_history h = registered;
    int64_t now = T0 + 3 * DAY;

    for (size_t i = 0; i < sizeof(pendings) / sizeof(pendings[0]); i++) {
        struct query_answer a = result_answer(pendings[i]);
        struct attempt_action act;
        h.attempts = 2;
        attempt_after_query(&a, &h, &daemon_policy, now, &act);
        assert_action(&act, true, ATTEMPT_RETRY, now + 2400 * SEC, ""); /* 600 s doubled twice */
    }
}

/* Row: 8901, a refusal, an unsigned or invalid answer, no answer: nothing recorded, asked again. */
static void test_no_usable_answer_rescheduled(void **state)
{
    (void)state;
    struct attempt_history h = registered;
    int64_t now = T0 + 36 * MIN;

    for (size_t i = 0; i < NOTHING_COUNT; i++) {
        struct query_answer a = other_answer(nothing[i].status, nothing[i].detail);
        struct attempt_action act;
        attempt_after_query(&a, &h, &daemon_policy, now, &act);
        assert_action(&act, false, ATTEMPT_RETRY, now + 600 * SEC, "");
    }
}

/* Row: a pending result from give_up_after on is recorded, then the order goes to a person with
 * the result as the last answer. */
static void test_pending_result_past_give_up_recorded_gave_up(void **state)
{
    (void)state;
    struct query_answer a = result_answer(RESULT_PROCESSING);
    struct attempt_action act;
    struct attempt_history h = registered;

    h.attempts = 200;
    attempt_after_query(&a, &h, &daemon_policy, T0 + 7 * DAY + 3 * HOUR, &act);
    assert_action(&act, true, ATTEMPT_GIVE_UP, 0,
                  "no final result 7d 3h after registration; last query answer: PROCESSING");
}

/* Row: no usable answer from give_up_after on: nothing recorded, given up with the answer's
 * detail as the last answer. */
static void test_no_usable_answer_past_give_up_gave_up(void **state)
{
    (void)state;
    char want[256];

    for (size_t i = 0; i < NOTHING_COUNT; i++) {
        struct query_answer a = other_answer(nothing[i].status, nothing[i].detail);
        struct attempt_action act;
        attempt_after_query(&a, &registered, &daemon_policy, T0 + 8 * DAY, &act);
        snprintf(want, sizeof(want),
                 "no final result 8d 0h after registration; last query answer: %s",
                 nothing[i].detail);
        assert_action(&act, false, ATTEMPT_GIVE_UP, 0, want);
    }
}

/* give_up_after counts from registration to the millisecond: one before, the attempt is
 * rescheduled; at it, given up. */
static void test_give_up_boundary(void **state)
{
    (void)state;
    struct query_answer a = other_answer(QUERY_NO_RECORD, "8901: LianLian has no record (signed)");
    struct attempt_action act;
    int64_t at = T0 + 7 * DAY;

    attempt_after_query(&a, &registered, &daemon_policy, at - 1, &act);
    assert_action(&act, false, ATTEMPT_RETRY, at - 1 + 600 * SEC, "");
    attempt_after_query(&a, &registered, &daemon_policy, at, &act);
    assert_action(&act, false, ATTEMPT_GIVE_UP, 0,
                  "no final result 7d 0h after registration; last query answer: 8901: LianLian "
                  "has no record (signed)");
}

/* A last answer longer than the reason can hold is cut at 160 bytes, the rest of the reason
 * kept. */
static void test_give_up_reason_cut(void **state)
{
    (void)state;
    char detail[256];
    struct attempt_action act;

    memset(detail, 'x', sizeof(detail) - 1);
    detail[sizeof(detail) - 1] = '\0';
    struct query_answer a = other_answer(QUERY_INVALID, detail);
    attempt_after_query(&a, &registered, &daemon_policy, T0 + 7 * DAY, &act);
    const char *prefix = "no final result 7d 0h after registration; last query answer: ";
    assert_int_equal(strncmp(act.reason, prefix, strlen(prefix)), 0);
    assert_int_equal(strlen(act.reason), strlen(prefix) + 160);
}

/* How long the order waited, as a person reads it, under an hour, under a day, beyond. */
static void test_give_up_reason_age(void **state)
{
    (void)state;
    const struct attempt_policy soon = {600, 7200, 1800};
    const struct {
        int64_t after;
        const char *age;
    } rows[] = {
        {36 * MIN + 5 * SEC, "36m 5s"},
        {2 * HOUR + 3 * MIN + 59 * SEC, "2h 3m"},
        {9 * DAY + 23 * HOUR + 59 * MIN, "9d 23h"},
    };
    char want[256];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct query_answer a = other_answer(QUERY_TRANSPORT, "HTTP status 502");
        struct attempt_action act;
        attempt_after_query(&a, &registered, &soon, T0 + rows[i].after, &act);
        snprintf(want, sizeof(want),
                 "no final result %s after registration; last query answer: HTTP status 502",
                 rows[i].age);
        assert_string_equal(act.reason, want);
    }
}

/* An order whose registration time is unknown is never given up on (it is asked again). */
static void test_unknown_start_never_gives_up(void **state)
{
    (void)state;
    const struct attempt_history unknown = {.started = false, .attempts = 3};
    struct query_answer a =
        other_answer(QUERY_NO_RECORD, "8901: LianLian has no record (unsigned)");
    struct attempt_action act;

    attempt_after_query(&a, &unknown, &daemon_policy, T0 + 400 * DAY, &act);
    assert_action(&act, false, ATTEMPT_RETRY, T0 + 400 * DAY + 4800 * SEC, "");
}

/* lianpayctl query --apply's policy: a pending answer is recorded and asked again after
 * retry_interval exactly, however often it was asked and however old the order. */
static void test_operator_policy(void **state)
{
    (void)state;
    const struct attempt_policy operator_policy = {600, 600, 0};
    const struct attempt_history any[] = {
        {.started = false},
        {.started = true, .started_ms = T0 - 400 * DAY, .attempts = 1000},
    };

    for (size_t i = 0; i < sizeof(any) / sizeof(any[0]); i++) {
        struct query_answer a = result_answer(RESULT_WAITING);
        struct attempt_action act;
        attempt_after_query(&a, &any[i], &operator_policy, T0, &act);
        assert_action(&act, true, ATTEMPT_RETRY, T0 + 600 * SEC, "");
        a = result_answer(RESULT_SUCCESS);
        attempt_after_query(&a, &any[i], &operator_policy, T0, &act);
        assert_action(&act, true, ATTEMPT_DONE, 0, "");
    }
}

/* The backoff: retry_interval doubled per earlier attempt up to max_retry_interval, which a
 * count at its ceiling reaches without overflowing. */
static void test_backoff(void **state)
{
    (void)state;
    const int64_t want[] = {600, 1200, 2400, 4800, 7200, 7200, 7200};
    const struct attempt_policy odd = {700, 2000, 0};

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(attempt_backoff(&daemon_policy, (int64_t)i), want[i]);
    assert_int_equal(attempt_backoff(&daemon_policy, STORE_COUNT_MAX), 7200);
    /* not a power-of-two multiple: capped, not overshot */
    assert_int_equal(attempt_backoff(&odd, 1), 1400);
    assert_int_equal(attempt_backoff(&odd, 2), 2000);
}

/* attempt_decide for any kind of attempt: the same table without a query in sight. */
static void test_decide_generic(void **state)
{
    (void)state;
    struct attempt_action act;
    const int64_t before = T0 + DAY, after = T0 + 7 * DAY;

    attempt_decide(ATTEMPT_SETTLED, &registered, &daemon_policy, after, &act);
    assert_action(&act, true, ATTEMPT_DONE, 0, "");
    attempt_decide(ATTEMPT_PENDING, &registered, &daemon_policy, before, &act);
    assert_action(&act, true, ATTEMPT_RETRY, before + 600 * SEC, "");
    attempt_decide(ATTEMPT_NOTHING, &registered, &daemon_policy, before, &act);
    assert_action(&act, false, ATTEMPT_RETRY, before + 600 * SEC, "");
    /* giving up, the words are the kind of attempt's */
    attempt_decide(ATTEMPT_PENDING, &registered, &daemon_policy, after, &act);
    assert_action(&act, true, ATTEMPT_GIVE_UP, 0, "");
    attempt_decide(ATTEMPT_NOTHING, &registered, &daemon_policy, after, &act);
    assert_action(&act, false, ATTEMPT_GIVE_UP, 0, "");
}

/* The log's action= words. */
static void test_action_names(void **state)
{
    (void)state;
    assert_string_equal(attempt_next_name(ATTEMPT_DONE), "recorded");
    assert_string_equal(attempt_next_name(ATTEMPT_RETRY), "rescheduled");
    assert_string_equal(attempt_next_name(ATTEMPT_GIVE_UP), "gave_up");
    assert_string_equal(attempt_next_name((enum attempt_next)7), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_final_result_recorded_done),
        cmocka_unit_test(test_pending_result_recorded_rescheduled),
        cmocka_unit_test(test_no_usable_answer_rescheduled),
        cmocka_unit_test(test_pending_result_past_give_up_recorded_gave_up),
        cmocka_unit_test(test_no_usable_answer_past_give_up_gave_up),
        cmocka_unit_test(test_give_up_boundary),
        cmocka_unit_test(test_give_up_reason_cut),
        cmocka_unit_test(test_give_up_reason_age),
        cmocka_unit_test(test_unknown_start_never_gives_up),
        cmocka_unit_test(test_operator_policy),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_decide_generic),
        cmocka_unit_test(test_action_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
