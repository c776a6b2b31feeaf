#ifndef LIANPAY_STORE_REVIEW_H
#define LIANPAY_STORE_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_value;

/* Calls row(ctx, cols) for each row of the review_queue view, oldest update first (lianpayctl
 * review list), with these STORE_REVIEW_COLUMNS columns in this order, as stored (text NULL for
 * SQL NULL): no_order, updated_at, flagged ("1" needs_review, "0" a payout waiting for a
 * person), result_pay, money_order, payout_state, review_reason. Returns 0, or -1. */
#define STORE_REVIEW_COLUMNS 7
int store_review_rows(struct store *st, void (*row)(void *ctx, const struct store_value *cols),
                      void *ctx);

/* Who resolves, and what they say. */
struct store_resolution {
    const char *no_order;
    const char *resolved_by; /* getuid()'s user name */
    const char *sudo_user;   /* SUDO_USER, or NULL */
    const char *note;        /* not empty */
    bool requery;            /* chase an order whose result is unknown again from now */
    int64_t now_ms;
};

enum store_resolve_result {
    STORE_RESOLVED,
    STORE_RESOLVE_UNKNOWN, /* no such order */
    STORE_RESOLVE_REFUSED, /* not in review, or --requery missing or out of place: see why */
};

/*
 * In one transaction of its own: appends the review_resolutions row (who, when, the reason the
 * order had, the note) and clears needs_review; with requery, sets next_query_at and chase_from
 * to now. An order whose result is not final and that is not held for its payout is refused
 * without requery (store_schedule_new would reschedule it from registered_at, query it at once
 * and, past give_up_after, flag it again at once); requery is refused for any other order.
 * Returns 0 with *res (and on STORE_RESOLVE_REFUSED the reason in why), or -1 (store_errmsg;
 * rolled back).
 */
int store_review_resolve(struct store *st, const struct store_resolution *in,
                         enum store_resolve_result *res, char *why, size_t whylen);

#endif
