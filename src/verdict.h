#ifndef LIANPAY_VERDICT_H
#define LIANPAY_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "payresult.h"
#include "state.h"

/*
 * The order's verdict (design.md, state machine): what an incoming result, or a registration,
 * does to an order given the facts its payments row holds, and the words a person reads in
 * review_reason when it must be looked at. Pure: the store reads the row, asks, and writes the
 * answer.
 */

/* What the payments row of an order says, as far as a verdict cares. */
struct verdict_order {
    bool found; /* false: no row; the rest is empty */
    enum result_pay result;
    bool has_amount; /* amount_fen is known */
    int64_t amount_fen;
    char dt_order[15]; /* "" when not known */
    bool registered;   /* registered_at is set (lianpayctl register, or plain SQL) */
    char source[8];    /* who reported result: "notify", "query", "" when nobody yet */
};

/* Room for any review reason a verdict writes. */
#define VERDICT_REASON_LEN 256

/*
 * What result r (from source) does to order o: the state machine's outcome, or OUTCOME_MISMATCH
 * when its amount or dt_order differs from the known one (whatever the state machine says). For
 * OUTCOME_CONFLICT and OUTCOME_MISMATCH, which flag the order for review, reason (len bytes) says
 * why; it is "" otherwise. An order without a row takes any result (OUTCOME_APPLIED).
 */
enum outcome verdict_result(const struct verdict_order *o, const struct payresult *r,
                            enum payresult_source source, char *reason, size_t len);

/* What registering a payout (amount_fen, dt_order) does to an order. */
enum verdict_registration {
    VERDICT_REGISTER_NEW,     /* no row: a new order to chase */
    VERDICT_REGISTER_SAME,    /* registered before with the same values: nothing to do */
    VERDICT_REGISTER_REFUSED, /* registered before with other values: refused, reason says */
    VERDICT_REGISTER_MERGE,   /* known from LianLian's messages: now registered too; flagged for
                               * review, with reason, when they disagree ("" when they agree) */
};

/* The registration's verdict; reason (len bytes) is "" unless the verdict says otherwise. */
enum verdict_registration verdict_register(const struct verdict_order *o, int64_t amount_fen,
                                           const char *dt_order, char *reason, size_t len);

#endif
