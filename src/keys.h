#ifndef LIANPAY_KEYS_H
#define LIANPAY_KEYS_H

#include <stddef.h>

/* OpenSSL's key type (<openssl/types.h> says the same): a pointer is all this header needs. */
typedef struct evp_pkey_st EVP_PKEY;

/*
 * Loads an RSA public key from a file holding either PEM ("BEGIN PUBLIC KEY", SubjectPublicKeyInfo)
 * or bare base64 of the DER SubjectPublicKeyInfo (LianLian's form; white space and line breaks
 * allowed). Returns the key (free with EVP_PKEY_free), or NULL with a one-line reason in err.
 */
EVP_PKEY *keys_load_public(const char *path, char *err, size_t errlen);

/*
 * Loads an RSA private key: PEM PKCS#8 ("BEGIN PRIVATE KEY"), PEM PKCS#1 ("BEGIN RSA PRIVATE KEY"),
 * or bare base64 of either DER form. Encrypted keys are refused. The reason in err never
 * contains key material.
 */
EVP_PKEY *keys_load_private(const char *path, char *err, size_t errlen);

/* A set of public keys, for rotation: a message verifies when any of them verifies it. */
struct keyset {
    EVP_PKEY **keys;
    size_t n;
};

/* Loads every file of a space-separated list. Returns 0, or -1 with the failing file named in err
 * (nothing is kept on failure). */
int keys_load_set(const char *paths, struct keyset *out, char *err, size_t errlen);
void keys_set_finish(struct keyset *ks);

/* Generates an RSA key pair of bits and writes the private key as PKCS#8 PEM (mode 0600) and the
 * public key as PEM SubjectPublicKeyInfo. Returns 0 or -1 with reason in err. */
int keys_generate(int bits, const char *private_path, const char *public_path, char *err,
                  size_t errlen);

#endif
