/*
 * Registering a submitted payout (store_register, for lianpayctl register): the order becomes
 * one the reconciler chases if no result arrives. Its values are checked as a notification's
 * are, and an order LianLian already told us about is merged, flagged when the two disagree
 * (verdict_register decides).
 */
#include "store.h"

#include <string.h>

#include "store_private.h"

static int register_insert(struct store *st, const char *no_order, const char *money_order,
                           int64_t fen, const char *dt_order, const char *now, const char *next)
{
    sqlite3_stmt *s = store_prepared(st, Q_REG_INSERT);
    int ret = -1;

    if (s == NULL || bind_text(st, s, 1, no_order) || bind_text(st, s, 2, money_order) ||
        bind_int(st, s, 3, fen) || bind_text(st, s, 4, dt_order) || bind_text(st, s, 5, now) ||
        bind_text(st, s, 6, next))
        goto out;
    ret = step_done(st, s);
out:
    release(s);
    return ret;
}

static int register_merge(struct store *st, const char *no_order, int64_t fen, const char *dt_order,
                          const char *now, const char *next, const char *reason)
{
    sqlite3_stmt *s = store_prepared(st, Q_REG_MERGE);
    int ret = -1;

    if (s == NULL || bind_text(st, s, 1, no_order) || bind_text(st, s, 2, now) ||
        bind_int(st, s, 3, fen) || bind_text(st, s, 4, dt_order) || bind_text(st, s, 5, next) ||
        bind_text(st, s, 6, reason))
        goto out;
    ret = step_done(st, s);
out:
    release(s);
    return ret;
}

/* Inside the transaction: decides and writes. Returns 0, -1 on SQL error (st->errmsg), -2 when
 * the caller's data contradict an earlier registration (err filled). */
static int register_locked(struct store *st, const char *no_order, const char *money_order,
                           int64_t fen, const char *dt_order, int64_t now_ms, int64_t window_s,
                           enum store_register_result *res, char *err, size_t errlen)
{
    struct verdict_order o;
    char now[TIME_ISO_LEN], next[TIME_ISO_LEN], reason[VERDICT_REASON_LEN];

    if (store_order_find(st, no_order, &o) < 0)
        return -1;
    time_iso(now_ms, now);
    time_iso(now_ms + window_s * 1000, next);
    switch (verdict_register(&o, fen, dt_order, reason, sizeof(reason))) {
    case VERDICT_REGISTER_NEW:
        *res = STORE_REGISTERED;
        return register_insert(st, no_order, money_order, fen, dt_order, now, next);
    case VERDICT_REGISTER_SAME:
        *res = STORE_ALREADY;
        return 0;
    case VERDICT_REGISTER_REFUSED:
        snprintf(err, errlen, "order %s %s", no_order, reason);
        return -2;
    case VERDICT_REGISTER_MERGE:
        break;
    }
    *res = reason[0] != '\0' ? STORE_MERGED_MISMATCH : STORE_MERGED;
    return register_merge(st, no_order, fen, dt_order, now, next,
                          reason[0] != '\0' ? reason : NULL);
}

int store_register(struct store *st, const char *no_order, const char *money_order,
                   const char *dt_order, int64_t now_ms, int64_t notify_window_s,
                   enum store_register_result *res, char *err, size_t errlen)
{
    int64_t fen = 0;
    int rc;

    /* The checks a notification's fields get: an order registered with a value LianLian's
     * messages cannot carry would be flagged as a mismatch by every one of them. */
    if (!payresult_valid_no_order(no_order)) {
        snprintf(err, errlen,
                 "no_order must be 1 to 32 printable ASCII characters without space, &, = or \"");
        return -1;
    }
    if (payresult_money_fen(money_order, &fen) < 0) {
        snprintf(err, errlen, "money_order '%s' is not an amount in yuan above zero (49.65)",
                 money_order);
        return -1;
    }
    if (!payresult_valid_dt_order(dt_order)) {
        snprintf(err, errlen,
                 "dt_order '%s' is not a date and time YYYYMMDDHHMMSS (month 01-12, day 01-31, "
                 "hour 00-23, minutes and seconds 00-59)",
                 dt_order);
        return -1;
    }
    if (store_begin(st) < 0) {
        snprintf(err, errlen, "%s: %s", st->path, st->errmsg);
        return -1;
    }
    rc = register_locked(st, no_order, money_order, fen, dt_order, now_ms, notify_window_s, res,
                         err, errlen);
    if (rc == 0 && store_commit(st) == 0)
        return 0;
    if (rc != -2)
        snprintf(err, errlen, "%s: %s", st->path, st->errmsg);
    (void)store_rollback(st);
    return -1;
}
