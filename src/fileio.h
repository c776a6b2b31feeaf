#ifndef LIANPAY_FILEIO_H
#define LIANPAY_FILEIO_H

#include <stddef.h>

/* How fileio_read reads. */
enum fileio_flags {
    /* The bytes are a secret (a private key): every buffer that held them is wiped before it is
     * freed, also the ones given up on the way; free the result with fileio_free_secret. */
    FILEIO_SECRET = 1,
    /* Anything but a regular file is refused ("not a file"). */
    FILEIO_REGULAR = 2,
    /* "-" is standard input. */
    FILEIO_STDIN = 4,
};

/*
 * Reads all of path, at most max bytes, with read(2) (no stdio buffer keeps a copy), into a
 * malloc'd buffer with a NUL after the *len bytes read. Returns NULL with errno set and the
 * reason in why, without the path: "cannot open: ...", "not a file", "larger than MAX bytes"
 * (errno EFBIG, so that a caller may say what the file was meant to be), "cannot read: ...",
 * "out of memory".
 */
char *fileio_read(const char *path, size_t max, unsigned flags, size_t *len, char *why,
                  size_t whylen);

/* Wipes len bytes of p (OPENSSL_cleanse, which the compiler cannot leave out) and frees it.
 * NULL is accepted. */
void fileio_free_secret(void *p, size_t len);

#endif
