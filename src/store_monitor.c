/*
 * Counts for monitoring (store_pending): the orders still being chased and those waiting for a
 * person, for /metrics and the periodic summary. Read-only, on any connection, served by the
 * partial indexes so that it stays cheap with millions of final orders.
 */
#include "store.h"

#include <string.h>

#include "store_private.h"

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
        store_set_error(st, rc);
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
