/*
 * The test vectors (tests/vectors, or $LIANPAY_TEST_VECTORS as meson sets it) for the unit tests
 * that read them: a vector's path, and its bytes through the library's own fileio_read.
 */
#ifndef LIANPAY_TESTVECTORS_H
#define LIANPAY_TESTVECTORS_H

#include <stdio.h>
#include <stdlib.h>

#include "fileio.h"

static inline const char *testvec_dir(void)
{
    const char *d = getenv("LIANPAY_TEST_VECTORS");
    return d != NULL ? d : "tests/vectors";
}

/* The path of vector NAME (relative to the vectors' folder), in a buffer the next call reuses. */
static inline const char *testvec_path(const char *name)
{
    static char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", testvec_dir(), name);
    if (n < 0 || (size_t)n >= sizeof(path))
        fail_msg("the path of vector %s is longer than %zu bytes", name, sizeof(path) - 1);
    return path;
}

/* The whole file at PATH, NUL-terminated (free it); fails the test when it cannot be read. */
static inline char *testvec_read_path(const char *path, size_t *len)
{
    char why[256];
    size_t n = 0;
    char *buf = fileio_read(path, 1 << 20, FILEIO_REGULAR, &n, why, sizeof(why));

    if (buf == NULL)
        fail_msg("%s: %s", path, why);
    if (len != NULL)
        *len = n;
    return buf;
}

/* The whole vector NAME, as testvec_read_path. */
static inline char *testvec_read(const char *name, size_t *len)
{
    return testvec_read_path(testvec_path(name), len);
}

#endif
