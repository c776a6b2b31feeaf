#ifndef LIANPAY_CTL_BACKUP_H
#define LIANPAY_CTL_BACKUP_H

#include <stdio.h>

struct store;

/*
 * lianpayctl backup FILE and archive --before DATE FILE (README: backups, restore, archive).
 * Each takes its verb's argv (argv[0] the verb) and an open store (writable for archive; for
 * backup writable when the run is to be recorded), prints one result line on out and a
 * one-line reason on stderr, and returns the exit status: 0 done, 2 unusable input or a
 * failure (nothing half-written, nothing moved).
 */
int ctl_backup_backup(struct store *st, int argc, char **argv, FILE *out);
int ctl_backup_archive(struct store *st, int argc, char **argv, FILE *out);

#endif
