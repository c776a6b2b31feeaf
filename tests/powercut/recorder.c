/*
 * The power-cut recorder (tests only): an LD_PRELOAD library that appends to a log, in the order
 * they happen, every change a process makes to the files of one directory and every sync of those
 * files or of the directory. tests/powercut/powercut.py reads the log and builds from it the
 * disks a power cut could leave (README.md, failure model).
 *
 * Why LD_PRELOAD: it sees the daemon's own system calls (create_database_file, its directory
 * syncs) as well as SQLite's, through the same libc symbols; an SQLite VFS shim would see only
 * SQLite's calls, and not even whether the unix VFS syncs a directory, which is the question. A
 * FUSE file system would need /dev/fuse, root and libfuse, and shared mappings of the -shm on
 * FUSE behave differently. strace of the daemon shows what SQLite (3.40, Debian) calls on these
 * files: open with O_CREAT, pwrite64, ftruncate, fdatasync (of files, and of the directory, opened
 * O_RDONLY, when a new journal or WAL is first synced), unlink; no rename, fallocate or fsync; the
 * database is read with pread (mmap_size is 0) and only the -shm is mapped, shared and writable.
 * What LD_PRELOAD cannot see (raw syscall(2), writes through a shared writable mapping, stdio's
 * internal writes, fcntl(F_DUPFD)) is unused here, and what the model has no rule for is reported:
 * a shared writable mapping of a recorded file, a hard or symbolic link, O_TMPFILE or a descriptor
 * duplicated with dup* is logged as REC_UNMODELLED and fails the test.
 *
 * Environment: LIANPAY_POWERCUT_DIR (absolute path of the directory), LIANPAY_POWERCUT_LOG (the
 * log, outside that directory, shared by every recorded process: each record is one writev on an
 * O_APPEND descriptor, which Linux never interleaves with another on a regular file),
 * LIANPAY_POWERCUT_KILL_AFTER=N (SIGKILL this process right after its Nth record: a cut at an
 * exact point, e.g. in the middle of the start-up), LIANPAY_POWERCUT_SQLITE_DIRSYNC=0 (directory
 * syncs made by libsqlite3 are skipped and not recorded, as in an SQLite built with
 * SQLITE_DISABLE_DIRSYNC: what the daemon promises must not rest on them),
 * LIANPAY_POWERCUT_KILL_BEFORE_SYNC=K (SIGKILL this process when it is about to make its Kth sync
 * of a -wal file that does not come from libsqlite3, i.e. the writer's sync thread: a cut between
 * the COMMITs of a batch, already written to the WAL, and the fdatasync that would answer them),
 * LIANPAY_POWERCUT_KILL_AFTER_RESTART=K (the same, at the first such sync after the Kth write of
 * a WAL header, at offset 0 of a -wal: SQLite restarting the WAL at its beginning).
 *
 * Order: a change is recorded after the call returned, a sync carries the size the log had when
 * the sync began, so that exactly the changes recorded before it count as covered. A process
 * killed between a call and its record loses that record: the change is then treated as lost,
 * which a power cut could also have done. The -shm (SQLite's WAL index, shared memory that SQLite
 * rebuilds) is not durable state and is not recorded.
 *
 * Threads: the descriptor table is written by open and close of the same descriptor, which the
 * program serialises; the log needs no lock (see above). The real functions are looked up once
 * (pthread_once), the environment read by a constructor.
 */
/* _GNU_SOURCE comes from the build. The wrappers below define each call under its own name and its
 * 64-bit alias (64-bit Linux, where off_t is off64_t): no redirection of the names by the headers.
 */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* The log's record header; powercut.py reads the same layout ("=IHHiiqqQII"). */
#define REC_MAGIC 0x50435554u /* "PCUT" */

enum rec_type {
    REC_OPEN = 1,   /* fd, ino, flags; name ("" for the directory itself) */
    REC_WRITE,      /* fd, a = offset; the bytes written */
    REC_TRUNCATE,   /* fd, a = new size */
    REC_FALLOCATE,  /* fd, a = offset, b = length, flags = mode */
    REC_UNLINK,     /* name */
    REC_RENAME,     /* "old\0new" */
    REC_SYNC,       /* fd, a = log size when the sync began, flags = REC_DATASYNC or 0 */
    REC_SYNC_ALL,   /* sync(2), syncfs(2): a = log size when it began */
    REC_UNMODELLED, /* text: something the model cannot replay */
};

/* REC_OPEN flags */
#define REC_O_CREAT     1
#define REC_O_TRUNC     2
#define REC_O_DIRECTORY 4
/* REC_SYNC flags */
#define REC_DATASYNC 1

struct rec {
    uint32_t magic;
    uint16_t type;
    uint16_t flags;
    int32_t pid;
    int32_t fd;
    int64_t a;
    int64_t b;
    uint64_t ino;
    uint32_t len;
    uint32_t pad;
};

enum kind { K_NONE, K_FILE, K_DIR, K_IGNORED };

#define FD_MAX 65536

static unsigned char kinds[FD_MAX];
static char dir[PATH_MAX];
static size_t dir_len;
static int log_fd = -1;
static long kill_after;
static long kill_before_sync;
static atomic_long own_wal_syncs;
static long kill_after_restart;
static atomic_long wal_headers;
static unsigned char wal_fd[FD_MAX];      /* the descriptor names a -wal file */
static _Thread_local int in_own_wal_sync; /* do_sync of a -wal, not from libsqlite3 */
static atomic_long records;
static int skip_sqlite_dirsync;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_truncate)(const char *, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static int (*real_linkat)(int, const char *, int, const char *, int);
static int (*real_symlinkat)(const char *, int, const char *);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static void (*real_sync)(void);
static int (*real_syncfs)(int);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);

/* The next definition of name (libc's, or a sanitizer's that ends in libc's). ISO C has no
 * conversion from dlsym's object pointer to a function pointer: the bytes are copied. */
static void resolve(const char *name, void *slot)
{
    void *p = dlsym(RTLD_NEXT, name);
    memcpy(slot, &p, sizeof(p));
}

#define RESOLVE(name) resolve(#name, &real_##name)

static void init_once(void)
{
    RESOLVE(openat);
    RESOLVE(close);
    RESOLVE(write);
    RESOLVE(pwrite);
    RESOLVE(writev);
    RESOLVE(pwritev);
    RESOLVE(pwritev2);
    RESOLVE(ftruncate);
    RESOLVE(truncate);
    RESOLVE(fallocate);
    RESOLVE(posix_fallocate);
    RESOLVE(unlinkat);
    RESOLVE(renameat2);
    RESOLVE(linkat);
    RESOLVE(symlinkat);
    RESOLVE(fsync);
    RESOLVE(fdatasync);
    RESOLVE(sync);
    RESOLVE(syncfs);
    RESOLVE(mmap);
    RESOLVE(dup);
    RESOLVE(dup2);
    RESOLVE(dup3);
}

/* The configuration, once libc is initialised: a sanitizer's start-up may call a wrapper before
 * that (from the program's preinit array), when getenv still sees no environment. */
__attribute__((constructor)) static void configure(void)
{
    pthread_once(&once, init_once);
    const char *d = getenv("LIANPAY_POWERCUT_DIR");
    const char *l = getenv("LIANPAY_POWERCUT_LOG");
    const char *k = getenv("LIANPAY_POWERCUT_KILL_AFTER");
    const char *s = getenv("LIANPAY_POWERCUT_SQLITE_DIRSYNC");
    const char *b = getenv("LIANPAY_POWERCUT_KILL_BEFORE_SYNC");
    const char *h = getenv("LIANPAY_POWERCUT_KILL_AFTER_RESTART");
    if (d == NULL || l == NULL || d[0] != '/' || strlen(d) >= sizeof(dir))
        return;
    snprintf(dir, sizeof(dir), "%s", d);
    dir_len = strlen(dir);
    while (dir_len > 1 && dir[dir_len - 1] == '/')
        dir[--dir_len] = '\0';
    kill_after = k != NULL ? strtol(k, NULL, 10) : 0;
    kill_before_sync = b != NULL ? strtol(b, NULL, 10) : 0;
    kill_after_restart = h != NULL ? strtol(h, NULL, 10) : 0;
    skip_sqlite_dirsync = s != NULL && strcmp(s, "0") == 0;
    log_fd = real_openat(AT_FDCWD, l, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

static int active(void)
{
    pthread_once(&once, init_once);
    return log_fd >= 0;
}

/* Appends one record; then dies if this was the record to cut after. */
static void emit(uint16_t type, uint16_t flags, int fd, int64_t a, int64_t b, uint64_t ino,
                 const void *p1, size_t n1, const void *p2, size_t n2)
{
    struct rec r = {
        .magic = REC_MAGIC,
        .type = type,
        .flags = flags,
        .pid = (int32_t)getpid(),
        .fd = fd,
        .a = a,
        .b = b,
        .ino = ino,
        .len = (uint32_t)(n1 + n2),
    };
    /* writev takes no const: the bytes are only read. */
    struct iovec v[3] = {{&r, sizeof(r)}, {(void *)(uintptr_t)p1, n1}, {(void *)(uintptr_t)p2, n2}};
    int saved = errno;

    (void)real_writev(log_fd, v, 3);
    if (type == REC_WRITE && a == 0 && fd >= 0 && fd < FD_MAX && wal_fd[fd])
        atomic_fetch_add(&wal_headers, 1);
    /* Not in the daemon's own sync of its -wal: that thread syncs while the writer thread writes,
     * and a kill there could fall between a write and its record. The cut then comes with the
     * next record, made by the thread that changes the files. */
    if (atomic_fetch_add(&records, 1) + 1 >= kill_after && kill_after > 0 && !in_own_wal_sync)
        kill(getpid(), SIGKILL);
    errno = saved;
}

static void unmodelled(const char *what, const char *name)
{
    emit(REC_UNMODELLED, 0, -1, 0, 0, 0, what, strlen(what), name, strlen(name));
}

static enum kind kind_of(int fd)
{
    return fd >= 0 && fd < FD_MAX ? (enum kind)kinds[fd] : K_NONE;
}

static void set_kind(int fd, enum kind k)
{
    if (fd >= 0 && fd < FD_MAX) {
        kinds[fd] = (unsigned char)k;
        wal_fd[fd] = 0;
    }
}

/* The name inside the directory that path (relative to dirfd) is, "" for the directory itself,
 * or NULL when it is elsewhere. */
static const char *name_in_dir(int dirfd, const char *path, char *buf, size_t len)
{
    char cwd[PATH_MAX];
    const char *full = path;

    if (path == NULL)
        return NULL;
    if (path[0] != '/') {
        if (dirfd != AT_FDCWD)
            return kind_of(dirfd) == K_DIR && strchr(path, '/') == NULL ? path : NULL;
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return NULL;
        int w = snprintf(buf, len, "%s/%s", cwd, path);
        if (w < 0 || (size_t)w >= len)
            return NULL;
        full = buf;
    }
    size_t n = strlen(full);
    while (n > 1 && full[n - 1] == '/')
        n--;
    if (n == dir_len && strncmp(full, dir, dir_len) == 0)
        return "";
    if (n > dir_len + 1 && strncmp(full, dir, dir_len) == 0 && full[dir_len] == '/' &&
        memchr(full + dir_len + 1, '/', n - dir_len - 1) == NULL)
        return full + dir_len + 1;
    return NULL;
}

static int ignored_name(const char *name)
{
    size_t n = strlen(name);
    return n >= 4 && strcmp(name + n - 4, "-shm") == 0;
}

static void after_open(int dirfd, const char *path, int flags, int fd)
{
    char buf[PATH_MAX];
    struct stat st;
    const char *name;

    if (fd < 0 || !active())
        return;
    /* A number the table still holds for a file closed behind its back (stdio's fclose) is
     * someone else's now. */
    set_kind(fd, K_NONE);
    if ((name = name_in_dir(dirfd, path, buf, sizeof(buf))) == NULL)
        return;
    if (ignored_name(name)) {
        set_kind(fd, K_IGNORED);
        return;
    }
    if (fstat(fd, &st) < 0)
        return;
    if ((flags & O_TMPFILE) == O_TMPFILE) {
        unmodelled("O_TMPFILE in ", name);
        return;
    }
    uint16_t f =
        (uint16_t)(((flags & O_CREAT) ? REC_O_CREAT : 0) | ((flags & O_TRUNC) ? REC_O_TRUNC : 0) |
                   (S_ISDIR(st.st_mode) ? REC_O_DIRECTORY : 0));
    set_kind(fd, S_ISDIR(st.st_mode) ? K_DIR : K_FILE);
    size_t n = strlen(name);
    if (fd < FD_MAX && n >= 4 && strcmp(name + n - 4, "-wal") == 0)
        wal_fd[fd] = 1;
    emit(REC_OPEN, f, fd, 0, 0, (uint64_t)st.st_ino, name, strlen(name), NULL, 0);
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

/* Each call that has an *at form goes through it: the kernel does the same. */
int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    pthread_once(&once, init_once);
    int fd = real_openat(dirfd, path, flags, mode);
    after_open(dirfd, path, flags, fd);
    return fd;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return openat(AT_FDCWD, path, flags, mode);
}

/* glibc's 64-bit and fortified names for the same calls. */
int open64(const char *path, int flags, ...) __attribute__((alias("open")));
int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int __open_2(const char *path, int flags);
int __open_2(const char *path, int flags)
{
    return openat(AT_FDCWD, path, flags);
}
int __open64_2(const char *path, int flags) __attribute__((alias("__open_2")));

int __openat_2(int dirfd, const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags)
{
    return openat(dirfd, path, flags);
}
int __openat64_2(int dirfd, const char *path, int flags) __attribute__((alias("__openat_2")));

int creat(const char *path, mode_t mode)
{
    return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}
int creat64(const char *path, mode_t mode) __attribute__((alias("creat")));

int close(int fd)
{
    pthread_once(&once, init_once);
    set_kind(fd, K_NONE); /* before the number can be handed out again */
    return real_close(fd);
}

static int recorded(int fd)
{
    return active() && kind_of(fd) == K_FILE;
}

static void record_iov(int fd, const struct iovec *iov, int n, off_t off, ssize_t done)
{
    for (int i = 0; i < n && done > 0; i++) {
        size_t len = iov[i].iov_len < (size_t)done ? iov[i].iov_len : (size_t)done;
        emit(REC_WRITE, 0, fd, off, 0, 0, iov[i].iov_base, len, NULL, 0);
        off += (off_t)len;
        done -= (ssize_t)len;
    }
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    pthread_once(&once, init_once);
    ssize_t r = real_pwrite(fd, buf, n, off);
    if (r > 0 && recorded(fd))
        emit(REC_WRITE, 0, fd, off, 0, 0, buf, (size_t)r, NULL, 0);
    return r;
}
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite")));

/* write and writev: the offset is where the file position was before (also with O_APPEND). */
ssize_t write(int fd, const void *buf, size_t n)
{
    pthread_once(&once, init_once);
    ssize_t r = real_write(fd, buf, n);
    if (r > 0 && recorded(fd))
        emit(REC_WRITE, 0, fd, lseek(fd, 0, SEEK_CUR) - r, 0, 0, buf, (size_t)r, NULL, 0);
    return r;
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    pthread_once(&once, init_once);
    ssize_t r = real_writev(fd, iov, n);
    if (r > 0 && recorded(fd))
        record_iov(fd, iov, n, lseek(fd, 0, SEEK_CUR) - r, r);
    return r;
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    pthread_once(&once, init_once);
    ssize_t r = real_pwritev(fd, iov, n, off);
    if (r > 0 && recorded(fd))
        record_iov(fd, iov, n, off, r);
    return r;
}
ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
    __attribute__((alias("pwritev")));

ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
    pthread_once(&once, init_once);
    ssize_t r = real_pwritev2(fd, iov, n, off, flags);
    if (r > 0 && recorded(fd))
        record_iov(fd, iov, n, off == -1 ? lseek(fd, 0, SEEK_CUR) - r : off, r);
    return r;
}
ssize_t pwritev64v2(int fd, const struct iovec *iov, int n, off_t off, int flags)
    __attribute__((alias("pwritev2")));

int ftruncate(int fd, off_t len)
{
    pthread_once(&once, init_once);
    int r = real_ftruncate(fd, len);
    if (r == 0 && recorded(fd))
        emit(REC_TRUNCATE, 0, fd, len, 0, 0, NULL, 0, NULL, 0);
    return r;
}
int ftruncate64(int fd, off_t len) __attribute__((alias("ftruncate")));

int truncate(const char *path, off_t len)
{
    char buf[PATH_MAX];
    const char *name;

    pthread_once(&once, init_once);
    int r = real_truncate(path, len);
    if (r == 0 && active() && (name = name_in_dir(AT_FDCWD, path, buf, sizeof(buf))) != NULL &&
        !ignored_name(name))
        unmodelled("truncate by name of ", name);
    return r;
}
int truncate64(const char *path, off_t len) __attribute__((alias("truncate")));

int fallocate(int fd, int mode, off_t off, off_t len)
{
    pthread_once(&once, init_once);
    int r = real_fallocate(fd, mode, off, len);
    if (r == 0 && recorded(fd))
        emit(REC_FALLOCATE, (uint16_t)mode, fd, off, len, 0, NULL, 0, NULL, 0);
    return r;
}
int fallocate64(int fd, int mode, off_t off, off_t len) __attribute__((alias("fallocate")));

int posix_fallocate(int fd, off_t off, off_t len)
{
    pthread_once(&once, init_once);
    int r = real_posix_fallocate(fd, off, len);
    if (r == 0 && recorded(fd))
        emit(REC_FALLOCATE, 0, fd, off, len, 0, NULL, 0, NULL, 0);
    return r;
}
int posix_fallocate64(int fd, off_t off, off_t len) __attribute__((alias("posix_fallocate")));

static void after_unlink(int dirfd, const char *path, int r)
{
    char buf[PATH_MAX];
    const char *name;

    if (r == 0 && active() && (name = name_in_dir(dirfd, path, buf, sizeof(buf))) != NULL &&
        name[0] != '\0' && !ignored_name(name))
        emit(REC_UNLINK, 0, -1, 0, 0, 0, name, strlen(name), NULL, 0);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    pthread_once(&once, init_once);
    int r = real_unlinkat(dirfd, path, flags);
    after_unlink(dirfd, path, r);
    return r;
}

int unlink(const char *path)
{
    return unlinkat(AT_FDCWD, path, 0);
}

static void after_rename(int olddirfd, const char *old, int newdirfd, const char *new,
                         unsigned flags, int r)
{
    char b1[PATH_MAX], b2[PATH_MAX];

    if (r != 0 || !active())
        return;
    const char *n1 = name_in_dir(olddirfd, old, b1, sizeof(b1));
    const char *n2 = name_in_dir(newdirfd, new, b2, sizeof(b2));
    if (n1 == NULL && n2 == NULL)
        return;
    if (n1 == NULL || n2 == NULL || (flags & ~(unsigned)RENAME_NOREPLACE) != 0)
        unmodelled("rename across the directory or with flags: ", n1 != NULL ? n1 : n2);
    else
        emit(REC_RENAME, 0, -1, 0, 0, 0, n1, strlen(n1) + 1, n2, strlen(n2));
}

int renameat2(int olddirfd, const char *old, int newdirfd, const char *new, unsigned flags)
{
    pthread_once(&once, init_once);
    int r = real_renameat2(olddirfd, old, newdirfd, new, flags);
    after_rename(olddirfd, old, newdirfd, new, flags, r);
    return r;
}

int renameat(int olddirfd, const char *old, int newdirfd, const char *new)
{
    return renameat2(olddirfd, old, newdirfd, new, 0);
}

int rename(const char *old, const char *new)
{
    return renameat2(AT_FDCWD, old, AT_FDCWD, new, 0);
}

static void after_link(int dirfd, const char *path, int r)
{
    char buf[PATH_MAX];
    const char *name;

    if (r == 0 && active() && (name = name_in_dir(dirfd, path, buf, sizeof(buf))) != NULL)
        unmodelled("link or symlink: ", name);
}

int linkat(int olddirfd, const char *old, int newdirfd, const char *new, int flags)
{
    pthread_once(&once, init_once);
    int r = real_linkat(olddirfd, old, newdirfd, new, flags);
    after_link(newdirfd, new, r);
    return r;
}

int link(const char *old, const char *new)
{
    return linkat(AT_FDCWD, old, AT_FDCWD, new, 0);
}

int symlinkat(const char *target, int dirfd, const char *path)
{
    pthread_once(&once, init_once);
    int r = real_symlinkat(target, dirfd, path);
    after_link(dirfd, path, r);
    return r;
}

int symlink(const char *target, const char *path)
{
    return symlinkat(target, AT_FDCWD, path);
}

/* Is the caller libsqlite3? Used only to skip SQLite's own directory syncs. */
static int from_sqlite(const void *caller)
{
    Dl_info info;
    return dladdr(caller, &info) != 0 && info.dli_fname != NULL &&
           strstr(info.dli_fname, "libsqlite3") != NULL;
}

static int do_sync(int fd, int (*real)(int), uint16_t flags, const void *caller)
{
    pthread_once(&once, init_once);
    enum kind k = active() ? kind_of(fd) : K_NONE;
    if (k == K_DIR && skip_sqlite_dirsync && from_sqlite(caller))
        return 0;
    int own = k == K_FILE && fd < FD_MAX && wal_fd[fd] && !from_sqlite(caller);
    if (own && kill_before_sync > 0 && atomic_fetch_add(&own_wal_syncs, 1) + 1 == kill_before_sync)
        kill(getpid(), SIGKILL);
    if (own && kill_after_restart > 0 && atomic_load(&wal_headers) >= kill_after_restart)
        kill(getpid(), SIGKILL);
    int64_t coverage = k == K_FILE || k == K_DIR ? (int64_t)lseek(log_fd, 0, SEEK_END) : 0;
    int r = real(fd);
    if (r == 0 && (k == K_FILE || k == K_DIR)) {
        in_own_wal_sync = own;
        emit(REC_SYNC, flags, fd, coverage, 0, 0, NULL, 0, NULL, 0);
        in_own_wal_sync = 0;
    }
    return r;
}

int fsync(int fd)
{
    pthread_once(&once, init_once);
    return do_sync(fd, real_fsync, 0, __builtin_return_address(0));
}

int fdatasync(int fd)
{
    pthread_once(&once, init_once);
    return do_sync(fd, real_fdatasync, REC_DATASYNC, __builtin_return_address(0));
}

/* sync_file_range is not intercepted: it makes nothing durable (no metadata, no flush of the
 * disk's cache; see its manual), and the model gives it no effect, which is what not recording
 * it does. msync only concerns mappings, and a shared writable mapping of a recorded file is
 * already reported by mmap below. */

void sync(void)
{
    pthread_once(&once, init_once);
    int64_t coverage = active() ? (int64_t)lseek(log_fd, 0, SEEK_END) : 0;
    real_sync();
    if (active())
        emit(REC_SYNC_ALL, 0, -1, coverage, 0, 0, NULL, 0, NULL, 0);
}

int syncfs(int fd)
{
    pthread_once(&once, init_once);
    int64_t coverage = active() ? (int64_t)lseek(log_fd, 0, SEEK_END) : 0;
    int r = real_syncfs(fd);
    if (r == 0 && active())
        emit(REC_SYNC_ALL, 0, -1, coverage, 0, 0, NULL, 0, NULL, 0);
    return r;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    pthread_once(&once, init_once);
    void *p = real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED && (prot & PROT_WRITE) && (flags & MAP_SHARED) && recorded(fd))
        unmodelled("shared writable mapping of a recorded file", "");
    return p;
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

static int after_dup(int old, int fd)
{
    if (fd >= 0 && active() && kind_of(old) != K_NONE && kind_of(old) != K_IGNORED)
        unmodelled("duplicated descriptor of a recorded file", "");
    return fd;
}

int dup(int old)
{
    pthread_once(&once, init_once);
    return after_dup(old, real_dup(old));
}

int dup2(int old, int fd)
{
    pthread_once(&once, init_once);
    set_kind(fd, K_NONE);
    return after_dup(old, real_dup2(old, fd));
}

int dup3(int old, int fd, int flags)
{
    pthread_once(&once, init_once);
    set_kind(fd, K_NONE);
    return after_dup(old, real_dup3(old, fd, flags));
}
