/*
 * The SQLite store: schema contract, migrations, store_apply's state machine and journal,
 * registration, the reconciler's queries and their indexes. Each test gets a fresh database in
 * its own temporary directory; assertions read the rows back with a separate plain SQLite
 * connection, as internal tools would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrations.h"
#include "payresult.h"
#include "state.h"
#include "store.h"
#include "timeutil.h"

#define T0       1795336200000 /* 2026-11-22T08:30:00.000Z */
#define MIN      (60 * 1000)
#define WINDOW_S 2160

struct fx {
    char dir[256];
    char path[300];
    struct store *st;
    sqlite3 *raw;
    char text[1024]; /* last value read by q_text */
};

#define NOT_FINAL                                                                                  \
    "(result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK' "                          \
    "OR result_pay = 'WAITING' OR result_pay = 'PROCESSING')"
#define UNSCHEDULED                                                                                \
    "next_query_at IS NULL AND registered_at IS NOT NULL AND needs_review = 0 AND " NOT_FINAL

/* ---- fixture and helpers ------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    char err[512];
    const char *tmp = getenv("TMPDIR");

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "%s/test_store.XXXXXX", tmp != NULL ? tmp : "/tmp");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/payments.db", fx->dir);
    fx->st = store_open(fx->path, STORE_WRITE, err, sizeof(err));
    if (fx->st == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(sqlite3_open(fx->path, &fx->raw), SQLITE_OK);
    assert_int_equal(sqlite3_busy_timeout(fx->raw, 5000), SQLITE_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[320];

    store_close(fx->st);
    sqlite3_close(fx->raw);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/old.db", fx->dir); /* left by a failed reader test */
    unlink(p);
    if (rmdir(fx->dir) != 0)
        fail_msg("cannot remove %s", fx->dir);
    free(fx);
    return 0;
}

static void raw_exec(struct fx *fx, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(fx->raw, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

/* Returns the SQL error of sql, or NULL when it succeeded. */
static char *raw_try(struct fx *fx, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(fx->raw, sql, NULL, NULL, &msg) == SQLITE_OK)
        return NULL;
    snprintf(fx->text, sizeof(fx->text), "%s", msg != NULL ? msg : "error");
    sqlite3_free(msg);
    return fx->text;
}

/* First column of the first row as text ("NULL" for NULL, "NOROW" for no row). */
static const char *q_sql(struct fx *fx, const char *sql)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v2(fx->raw, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(fx->raw));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(s, 0);
        snprintf(fx->text, sizeof(fx->text), "%s", v != NULL ? (const char *)v : "NULL");
    } else if (rc == SQLITE_DONE) {
        snprintf(fx->text, sizeof(fx->text), "NOROW");
    } else {
        fail_msg("%s: %s", sql, sqlite3_errmsg(fx->raw));
    }
    sqlite3_finalize(s);
    return fx->text;
}

__attribute__((format(printf, 2, 3))) static const char *q_text(struct fx *fx, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return q_sql(fx, sql);
}

static long long q_int(struct fx *fx, const char *sql)
{
    return atoll(q_sql(fx, sql));
}

static const char *col(struct fx *fx, const char *no_order, const char *column)
{
    return q_text(fx, "SELECT %s FROM payments WHERE no_order = '%s'", column, no_order);
}

static long long events(struct fx *fx, const char *no_order)
{
    return atoll(q_text(fx, "SELECT count(*) FROM payment_events WHERE no_order = '%s'", no_order));
}

static void result_init(struct payresult *r, const char *no_order, const char *money, int64_t fen,
                        enum result_pay result)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->oid_partner, sizeof(r->oid_partner), "201103171000000000");
    snprintf(r->no_order, sizeof(r->no_order), "%s", no_order);
    snprintf(r->dt_order, sizeof(r->dt_order), "20261122083000");
    snprintf(r->money_order, sizeof(r->money_order), "%s", money);
    r->amount_fen = fen;
    snprintf(r->oid_paybill, sizeof(r->oid_paybill), "2026112200012345");
    r->result_pay = result;
    if (result == RESULT_SUCCESS)
        snprintf(r->settle_date, sizeof(r->settle_date), "20261122");
}

/* Applies r as one message in its own transaction; body is derived from the result unless
 * given. */
static struct store_applied apply_at(struct fx *fx, const struct payresult *r,
                                     enum payresult_source src, const char *body, int64_t at)
{
    char auto_body[256], received[TIME_ISO_LEN];
    struct store_applied out;
    struct store_input in;

    if (body == NULL) {
        snprintf(auto_body, sizeof(auto_body),
                 "{\"no_order\":\"%s\",\"money_order\":\"%s\",\"result_pay\":\"%s\"}", r->no_order,
                 r->money_order, state_result_name(r->result_pay));
        body = auto_body;
    }
    time_iso(at, received);
    memset(&in, 0, sizeof(in));
    in.r = r;
    in.source = src;
    in.body = body;
    in.body_len = strlen(body);
    in.remote_addr = src == PAYRESULT_NOTIFY ? "115.236.102.36" : "";
    in.received_at = received;
    assert_int_equal(store_begin(fx->st), 0);
    if (store_apply(fx->st, &in, &out) != 0)
        fail_msg("store_apply: %s", store_errmsg(fx->st));
    assert_int_equal(store_commit(fx->st), 0);
    return out;
}

static struct store_applied notify(struct fx *fx, const char *no_order, const char *money,
                                   int64_t fen, enum result_pay result, int64_t at)
{
    struct payresult r;
    result_init(&r, no_order, money, fen, result);
    return apply_at(fx, &r, PAYRESULT_NOTIFY, NULL, at);
}

static enum store_register_result reg(struct fx *fx, const char *no_order, const char *money,
                                      const char *dt, int64_t now)
{
    enum store_register_result res = STORE_REGISTERED;
    char err[256];
    if (store_register(fx->st, no_order, money, dt, now, WINDOW_S, &res, err, sizeof(err)) != 0)
        fail_msg("store_register %s: %s", no_order, err);
    return res;
}

static int64_t iso_ms(const char *s)
{
    int64_t ms = 0;
    if (time_parse_iso(s, &ms) != 0)
        fail_msg("not an ISO timestamp: %s", s);
    return ms;
}

/* ---- schema -------------------------------------------------------------------------------- */

static void assert_columns(struct fx *fx, const char *table, const char *const *want, int n)
{
    char sql[128];
    sqlite3_stmt *s = NULL;
    int i = 0;

    snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
    assert_int_equal(sqlite3_prepare_v2(fx->raw, sql, -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        assert_true(i < n);
        assert_string_equal((const char *)sqlite3_column_text(s, 1), want[i]);
        i++;
    }
    sqlite3_finalize(s);
    assert_int_equal(i, n);
}

static void test_schema_contract(void **state)
{
    struct fx *fx = *state;
    static const char *const payments[] = {
        "no_order",      "oid_partner",       "money_order",  "amount_fen",    "dt_order",
        "oid_paybill",   "result_pay",        "settle_date",  "info_order",    "source",
        "registered_at", "first_notified_at", "updated_at",   "final_at",      "notify_count",
        "query_count",   "next_query_at",     "needs_review", "review_reason",
    };
    static const char *const events_cols[] = {
        "id",          "no_order",    "source",     "result_pay", "money_order",
        "oid_paybill", "settle_date", "info_order", "outcome",    "body",
        "received_at", "remote_addr", "seen_count",
    };
    assert_columns(fx, "payments", payments, 19);
    assert_columns(fx, "payment_events", events_cols, 13);

    assert_true(store_schema_version() >= 1);
    assert_int_equal(q_int(fx, "PRAGMA user_version"), store_schema_version());
    assert_string_equal(q_text(fx, "PRAGMA journal_mode"), "wal");
    assert_string_equal(
        q_text(fx, "SELECT type FROM sqlite_master WHERE name = '%s'", "pending_payments"), "view");
    assert_string_equal(
        q_text(fx, "SELECT type FROM sqlite_master WHERE name = '%s'", "review_queue"), "view");
    assert_string_equal(
        q_text(fx, "SELECT type FROM sqlite_master WHERE name = '%s'", "daily_totals"), "view");
}

static void test_reopen_keeps_data(void **state)
{
    struct fx *fx = *state;
    char err[512];

    assert_int_equal(reg(fx, "A1", "49.65", "20261122083000", T0), STORE_REGISTERED);
    store_close(fx->st);
    fx->st = store_open(fx->path, STORE_WRITE, err, sizeof(err));
    assert_non_null(fx->st);
    assert_string_equal(col(fx, "A1", "amount_fen"), "4965");
    assert_int_equal(q_int(fx, "PRAGMA user_version"), store_schema_version());

    struct store *ro = store_open(fx->path, STORE_READ, err, sizeof(err));
    if (ro == NULL)
        fail_msg("read open: %s", err);
    struct store_due due[4];
    assert_int_equal(store_due(ro, T0 + 40 * MIN, due, 4), 1);
    assert_string_equal(due[0].no_order, "A1");
    store_close(ro);
}

static void test_newer_schema_refused(void **state)
{
    struct fx *fx = *state;
    char err[512] = "";

    raw_exec(fx, "PRAGMA user_version = 99");
    store_close(fx->st);
    fx->st = NULL;

    assert_null(store_open(fx->path, STORE_WRITE, err, sizeof(err)));
    assert_non_null(strstr(err, fx->path));
    assert_non_null(strstr(err, "newer"));
    err[0] = '\0';
    assert_null(store_open(fx->path, STORE_READ, err, sizeof(err)));
    assert_non_null(strstr(err, "newer"));
    /* Refusing must not have touched the database. */
    assert_int_equal(q_int(fx, "PRAGMA user_version"), 99);

    raw_exec(fx, "PRAGMA user_version = 1");
    fx->st = store_open(fx->path, STORE_WRITE, err, sizeof(err));
    assert_non_null(fx->st);
}

static void test_reader_refuses_old_schema(void **state)
{
    struct fx *fx = *state;
    char err[512] = "", other[320];
    sqlite3 *db = NULL;

    snprintf(other, sizeof(other), "%s/old.db", fx->dir);
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(store_open(other, STORE_READ, err, sizeof(err)));
    assert_non_null(strstr(err, other));
    assert_non_null(strstr(err, "older"));
    unlink(other);

    err[0] = '\0';
    snprintf(other, sizeof(other), "%s/missing/x.db", fx->dir);
    assert_null(store_open(other, STORE_WRITE, err, sizeof(err)));
    assert_non_null(strstr(err, other));
}

/* A database made by 0001 alone, with orders in every kind of state, migrated by store_open. */
static void test_migration_0002(void **state)
{
    struct fx *fx = *state;
    char err[512];

    store_close(fx->st);
    sqlite3_close(fx->raw);
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char p[320];
        snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
        unlink(p);
    }
    assert_int_equal(sqlite3_open(fx->path, &fx->raw), SQLITE_OK);
    assert_true(store_migrations_count >= 2);
    raw_exec(fx, "PRAGMA journal_mode=WAL");
    raw_exec(fx, store_migrations[0].sql);
    raw_exec(fx, "PRAGMA user_version = 1");
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, dt_order, registered_at) VALUES "
                 "('P1', '49.65', '20261122083000', '2026-11-22T08:30:00.000Z'), "
                 "('P2', '1.00', '20261122083000', '2026-11-22T08:31:00.000Z')");
    raw_exec(fx, "UPDATE payments SET result_pay = 'PROCESSING', next_query_at = "
                 "'2026-11-22T09:06:00.000Z' WHERE no_order = 'P2'");
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, result_pay, source, final_at) "
                 "VALUES ('F1', '2', 'SUCCESS', 'notify', '2026-11-22T08:32:00.000Z')");
    raw_exec(fx, "INSERT INTO payment_events(no_order, source, result_pay, money_order, outcome, "
                 "body, received_at) VALUES ('F1', 'notify', 'SUCCESS', '2', 'applied', '{}', "
                 "'2026-11-22T08:32:00.000Z')");
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, registered_at, needs_review, "
                 "review_reason) VALUES ('R1', '3', '2026-11-22T08:33:00.000Z', 1, 'x')");
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order) FROM pending_payments"),
                         "P1,P2");

    fx->st = store_open(fx->path, STORE_WRITE, err, sizeof(err));
    if (fx->st == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(q_int(fx, "PRAGMA user_version"), store_schema_version());
    assert_string_equal(q_sql(fx, "PRAGMA integrity_check"), "ok");
    /* Nothing the tables or indexes check per row builds a table any more. */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM sqlite_schema WHERE type IN "
                               "('table', 'index') AND (sql LIKE '%result_pay IN%' OR "
                               "sql LIKE '%outcome IN%')"),
                     0);
    /* The same rows, the same answers. */
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order) FROM pending_payments"),
                         "P1,P2");
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order) FROM review_queue"), "R1");
    assert_string_equal(q_sql(fx, "SELECT amount_fen || ' ' || count FROM daily_totals"), "200 1");
    assert_string_equal(col(fx, "P1", "amount_fen"), "4965");
    assert_int_equal(events(fx, "F1"), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payments INDEXED BY payments_pending "
                               "WHERE registered_at IS NOT NULL AND needs_review = 0 AND " NOT_FINAL),
                     2);
    /* The constraints still hold, for tools and for the daemon's own connection. */
    assert_non_null(raw_try(fx, "UPDATE payments SET result_pay = 'PAID' WHERE no_order = 'P1'"));
    assert_non_null(strstr(fx->text, "CHECK"));
    assert_non_null(raw_try(fx, "INSERT INTO payment_events(no_order, source, result_pay, "
                                "money_order, outcome, body, received_at) VALUES ('F1', "
                                "'notify', 'SUCCESS', '2', 'ignored', '{}', "
                                "'2026-11-22T08:32:00.000Z')"));
    assert_non_null(strstr(fx->text, "CHECK"));
    struct store_applied out = notify(fx, "P1", "49.65", 4965, RESULT_SUCCESS, T0 + MIN);
    assert_int_equal(out.outcome, OUTCOME_APPLIED);
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order) FROM pending_payments"), "P2");
    assert_int_equal(reg(fx, "N1", "5", "20261122083000", T0), STORE_REGISTERED);
    assert_string_equal(q_sql(fx, "PRAGMA integrity_check"), "ok");
}

static void test_plain_sql_insert(void **state)
{
    struct fx *fx = *state;

    raw_exec(fx, "INSERT INTO payments(no_order, money_order, dt_order) VALUES "
                 "('P1', '49.65', '20261122083000'), ('P2', '100', '20261122083000'), "
                 "('P3', '0.5', '20261122083000'), ('P4', '999999999999.99', NULL)");
    assert_string_equal(col(fx, "P1", "amount_fen"), "4965");
    assert_string_equal(col(fx, "P2", "amount_fen"), "10000");
    assert_string_equal(col(fx, "P3", "amount_fen"), "50");
    assert_string_equal(col(fx, "P4", "amount_fen"), "99999999999999");
    assert_string_equal(col(fx, "P1", "typeof(amount_fen)"), "integer");
    /* registered now, in the contract's format */
    int64_t reg_ms = iso_ms(col(fx, "P1", "registered_at"));
    int64_t now = time_now_ms();
    assert_true(reg_ms <= now && reg_ms > now - 60000);
    assert_int_equal(strlen(col(fx, "P1", "registered_at")), TIME_ISO_LEN - 1);
    assert_string_equal(col(fx, "P1", "needs_review"), "0");
    assert_string_equal(col(fx, "P1", "notify_count"), "0");
    assert_string_equal(col(fx, "P1", "result_pay"), "NULL");
    assert_string_equal(col(fx, "P1", "next_query_at"), "NULL");

    /* An explicit amount is not overridden. */
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, dt_order, amount_fen) "
                 "VALUES ('P5', '1.00', '20261122083000', 7)");
    assert_string_equal(col(fx, "P5", "amount_fen"), "7");

    static const char *const bad[] = {"0.00", "01.00", "1.001",         "1.", ".5", "-1", "1e3",
                                      "1,00", "",      "1999999999999", "4 9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO payments(no_order, money_order, dt_order) "
                 "VALUES ('B%zu', '%s', '20261122083000')",
                 i, bad[i]);
        if (raw_try(fx, sql) == NULL)
            fail_msg("money_order '%s' was accepted", bad[i]);
    }
    assert_non_null(raw_try(fx, "INSERT INTO payments(no_order, money_order, dt_order) "
                                "VALUES ('C1', '1.00', '2026112208300')"));
    assert_non_null(raw_try(fx, "INSERT INTO payments(no_order, money_order, result_pay) "
                                "VALUES ('C2', '1.00', 'DONE')"));
    assert_non_null(raw_try(fx, "INSERT INTO payments(no_order, money_order, needs_review) "
                                "VALUES ('C3', '1.00', 2)"));
    assert_non_null(raw_try(fx, "INSERT INTO payments(no_order, money_order, next_query_at) "
                                "VALUES ('C4', '1.00', '2026-11-22 08:30:00')"));
    assert_non_null(raw_try(fx, "INSERT INTO payments(no_order, money_order, source) "
                                "VALUES ('C5', '1.00', 'mail')"));
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payments"), 5);
}

/* ---- store_apply --------------------------------------------------------------------------- */

static void test_success_and_redelivery(void **state)
{
    struct fx *fx = *state;
    struct store_applied a = notify(fx, "N1", "49.65", 4965, RESULT_SUCCESS, T0);

    assert_int_equal(a.outcome, OUTCOME_APPLIED);
    assert_int_equal(a.previous, RESULT_NONE);
    assert_int_equal(a.redelivery, 0);
    assert_int_equal(a.flagged, 0);
    assert_string_equal(col(fx, "N1", "result_pay"), "SUCCESS");
    assert_string_equal(col(fx, "N1", "source"), "notify");
    assert_string_equal(col(fx, "N1", "registered_at"), "NULL");
    assert_string_equal(col(fx, "N1", "first_notified_at"), "2026-11-22T08:30:00.000Z");
    assert_string_equal(col(fx, "N1", "final_at"), "2026-11-22T08:30:00.000Z");
    assert_string_equal(col(fx, "N1", "amount_fen"), "4965");
    assert_string_equal(col(fx, "N1", "money_order"), "49.65");
    assert_string_equal(col(fx, "N1", "oid_partner"), "201103171000000000");
    assert_string_equal(col(fx, "N1", "oid_paybill"), "2026112200012345");
    assert_string_equal(col(fx, "N1", "settle_date"), "20261122");
    assert_string_equal(col(fx, "N1", "info_order"), "NULL");
    assert_string_equal(col(fx, "N1", "notify_count"), "1");
    assert_int_equal(events(fx, "N1"), 1);
    assert_string_equal(q_text(fx,
                               "SELECT outcome || ' ' || seen_count || ' ' || remote_addr "
                               "FROM payment_events WHERE no_order = '%s'",
                               "N1"),
                        "applied 1 115.236.102.36");

    /* LianLian resends the same bytes six minutes later. */
    a = notify(fx, "N1", "49.65", 4965, RESULT_SUCCESS, T0 + 6 * MIN);
    assert_int_equal(a.outcome, OUTCOME_DUPLICATE);
    assert_int_equal(a.previous, RESULT_SUCCESS);
    assert_int_equal(a.redelivery, 1);
    assert_int_equal(events(fx, "N1"), 1);
    assert_string_equal(
        q_text(fx, "SELECT seen_count FROM payment_events WHERE no_order = '%s'", "N1"), "2");
    assert_string_equal(col(fx, "N1", "notify_count"), "2");
    assert_string_equal(col(fx, "N1", "first_notified_at"), "2026-11-22T08:30:00.000Z");
    assert_string_equal(col(fx, "N1", "final_at"), "2026-11-22T08:30:00.000Z");
    assert_string_equal(col(fx, "N1", "updated_at"), "2026-11-22T08:36:00.000Z");
}

static void test_same_result_other_bytes(void **state)
{
    struct fx *fx = *state;
    struct payresult r;

    result_init(&r, "N2", "49.65", 4965, RESULT_SUCCESS);
    apply_at(fx, &r, PAYRESULT_NOTIFY, "{\"a\":1}", T0);
    struct store_applied a = apply_at(fx, &r, PAYRESULT_NOTIFY, "{\"a\": 1}", T0 + MIN);
    assert_int_equal(a.outcome, OUTCOME_DUPLICATE);
    assert_int_equal(a.redelivery, 0);
    assert_int_equal(events(fx, "N2"), 2);
    /* The same bytes from a query answer are another message. */
    a = apply_at(fx, &r, PAYRESULT_QUERY, "{\"a\":1}", T0 + 2 * MIN);
    assert_int_equal(a.redelivery, 0);
    assert_int_equal(events(fx, "N2"), 3);
    assert_string_equal(col(fx, "N2", "notify_count"), "2");
    assert_string_equal(col(fx, "N2", "query_count"), "1");
    assert_string_equal(q_text(fx,
                               "SELECT group_concat(outcome, ',') FROM (SELECT outcome FROM "
                               "payment_events WHERE no_order = '%s' ORDER BY id)",
                               "N2"),
                        "applied,duplicate,duplicate");
}

static void test_cancel_after_success(void **state)
{
    struct fx *fx = *state;

    notify(fx, "N3", "10.00", 1000, RESULT_SUCCESS, T0);
    struct store_applied a = notify(fx, "N3", "10.00", 1000, RESULT_CANCEL, T0 + 60 * MIN);
    assert_int_equal(a.outcome, OUTCOME_APPLIED);
    assert_int_equal(a.previous, RESULT_SUCCESS);
    assert_int_equal(a.flagged, 0);
    assert_string_equal(col(fx, "N3", "result_pay"), "CANCEL");
    assert_string_equal(col(fx, "N3", "final_at"), "2026-11-22T09:30:00.000Z");
    assert_string_equal(col(fx, "N3", "settle_date"), "NULL");
    assert_string_equal(col(fx, "N3", "oid_paybill"), "2026112200012345");
    assert_string_equal(col(fx, "N3", "needs_review"), "0");
    assert_int_equal(events(fx, "N3"), 2);

    /* A replayed SUCCESS cannot undo the refund. */
    a = notify(fx, "N3", "10.00", 1000, RESULT_SUCCESS, T0 + 61 * MIN);
    assert_int_equal(a.outcome, OUTCOME_STALE);
    assert_int_equal(a.redelivery, 1);
    assert_string_equal(col(fx, "N3", "result_pay"), "CANCEL");
    assert_string_equal(col(fx, "N3", "final_at"), "2026-11-22T09:30:00.000Z");
    assert_string_equal(col(fx, "N3", "notify_count"), "3");
}

static void test_conflict_flags_review(void **state)
{
    struct fx *fx = *state;

    notify(fx, "N4", "10.00", 1000, RESULT_SUCCESS, T0);
    struct store_applied a = notify(fx, "N4", "10.00", 1000, RESULT_FAILURE, T0 + MIN);
    assert_int_equal(a.outcome, OUTCOME_CONFLICT);
    assert_int_equal(a.flagged, 1);
    assert_string_equal(a.review_reason, "conflict: SUCCESS then FAILURE by notify");
    assert_string_equal(col(fx, "N4", "result_pay"), "SUCCESS");
    assert_string_equal(col(fx, "N4", "needs_review"), "1");
    assert_string_equal(col(fx, "N4", "review_reason"), "conflict: SUCCESS then FAILURE by notify");
    assert_string_equal(col(fx, "N4", "notify_count"), "2");
    assert_string_equal(q_text(fx,
                               "SELECT outcome FROM payment_events WHERE no_order = '%s' "
                               "ORDER BY id DESC LIMIT 1",
                               "N4"),
                        "conflict");
    assert_string_equal(
        q_text(fx, "SELECT review_reason FROM review_queue WHERE no_order = '%s'", "N4"),
        "conflict: SUCCESS then FAILURE by notify");
}

static void test_stale_pending_after_final(void **state)
{
    struct fx *fx = *state;
    struct payresult r;

    reg(fx, "Q1", "10.00", "20261122083000", T0);
    notify(fx, "Q1", "10.00", 1000, RESULT_SUCCESS, T0 + MIN);
    assert_string_equal(col(fx, "Q1", "next_query_at"), "NULL");
    result_init(&r, "Q1", "10.00", 1000, RESULT_PROCESSING);
    struct store_applied a = apply_at(fx, &r, PAYRESULT_QUERY, NULL, T0 + 2 * MIN);
    assert_int_equal(a.outcome, OUTCOME_STALE);
    assert_int_equal(a.flagged, 0);
    assert_string_equal(col(fx, "Q1", "result_pay"), "SUCCESS");
    assert_string_equal(col(fx, "Q1", "source"), "notify");
    assert_string_equal(col(fx, "Q1", "settle_date"), "20261122");
    assert_string_equal(col(fx, "Q1", "next_query_at"), "NULL");
    assert_string_equal(col(fx, "Q1", "needs_review"), "0");
    assert_string_equal(q_text(fx,
                               "SELECT outcome || ' ' || source || ' ' || result_pay FROM "
                               "payment_events WHERE no_order = '%s' ORDER BY id DESC LIMIT 1",
                               "Q1"),
                        "stale query PROCESSING");
}

static void test_query_results(void **state)
{
    struct fx *fx = *state;
    struct payresult r;

    reg(fx, "Q2", "10.00", "20261122083000", T0);
    result_init(&r, "Q2", "10.00", 1000, RESULT_PROCESSING);
    struct store_applied a = apply_at(fx, &r, PAYRESULT_QUERY, NULL, T0 + 40 * MIN);
    assert_int_equal(a.outcome, OUTCOME_APPLIED);
    assert_string_equal(col(fx, "Q2", "result_pay"), "PROCESSING");
    assert_string_equal(col(fx, "Q2", "source"), "query");
    assert_string_equal(col(fx, "Q2", "final_at"), "NULL");
    assert_string_equal(col(fx, "Q2", "first_notified_at"), "NULL");
    assert_string_equal(col(fx, "Q2", "next_query_at"), "2026-11-22T09:06:00.000Z");
    /* the pending answer is counted by store_reschedule */
    assert_string_equal(col(fx, "Q2", "query_count"), "0");

    a = apply_at(fx, &r, PAYRESULT_QUERY, NULL, T0 + 50 * MIN);
    assert_int_equal(a.outcome, OUTCOME_DUPLICATE);
    assert_int_equal(a.redelivery, 1);

    result_init(&r, "Q2", "10.00", 1000, RESULT_FAILURE);
    snprintf(r.info_order, sizeof(r.info_order), "payout_account closed");
    a = apply_at(fx, &r, PAYRESULT_QUERY, NULL, T0 + 60 * MIN);
    assert_int_equal(a.outcome, OUTCOME_APPLIED);
    assert_int_equal(a.previous, RESULT_PROCESSING);
    assert_string_equal(col(fx, "Q2", "result_pay"), "FAILURE");
    assert_string_equal(col(fx, "Q2", "info_order"), "payout_account closed");
    assert_string_equal(col(fx, "Q2", "next_query_at"), "NULL");
    assert_string_equal(col(fx, "Q2", "final_at"), "2026-11-22T09:30:00.000Z");
    assert_string_equal(col(fx, "Q2", "query_count"), "1");
    assert_string_equal(col(fx, "Q2", "notify_count"), "0");
}

static void test_amount_mismatch(void **state)
{
    struct fx *fx = *state;

    reg(fx, "M1", "100.00", "20261122083000", T0);
    struct store_applied a = notify(fx, "M1", "99.00", 9900, RESULT_SUCCESS, T0 + MIN);
    assert_int_equal(a.outcome, OUTCOME_MISMATCH);
    assert_int_equal(a.flagged, 1);
    assert_string_equal(a.review_reason,
                        "amount mismatch: registered 100.00, notify says 99.00 (SUCCESS)");
    assert_string_equal(col(fx, "M1", "result_pay"), "NULL");
    assert_string_equal(col(fx, "M1", "amount_fen"), "10000");
    assert_string_equal(col(fx, "M1", "needs_review"), "1");
    assert_string_equal(col(fx, "M1", "review_reason"),
                        "amount mismatch: registered 100.00, notify says 99.00 (SUCCESS)");
    assert_string_equal(col(fx, "M1", "notify_count"), "1");
    assert_string_equal(
        q_text(fx, "SELECT outcome FROM payment_events WHERE no_order = '%s'", "M1"), "mismatch");
    struct store_due due[2];
    assert_int_equal(store_due(fx->st, T0 + 100 * MIN, due, 2), 0);
}

static void test_dt_order_mismatch(void **state)
{
    struct fx *fx = *state;
    struct payresult r;

    notify(fx, "M2", "5.00", 500, RESULT_SUCCESS, T0);
    result_init(&r, "M2", "5.00", 500, RESULT_CANCEL);
    snprintf(r.dt_order, sizeof(r.dt_order), "20261122083001");
    struct store_applied a = apply_at(fx, &r, PAYRESULT_NOTIFY, NULL, T0 + MIN);
    assert_int_equal(a.outcome, OUTCOME_MISMATCH);
    assert_string_equal(col(fx, "M2", "result_pay"), "SUCCESS");
    assert_string_equal(col(fx, "M2", "needs_review"), "1");
    assert_non_null(strstr(col(fx, "M2", "review_reason"), "dt_order mismatch"));
    assert_non_null(strstr(col(fx, "M2", "review_reason"), "20261122083001"));
}

static void test_apply_needs_transaction(void **state)
{
    struct fx *fx = *state;
    struct payresult r;
    struct store_applied out;
    struct store_input in = {.r = &r,
                             .source = PAYRESULT_NOTIFY,
                             .body = "{}",
                             .body_len = 2,
                             .remote_addr = "",
                             .received_at = "2026-11-22T08:30:00.000Z"};

    result_init(&r, "X1", "1.00", 100, RESULT_SUCCESS);
    assert_int_equal(store_apply(fx->st, &in, &out), -1);
    assert_non_null(strstr(store_errmsg(fx->st), "transaction"));
    assert_string_equal(col(fx, "X1", "no_order"), "NOROW");

    /* A rolled-back batch leaves nothing behind. */
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_apply(fx->st, &in, &out), 0);
    assert_int_equal(store_rollback(fx->st), 0);
    assert_string_equal(col(fx, "X1", "no_order"), "NOROW");
    assert_int_equal(events(fx, "X1"), 0);
    assert_int_equal(store_rollback(fx->st), 0);
}

/* ---- store_register ------------------------------------------------------------------------ */

static void test_register_idempotent(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(reg(fx, "R1", "49.65", "20261122083000", T0), STORE_REGISTERED);
    assert_string_equal(col(fx, "R1", "registered_at"), "2026-11-22T08:30:00.000Z");
    assert_string_equal(col(fx, "R1", "next_query_at"), "2026-11-22T09:06:00.000Z");
    assert_string_equal(col(fx, "R1", "amount_fen"), "4965");
    assert_string_equal(col(fx, "R1", "dt_order"), "20261122083000");
    assert_string_equal(col(fx, "R1", "result_pay"), "NULL");

    assert_int_equal(reg(fx, "R1", "49.65", "20261122083000", T0 + MIN), STORE_ALREADY);
    assert_string_equal(col(fx, "R1", "registered_at"), "2026-11-22T08:30:00.000Z");
    assert_string_equal(col(fx, "R1", "next_query_at"), "2026-11-22T09:06:00.000Z");
    assert_string_equal(col(fx, "R1", "updated_at"), "2026-11-22T08:30:00.000Z");
}

static void test_register_merge(void **state)
{
    struct fx *fx = *state;

    notify(fx, "R2", "49.65", 4965, RESULT_SUCCESS, T0);
    assert_int_equal(reg(fx, "R2", "49.65", "20261122083000", T0 + MIN), STORE_MERGED);
    assert_string_equal(col(fx, "R2", "registered_at"), "2026-11-22T08:31:00.000Z");
    assert_string_equal(col(fx, "R2", "result_pay"), "SUCCESS");
    assert_string_equal(col(fx, "R2", "needs_review"), "0");
    /* already final: nothing to chase */
    assert_string_equal(col(fx, "R2", "next_query_at"), "NULL");
    assert_int_equal(reg(fx, "R2", "49.65", "20261122083000", T0 + 2 * MIN), STORE_ALREADY);
}

static void test_register_merge_pending(void **state)
{
    struct fx *fx = *state;
    struct payresult r;

    result_init(&r, "R3", "2.00", 200, RESULT_WAITING);
    apply_at(fx, &r, PAYRESULT_QUERY, NULL, T0);
    assert_int_equal(reg(fx, "R3", "2", "20261122083000", T0 + MIN), STORE_MERGED);
    assert_string_equal(col(fx, "R3", "next_query_at"), "2026-11-22T09:07:00.000Z");
    /* LianLian's text is kept */
    assert_string_equal(col(fx, "R3", "money_order"), "2.00");
}

static void test_register_merge_mismatch(void **state)
{
    struct fx *fx = *state;

    notify(fx, "R4", "99.00", 9900, RESULT_SUCCESS, T0);
    assert_int_equal(reg(fx, "R4", "100.00", "20261122083000", T0 + MIN), STORE_MERGED_MISMATCH);
    assert_string_equal(col(fx, "R4", "needs_review"), "1");
    assert_string_equal(col(fx, "R4", "review_reason"),
                        "amount mismatch: registered 100.00, notify says 99.00 (SUCCESS)");
    assert_string_equal(col(fx, "R4", "registered_at"), "2026-11-22T08:31:00.000Z");
    assert_string_equal(col(fx, "R4", "amount_fen"), "9900");
    assert_string_equal(col(fx, "R4", "result_pay"), "SUCCESS");
}

static void test_register_conflicting_refused(void **state)
{
    struct fx *fx = *state;
    enum store_register_result res = STORE_REGISTERED;
    char err[256] = "";

    reg(fx, "R5", "100.00", "20261122083000", T0);
    assert_int_equal(store_register(fx->st, "R5", "99.00", "20261122083000", T0 + MIN, WINDOW_S,
                                    &res, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "already registered with amount 100.00"));
    err[0] = '\0';
    assert_int_equal(store_register(fx->st, "R5", "100.00", "20261122083001", T0 + MIN, WINDOW_S,
                                    &res, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "already registered"));
    assert_string_equal(col(fx, "R5", "amount_fen"), "10000");
    assert_string_equal(col(fx, "R5", "dt_order"), "20261122083000");
    assert_string_equal(col(fx, "R5", "needs_review"), "0");
    assert_string_equal(col(fx, "R5", "updated_at"), "2026-11-22T08:30:00.000Z");
    /* and the connection is usable again (no transaction left open) */
    assert_int_equal(reg(fx, "R6", "1.00", "20261122083000", T0), STORE_REGISTERED);
}

static void test_register_validation(void **state)
{
    struct fx *fx = *state;
    enum store_register_result res;
    char err[256];
    static const char *const bad[][3] = {
        {"", "1.00", "20261122083000"},
        {"A B", "1.00", "20261122083000"},
        {"A&B", "1.00", "20261122083000"},
        {"A=B", "1.00", "20261122083000"},
        {"A\"B", "1.00", "20261122083000"},
        {"A\tB", "1.00", "20261122083000"},
        {"123456789012345678901234567890123", "1.00", "20261122083000"},
        {"A1", "0", "20261122083000"},
        {"A1", "0.00", "20261122083000"},
        {"A1", "1.001", "20261122083000"},
        {"A1", "-1.00", "20261122083000"},
        {"A1", "1.00", "2026112208300"},
        {"A1", "1.00", "2026112208300x"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (store_register(fx->st, bad[i][0], bad[i][1], bad[i][2], T0, WINDOW_S, &res, err,
                           sizeof(err)) != -1)
            fail_msg("accepted %s %s %s", bad[i][0], bad[i][1], bad[i][2]);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payments"), 0);
    assert_int_equal(reg(fx, "12345678901234567890123456789012", "0.01", "20261122083000", T0),
                     STORE_REGISTERED);
}

/* ---- the reconciler's queries -------------------------------------------------------------- */

static void test_schedule_new(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(store_has_unscheduled(fx->st), 0);
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, dt_order, registered_at) VALUES "
                 "('S1', '1.00', '20261122083000', '2026-11-22T08:30:00.123Z'), "
                 "('S2', '2.00', '20261122083000', '2026-11-22T08:31:00.000Z')");
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, result_pay, final_at) VALUES "
                 "('S3', '3.00', 'SUCCESS', '2026-11-22T08:30:00.000Z')");
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, needs_review) VALUES "
                 "('S4', '4.00', 1)");
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, registered_at) VALUES "
                 "('S5', '5.00', NULL)");
    assert_int_equal(store_has_unscheduled(fx->st), 1);

    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_schedule_new(fx->st, WINDOW_S), 2);
    assert_int_equal(store_commit(fx->st), 0);
    assert_string_equal(col(fx, "S1", "next_query_at"), "2026-11-22T09:06:00.123Z");
    assert_string_equal(col(fx, "S2", "next_query_at"), "2026-11-22T09:07:00.000Z");
    assert_string_equal(col(fx, "S3", "next_query_at"), "NULL");
    assert_string_equal(col(fx, "S4", "next_query_at"), "NULL");
    assert_string_equal(col(fx, "S5", "next_query_at"), "NULL");
    assert_int_equal(store_has_unscheduled(fx->st), 0);
    assert_int_equal(store_schedule_new(fx->st, WINDOW_S), 0);

    struct store_due due[4];
    assert_int_equal(store_due(fx->st, iso_ms("2026-11-22T09:06:30.000Z"), due, 4), 1);
    assert_string_equal(due[0].no_order, "S1");
    assert_string_equal(due[0].registered_at, "2026-11-22T08:30:00.123Z");
}

static void test_due_selection(void **state)
{
    struct fx *fx = *state;
    struct store_due due[8];

    reg(fx, "D3", "1.00", "20261122083000", T0 + 2 * MIN);
    reg(fx, "D1", "1.00", "20261122083000", T0);
    reg(fx, "D2", "1.00", "20261122083000", T0 + MIN);
    reg(fx, "DF", "1.00", "20261122083000", T0 - MIN);     /* gets a final result */
    reg(fx, "DR", "1.00", "20261122083000", T0 - MIN);     /* flagged for review */
    reg(fx, "DL", "1.00", "20261122083000", T0 + 9 * MIN); /* not due yet */
    notify(fx, "DF", "1.00", 100, RESULT_SUCCESS, T0);
    notify(fx, "NR", "1.00", 100, RESULT_SUCCESS, T0); /* never registered */
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_flag_review(fx->st, "DR", "gave up after 7d"), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_string_equal(col(fx, "DR", "needs_review"), "1");
    assert_string_equal(col(fx, "DR", "review_reason"), "gave up after 7d");
    assert_string_equal(col(fx, "DR", "next_query_at"), "NULL");

    int64_t now = T0 + 36 * MIN + 5 * MIN;
    assert_int_equal(store_due(fx->st, now, due, 8), 3);
    assert_string_equal(due[0].no_order, "D1");
    assert_string_equal(due[1].no_order, "D2");
    assert_string_equal(due[2].no_order, "D3");
    assert_string_equal(due[0].registered_at, "2026-11-22T08:30:00.000Z");
    assert_int_equal(due[0].query_count, 0);
    assert_int_equal(store_due(fx->st, now, due, 2), 2);
    assert_string_equal(due[1].no_order, "D2");
    assert_int_equal(store_due(fx->st, T0, due, 8), 0);

    /* A query that did not settle D1 pushes it back: now D2 comes first. */
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_reschedule(fx->st, "D1", now + 10 * MIN), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_string_equal(col(fx, "D1", "query_count"), "1");
    assert_string_equal(col(fx, "D1", "next_query_at"), "2026-11-22T09:21:00.000Z");
    assert_int_equal(store_due(fx->st, now, due, 8), 2);
    assert_string_equal(due[0].no_order, "D2");
    assert_int_equal(store_due(fx->st, now + 10 * MIN, due, 8), 4);
    assert_string_equal(due[3].no_order, "D1");
    assert_int_equal(due[3].query_count, 1);

    /* rescheduling an order that became final meanwhile does not bring it back */
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_reschedule(fx->st, "DF", now), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_string_equal(col(fx, "DF", "next_query_at"), "NULL");
}

static void assert_plan_uses(struct fx *fx, const char *sql, const char *index)
{
    char explain[2048];
    sqlite3_stmt *s = NULL;
    int found = 0;

    snprintf(explain, sizeof(explain), "EXPLAIN QUERY PLAN %s", sql);
    if (sqlite3_prepare_v2(fx->raw, explain, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(fx->raw));
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(s, 3);
        if (detail != NULL && strstr(detail, index) != NULL)
            found = 1;
        if (detail != NULL && strncmp(detail, "SCAN payments", 13) == 0 &&
            strstr(detail, "INDEX") == NULL)
            fail_msg("%s: full table scan", sql);
    }
    sqlite3_finalize(s);
    if (!found)
        fail_msg("%s: does not use %s", sql, index);
}

static void test_query_plans(void **state)
{
    struct fx *fx = *state;

    /* The store's selections, without its INDEXED BY: the planner picks the index by itself. */
    assert_plan_uses(fx,
                     "SELECT no_order, registered_at, query_count FROM payments "
                     "WHERE needs_review = 0 AND next_query_at IS NOT NULL AND next_query_at <= "
                     "'2026-11-22T09:00:00.000Z' AND registered_at IS NOT NULL AND " NOT_FINAL
                     " ORDER BY next_query_at LIMIT 100",
                     "payments_due");
    assert_plan_uses(fx,
                     "UPDATE payments SET next_query_at = strftime('%Y-%m-%dT%H:%M:%fZ', "
                     "registered_at, '+2160 seconds') WHERE " UNSCHEDULED,
                     "payments_unscheduled");
    assert_plan_uses(fx, "SELECT EXISTS (SELECT 1 FROM payments WHERE " UNSCHEDULED ")",
                     "payments_unscheduled");
    assert_plan_uses(fx,
                     "SELECT id FROM payment_events WHERE no_order = 'A1' AND source = 'notify' "
                     "AND body = '{}'",
                     "payment_events_no_order");
    assert_plan_uses(fx, "SELECT * FROM pending_payments", "payments_pending");
    assert_plan_uses(fx, "SELECT * FROM review_queue", "payments_review");

    /* The store's own statements name their index: without it they refuse to run rather than
     * scan. */
    raw_exec(fx, "DROP INDEX payments_due");
    struct store_due due[1];
    assert_int_equal(store_due(fx->st, T0, due, 1), -1);
    assert_string_equal(store_errkind(fx->st), "sql");
    raw_exec(fx, "DROP INDEX payments_unscheduled");
    assert_int_equal(store_has_unscheduled(fx->st), -1);
}

/* ---- views, journal, status, errors -------------------------------------------------------- */

static void test_views(void **state)
{
    struct fx *fx = *state;

    reg(fx, "V1", "10.00", "20261122083000", time_now_ms() - 120000);
    reg(fx, "V2", "1.00", "20261122083000", time_now_ms());
    notify(fx, "V2", "1.00", 100, RESULT_SUCCESS, iso_ms("2026-11-22T10:00:00.000Z"));
    notify(fx, "V3", "49.65", 4965, RESULT_SUCCESS, iso_ms("2026-11-22T23:59:59.999Z"));
    notify(fx, "V4", "0.35", 35, RESULT_SUCCESS, iso_ms("2026-11-23T00:00:00.000Z"));
    notify(fx, "V5", "7.00", 700, RESULT_FAILURE, iso_ms("2026-11-22T11:00:00.000Z"));
    reg(fx, "V6", "5.00", "20261122083000", time_now_ms());
    notify(fx, "V6", "6.00", 600, RESULT_SUCCESS, T0); /* mismatch: review */

    assert_int_equal(q_int(fx, "SELECT count(*) FROM pending_payments"), 1);
    assert_string_equal(q_text(fx, "SELECT no_order FROM pending_payments"), "V1");
    long long age = q_int(fx, "SELECT age_seconds FROM pending_payments");
    assert_true(age >= 119 && age < 180);
    assert_string_equal(q_text(fx, "SELECT typeof(age_seconds) FROM pending_payments"), "integer");

    assert_string_equal(q_text(fx, "SELECT group_concat(no_order) FROM review_queue"), "V6");
    assert_non_null(strstr(q_text(fx, "SELECT review_reason FROM review_queue"),
                           "amount mismatch: registered 5.00, notify says 6.00"));

    assert_string_equal(q_text(fx,
                               "SELECT count || ' ' || amount_fen || ' ' || amount_yuan || ' ' "
                               "|| typeof(amount_fen) || ' ' || typeof(amount_yuan) FROM "
                               "daily_totals WHERE day = '2026-11-22' AND result_pay = '%s'",
                               "SUCCESS"),
                        "2 5065 50.65 integer text");
    assert_string_equal(q_text(fx,
                               "SELECT count || ' ' || amount_yuan FROM daily_totals WHERE "
                               "day = '2026-11-23' AND result_pay = '%s'",
                               "SUCCESS"),
                        "1 0.35");
    assert_string_equal(q_text(fx,
                               "SELECT count || ' ' || amount_yuan FROM daily_totals WHERE "
                               "day = '2026-11-22' AND result_pay = '%s'",
                               "FAILURE"),
                        "1 7.00");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM daily_totals"), 3);
}

static void test_events_append_only(void **state)
{
    struct fx *fx = *state;

    notify(fx, "E1", "1.00", 100, RESULT_SUCCESS, T0);
    assert_non_null(raw_try(fx, "DELETE FROM payment_events"));
    assert_non_null(strstr(fx->text, "append-only"));
    assert_non_null(raw_try(fx, "UPDATE payment_events SET body = 'x'"));
    assert_non_null(raw_try(fx, "UPDATE payment_events SET outcome = 'stale'"));
    assert_non_null(raw_try(fx, "UPDATE payment_events SET seen_count = 0"));
    assert_int_equal(events(fx, "E1"), 1);
    assert_null(raw_try(fx, "UPDATE payment_events SET seen_count = seen_count + 1"));
    assert_string_equal(
        q_text(fx, "SELECT seen_count FROM payment_events WHERE no_order = '%s'", "E1"), "2");
    /* the journal cannot point at an order that does not exist */
    assert_non_null(raw_try(fx, "PRAGMA foreign_keys = ON; INSERT INTO payment_events "
                                "(no_order, source, result_pay, money_order, outcome, body, "
                                "received_at) VALUES ('nope', 'notify', 'SUCCESS', '1.00', "
                                "'applied', '{}', '2026-11-22T08:30:00.000Z')"));
}

static void test_print_status(void **state)
{
    struct fx *fx = *state;
    char *buf = NULL;
    size_t len = 0;

    reg(fx, "P1", "49.65", "20261122083000", T0);
    notify(fx, "P1", "49.65", 4965, RESULT_SUCCESS, T0 + MIN);
    notify(fx, "P1", "49.65", 4965, RESULT_SUCCESS, T0 + 7 * MIN);

    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    assert_int_equal(store_print_status(fx->st, "P1", out), 0);
    assert_int_equal(fclose(out), 0);
    static const char *const want[] = {
        "no_order:",      "P1\n",
        "money_order:",   "49.65\n",
        "amount_fen:",    "4965\n",
        "result_pay:",    "SUCCESS\n",
        "registered_at:", "2026-11-22T08:30:00.000Z\n",
        "notify_count:",  "review_reason:",
        "events:",        "2026-11-22T08:31:00.000Z notify SUCCESS applied seen×2 115.236.102.36",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(buf, want[i]) == NULL)
            fail_msg("status lacks '%s':\n%s", want[i], buf);
    }
    free(buf);

    out = open_memstream(&buf, &len);
    assert_non_null(out);
    assert_int_equal(store_print_status(fx->st, "nope", out), 1);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(len, 0);
    free(buf);
}

static void test_busy_is_reported(void **state)
{
    struct fx *fx = *state;

    raw_exec(fx, "BEGIN IMMEDIATE");
    int64_t t = time_mono_ms();
    assert_int_equal(store_begin(fx->st), -1);
    t = time_mono_ms() - t;
    assert_string_equal(store_errkind(fx->st), "busy");
    /* the writer's short busy timeout: it waits about a second, then gives up */
    assert_true(t >= 900 && t < 4000);
    raw_exec(fx, "ROLLBACK");
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_commit(fx->st), 0);
}

static void test_readonly_connection(void **state)
{
    struct fx *fx = *state;
    char err[512];

    struct store *ro = store_open(fx->path, STORE_READ, err, sizeof(err));
    if (ro == NULL)
        fail_msg("read open: %s", err);
    assert_int_equal(store_begin(ro), 0);
    assert_int_equal(store_flag_review(ro, "A1", "x"), -1);
    assert_string_equal(store_errkind(ro), "readonly");
    assert_int_equal(store_rollback(ro), 0);
    store_close(ro);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_schema_contract),
        T(test_reopen_keeps_data),
        T(test_newer_schema_refused),
        T(test_reader_refuses_old_schema),
        T(test_migration_0002),
        T(test_plain_sql_insert),
        T(test_success_and_redelivery),
        T(test_same_result_other_bytes),
        T(test_cancel_after_success),
        T(test_conflict_flags_review),
        T(test_stale_pending_after_final),
        T(test_query_results),
        T(test_amount_mismatch),
        T(test_dt_order_mismatch),
        T(test_apply_needs_transaction),
        T(test_register_idempotent),
        T(test_register_merge),
        T(test_register_merge_pending),
        T(test_register_merge_mismatch),
        T(test_register_conflicting_refused),
        T(test_register_validation),
        T(test_schedule_new),
        T(test_due_selection),
        T(test_query_plans),
        T(test_views),
        T(test_events_append_only),
        T(test_print_status),
        T(test_busy_is_reported),
        T(test_readonly_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
