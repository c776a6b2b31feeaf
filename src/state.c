/*
 * The payout state machine (design.md): what an authentic result does to an order, given what
 * the order already knows. Pure functions, no storage: store.c asks, and records the answer.
 * The rule that makes replays harmless lives here: nothing ever moves an order backwards.
 */
#include "state.h"

#include <stddef.h>
#include <string.h>

static const char *const result_names[] = {
    [RESULT_NONE] = NULL,         [RESULT_APPLY] = "APPLY",           [RESULT_CHECK] = "CHECK",
    [RESULT_WAITING] = "WAITING", [RESULT_PROCESSING] = "PROCESSING", [RESULT_SUCCESS] = "SUCCESS",
    [RESULT_FAILURE] = "FAILURE", [RESULT_CANCEL] = "CANCEL",         [RESULT_CLOSED] = "CLOSED",
};

#define RESULT_COUNT ((int)(sizeof(result_names) / sizeof(result_names[0])))

static const char *const outcome_names[OUTCOME_COUNT] = {
    [OUTCOME_APPLIED] = "applied",   [OUTCOME_DUPLICATE] = "duplicate", [OUTCOME_STALE] = "stale",
    [OUTCOME_CONFLICT] = "conflict", [OUTCOME_MISMATCH] = "mismatch",
};

/* Rows: a final current result; columns: a final incoming result (the design's table). */
enum { FINAL_SUCCESS, FINAL_FAILURE, FINAL_CANCEL, FINAL_CLOSED, FINAL_COUNT };

static const enum outcome final_table[FINAL_COUNT][FINAL_COUNT] = {
    /* incoming:         SUCCESS            FAILURE            CANCEL             CLOSED */
    [FINAL_SUCCESS] = {OUTCOME_DUPLICATE, OUTCOME_CONFLICT, OUTCOME_APPLIED, OUTCOME_CONFLICT},
    [FINAL_FAILURE] = {OUTCOME_CONFLICT, OUTCOME_DUPLICATE, OUTCOME_CONFLICT, OUTCOME_STALE},
    [FINAL_CANCEL] = {OUTCOME_STALE, OUTCOME_CONFLICT, OUTCOME_DUPLICATE, OUTCOME_CONFLICT},
    [FINAL_CLOSED] = {OUTCOME_CONFLICT, OUTCOME_STALE, OUTCOME_CONFLICT, OUTCOME_DUPLICATE},
};

bool state_is_pending(enum result_pay r)
{
    return r == RESULT_APPLY || r == RESULT_CHECK || r == RESULT_WAITING || r == RESULT_PROCESSING;
}

bool state_is_final(enum result_pay r)
{
    return r == RESULT_SUCCESS || r == RESULT_FAILURE || r == RESULT_CANCEL || r == RESULT_CLOSED;
}

enum outcome state_next(enum result_pay current, enum result_pay incoming)
{
    /* A message that carries no known result cannot move anything. */
    if (!state_is_pending(incoming) && !state_is_final(incoming))
        return OUTCOME_STALE;

    if (!state_is_final(current)) {
        if (current == incoming)
            return OUTCOME_DUPLICATE;
        return OUTCOME_APPLIED;
    }
    /* A final order never goes back to pending, whatever a late query answer says. */
    if (state_is_pending(incoming))
        return OUTCOME_STALE;
    return final_table[current - RESULT_SUCCESS][incoming - RESULT_SUCCESS];
}

const char *state_result_name(enum result_pay r)
{
    if ((int)r < 0 || (int)r >= RESULT_COUNT)
        return NULL;
    return result_names[r];
}

int state_result_parse(const char *s, enum result_pay *out)
{
    if (s == NULL)
        return -1;
    for (int i = RESULT_APPLY; i < RESULT_COUNT; i++) {
        if (strcmp(s, result_names[i]) == 0) {
            *out = (enum result_pay)i;
            return 0;
        }
    }
    return -1;
}

const char *state_outcome_name(enum outcome o)
{
    if ((int)o < 0 || (int)o >= OUTCOME_COUNT)
        return NULL;
    return outcome_names[o];
}
