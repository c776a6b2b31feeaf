#ifndef LIANPAY_STORE_PAYOUT_H
#define LIANPAY_STORE_PAYOUT_H

#include <stddef.h>

#include "store.h"

struct payout_request;

/*
 * The payouts table (sql/0004) for lianpayctl: queuing, cancelling, listing and showing payouts.
 * The submit thread's writes are not here. Every function works on any connection; the writes
 * on a STORE_WRITE one.
 */

/* The outcomes of store_payout_queue and store_payout_cancel. */
enum store_payout_result {
    STORE_PAYOUT_DONE,    /* queued, or cancelled */
    STORE_PAYOUT_REFUSED, /* a CHECK or trigger refused it; queuing: why says which */
    STORE_PAYOUT_STATE,   /* cancel: the payout is not queued; why names its state */
    STORE_PAYOUT_UNKNOWN, /* cancel: no payout has this no_order */
};

/*
 * Inserts r as a queued payout inside the caller's transaction (its payments row follows by
 * trigger). A refused row leaves the transaction as it was. Returns 0 with *res set (why holds
 * SQLite's reason for a refusal), or -1 on a database error (store_errmsg).
 */
int store_payout_queue(struct store *st, const struct payout_request *r,
                       enum store_payout_result *res, char *why, size_t len);

/* queued -> cancelled in one UPDATE at updated_at now_iso. Returns 0 with *res set (a payout in
 * another state: why holds that state), or -1. */
int store_payout_cancel(struct store *st, const char *no_order, const char *now_iso,
                        enum store_payout_result *res, char *why, size_t len);

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
