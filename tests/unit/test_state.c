/*
 * The state machine against design.md's table, cell by cell: 9 current states (none, the four
 * pending ones, the four final ones) times the 8 results LianLian can report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "state.h"

#define A OUTCOME_APPLIED
#define D OUTCOME_DUPLICATE
#define S OUTCOME_STALE
#define C OUTCOME_CONFLICT

/* Written out from the design's table, including pending -> the same pending value (duplicate)
 * and pending -> another pending value (applied). */
static const enum outcome expected[9][8] = {
    /*              APPLY CHECK WAIT PROC SUCC FAIL CANC CLOS */
    /* none */ {A, A, A, A, A, A, A, A},
    /* APPLY */ {D, A, A, A, A, A, A, A},
    /* CHECK */ {A, D, A, A, A, A, A, A},
    /* WAITING */ {A, A, D, A, A, A, A, A},
    /* PROCESSING */ {A, A, A, D, A, A, A, A},
    /* SUCCESS */ {S, S, S, S, D, C, A, C},
    /* FAILURE */ {S, S, S, S, C, D, C, S},
    /* CANCEL */ {S, S, S, S, S, C, D, C},
    /* CLOSED */ {S, S, S, S, C, S, C, D},
};

static const enum result_pay currents[9] = {
    RESULT_NONE,    RESULT_APPLY,   RESULT_CHECK,  RESULT_WAITING, RESULT_PROCESSING,
    RESULT_SUCCESS, RESULT_FAILURE, RESULT_CANCEL, RESULT_CLOSED,
};

static const enum result_pay incomings[8] = {
    RESULT_APPLY,   RESULT_CHECK,   RESULT_WAITING, RESULT_PROCESSING,
    RESULT_SUCCESS, RESULT_FAILURE, RESULT_CANCEL,  RESULT_CLOSED,
};

static void test_every_cell(void **state)
{
    (void)state;
    int checked = 0;
    for (int c = 0; c < 9; c++) {
        for (int i = 0; i < 8; i++) {
            enum outcome got = state_next(currents[c], incomings[i]);
            if (got != expected[c][i])
                fail_msg("current %s, incoming %s: got %s, want %s",
                         currents[c] == RESULT_NONE ? "none" : state_result_name(currents[c]),
                         state_result_name(incomings[i]), state_outcome_name(got),
                         state_outcome_name(expected[c][i]));
            checked++;
        }
    }
    assert_int_equal(checked, 72);
}

static void test_pending_cells_named(void **state)
{
    (void)state;
    /* The two rules the table states in words, spelled out. */
    assert_int_equal(state_next(RESULT_PROCESSING, RESULT_PROCESSING), OUTCOME_DUPLICATE);
    assert_int_equal(state_next(RESULT_APPLY, RESULT_PROCESSING), OUTCOME_APPLIED);
    assert_int_equal(state_next(RESULT_SUCCESS, RESULT_CANCEL), OUTCOME_APPLIED);
    assert_int_equal(state_next(RESULT_CANCEL, RESULT_SUCCESS), OUTCOME_STALE);
    assert_int_equal(state_next(RESULT_SUCCESS, RESULT_FAILURE), OUTCOME_CONFLICT);
}

static void test_never_mismatch_nor_backwards(void **state)
{
    (void)state;
    for (int c = 0; c < 9; c++) {
        for (int i = 0; i < 8; i++) {
            enum outcome o = state_next(currents[c], incomings[i]);
            assert_int_not_equal(o, OUTCOME_MISMATCH);
            /* applied never takes a final order back to pending */
            if (state_is_final(currents[c]) && o == OUTCOME_APPLIED)
                assert_true(state_is_final(incomings[i]));
        }
    }
}

static void test_incoming_none_moves_nothing(void **state)
{
    (void)state;
    assert_int_equal(state_next(RESULT_NONE, RESULT_NONE), OUTCOME_STALE);
    assert_int_equal(state_next(RESULT_SUCCESS, RESULT_NONE), OUTCOME_STALE);
}

static void test_classes(void **state)
{
    (void)state;
    assert_false(state_is_pending(RESULT_NONE));
    assert_false(state_is_final(RESULT_NONE));
    for (int i = 0; i < 4; i++) {
        assert_true(state_is_pending(incomings[i]));
        assert_false(state_is_final(incomings[i]));
    }
    for (int i = 4; i < 8; i++) {
        assert_false(state_is_pending(incomings[i]));
        assert_true(state_is_final(incomings[i]));
    }
}

static void test_names(void **state)
{
    (void)state;
    static const char *const names[8] = {"APPLY",   "CHECK",   "WAITING", "PROCESSING",
                                         "SUCCESS", "FAILURE", "CANCEL",  "CLOSED"};
    for (int i = 0; i < 8; i++) {
        enum result_pay r = RESULT_NONE;
        assert_string_equal(state_result_name(incomings[i]), names[i]);
        assert_int_equal(state_result_parse(names[i], &r), 0);
        assert_int_equal(r, incomings[i]);
    }
    assert_null(state_result_name(RESULT_NONE));

    assert_string_equal(state_outcome_name(OUTCOME_APPLIED), "applied");
    assert_string_equal(state_outcome_name(OUTCOME_DUPLICATE), "duplicate");
    assert_string_equal(state_outcome_name(OUTCOME_STALE), "stale");
    assert_string_equal(state_outcome_name(OUTCOME_CONFLICT), "conflict");
    assert_string_equal(state_outcome_name(OUTCOME_MISMATCH), "mismatch");
    assert_null(state_outcome_name(OUTCOME_COUNT));
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {"",     "success", "Success",  "SUCCESS ", " SUCCESS",
                                      "NONE", "SUCCES",  "SUCCESSX", "0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum result_pay r = RESULT_CLOSED;
        assert_int_equal(state_result_parse(bad[i], &r), -1);
        assert_int_equal(r, RESULT_CLOSED);
    }
    enum result_pay r = RESULT_CLOSED;
    assert_int_equal(state_result_parse(NULL, &r), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_cell),
        cmocka_unit_test(test_pending_cells_named),
        cmocka_unit_test(test_never_mismatch_nor_backwards),
        cmocka_unit_test(test_incoming_none_moves_nothing),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parse_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
