/*
 * The SQLite file (design.md, database contract): the connection (opening it: pragmas,
 * migrations, version checks), its statement cache, transactions and the kinds of storage error.
 * The reads and writes themselves live next door: store_apply.c (recording results and the
 * journal), store_register.c (lianpayctl register), store_chase.c (the reconciler's queries),
 * store_monitor.c (counts for /metrics, an order as stored for lianpayctl status);
 * store_private.h is what they share. What a result does to an order is verdict.c's to decide.
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
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "migrations.h"
#include "store_private.h"

/* A writer that waits longer than this on someone else's lock fails its batch instead: the
 * daemon answers 503 and LianLian resends. Readers (reconciler, lianpayctl) can afford to wait. */
#define STORE_WRITE_BUSY_MS 1000
#define STORE_READ_BUSY_MS  5000

/* Must repeat the WHERE of the payments_unscheduled partial index for the planner to use it. The
 * queries that must stay fast name their index (INDEXED BY): should a later migration make the
 * index unusable, preparing them fails loudly instead of scanning millions of rows. */
#define SQL_UNSCHEDULED                                                                            \
    "next_query_at IS NULL AND registered_at IS NOT NULL AND needs_review = 0 AND "                \
    "payout_held = 0 AND " SQL_NOT_FINAL
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
/* registered_at + ?1 (a modifier): NULL when SQLite cannot count from it (past year 9999). */
#define SQL_SCHEDULED_AT "strftime('%Y-%m-%dT%H:%M:%fZ', registered_at, ?1)"

static const char *const query_sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_ORDER] = "SELECT result_pay, amount_fen, dt_order, registered_at, source "
                "FROM payments WHERE no_order = ?1",
    [Q_INSERT] = "INSERT INTO payments (no_order, updated_at, notify_count, query_count, "
                 "first_notified_at, result_pay, source, oid_paybill, settle_date, info_order, "
                 "oid_partner, final_at, amount_fen, dt_order, money_order, registered_at, memo) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, NULL, "
                 "?16)",
    [Q_APPLY] =
        "UPDATE payments SET " SQL_TOUCH ", result_pay = ?6, source = ?7, "
        "oid_paybill = coalesce(?8, oid_paybill), settle_date = ?9, info_order = ?10, "
        "oid_partner = coalesce(oid_partner, ?11), final_at = coalesce(?12, final_at), memo = ?16, "
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
    /* Numbered as Q_REG_INSERT is, ?7 added; ?2 (money_order) is not used: the text LianLian
     * wrote stays. */
    [Q_REG_MERGE] = "UPDATE payments SET registered_at = ?5, updated_at = ?5, "
                    "amount_fen = coalesce(amount_fen, ?3), dt_order = coalesce(dt_order, ?4), "
                    "next_query_at = CASE WHEN " SQL_NOT_FINAL " THEN ?6 ELSE next_query_at END, "
                    "needs_review = CASE WHEN ?7 IS NULL THEN needs_review ELSE 1 END, "
                    "review_reason = CASE WHEN ?7 IS NULL OR (needs_review = 1 AND "
                    "review_reason IS NOT NULL) THEN review_reason ELSE ?7 END "
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
    [Q_DUE] =
        "SELECT no_order, coalesce(chase_from, registered_at), query_count, rowid FROM payments "
        "INDEXED BY payments_due WHERE " SQL_DUE " ORDER BY next_query_at LIMIT ?2",
    /* A notification may have made the order final while its query was under way. */
    [Q_RESCHEDULE] = "UPDATE payments SET query_count = min(query_count + 1, " SQL_COUNT_MAX "), "
                     "next_query_at = CASE WHEN " SQL_NOT_FINAL " THEN ?2 ELSE next_query_at END "
                     "WHERE no_order = ?1",
    [Q_FLAG_REVIEW] = "UPDATE payments SET needs_review = 1, review_reason = ?2, "
                      "next_query_at = NULL WHERE no_order = ?1",
    /* The unqueryable among the first ?2 due orders, judged by the same C function as
     * store_due's (store_sql_unqueryable): such a row cannot be named by a C string, so it is found
     * again here rather than passed back. */
    /* sql/0004's defaults and triggers fill the rest (amount_fen, the payments row). */
    [Q_PAYOUT_INSERT] = "INSERT INTO payouts (no_order, dt_order, money_order, card_no, acct_name, "
                        "bank_name, info_order, flag_card, memo, prcptcd, bank_code, city_code, "
                        "brabank_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, coalesce(?8, '0'), ?9, "
                        "?10, ?11, ?12, ?13)",
    /* store_apply.c's payout_known: a signed result makes an unknown payout accepted. */
    [Q_PAYOUT_KNOWN] = "UPDATE payouts SET state = 'accepted', "
                       "oid_paybill = coalesce(?2, oid_paybill), reason = ?3, "
                       "no_record_since = NULL, updated_at = ?4 "
                       "WHERE no_order = ?1 AND state = 'unknown'",
    /* store_chase.c's payout_no_record: 8901 about an unknown payout. The first sets
     * no_record_since; Q_PAYOUT_ASK then asks a person once sent_at is ?3 seconds old, with a
     * reason lianpayctl resubmit recognises by its prefix "no record:" (set once: its minutes
     * are those of the 8901 that set it). */
    [Q_PAYOUT_NO_RECORD] = "UPDATE payouts SET no_record_since = coalesce(no_record_since, ?2) "
                           "WHERE no_order = ?1 AND state = 'unknown' AND no_record_since IS NULL",
    [Q_PAYOUT_ASK] = "UPDATE payouts SET reason = 'no record: LianLian has no record of it ' "
                     "|| CAST((julianday(?2) - julianday(sent_at)) * 1440.0 AS INTEGER) "
                     "|| ' minutes after it was sent; lianpayctl resubmit sends it again under the "
                     "same number', "
                     "updated_at = ?2 "
                     "WHERE no_order = ?1 AND state = 'unknown' AND sent_at IS NOT NULL "
                     "AND (reason IS NULL OR substr(reason, 1, 10) IS NOT 'no record:') "
                     "AND julianday(?2) - julianday(sent_at) >= CAST(?3 AS REAL) / 86400.0",
    [Q_FLAG_UNQUERYABLE] = "UPDATE payments SET needs_review = 1, next_query_at = NULL, "
                           "review_reason = 'cannot be queried: ' || "
                           "lianpay_unqueryable(no_order, registered_at) "
                           "WHERE rowid IN (SELECT r FROM (SELECT rowid AS r, no_order AS n, "
                           "registered_at AS t FROM payments INDEXED BY payments_due WHERE " SQL_DUE
                           " ORDER BY next_query_at LIMIT ?2) "
                           "WHERE lianpay_unqueryable(n, t) IS NOT NULL)",
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

void store_set_error(struct store *st, int rc)
{
    st->errcode = rc;
    st->unwritable = (rc & 0xff) == SQLITE_IOERR ? unwritable(st->path) : 0;
    snprintf(st->errmsg, sizeof(st->errmsg), "%s%s%s", sqlite3_errmsg(st->db),
             st->unwritable ? ": cannot write: " : "",
             st->unwritable ? strerror(st->unwritable) : "");
}

void store_set_errorf(struct store *st, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st->errcode = rc;
    vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
    va_end(ap);
}

/* ---- statements ---------------------------------------------------------------------------- */

sqlite3_stmt *store_prepared(struct store *st, enum query q)
{
    if (st->stmt[q] == NULL) {
        int rc = sqlite3_prepare_v3(st->db, query_sql[q], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[q], NULL);
        if (rc != SQLITE_OK) {
            store_set_error(st, rc);
            st->stmt[q] = NULL;
        }
    }
    return st->stmt[q];
}

/* Runs one statement without a cache (start-up, migrations, lianpayctl). */
int store_exec(struct store *st, const char *sql)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        store_set_error(st, rc);
        return -1;
    }
    return 0;
}

static int run_cached(struct store *st, enum query q)
{
    sqlite3_stmt *s = store_prepared(st, q);
    int rc = s != NULL ? step_done(st, s) : -1;
    release(s);
    return rc;
}

/* ---- opening ------------------------------------------------------------------------------- */

static int read_int_pragma(struct store *st, const char *sql, int *out)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    if (prepare_once(st, sql, &s) < 0)
        goto out;
    if (step_row(st, s) != 1) {
        if (st->errcode == SQLITE_OK)
            store_set_errorf(st, SQLITE_ERROR, "%s returned nothing", sql);
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
    if (prepare_once(st, "PRAGMA journal_mode=WAL", &s) < 0)
        goto out;
    if (step_row(st, s) != 1)
        goto out;
    const unsigned char *mode = sqlite3_column_text(s, 0);
    if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
        /* Readers would block the writer (and the reverse) without WAL: refuse to run so. */
        store_set_errorf(st, SQLITE_ERROR, "cannot use WAL journal mode (got %s)",
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
        store_set_errorf(st, SQLITE_CONSTRAINT,
                         "migration %s refused: %" PRId64
                         " row%s break%s its constraints (%s); correct "
                         "or delete %s, then start again (README: upgrading the database): %s",
                         m->name, n, n == 1 ? "" : "s", n == 1 ? "s" : "", failed ? why : "?",
                         n == 1 ? "it" : "them", rows);
        return -1;
    }
    if (failed) {
        store_set_errorf(st, st->errcode, "migration %s: %s", m->name, why);
        return -1;
    }
    return 0;
}

/* Returns 0 when no row of the journal lost its order, else -1 naming the first. */
static int check_foreign_keys(struct store *st, const struct migration *m)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;

    if (prepare_once(st, "PRAGMA foreign_key_check", &s) < 0)
        goto out;
    int row = step_row(st, s);
    if (row == 1)
        store_set_errorf(
            st, SQLITE_CONSTRAINT, "migration %s: row %" PRId64 " of %s has no matching row in %s",
            m->name, (int64_t)sqlite3_column_int64(s, 1), (const char *)sqlite3_column_text(s, 0),
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

    if (store_exec(st, "BEGIN IMMEDIATE") < 0)
        return -1;
    if (read_int_pragma(st, "PRAGMA user_version", version) < 0)
        goto fail;
    if (*version < 0 || *version >= store_migrations_count) {
        if (store_exec(st, "COMMIT") < 0)
            goto fail;
        return 0;
    }
    const struct migration *m = &store_migrations[*version];
    if (store_exec(st, "CREATE TEMP TABLE migration_refusals (what TEXT NOT NULL)") < 0)
        goto fail;
    int failed = store_exec(st, m->sql) < 0;
    if (check_refusals(st, m, failed) < 0 || check_foreign_keys(st, m) < 0)
        goto fail;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m->number);
    if (store_exec(st, "DROP TABLE temp.migration_refusals") < 0 || store_exec(st, sql) < 0 ||
        store_exec(st, "COMMIT") < 0)
        goto fail;
    *version = m->number;
    return 0;
fail:
    if (!sqlite3_get_autocommit(st->db))
        (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Refuses a schema version this connection cannot use: newer than this build knows, or, for a
 * reader (which does not migrate), older. Returns -1 with err saying what to do. */
static int schema_refused(const struct store *st, int version, char *err, size_t errlen)
{
    if (st->mode == STORE_READ && version < store_migrations_count)
        snprintf(err, errlen,
                 "%s: schema version %d is older than this build's (%d): "
                 "start lianpay-notifyd once to migrate it",
                 st->path, version, store_migrations_count);
    else
        snprintf(err, errlen,
                 "%s: schema version %d is newer than this build knows (%d): "
                 "use a newer lianpay-notifyd",
                 st->path, version, store_migrations_count);
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

/* A test-only build may make SQLite checkpoint after every few pages (the power-cut test's
 * checkpoint and WAL-restart cases): LIANPAY_TEST_WAL_AUTOCHECKPOINT=N. */
static int test_autocheckpoint(struct store *st)
{
#ifdef LIANPAY_TEST_SYNCHRONOUS
    const char *v = getenv("LIANPAY_TEST_WAL_AUTOCHECKPOINT");
    char sql[64];
    if (v != NULL && *v != '\0') {
        snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint=%d", atoi(v));
        return store_exec(st, sql);
    }
#else
    (void)st;
#endif
    return 0;
}

static int open_writer(struct store *st, char *err, size_t errlen)
{
    int version = 0;

    if (set_wal(st) < 0 || store_exec(st, synchronous_pragma()) < 0 ||
        test_autocheckpoint(st) < 0 || store_exec(st, "PRAGMA foreign_keys=OFF") < 0 ||
        read_int_pragma(st, "PRAGMA user_version", &version) < 0)
        goto sqlfail;
    while (version >= 0 && version < store_migrations_count) {
        if (migrate_one(st, &version) < 0)
            goto sqlfail;
    }
    if (store_exec(st, "PRAGMA foreign_keys=ON") < 0)
        goto sqlfail;
    if (version != store_migrations_count)
        return schema_refused(st, version, err, errlen);
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
    if (version != store_migrations_count)
        return schema_refused(st, version, err, errlen);
    return 0;
}

/* The database file as SQLite opened it: the configured path with symbolic links resolved, so
 * that its directory and its -wal are the ones SQLite writes (a symlinked database.path has its
 * -wal beside the real file, not beside the link). */
static const char *real_path(struct store *st)
{
    const char *f = st->db != NULL ? sqlite3_db_filename(st->db, "main") : NULL;
    return f != NULL && f[0] != '\0' ? f : st->path;
}

/*
 * SQLite's process-wide settings, made once before the first connection opens. Memory-status
 * accounting off: with it on (the default), every malloc and free inside SQLite takes a global
 * mutex to keep counters that nothing here reads (no sqlite3_memory_used, sqlite3_status or heap
 * limit; /metrics reports the C library's heap): -7 % of the writer's instructions per message
 * (bench/round5-writer.md). sqlite3_config refuses (SQLITE_MISUSE) once SQLite is initialised,
 * as it is when a program used SQLite before its first store_open; that only costs the mutex.
 */
static pthread_once_t configure_once = PTHREAD_ONCE_INIT;

static void configure_sqlite(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
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
    (void)pthread_once(&configure_once, configure_sqlite);
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
                                        store_sql_unqueryable, NULL, NULL, NULL);
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
    if (mode == STORE_WRITE && store_sync_directory(real_path(st), err, errlen) < 0)
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
    char *dir_of = st->mode == STORE_WRITE && st->db != NULL ? strdup(real_path(st)) : NULL;
    /* close_v2 cannot fail on a busy connection; an open transaction is rolled back. */
    (void)sqlite3_close_v2(st->db);
    /* The last connection to close checkpoints the WAL into the database, syncs it and unlinks
     * the -wal; the unlink is durable once the directory is synced. Nothing acknowledged depends
     * on it (every frame of that WAL is in the synced database), so a failure is not reported. */
    if (dir_of != NULL)
        (void)store_sync_directory(dir_of, NULL, 0);
    free(dir_of);
    free(st->path);
    free(st);
}

/* ---- the writer's deferred sync ------------------------------------------------------------ */

struct store_wal {
    int fd;
    dev_t dev;
    ino_t ino;
    bool skip; /* the test knob: a daemon that never syncs, for the power-cut test to catch */
    char path[PATH_MAX];
};

/* The pragma the writer's connection commits with once its sync is deferred. The test knob
 * (tests/powercut/meson.build) sets OFF or NORMAL and skips the fdatasync as well: the daemon of
 * before without its sync, which the power-cut test must catch losing acknowledged messages. */
static const char *deferred_pragma(bool *skip)
{
    *skip = false;
#ifdef LIANPAY_TEST_SYNCHRONOUS
    const char *v = getenv("LIANPAY_TEST_SYNCHRONOUS");
    if (v != NULL && strcmp(v, "OFF") == 0) {
        *skip = true;
        return "PRAGMA synchronous=OFF";
    }
    if (v != NULL && strcmp(v, "NORMAL") == 0)
        *skip = true;
#endif
    return "PRAGMA synchronous=NORMAL";
}

struct store_wal *store_defer_sync(struct store *st, char *err, size_t errlen)
{
    struct store_wal *wal = calloc(1, sizeof(*wal));
    struct stat sb;

    if (wal == NULL) {
        snprintf(err, errlen, "%s: out of memory", st->path);
        return NULL;
    }
    wal->fd = -1;
    /* SQLite's own name for it: the database's path with symbolic links resolved, "-wal". */
    const char *db_file = sqlite3_db_filename(st->db, "main");
    const char *wal_file =
        db_file != NULL && db_file[0] != '\0' ? sqlite3_filename_wal(db_file) : NULL;
    if (wal_file == NULL) {
        snprintf(err, errlen, "%s: SQLite names no -wal file", st->path);
        goto fail;
    }
    snprintf(wal->path, sizeof(wal->path), "%s", wal_file);
    /* The connection is in WAL mode and has read the database (store_open), so its -wal exists
     * and stays, under this name, as long as the connection is open (writer.c, DESIGN). */
    wal->fd = open(wal->path, O_RDONLY | O_CLOEXEC);
    if (wal->fd < 0 || fstat(wal->fd, &sb) < 0) {
        snprintf(err, errlen, "%s: %s", wal->path, strerror(errno));
        goto fail;
    }
    wal->dev = sb.st_dev;
    wal->ino = sb.st_ino;
    if (store_exec(st, deferred_pragma(&wal->skip)) < 0) {
        snprintf(err, errlen, "%s: %s", st->path, st->errmsg);
        goto fail;
    }
    return wal;
fail:
    store_wal_close(wal);
    return NULL;
}

int store_wal_sync(struct store_wal *wal, char *err, size_t errlen)
{
    struct stat sb;

    if (wal->skip)
        return 0;
    if (fdatasync(wal->fd) < 0) {
        snprintf(err, errlen, "fdatasync %s: %s", wal->path, strerror(errno));
        return -1;
    }
    /* What was synced must be the file SQLite writes: it cannot have replaced it while the
     * writer's connection is open, and this checks that it did not. */
    errno = 0;
    if (stat(wal->path, &sb) < 0 || sb.st_dev != wal->dev || sb.st_ino != wal->ino) {
        snprintf(err, errlen, "%s: no longer the file that was synced (%s)", wal->path,
                 errno != 0 ? strerror(errno) : "another inode");
        return -1;
    }
    return 0;
}

void store_wal_close(struct store_wal *wal)
{
    if (wal == NULL)
        return;
    if (wal->fd >= 0)
        (void)close(wal->fd);
    free(wal);
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
        store_set_error(st, rc);
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

enum store_err store_err(struct store *st)
{
    switch (st->errcode & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_ERR_BUSY;
    case SQLITE_FULL:
        return STORE_ERR_FULL;
    case SQLITE_READONLY:
        return STORE_ERR_READONLY;
    case SQLITE_CANTOPEN:
        return st->mode == STORE_WRITE ? STORE_ERR_READONLY : STORE_ERR_SQL;
    case SQLITE_IOERR:
        return st->unwritable != 0 ? STORE_ERR_READONLY : STORE_ERR_IOERR;
    default:
        return STORE_ERR_SQL;
    }
}

const char *store_err_name(enum store_err kind)
{
    static const char *const names[STORE_ERR_COUNT] = {
        [STORE_ERR_BUSY] = "busy",   [STORE_ERR_FULL] = "full", [STORE_ERR_READONLY] = "readonly",
        [STORE_ERR_IOERR] = "ioerr", [STORE_ERR_SQL] = "sql",
    };
    return (unsigned)kind < STORE_ERR_COUNT ? names[kind] : "sql";
}

const char *store_errkind(struct store *st)
{
    return store_err_name(store_err(st));
}
