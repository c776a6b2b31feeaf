/*
 * A database of its own for each unit test that opens one (test_store, test_writer): a fresh
 * directory under $TMPDIR, removed with the database's WAL files afterwards, and the plain SQLite
 * reads the tests check rows with, as internal tools would read them.
 */
#ifndef LIANPAY_TESTDB_H
#define LIANPAY_TESTDB_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Makes $TMPDIR/NAME.XXXXXX into dir and names the database in it (payments.db) in path. */
static inline void testdb_make(const char *name, char *dir, size_t dirlen, char *path,
                               size_t pathlen)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, dirlen, "%s/%s.XXXXXX", tmp != NULL ? tmp : "/tmp", name);
    assert_non_null(mkdtemp(dir));
    snprintf(path, pathlen, "%s/payments.db", dir);
}

/* Removes the database at path with its -wal, -shm and -journal files, the file `extra` in dir
 * (unless NULL), then dir, which must then be empty. */
static inline void testdb_remove(const char *dir, const char *path, const char *extra)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[4096];

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
        unlink(p);
    }
    if (extra != NULL) {
        snprintf(p, sizeof(p), "%s/%s", dir, extra);
        unlink(p);
    }
    if (rmdir(dir) != 0)
        fail_msg("cannot remove %s", dir);
}

/* Runs sql on db, failing the test when it fails. */
static inline void testdb_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

/* The first column of the first row of sql as text in buf: "NULL" for NULL, "NOROW" for no row.
 * Returns buf. */
static inline const char *testdb_text(sqlite3 *db, const char *sql, char *buf, size_t len)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(s, 0);
        snprintf(buf, len, "%s", v != NULL ? (const char *)v : "NULL");
    } else if (rc == SQLITE_DONE) {
        snprintf(buf, len, "NOROW");
    } else {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    sqlite3_finalize(s);
    return buf;
}

/* testdb_text of the SQL that fmt and ap make. */
static inline const char *testdb_vtext(sqlite3 *db, char *buf, size_t len, const char *fmt,
                                       va_list ap)
{
    char sql[1024];
    int n = vsnprintf(sql, sizeof(sql), fmt, ap);
    assert_true(n >= 0 && (size_t)n < sizeof(sql));
    return testdb_text(db, sql, buf, len);
}

/* testdb_text of the SQL that fmt and the arguments make. */
__attribute__((format(printf, 4, 5))) static inline const char *
testdb_textf(sqlite3 *db, char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    testdb_vtext(db, buf, len, fmt, ap);
    va_end(ap);
    return buf;
}

#endif
