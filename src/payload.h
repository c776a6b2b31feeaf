#ifndef LIANPAY_PAYLOAD_H
#define LIANPAY_PAYLOAD_H

#include <stddef.h>
#include <openssl/evp.h>

/*
 * pay_load (protocol.md, "pay_load encryption"): how payment.htm and confirmPayment.htm carry the
 * signed request, "lianpay1_0_1$P1$P2$P3$P4$P5", encrypted for LianLian's RSA key.
 */

/* What payload_decrypt made of a pay_load; the values are lianpay-sim decrypt's exit codes. */
enum payload_status {
    PAYLOAD_OK = 0,       /* the HMAC checks; the plaintext is LianLian's to read */
    PAYLOAD_TAMPERED = 1, /* well formed, keys decrypt, but the HMAC does not check */
    PAYLOAD_UNUSABLE = 2, /* not a pay_load for this key (form, base64, RSA, key format) */
};

/*
 * Encrypts plain (len bytes: the UTF-8 JSON of the signed request) for LianLian's public RSA key
 * with fresh keys and nonce from OpenSSL's CSPRNG. The fields are unwrapped base64. Returns the
 * pay_load as a malloc'd NUL-terminated string, or NULL (not an RSA key, no randomness, ENOMEM).
 */
char *payload_encrypt(EVP_PKEY *lianlian_public, const void *plain, size_t len);

/*
 * Decrypts a pay_load (len bytes, need not be NUL-terminated) with LianLian's private key, as
 * LianLian does. Line breaks (CR, LF) inside the base64 fields are accepted; the HMAC covers
 * P3 "$" P4 exactly as given, line breaks included. On PAYLOAD_OK, *out is the plaintext
 * (malloc'd, *out_len bytes plus a NUL the length does not count; the caller frees it).
 * Otherwise *out is NULL and *why a static one-line reason (no input bytes in it).
 */
enum payload_status payload_decrypt(EVP_PKEY *lianlian_private, const char *payload, size_t len,
                                    char **out, size_t *out_len, const char **why);

#endif
