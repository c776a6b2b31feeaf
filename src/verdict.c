/*
 * The order's verdict: state.c's state machine plus the facts a payments row adds to it (the
 * amount and dt_order an order is known by, whether it was registered, who said what), and the
 * wording of the review reasons that follow. Pure functions, no storage: store_apply.c and
 * store_register.c read the row, ask here, and write what is decided.
 */
#include "verdict.h"

#include <stdio.h>
#include <string.h>

#include "money.h"

/* Appends "<field> mismatch: <ours_is> <ours>, <by> says <theirs> (<result>)" to reason (len
 * bytes, *n used), after "; " when a clause is already there. A truncated reason stays so. */
static void mismatch_clause(char *reason, size_t len, size_t *n, const char *field,
                            const char *ours_is, const char *ours, const char *by,
                            const char *theirs, const char *result)
{
    if (*n >= len)
        return;
    *n += (size_t)snprintf(reason + *n, len - *n, "%s%s mismatch: %s %s, %s says %s (%s)",
                           *n > 0 ? "; " : "", field, ours_is, ours, by, theirs, result);
}

static bool amount_differs(const struct verdict_order *o, int64_t fen)
{
    return o->has_amount && o->amount_fen != fen;
}

static bool dt_order_differs(const struct verdict_order *o, const char *dt_order)
{
    return o->dt_order[0] != '\0' && strcmp(o->dt_order, dt_order) != 0;
}

enum outcome verdict_result(const struct verdict_order *o, const struct payresult *r,
                            enum payresult_source source, char *reason, size_t len)
{
    const char *by = payresult_source_name(source);
    const char *result = state_result_name(r->result_pay);
    const char *ours_is = o->registered ? "registered" : "recorded";
    char ours[24], theirs[24];
    size_t n = 0;

    reason[0] = '\0';
    if (!o->found)
        return OUTCOME_APPLIED;
    bool amount = amount_differs(o, r->amount_fen), dt = dt_order_differs(o, r->dt_order);
    if (amount) {
        money_format(o->amount_fen, ours);
        money_format(r->amount_fen, theirs);
        mismatch_clause(reason, len, &n, "amount", ours_is, ours, by, theirs, result);
    }
    if (dt)
        mismatch_clause(reason, len, &n, "dt_order", ours_is, o->dt_order, by, r->dt_order, result);
    /* A result about other money (or another day) is not this order's to apply. */
    if (amount || dt)
        return OUTCOME_MISMATCH;

    enum outcome outcome = state_next(o->result, r->result_pay);
    if (outcome == OUTCOME_CONFLICT)
        snprintf(reason, len, "conflict: %s then %s by %s", state_result_name(o->result), result,
                 by);
    return outcome;
}

enum verdict_registration verdict_register(const struct verdict_order *o, int64_t amount_fen,
                                           const char *dt_order, char *reason, size_t len)
{
    /* Before a result, LianLian has said something about the order only if a message did. */
    const char *by = o->source[0] != '\0' ? o->source : "LianLian";
    const char *result = o->result != RESULT_NONE ? state_result_name(o->result) : "no result";
    char ours[24], theirs[24];
    size_t n = 0;

    reason[0] = '\0';
    if (!o->found)
        return VERDICT_REGISTER_NEW;
    if (o->registered) {
        if (!amount_differs(o, amount_fen) && !dt_order_differs(o, dt_order))
            return VERDICT_REGISTER_SAME;
        money_format(o->amount_fen, theirs);
        snprintf(reason, len, "already registered with amount %s and dt_order %s", theirs,
                 o->dt_order[0] != '\0' ? o->dt_order : "unknown");
        return VERDICT_REGISTER_REFUSED;
    }
    if (amount_differs(o, amount_fen)) {
        money_format(amount_fen, ours);
        money_format(o->amount_fen, theirs);
        mismatch_clause(reason, len, &n, "amount", "registered", ours, by, theirs, result);
    }
    if (dt_order_differs(o, dt_order))
        mismatch_clause(reason, len, &n, "dt_order", "registered", dt_order, by, o->dt_order,
                        result);
    return VERDICT_REGISTER_MERGE;
}
