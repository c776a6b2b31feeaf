#ifndef LIANPAY_STATE_H
#define LIANPAY_STATE_H

#include <stdbool.h>

/* The values LianLian reports in result_pay; RESULT_NONE is "nothing known yet". */
enum result_pay {
    RESULT_NONE = 0,
    RESULT_APPLY,
    RESULT_CHECK,
    RESULT_WAITING,
    RESULT_PROCESSING,
    RESULT_SUCCESS,
    RESULT_FAILURE,
    RESULT_CANCEL,
    RESULT_CLOSED,
};

/* What an authentic incoming result does to an order (design.md, state machine). */
enum outcome {
    OUTCOME_APPLIED = 0,
    OUTCOME_DUPLICATE,
    OUTCOME_STALE,
    OUTCOME_CONFLICT,
    OUTCOME_MISMATCH,
    OUTCOME_COUNT /* how many there are, for arrays indexed by them */
};

/* The state machine: outcome of result `incoming` on an order whose current result is `current`.
 * Pure; never returns OUTCOME_MISMATCH (amounts are the store's business). */
enum outcome state_next(enum result_pay current, enum result_pay incoming);

/* True for APPLY, CHECK, WAITING, PROCESSING. */
bool state_is_pending(enum result_pay r);
/* True for SUCCESS, FAILURE, CANCEL, CLOSED (SUCCESS can still become CANCEL). */
bool state_is_final(enum result_pay r);

/* "SUCCESS" etc.; NULL for RESULT_NONE. */
const char *state_result_name(enum result_pay r);
/* Exact, case-sensitive. Returns 0, or -1 for an unknown value. Never yields RESULT_NONE. */
int state_result_parse(const char *s, enum result_pay *out);

/* "applied", "duplicate", ... as stored in payment_events.outcome. */
const char *state_outcome_name(enum outcome o);

#endif
