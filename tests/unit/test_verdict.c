/*
 * The order's verdict without SQLite: every row of design.md's state machine table as
 * verdict_result sees it (with the review reason a conflict writes), the mismatch that overrides
 * the table, and what a registration does to an order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "verdict.h"

#define A OUTCOME_APPLIED
#define D OUTCOME_DUPLICATE
#define S OUTCOME_STALE
#define C OUTCOME_CONFLICT

#define FEN      4965
#define DT_ORDER "20240101123456"

/* An order whose row knows FEN and DT_ORDER (as a notification would have left it). */
static struct verdict_order known(enum result_pay current)
{
    struct verdict_order o = {
        .found = true,
        .result = current,
        .has_amount = true,
        .amount_fen = FEN,
        .registered = false,
    };
    snprintf(o.dt_order, sizeof(o.dt_order), "%s", DT_ORDER);
    snprintf(o.source, sizeof(o.source), "%s", current != RESULT_NONE ? "notify" : "");
    return o;
}

static struct payresult incoming(enum result_pay r, int64_t fen, const char *dt_order)
{
    struct payresult p;

    memset(&p, 0, sizeof(p));
    p.result_pay = r;
    p.amount_fen = fen;
    snprintf(p.dt_order, sizeof(p.dt_order), "%s", dt_order);
    snprintf(p.no_order, sizeof(p.no_order), "A1");
    return p;
}

static const enum result_pay pendings[] = {RESULT_APPLY, RESULT_CHECK, RESULT_WAITING,
                                           RESULT_PROCESSING};
#define NPENDING (sizeof(pendings) / sizeof(pendings[0]))

/* design.md's table as it is written: rows C, columns R = pending, SUCCESS, FAILURE, CANCEL,
 * CLOSED. The "none / pending" row is checked separately (the same pending value: duplicate). */
static const struct {
    enum result_pay current;
    enum outcome cells[5];
} table[] = {
    {RESULT_SUCCESS, {S, D, C, A, C}},
    {RESULT_FAILURE, {S, C, D, C, S}},
    {RESULT_CANCEL, {S, S, C, D, C}},
    {RESULT_CLOSED, {S, C, S, C, D}},
};
static const enum result_pay finals[] = {RESULT_SUCCESS, RESULT_FAILURE, RESULT_CANCEL,
                                         RESULT_CLOSED};

/* Fails unless result r from source on o gives outcome with review reason reason. */
static void expect(const struct verdict_order *o, enum result_pay r, enum payresult_source source,
                   enum outcome outcome, const char *reason)
{
    struct payresult p = incoming(r, FEN, DT_ORDER);
    char got[VERDICT_REASON_LEN];

    memset(got, 'x', sizeof(got));
    enum outcome out = verdict_result(o, &p, source, got, sizeof(got));
    if (out != outcome || strcmp(got, reason) != 0)
        fail_msg("%s on %s by %s: %s \"%s\", expected %s \"%s\"", state_result_name(r),
                 o->result != RESULT_NONE ? state_result_name(o->result) : "none",
                 payresult_source_name(source), state_outcome_name(out), got,
                 state_outcome_name(outcome), reason);
}

static void test_unknown_order_takes_anything(void **state)
{
    struct verdict_order none = {.found = false};

    (void)state;
    for (size_t i = 0; i < NPENDING; i++)
        expect(&none, pendings[i], PAYRESULT_QUERY, A, "");
    for (size_t i = 0; i < 4; i++)
        expect(&none, finals[i], PAYRESULT_NOTIFY, A, "");
}

/* Row "none / pending": a registered order with no result yet, and every pending one. */
static void test_row_none_and_pending(void **state)
{
    struct verdict_order none = known(RESULT_NONE);

    (void)state;
    none.registered = true;
    for (size_t i = 0; i < NPENDING; i++)
        expect(&none, pendings[i], PAYRESULT_QUERY, A, "");
    for (size_t i = 0; i < 4; i++)
        expect(&none, finals[i], PAYRESULT_NOTIFY, A, "");
    for (size_t c = 0; c < NPENDING; c++) {
        struct verdict_order o = known(pendings[c]);
        for (size_t i = 0; i < NPENDING; i++)
            expect(&o, pendings[i], PAYRESULT_QUERY, i == c ? D : A, "");
        for (size_t i = 0; i < 4; i++)
            expect(&o, finals[i], PAYRESULT_NOTIFY, A, "");
    }
}

/* Rows SUCCESS, FAILURE, CANCEL, CLOSED; a conflict says what met what, and who said it. */
static void test_rows_final(void **state)
{
    char reason[VERDICT_REASON_LEN];

    (void)state;
    for (size_t row = 0; row < sizeof(table) / sizeof(table[0]); row++) {
        struct verdict_order o = known(table[row].current);
        for (size_t i = 0; i < NPENDING; i++)
            expect(&o, pendings[i], PAYRESULT_QUERY, table[row].cells[0], "");
        for (size_t i = 0; i < 4; i++) {
            enum outcome cell = table[row].cells[1 + i];
            for (int src = PAYRESULT_NOTIFY; src <= PAYRESULT_QUERY; src++) {
                reason[0] = '\0';
                if (cell == C)
                    snprintf(reason, sizeof(reason), "conflict: %s then %s by %s",
                             state_result_name(table[row].current), state_result_name(finals[i]),
                             src == PAYRESULT_QUERY ? "query" : "notify");
                expect(&o, finals[i], (enum payresult_source)src, cell, reason);
            }
        }
    }
    /* The wording, once, written out. */
    struct verdict_order success = known(RESULT_SUCCESS);
    expect(&success, RESULT_FAILURE, PAYRESULT_NOTIFY, C,
           "conflict: SUCCESS then FAILURE by notify");
}

/* Fails unless p on o is a mismatch with reason. */
static void expect_mismatch(const struct verdict_order *o, const struct payresult *p,
                            enum payresult_source source, const char *reason)
{
    char got[VERDICT_REASON_LEN];

    assert_int_equal(verdict_result(o, p, source, got, sizeof(got)), OUTCOME_MISMATCH);
    assert_string_equal(got, reason);
}

static void test_mismatch(void **state)
{
    struct verdict_order registered = known(RESULT_NONE);
    struct verdict_order recorded = known(RESULT_WAITING);
    struct verdict_order success = known(RESULT_SUCCESS);
    struct payresult p;

    (void)state;
    registered.registered = true;
    p = incoming(RESULT_SUCCESS, 5000, DT_ORDER);
    expect_mismatch(&registered, &p, PAYRESULT_NOTIFY,
                    "amount mismatch: registered 49.65, notify says 50.00 (SUCCESS)");
    p = incoming(RESULT_PROCESSING, FEN, "20240102123456");
    recorded.source[0] = '\0';
    expect_mismatch(&recorded, &p, PAYRESULT_QUERY,
                    "dt_order mismatch: recorded 20240101123456, query says 20240102123456 "
                    "(PROCESSING)");
    p = incoming(RESULT_FAILURE, 1, "20240102123456");
    expect_mismatch(&registered, &p, PAYRESULT_QUERY,
                    "amount mismatch: registered 49.65, query says 0.01 (FAILURE); dt_order "
                    "mismatch: registered 20240101123456, query says 20240102123456 (FAILURE)");
    /* It overrides the table: a conflict and a duplicate that carry other money. */
    p = incoming(RESULT_FAILURE, 5000, DT_ORDER);
    expect_mismatch(&success, &p, PAYRESULT_NOTIFY,
                    "amount mismatch: recorded 49.65, notify says 50.00 (FAILURE)");
    p = incoming(RESULT_SUCCESS, 5000, DT_ORDER);
    expect_mismatch(&success, &p, PAYRESULT_NOTIFY,
                    "amount mismatch: recorded 49.65, notify says 50.00 (SUCCESS)");
}

/* Only what the row knows can differ; a reason too long for its room is cut, still a mismatch. */
static void test_mismatch_needs_known_values(void **state)
{
    struct verdict_order o = known(RESULT_WAITING);
    struct payresult p = incoming(RESULT_SUCCESS, 5000, "20240102123456");
    char reason[VERDICT_REASON_LEN], small[20];

    (void)state;
    o.has_amount = false;
    o.dt_order[0] = '\0';
    expect(&o, RESULT_SUCCESS, PAYRESULT_NOTIFY, A, "");
    assert_int_equal(verdict_result(&o, &p, PAYRESULT_NOTIFY, reason, sizeof(reason)), A);
    assert_string_equal(reason, "");

    o = known(RESULT_WAITING);
    assert_int_equal(verdict_result(&o, &p, PAYRESULT_NOTIFY, small, sizeof(small)),
                     OUTCOME_MISMATCH);
    assert_string_equal(small, "amount mismatch: re");
}

/* Fails unless registering fen and dt_order on o gives v with reason. */
static void expect_register(const struct verdict_order *o, int64_t fen, const char *dt_order,
                            enum verdict_registration v, const char *reason)
{
    char got[VERDICT_REASON_LEN];

    memset(got, 'x', sizeof(got));
    assert_int_equal(verdict_register(o, fen, dt_order, got, sizeof(got)), v);
    assert_string_equal(got, reason);
}

static void test_register(void **state)
{
    struct verdict_order none = {.found = false};
    struct verdict_order registered = known(RESULT_NONE);
    struct verdict_order notified = known(RESULT_SUCCESS);
    struct verdict_order plain = known(RESULT_NONE);

    (void)state;
    registered.registered = true;
    expect_register(&none, FEN, DT_ORDER, VERDICT_REGISTER_NEW, "");
    expect_register(&registered, FEN, DT_ORDER, VERDICT_REGISTER_SAME, "");
    expect_register(&registered, 5000, DT_ORDER, VERDICT_REGISTER_REFUSED,
                    "already registered with amount 49.65 and dt_order 20240101123456");
    expect_register(&registered, FEN, "20240102123456", VERDICT_REGISTER_REFUSED,
                    "already registered with amount 49.65 and dt_order 20240101123456");
    registered.dt_order[0] = '\0';
    expect_register(&registered, FEN, "20240102123456", VERDICT_REGISTER_SAME, "");
    expect_register(&registered, 1, "20240102123456", VERDICT_REGISTER_REFUSED,
                    "already registered with amount 49.65 and dt_order unknown");

    expect_register(&notified, FEN, DT_ORDER, VERDICT_REGISTER_MERGE, "");
    expect_register(&notified, 5000, DT_ORDER, VERDICT_REGISTER_MERGE,
                    "amount mismatch: registered 50.00, notify says 49.65 (SUCCESS)");
    expect_register(&notified, 5000, "20240102123456", VERDICT_REGISTER_MERGE,
                    "amount mismatch: registered 50.00, notify says 49.65 (SUCCESS); dt_order "
                    "mismatch: registered 20240102123456, notify says 20240101123456 (SUCCESS)");
    /* A row nobody reported a result on (plain SQL, or LianLian before a result). */
    expect_register(&plain, FEN, "20240102123456", VERDICT_REGISTER_MERGE,
                    "dt_order mismatch: registered 20240102123456, LianLian says 20240101123456 "
                    "(no result)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_order_takes_anything),
        cmocka_unit_test(test_row_none_and_pending),
        cmocka_unit_test(test_rows_final),
        cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_mismatch_needs_known_values),
        cmocka_unit_test(test_register),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
