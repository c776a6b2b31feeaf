/*
 * Files named by the configuration: who may read them and who could change them, judged from
 * their owner, group and mode. The configuration and LianLian's public keys decide which messages
 * the daemon believes, the merchant key signs as us: anyone who could rewrite one of them could
 * make the daemon record payouts that never happened. Used by config.c while loading (start-up,
 * -t, reload: the main thread only) and by service.c's start-up checks.
 */
#include "filecheck.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NSS_BUF 16384

/* Is gid the group of the user running this (primary or supplementary)? */
static bool in_group(gid_t gid)
{
    bool found = gid == getegid();
    int n = getgroups(0, NULL);
    gid_t *groups = n > 0 ? calloc((size_t)n, sizeof(*groups)) : NULL;

    if (groups != NULL)
        n = getgroups(n, groups);
    for (int i = 0; groups != NULL && i < n; i++) {
        if (groups[i] == gid)
            found = true;
    }
    free(groups);
    return found;
}

/* The permission bits that apply to the user running this, as the kernel picks them for anyone
 * but root: the owner's, else the group's, else the others'. */
static mode_t my_bits(const struct stat *st)
{
    if (st->st_uid == geteuid())
        return (st->st_mode >> 6) & 7;
    if (in_group(st->st_gid))
        return (st->st_mode >> 3) & 7;
    return st->st_mode & 7;
}

static const char *access_words(int amode)
{
    switch (amode) {
    case R_OK:
        return "readable";
    case W_OK:
        return "writable";
    case R_OK | W_OK:
        return "readable and writable";
    case W_OK | X_OK:
        return "writable and searchable";
    default:
        return "accessible";
    }
}

int filecheck_access(const char *path, int amode, char *why, size_t len)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        snprintf(why, len, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (geteuid() != 0) {
        /* For anyone but root the kernel's answer is exact, ACLs included. */
        if (faccessat(AT_FDCWD, path, amode, AT_EACCESS) == 0)
            return 0;
        if (errno != EACCES) {
            snprintf(why, len, "%s: not %s: %s", path, access_words(amode), strerror(errno));
            return -1;
        }
    } else if ((my_bits(&st) & (mode_t)amode) == (mode_t)amode) {
        /* Root passes over the bits, not over a read-only mount or an immutable file. */
        if (!(amode & W_OK) || access(path, W_OK) == 0)
            return 0;
        snprintf(why, len, "%s: not writable: %s", path, strerror(errno));
        return -1;
    }
    snprintf(why, len, "%s: not %s by uid %u (mode %04o, owner uid %u, group gid %u)", path,
             access_words(amode), (unsigned)geteuid(), (unsigned)(st.st_mode & 07777),
             (unsigned)st.st_uid, (unsigned)st.st_gid);
    return -1;
}

/* Is gid the private group of uid: its primary group, with no member listed but uid itself? */
static bool private_group(uid_t uid, gid_t gid)
{
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    char *buf = malloc(2 * NSS_BUF);
    bool alone = false;

    if (buf == NULL)
        return false;
    if (getpwuid_r(uid, &pw, buf, NSS_BUF, &pwp) != 0 || pwp == NULL || pw.pw_gid != gid)
        goto out;
    if (getgrgid_r(gid, &gr, buf + NSS_BUF, NSS_BUF, &grp) != 0 || grp == NULL)
        goto out;
    alone = true;
    for (char **m = gr.gr_mem; *m != NULL; m++) {
        if (strcmp(*m, pw.pw_name) != 0)
            alone = false;
    }
out:
    free(buf);
    return alone;
}

/* Could someone but the owner (and root) write what st describes? Names who in *who. */
static bool others_may_write(const struct stat *st, const char **who)
{
    bool sticky = S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX);

    if (sticky)
        return false;
    if (st->st_mode & S_IWOTH) {
        *who = "others";
        return true;
    }
    /* Looked up only for a group-writable file: most are not, and NSS may read /etc/group. */
    if ((st->st_mode & S_IWGRP) && !private_group(st->st_uid, st->st_gid)) {
        *who = "its group";
        return true;
    }
    return false;
}

/* The directory path is in, into dir (at most len bytes). */
static void parent_dir(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

static int check_dir_of(const char *path, const char *file, char *why, size_t len)
{
    char dir[PATH_MAX];
    struct stat st;
    const char *who = NULL;

    parent_dir(path, dir, sizeof(dir));
    if (stat(dir, &st) < 0) {
        snprintf(why, len, "%s: %s", dir, strerror(errno));
        return -1;
    }
    if (!others_may_write(&st, &who))
        return 0;
    snprintf(why, len,
             "%s is in %s, which %s may write to (mode %04o): it could be replaced; chmod go-w "
             "the directory or move the file",
             file, dir, who, (unsigned)(st.st_mode & 07777));
    return -1;
}

int filecheck_not_writable_by_others(const char *path, char *why, size_t len)
{
    struct stat st;
    const char *who = NULL;
    char real[PATH_MAX];

    if (stat(path, &st) < 0) {
        snprintf(why, len, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (others_may_write(&st, &who)) {
        snprintf(why, len, "%s is writable by %s (mode %04o); chmod go-w it", path, who,
                 (unsigned)(st.st_mode & 07777));
        return -1;
    }
    if (check_dir_of(path, path, why, len) < 0)
        return -1;
    /* Through a symbolic link, the file itself lives elsewhere: its directory counts too. */
    if (realpath(path, real) != NULL && strcmp(real, path) != 0 &&
        check_dir_of(real, path, why, len) < 0)
        return -1;
    return 0;
}

/* "uid N (name)" into buf. */
static const char *user_name(uid_t uid, char *buf, size_t len)
{
    struct passwd pw, *pwp = NULL;
    char nss[NSS_BUF];

    if (getpwuid_r(uid, &pw, nss, sizeof(nss), &pwp) == 0 && pwp != NULL)
        snprintf(buf, len, "uid %u (%s)", (unsigned)uid, pw.pw_name);
    else
        snprintf(buf, len, "uid %u", (unsigned)uid);
    return buf;
}

int filecheck_owned_by_me(const char *path, char *why, size_t len)
{
    struct stat st;
    char owner[96], me[96];

    if (stat(path, &st) < 0) {
        snprintf(why, len, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_uid == geteuid())
        return 0;
    snprintf(why, len, "%s is owned by %s, not by %s that runs this; chown it", path,
             user_name(st.st_uid, owner, sizeof(owner)), user_name(geteuid(), me, sizeof(me)));
    return -1;
}
