/*
 * Base64, decoded here by hand because OpenSSL's decoders are lenient (white space, line breaks,
 * missing padding, non-zero pad bits): a signature or a pay_load field has exactly one accepted
 * spelling, so a changed character can never decode to the same bytes. The only leniency is
 * opt-in: line breaks, which LianLian's Java code puts into pay_load fields. Pure functions.
 */
#include "b64.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define B64_ENCODE_MAX ((size_t)1 << 30)

/* Each byte's value in the alphabet, -1 for a byte outside it: one load per character instead
 * of a chain of range tests. Sixteen bytes a row, 0x00 to 0xff. */
/* clang-format off */
static const signed char b64_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
/* clang-format on */

static int b64_value(unsigned char c)
{
    return b64_values[c];
}

/* One group of 4 characters; the last group may end in "=" or "==" with zero pad bits. */
static int b64_group(const char *in, bool last, unsigned char *out, size_t *outlen)
{
    int pad = last ? (in[3] == '=') + (in[2] == '=' && in[3] == '=') : 0;
    unsigned long v = 0;

    for (int i = 0; i < 4 - pad; i++) {
        int d = b64_value((unsigned char)in[i]);
        if (d < 0)
            return -1;
        v = (v << 6) | (unsigned long)d;
    }
    v <<= 6 * pad;
    if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
        return -1;
    out[0] = (unsigned char)(v >> 16);
    out[1] = (unsigned char)(v >> 8);
    out[2] = (unsigned char)v;
    *outlen = 3 - (size_t)pad;
    return 0;
}

/* The text without its CR and LF, in a malloc'd copy. */
static char *without_line_breaks(const char *in, size_t len, size_t *outlen)
{
    char *out = malloc(len + 1);
    size_t n = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '\r' && in[i] != '\n')
            out[n++] = in[i];
    }
    *outlen = n;
    return out;
}

unsigned char *b64_decode(const char *in, size_t len, unsigned flags, size_t *outlen)
{
    char *clean = NULL;
    unsigned char *out = NULL;
    size_t o = 0, k = 0;

    if (flags & B64_LINE_BREAKS) {
        clean = without_line_breaks(in, len, &len);
        if (clean == NULL)
            goto nomem;
        in = clean;
    }
    if (len % 4 != 0)
        goto invalid;
    out = malloc(len / 4 * 3 + 1);
    if (out == NULL)
        goto nomem;
    for (size_t i = 0; i < len; i += 4) {
        if (b64_group(in + i, i + 4 == len, out + o, &k) < 0)
            goto invalid;
        o += k;
    }
    free(clean);
    *outlen = o;
    return out;
invalid:
    free(clean);
    free(out);
    errno = EINVAL;
    return NULL;
nomem:
    free(clean);
    errno = ENOMEM;
    return NULL;
}

char *b64_encode(const unsigned char *in, size_t len)
{
    char *out = NULL;

    /* EVP_EncodeBlock counts in int. */
    if (len > B64_ENCODE_MAX || (out = malloc((len + 2) / 3 * 4 + 1)) == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (EVP_EncodeBlock((unsigned char *)out, in, (int)len) < 0) {
        free(out);
        return NULL;
    }
    return out;
}
