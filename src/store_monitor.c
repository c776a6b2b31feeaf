/*
 * What people and monitoring read. Counts (store_pending): the orders still being chased, those
 * due for a query now and those waiting for a person, for /metrics and the periodic summary,
 * served by the partial indexes so that it stays cheap with millions of final orders. The times
 * /metrics starts from (store_last_event, store_last_backup). One order as stored
 * (store_order_columns, store_order_events), for lianpayctl status to print (ctl_print.c).
 * Read-only, on any connection.
 */
#include "store.h"

#include <string.h>

#include "store_private.h"

#define SQL_PENDING                                                                                \
    "registered_at IS NOT NULL AND needs_review = 0 AND payout_held = 0 AND " SQL_NOT_FINAL

int store_pending(struct store *st, int64_t now_ms, struct store_pending *out)
{
    /* The WHEREs repeat those of the partial indexes payments_pending and payments_review. The
     * oldest is the first real instant in registered_at order: a value past the CHECKs (month
     * 00 sorts before every real one) must not stand for the age of all the others. */
    static const char sql[] =
        "SELECT (SELECT count(*) FROM payments WHERE " SQL_PENDING "), o.no_order, "
        "o.registered_at, (SELECT count(*) FROM payments WHERE needs_review = 1), "
        "(SELECT count(*) FROM payments INDEXED BY payments_due WHERE " SQL_DUE ") "
        "FROM (SELECT 1) LEFT JOIN (SELECT no_order, registered_at FROM payments "
        "INDEXED BY payments_pending WHERE " SQL_PENDING " AND "
        "strftime('%Y-%m-%dT%H:%M:%fZ', registered_at, '+0 seconds') IS registered_at "
        "ORDER BY registered_at LIMIT 1) AS o";
    sqlite3_stmt *s = NULL;
    int64_t registered = 0;
    char now[TIME_ISO_LEN];
    int ret = -1;

    memset(out, 0, sizeof(*out));
    time_iso(now_ms, now);
    if (prepare_once(st, sql, &s) < 0 || bind_text(st, s, 1, now) < 0)
        goto out;
    if (step_row(st, s) != 1)
        goto out;
    out->count = sqlite3_column_int64(s, 0);
    column_copy(s, 1, out->oldest_no_order, sizeof(out->oldest_no_order));
    const unsigned char *oldest = sqlite3_column_text(s, 2);
    if (oldest != NULL && time_parse_iso((const char *)oldest, &registered) == 0 &&
        now_ms > registered)
        out->oldest_age_s = (now_ms - registered) / 1000;
    out->review = sqlite3_column_int64(s, 3);
    out->due = sqlite3_column_int64(s, 4);
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

/* The first column of the one-row statement s as a time: 1 with *ms set, 0 when NULL or not a
 * timestamp, -1 on error. Finalizes s. */
static int time_row(struct store *st, sqlite3_stmt *s, int64_t *ms)
{
    int row = step_row(st, s), ret = row < 0 ? -1 : 0;

    if (row == 1) {
        const unsigned char *v = sqlite3_column_text(s, 0);
        if (v != NULL && time_parse_iso((const char *)v, ms) == 0)
            ret = 1;
    }
    (void)sqlite3_finalize(s);
    return ret;
}

int store_last_event(struct store *st, enum payresult_source source, int64_t *ms)
{
    /* Backwards by id (the order of arrival) to the first of that source: at once in practice,
     * a scan only when none exists. */
    static const char sql[] = "SELECT received_at FROM payment_events WHERE source = ?1 "
                              "ORDER BY id DESC LIMIT 1";
    sqlite3_stmt *s = NULL;

    if (prepare_once(st, sql, &s) < 0)
        return -1;
    if (bind_text(st, s, 1, source == PAYRESULT_QUERY ? "query" : "notify") < 0) {
        (void)sqlite3_finalize(s);
        return -1;
    }
    return time_row(st, s, ms);
}

int store_last_backup(struct store *st, int64_t *ms)
{
    sqlite3_stmt *s = NULL;
    int row;

    *ms = 0;
    if (prepare_once(st, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'backups'",
                     &s) < 0)
        return -1;
    row = step_row(st, s);
    (void)sqlite3_finalize(s);
    if (row <= 0)
        return row < 0 ? -1 : 0;
    s = NULL;
    if (prepare_once(st, "SELECT max(finished_at) FROM backups WHERE ok = 1", &s) < 0)
        return -1;
    /* The table is there: a backup that never succeeded is time 0, not a missing series. */
    return time_row(st, s, ms) < 0 ? -1 : 1;
}

int store_rows_columns(struct store *st, const char *sql, const char *key,
                       void (*column)(void *ctx, int row, const char *name,
                                      struct store_value value),
                       void *ctx)
{
    sqlite3_stmt *s = NULL;
    int ret = -1, row, rows = 0;

    if (prepare_once(st, sql, &s) < 0)
        goto out;
    if (bind_text(st, s, 1, key) < 0)
        goto out;
    while ((row = step_row(st, s)) == 1) {
        for (int i = 0; i < sqlite3_column_count(s); i++) {
            const char *name = sqlite3_column_name(s, i);
            if (name == NULL) {
                store_set_errorf(st, SQLITE_NOMEM, "out of memory");
                goto out;
            }
            column(ctx, rows, name, column_value(s, i));
        }
        rows++;
    }
    if (row == 0)
        ret = rows;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

struct one_row {
    void (*column)(void *ctx, const char *name, struct store_value value);
    void *ctx;
};

static void one_row_column(void *ctx, int row, const char *name, struct store_value value)
{
    const struct one_row *o = ctx;
    (void)row;
    o->column(o->ctx, name, value);
}

int store_order_columns(struct store *st, const char *no_order,
                        void (*column)(void *ctx, const char *name, struct store_value value),
                        void *ctx)
{
    struct one_row o = {column, ctx};
    int rows = store_rows_columns(st, "SELECT * FROM payments WHERE no_order = ?1", no_order,
                                  one_row_column, &o);
    return rows < 0 ? -1 : rows == 0 ? 1 : 0;
}

int store_order_events(struct store *st, const char *no_order,
                       void (*event)(void *ctx, const struct store_event *ev), void *ctx)
{
    static const char sql[] = "SELECT received_at, source, result_pay, outcome, seen_count, "
                              "remote_addr FROM payment_events WHERE no_order = ?1 ORDER BY id";
    sqlite3_stmt *s = NULL;
    int ret = -1, row;

    if (prepare_once(st, sql, &s) < 0)
        goto out;
    if (bind_text(st, s, 1, no_order) < 0)
        goto out;
    while ((row = step_row(st, s)) == 1) {
        struct store_event ev = {
            .received_at = column_value(s, 0),
            .source = column_value(s, 1),
            .result_pay = column_value(s, 2),
            .outcome = column_value(s, 3),
            .seen_count = sqlite3_column_int64(s, 4),
            .remote_addr = column_value(s, 5),
        };
        event(ctx, &ev);
    }
    ret = row < 0 ? -1 : 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

int store_select_rows(struct store *st, const char *sql, int ncols,
                      void (*row)(void *ctx, const struct store_value *cols), void *ctx)
{
    struct store_value cols[STORE_SELECT_COLUMNS_MAX];
    sqlite3_stmt *s = NULL;
    int ret = -1, r;

    if (ncols > STORE_SELECT_COLUMNS_MAX) {
        store_set_errorf(st, SQLITE_MISUSE, "store_select_rows: %d columns", ncols);
        return -1;
    }
    if (prepare_once(st, sql, &s) < 0)
        goto out;
    while ((r = step_row(st, s)) == 1) {
        for (int i = 0; i < ncols; i++)
            cols[i] = column_value(s, i);
        row(ctx, cols);
    }
    ret = r < 0 ? -1 : 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

int store_pending_rows(struct store *st, void (*row)(void *ctx, const struct store_value *cols),
                       void *ctx)
{
    return store_select_rows(st,
                             "SELECT no_order, money_order, result_pay, age_seconds, "
                             "query_count, next_query_at FROM pending_payments",
                             STORE_PENDING_COLUMNS, row, ctx);
}
