#ifndef LIANPAY_B64_H
#define LIANPAY_B64_H

#include <stddef.h>

/* b64_decode flag: CR and LF anywhere in the text are skipped (base64 wrapped in lines). */
#define B64_LINE_BREAKS 1u

/*
 * Strict standard base64 of in[0..len): groups of four from the alphabet A-Z a-z 0-9 + /,
 * "=" or "==" only at the end, zero pad bits; nothing else (no white space unless flags allow
 * line breaks). Every byte string thus has exactly one accepted spelling. Empty text decodes to
 * zero bytes. Returns a malloc'd buffer (free it; at least one byte is allocated) with its length
 * in *outlen, or NULL with errno EINVAL (not such base64) or ENOMEM.
 */
unsigned char *b64_decode(const char *in, size_t len, unsigned flags, size_t *outlen);

/* Standard base64 of in[0..len) on one line with padding. Returns a malloc'd NUL-terminated
 * string, or NULL on ENOMEM. */
char *b64_encode(const unsigned char *in, size_t len);

#endif
