/*
 * Key pairs made at test time for the unit tests that sign and verify (test_query, test_keyring):
 * the public halves, as a key ring holds them, of private keys the test signs with.
 */
#ifndef LIANPAY_TESTKEYS_H
#define LIANPAY_TESTKEYS_H

#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "keys.h"

/* The public half of key. Fails the test on error. */
static inline EVP_PKEY *testkeys_public(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    assert_true(len > 0);
    const unsigned char *p = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, len);
    OPENSSL_free(der);
    assert_non_null(pub);
    return pub;
}

/* A key set of the public halves of keys[0..n), in that order (free with keys_set_finish). */
static inline struct keyset testkeys_set(EVP_PKEY *const *keys, size_t n)
{
    struct keyset ks = {calloc(n > 0 ? n : 1, sizeof(EVP_PKEY *)), n};
    assert_non_null(ks.keys);
    for (size_t i = 0; i < n; i++)
        ks.keys[i] = testkeys_public(keys[i]);
    return ks;
}

#endif
