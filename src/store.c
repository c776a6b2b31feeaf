/*
 * The SQLite file (design.md, database contract): opening it (pragmas, migrations, version
 * checks) and every read and write the daemon and lianpayctl make.
 *
 * One struct store is one connection, used by one thread at a time (SQLITE_OPEN_NOMUTEX). The
 * daemon's writer thread owns the only writable one and calls store_apply thousands of times a
 * second inside group-committed transactions, so the statements it uses are prepared once per
 * connection, on first use, and kept in st->stmt[]; after each use they are reset and their
 * bindings cleared, which is also what lets them bind the caller's strings without copying.
 *
 * Errors: every SQLite result is checked; the first failure is recorded in st->errmsg and
 * st->errcode (store_errmsg, store_errkind) and the function returns -1 for its caller to roll
 * back. Nothing here logs: the caller has the context.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "migrations.h"
#include "money.h"

/* A writer that waits longer than this on someone else's lock fails its batch instead: the
 * daemon answers 503 and LianLian resends. Readers (reconciler, lianpayctl) can afford to wait. */
#define STORE_WRITE_BUSY_MS 1000
#define STORE_READ_BUSY_MS  5000

/* Written without IN: see sql/0002_check_without_in.sql. */
#define SQL_NOT_FINAL                                                                              \
    "(result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK' "                         \
    "OR result_pay = 'WAITING' OR result_pay = 'PROCESSING')"
/* Must repeat the WHERE of the payments_unscheduled partial index for the planner to use it. The
 * queries that must stay fast name their index (INDEXED BY): should a later migration make the
 * index unusable, preparing them fails loudly instead of scanning millions of rows. */
#define SQL_UNSCHEDULED                                                                            \
    "next_query_at IS NULL AND registered_at IS NOT NULL AND needs_review = 0 AND " SQL_NOT_FINAL
/* Flagging keeps the reason a person may already be reading; the journal has the rest. */
#define SQL_FLAG(reason)                                                                           \
    "needs_review = 1, review_reason = CASE WHEN needs_review = 1 AND review_reason IS NOT NULL "  \
    "THEN review_reason ELSE " reason " END"
/* Counters stop at STORE_COUNT_MAX, which sql/0003's CHECKs allow: an increment past it would
 * make SQLite store a REAL (or overflow a reader's int64 when it adds one). */
#define SQL_COUNT_MAX "2147483647"
_Static_assert(STORE_COUNT_MAX == 2147483647, "SQL_COUNT_MAX is STORE_COUNT_MAX");
/* Parameters ?1..?5 are shared by the statements store_apply writes payments with. */
#define SQL_TOUCH                                                                                  \
    "updated_at = ?2, notify_count = min(notify_count + ?3, " SQL_COUNT_MAX "), "                  \
    "query_count = min(query_count + ?4, " SQL_COUNT_MAX "), "                                     \
    "first_notified_at = coalesce(first_notified_at, ?5)"
/* The orders the reconciler is due to query at ?1, as the payments_due index serves them. */
#define SQL_DUE                                                                                    \
    "needs_review = 0 AND next_query_at IS NOT NULL AND next_query_at <= ?1 "                      \
    "AND registered_at IS NOT NULL AND " SQL_NOT_FINAL
/* registered_at + ?1 (a modifier): NULL when SQLite cannot count from it (past year 9999). */
#define SQL_SCHEDULED_AT "strftime('%Y-%m-%dT%H:%M:%fZ', registered_at, ?1)"

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
    Q_COUNT
};

static const char *const query_sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_ORDER] = "SELECT result_pay, amount_fen, dt_order, registered_at, source "
                "FROM payments WHERE no_order = ?1",
    [Q_INSERT] = "INSERT INTO payments (no_order, updated_at, notify_count, query_count, "
                 "first_notified_at, result_pay, source, oid_paybill, settle_date, info_order, "
                 "oid_partner, final_at, amount_fen, dt_order, money_order, registered_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, NULL)",
    [Q_APPLY] = "UPDATE payments SET " SQL_TOUCH ", result_pay = ?6, source = ?7, "
                "oid_paybill = coalesce(?8, oid_paybill), settle_date = ?9, info_order = ?10, "
                "oid_partner = coalesce(oid_partner, ?11), final_at = coalesce(?12, final_at), "
                "next_query_at = CASE WHEN ?12 IS NULL THEN next_query_at END, "
                "amount_fen = coalesce(amount_fen, ?13), dt_order = coalesce(dt_order, ?14) "
                "WHERE no_order = ?1",
    [Q_FLAG] = "UPDATE payments SET " SQL_TOUCH ", " SQL_FLAG("?6") " WHERE no_order = ?1",
    [Q_TOUCH] = "UPDATE payments SET " SQL_TOUCH " WHERE no_order = ?1",
    /* A message is known by what LianLian signed; rows journalled before sql/0003 have no
     * digest and are known by their body, as they were then. */
    [Q_EVENT_FIND] = "SELECT id FROM payment_events WHERE no_order = ?1 AND source = ?2 AND "
                     "(signed_sha256 = ?3 OR (signed_sha256 IS NULL AND body = ?4)) LIMIT 1",
    [Q_EVENT_SEEN] = "UPDATE payment_events SET seen_count = min(seen_count + 1, " SQL_COUNT_MAX
                     ") WHERE id = ?1",
    [Q_EVENT_INSERT] = "INSERT INTO payment_events (no_order, source, result_pay, money_order, "
                       "oid_paybill, settle_date, info_order, outcome, body, received_at, "
                       "remote_addr, signed_sha256) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [Q_REG_INSERT] = "INSERT INTO payments (no_order, money_order, amount_fen, dt_order, "
                     "registered_at, updated_at, next_query_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
    [Q_REG_MERGE] = "UPDATE payments SET registered_at = ?2, updated_at = ?2, "
                    "amount_fen = coalesce(amount_fen, ?3), dt_order = coalesce(dt_order, ?4), "
                    "next_query_at = CASE WHEN " SQL_NOT_FINAL " THEN ?5 ELSE next_query_at END, "
                    "needs_review = CASE WHEN ?6 IS NULL THEN needs_review ELSE 1 END, "
                    "review_reason = CASE WHEN ?6 IS NULL OR (needs_review = 1 AND "
                    "review_reason IS NOT NULL) THEN review_reason ELSE ?6 END "
                    "WHERE no_order = ?1",
    /* An order that cannot be given a time would stay unscheduled, and be retried every turn,
     * forever: it goes to a person instead. */
    [Q_SCHEDULE_NEW] = "UPDATE payments INDEXED BY payments_unscheduled "
                       "SET next_query_at = " SQL_SCHEDULED_AT ", "
                       "needs_review = " SQL_SCHEDULED_AT " IS NULL, "
                       "review_reason = CASE WHEN " SQL_SCHEDULED_AT " IS NULL THEN "
                       "'cannot be scheduled: registered_at plus notify_window is past year 9999' "
                       "ELSE review_reason END "
                       "WHERE " SQL_UNSCHEDULED,
    [Q_HAS_UNSCHEDULED] = "SELECT EXISTS (SELECT 1 FROM payments INDEXED BY payments_unscheduled "
                          "WHERE " SQL_UNSCHEDULED ")",
    [Q_DUE] = "SELECT no_order, registered_at, query_count, rowid FROM payments "
              "INDEXED BY payments_due WHERE " SQL_DUE " ORDER BY next_query_at LIMIT ?2",
    /* A notification may have made the order final while its query was under way. */
    [Q_RESCHEDULE] = "UPDATE payments SET query_count = min(query_count + 1, " SQL_COUNT_MAX "), "
                     "next_query_at = CASE WHEN " SQL_NOT_FINAL " THEN ?2 ELSE next_query_at END "
                     "WHERE no_order = ?1",
    [Q_FLAG_REVIEW] = "UPDATE payments SET needs_review = 1, review_reason = ?2, "
                      "next_query_at = NULL WHERE no_order = ?1",
    /* The unqueryable among the first ?2 due orders, judged by the same C function as
     * store_due's (sql_unqueryable): such a row cannot be named by a C string, so it is found
     * again here rather than passed back. */
    [Q_FLAG_UNQUERYABLE] = "UPDATE payments SET needs_review = 1, next_query_at = NULL, "
                           "review_reason = 'cannot be queried: ' || "
                           "lianpay_unqueryable(no_order, registered_at) "
                           "WHERE rowid IN (SELECT r FROM (SELECT rowid AS r, no_order AS n, "
                           "registered_at AS t FROM payments INDEXED BY payments_due WHERE " SQL_DUE
                           " ORDER BY next_query_at LIMIT ?2) "
                           "WHERE lianpay_unqueryable(n, t) IS NOT NULL)",
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

/* What the payments row of an order says, as far as store_apply and store_register care. */
struct order {
    int found;
    enum result_pay result;
    int has_amount;
    int64_t amount_fen;
    char dt_order[15]; /* "" when NULL */
    int registered;
    char source[8]; /* "" when NULL */
};

/* SQLite reports a database that became read-only under it (a read-only remount, chattr +i) as a
 * plain "disk I/O error"; the file system can say which fault it is. Returns 0 or the errno of
 * the first of the database and its WAL that cannot be written. */
static int unwritable(const char *path)
{
    char wal[PATH_MAX];

    if (access(path, W_OK) < 0)
        return errno;
    snprintf(wal, sizeof(wal), "%s-wal", path);
    if (access(wal, W_OK) < 0 && errno != ENOENT)
        return errno;
    return 0;
}

static void set_error(struct store *st, int rc)
{
    st->errcode = rc;
    st->unwritable = (rc & 0xff) == SQLITE_IOERR ? unwritable(st->path) : 0;
    snprintf(st->errmsg, sizeof(st->errmsg), "%s%s%s", sqlite3_errmsg(st->db),
             st->unwritable ? ": cannot write: " : "",
             st->unwritable ? strerror(st->unwritable) : "");
}

__attribute__((format(printf, 3, 4))) static void set_errorf(struct store *st, int rc,
                                                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st->errcode = rc;
    vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
    va_end(ap);
}

static const char *source_name(enum payresult_source s)
{
    return s == PAYRESULT_QUERY ? "query" : "notify";
}

static void sql_unqueryable(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* ---- statements ---------------------------------------------------------------------------- */

static sqlite3_stmt *prepared(struct store *st, enum query q)
{
    if (st->stmt[q] == NULL) {
        int rc = sqlite3_prepare_v3(st->db, query_sql[q], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[q], NULL);
        if (rc != SQLITE_OK) {
            set_error(st, rc);
            st->stmt[q] = NULL;
        }
    }
    return st->stmt[q];
}

/* Makes a cached statement ready for its next use. reset() repeats the error of the last step,
 * which was already recorded when step returned it. */
static void release(sqlite3_stmt *s)
{
    if (s == NULL)
        return;
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
}

static int check_bind(struct store *st, int rc)
{
    if (rc == SQLITE_OK)
        return 0;
    set_error(st, rc);
    return -1;
}

/* Binds a string, or NULL for a NULL pointer. The statement is released before the string goes
 * away, so SQLite need not copy it. */
static int bind_text(struct store *st, sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        return check_bind(st, sqlite3_bind_null(s, i));
    return check_bind(st, sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC));
}

/* An optional payresult field: "" is stored as NULL. */
static int bind_opt(struct store *st, sqlite3_stmt *s, int i, const char *v)
{
    return bind_text(st, s, i, v != NULL && *v != '\0' ? v : NULL);
}

static int bind_int(struct store *st, sqlite3_stmt *s, int i, int64_t v)
{
    return check_bind(st, sqlite3_bind_int64(s, i, v));
}

/* Returns 1 with a row, 0 when done, -1 on error. */
static int step_row(struct store *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    set_error(st, rc);
    return -1;
}

static int step_done(struct store *st, sqlite3_stmt *s)
{
    return step_row(st, s) < 0 ? -1 : 0;
}

/* Copies a possibly NULL text column into buf ("" for NULL). */
static void column_copy(sqlite3_stmt *s, int col, char *buf, size_t len)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    snprintf(buf, len, "%s", v != NULL ? (const char *)v : "");
}

/* Runs one statement without a cache (start-up, migrations, lianpayctl). */
static int exec(struct store *st, const char *sql)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        set_error(st, rc);
        return -1;
    }
    return 0;
}

static int run_cached(struct store *st, enum query q)
{
    sqlite3_stmt *s = prepared(st, q);
    int rc = s != NULL ? step_done(st, s) : -1;
    release(s);
    return rc;
}

/* ---- opening ------------------------------------------------------------------------------- */

static int read_int_pragma(struct store *st, const char *sql, int *out)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        set_error(st, rc);
        goto out;
    }
    if (step_row(st, s) != 1) {
        if (st->errcode == SQLITE_OK)
            set_errorf(st, SQLITE_ERROR, "%s returned nothing", sql);
        goto out;
    }
    *out = sqlite3_column_int(s, 0);
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

static int set_wal(struct store *st)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        set_error(st, rc);
        goto out;
    }
    if (step_row(st, s) != 1)
        goto out;
    const unsigned char *mode = sqlite3_column_text(s, 0);
    if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
        /* Readers would block the writer (and the reverse) without WAL: refuse to run so. */
        set_errorf(st, SQLITE_ERROR, "cannot use WAL journal mode (got %s)",
                   mode != NULL ? (const char *)mode : "nothing");
        goto out;
    }
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

/* Rows a migration listed in temp.migration_refusals, and the first of them, into buf. */
static int64_t refused_rows(struct store *st, char *buf, size_t len)
{
    static const char sql[] = "SELECT (SELECT count(*) FROM temp.migration_refusals), what "
                              "FROM temp.migration_refusals ORDER BY rowid LIMIT 5";
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    size_t used = 0;

    buf[0] = '\0';
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        goto out;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *what = sqlite3_column_text(s, 1);
        n = sqlite3_column_int64(s, 0);
        if (used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used > 0 ? "; " : "",
                                     what != NULL ? (const char *)what : "?");
    }
    if (n > 5 && used < len)
        snprintf(buf + used, len - used, "; and %" PRId64 " more", n - 5);
out:
    (void)sqlite3_finalize(s);
    return n;
}

/* Fails, naming the rows, when a migration refused some; its SQL error says which constraint. */
static int check_refusals(struct store *st, const struct migration *m, int failed)
{
    char why[sizeof(st->errmsg)], rows[320];
    int64_t n = refused_rows(st, rows, sizeof(rows));

    snprintf(why, sizeof(why), "%s", failed ? st->errmsg : "");
    if (n > 0) {
        set_errorf(st, SQLITE_CONSTRAINT,
                   "migration %s refused: %" PRId64 " row%s break%s its constraints (%s); correct "
                   "or delete %s, then start again (README: upgrading the database): %s",
                   m->name, n, n == 1 ? "" : "s", n == 1 ? "s" : "", failed ? why : "?",
                   n == 1 ? "it" : "them", rows);
        return -1;
    }
    if (failed) {
        set_errorf(st, st->errcode, "migration %s: %s", m->name, why);
        return -1;
    }
    return 0;
}

/* Returns 0 when no row of the journal lost its order, else -1 naming the first. */
static int check_foreign_keys(struct store *st, const struct migration *m)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;

    int rc = sqlite3_prepare_v2(st->db, "PRAGMA foreign_key_check", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        set_error(st, rc);
        goto out;
    }
    int row = step_row(st, s);
    if (row == 1)
        set_errorf(st, SQLITE_CONSTRAINT,
                   "migration %s: row %" PRId64 " of %s has no matching row in %s", m->name,
                   (int64_t)sqlite3_column_int64(s, 1), (const char *)sqlite3_column_text(s, 0),
                   (const char *)sqlite3_column_text(s, 2));
    else if (row == 0)
        ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

/*
 * Applies migration number v+1 in its own transaction, unless another process just did. The
 * connection's foreign keys are still off (open_writer turns them on afterwards), as SQLite's
 * procedure for rebuilding a table wants; PRAGMA foreign_key_check then vouches for the result
 * before the commit. A migration that must refuse rows lists them in temp.migration_refusals
 * (sql/0003 says how).
 */
static int migrate_one(struct store *st, int *version)
{
    char sql[64];

    if (exec(st, "BEGIN IMMEDIATE") < 0)
        return -1;
    if (read_int_pragma(st, "PRAGMA user_version", version) < 0)
        goto fail;
    if (*version < 0 || *version >= store_migrations_count) {
        if (exec(st, "COMMIT") < 0)
            goto fail;
        return 0;
    }
    const struct migration *m = &store_migrations[*version];
    if (exec(st, "CREATE TEMP TABLE migration_refusals (what TEXT NOT NULL)") < 0)
        goto fail;
    int failed = exec(st, m->sql) < 0;
    if (check_refusals(st, m, failed) < 0 || check_foreign_keys(st, m) < 0)
        goto fail;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m->number);
    if (exec(st, "DROP TABLE temp.migration_refusals") < 0 || exec(st, sql) < 0 ||
        exec(st, "COMMIT") < 0)
        goto fail;
    *version = m->number;
    return 0;
fail:
    if (!sqlite3_get_autocommit(st->db))
        (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* FULL: COMMIT returns once the WAL is synced, which is what "0000" promises. A test-only build
 * (tests/powercut/meson.build) may weaken it with LIANPAY_TEST_SYNCHRONOUS=OFF|NORMAL, so that the
 * power-cut test can show it catches what that loses; the daemon that is installed has no knob. */
static const char *synchronous_pragma(void)
{
#ifdef LIANPAY_TEST_SYNCHRONOUS
    const char *v = getenv("LIANPAY_TEST_SYNCHRONOUS");
    if (v != NULL && strcmp(v, "OFF") == 0)
        return "PRAGMA synchronous=OFF";
    if (v != NULL && strcmp(v, "NORMAL") == 0)
        return "PRAGMA synchronous=NORMAL";
#endif
    return "PRAGMA synchronous=FULL";
}

static int open_writer(struct store *st, char *err, size_t errlen)
{
    int version = 0;

    if (set_wal(st) < 0 || exec(st, synchronous_pragma()) < 0 ||
        exec(st, "PRAGMA foreign_keys=OFF") < 0 ||
        read_int_pragma(st, "PRAGMA user_version", &version) < 0)
        goto sqlfail;
    while (version >= 0 && version < store_migrations_count) {
        if (migrate_one(st, &version) < 0)
            goto sqlfail;
    }
    if (exec(st, "PRAGMA foreign_keys=ON") < 0)
        goto sqlfail;
    if (version != store_migrations_count) {
        snprintf(err, errlen,
                 "%s: schema version %d is newer than this build knows (%d): "
                 "use a newer lianpay-notifyd",
                 st->path, version, store_migrations_count);
        return -1;
    }
    return 0;
sqlfail:
    snprintf(err, errlen, "%s: %s", st->path, st->errmsg);
    return -1;
}

static int open_reader(struct store *st, char *err, size_t errlen)
{
    int version = 0;

    if (read_int_pragma(st, "PRAGMA user_version", &version) < 0) {
        snprintf(err, errlen, "%s: %s", st->path, st->errmsg);
        return -1;
    }
    if (version > store_migrations_count) {
        snprintf(err, errlen,
                 "%s: schema version %d is newer than this build knows (%d): "
                 "use a newer lianpay-notifyd",
                 st->path, version, store_migrations_count);
        return -1;
    }
    if (version < store_migrations_count) {
        snprintf(err, errlen,
                 "%s: schema version %d is older than this build's (%d): "
                 "start lianpay-notifyd once to migrate it",
                 st->path, version, store_migrations_count);
        return -1;
    }
    return 0;
}

struct store *store_open(const char *path, enum store_mode mode, char *err, size_t errlen)
{
    struct store *st = NULL;
    int flags = SQLITE_OPEN_NOMUTEX;
    int rc;

    st = calloc(1, sizeof(*st));
    if (st == NULL || (st->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    st->mode = mode;
    flags |=
        mode == STORE_WRITE ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    rc = sqlite3_open_v2(path, &st->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path,
                 st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto fail;
    }
    rc = sqlite3_extended_result_codes(st->db, 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(st->db,
                                  mode == STORE_WRITE ? STORE_WRITE_BUSY_MS : STORE_READ_BUSY_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(st->db, "lianpay_unqueryable", 2,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                        sql_unqueryable, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    /* SQLite quietly falls back to read-only when the file cannot be opened for writing; such a
     * connection would stay read-only after the fault is repaired, so refuse it now. */
    if (mode == STORE_WRITE && sqlite3_db_readonly(st->db, "main") == 1) {
        snprintf(err, errlen, "%s: the database file is read-only", path);
        goto fail;
    }
    if ((mode == STORE_WRITE ? open_writer(st, err, errlen) : open_reader(st, err, errlen)) < 0)
        goto fail;
    /* The switch to WAL unlinked a rollback journal and opening created the -wal: names are
     * durable only once their directory is synced (fsync(2)), and SQLite syncs it only now and
     * then (when a new journal or WAL is first synced, never after an unlink). Synced here, before
     * anything is written, a commit never depends on SQLite having done so. */
    if (mode == STORE_WRITE && store_sync_directory(path, err, errlen) < 0)
        goto fail;
    st->errcode = SQLITE_OK;
    st->errmsg[0] = '\0';
    return st;
fail:
    store_close(st);
    return NULL;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        (void)sqlite3_finalize(st->stmt[i]);
    /* close_v2 cannot fail on a busy connection; an open transaction is rolled back. */
    (void)sqlite3_close_v2(st->db);
    /* The last connection to close checkpoints the WAL into the database, syncs it and unlinks
     * the -wal; the unlink is durable once the directory is synced. Nothing acknowledged depends
     * on it (every frame of that WAL is in the synced database), so a failure is not reported. */
    if (st->mode == STORE_WRITE && st->db != NULL)
        (void)store_sync_directory(st->path, NULL, 0);
    free(st->path);
    free(st);
}

int store_sync_directory(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd = -1;
    int ret = -1;

    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        if (err != NULL)
            snprintf(err, errlen, "%s: cannot sync the directory: %s", dir, strerror(errno));
        goto out;
    }
    ret = 0;
out:
    if (fd >= 0)
        (void)close(fd);
    return ret;
}

int store_schema_version(void)
{
    return store_migrations_count;
}

/* ---- transactions and errors --------------------------------------------------------------- */

int store_begin(struct store *st)
{
    return run_cached(st, Q_BEGIN);
}

int store_commit(struct store *st)
{
    return run_cached(st, Q_COMMIT);
}

int store_rollback(struct store *st)
{
    /* A failed COMMIT (disk full, I/O error) may already have rolled back. */
    if (sqlite3_get_autocommit(st->db))
        return 0;
    return run_cached(st, Q_ROLLBACK);
}

int store_probe_write(struct store *st)
{
    sqlite3_stmt *s = NULL;
    char sql[48];

    if (store_begin(st) < 0)
        return -1;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", sqlite3_column_int(s, 0));
        rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    }
    (void)sqlite3_finalize(s);
    if (rc != SQLITE_OK) {
        set_error(st, rc);
        store_rollback(st);
        return -1;
    }
    if (store_commit(st) < 0) {
        store_rollback(st);
        return -1;
    }
    return 0;
}

int64_t store_changes(struct store *st)
{
    return (int64_t)sqlite3_total_changes64(st->db);
}

const char *store_errmsg(struct store *st)
{
    return st->errmsg[0] != '\0' ? st->errmsg : "no error";
}

const char *store_errkind(struct store *st)
{
    switch (st->errcode & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "busy";
    case SQLITE_FULL:
        return "full";
    case SQLITE_READONLY:
        return "readonly";
    case SQLITE_CANTOPEN:
        return st->mode == STORE_WRITE ? "readonly" : "sql";
    case SQLITE_IOERR:
        return st->unwritable != 0 ? "readonly" : "ioerr";
    default:
        return "sql";
    }
}

/* ---- store_apply --------------------------------------------------------------------------- */

static int order_find(struct store *st, const char *no_order, struct order *o)
{
    sqlite3_stmt *s = prepared(st, Q_ORDER);
    int ret = -1;

    memset(o, 0, sizeof(*o));
    if (s == NULL || bind_text(st, s, 1, no_order) < 0)
        goto out;
    int row = step_row(st, s);
    if (row <= 0) {
        ret = row;
        goto out;
    }
    o->found = 1;
    const unsigned char *result = sqlite3_column_text(s, 0);
    if (result != NULL && state_result_parse((const char *)result, &o->result) < 0) {
        set_errorf(st, SQLITE_ERROR, "order %s: unknown result_pay '%s' in the database", no_order,
                   (const char *)result);
        goto out;
    }
    o->has_amount = sqlite3_column_type(s, 1) == SQLITE_INTEGER;
    o->amount_fen = sqlite3_column_int64(s, 1);
    column_copy(s, 2, o->dt_order, sizeof(o->dt_order));
    o->registered = sqlite3_column_type(s, 3) != SQLITE_NULL;
    column_copy(s, 4, o->source, sizeof(o->source));
    ret = 0;
out:
    release(s);
    return ret;
}

static int bind_digest(struct store *st, sqlite3_stmt *s, int i, const struct payresult *r)
{
    return check_bind(
        st, sqlite3_bind_blob(s, i, r->signed_sha256, sizeof(r->signed_sha256), SQLITE_STATIC));
}

/* A result without its digest would be taken for every other such message of its order. */
static bool has_digest(const struct payresult *r)
{
    for (size_t i = 0; i < sizeof(r->signed_sha256); i++) {
        if (r->signed_sha256[i] != 0)
            return true;
    }
    return false;
}

/* Binds ?1..?5 (SQL_TOUCH) and, when result is set, ?6..?14 of Q_INSERT and Q_APPLY. */
static int bind_message(struct store *st, sqlite3_stmt *s, const struct store_input *in, int result)
{
    const struct payresult *r = in->r;
    int notify = in->source == PAYRESULT_NOTIFY;
    /* Pending query answers are counted by store_reschedule, which the reconciler calls after
     * them; an answer that ends the chase is counted here. */
    int counted_query = in->source == PAYRESULT_QUERY && !state_is_pending(r->result_pay);

    if (bind_text(st, s, 1, r->no_order) || bind_text(st, s, 2, in->received_at) ||
        bind_int(st, s, 3, notify) || bind_int(st, s, 4, counted_query) ||
        bind_text(st, s, 5, notify ? in->received_at : NULL))
        return -1;
    if (!result)
        return 0;
    if (bind_text(st, s, 6, state_result_name(r->result_pay)) ||
        bind_text(st, s, 7, source_name(in->source)) || bind_opt(st, s, 8, r->oid_paybill) ||
        bind_opt(st, s, 9, r->settle_date) || bind_opt(st, s, 10, r->info_order) ||
        bind_opt(st, s, 11, r->oid_partner) ||
        bind_text(st, s, 12, state_is_final(r->result_pay) ? in->received_at : NULL) ||
        bind_int(st, s, 13, r->amount_fen) || bind_opt(st, s, 14, r->dt_order))
        return -1;
    return 0;
}

/* Writes the payments row for one message: q is Q_INSERT, Q_APPLY, Q_FLAG or Q_TOUCH. */
static int order_write(struct store *st, enum query q, const struct store_input *in,
                       const char *reason)
{
    sqlite3_stmt *s = prepared(st, q);
    int ret = -1;

    if (s == NULL || bind_message(st, s, in, q == Q_INSERT || q == Q_APPLY) < 0)
        goto out;
    if (q == Q_INSERT && bind_text(st, s, 15, in->r->money_order) < 0)
        goto out;
    if (q == Q_FLAG && bind_text(st, s, 6, reason) < 0)
        goto out;
    ret = step_done(st, s);
out:
    release(s);
    return ret;
}

/* Fills reason and returns 1 when the message's amount or dt_order contradicts the stored one. */
static int mismatch_reason(const struct order *o, const struct store_input *in, char *reason,
                           size_t len)
{
    const struct payresult *r = in->r;
    const char *stored = o->registered ? "registered" : "recorded";
    const char *result = state_result_name(r->result_pay);
    int amount = o->has_amount && o->amount_fen != r->amount_fen;
    int dt = o->dt_order[0] != '\0' && strcmp(o->dt_order, r->dt_order) != 0;
    char have[24], got[24];
    size_t n = 0;

    if (!amount && !dt)
        return 0;
    reason[0] = '\0';
    if (amount) {
        money_format(o->amount_fen, have);
        money_format(r->amount_fen, got);
        n = (size_t)snprintf(reason, len, "amount mismatch: %s %s, %s says %s (%s)", stored, have,
                             source_name(in->source), got, result);
    }
    if (dt && n < len)
        snprintf(reason + n, len - n, "%sdt_order mismatch: %s %s, %s says %s (%s)",
                 amount ? "; " : "", stored, o->dt_order, source_name(in->source), r->dt_order,
                 result);
    return 1;
}

/* Journals the message, or counts it again when one with the same signed content is already
 * there. An order that had no payments row has no events either (the foreign key), so for it the
 * search is skipped: one index lookup less on the writer's thread (about 3 % of store_apply,
 * bench-apply). */
static int journal(struct store *st, const struct store_input *in, int order_known,
                   struct store_applied *out)
{
    const struct payresult *r = in->r;
    sqlite3_stmt *s = NULL;
    int ret = -1;

    if (!order_known)
        goto insert;
    s = prepared(st, Q_EVENT_FIND);
    if (s == NULL || bind_text(st, s, 1, r->no_order) ||
        bind_text(st, s, 2, source_name(in->source)) || bind_digest(st, s, 3, r) ||
        check_bind(st, sqlite3_bind_text(s, 4, in->body, (int)in->body_len, SQLITE_STATIC)))
        goto out;
    int row = step_row(st, s);
    if (row < 0)
        goto out;
    if (row == 1) {
        int64_t id = sqlite3_column_int64(s, 0);
        release(s);
        out->redelivery = 1;
        s = prepared(st, Q_EVENT_SEEN);
        if (s == NULL || bind_int(st, s, 1, id) < 0)
            goto out;
        ret = step_done(st, s);
        goto out;
    }
    release(s);
insert:
    s = prepared(st, Q_EVENT_INSERT);
    if (s == NULL || bind_text(st, s, 1, r->no_order) ||
        bind_text(st, s, 2, source_name(in->source)) ||
        bind_text(st, s, 3, state_result_name(r->result_pay)) ||
        bind_text(st, s, 4, r->money_order) || bind_opt(st, s, 5, r->oid_paybill) ||
        bind_opt(st, s, 6, r->settle_date) || bind_opt(st, s, 7, r->info_order) ||
        bind_text(st, s, 8, state_outcome_name(out->outcome)) ||
        check_bind(st, sqlite3_bind_text(s, 9, in->body, (int)in->body_len, SQLITE_STATIC)) ||
        bind_text(st, s, 10, in->received_at) || bind_opt(st, s, 11, in->remote_addr) ||
        bind_digest(st, s, 12, r))
        goto out;
    ret = step_done(st, s);
out:
    release(s);
    return ret;
}

/* Decides what the message does to a known order and which statement writes it. */
static enum query judge(const struct order *o, const struct store_input *in,
                        struct store_applied *out)
{
    enum result_pay incoming = in->r->result_pay;

    out->outcome = state_next(o->result, incoming);
    if (mismatch_reason(o, in, out->review_reason, sizeof(out->review_reason)))
        out->outcome = OUTCOME_MISMATCH;
    else if (out->outcome == OUTCOME_CONFLICT)
        snprintf(out->review_reason, sizeof(out->review_reason), "conflict: %s then %s by %s",
                 state_result_name(o->result), state_result_name(incoming),
                 source_name(in->source));

    switch (out->outcome) {
    case OUTCOME_APPLIED:
        return Q_APPLY;
    case OUTCOME_CONFLICT:
    case OUTCOME_MISMATCH:
        out->flagged = 1;
        return Q_FLAG;
    default:
        return Q_TOUCH;
    }
}

int store_apply(struct store *st, const struct store_input *in, struct store_applied *out)
{
    struct order o;
    enum query q;

    memset(out, 0, sizeof(*out));
    if (in->r == NULL || in->received_at == NULL || in->body == NULL || in->body_len > INT_MAX ||
        !has_digest(in->r) ||
        !(state_is_pending(in->r->result_pay) || state_is_final(in->r->result_pay))) {
        set_errorf(st, SQLITE_MISUSE, "store_apply: incomplete input");
        return -1;
    }
    /* Its several writes are only atomic inside the caller's batch. */
    if (sqlite3_get_autocommit(st->db)) {
        set_errorf(st, SQLITE_MISUSE, "store_apply outside a transaction");
        return -1;
    }
    if (order_find(st, in->r->no_order, &o) < 0)
        return -1;
    out->previous = o.result;
    if (!o.found) {
        out->outcome = OUTCOME_APPLIED;
        q = Q_INSERT;
    } else {
        q = judge(&o, in, out);
    }
    if (order_write(st, q, in, out->review_reason) < 0)
        return -1;
    return journal(st, in, o.found, out);
}

/* ---- store_register ------------------------------------------------------------------------ */

static int register_insert(struct store *st, const char *no_order, const char *money_order,
                           int64_t fen, const char *dt_order, const char *now, const char *next)
{
    sqlite3_stmt *s = prepared(st, Q_REG_INSERT);
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
    sqlite3_stmt *s = prepared(st, Q_REG_MERGE);
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

/* The reason a merge is flagged, or "" when the registration agrees with what LianLian said. */
static void merge_reason(const struct order *o, int64_t fen, const char *dt_order, char *reason,
                         size_t len)
{
    const char *by = o->source[0] != '\0' ? o->source : "LianLian";
    const char *result = o->result != RESULT_NONE ? state_result_name(o->result) : "no result";
    char have[24], got[24];
    size_t n = 0;

    reason[0] = '\0';
    if (o->has_amount && o->amount_fen != fen) {
        money_format(fen, have);
        money_format(o->amount_fen, got);
        n = (size_t)snprintf(reason, len, "amount mismatch: registered %s, %s says %s (%s)", have,
                             by, got, result);
    }
    if (o->dt_order[0] != '\0' && strcmp(o->dt_order, dt_order) != 0 && n < len)
        snprintf(reason + n, len - n, "%sdt_order mismatch: registered %s, %s says %s (%s)",
                 n > 0 ? "; " : "", dt_order, by, o->dt_order, result);
}

/* Inside the transaction: decides and writes. Returns 0, -1 on SQL error (st->errmsg), -2 when
 * the caller's data contradict an earlier registration (err filled). */
static int register_locked(struct store *st, const char *no_order, const char *money_order,
                           int64_t fen, const char *dt_order, int64_t now_ms, int64_t window_s,
                           enum store_register_result *res, char *err, size_t errlen)
{
    struct order o;
    char now[TIME_ISO_LEN], next[TIME_ISO_LEN], reason[256], have[24];

    if (order_find(st, no_order, &o) < 0)
        return -1;
    time_iso(now_ms, now);
    time_iso(now_ms + window_s * 1000, next);
    if (!o.found) {
        *res = STORE_REGISTERED;
        return register_insert(st, no_order, money_order, fen, dt_order, now, next);
    }
    if (o.registered) {
        if ((o.has_amount && o.amount_fen != fen) ||
            (o.dt_order[0] != '\0' && strcmp(o.dt_order, dt_order) != 0)) {
            money_format(o.amount_fen, have);
            snprintf(err, errlen, "order %s already registered with amount %s and dt_order %s",
                     no_order, have, o.dt_order[0] != '\0' ? o.dt_order : "unknown");
            return -2;
        }
        *res = STORE_ALREADY;
        return 0;
    }
    merge_reason(&o, fen, dt_order, reason, sizeof(reason));
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

/* ---- the reconciler's queries -------------------------------------------------------------- */

int store_schedule_new(struct store *st, int64_t notify_window_s)
{
    sqlite3_stmt *s = prepared(st, Q_SCHEDULE_NEW);
    char modifier[48];
    int ret = -1;

    snprintf(modifier, sizeof(modifier), "%+" PRId64 " seconds", notify_window_s);
    if (s == NULL || bind_text(st, s, 1, modifier) < 0 || step_done(st, s) < 0)
        goto out;
    ret = sqlite3_changes(st->db);
out:
    release(s);
    return ret;
}

int store_has_unscheduled(struct store *st)
{
    sqlite3_stmt *s = prepared(st, Q_HAS_UNSCHEDULED);
    int ret = -1;

    if (s == NULL || step_row(st, s) != 1)
        goto out;
    ret = sqlite3_column_int(s, 0) != 0;
out:
    release(s);
    return ret;
}

/* A value as SQLite holds it: its storage class, and its text with the length in bytes. */
struct raw_value {
    int type;
    const unsigned char *text;
    int bytes;
};

/* The value as a C string when that is all of it: TEXT without a NUL byte inside. */
static const char *exact_text(const struct raw_value *v)
{
    if (v->type != SQLITE_TEXT || v->text == NULL ||
        strlen((const char *)v->text) != (size_t)v->bytes)
        return NULL;
    return (const char *)v->text;
}

/*
 * Why the reconciler cannot query an order as stored, or NULL. It must ask LianLian about the
 * stored value and nothing else: a no_order cut at a NUL byte is another order (and its
 * reschedule would match no row), a BLOB's bytes are not what a tool meant. The CHECKs of
 * sql/0003 refuse such values; this is for rows written past them. One definition for store_due
 * (C) and Q_FLAG_UNQUERYABLE (SQL, through sql_unqueryable), so both judge a row alike.
 */
static const char *due_problem(const struct raw_value *no_order, const struct raw_value *registered)
{
    const char *v = exact_text(no_order);
    int64_t ms = 0;

    if (no_order->type != SQLITE_TEXT)
        return "no_order is not text";
    if (v == NULL)
        return "no_order holds a NUL byte";
    if (!payresult_valid_no_order(v))
        return "no_order is not an order number LianLian accepts";
    v = exact_text(registered);
    if (v == NULL || strlen(v) >= TIME_ISO_LEN || time_parse_iso(v, &ms) < 0)
        return "registered_at is not a timestamp";
    return NULL;
}

static struct raw_value column_raw(sqlite3_stmt *s, int col)
{
    struct raw_value v;

    v.type = sqlite3_column_type(s, col); /* before the conversion to text */
    v.text = sqlite3_column_text(s, col);
    v.bytes = sqlite3_column_bytes(s, col);
    return v;
}

/* lianpay_unqueryable(no_order, registered_at): due_problem() for SQL. */
static void sql_unqueryable(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct raw_value v[2];
    const char *why;

    for (int i = 0; i < 2 && i < argc; i++) {
        v[i].type = sqlite3_value_type(argv[i]);
        v[i].text = sqlite3_value_text(argv[i]);
        v[i].bytes = sqlite3_value_bytes(argv[i]);
    }
    why = argc == 2 ? due_problem(&v[0], &v[1]) : "wrong use";
    if (why != NULL)
        sqlite3_result_text(ctx, why, -1, SQLITE_STATIC);
    else
        sqlite3_result_null(ctx);
}

static void read_due(sqlite3_stmt *s, struct store_due *d)
{
    struct raw_value no_order = column_raw(s, 0), registered = column_raw(s, 1);
    int64_t count = sqlite3_column_int64(s, 2);

    d->unqueryable = due_problem(&no_order, &registered);
    column_copy(s, 0, d->no_order, sizeof(d->no_order));
    column_copy(s, 1, d->registered_at, sizeof(d->registered_at));
    /* The reconciler adds one to it. */
    d->query_count = count < 0 ? 0 : count > STORE_COUNT_MAX ? STORE_COUNT_MAX : count;
    d->rowid = sqlite3_column_int64(s, 3);
}

int store_due(struct store *st, int64_t now_ms, struct store_due *out, int max)
{
    sqlite3_stmt *s = prepared(st, Q_DUE);
    char now[TIME_ISO_LEN];
    int n = 0, row = 0;

    if (s == NULL)
        return -1;
    time_iso(now_ms, now);
    if (bind_text(st, s, 1, now) || bind_int(st, s, 2, max > 0 ? max : 0)) {
        n = -1;
        goto out;
    }
    while (n < max && (row = step_row(st, s)) == 1)
        read_due(s, &out[n++]);
    if (row < 0)
        n = -1;
out:
    release(s);
    return n;
}

int store_flag_unqueryable(struct store *st, int64_t now_ms, int max)
{
    sqlite3_stmt *s = prepared(st, Q_FLAG_UNQUERYABLE);
    char now[TIME_ISO_LEN];
    int ret = -1;

    time_iso(now_ms, now);
    if (s == NULL || bind_text(st, s, 1, now) || bind_int(st, s, 2, max > 0 ? max : 0) ||
        step_done(st, s) < 0)
        goto out;
    ret = sqlite3_changes(st->db);
out:
    release(s);
    return ret;
}

/* Updates one order by no_order (?1) and a text (?2). An order that vanished (deleted by hand)
 * is not worth failing the writer's whole batch for. */
static int update_order(struct store *st, enum query q, const char *no_order, const char *text)
{
    sqlite3_stmt *s = prepared(st, q);
    int ret = -1;

    if (s == NULL || bind_text(st, s, 1, no_order) || bind_text(st, s, 2, text))
        goto out;
    ret = step_done(st, s);
out:
    release(s);
    return ret;
}

int store_reschedule(struct store *st, const char *no_order, int64_t next_ms)
{
    char next[TIME_ISO_LEN];

    time_iso(next_ms, next);
    return update_order(st, Q_RESCHEDULE, no_order, next);
}

int store_flag_review(struct store *st, const char *no_order, const char *reason)
{
    return update_order(st, Q_FLAG_REVIEW, no_order, reason);
}

/* ---- lianpayctl status --------------------------------------------------------------------- */

/* A column's text for people, escaped as the log escapes (internal tools and LianLian wrote it,
 * a terminal shows it): "-" for NULL. */
static void print_column(FILE *out, sqlite3_stmt *s, int col)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    if (v == NULL)
        fputs("-", out);
    else
        log_print_escaped(out, (const char *)v, (size_t)sqlite3_column_bytes(s, col));
}

static int print_order(struct store *st, sqlite3_stmt *s, FILE *out)
{
    int n = sqlite3_column_count(s);

    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(s, i);
        if (name == NULL) {
            set_errorf(st, SQLITE_NOMEM, "out of memory");
            return -1;
        }
        int pad = strlen(name) < 19 ? (int)(19 - strlen(name)) : 1;
        fprintf(out, "%s:%*s", name, pad, "");
        print_column(out, s, i);
        fputc('\n', out);
    }
    return 0;
}

static int print_events(struct store *st, const char *no_order, FILE *out)
{
    static const char sql[] = "SELECT received_at, source, result_pay, outcome, seen_count, "
                              "remote_addr FROM payment_events WHERE no_order = ?1 ORDER BY id";
    sqlite3_stmt *s = NULL;
    int ret = -1, row;

    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        set_error(st, rc);
        goto out;
    }
    if (bind_text(st, s, 1, no_order) < 0)
        goto out;
    fprintf(out, "events:\n");
    while ((row = step_row(st, s)) == 1) {
        for (int col = 0; col < 4; col++) {
            fputs(col == 0 ? "  " : " ", out);
            print_column(out, s, col);
        }
        fprintf(out, " seen×%" PRId64 " ", (int64_t)sqlite3_column_int64(s, 4));
        print_column(out, s, 5);
        fputc('\n', out);
    }
    ret = row < 0 ? -1 : 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

int store_print_status(struct store *st, const char *no_order, FILE *out)
{
    sqlite3_stmt *s = NULL;
    int ret = -1, row;

    int rc = sqlite3_prepare_v2(st->db, "SELECT * FROM payments WHERE no_order = ?1", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        set_error(st, rc);
        goto out;
    }
    if (bind_text(st, s, 1, no_order) < 0 || (row = step_row(st, s)) < 0)
        goto out;
    if (row == 0) {
        ret = 1;
        goto out;
    }
    if (print_order(st, s, out) < 0 || print_events(st, no_order, out) < 0)
        goto out;
    if (fflush(out) != 0 || ferror(out)) {
        set_errorf(st, SQLITE_IOERR, "cannot write the status");
        goto out;
    }
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

/* ---- monitoring ---------------------------------------------------------------------------- */

#define SQL_PENDING "registered_at IS NOT NULL AND needs_review = 0 AND " SQL_NOT_FINAL

int store_pending(struct store *st, int64_t now_ms, struct store_pending *out)
{
    /* The WHEREs repeat those of the partial indexes payments_pending and payments_review. The
     * oldest is the first real instant in registered_at order: a value past the CHECKs (month
     * 00 sorts before every real one) must not stand for the age of all the others. */
    static const char sql[] =
        "SELECT (SELECT count(*) FROM payments WHERE " SQL_PENDING "), o.no_order, "
        "o.registered_at, (SELECT count(*) FROM payments WHERE needs_review = 1) "
        "FROM (SELECT 1) LEFT JOIN (SELECT no_order, registered_at FROM payments "
        "INDEXED BY payments_pending WHERE " SQL_PENDING " AND "
        "strftime('%Y-%m-%dT%H:%M:%fZ', registered_at, '+0 seconds') IS registered_at "
        "ORDER BY registered_at LIMIT 1) AS o";
    sqlite3_stmt *s = NULL;
    int64_t registered = 0;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        set_error(st, rc);
        goto out;
    }
    if (step_row(st, s) != 1)
        goto out;
    out->count = sqlite3_column_int64(s, 0);
    column_copy(s, 1, out->oldest_no_order, sizeof(out->oldest_no_order));
    const unsigned char *oldest = sqlite3_column_text(s, 2);
    if (oldest != NULL && time_parse_iso((const char *)oldest, &registered) == 0 &&
        now_ms > registered)
        out->oldest_age_s = (now_ms - registered) / 1000;
    out->review = sqlite3_column_int64(s, 3);
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}
