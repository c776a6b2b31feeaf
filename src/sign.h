#ifndef LIANPAY_SIGN_H
#define LIANPAY_SIGN_H

#include <stddef.h>
#include <openssl/evp.h>

struct msg;

/*
 * The string LianLian signs (protocol.md): every member but "sign", members whose value is
 * null or "" dropped, sorted by key case-insensitively (shorter first on a tie), joined as
 * key=value with '&'. Returns a malloc'd NUL-terminated string (length in *len if len is not
 * NULL), or NULL on ENOMEM.
 */
char *sign_string(const struct msg *m, size_t *len);

/*
 * MD5withRSA check of the message's "sign" member against each of keys[0..nkeys).
 * Returns the index of the key that verifies, or -1 (no sign member, bad base64, no key verifies).
 */
int sign_verify_msg(const struct msg *m, EVP_PKEY *const *keys, size_t nkeys);

/* The same check when the caller has the message's string to sign already (text, len: what
 * sign_string returned for m), so that it is built once per message. */
int sign_verify_text(const struct msg *m, const char *text, size_t len, EVP_PKEY *const *keys,
                     size_t nkeys);

/* MD5withRSA check of b64sig over data with one key. Returns 0 when valid, -1 otherwise. */
int sign_verify(EVP_PKEY *key, const char *data, size_t len, const char *b64sig);

/* MD5withRSA signature of data, standard base64 on one line. Returns malloc'd string or NULL. */
char *sign_data(EVP_PKEY *key, const char *data, size_t len);

/* Sets "sign_type" to "RSA" and "sign" to the signature of the resulting message.
 * Returns 0, or -1 on failure. */
int sign_msg(struct msg *m, EVP_PKEY *key);

#endif
