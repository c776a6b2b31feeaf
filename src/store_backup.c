/*
 * Backups and archiving of the database (store_backup.h; README: backups, restore, archive).
 * Used by lianpayctl only, single-threaded, on its own connection beside the running daemon.
 *
 * backup: one read transaction is held on the source for the whole copy, so that every
 * sqlite3_backup_step reads the same WAL snapshot: the copy is consistent, and the daemon's
 * commits meanwhile neither restart the copy nor wait for it (WAL readers do not block the
 * writer). The copy is switched to journal_mode=DELETE so that the backup is one self-contained
 * file (the daemon turns WAL back on when it opens a restored copy).
 *
 * archive: the archive file is created and migrated by store_open, then ATTACHed to the live
 * connection; INSERT … SELECT into it and DELETE from the live one happen in one BEGIN
 * IMMEDIATE … COMMIT, the journal rows through sql/0005's archive_permit. SQLite commits a
 * transaction over a WAL database and an attached one per file: a power cut inside COMMIT may
 * leave the rows in both files (never in neither); a second run then refuses them by name, as
 * it refuses any no_order the archive already holds.
 */
#include "store_backup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_private.h"
#include "timeutil.h"

/* Pages copied per sqlite3_backup_step: 4096 pages of 4 KiB are 16 MiB between checks. */
#define BACKUP_STEP_PAGES 4096

/* Runs sql on db; returns 0, or -1 with SQLite's message in err. */
static int db_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "%s: %s", what, msg != NULL ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

/* Refuses a target that is st's own database file (a backup renamed over it, or an archive
 * attached to it, would lose what the daemon writes). */
static int refuse_own_file(struct store *st, const char *path, char *err, size_t errlen)
{
    struct stat a, b;

    if (stat(path, &a) < 0 || stat(st->path, &b) < 0)
        return 0;
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return 0;
    snprintf(err, errlen, "%s is the database itself: name another file", path);
    return -1;
}

/* PRAGMA integrity_check on the copy: 0 when it says "ok", else -1 with its first complaint. */
static int check_copy(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;

    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        snprintf(err, errlen, "integrity_check: %s", sqlite3_errmsg(db));
        goto out;
    }
    const char *verdict = (const char *)sqlite3_column_text(s, 0);
    if (verdict == NULL || strcmp(verdict, "ok") != 0) {
        snprintf(err, errlen, "integrity_check of the copy: %s", verdict ? verdict : "no answer");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(s);
    return ret;
}

/* Copies st's database into tmp with the online backup API inside one read transaction. */
static int copy_snapshot(struct store *st, const char *tmp, char *err, size_t errlen)
{
    sqlite3 *dst = NULL;
    sqlite3_backup *b = NULL;
    int in_read = 0;
    int ret = -1;
    int rc;

    /* A read transaction starts at the first read: the SELECT pins the snapshot. */
    if (db_exec(st->db, "BEGIN; SELECT count(*) FROM sqlite_schema", "snapshot", err, errlen) < 0)
        goto out;
    in_read = 1;
    rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", tmp, dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        goto out;
    }
    b = sqlite3_backup_init(dst, "main", st->db, "main");
    if (b == NULL) {
        snprintf(err, errlen, "%s: %s", tmp, sqlite3_errmsg(dst));
        goto out;
    }
    do
        rc = sqlite3_backup_step(b, BACKUP_STEP_PAGES);
    while (rc == SQLITE_OK);
    rc = sqlite3_backup_finish(b);
    b = NULL;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: backup: %s", tmp, sqlite3_errmsg(dst));
        goto out;
    }
    if (db_exec(dst, "PRAGMA journal_mode=DELETE", tmp, err, errlen) < 0 ||
        check_copy(dst, err, errlen) < 0)
        goto out;
    rc = sqlite3_close(dst);
    dst = NULL;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: close: %s", tmp, sqlite3_errstr(rc));
        goto out;
    }
    ret = 0;
out:
    if (b != NULL)
        (void)sqlite3_backup_finish(b);
    (void)sqlite3_close_v2(dst);
    if (in_read)
        (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

/* fsyncs path and returns its size in *bytes. */
static int sync_file(const char *path, int64_t *bytes, char *err, size_t errlen)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0 || fstat(fd, &sb) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *bytes = (int64_t)sb.st_size;
    return close(fd);
}

/* The backups row of this run (a writable st only). Fails quietly: the backup itself stands. */
static int record(struct store *st, const char *path, int64_t started, int64_t bytes,
                  const char *error)
{
    static const char sql[] =
        "INSERT INTO backups(started_at, finished_at, path, bytes, ok, error) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    char start_iso[TIME_ISO_LEN], end_iso[TIME_ISO_LEN];
    sqlite3_stmt *s = NULL;
    int ret = -1;

    if (st->mode != STORE_WRITE)
        return 0;
    time_iso(started, start_iso);
    time_iso(time_now_ms(), end_iso);
    if (prepare_once(st, sql, &s) < 0)
        return -1;
    if (bind_text(st, s, 1, start_iso) || bind_text(st, s, 2, end_iso) ||
        bind_text(st, s, 3, path) ||
        check_bind(st, error ? sqlite3_bind_null(s, 4) : sqlite3_bind_int64(s, 4, bytes)) ||
        bind_int(st, s, 5, error ? 0 : 1) || bind_text(st, s, 6, error) || step_done(st, s))
        goto out;
    ret = 0;
out:
    sqlite3_finalize(s);
    return ret;
}

int store_backup(struct store *st, const char *path, struct store_backup_result *res, char *err,
                 size_t errlen)
{
    int64_t started = time_now_ms();
    int64_t mono = time_mono_ms();
    char *tmp = NULL;
    int ret = -1;

    if (refuse_own_file(st, path, err, errlen) < 0)
        return -1;
    size_t len = strlen(path) + sizeof(".tmp");
    if ((tmp = malloc(len)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(tmp, len, "%s.tmp", path);
    /* A leftover of a crashed run is ours to replace; a fresh copy must start empty. */
    if (unlink(tmp) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (copy_snapshot(st, tmp, err, errlen) < 0 || sync_file(tmp, &res->bytes, err, errlen) < 0)
        goto out;
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
        goto out;
    }
    if (store_sync_directory(path, err, errlen) < 0)
        goto out;
    res->elapsed_ms = time_mono_ms() - mono;
    ret = 0;
out:
    if (ret < 0 && tmp != NULL)
        (void)unlink(tmp);
    free(tmp);
    if (record(st, path, started, res->bytes, ret < 0 ? err : NULL) < 0 && ret == 0) {
        snprintf(err, errlen, "%s written, but not recorded in backups: %s", path, st->errmsg);
        ret = -1;
    }
    return ret;
}

/* ---- archive -------------------------------------------------------------------------------- */

/* The orders archive moves, as a WHERE clause on payments p with the cutoff as ?1; the same
 * conditions as sql/0005's trigger, which has the last word. */
#define ARCHIVE_ORDERS                                                                             \
    "p.needs_review = 0 AND p.final_at IS NOT NULL AND p.final_at < ?1 "                           \
    "AND (p.result_pay = 'SUCCESS' OR p.result_pay = 'FAILURE' OR p.result_pay = 'CANCEL' "        \
    "OR p.result_pay = 'CLOSED') "                                                                 \
    "AND NOT EXISTS (SELECT 1 FROM main.payouts o WHERE o.no_order = p.no_order)"

/* Runs sql (with before bound as ?1 if it has a parameter) and adds the rows it changed to *count
 * when count is set. */
static int archive_step(struct store *st, const char *sql, const char *before, int64_t *count)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;

    if (prepare_once(st, sql, &s) < 0)
        return -1;
    if ((sqlite3_bind_parameter_count(s) > 0 && bind_text(st, s, 1, before)) || step_done(st, s))
        goto out;
    if (count != NULL)
        *count += sqlite3_changes64(st->db);
    ret = 0;
out:
    sqlite3_finalize(s);
    return ret;
}

/* Refuses the run when the archive already holds one of the orders to move, naming it. */
static int archive_refuse_known(struct store *st, const char *before)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;

    if (prepare_once(st,
                     "SELECT p.no_order FROM main.payments p WHERE " ARCHIVE_ORDERS
                     " AND EXISTS (SELECT 1 FROM archive.payments a WHERE a.no_order = p.no_order)"
                     " LIMIT 1",
                     &s) < 0)
        return -1;
    if (bind_text(st, s, 1, before) < 0)
        goto out;
    int r = step_row(st, s);
    if (r < 0)
        goto out;
    if (r == 1) {
        char no_order[64];
        column_copy(s, 0, no_order, sizeof(no_order));
        store_set_errorf(st, SQLITE_CONSTRAINT,
                         "the archive already holds order %s (archived before?): nothing moved",
                         no_order);
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(s);
    return ret;
}

/* The moves, in order: the permit, the copies (orders before their events: the archive's
 * foreign key), a refusal if the archive already had one of them, the deletes (events first:
 * the trigger looks at their order), the permit gone. */
static int archive_moves(struct store *st, const char *before, struct store_archive_result *res)
{
    int64_t copied_orders = 0, copied_events = 0, deleted_events = 0;

    if (archive_refuse_known(st, before) < 0 ||
        archive_step(st, "INSERT INTO main.archive_permit(id, before) VALUES (1, ?1)", before,
                     NULL) < 0 ||
        archive_step(
            st, "INSERT INTO archive.payments SELECT * FROM main.payments p WHERE " ARCHIVE_ORDERS,
            before, &copied_orders) < 0 ||
        archive_step(st,
                     "INSERT INTO archive.payment_events SELECT e.* FROM main.payment_events e "
                     "JOIN main.payments p ON p.no_order = e.no_order WHERE " ARCHIVE_ORDERS,
                     before, &copied_events) < 0 ||
        archive_step(st,
                     "DELETE FROM main.payment_events WHERE no_order IN (SELECT p.no_order FROM "
                     "main.payments p WHERE " ARCHIVE_ORDERS ")",
                     before, &deleted_events) < 0 ||
        archive_step(st, "DELETE FROM main.payments AS p WHERE " ARCHIVE_ORDERS, before,
                     &res->orders) < 0 ||
        archive_step(st, "DELETE FROM main.archive_permit", before, NULL) < 0)
        return -1;
    res->events = deleted_events;
    if (copied_orders != res->orders || copied_events != deleted_events) {
        store_set_errorf(st, SQLITE_CONSTRAINT,
                         "copied %" PRId64 " orders and %" PRId64 " events but removed %" PRId64
                         " and %" PRId64,
                         copied_orders, copied_events, res->orders, deleted_events);
        return -1;
    }
    return 0;
}

/* Creates or migrates the archive file with the project's migrations. */
static int archive_prepare(const char *path, char *err, size_t errlen)
{
    struct store *arc = store_open(path, STORE_WRITE, err, errlen);
    if (arc == NULL)
        return -1;
    store_close(arc);
    return 0;
}

int store_archive(struct store *st, const char *before, const char *path,
                  struct store_archive_result *res, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int attached = 0;
    int ret = -1;

    res->orders = res->events = 0;
    if (refuse_own_file(st, path, err, errlen) < 0 || archive_prepare(path, err, errlen) < 0)
        return -1;
    if (prepare_once(st, "ATTACH DATABASE ?1 AS archive", &s) < 0 || bind_text(st, s, 1, path) ||
        step_done(st, s))
        goto out;
    attached = 1;
    if (store_begin(st) < 0)
        goto out;
    if (archive_moves(st, before, res) < 0 || store_commit(st) < 0) {
        char why[sizeof(st->errmsg)];
        snprintf(why, sizeof(why), "%s", st->errmsg);
        (void)store_rollback(st);
        snprintf(st->errmsg, sizeof(st->errmsg), "%s", why);
        res->orders = res->events = 0;
        goto out;
    }
    ret = 0;
out:
    if (ret < 0)
        snprintf(err, errlen, "%s: %s", path, st->errmsg);
    sqlite3_finalize(s);
    if (attached)
        (void)sqlite3_exec(st->db, "DETACH DATABASE archive", NULL, NULL, NULL);
    return ret;
}
