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

#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attempt.h"
#include "ctl_print.h"
#include "migrations.h"
#include "payout.h"
#include "payresult.h"
#include "state.h"
#include "store.h"
#include "store_decision.h"
#include "store_payout.h"
#include "store_review.h"
#include "store_submit.h"
#include "testdb.h"
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
    "(result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK' "                         \
    "OR result_pay = 'WAITING' OR result_pay = 'PROCESSING')"
#define UNSCHEDULED                                                                                \
    "next_query_at IS NULL AND registered_at IS NOT NULL AND needs_review = 0 AND payout_held = "  \
    "0 "                                                                                           \
    "AND " NOT_FINAL

/* ---- fixture and helpers ------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    char err[512];

    assert_non_null(fx);
    testdb_make("test_store", fx->dir, sizeof(fx->dir), fx->path, sizeof(fx->path));
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

    store_close(fx->st);
    sqlite3_close(fx->raw);
    testdb_remove(fx->dir, fx->path, "old.db"); /* old.db: left by a failed reader test */
    free(fx);
    return 0;
}

/* The person every decision of these tests is made by. */
static const struct store_person tester = {"tester", "sudoer"};

static void raw_exec(struct fx *fx, const char *sql)
{
    testdb_exec(fx->raw, sql);
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
    return testdb_text(fx->raw, sql, fx->text, sizeof(fx->text));
}

__attribute__((format(printf, 2, 3))) static const char *q_text(struct fx *fx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    testdb_vtext(fx->raw, fx->text, sizeof(fx->text), fmt, ap);
    va_end(ap);
    return fx->text;
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

/* The digest payresult_from_msg would give a message whose signed content is text. */
static void set_signed(struct payresult *r, const char *text)
{
    unsigned int len = 0;
    assert_int_equal(EVP_Digest(text, strlen(text), r->signed_sha256, &len, EVP_sha256(), NULL), 1);
    assert_int_equal(len, sizeof(r->signed_sha256));
}

/* Applies r as one message in its own transaction; body is derived from the result unless
 * given, and so is what was signed: the body stands for it unless signed is given. */
static struct store_applied apply_signed(struct fx *fx, const struct payresult *r,
                                         enum payresult_source src, const char *body,
                                         const char *signed_text, int64_t at)
{
    char auto_body[256], received[TIME_ISO_LEN];
    struct store_applied out;
    struct store_input in;
    struct payresult msg = *r;

    if (body == NULL) {
        snprintf(auto_body, sizeof(auto_body),
                 "{\"no_order\":\"%s\",\"money_order\":\"%s\",\"result_pay\":\"%s\"}", r->no_order,
                 r->money_order, state_result_name(r->result_pay));
        body = auto_body;
    }
    set_signed(&msg, signed_text != NULL ? signed_text : body);
    time_iso(at, received);
    memset(&in, 0, sizeof(in));
    in.r = &msg;
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

static struct store_applied apply_at(struct fx *fx, const struct payresult *r,
                                     enum payresult_source src, const char *body, int64_t at)
{
    return apply_signed(fx, r, src, body, NULL, at);
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
        "no_order",      "oid_partner",  "money_order",   "amount_fen",
        "dt_order",      "oid_paybill",  "result_pay",    "settle_date",
        "info_order",    "source",       "registered_at", "first_notified_at",
        "updated_at",    "final_at",     "notify_count",  "query_count",
        "next_query_at", "needs_review", "review_reason", "payout_held",
        "chase_from",    "memo",
    };
    /* signed_sha256 added by sql/0003 */
    static const char *const events_cols[] = {
        "id",          "no_order",    "source",     "result_pay",    "money_order",
        "oid_paybill", "settle_date", "info_order", "outcome",       "body",
        "received_at", "remote_addr", "seen_count", "signed_sha256",
    };
    /* payout_held added by sql/0004, chase_from by sql/0006, memo by sql/0008 */
    assert_columns(fx, "payments", payments, 22);
    assert_columns(fx, "payment_events", events_cols, 14);

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

    /* Back at the version it has, it opens again (replaying older migrations over a newer
     * schema is no scenario: sql/0004's triggers name payments, which sql/0003 rebuilds). */
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_version());
    raw_exec(fx, sql);
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

/* Applies the first `version` migrations to db with plain SQL, as an older daemon did. */
static void migrate_raw(sqlite3 *db, int version)
{
    char sql[64];

    assert_true(store_migrations_count > version);
    /* as store.c's migration runner provides it (sql/0003 lists refused rows in it) */
    testdb_exec(db, "CREATE TEMP TABLE migration_refusals (what TEXT NOT NULL)");
    for (int i = 0; i < version; i++)
        testdb_exec(db, store_migrations[i].sql);
    testdb_exec(db, "DROP TABLE temp.migration_refusals");
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
    testdb_exec(db, sql);
}

/* Replaces the fixture's database with one made by the first `version` migrations alone, as an
 * older daemon left it; the store is closed (fx->st NULL) until the test opens it. */
static void database_at_version(struct fx *fx, int version)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};

    store_close(fx->st);
    fx->st = NULL;
    sqlite3_close(fx->raw);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char p[320];
        snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
        unlink(p);
    }
    assert_int_equal(sqlite3_open(fx->path, &fx->raw), SQLITE_OK);
    raw_exec(fx, "PRAGMA journal_mode=WAL");
    migrate_raw(fx->raw, version);
}

/* A database made by 0001 alone, with orders in every kind of state, migrated by store_open. */
static void test_migration_0002(void **state)
{
    struct fx *fx = *state;
    char err[1024];

    database_at_version(fx, 1);
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
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order) FROM pending_payments"), "P1,P2");

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
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order) FROM pending_payments"), "P1,P2");
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order) FROM review_queue"), "R1");
    assert_string_equal(q_sql(fx, "SELECT amount_fen || ' ' || count FROM daily_totals"), "200 1");
    assert_string_equal(col(fx, "P1", "amount_fen"), "4965");
    assert_int_equal(events(fx, "F1"), 1);
    assert_int_equal(
        q_int(fx, "SELECT count(*) FROM payments INDEXED BY payments_pending "
                  "WHERE registered_at IS NOT NULL AND needs_review = 0 AND payout_held = 0 "
                  "AND " NOT_FINAL),
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

/* sql/0004 on a database at version 3 with rows: they keep their views and schedule, a payout
 * queued with design.md's INSERT registers its order, held: not pending, never scheduled. */
static void test_migration_0004(void **state)
{
    struct fx *fx = *state;
    char err[1024];

    database_at_version(fx, 3);
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, dt_order, registered_at) VALUES "
                 "('P1', '49.65', '20261122083000', '2026-11-22T08:30:00.000Z')");
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, registered_at, needs_review, "
                 "review_reason) VALUES ('R1', '3', '2026-11-22T08:33:00.000Z', 1, 'x')");
    fx->st = store_open(fx->path, STORE_WRITE, err, sizeof(err));
    if (fx->st == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(q_int(fx, "PRAGMA user_version"), store_schema_version());
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order) FROM pending_payments"), "P1");
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order || ':' || review_reason || ':' "
                                  "|| ifnull(payout_state, '-')) FROM review_queue"),
                        "R1:x:-");
    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name, "
                 "flag_card, info_order, memo) VALUES ('Q1', '49.65', '20261201093000', "
                 "'6228480223312311474', 'A', '0', 'i', 'm')");
    assert_string_equal(col(fx, "Q1", "amount_fen"), "4965");
    assert_string_equal(col(fx, "Q1", "payout_held"), "1");
    assert_string_equal(q_sql(fx, "SELECT registered_at = (SELECT queued_at FROM payouts) FROM "
                                  "payments WHERE no_order = 'Q1'"),
                        "1");
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order) FROM pending_payments"), "P1");
    assert_int_equal(store_schedule_new(fx->st, 36 * 60), 1); /* P1 only */
    assert_string_equal(col(fx, "Q1", "next_query_at"), "NULL");
    assert_int_equal(store_has_unscheduled(fx->st), 0);
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order) FROM payouts_in_flight"), "Q1");

    /* Sent: chased; refused by a signed answer: held again, off the schedule, for a person. */
    raw_exec(fx, "UPDATE payouts SET state = 'sending' WHERE no_order = 'Q1'");
    assert_int_equal(store_schedule_new(fx->st, 36 * 60), 1);
    assert_string_not_equal(col(fx, "Q1", "next_query_at"), "NULL");
    raw_exec(fx, "UPDATE payouts SET state = 'refused', ret_code = '9104' WHERE no_order = 'Q1'");
    assert_string_equal(col(fx, "Q1", "next_query_at"), "NULL");
    assert_string_equal(col(fx, "Q1", "payout_held"), "1");
    assert_int_equal(store_has_unscheduled(fx->st), 0);
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order || ':' || review_reason || ':' "
                                  "|| ifnull(payout_state, '-')) FROM review_queue"),
                        "R1:x:-,Q1:payout refused (9104):refused");

    /* A no_order payments knows is refused, and so is a second payout for one no_order. */
    assert_int_not_equal(sqlite3_exec(fx->raw,
                                      "INSERT INTO payouts(no_order, money_order, dt_order, "
                                      "card_no, acct_name) VALUES ('P1', '1', '20261201093000', "
                                      "'6228480223312311474', 'A')",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_non_null(strstr(sqlite3_errmsg(fx->raw), "already known in payments"));
    assert_int_not_equal(sqlite3_exec(fx->raw,
                                      "INSERT INTO payouts(no_order, money_order, dt_order, "
                                      "card_no, acct_name) VALUES ('Q1', '1', '20261201093000', "
                                      "'6228480223312311474', 'A')",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_string_equal(q_sql(fx, "PRAGMA foreign_key_check"), "NOROW");
}

/* sql/0010 on a database at version 9: the attempts journal's old rows lose their request's sign
 * (it is "withheld", as payout.c now writes), nothing else of them changes, and the table is
 * append-only again. */
static void test_migration_0010(void **state)
{
    struct fx *fx = *state;
    char err[1024];

    database_at_version(fx, 9);
    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name, "
                 "flag_card, info_order, memo, state) VALUES ('Q1', '49.65', '20261201093000', "
                 "'6228480223312311474', 'A', '0', 'i', 'm', 'accepted')");
    raw_exec(fx, "INSERT INTO payout_attempts(no_order, call, class, ret_code, signed, answer, "
                 "request, sent_at, answered_at) VALUES ('Q1', 'apply', 'accepted', '0000', 1, "
                 "'{}', '{\"no_order\":\"Q1\",\"card_no\":\"622848******1474\",\"sign\":"
                 "\"c2lnbmF0dXJl\"}', '2026-12-01T09:30:00.000Z', '2026-12-01T09:30:01.000Z'), "
                 "('Q1', 'confirm', 'unknown', NULL, 0, NULL, 'not json', "
                 "'2026-12-01T09:31:00.000Z', NULL)");
    fx->st = store_open(fx->path, STORE_WRITE, err, sizeof(err));
    if (fx->st == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(q_int(fx, "PRAGMA user_version"), store_schema_version());
    assert_string_equal(q_sql(fx, "SELECT group_concat(request, '|') FROM payout_attempts"),
                        "{\"no_order\":\"Q1\",\"card_no\":\"622848******1474\",\"sign\":"
                        "\"" PAYOUT_JOURNAL_SIGN "\"}|not json");
    assert_string_equal(q_sql(fx, "SELECT group_concat(ret_code || answered_at) FROM "
                                  "payout_attempts"),
                        "00002026-12-01T09:30:01.000Z");
    assert_int_not_equal(
        sqlite3_exec(fx->raw, "UPDATE payout_attempts SET request = '{}'", NULL, NULL, NULL),
        SQLITE_OK);
    assert_non_null(strstr(sqlite3_errmsg(fx->raw), "append-only"));
}

/* sql/0005 on a database at version 4 with journal rows: they stay append-only; a DELETE passes
 * only inside a permit, for a final order finalised before its cutoff; backups says why. */
static void test_migration_0005(void **state)
{
    struct fx *fx = *state;
    char err[1024];

    database_at_version(fx, 4);
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, dt_order, result_pay, source, "
                 "registered_at, updated_at, final_at) VALUES ('F1', '1', '20261122083000', "
                 "'SUCCESS', 'notify', '2026-11-22T08:30:00.000Z', '2026-11-22T08:31:00.000Z', "
                 "'2026-11-22T08:31:00.000Z')");
    raw_exec(fx, "INSERT INTO payment_events(no_order, source, result_pay, money_order, "
                 "outcome, body, received_at) VALUES ('F1', 'notify', 'SUCCESS', '1', "
                 "'applied', '{}', '2026-11-22T08:31:00.000Z')");
    fx->st = store_open(fx->path, STORE_WRITE, err, sizeof(err));
    if (fx->st == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(q_int(fx, "PRAGMA user_version"), store_schema_version());
    assert_non_null(raw_try(fx, "DELETE FROM payment_events"));
    assert_non_null(strstr(fx->text, "append-only"));
    raw_exec(fx, "BEGIN");
    raw_exec(fx, "INSERT INTO archive_permit VALUES (1, '2026-11-22T08:31:00.000Z')");
    assert_non_null(raw_try(fx, "DELETE FROM payment_events")); /* final_at is not before */
    raw_exec(fx, "UPDATE archive_permit SET before = '2026-11-23T00:00:00.000Z'");
    assert_null(raw_try(fx, "DELETE FROM payment_events"));
    assert_non_null(raw_try(fx, "INSERT INTO archive_permit VALUES (2, "
                                "'2026-11-23T00:00:00.000Z')")); /* one row at most */
    raw_exec(fx, "ROLLBACK");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payment_events"), 1);
    assert_non_null(raw_try(fx, "INSERT INTO backups(started_at, path, ok) VALUES "
                                "('2026-11-22T08:31:00.000Z', 'b', 1)")); /* ok without bytes */
    assert_non_null(raw_try(fx, "INSERT INTO backups(started_at, path, ok) VALUES "
                                "('2026-11-22T08:31:00.000Z', 'b', 0)")); /* failed: no why */
    assert_null(raw_try(fx, "INSERT INTO backups(started_at, finished_at, path, bytes, ok) "
                            "VALUES ('2026-11-22T08:31:00.000Z', '2026-11-22T08:31:01.000Z', "
                            "'b', 4096, 1)"));
}

/* store_payout: queuing inside a transaction, a refusal that leaves it usable, and cancel. */
static void test_payout_queue_and_cancel(void **state)
{
    struct fx *fx = *state;
    struct payout_request r = {.no_order = "Q1",
                               .dt_order = "20261201093000",
                               .money_order = "49.65",
                               .card_no = "6228480223312311474",
                               .acct_name = "A"};
    enum store_payout_result res;
    char why[256] = "";

    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_payout_queue(fx->st, &r, &res, why, sizeof(why)), 0);
    assert_int_equal(res, STORE_PAYOUT_DONE);
    assert_int_equal(store_payout_queue(fx->st, &r, &res, why, sizeof(why)), 0);
    assert_int_equal(res, STORE_PAYOUT_REFUSED);
    assert_non_null(strstr(why, "already known in payments"));
    r.no_order = "Q2";
    r.flag_card = "1"; /* without bank_code */
    assert_int_equal(store_payout_queue(fx->st, &r, &res, why, sizeof(why)), 0);
    assert_int_equal(res, STORE_PAYOUT_REFUSED);
    assert_non_null(strstr(why, "company_payout_needs_bank_code"));
    assert_int_equal(store_commit(fx->st), 0);
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order || ' ' || state || ' ' || "
                                  "flag_card || ' ' || amount_fen) FROM payouts"),
                        "Q1 queued 0 4965");

    assert_int_equal(store_payout_cancel(fx->st, &tester, "Q1", "2026-12-01T10:00:00.000Z", &res,
                                         why, sizeof(why)),
                     0);
    assert_int_equal(res, STORE_PAYOUT_DONE);
    assert_string_equal(q_sql(fx, "SELECT state || ' ' || updated_at FROM payouts"),
                        "cancelled 2026-12-01T10:00:00.000Z");
    assert_int_equal(store_payout_cancel(fx->st, &tester, "Q1", "2026-12-01T10:00:01.000Z", &res,
                                         why, sizeof(why)),
                     0);
    assert_int_equal(res, STORE_PAYOUT_STATE);
    assert_string_equal(why, "cancelled");
    assert_int_equal(store_payout_cancel(fx->st, &tester, "NONE", "2026-12-01T10:00:01.000Z", &res,
                                         why, sizeof(why)),
                     0);
    assert_int_equal(res, STORE_PAYOUT_UNKNOWN);
}

/* A person's decisions (store_payout_decide) and the submit thread's confirm steps: each applies
 * to its states only, resubmit resets the answer and keeps the attempts, confirming needs a
 * request and a live code. */
static void test_payout_decisions(void **state)
{
    struct fx *fx = *state;
    struct store_payout_brief b;
    enum store_payout_result res;
    const char *now = "2026-12-01T10:00:00.000Z";

    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name) VALUES "
                 "('R1', '1.00', '20261201093000', '6228480223312311474', 'A'), "
                 "('R2', '1.00', '20261201093000', '6228480223312311474', 'A'), "
                 "('F1', '1.00', '20261201093000', '6228480223312311474', 'A'), "
                 "('U1', '1.00', '20261201093000', '6228480223312311474', 'A'), "
                 "('U2', '1.00', '20261201093000', '6228480223312311474', 'A')");
    raw_exec(fx, "UPDATE payouts SET state = 'review', ret_code = '4002', confirm_code = '123456', "
                 "confirm_tries = 6, confirm_expires_at = '2026-12-01T10:30:00.000Z' "
                 "WHERE no_order = 'R1'");
    raw_exec(fx, "UPDATE payouts SET state = 'review', ret_code = '4002', confirm_code = '654321', "
                 "confirm_tries = 6, confirm_expires_at = '2026-12-01T09:59:59.999Z' "
                 "WHERE no_order = 'R2'");
    raw_exec(fx, "UPDATE payouts SET state = 'refused', ret_code = '9104', ret_msg = 'x', "
                 "attempts = 1 WHERE no_order = 'F1'");
    raw_exec(fx, "UPDATE payouts SET state = 'unknown', attempts = 1, "
                 "reason = 'no record: 8901 for 31 minutes' WHERE no_order = 'U1'");
    raw_exec(fx, "UPDATE payouts SET state = 'unknown', attempts = 1, reason = 'unsigned answer' "
                 "WHERE no_order = 'U2'");

    /* confirm: a lapsed code is refused; a live one is requested, once (the first time stays). */
    assert_int_equal(
        store_payout_decide(fx->st, STORE_DECIDE_CONFIRM, &tester, "R2", now, "c", &res, &b), 0);
    assert_int_equal(res, STORE_PAYOUT_STATE);
    assert_int_equal(
        store_payout_decide(fx->st, STORE_DECIDE_CONFIRM, &tester, "R1", now, "c", &res, &b), 0);
    assert_int_equal(res, STORE_PAYOUT_DONE);
    assert_int_equal(b.confirm_requested, 1);
    assert_int_equal(store_payout_decide(fx->st, STORE_DECIDE_CONFIRM, &tester, "R1",
                                         "2026-12-01T10:00:05.000Z", "c", &res, &b),
                     0);
    assert_string_equal(q_sql(fx, "SELECT confirm_requested_at FROM payouts WHERE no_order = 'R1'"),
                        now);
    /* decline: refused while a confirm is requested; R2 (no request) is closed. */
    assert_int_equal(
        store_payout_decide(fx->st, STORE_DECIDE_DECLINE, &tester, "R1", now, "d", &res, &b), 0);
    assert_int_equal(res, STORE_PAYOUT_STATE);
    assert_int_equal(store_payout_decide(fx->st, STORE_DECIDE_DECLINE, &tester, "R2", now,
                                         "declined by t", &res, &b),
                     0);
    assert_int_equal(res, STORE_PAYOUT_DONE);
    assert_string_equal(b.state, "closed");
    assert_string_equal(b.reason, "declined by t");

    /* The submit thread: the requested one is next; confirming needs the request. */
    struct store_submit_confirm c;
    assert_int_equal(store_submit_next_confirm(fx->st, &c), 1);
    assert_string_equal(c.no_order, "R1");
    assert_string_equal(c.confirm_code, "123456");
    assert_int_equal(c.confirm_tries, 6);
    struct store_submit_step st = {.no_order = "R1", .now_iso = "2026-12-01T10:31:00.000Z"};
    assert_int_equal(store_submit_confirming(fx->st, &st), 0);
    assert_int_equal(st.changed, 0); /* the code lapsed at 10:30 */
    st.now_iso = "2026-12-01T10:01:00.000Z";
    assert_int_equal(store_submit_confirming(fx->st, &st), 0);
    assert_int_equal(st.changed, 1);
    assert_int_equal(store_submit_next_confirm(fx->st, &c), 0);
    assert_int_equal(store_submit_confirming(fx->st, &st), 0);
    assert_int_equal(st.changed, 0); /* already confirming: never twice */

    /* resubmit: refused and unknown "no record:" are queued afresh; another unknown is not. */
    assert_int_equal(
        store_payout_decide(fx->st, STORE_DECIDE_RESUBMIT, &tester, "U2", now, "r", &res, &b), 0);
    assert_int_equal(res, STORE_PAYOUT_STATE);
    assert_string_equal(b.state, "unknown");
    assert_int_equal(
        store_payout_decide(fx->st, STORE_DECIDE_RESUBMIT, &tester, "F1", now, "r", &res, &b), 0);
    assert_int_equal(res, STORE_PAYOUT_DONE);
    assert_int_equal(
        store_payout_decide(fx->st, STORE_DECIDE_RESUBMIT, &tester, "U1", now, "r", &res, &b), 0);
    assert_int_equal(res, STORE_PAYOUT_DONE);
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order || ' ' || state || ' ' || "
                                  "ifnull(ret_code, '-') || ' ' || ifnull(ret_msg, '-') || ' ' || "
                                  "attempts || ' ' || reason, ',') FROM payouts "
                                  "WHERE no_order IN ('F1', 'U1') ORDER BY no_order"),
                        "F1 queued - - 1 r,U1 queued - - 1 r");
    assert_int_equal(
        store_payout_decide(fx->st, STORE_DECIDE_RESUBMIT, &tester, "F1", now, "r", &res, &b), 0);
    assert_int_equal(res, STORE_PAYOUT_STATE); /* queued now: not twice */
    assert_int_equal(
        store_payout_decide(fx->st, STORE_DECIDE_DECLINE, &tester, "NONE", now, "r", &res, &b), 0);
    assert_int_equal(res, STORE_PAYOUT_UNKNOWN);

    /* One payout_decisions row per decision that applied (sql/0009), none for a refusal: the
     * state before and after, the reason it had before, who; nothing logged yet. */
    assert_string_equal(
        q_sql(fx, "SELECT group_concat(no_order || ' ' || decision || ' ' || from_state || '>' || "
                  "to_state || ' ' || ifnull(reason, '-') || ' ' || by_user || '/' || "
                  "sudo_user || ' ' || ifnull(logged_at, '-'), ',') FROM "
                  "(SELECT * FROM payout_decisions ORDER BY id)"),
        "R1 confirm review>review - tester/sudoer -,R1 confirm review>review c tester/sudoer -,"
        "R2 decline review>closed - tester/sudoer -,F1 resubmit refused>queued - tester/sudoer -,"
        "U1 resubmit unknown>queued no record: 8901 for 31 minutes tester/sudoer -");
}

/* sql fails with a message holding want. */
static void assert_refused(struct fx *fx, const char *sql, const char *want)
{
    const char *err = raw_try(fx, sql);
    if (err == NULL || strstr(err, want) == NULL)
        fail_msg("%s: %s, not \"%s\"", sql, err != NULL ? err : "accepted", want);
}

struct seen_decisions {
    int n;
    int64_t ids[4];
    char text[256];
};

static void collect_decision(void *ctx, int64_t id, const struct store_decision *d)
{
    struct seen_decisions *c = ctx;
    size_t used = strlen(c->text);

    if (c->n < 4)
        c->ids[c->n] = id;
    c->n++;
    snprintf(c->text + used, sizeof(c->text) - used, "%s %s %s %s>%s;", d->no_order, d->decision,
             d->by.user, d->from_state, d->to_state);
}

/* payout_decisions (sql/0009): what the daemon reads, oldest first, and marks once; a review
 * resolution is a decision too; the rows refuse UPDATE but the mark, and DELETE. */
static void test_decisions_trail(void **state)
{
    struct fx *fx = *state;
    struct store_decision d = {.no_order = "Q1",
                               .decision = "cancel",
                               .decided_at = "2026-12-01T10:00:00.000Z",
                               .by = {"alice", NULL},
                               .from_state = "queued",
                               .to_state = "cancelled"};

    raw_exec(fx, "INSERT INTO payments(no_order, money_order, registered_at, needs_review, "
                 "review_reason) VALUES ('R1', '3', '2026-11-22T08:33:00.000Z', 1, 'gave up')");
    assert_int_equal(store_decision_append(fx->st, &d), 0);
    struct store_resolution r = {.no_order = "R1",
                                 .resolved_by = "bob",
                                 .sudo_user = "carol",
                                 .note = "paid, \"checked\"",
                                 .requery = true,
                                 .now_ms = T0};
    enum store_resolve_result rr;
    char why[256];
    assert_int_equal(store_review_resolve(fx->st, &r, &rr, why, sizeof(why)), 0);
    assert_int_equal(rr, STORE_RESOLVED);
    assert_string_equal(q_sql(fx, "SELECT decision || ' ' || by_user || '/' || sudo_user || ' ' || "
                                  "from_state || '>' || to_state || ' ' || reason || ' ' || note "
                                  "FROM payout_decisions WHERE no_order = 'R1'"),
                        "resolve bob/carol flagged>requeried gave up paid, \"checked\"");

    struct seen_decisions seen = {0};
    assert_int_equal(store_decisions_unlogged(fx->st, 1, collect_decision, &seen), 1);
    assert_string_equal(seen.text, "Q1 cancel alice queued>cancelled;");
    seen = (struct seen_decisions){0};
    assert_int_equal(store_decisions_unlogged(fx->st, 4, collect_decision, &seen), 2);
    assert_string_equal(seen.text,
                        "Q1 cancel alice queued>cancelled;R1 resolve bob flagged>requeried;");

    struct store_decisions_logged mark = {
        .ids = seen.ids, .n = 1, .now_iso = "2026-12-01T10:00:01.000Z"};
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_decisions_mark(fx->st, &mark), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(mark.marked, 1);
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_decisions_mark(fx->st, &mark), 0); /* once */
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(mark.marked, 0);
    seen.n = 0;
    seen.text[0] = '\0';
    assert_int_equal(store_decisions_unlogged(fx->st, 4, collect_decision, &seen), 1);
    assert_string_equal(seen.text, "R1 resolve bob flagged>requeried;");

    /* Append-only but for the one mark (Q1 is marked, R1 not yet). */
    assert_refused(fx, "UPDATE payout_decisions SET note = 'x' WHERE no_order = 'R1'",
                   "append-only");
    assert_refused(fx,
                   "UPDATE payout_decisions SET logged_at = '2026-12-01T10:00:02.000Z', "
                   "by_user = 'mallory' WHERE no_order = 'R1'",
                   "append-only");
    assert_refused(fx,
                   "UPDATE payout_decisions SET logged_at = '2026-12-01T10:00:02.000Z' "
                   "WHERE no_order = 'Q1'",
                   "append-only"); /* already logged */
    assert_refused(fx, "UPDATE payout_decisions SET logged_at = NULL WHERE no_order = 'Q1'",
                   "append-only");
    assert_refused(fx, "DELETE FROM payout_decisions", "append-only");
    assert_refused(fx,
                   "INSERT INTO payout_decisions (no_order, decision, "
                   "decided_at, by_user, from_state, to_state, logged_at) "
                   "VALUES ('X', 'cancel', '2026-12-01T10:00:00.000Z', 'a', "
                   "'queued', 'cancelled', '2026-12-01T10:00:00.000Z')",
                   "not inserted logged");
    assert_non_null(raw_try(fx, "INSERT INTO payout_decisions (no_order, decision, decided_at, "
                                "by_user, from_state, to_state) VALUES ('X', 'approve', "
                                "'2026-12-01T10:00:00.000Z', 'a', 'queued', 'cancelled')"));
    assert_null(raw_try(fx, "UPDATE payout_decisions SET logged_at = '2026-12-01T10:00:03.000Z' "
                            "WHERE no_order = 'R1'"));
    assert_string_equal(q_sql(fx, "SELECT count(*) || ' ' || count(logged_at) "
                                  "FROM payout_decisions"),
                        "2 2");
}

/* payouts_for_a_person (sql/0009): review, refused and unknown with "no record:" wait for a
 * person; an unknown payout the daemon is still querying (an unsigned answer, the crash
 * recovery, no reason) does not, nor does a queued or accepted one; review_queue follows. */
static void test_payouts_for_a_person(void **state)
{
    struct fx *fx = *state;

    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name) "
                 "SELECT column1, '1.00', '20261201093000', '6228480223312311474', 'A' FROM "
                 "(VALUES ('Q1'), ('A1'), ('R1'), ('F1'), ('U1'), ('U2'), ('U3'), ('U4'))");
    raw_exec(fx, "UPDATE payouts SET state = 'accepted' WHERE no_order = 'A1'");
    raw_exec(fx, "UPDATE payouts SET state = 'review', ret_code = '4002', confirm_code = '123456', "
                 "confirm_tries = 6, confirm_expires_at = '2026-12-01T10:30:00.000Z' "
                 "WHERE no_order = 'R1'");
    raw_exec(fx, "UPDATE payouts SET state = 'refused', ret_code = '9104' WHERE no_order = 'F1'");
    raw_exec(fx, "UPDATE payouts SET state = 'unknown', reason = 'unsigned answer: no sign' "
                 "WHERE no_order = 'U1'");
    raw_exec(fx, "UPDATE payouts SET state = 'unknown', reason = '" STORE_NO_RECORD_PREFIX
                 " LianLian has no record of it 31 minutes after it was sent' "
                 "WHERE no_order = 'U2'");
    raw_exec(fx, "UPDATE payouts SET state = 'unknown' WHERE no_order = 'U3'");
    raw_exec(fx, "UPDATE payouts SET state = 'unknown', reason = 'the daemon stopped while the "
                 "request was in flight: it is queried, never sent again' "
                 "WHERE no_order = 'U4'");

    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order, ',') FROM "
                                  "(SELECT no_order FROM payouts_for_a_person ORDER BY no_order)"),
                        "F1,R1,U2");
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order || ' ' || payout_state, ',') FROM "
                                  "(SELECT no_order, payout_state FROM review_queue "
                                  "ORDER BY no_order)"),
                        "F1 refused,R1 review,U2 unknown");
    /* The columns a person reads are those sql/0004 gave it. */
    assert_string_equal(q_sql(fx, "SELECT ifnull(seconds_left, '-') || ' ' || confirm_tries "
                                  "FROM payouts_for_a_person WHERE no_order = 'F1'"),
                        "- 0");
}

/* The submit thread's steps (store_submit.c): next, sending (not when cancelled meanwhile), the
 * answer with its attempts row and next query, recovery at start-up, review expiry. */
static void test_submit_steps(void **state)
{
    struct fx *fx = *state;
    struct store_submit_payout p;
    struct store_submit_step st = {.now_iso = "2026-12-01T10:00:00.000Z"};

    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name, "
                 "queued_at) VALUES "
                 "('S1', '49.65', '20261201093000', '6228480223312311474', 'A', "
                 "'2026-12-01T09:00:00.000Z'), "
                 "('S2', '1.00', '20261201093000', '6228480223312311474', 'B', "
                 "'2026-12-01T09:00:01.000Z')");
    assert_int_equal(store_submit_next(fx->st, &p), 1);
    assert_string_equal(p.req.no_order, "S1");
    assert_string_equal(p.req.money_order, "49.65");
    assert_string_equal(p.req.acct_name, "A");
    assert_string_equal(p.req.flag_card, "0");
    assert_null(p.req.memo);
    store_submit_payout_finish(&p);

    /* Cancelled between the read and the write-ahead step: nothing changes, nothing is sent. */
    raw_exec(fx, "UPDATE payouts SET state = 'cancelled' WHERE no_order = 'S2'");
    st.no_order = "S2";
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_submit_sending(fx->st, &st), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(st.changed, 0);
    assert_string_equal(q_sql(fx, "SELECT state FROM payouts WHERE no_order = 'S2'"), "cancelled");

    st.no_order = "S1";
    st.call = "apply";
    st.request = "{\"card_no\":\"622848******1474\"}";
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_submit_sending(fx->st, &st), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(st.changed, 1);
    assert_string_equal(q_sql(fx, "SELECT o.state || ' ' || p.payout_held || ' ' || o.attempts "
                                  "FROM payouts AS o JOIN payments AS p USING (no_order) "
                                  "WHERE no_order = 'S1'"),
                        "sending 0 1");
    /* The request is in the journal before it leaves: a kill now leaves it there, unanswered. */
    assert_string_equal(q_sql(fx, "SELECT group_concat(call || ' ' || class || ' ' || signed || "
                                  "' ' || ifnull(answer, '-') || ' ' || sent_at || ' ' || "
                                  "ifnull(answered_at, '-')) FROM payout_attempts"),
                        "apply unknown 0 - 2026-12-01T10:00:00.000Z -");
    assert_int_equal(store_submit_next(fx->st, &p), 0); /* nothing queued any more */

    struct store_submit_step a = {.no_order = "S1",
                                  .now_iso = "2026-12-01T10:00:01.000Z",
                                  .call = "apply",
                                  .state = "accepted",
                                  .ret_code = "0000",
                                  .ret_msg = "ok",
                                  .oid_paybill = "2026120100000001",
                                  .signed_ok = 1,
                                  .sent_at = "2026-12-01T10:00:00.000Z",
                                  .answered_at = "2026-12-01T10:00:01.000Z",
                                  .answer = "{\"ret_code\":\"0000\"}x",
                                  .answer_len = 19,
                                  .request = "{\"card_no\":\"622848******1474\"}",
                                  .next_query_at = "2026-12-01T10:36:00.000Z"};
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_submit_answer(fx->st, &a), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(a.changed, 1);
    assert_string_equal(q_sql(fx, "SELECT state || ' ' || ret_code || ' ' || oid_paybill || ' ' "
                                  "|| attempts || ' ' || answered_at FROM payouts "
                                  "WHERE no_order = 'S1'"),
                        "accepted 0000 2026120100000001 1 2026-12-01T10:00:01.000Z");
    assert_string_equal(q_sql(fx, "SELECT group_concat(call || ' ' || class || ' ' || ret_code "
                                  "|| ' ' || signed || ' ' || answer || ' ' || request) "
                                  "FROM payout_attempts"),
                        "apply accepted 0000 1 {\"ret_code\":\"0000\"} "
                        "{\"card_no\":\"622848******1474\"}");
    /* ... on the row written before it left: one row. */
    assert_string_equal(q_sql(fx, "SELECT count(*) || ' ' || max(answered_at) FROM "
                                  "payout_attempts"),
                        "1 2026-12-01T10:00:01.000Z");
    assert_string_equal(q_sql(fx, "SELECT next_query_at FROM payments WHERE no_order = 'S1'"),
                        "2026-12-01T10:36:00.000Z");
    /* A second answer for a payout no longer in flight is not recorded. */
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_submit_answer(fx->st, &a), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(a.changed, 0);
    assert_string_equal(q_sql(fx, "SELECT count(*) FROM payout_attempts"), "1");

    /* Start-up: in flight becomes unknown, scheduled for a query. */
    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name) "
                 "VALUES ('S3', '2.00', '20261201093000', '6228480223312311474', 'C')");
    raw_exec(fx, "UPDATE payouts SET state = 'sending' WHERE no_order = 'S3'");
    struct store_submit_step r = {.now_iso = "2026-12-01T11:00:00.000Z",
                                  .reason = "in flight",
                                  .next_query_at = "2026-12-01T11:01:00.000Z"};
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_submit_recover(fx->st, &r), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(r.changed, 1);
    assert_string_equal(q_sql(fx, "SELECT o.state || ' ' || o.reason || ' ' || p.next_query_at "
                                  "|| ' ' || p.payout_held FROM payouts AS o JOIN payments AS p "
                                  "USING (no_order) WHERE no_order = 'S3'"),
                        "unknown in flight 2026-12-01T11:01:00.000Z 0");
    assert_int_equal(r.n_changes, 1); /* for its log line */
    assert_string_equal(r.changes[0].no_order, "S3");
    assert_string_equal(r.changes[0].from, "sending");
    assert_string_equal(r.changes[0].to, "unknown");
    assert_string_equal(r.changes[0].reason, "in flight");
    store_submit_step_finish(&r);

    /* Review expiry: only a lapsed code closes. */
    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name) "
                 "VALUES ('R1', '2.00', '20261201093000', '6228480223312311474', 'D'), "
                 "('R2', '2.00', '20261201093000', '6228480223312311474', 'E')");
    raw_exec(fx, "UPDATE payouts SET state = 'review', confirm_expires_at = "
                 "CASE no_order WHEN 'R1' THEN '2026-12-01T11:59:59.999Z' "
                 "ELSE '2026-12-01T12:00:00.001Z' END WHERE no_order GLOB 'R*'");
    struct store_submit_step e = {.now_iso = "2026-12-01T12:00:00.000Z", .reason = "lapsed"};
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_submit_expire(fx->st, &e), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(e.changed, 1);
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order || ' ' || state || ' ' || "
                                  "ifnull(reason, '-'), ', ') FROM payouts WHERE no_order GLOB "
                                  "'R*'"),
                        "R1 closed lapsed, R2 review -");
    assert_int_equal(e.n_changes, 1);
    assert_string_equal(e.changes[0].no_order, "R1");
    assert_string_equal(e.changes[0].from, "review");
    assert_string_equal(e.changes[0].to, "closed");
    store_submit_step_finish(&e);
}

/* An answer is always recorded (store_submit_answer): a NUL in the body is kept as "\0", and an
 * answer a CHECK refuses anyway is recorded without its body, the reason saying why, so that the
 * payout leaves "sending" and the submit thread goes on. */
static void test_submit_answer_always_recorded(void **state)
{
    struct fx *fx = *state;

    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name) VALUES "
                 "('Z1', '1.00', '20261201093000', '6228480223312311474', 'A'), "
                 "('Z2', '1.00', '20261201093000', '6228480223312311474', 'B')");
    /* As store_submit_sending leaves them (it counts the attempt as the request leaves). */
    raw_exec(fx, "UPDATE payouts SET state = 'sending', attempts = 1 WHERE no_order GLOB 'Z*'");
    /* What sql/0004 does to a NUL, done to another text, to reach the fallback. */
    raw_exec(fx, "CREATE TRIGGER test_poison BEFORE INSERT ON payout_attempts "
                 "WHEN instr(NEW.answer, 'poison') > 0 BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
    struct store_submit_step a = {.no_order = "Z1",
                                  .now_iso = "2026-12-01T10:00:01.000Z",
                                  .call = "apply",
                                  .state = "unknown",
                                  .reason = "unsigned answer: not usable",
                                  .sent_at = "2026-12-01T10:00:00.000Z",
                                  .answered_at = "2026-12-01T10:00:01.000Z",
                                  .answer = "o\0k\0",
                                  .answer_len = 4,
                                  .request = "{}"};
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_submit_answer(fx->st, &a), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(a.changed, 1);
    assert_string_equal(q_sql(fx, "SELECT answer FROM payout_attempts WHERE no_order = 'Z1'"),
                        "o\\0k\\0");

    a.no_order = "Z2";
    a.answer = "a poison answer";
    a.answer_len = strlen(a.answer);
    a.ret_msg = "poison too";
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_submit_answer(fx->st, &a), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(a.changed, 1);
    assert_string_equal(q_sql(fx, "SELECT o.state || ' ' || o.attempts || ' ' || "
                                  "ifnull(o.ret_msg, '-') || ' ' || ifnull(t.answer, '-') || ' ' "
                                  "|| count(*) || ' ' || o.reason FROM payouts AS o JOIN "
                                  "payout_attempts AS t USING (no_order) WHERE no_order = 'Z2'"),
                        "unknown 1 - - 1 unsigned answer: not usable; the answer could not be "
                        "stored (poisoned): kept without it");
}

/* A payout refused on day 1 and resubmitted on day 8 (design.md: chased from sent_at): sending
 * it restarts the chase from sent_at with the backoff from its start, and clears the give-up
 * flag of its earlier chase with an audit row; a flag of another kind stays. */
static void test_sending_restarts_the_chase(void **state)
{
    struct fx *fx = *state;
    struct store_due due[4];

    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name, "
                 "queued_at) VALUES "
                 "('Y1', '1.00', '20261201093000', '6228480223312311474', 'A', "
                 "'2026-12-01T09:00:00.000Z'), "
                 "('Y2', '1.00', '20261201093000', '6228480223312311474', 'B', "
                 "'2026-12-01T09:00:00.000Z')");
    raw_exec(fx, "UPDATE payments SET query_count = 9, needs_review = 1, review_reason = "
                 "CASE no_order WHEN 'Y1' THEN 'no final result 7d 0h after registration; last "
                 "query answer: 8901' ELSE 'amount differs' END WHERE no_order GLOB 'Y*'");
    struct store_submit_step st = {.now_iso = "2026-12-08T10:00:00.000Z"};
    for (int i = 1; i <= 2; i++) {
        st.no_order = i == 1 ? "Y1" : "Y2";
        assert_int_equal(store_begin(fx->st), 0);
        assert_int_equal(store_submit_sending(fx->st, &st), 0);
        assert_int_equal(store_commit(fx->st), 0);
        assert_int_equal(st.changed, 1);
    }
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order || ' ' || chase_from || ' ' || "
                                  "query_count || ' ' || needs_review || ' ' || "
                                  "ifnull(review_reason, '-'), ', ') FROM payments "
                                  "WHERE no_order GLOB 'Y*' ORDER BY no_order"),
                        "Y1 2026-12-08T10:00:00.000Z 0 0 -, "
                        "Y2 2026-12-08T10:00:00.000Z 0 1 amount differs");
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order || ' ' || resolved_at || ' ' || "
                                  "resolved_by || ' ' || review_reason || ' ' || note || ' ' || "
                                  "requery, ', ') FROM review_resolutions"),
                        "Y1 2026-12-08T10:00:00.000Z lianpay-notifyd no final result 7d 0h after "
                        "registration; last query answer: 8901 resubmitted payout sent again 1");

    /* Its unknown answer schedules the first query: due, its chase begun at sent_at. */
    struct store_submit_step a = {.no_order = "Y1",
                                  .now_iso = "2026-12-08T10:00:01.000Z",
                                  .call = "apply",
                                  .state = "unknown",
                                  .sent_at = "2026-12-08T10:00:00.000Z",
                                  .answered_at = "2026-12-08T10:00:01.000Z",
                                  .request = "{}",
                                  .next_query_at = "2026-12-08T10:01:00.000Z"};
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_submit_answer(fx->st, &a), 0);
    assert_int_equal(store_commit(fx->st), 0);
    int64_t now;
    assert_int_equal(time_parse_iso("2026-12-08T10:02:00.000Z", &now), 0);
    assert_int_equal(store_due(fx->st, now, due, 4), 1);
    assert_string_equal(due[0].no_order, "Y1");
    assert_string_equal(due[0].registered_at, "2026-12-08T10:00:00.000Z");
    assert_int_equal(due[0].query_count, 0);
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

/* Issue 11, item 3: bodies that differ only where nothing is signed are one message. */
static void test_variant_body_is_a_redelivery(void **state)
{
    struct fx *fx = *state;
    struct payresult r;
    static const char *const signed_text = "money_order=49.65&no_order=N2&result_pay=SUCCESS";

    result_init(&r, "N2", "49.65", 4965, RESULT_SUCCESS);
    apply_signed(fx, &r, PAYRESULT_NOTIFY, "{\"a\":1}", signed_text, T0);
    struct store_applied a =
        apply_signed(fx, &r, PAYRESULT_NOTIFY, "{\"a\": 1, \"x\": null}", signed_text, T0 + MIN);
    assert_int_equal(a.outcome, OUTCOME_DUPLICATE);
    assert_int_equal(a.redelivery, 1);
    assert_int_equal(events(fx, "N2"), 1);
    assert_string_equal(q_text(fx,
                               "SELECT seen_count || ' ' || body || ' ' || received_at FROM "
                               "payment_events WHERE no_order = '%s'",
                               "N2"),
                        "2 {\"a\":1} 2026-11-22T08:30:00.000Z");
    /* Other signed content (LianLian signed something else) is another message. */
    a = apply_signed(fx, &r, PAYRESULT_NOTIFY, "{\"a\":1}", "other", T0 + 2 * MIN);
    assert_int_equal(a.redelivery, 0);
    assert_int_equal(events(fx, "N2"), 2);
    /* The same signed content from a query answer is another message. */
    a = apply_signed(fx, &r, PAYRESULT_QUERY, "{\"a\":1}", signed_text, T0 + 3 * MIN);
    assert_int_equal(a.redelivery, 0);
    assert_int_equal(events(fx, "N2"), 3);
    assert_string_equal(col(fx, "N2", "notify_count"), "3");
    assert_string_equal(col(fx, "N2", "query_count"), "1");
    assert_string_equal(q_text(fx,
                               "SELECT group_concat(outcome, ',') FROM (SELECT outcome FROM "
                               "payment_events WHERE no_order = '%s' ORDER BY id)",
                               "N2"),
                        "applied,duplicate,duplicate");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payment_events WHERE typeof(signed_sha256) "
                               "= 'blob' AND length(signed_sha256) = 32"),
                     3);
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
    snprintf(r.memo, sizeof(r.memo), "户名不符");
    a = apply_at(fx, &r, PAYRESULT_QUERY, NULL, T0 + 60 * MIN);
    assert_int_equal(a.outcome, OUTCOME_APPLIED);
    assert_int_equal(a.previous, RESULT_PROCESSING);
    assert_string_equal(col(fx, "Q2", "result_pay"), "FAILURE");
    assert_string_equal(col(fx, "Q2", "info_order"), "payout_account closed");
    assert_string_equal(col(fx, "Q2", "memo"), "户名不符"); /* sql/0008 */
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
    set_signed(&r, "{}");
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

    /* A result without its digest is refused rather than taken for every other one. */
    memset(r.signed_sha256, 0, sizeof(r.signed_sha256));
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_apply(fx->st, &in, &out), -1);
    assert_non_null(strstr(store_errmsg(fx->st), "incomplete"));
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
        /* issue 11, item 6: the digits alone are not a dt_order */
        {"A1", "1.00", "20261322083000"},
        {"A1", "1.00", "20261122993000"},
        {"A1", "1.00", "20261100083000"},
        {"A1", "1.00", "20261122086000"},
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

/* ---- sql/0003: exact values ---------------------------------------------------------------- */

/* A valid payments row and journal row with every column set, for the copies below. */
static void insert_full_rows(struct fx *fx)
{
    raw_exec(fx, "INSERT INTO payments (no_order, oid_partner, money_order, amount_fen, dt_order, "
                 "oid_paybill, result_pay, settle_date, info_order, source, registered_at, "
                 "first_notified_at, updated_at, final_at, notify_count, query_count, "
                 "next_query_at, needs_review, review_reason, chase_from, memo) VALUES ('FULL', "
                 "'201103171000000000', '49.65', 4965, '20261122083000', '2026112200012345', "
                 "'SUCCESS', '20261122', 'info', 'notify', '2026-11-22T08:30:00.000Z', "
                 "'2026-11-22T08:31:00.000Z', '2026-11-22T08:32:00.000Z', "
                 "'2026-11-22T08:33:00.000Z', 1, 1, '2026-11-22T08:34:00.000Z', 1, 'why', "
                 "'2026-11-22T08:35:00.000Z', 'memo')");
    raw_exec(fx, "INSERT INTO payment_events (no_order, source, result_pay, money_order, "
                 "oid_paybill, settle_date, info_order, outcome, body, received_at, remote_addr, "
                 "seen_count, signed_sha256) VALUES ('FULL', 'notify', 'SUCCESS', '49.65', "
                 "'2026112200012345', '20261122', 'info', 'applied', '{}', "
                 "'2026-11-22T08:31:00.000Z', '115.236.102.36', 1, zeroblob(32))");
}

/*
 * Copies the first row of table with column replaced by expr (payments: as order COPY unless
 * the column is no_order). Returns the SQL error, or NULL when the copy was accepted (a payments
 * copy is deleted again).
 */
static const char *try_copy(struct fx *fx, const char *table, const char *column, const char *expr)
{
    char sql[4096], cols[1024] = "", vals[2048] = "";
    sqlite3_stmt *s = NULL;
    size_t nc = 0, nv = 0;
    int payments = strcmp(table, "payments") == 0;

    snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
    assert_int_equal(sqlite3_prepare_v2(fx->raw, sql, -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 1);
        const char *v = name;
        if (strcmp(name, "id") == 0)
            continue;
        if (strcmp(name, column) == 0)
            v = expr;
        else if (payments && strcmp(name, "no_order") == 0)
            v = "'COPY'";
        nc += (size_t)snprintf(cols + nc, sizeof(cols) - nc, "%s%s", nc ? ", " : "", name);
        nv += (size_t)snprintf(vals + nv, sizeof(vals) - nv, "%s%s", nv ? ", " : "", v);
    }
    sqlite3_finalize(s);
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s (%s) SELECT %s FROM %s WHERE rowid = "
             "(SELECT min(rowid) FROM %s)",
             table, cols, vals, table, table);
    const char *err = raw_try(fx, sql);
    if (err == NULL && payments)
        raw_exec(fx, "DELETE FROM payments WHERE no_order <> 'FULL'");
    return err;
}

/* The names of table's columns declared TEXT, into names (at most max); returns how many. */
static int text_columns(struct fx *fx, const char *table, char names[][32], int max)
{
    char sql[64];
    sqlite3_stmt *s = NULL;
    int n = 0;

    snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
    assert_int_equal(sqlite3_prepare_v2(fx->raw, sql, -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW && n < max) {
        if (strcmp((const char *)sqlite3_column_text(s, 2), "TEXT") == 0)
            snprintf(names[n++], 32, "%s", (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    return n;
}

/* Issue 11, item 4: a NUL (length() and GLOB stop there) or a BLOB in any TEXT column. */
static void test_text_columns_refuse_nul_and_blob(void **state)
{
    struct fx *fx = *state;
    static const char *const tables[] = {"payments", "payment_events"};
    char names[32][32], expr[1100];

    insert_full_rows(fx);
    for (size_t t = 0; t < 2; t++) {
        int n = text_columns(fx, tables[t], names, 32);
        assert_true(n >= (t == 0 ? 15 : 11));
        for (int i = 0; i < n; i++) {
            int key = t == 0 && strcmp(names[i], "no_order") == 0;
            if (try_copy(fx, tables[t], names[i], key ? "'COPY'" : names[i]) != NULL)
                fail_msg("%s: the plain copy was refused: %s", tables[t], fx->text);
            for (int b = 0; b < 2; b++) {
                if (b == 0)
                    snprintf(expr, sizeof(expr), "%s || char(0) || 'x'", names[i]);
                else
                    snprintf(expr, sizeof(expr), "CAST(%s AS BLOB)", names[i]);
                const char *err = try_copy(fx, tables[t], names[i], expr);
                if (err == NULL || strstr(err, "CHECK constraint failed") == NULL)
                    fail_msg("%s.%s = %s: %s", tables[t], names[i], expr, err ? err : "accepted");
            }
        }
    }
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payments"), 1);
}

/* Issue 11, item 5: timestamps that match the old GLOB but are no instant. */
static void test_timestamps_are_instants(void **state)
{
    struct fx *fx = *state;
    static const char *const columns[][2] = {
        {"payments", "registered_at"}, {"payments", "first_notified_at"},
        {"payments", "updated_at"},    {"payments", "final_at"},
        {"payments", "next_query_at"}, {"payment_events", "received_at"},
    };
    static const char *const bad[] = {
        "'2026-00-22T08:30:00.000Z'",
        "'2026-11-00T08:30:00.000Z'",
        "'2026-11-22T24:00:00.000Z'",
        "'2026-02-31T08:30:00.000Z'",
        "'2026-11-22T08:30:60.000Z'",
        "'2026-11-22T08:30:00.000'",
        "'2026-11-22 08:30:00.000Z'",
        "'2026-11-22T08:30:00.1234Z'",
        "'2026-11-22T08:30:00Z'",
        "'2025-02-29T00:00:00.000Z'",
        "2461000.5",
    };
    static const char *const good[] = {"'2024-02-29T23:59:59.999Z'", "'2026-11-22T00:00:00.000Z'",
                                       "'1970-01-01T00:00:00.000Z'"};

    insert_full_rows(fx);
    for (size_t c = 0; c < sizeof(columns) / sizeof(columns[0]); c++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            const char *err = try_copy(fx, columns[c][0], columns[c][1], bad[i]);
            if (err == NULL || strstr(err, "CHECK constraint failed") == NULL)
                fail_msg("%s = %s: %s", columns[c][1], bad[i], err ? err : "accepted");
        }
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            if (try_copy(fx, columns[c][0], columns[c][1], good[i]) != NULL)
                fail_msg("%s = %s refused: %s", columns[c][1], good[i], fx->text);
        }
    }
}

/* Issue 11, item 7: counters stay integers within their range; the daemon stops at the top. */
static void test_counters_bounded(void **state)
{
    struct fx *fx = *state;
    static const char *const bad[] = {"2147483648", "9223372036854775807", "-1", "1.5", "'x'",
                                      "x'01'"};
    struct store_due due[2];

    reg(fx, "C1", "1.00", "20261122083000", T0);
    insert_full_rows(fx);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static const char *const counters[][2] = {{"payments", "notify_count"},
                                                  {"payments", "query_count"},
                                                  {"payment_events", "seen_count"}};
        for (size_t c = 0; c < 3; c++) {
            const char *err = try_copy(fx, counters[c][0], counters[c][1], bad[i]);
            if (err == NULL || strstr(err, "CHECK constraint failed") == NULL)
                fail_msg("%s = %s: %s", counters[c][1], bad[i], err ? err : "accepted");
        }
    }
    raw_exec(fx, "UPDATE payments SET query_count = 2147483647, notify_count = 2147483647 "
                 "WHERE no_order = 'C1'");
    assert_int_equal(store_due(fx->st, T0 + 40 * MIN, due, 2), 1);
    assert_int_equal(due[0].query_count, STORE_COUNT_MAX);
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_reschedule(fx->st, "C1", T0 + 50 * MIN), 0);
    assert_int_equal(store_commit(fx->st), 0);
    assert_string_equal(col(fx, "C1", "query_count || typeof(query_count)"), "2147483647integer");
    assert_string_equal(col(fx, "C1", "next_query_at"), "2026-11-22T09:20:00.000Z");
    notify(fx, "C1", "1.00", 100, RESULT_SUCCESS, T0 + MIN);
    notify(fx, "C1", "1.00", 100, RESULT_SUCCESS, T0 + 2 * MIN);
    assert_string_equal(col(fx, "C1", "notify_count || typeof(notify_count)"), "2147483647integer");
    raw_exec(fx, "UPDATE payment_events SET seen_count = 2147483647 WHERE no_order = 'C1'");
    struct store_applied a = notify(fx, "C1", "1.00", 100, RESULT_SUCCESS, T0 + 3 * MIN);
    assert_int_equal(a.redelivery, 1);
    assert_string_equal(q_text(fx,
                               "SELECT seen_count || typeof(seen_count) FROM payment_events "
                               "WHERE no_order = '%s'",
                               "C1"),
                        "2147483647integer");
}

/* 1 when plain SQL accepts value (bound as text) in sql's ?1. */
static int sql_accepts(struct fx *fx, const char *sql, const char *value)
{
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_prepare_v2(fx->raw, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(s, 1, value, -1, SQLITE_TRANSIENT), SQLITE_OK);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && strstr(sqlite3_errmsg(fx->raw), "CHECK") == NULL)
        fail_msg("%s with %s: %s", sql, value, sqlite3_errmsg(fx->raw));
    sqlite3_finalize(s);
    raw_exec(fx, "DELETE FROM payments");
    return rc == SQLITE_DONE;
}

/* Issue 11, item 6: one definition of each format. The schema's CHECKs and payresult's C
 * functions are two texts of it: they must accept exactly the same values. */
static void test_formats_agree_with_c(void **state)
{
    struct fx *fx = *state;
    static const char *const no_orders[] = {
        "A1",
        "a",
        "~!#$%'()*+,-./:;<>?@[\\]^_`{|}",
        "12345678901234567890123456789012",
        "123456789012345678901234567890123",
        "",
        "A B",
        "A&B",
        "A=B",
        "A\"B",
        "A\tB",
        "订单",
        "A\x7f",
        "x'41'",
    };
    static const char *const dt_orders[] = {
        "20261122083000",  "20240229235959", "00000101000000", "99991231235959",
        "20261301000000",  "20260001000000", "20261100000000", "20261132000000",
        "20261122240000",  "20261122236000", "20261122235960", "2026112208300",
        "202611220830000", "2026112208300x", " 0261122083000", "20260231000000",
    };
    static const char *const monies[] = {
        "49.65", "0.01", "100", "100.5", "999999999999.99", "0",   "0.00", "01", "1.", ".5",
        "1.001", "-1",   "1e3", "1,00",  "1000000000000",   "4 9", ""};
    int64_t fen = 0;

    for (size_t i = 0; i < sizeof(no_orders) / sizeof(no_orders[0]); i++) {
        if (payresult_valid_no_order(no_orders[i]) !=
            sql_accepts(fx, "INSERT INTO payments(no_order, money_order) VALUES (?1, '1')",
                        no_orders[i]))
            fail_msg("no_order '%s': C and SQL disagree", no_orders[i]);
    }
    for (size_t i = 0; i < sizeof(dt_orders) / sizeof(dt_orders[0]); i++) {
        if (payresult_valid_dt_order(dt_orders[i]) !=
            sql_accepts(fx,
                        "INSERT INTO payments(no_order, money_order, dt_order) "
                        "VALUES ('D', '1', ?1)",
                        dt_orders[i]))
            fail_msg("dt_order '%s': C and SQL disagree", dt_orders[i]);
    }
    for (size_t i = 0; i < sizeof(monies) / sizeof(monies[0]); i++) {
        if ((payresult_money_fen(monies[i], &fen) == 0) !=
            sql_accepts(fx, "INSERT INTO payments(no_order, money_order) VALUES ('M', ?1)",
                        monies[i]))
            fail_msg("money_order '%s': C and SQL disagree", monies[i]);
    }
}

/* Rows written past the CHECKs, as a tool with PRAGMA ignore_check_constraints could. */
static void raw_exec_unchecked(struct fx *fx, const char *sql)
{
    raw_exec(fx, "PRAGMA ignore_check_constraints = ON");
    raw_exec(fx, sql);
    raw_exec(fx, "PRAGMA ignore_check_constraints = OFF");
}

/* Every column of every payments row, in rowid order: what a migration must keep. */
#define ALL_PAYMENTS                                                                               \
    "SELECT group_concat(quote(rowid) || quote(no_order) || quote(oid_partner) || "                \
    "quote(money_order) || quote(amount_fen) || quote(dt_order) || quote(oid_paybill) || "         \
    "quote(result_pay) || quote(settle_date) || quote(info_order) || quote(source) || "            \
    "quote(registered_at) || quote(first_notified_at) || quote(updated_at) || quote(final_at) "    \
    "|| quote(notify_count) || quote(query_count) || quote(next_query_at) || "                     \
    "quote(needs_review) || quote(review_reason) || quote(payout_held) || quote(chase_from) || "   \
    "quote(memo), '|') FROM (SELECT * FROM payments ORDER BY rowid)"

/* sql/0011 on a database at version 10 with rows, one of them written past the CHECKs: every row
 * stays as it was, the digits CHECKs have no GLOB any more and still refuse what they did. */
static void test_migration_0011(void **state)
{
    struct fx *fx = *state;
    char err[1024], before[sizeof(fx->text)];

    database_at_version(fx, 10);
    raw_exec(fx, "INSERT INTO payments(no_order, oid_partner, money_order, dt_order, "
                 "registered_at) VALUES ('P1', '201103171000000000', '49.65', '20261122083000', "
                 "'2026-11-22T08:30:00.000Z'), ('P2', NULL, '1.00', NULL, "
                 "'2026-11-22T08:31:00.000Z')");
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, result_pay, source, oid_paybill, "
                 "settle_date, info_order, final_at) VALUES ('F1', '2', 'SUCCESS', 'notify', "
                 "'2026112200000001', '20261122', 'i', '2026-11-22T08:32:00.000Z')");
    raw_exec(fx, "INSERT INTO payment_events(no_order, source, result_pay, money_order, outcome, "
                 "body, received_at) VALUES ('F1', 'notify', 'SUCCESS', '2', 'applied', '{}', "
                 "'2026-11-22T08:32:00.000Z')");
    raw_exec_unchecked(fx, "INSERT INTO payments(no_order, money_order, oid_paybill, "
                           "settle_date) VALUES ('B=1', '1', '12a', '2026-11')");
    snprintf(before, sizeof(before), "%s", q_sql(fx, ALL_PAYMENTS));
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payments"), 4);

    fx->st = store_open(fx->path, STORE_WRITE, err, sizeof(err));
    if (fx->st == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(q_int(fx, "PRAGMA user_version"), store_schema_version());
    assert_string_equal(q_sql(fx, ALL_PAYMENTS), before);
    assert_int_equal(events(fx, "F1"), 1);
    assert_string_equal(q_sql(fx, "PRAGMA foreign_key_check"), "NOROW");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM sqlite_schema WHERE name = 'payments' AND "
                               "(sql LIKE '%[^0-9]*%' OR sql LIKE '%[&=%' OR sql NOT LIKE "
                               "'%ltrim(settle_date, ''0123456789'') = ''''%')"),
                     0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM sqlite_schema WHERE name IN ('payments', "
                               "'payment_events') AND instr(sql, 'printf(''%s'', no_order ||') > "
                               "0 AND instr(sql, 'instr(no_order ||') = 0"),
                     2);
    assert_non_null(raw_try(fx, "INSERT INTO payment_events(no_order, source, result_pay, "
                                "money_order, outcome, body, received_at) VALUES ('F1', "
                                "'notify', 'SUCCESS', '2', 'applied', '{' || char(0) || '}', "
                                "'2026-11-22T08:33:00.000Z')"));
    assert_non_null(strstr(fx->text, "payment_events_text_without_nul"));
    assert_non_null(raw_try(fx, "UPDATE payments SET settle_date = '2026112a' "
                                "WHERE no_order = 'F1'"));
    assert_non_null(strstr(fx->text, "settle_date_format"));
    assert_non_null(raw_try(fx, "INSERT INTO payments(no_order, money_order) VALUES ('A&B', '1')"));
    assert_non_null(strstr(fx->text, "no_order_format"));
    assert_int_equal(reg(fx, "N1", "5", "20261122083000", T0), STORE_REGISTERED);
    assert_int_equal(notify(fx, "P1", "49.65", 4965, RESULT_SUCCESS, T0 + MIN).outcome,
                     OUTCOME_APPLIED);
}

/* A journal row: no_order, money_order, then the given columns, with their values. */
#define EVENT_SQL(columns, values)                                                                 \
    "INSERT INTO payment_events(source, result_pay, outcome, received_at, no_order, "              \
    "money_order, " columns                                                                        \
    ") VALUES ('notify', 'SUCCESS', 'applied', '2026-11-22T08:32:00.000Z', " values ")"

/* One value for a column, as bytes (a NUL may be among them). */
struct bytes {
    const char *s;
    size_t n;
};
#define BYTES(lit)                                                                                 \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

/* What each schema makes of the values offered to one column. */
struct same_rows {
    sqlite3 *db[2];           /* the payments table as sql/0010 left it, and as it is now */
    const char *column, *sql; /* sql has the value in ?1 */
    int accepted, refused;
};

/* 1 when db takes the row with v (as text, or as a BLOB) in ?1, 0 when a CHECK refuses it; the
 * row is not kept. */
static int row_taken(sqlite3 *db, const char *sql, const char *v, size_t n, int blob)
{
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(blob ? sqlite3_bind_blob(s, 1, v, (int)n, SQLITE_TRANSIENT)
                          : sqlite3_bind_text(s, 1, v, (int)n, SQLITE_TRANSIENT),
                     SQLITE_OK);
    testdb_exec(db, "SAVEPOINT value");
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && strstr(sqlite3_errmsg(db), "CHECK constraint failed") == NULL)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    testdb_exec(db, "ROLLBACK TO value"); /* payment_events refuses a DELETE */
    testdb_exec(db, "RELEASE value");
    return rc == SQLITE_DONE;
}

static void same_row(struct same_rows *t, const char *v, size_t n)
{
    for (int blob = 0; blob <= 1; blob++) {
        int old = row_taken(t->db[0], t->sql, v, n, blob);
        if (row_taken(t->db[1], t->sql, v, n, blob) != old) {
            char hex[200] = "";
            for (size_t i = 0; i < n && i < 64; i++)
                snprintf(hex + 3 * i, sizeof(hex) - 3 * i, " %02x", (unsigned char)v[i]);
            fail_msg("%s =%s (%s, %zu bytes): refused by %s schema only", t->column, hex,
                     blob ? "BLOB" : "text", n, old ? "the new" : "the old");
        }
        *(old ? &t->accepted : &t->refused) += 1;
    }
}

/* base, and base broken in one place by each of odd: in place of its first, middle and last
 * character, before it, in its middle and after it; then runs of `fill` of every length up to
 * 40, the empty one included. */
static void same_rows_around(struct same_rows *t, const char *base, const struct bytes *odd,
                             size_t nodd, char fill)
{
    size_t len = strlen(base);
    char v[64];

    assert_true(len >= 1 && len + 8 < sizeof(v));
    same_row(t, base, len);
    for (size_t i = 0; i < nodd; i++) {
        const size_t at[3] = {0, len / 2, len - 1};
        for (size_t k = 0; k < 3; k++) { /* replaced */
            memcpy(v, base, len);
            memcpy(v + at[k], odd[i].s, odd[i].n);
            memcpy(v + at[k] + odd[i].n, base + at[k] + 1, len - at[k] - 1);
            same_row(t, v, len - 1 + odd[i].n);
        }
        const size_t ins[3] = {0, len / 2, len};
        for (size_t k = 0; k < 3; k++) { /* inserted */
            memcpy(v, base, ins[k]);
            memcpy(v + ins[k], odd[i].s, odd[i].n);
            memcpy(v + ins[k] + odd[i].n, base + ins[k], len - ins[k]);
            same_row(t, v, len + odd[i].n);
        }
    }
    for (size_t n = 0; n <= 40; n++) {
        memset(v, fill, n);
        same_row(t, v, n);
    }
}

/* sql/0011 rewrote CHECKs of payments and payment_events: the tables as sql/0010 left them and
 * as they are now take exactly the same rows, for values good and bad in every column the
 * change touched (its digit and no_order CHECKs, and the NUL byte CHECKs over the text
 * columns). */
static void test_migration_0011_same_rows(void **state)
{
    struct fx *fx = *state;
    static const struct bytes odd[] = {
        BYTES("a"),
        BYTES("Z"),
        BYTES("+"),
        BYTES("-"),
        BYTES(" "),
        BYTES("."),
        BYTES("/"),
        BYTES(":"),
        BYTES("&"),
        BYTES("="),
        BYTES("\""),
        BYTES("'"),
        BYTES("*"),
        BYTES("["),
        BYTES("]"),
        BYTES("^"),
        BYTES("\t"),
        BYTES("\n"),
        BYTES("\x7f"),
        BYTES("\x80"),
        BYTES("\xff"),
        BYTES("\0"),
        BYTES("\0"
              "1"),
        BYTES("\xd9\xa3"),     /* ARABIC-INDIC DIGIT THREE */
        BYTES("\xef\xbc\x91"), /* FULLWIDTH DIGIT ONE */
        BYTES("\xc2\xb2"),     /* SUPERSCRIPT TWO */
        BYTES("\xe8\xae\xa2"), /* a CJK character */
        BYTES("00"),
    };
    static const struct {
        const char *column, *sql, *base;
        char fill;
    } columns[] = {
        {"oid_partner",
         "INSERT INTO payments(no_order, money_order, oid_partner) VALUES ('V', '1', ?1)",
         "201103171000000000", '7'},
        {"dt_order", "INSERT INTO payments(no_order, money_order, dt_order) VALUES ('V', '1', ?1)",
         "20261122083000", '1'},
        {"oid_paybill",
         "INSERT INTO payments(no_order, money_order, oid_paybill) VALUES ('V', '1', ?1)",
         "2026112200000001", '9'},
        {"settle_date",
         "INSERT INTO payments(no_order, money_order, settle_date) VALUES ('V', '1', ?1)",
         "20261122", '2'},
        {"no_order", "INSERT INTO payments(no_order, money_order) VALUES (?1, '1')", "A1b2", 'X'},
        {"money_order", "INSERT INTO payments(no_order, money_order) VALUES ('V', ?1)", "49.65",
         '1'},
        {"info_order",
         "INSERT INTO payments(no_order, money_order, info_order) VALUES ('V', '1', ?1)", "代付 A1",
         'x'},
        {"payment_events.no_order", EVENT_SQL("body", "?1, '1', '{}'"), "A1", 'A'},
        {"payment_events.money_order", EVENT_SQL("body", "'V', ?1, '{}'"), "49.65", '1'},
        {"payment_events.body", EVENT_SQL("body", "'V', '1', ?1"), "{\"no_order\":\"A1\"}", ' '},
        {"payment_events.oid_paybill", EVENT_SQL("body, oid_paybill", "'V', '1', '{}', ?1"),
         "2026112200000001", '9'},
        {"payment_events.settle_date", EVENT_SQL("body, settle_date", "'V', '1', '{}', ?1"),
         "20261122", '2'},
        {"payment_events.info_order", EVENT_SQL("body, info_order", "'V', '1', '{}', ?1"),
         "代付 A1", 'x'},
        {"payment_events.remote_addr", EVENT_SQL("body, remote_addr", "'V', '1', '{}', ?1"),
         "127.0.0.1", '1'},
    };
    char path[320];
    sqlite3 *old = NULL;

    snprintf(path, sizeof(path), "%s/old.db", fx->dir);
    assert_int_equal(sqlite3_open(path, &old), SQLITE_OK);
    testdb_exec(old, "PRAGMA journal_mode=MEMORY"); /* no file but old.db for teardown */
    migrate_raw(old, 10);
    testdb_exec(old, "BEGIN");
    raw_exec(fx, "BEGIN");
    for (size_t c = 0; c < sizeof(columns) / sizeof(columns[0]); c++) {
        struct same_rows t = {{old, fx->raw}, columns[c].column, columns[c].sql, 0, 0};
        same_rows_around(&t, columns[c].base, odd, sizeof(odd) / sizeof(odd[0]), columns[c].fill);
        size_t len = strlen(columns[c].base);
        for (int b = 1; b < 256; b++) { /* every byte but NUL (in odd) in place of the middle */
            char v[64];
            memcpy(v, columns[c].base, len);
            v[len / 2] = (char)b;
            same_row(&t, v, len);
        }
        if (t.accepted < 10 || t.refused < 100)
            fail_msg("%s: %d values accepted, %d refused", t.column, t.accepted, t.refused);
    }
    raw_exec(fx, "ROLLBACK");
    testdb_exec(old, "ROLLBACK");
    sqlite3_close(old);
    unlink(path);
}

/* Issue 11, item 4: the reconciler never queries a value it cannot read exactly, and such rows
 * do not keep taking every place in the due batch. */
static void test_unqueryable_due_rows(void **state)
{
    struct fx *fx = *state;
    struct store_due due[STORE_DUE_BATCH];
    char sql[512];

    for (int i = 0; i < 40; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO payments(no_order, money_order, registered_at, next_query_at) "
                 "VALUES ('U' || char(0) || '%d', '1', '2026-11-22T08:00:00.000Z', "
                 "'2026-11-22T08:%02d:00.000Z')",
                 i, i);
        raw_exec_unchecked(fx, sql);
    }
    raw_exec_unchecked(fx, "INSERT INTO payments(no_order, money_order, registered_at, "
                           "next_query_at) VALUES (CAST('B1' AS BLOB), '1', "
                           "'2026-11-22T08:00:00.000Z', '2026-11-22T08:45:00.000Z'), "
                           "('T1', '1', 'yesterday', '2026-11-22T08:46:00.000Z')");
    reg(fx, "GOOD", "1.00", "20261122083000", T0 - 40 * MIN); /* due at 08:26 */
    raw_exec(fx, "UPDATE payments SET next_query_at = '2026-11-22T08:50:00.000Z' "
                 "WHERE no_order = 'GOOD'");

    int64_t now = T0 + 60 * MIN;
    assert_int_equal(store_due(fx->st, now, due, STORE_DUE_BATCH), STORE_DUE_BATCH);
    for (int i = 0; i < STORE_DUE_BATCH; i++) {
        assert_non_null(due[i].unqueryable);
        assert_string_equal(due[i].unqueryable, "no_order holds a NUL byte");
        assert_string_equal(due[i].no_order, "U"); /* only a rendering */
        assert_true(due[i].rowid > 0);
    }
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_flag_unqueryable(fx->st, now, STORE_DUE_BATCH), STORE_DUE_BATCH);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(store_due(fx->st, now, due, STORE_DUE_BATCH), 11);
    assert_string_equal(due[8].unqueryable, "no_order is not text");
    assert_string_equal(due[9].unqueryable, "registered_at is not a timestamp");
    assert_string_equal(due[10].no_order, "GOOD");
    assert_null(due[10].unqueryable);
    assert_int_equal(store_begin(fx->st), 0);
    assert_int_equal(store_flag_unqueryable(fx->st, now, STORE_DUE_BATCH), 10);
    assert_int_equal(store_commit(fx->st), 0);
    assert_int_equal(store_due(fx->st, now, due, STORE_DUE_BATCH), 1);
    assert_string_equal(due[0].no_order, "GOOD");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM review_queue WHERE review_reason = "
                               "'cannot be queried: no_order holds a NUL byte'"),
                     40);
    assert_string_equal(col(fx, "GOOD", "needs_review"), "0");
    assert_string_equal(col(fx, "T1", "review_reason"),
                        "cannot be queried: registered_at is not a timestamp");
}

/* Issue 11, item 5: a row that is no instant cannot stand for the age of the others. */
static void test_pending_ignores_impossible_timestamps(void **state)
{
    struct fx *fx = *state;
    struct store_pending p;

    raw_exec_unchecked(fx, "INSERT INTO payments(no_order, money_order, registered_at) VALUES "
                           "('Z0', '1', '2026-00-01T00:00:00.000Z'), "
                           "('Z1', '1', '0000-00-00T00:00:00.000Z')");
    reg(fx, "OLD", "1.00", "20261122083000", T0 - 120 * MIN);
    reg(fx, "NEW", "1.00", "20261122083000", T0);
    assert_int_equal(store_pending(fx->st, T0, &p), 0);
    assert_int_equal(p.count, 4);
    assert_int_equal(p.oldest_age_s, 7200);
    assert_string_equal(p.oldest_no_order, "OLD");
}

/* The reconciler's backlog: registered, not final, not in review, next_query_at passed. */
static void test_pending_counts_the_due_orders(void **state)
{
    struct fx *fx = *state;
    struct store_pending p;

    reg(fx, "DUE1", "1.00", "20261122083000", T0 - 120 * MIN);
    reg(fx, "DUE2", "1.00", "20261122083000", T0 - 60 * MIN);
    reg(fx, "LATER", "1.00", "20261122083000", T0 - 10 * MIN); /* within the window */
    reg(fx, "REVIEW", "1.00", "20261122083000", T0 - 120 * MIN);
    reg(fx, "FINAL", "1.00", "20261122083000", T0 - 120 * MIN);
    raw_exec(fx, "UPDATE payments SET needs_review = 1 WHERE no_order = 'REVIEW'");
    raw_exec(fx, "UPDATE payments SET result_pay = 'SUCCESS' WHERE no_order = 'FINAL'");
    assert_int_equal(store_pending(fx->st, T0, &p), 0);
    assert_int_equal(p.due, 2);
    assert_int_equal(p.count, 3);
    assert_int_equal(store_pending(fx->st, T0 + 60 * MIN, &p), 0);
    assert_int_equal(p.due, 3);
}

/* The times /metrics starts from: the journal's latest message of each source, and the last
 * good backup, only once lianpayctl backup's table exists. */
static void test_last_event_and_last_backup(void **state)
{
    struct fx *fx = *state;
    int64_t ms = -1;

    assert_int_equal(store_last_event(fx->st, PAYRESULT_NOTIFY, &ms), 0);
    raw_exec(fx, "INSERT INTO payment_events(no_order, source, result_pay, money_order, outcome, "
                 "body, received_at) VALUES "
                 "('E1', 'notify', 'SUCCESS', '1', 'applied', '{}', '2026-11-22T08:30:00.000Z'), "
                 "('E2', 'query', 'SUCCESS', '1', 'applied', '{}', '2026-11-22T08:40:00.000Z'), "
                 "('E3', 'notify', 'FAILURE', '1', 'applied', '{}', '2026-11-22T08:31:00.000Z')");
    assert_int_equal(store_last_event(fx->st, PAYRESULT_NOTIFY, &ms), 1);
    assert_int_equal(ms, T0 + 1 * MIN);
    assert_int_equal(store_last_event(fx->st, PAYRESULT_QUERY, &ms), 1);
    assert_int_equal(ms, T0 + 10 * MIN);
    /* sql/0005 made the table: empty, the time is 0 */
    ms = -1;
    assert_int_equal(store_last_backup(fx->st, &ms), 1);
    assert_int_equal(ms, 0);
    raw_exec(fx, "INSERT INTO backups(started_at, finished_at, path, bytes, ok, error) VALUES "
                 "('2026-11-22T08:29:00.000Z', '2026-11-22T08:30:00.000Z', 'a', 1, 1, NULL), "
                 "('2026-11-22T09:29:00.000Z', '2026-11-22T09:30:00.000Z', 'b', NULL, 0, 'x'), "
                 "('2026-11-22T07:29:00.000Z', '2026-11-22T07:30:00.000Z', 'c', 1, 1, NULL)");
    assert_int_equal(store_last_backup(fx->st, &ms), 1);
    assert_int_equal(ms, T0);
    /* a database without the table (older than sql/0005): no series */
    raw_exec(fx, "DROP TABLE backups");
    ms = -1;
    assert_int_equal(store_last_backup(fx->st, &ms), 0);
    assert_int_equal(ms, 0);
}

/* A database at schema 2 with rows that sql/0003 refuses: the migration names them and changes
 * nothing; once they are corrected it runs, and the old journal rows keep being recognised. */
static void test_migration_0003_refuses_bad_rows(void **state)
{
    struct fx *fx = *state;
    char err[1024] = "";

    database_at_version(fx, 2);
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, dt_order, registered_at) VALUES "
                 "('OK1', '1.00', '20261122083000', '2026-11-22T08:30:00.000Z'), "
                 "('BAD' || char(0) || 'X', '1.00', '20261122083000', "
                 "'2026-11-22T08:30:00.000Z'), "
                 "('BADTS', '1.00', '20261122083000', '2026-00-10T08:30:00.000Z'), "
                 "('BADDT', '1.00', '20261399000000', '2026-11-22T08:30:00.000Z')");
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, query_count) VALUES "
                 "('BIGQ', '1.00', 9223372036854775807)");
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, result_pay, source, final_at) "
                 "VALUES ('F1', '2', 'SUCCESS', 'notify', '2026-11-22T08:32:00.000Z')");
    raw_exec(fx, "INSERT INTO payment_events(no_order, source, result_pay, money_order, outcome, "
                 "body, received_at) VALUES ('F1', 'notify', 'SUCCESS', '2', 'applied', "
                 "'{\"old\":1}', '2026-11-22T08:32:00.000Z'), ('F1', 'notify', 'SUCCESS', '2', "
                 "'duplicate', '{\"old\":2}', '2026-11-22T24:00:00.000Z')");

    assert_null(store_open(fx->path, STORE_WRITE, err, sizeof(err)));
    static const char *const named[] = {
        "migration 0003_exact_values.sql refused: 5 rows break its constraints",
        "CHECK constraint failed: payments_text_without_nul",
        "payments no_order X'4241440058' (rowid 2)",
        "payments no_order 'BADTS' (rowid 3)",
        "payments no_order 'BADDT' (rowid 4)",
        "payments no_order 'BIGQ' (rowid 5)",
        "payment_events id 2 (no_order 'F1')",
    };
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        if (strstr(err, named[i]) == NULL)
            fail_msg("the refusal does not say '%s': %s", named[i], err);
    }
    /* Nothing changed. */
    assert_int_equal(q_int(fx, "PRAGMA user_version"), 2);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payments"), 6);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payment_events"), 2);
    assert_string_equal(q_sql(fx, "PRAGMA integrity_check"), "ok");

    /* A person corrects them. */
    raw_exec(fx, "DELETE FROM payments WHERE no_order NOT GLOB '[A-Z]*[0-9A-Z]' OR "
                 "length(CAST(no_order AS BLOB)) <> length(no_order)");
    raw_exec(fx, "UPDATE payments SET registered_at = '2026-11-10T08:30:00.000Z' "
                 "WHERE no_order = 'BADTS'");
    raw_exec(fx, "UPDATE payments SET dt_order = '20261122083000', query_count = 0 "
                 "WHERE no_order IN ('BADDT', 'BIGQ')");
    raw_exec(fx, "DROP TRIGGER payment_events_no_update");
    raw_exec(fx, "UPDATE payment_events SET received_at = '2026-11-23T00:00:00.000Z' WHERE id = 2");
    fx->st = store_open(fx->path, STORE_WRITE, err, sizeof(err));
    if (fx->st == NULL)
        fail_msg("store_open after the corrections: %s", err);
    assert_int_equal(q_int(fx, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payments"), 5);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM payment_events WHERE signed_sha256 IS NULL"),
                     2);
    assert_string_equal(q_sql(fx, "PRAGMA integrity_check"), "ok");
    assert_string_equal(q_sql(fx, "PRAGMA foreign_keys"), "0"); /* the tool's connection */
    assert_string_equal(col(fx, "BADTS", "registered_at"), "2026-11-10T08:30:00.000Z");
    /* The triggers came back (the update trigger too, though it was dropped above). */
    assert_non_null(raw_try(fx, "DELETE FROM payment_events"));
    assert_non_null(raw_try(fx, "UPDATE payment_events SET body = 'x'"));
    assert_non_null(raw_try(fx, "UPDATE payment_events SET signed_sha256 = zeroblob(32)"));
    assert_string_equal(col(fx, "OK1", "next_query_at"), "NULL");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM pending_payments"), 4);

    /* A journal row from before the migration is still known by its body. */
    struct payresult r;
    result_init(&r, "F1", "2", 200, RESULT_SUCCESS);
    struct store_applied a = apply_at(fx, &r, PAYRESULT_NOTIFY, "{\"old\":1}", T0);
    assert_int_equal(a.redelivery, 1);
    assert_string_equal(q_sql(fx, "SELECT seen_count FROM payment_events WHERE id = 1"), "2");
    assert_int_equal(events(fx, "F1"), 2);
    /* and the daemon's connection enforces the journal's foreign key */
    assert_non_null(raw_try(fx, "PRAGMA foreign_keys = ON; INSERT INTO payment_events "
                                "(no_order, source, result_pay, money_order, outcome, body, "
                                "received_at) VALUES ('nope', 'notify', 'SUCCESS', '1.00', "
                                "'applied', '{}', '2026-11-22T08:30:00.000Z')"));
}

/* ---- the reconciler's queries -------------------------------------------------------------- */

/* store_schedule_new in its own transaction, as the writer runs it. */
static int schedule_new(struct fx *fx)
{
    assert_int_equal(store_begin(fx->st), 0);
    int n = store_schedule_new(fx->st, WINDOW_S);
    assert_int_equal(store_commit(fx->st), 0);
    return n;
}

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

    assert_int_equal(schedule_new(fx), 2);
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

    /* A time SQLite cannot count from would leave the order unscheduled, and retried every
     * turn, for ever: it is flagged instead. */
    raw_exec(fx, "INSERT INTO payments(no_order, money_order, registered_at) VALUES "
                 "('S6', '6.00', '9999-12-31T23:59:59.000Z')");
    assert_int_equal(store_has_unscheduled(fx->st), 1);
    assert_int_equal(schedule_new(fx), 1);
    assert_int_equal(store_has_unscheduled(fx->st), 0);
    assert_string_equal(
        col(fx, "S6", "needs_review || ' ' || review_reason"),
        "1 cannot be scheduled: registered_at plus notify_window is past year 9999");
    assert_string_equal(col(fx, "S1", "needs_review"), "0");
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
    assert_plan_uses(
        fx,
        "SELECT id FROM payment_events WHERE no_order = 'A1' AND source = 'notify' "
        "AND (signed_sha256 = zeroblob(32) OR (signed_sha256 IS NULL AND body = '{}'))",
        "payment_events_no_order");
    assert_plan_uses(fx, "SELECT * FROM pending_payments", "payments_pending");
    assert_plan_uses(fx, "SELECT * FROM review_queue", "payments_review");

    /* The store's own statements name their index: without it they refuse to run rather than
     * scan. */
    raw_exec(fx, "DROP INDEX payments_due");
    struct store_due due[1];
    assert_int_equal(store_due(fx->st, T0, due, 1), -1);
    assert_string_equal(store_errkind(fx->st), "sql");
    assert_int_equal(store_err(fx->st), STORE_ERR_SQL);
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
    assert_int_equal(ctl_print_status(fx->st, "P1", out), 0);
    assert_int_equal(fclose(out), 0);
    static const char *const want[] = {
        "no_order:",      "P1\n",
        "money_order:",   "49.65\n",
        "amount_fen:",    "4965\n",
        "result_pay:",    "SUCCESS\n",
        "registered_at:", "2026-11-22T08:30:00.000Z\n",
        "notify_count:",  "review_reason:      -\n",
        "events:",        "2026-11-22T08:31:00.000Z notify SUCCESS applied seen×2 115.236.102.36",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(buf, want[i]) == NULL)
            fail_msg("status lacks '%s':\n%s", want[i], buf);
    }
    free(buf);

    out = open_memstream(&buf, &len);
    assert_non_null(out);
    assert_int_equal(ctl_print_status(fx->st, "nope", out), 1);
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
    assert_int_equal(store_err(fx->st), STORE_ERR_BUSY);
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
    assert_int_equal(store_err(ro), STORE_ERR_READONLY);
    assert_int_equal(store_rollback(ro), 0);
    store_close(ro);
}

/* The kind= of the writer's storage_error lines (a contract): one name per kind. */
static void test_error_kind_names(void **state)
{
    (void)state;
    assert_string_equal(store_err_name(STORE_ERR_BUSY), "busy");
    assert_string_equal(store_err_name(STORE_ERR_FULL), "full");
    assert_string_equal(store_err_name(STORE_ERR_READONLY), "readonly");
    assert_string_equal(store_err_name(STORE_ERR_IOERR), "ioerr");
    assert_string_equal(store_err_name(STORE_ERR_SQL), "sql");
    assert_string_equal(store_err_name(STORE_ERR_COUNT), "sql");
}

/* 8901 at received ms `at` about U's order, as the reconciler's writer job carries it out. */
static struct store_applied no_record_at(struct fx *fx, const char *no_order, int64_t at)
{
    struct attempt_action act = {.record = false, .next = ATTEMPT_RETRY, .retry_at_ms = at + MIN};
    char received[TIME_ISO_LEN];
    struct store_applied out;

    time_iso(at, received);
    struct store_query_outcome in = {.no_order = no_order,
                                     .action = &act,
                                     .no_record = 1,
                                     .received_at = received,
                                     .no_record_after_s = 30 * 60};
    assert_int_equal(store_begin(fx->st), 0);
    if (store_query_outcome(fx->st, &in, &out) != 0)
        fail_msg("store_query_outcome: %s", store_errmsg(fx->st));
    assert_int_equal(store_commit(fx->st), 0);
    return out;
}

/* An unknown payout: 8901 past no_record_after asks a person (once, resubmit's prefix), keeps
 * being queried; a signed query result then makes it accepted and clears the reason; a
 * notification does the same for another; a payout not unknown is left alone. */
static void test_unknown_payout_resolved(void **state)
{
    struct fx *fx = *state;
    struct payresult r;

    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name) VALUES "
                 "('U1', '10.00', '20261122083000', '6228480223312311474', 'A'), "
                 "('U2', '10.00', '20261122083000', '6228480223312311474', 'B'), "
                 "('U3', '10.00', '20261122083000', '6228480223312311474', 'C')");
    raw_exec(fx, "UPDATE payouts SET state = 'unknown', sent_at = '2026-11-22T08:30:00.000Z' "
                 "WHERE no_order IN ('U1', 'U2')");
    raw_exec(fx, "UPDATE payouts SET state = 'accepted', sent_at = '2026-11-22T08:30:00.000Z' "
                 "WHERE no_order = 'U3'");

    struct store_applied a = no_record_at(fx, "U1", T0 + 10 * MIN);
    assert_int_equal(a.payout_no_record, 0);
    assert_string_equal(q_sql(fx, "SELECT state || ' ' || ifnull(reason, '-') || ' ' || "
                                  "no_record_since FROM payouts WHERE no_order = 'U1'"),
                        "unknown - 2026-11-22T08:40:00.000Z");
    assert_string_equal(q_sql(fx, "SELECT count(*) FROM payouts_for_a_person"), "0");
    assert_string_equal(col(fx, "U1", "next_query_at"), "2026-11-22T08:41:00.000Z");

    a = no_record_at(fx, "U1", T0 + 31 * MIN);
    assert_int_equal(a.payout_no_record, 1);
    static const char want[] = "no record: LianLian has no record of it 31 minutes after it was "
                               "sent; lianpayctl resubmit sends it again under the same number";
    assert_string_equal(q_sql(fx, "SELECT reason FROM payouts WHERE no_order = 'U1'"), want);
    assert_string_equal(q_sql(fx, "SELECT no_record_since FROM payouts WHERE no_order = 'U1'"),
                        "2026-11-22T08:40:00.000Z");
    assert_string_equal(q_sql(fx, "SELECT group_concat(no_order || ' ' || state) "
                                  "FROM payouts_for_a_person"),
                        "U1 unknown");
    assert_string_equal(q_sql(fx, "SELECT payout_state || ' ' || review_reason FROM review_queue "
                                  "WHERE no_order = 'U1'"),
                        "unknown no record: LianLian has no record of it 31 minutes after it "
                        "was sent; lianpayctl resubmit sends it again under the same number");
    /* Still queried; asked once. */
    assert_string_equal(col(fx, "U1", "next_query_at"), "2026-11-22T09:02:00.000Z");
    a = no_record_at(fx, "U1", T0 + 45 * MIN);
    assert_int_equal(a.payout_no_record, 0);
    assert_string_equal(q_sql(fx, "SELECT reason FROM payouts WHERE no_order = 'U1'"), want);

    /* Not unknown: 8901 changes nothing. */
    a = no_record_at(fx, "U3", T0 + 45 * MIN);
    assert_int_equal(a.payout_no_record, 0);
    assert_string_equal(q_sql(fx, "SELECT ifnull(no_record_since, '-') || ' ' || "
                                  "ifnull(reason, '-') FROM payouts WHERE no_order = 'U3'"),
                        "- -");

    /* A late signed answer with a result: LianLian knows it. */
    result_init(&r, "U1", "10.00", 1000, RESULT_PROCESSING);
    a = apply_at(fx, &r, PAYRESULT_QUERY, NULL, T0 + 50 * MIN);
    assert_int_equal(a.outcome, OUTCOME_APPLIED);
    assert_int_equal(a.payout_accepted, 1);
    assert_string_equal(a.payout_reason, "LianLian knows it: PROCESSING by query");
    assert_string_equal(q_sql(fx, "SELECT state || ' ' || oid_paybill || ' ' || reason || ' ' || "
                                  "ifnull(no_record_since, '-') || ' ' || updated_at "
                                  "FROM payouts WHERE no_order = 'U1'"),
                        "accepted 2026112200012345 LianLian knows it: PROCESSING by query - "
                        "2026-11-22T09:20:00.000Z");
    assert_string_equal(q_sql(fx, "SELECT count(*) FROM payouts_for_a_person"), "0");
    assert_string_equal(col(fx, "U1", "payout_held"), "0");
    /* Once accepted, a second result does not touch the payout again. */
    result_init(&r, "U1", "10.00", 1000, RESULT_SUCCESS);
    a = apply_at(fx, &r, PAYRESULT_QUERY, NULL, T0 + 60 * MIN);
    assert_int_equal(a.payout_accepted, 0);

    /* A notification proves it too. */
    a = notify(fx, "U2", "10.00", 1000, RESULT_SUCCESS, T0 + 5 * MIN);
    assert_int_equal(a.payout_accepted, 1);
    assert_string_equal(q_sql(fx, "SELECT state || ' ' || reason FROM payouts "
                                  "WHERE no_order = 'U2'"),
                        "accepted LianLian knows it: SUCCESS by notify");

    /* Notified while the request was in flight, then the request timed out (sql/0007). */
    raw_exec(fx, "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name) VALUES "
                 "('U4', '10.00', '20261122083000', '6228480223312311474', 'D')");
    raw_exec(fx, "UPDATE payouts SET state = 'sending' WHERE no_order = 'U4'");
    a = notify(fx, "U4", "10.00", 1000, RESULT_SUCCESS, T0 + 5 * MIN);
    assert_int_equal(a.payout_accepted, 0); /* sending: the submit thread's */
    assert_string_equal(q_sql(fx, "SELECT state FROM payouts WHERE no_order = 'U4'"), "sending");
    raw_exec(fx, "UPDATE payouts SET state = 'unknown', reason = 'timeout' WHERE no_order = 'U4'");
    assert_string_equal(q_sql(fx, "SELECT state || ' ' || oid_paybill || ' ' || reason "
                                  "FROM payouts WHERE no_order = 'U4'"),
                        "accepted 2026112200012345 LianLian knows it: SUCCESS by notify");
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
        T(test_migration_0004),
        T(test_migration_0005),
        T(test_migration_0010),
        T(test_migration_0011),
        T(test_migration_0011_same_rows),
        T(test_payout_queue_and_cancel),
        T(test_submit_steps),
        T(test_submit_answer_always_recorded),
        T(test_sending_restarts_the_chase),
        T(test_payout_decisions),
        T(test_payouts_for_a_person),
        T(test_decisions_trail),
        T(test_unknown_payout_resolved),
        T(test_plain_sql_insert),
        T(test_success_and_redelivery),
        T(test_variant_body_is_a_redelivery),
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
        T(test_text_columns_refuse_nul_and_blob),
        T(test_timestamps_are_instants),
        T(test_counters_bounded),
        T(test_formats_agree_with_c),
        T(test_unqueryable_due_rows),
        T(test_pending_ignores_impossible_timestamps),
        T(test_pending_counts_the_due_orders),
        T(test_last_event_and_last_backup),
        T(test_migration_0003_refuses_bad_rows),
        T(test_schedule_new),
        T(test_due_selection),
        T(test_query_plans),
        T(test_views),
        T(test_events_append_only),
        T(test_print_status),
        T(test_busy_is_reported),
        T(test_readonly_connection),
        cmocka_unit_test(test_error_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
