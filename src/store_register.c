/*
 * Registering a submitted payout (store_register, for lianpayctl register): the order becomes
 * one the reconciler chases if no result arrives. Its values are checked as a notification's
 * are, and an order LianLian already told us about is merged, flagged when the two disagree
 * (verdict_register decides).
 */
#include "store.h"

#include <string.h>

#include "store_private.h"

/* A registration as store_register writes it: Q_REG_INSERT and Q_REG_MERGE number their
 * parameters alike, ?1..?6 in this order (?7 is the merge's review reason). */
struct registration {
    const char *no_order;
    const char *money_order;
    int64_t fen;
    const char *dt_order;
    char now[TIME_ISO_LEN];
    char next[TIME_ISO_LEN]; /* next_query_at: now + notify_window */
};

/* q is Q_REG_INSERT, or Q_REG_MERGE with reason (NULL when nothing needs review). */
static int register_write(struct store *st, enum query q, const struct registration *g,
                          const char *reason)
{
    sqlite3_stmt *s = store_prepared(st, q);
    int ret = -1;

    if (s == NULL || bind_text(st, s, 1, g->no_order) || bind_text(st, s, 2, g->money_order) ||
        bind_int(st, s, 3, g->fen) || bind_text(st, s, 4, g->dt_order) ||
        bind_text(st, s, 5, g->now) || bind_text(st, s, 6, g->next) ||
        (q == Q_REG_MERGE && bind_text(st, s, 7, reason)))
        goto out;
    ret = step_done(st, s);
out:
    release(s);
    return ret;
}

/* Inside the transaction: decides and writes. Returns 0, -1 on SQL error (st->errmsg), -2 when
 * the caller's data contradict an earlier registration (err filled). */
static int register_locked(struct store *st, const struct registration *g,
                           enum store_register_result *res, char *err, size_t errlen)
{
    struct verdict_order o;
    char reason[VERDICT_REASON_LEN];

    if (store_order_find(st, g->no_order, &o) < 0)
        return -1;
    switch (verdict_register(&o, g->fen, g->dt_order, reason, sizeof(reason))) {
    case VERDICT_REGISTER_NEW:
        *res = STORE_REGISTERED;
        return register_write(st, Q_REG_INSERT, g, NULL);
    case VERDICT_REGISTER_SAME:
        *res = STORE_ALREADY;
        return 0;
    case VERDICT_REGISTER_REFUSED:
        snprintf(err, errlen, "order %s %s", g->no_order, reason);
        return -2;
    case VERDICT_REGISTER_MERGE:
        break;
    }
    *res = reason[0] != '\0' ? STORE_MERGED_MISMATCH : STORE_MERGED;
    return register_write(st, Q_REG_MERGE, g, reason[0] != '\0' ? reason : NULL);
}

/* The checks a notification's fields get: an order registered with a value LianLian's messages
 * cannot carry would be flagged as a mismatch by every one of them. Returns 0 with *fen set, or
 * -1 with the reason in err. */
static int register_check(const char *no_order, const char *money_order, const char *dt_order,
                          int64_t *fen, char *err, size_t errlen)
{
    if (!payresult_valid_no_order(no_order)) {
        snprintf(err, errlen,
                 "no_order must be 1 to 32 printable ASCII characters without space, &, = or \"");
        return -1;
    }
    if (payresult_money_fen(money_order, fen) < 0) {
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
    return 0;
}

int store_register_in(struct store *st, const char *no_order, const char *money_order,
                      const char *dt_order, int64_t now_ms, int64_t notify_window_s,
                      enum store_register_result *res, char *err, size_t errlen)
{
    struct registration g = {
        .no_order = no_order, .money_order = money_order, .dt_order = dt_order};

    if (register_check(no_order, money_order, dt_order, &g.fen, err, errlen) < 0)
        return -2;
    time_iso(now_ms, g.now);
    time_iso(now_ms + notify_window_s * 1000, g.next);
    int rc = register_locked(st, &g, res, err, errlen);
    if (rc == -1)
        snprintf(err, errlen, "%s: %s", st->path, st->errmsg);
    return rc;
}

int store_register(struct store *st, const char *no_order, const char *money_order,
                   const char *dt_order, int64_t now_ms, int64_t notify_window_s,
                   enum store_register_result *res, char *err, size_t errlen)
{
    err[0] = '\0';
    if (store_begin(st) < 0) {
        snprintf(err, errlen, "%s: %s", st->path, st->errmsg);
        return -1;
    }
    if (store_register_in(st, no_order, money_order, dt_order, now_ms, notify_window_s, res, err,
                          errlen) == 0 &&
        store_commit(st) == 0)
        return 0;
    if (err[0] == '\0')
        snprintf(err, errlen, "%s: %s", st->path, st->errmsg);
    (void)store_rollback(st);
    return -1;
}
