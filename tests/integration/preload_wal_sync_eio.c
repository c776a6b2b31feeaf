/*
 * LD_PRELOAD for test_storage's failed-sync test: makes the daemon's own fdatasync of its -wal
 * (the writer's sync thread, src/writer.c) fail with EIO while the file named by
 * LIANPAY_TEST_SYNC_EIO exists, as a dying disk makes it fail, or makes it wait while the file
 * named by LIANPAY_TEST_SYNC_STALL exists, as a disk that stopped answering. SQLite's own syncs
 * (the checkpoints', the WAL header's) are left alone, so that the failure the daemon sees is the
 * sync thread's.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*fdatasync_fn)(int);

static int is_wal(int fd)
{
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n < 4)
        return 0;
    path[n] = '\0';
    return strcmp(path + n - 4, "-wal") == 0;
}

static int from_sqlite(const void *caller)
{
    Dl_info info;
    return dladdr(caller, &info) != 0 && info.dli_fname != NULL &&
           strstr(info.dli_fname, "libsqlite3") != NULL;
}

int fdatasync(int fd)
{
    static fdatasync_fn real;
    if (real == NULL) {
        /* POSIX's way to turn dlsym's object pointer into a function pointer. */
        void *sym = dlsym(RTLD_NEXT, "fdatasync");
        memcpy(&real, &sym, sizeof(real));
    }
    if (!is_wal(fd) || from_sqlite(__builtin_return_address(0)))
        return real(fd);
    const char *stall = getenv("LIANPAY_TEST_SYNC_STALL");
    while (stall != NULL && access(stall, F_OK) == 0) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    const char *eio = getenv("LIANPAY_TEST_SYNC_EIO");
    if (eio != NULL && access(eio, F_OK) == 0) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}
