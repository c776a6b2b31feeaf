#ifndef LIANPAY_KEYRING_H
#define LIANPAY_KEYRING_H

#include "keys.h"

struct msg;

/* LianLian's public keys as the daemon currently trusts them, shared by the HTTP threads and the
 * reconciler, and replaced as a whole on reload (key rotation without a restart). Thread-safe. */
struct keyring;

/* Takes ownership of the keys in *initial (*initial is emptied). Returns NULL on ENOMEM. */
struct keyring *keyring_create(struct keyset *initial);
void keyring_destroy(struct keyring *kr);

/* sign_verify_msg against the current keys: index of the verifying key, or -1. */
int keyring_verify(struct keyring *kr, const struct msg *m);
/* sign_verify_text against the current keys: text is m's string to sign (sign_string). */
int keyring_verify_text(struct keyring *kr, const struct msg *m, const char *text, size_t len);

/* Replaces the keys with those in *next (taken over; *next is emptied); the old ones are freed
 * once no verification uses them. */
void keyring_replace(struct keyring *kr, struct keyset *next);

/* The first key of the set as it is now (design.md: pay_load is encrypted with it), with a
 * reference the caller releases with EVP_PKEY_free; NULL when the set is empty. */
EVP_PKEY *keyring_first(struct keyring *kr);

/* How many keys are trusted now. */
size_t keyring_count(struct keyring *kr);

#endif
