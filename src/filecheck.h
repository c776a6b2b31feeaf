#ifndef LIANPAY_FILECHECK_H
#define LIANPAY_FILECHECK_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Whether the user this process runs as may read (R_OK), write (W_OK) and search (X_OK) path, as
 * its permission bits say for that user alone: root's power to pass over them is not counted,
 * because the daemon runs as its own user and -t, often run as root, must find what start-up will
 * find. A read-only file system or an immutable file is not writable. Returns 0, or -1 with
 * "PATH: not readable by uid N (mode 0600, owner uid M)" or the like in why.
 */
int filecheck_access(const char *path, int amode, char *why, size_t len);

/*
 * Refuses a file that someone other than its owner could change: writable by others, writable by
 * its group unless that group is its owner's own (the user private group, with no other member),
 * or in a directory that others (or such a group) may write to without the sticky bit, where the
 * file could be replaced. Returns 0, or -1 with "PATH is writable by others (mode 0666); chmod
 * go-w it" or the like in why.
 */
int filecheck_not_writable_by_others(const char *path, char *why, size_t len);

/* Refuses a file that is not owned by the user this process runs as. Returns 0, or -1 with
 * "PATH is owned by uid N (name), not by uid M (name) that runs this" in why. */
int filecheck_owned_by_me(const char *path, char *why, size_t len);

#endif
