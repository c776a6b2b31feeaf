/*
 * The payouts lianpayctl queues, cancels and shows (store_payout.h). sql/0004 holds the rules
 * (formats, the 50,000-yuan rule, a no_order payments knows, registering the order): this file
 * only writes and reads rows and tells a refusal from a failure. Any thread, one connection.
 */
#include "store_payout.h"

#include <stdio.h>
#include <string.h>

#include "payout.h"
#include "store_private.h"

int store_payout_queue(struct store *st, const struct payout_request *r,
                       enum store_payout_result *res, char *why, size_t len)
{
    sqlite3_stmt *s = store_prepared(st, Q_PAYOUT_INSERT);
    const char *const values[] = {r->no_order,    r->dt_order,  r->money_order, r->card_no,
                                  r->acct_name,   r->bank_name, r->info_order,  r->flag_card,
                                  r->memo,        r->prcptcd,   r->bank_code,   r->city_code,
                                  r->brabank_name};
    int ret = -1, rc;

    if (s == NULL)
        goto out;
    for (int i = 0; i < (int)(sizeof(values) / sizeof(values[0])); i++)
        if (bind_opt(st, s, i + 1, values[i]) < 0)
            goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        *res = STORE_PAYOUT_DONE;
        ret = 0;
    } else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        /* The statement was undone; the transaction goes on. */
        snprintf(why, len, "%s", sqlite3_errmsg(st->db));
        *res = STORE_PAYOUT_REFUSED;
        ret = 0;
    } else {
        store_set_error(st, rc);
    }
out:
    release(s);
    return ret;
}

int store_payout_cancel(struct store *st, const char *no_order, const char *now_iso,
                        enum store_payout_result *res, char *why, size_t len)
{
    static const char cancel[] = "UPDATE payouts SET state = 'cancelled', updated_at = ?2 "
                                 "WHERE no_order = ?1 AND state = 'queued'";
    sqlite3_stmt *s = NULL;
    int ret = -1, row;

    if (prepare_once(st, cancel, &s) < 0 || bind_text(st, s, 1, no_order) < 0 ||
        bind_text(st, s, 2, now_iso) < 0 || step_done(st, s) < 0)
        goto out;
    if (sqlite3_changes(st->db) == 1) {
        *res = STORE_PAYOUT_DONE;
        ret = 0;
        goto out;
    }
    (void)sqlite3_finalize(s);
    s = NULL;
    if (prepare_once(st, "SELECT state FROM payouts WHERE no_order = ?1", &s) < 0 ||
        bind_text(st, s, 1, no_order) < 0 || (row = step_row(st, s)) < 0)
        goto out;
    *res = row == 1 ? STORE_PAYOUT_STATE : STORE_PAYOUT_UNKNOWN;
    column_copy(s, 0, why, len);
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

int store_payout_list(struct store *st, const char *state,
                      void (*line)(void *ctx, const struct store_payout_line *l), void *ctx)
{
    /* payouts_state serves both. */
    static const char all[] = "SELECT no_order, state, money_order, queued_at, reason, card_no "
                              "FROM payouts ORDER BY queued_at, no_order";
    static const char one[] = "SELECT no_order, state, money_order, queued_at, reason, card_no "
                              "FROM payouts WHERE state = ?1 ORDER BY queued_at, no_order";
    sqlite3_stmt *s = NULL;
    int ret = -1, row;

    if (prepare_once(st, state == NULL ? all : one, &s) < 0)
        goto out;
    if (state != NULL && bind_text(st, s, 1, state) < 0)
        goto out;
    while ((row = step_row(st, s)) == 1) {
        struct store_payout_line l = {
            .no_order = column_value(s, 0),
            .state = column_value(s, 1),
            .money_order = column_value(s, 2),
            .queued_at = column_value(s, 3),
            .reason = column_value(s, 4),
            .card_no = column_value(s, 5),
        };
        line(ctx, &l);
    }
    ret = row < 0 ? -1 : 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

int store_payout_columns(struct store *st, const char *no_order,
                         void (*column)(void *ctx, int row, const char *name,
                                        struct store_value value),
                         void *ctx)
{
    return store_rows_columns(st, "SELECT * FROM payouts WHERE no_order = ?1", no_order, column,
                              ctx);
}

int store_payout_attempts(struct store *st, const char *no_order,
                          void (*column)(void *ctx, int row, const char *name,
                                         struct store_value value),
                          void *ctx)
{
    return store_rows_columns(st, "SELECT * FROM payout_attempts WHERE no_order = ?1 ORDER BY id",
                              no_order, column, ctx);
}
