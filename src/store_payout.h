#ifndef LIANPAY_STORE_PAYOUT_H
#define LIANPAY_STORE_PAYOUT_H

#include <stddef.h>

#include "store.h"

struct payout_request;
struct store_person;

/*
 * The payouts table (sql/0004) for lianpayctl: queuing, cancelling, listing and showing payouts.
 * The submit thread's writes are not here. Every function works on any connection; the writes
 * on a STORE_WRITE one.
 */

/* The outcomes of store_payout_queue and store_payout_cancel. */
enum store_payout_result {
    STORE_PAYOUT_DONE,    /* queued, or cancelled */
    STORE_PAYOUT_REFUSED, /* a CHECK or trigger refused it; queuing: why says which */
    STORE_PAYOUT_STATE,   /* a decision: the payout is not in a state it applies to */
    STORE_PAYOUT_UNKNOWN, /* a decision: no payout has this no_order */
};

/*
 * Inserts r as a queued payout inside the caller's transaction (its payments row follows by
 * trigger). A refused row leaves the transaction as it was. Returns 0 with *res set (why holds
 * SQLite's reason for a refusal), or -1 on a database error (store_errmsg).
 */
int store_payout_queue(struct store *st, const struct payout_request *r,
                       enum store_payout_result *res, char *why, size_t len);

/* A person's decisions on a payout (lianpayctl), each one UPDATE that names the states it
 * applies to:
 *   CANCEL   queued -> cancelled
 *   CONFIRM  review with its code not lapsed: confirm_requested_at set (the submit thread sends)
 *   DECLINE  review with no confirm requested -> closed, nothing sent
 *   RESUBMIT refused, or unknown whose reason starts with STORE_NO_RECORD_PREFIX (the reconciler:
 *            LianLian keeps answering it has no record) -> queued with the same fields, the last
 *            answer's ret_code/ret_msg/oid_paybill and confirm fields reset, attempts kept */
enum store_payout_decision {
    STORE_DECIDE_CANCEL,
    STORE_DECIDE_CONFIRM,
    STORE_DECIDE_DECLINE,
    STORE_DECIDE_RESUBMIT,
};
#define STORE_NO_RECORD_PREFIX "no record:"

/* What lianpayctl shows of a payout after a decision, or while it waits (strings "" for NULL). */
struct store_payout_brief {
    char state[16];
    int confirm_requested; /* confirm_requested_at is set */
    char confirm_expires_at[32];
    int confirm_tries;
    char ret_code[16], ret_msg[256], oid_paybill[40];
    char reason[400];
    int attempts;
};

/* The verb of d: "cancel", "confirm", "decline", "resubmit". */
const char *store_payout_decision_name(enum store_payout_decision d);

/* Makes decision d by person on no_order at now_iso with reason (NULL keeps the stored one), in
 * a transaction of its own that also appends it to payout_decisions (store_decision.h: the
 * state before and after, the reason it had before) when it applied. Returns 0 with *res (DONE,
 * STATE: not in a state d applies to, UNKNOWN: no such payout) and the row after it in *b, or
 * -1 on a database error (rolled back). */
int store_payout_decide(struct store *st, enum store_payout_decision d,
                        const struct store_person *by, const char *no_order, const char *now_iso,
                        const char *reason, enum store_payout_result *res,
                        struct store_payout_brief *b);
/* no_order's row into *b. Returns 1, 0 when there is no such payout, -1 on a database error. */
int store_payout_brief(struct store *st, const char *no_order, struct store_payout_brief *b);

/* STORE_DECIDE_CANCEL with the stored reason kept; why holds the state after it. */
int store_payout_cancel(struct store *st, const struct store_person *by, const char *no_order,
                        const char *now_iso, enum store_payout_result *res, char *why, size_t len);

/* One payout in a listing, as stored (valid during the callback). */
struct store_payout_line {
    struct store_value no_order, state, money_order, queued_at, reason, card_no;
};

/* Calls line(ctx, l) for each payout, in state (NULL: all), oldest first. Returns 0, or -1. */
int store_payout_list(struct store *st, const char *state,
                      void (*line)(void *ctx, const struct store_payout_line *l), void *ctx);

/* Calls column(ctx, row, name, value) for each column of no_order's payouts row (row 0), then
 * of its attempts (rows 0.. of the second call). Returns the number of rows, or -1. */
int store_payout_columns(struct store *st, const char *no_order,
                         void (*column)(void *ctx, int row, const char *name,
                                        struct store_value value),
                         void *ctx);
int store_payout_attempts(struct store *st, const char *no_order,
                          void (*column)(void *ctx, int row, const char *name,
                                         struct store_value value),
                          void *ctx);

#endif
