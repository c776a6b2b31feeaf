#ifndef LIANPAY_STORE_BACKUP_H
#define LIANPAY_STORE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* What a backup wrote. */
struct store_backup_result {
    int64_t bytes;      /* size of the finished file */
    int64_t elapsed_ms; /* from the first page copied to the directory's fsync */
};

/*
 * Copies st's database, as one consistent snapshot, into path (design: README, backups): the
 * online backup API into path.tmp, PRAGMA integrity_check on the copy, fsync, rename over path,
 * fsync of the directory. path is never half-written: on failure path.tmp is removed and path
 * is untouched. When st is writable the run is recorded in the backups table (ok = 1 with the
 * bytes, or ok = 0 with the error). Returns 0, or -1 with a one-line reason in err.
 */
int store_backup(struct store *st, const char *path, struct store_backup_result *res, char *err,
                 size_t errlen);

/* What an archive moved. */
struct store_archive_result {
    int64_t orders;
    int64_t events;
};

/*
 * Moves the final orders with final_at < before (ISO-8601 UTC ms), not flagged for review and
 * without a payout, with their journal, from st (writable) into the archive database path
 * (created with the project's migrations if new), in one transaction through archive_permit
 * (sql/0005). A no_order already in the archive refuses the whole run. Returns 0, or -1 with a
 * one-line reason in err (nothing moved).
 */
int store_archive(struct store *st, const char *before, const char *path,
                  struct store_archive_result *res, char *err, size_t errlen);

#endif
