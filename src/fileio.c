/*
 * Whole files into memory: the configuration, key and certificate files, messages given to the
 * command-line tools, the simulator's scripts. One reader for all of them, so that the limits,
 * the reasons given and the wiping of secrets are the same everywhere.
 *
 * A regular file's size is known ahead and read into one buffer of that size (and a byte for
 * the end of file); a pipe or standard input grows its buffer by doubling. A secret's buffer is
 * moved by hand rather than by realloc, which would free the old copy unwiped.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

/* The first buffer for a stream of unknown length. */
#define FIRST_CHUNK 4096

__attribute__((format(printf, 3, 4))) static void reason(char *why, size_t whylen, const char *fmt,
                                                         ...)
{
    va_list ap;

    if (why == NULL || whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

void fileio_free_secret(void *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}

static void drop(char *buf, size_t len, unsigned flags)
{
    if (flags & FILEIO_SECRET)
        fileio_free_secret(buf, len);
    else
        free(buf);
}

/* A buffer being filled: n bytes read into cap. */
struct growing {
    char *buf;
    size_t cap;
    size_t n;
};

/* Moves what was read into a buffer of cap bytes. Returns 0, or -1. */
static int grow(struct growing *g, size_t cap, unsigned flags)
{
    char *bigger;

    if (flags & FILEIO_SECRET) {
        bigger = malloc(cap);
        if (bigger == NULL)
            return -1;
        memcpy(bigger, g->buf, g->n);
        fileio_free_secret(g->buf, g->cap);
    } else {
        bigger = realloc(g->buf, cap);
        if (bigger == NULL)
            return -1;
    }
    g->buf = bigger;
    g->cap = cap;
    return 0;
}

/* Reads fd to its end, growing the buffer up to max + 2 bytes: the byte beyond max shows a file
 * too large, and one more keeps room for the NUL. Returns 0, or -1 with errno set. */
static int read_to_end(int fd, struct growing *g, size_t max, unsigned flags)
{
    for (;;) {
        if (g->n + 1 >= g->cap) {
            size_t more = g->cap < (max + 2) / 2 ? g->cap * 2 : max + 2;
            if (grow(g, more, flags) < 0) {
                errno = ENOMEM;
                return -1;
            }
        }
        ssize_t r = read(fd, g->buf + g->n, g->cap - 1 - g->n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        g->n += (size_t)r;
        if (g->n > max) {
            errno = EFBIG;
            return -1;
        }
    }
}

char *fileio_read(const char *path, size_t max, unsigned flags, size_t *len, char *why,
                  size_t whylen)
{
    bool from_stdin = (flags & FILEIO_STDIN) && strcmp(path, "-") == 0;
    int fd = from_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    struct growing g = {.cap = FIRST_CHUNK};
    struct stat st;
    int e = 0;

    if (fd < 0 || fstat(fd, &st) < 0) {
        e = errno;
        reason(why, whylen, "cannot open: %s", strerror(e));
        goto fail;
    }
    if ((flags & FILEIO_REGULAR) && !S_ISREG(st.st_mode)) {
        e = EINVAL;
        reason(why, whylen, "not a file");
        goto fail;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0)
        g.cap = (uint64_t)st.st_size < max ? (size_t)st.st_size + 2 : max + 2;
    else if (g.cap > max + 2)
        g.cap = max + 2;
    g.buf = malloc(g.cap);
    if (g.buf == NULL)
        errno = ENOMEM;
    if (g.buf == NULL || read_to_end(fd, &g, max, flags) < 0) {
        e = errno;
        if (e == ENOMEM)
            reason(why, whylen, "out of memory");
        else if (e == EFBIG)
            reason(why, whylen, "larger than %zu bytes", max);
        else
            reason(why, whylen, "cannot read: %s", strerror(e));
        drop(g.buf, g.cap, flags);
        goto fail;
    }
    g.buf[g.n] = '\0';
    *len = g.n;
    if (!from_stdin)
        close(fd);
    return g.buf;
fail:
    if (fd >= 0 && !from_stdin)
        close(fd);
    errno = e;
    return NULL;
}
