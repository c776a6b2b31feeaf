/*
 * What the files of the store share and nothing else may see (only src/store*.c include this):
 * the connection, its cache of prepared statements, and the helpers that bind and step them.
 * Every helper records a failure in the connection (store_errmsg, store_errkind) and returns -1,
 * so that a caller writes `if (bind_text(...) || step_done(...)) goto out;` and nothing logs.
 */
#ifndef LIANPAY_STORE_PRIVATE_H
#define LIANPAY_STORE_PRIVATE_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"
#include "verdict.h"

/* Written without IN: see sql/0002_check_without_in.sql. */
#define SQL_NOT_FINAL                                                                              \
    "(result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK' "                         \
    "OR result_pay = 'WAITING' OR result_pay = 'PROCESSING')"

/* The orders the reconciler is due to query at ?1, as the payments_due index serves them. */
#define SQL_DUE                                                                                    \
    "needs_review = 0 AND next_query_at IS NOT NULL AND next_query_at <= ?1 "                      \
    "AND registered_at IS NOT NULL AND " SQL_NOT_FINAL

/* The statements each connection prepares once, on first use, and keeps (store.c has their
 * text, in query_sql). */
enum query {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_ORDER,
    Q_INSERT,
    Q_APPLY,
    Q_FLAG,
    Q_TOUCH,
    Q_EVENT_FIND,
    Q_EVENT_SEEN,
    Q_EVENT_INSERT,
    Q_REG_INSERT,
    Q_REG_MERGE,
    Q_SCHEDULE_NEW,
    Q_HAS_UNSCHEDULED,
    Q_DUE,
    Q_RESCHEDULE,
    Q_FLAG_REVIEW,
    Q_FLAG_UNQUERYABLE,
    Q_PAYOUT_INSERT,
    Q_PAYOUT_KNOWN,
    Q_PAYOUT_NO_RECORD,
    Q_PAYOUT_ASK,
    Q_COUNT
};

struct store {
    sqlite3 *db;
    enum store_mode mode;
    char *path;
    sqlite3_stmt *stmt[Q_COUNT];
    int errcode;    /* extended SQLite code of the last failure, or SQLITE_OK */
    int unwritable; /* with an I/O error: errno saying why the files cannot be written, or 0 */
    char errmsg[1024];
};

/* The cached statement q of this connection, prepared on first use; NULL on error. */
sqlite3_stmt *store_prepared(struct store *st, enum query q);
/* Runs sql (statements without parameters or rows: BEGIN, SAVEPOINT, PRAGMA ...); a failure is
 * recorded as the connection's. Returns 0, or -1. */
int store_exec(struct store *st, const char *sql);
/* Records SQLite result rc as the connection's last failure (with SQLite's message). */
void store_set_error(struct store *st, int rc);
/* Records a failure of our own, as SQLite code rc with a message. */
__attribute__((format(printf, 3, 4))) void store_set_errorf(struct store *st, int rc,
                                                            const char *fmt, ...);

/* Reads the payments row of no_order into *o (o->found false when there is none). Returns 0, or
 * -1. */
int store_order_find(struct store *st, const char *no_order, struct verdict_order *o);

/* The SQL function lianpay_unqueryable(no_order, registered_at) that store_open registers: why
 * the reconciler cannot query such a row (store_chase.c), or NULL. */
void store_sql_unqueryable(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* A text column as stored, its length in bytes included (it may hold a NUL written past the
 * CHECKs); text NULL for SQL NULL. SQLite wants the text asked for before the bytes. */
static inline struct store_value column_value(sqlite3_stmt *s, int col)
{
    struct store_value v;

    v.text = (const char *)sqlite3_column_text(s, col);
    v.len = v.text != NULL ? (size_t)sqlite3_column_bytes(s, col) : 0;
    return v;
}

/* Calls column(ctx, row, name, value) for each column of each row that sql (with key as ?1)
 * returns, rows counted from 0 (lianpayctl status). Returns the number of rows, or -1. */
int store_rows_columns(struct store *st, const char *sql, const char *key,
                       void (*column)(void *ctx, int row, const char *name,
                                      struct store_value value),
                       void *ctx);

/* Calls row(ctx, cols) with the first ncols columns (at most STORE_SELECT_COLUMNS_MAX) of each
 * row that sql returns, as stored (lianpayctl's listings). Returns 0, or -1. */
#define STORE_SELECT_COLUMNS_MAX 16
int store_select_rows(struct store *st, const char *sql, int ncols,
                      void (*row)(void *ctx, const struct store_value *cols), void *ctx);

/* Prepares a statement that is not worth caching (start-up, migrations, lianpayctl, counts);
 * the caller finalizes it. Returns 0, or -1. */
static inline int prepare_once(struct store *st, const char *sql, sqlite3_stmt **s)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);
    if (rc == SQLITE_OK)
        return 0;
    store_set_error(st, rc);
    return -1;
}

/* Makes a cached statement ready for its next use. reset() repeats the error of the last step,
 * which was already recorded when step returned it. */
static inline void release(sqlite3_stmt *s)
{
    if (s == NULL)
        return;
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
}

static inline int check_bind(struct store *st, int rc)
{
    if (rc == SQLITE_OK)
        return 0;
    store_set_error(st, rc);
    return -1;
}

/* Binds a string, or NULL for a NULL pointer. The statement is released before the string goes
 * away, so SQLite need not copy it. */
static inline int bind_text(struct store *st, sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        return check_bind(st, sqlite3_bind_null(s, i));
    return check_bind(st, sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC));
}

/* An optional payresult field: "" is stored as NULL. */
static inline int bind_opt(struct store *st, sqlite3_stmt *s, int i, const char *v)
{
    return bind_text(st, s, i, v != NULL && *v != '\0' ? v : NULL);
}

static inline int bind_int(struct store *st, sqlite3_stmt *s, int i, int64_t v)
{
    return check_bind(st, sqlite3_bind_int64(s, i, v));
}

/* Returns 1 with a row, 0 when done, -1 on error. */
static inline int step_row(struct store *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    store_set_error(st, rc);
    return -1;
}

static inline int step_done(struct store *st, sqlite3_stmt *s)
{
    return step_row(st, s) < 0 ? -1 : 0;
}

/* Copies a possibly NULL text column into buf ("" for NULL). */
static inline void column_copy(sqlite3_stmt *s, int col, char *buf, size_t len)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    snprintf(buf, len, "%s", v != NULL ? (const char *)v : "");
}

#endif
