/*
 * The trusted LianLian keys. Verifications take the read side of a rwlock, so they run in
 * parallel on every HTTP thread; a reload takes the write side only for the pointer swap and
 * frees the old keys after it, so a verification never sees a half-replaced set.
 */
#include "keyring.h"

#include <pthread.h>
#include <stdlib.h>

#include "sign.h"

struct keyring {
    pthread_rwlock_t lock;
    struct keyset keys;
};

struct keyring *keyring_create(struct keyset *initial)
{
    struct keyring *kr = calloc(1, sizeof(*kr));
    if (kr == NULL)
        return NULL;
    /* Readers verify without pause under load; glibc's default lets them in ahead of a waiting
     * writer, so a key reload could wait for ever. No reader takes the lock twice. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&kr->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0) {
        free(kr);
        return NULL;
    }
    kr->keys = *initial;
    initial->keys = NULL;
    initial->n = 0;
    return kr;
}

void keyring_destroy(struct keyring *kr)
{
    if (kr == NULL)
        return;
    keys_set_finish(&kr->keys);
    pthread_rwlock_destroy(&kr->lock);
    free(kr);
}

int keyring_verify(struct keyring *kr, const struct msg *m)
{
    pthread_rwlock_rdlock(&kr->lock);
    int idx = sign_verify_msg(m, kr->keys.keys, kr->keys.n);
    pthread_rwlock_unlock(&kr->lock);
    return idx;
}

int keyring_verify_text(struct keyring *kr, const struct msg *m, const char *text, size_t len)
{
    pthread_rwlock_rdlock(&kr->lock);
    int idx = sign_verify_text(m, text, len, kr->keys.keys, kr->keys.n);
    pthread_rwlock_unlock(&kr->lock);
    return idx;
}

void keyring_replace(struct keyring *kr, struct keyset *next)
{
    pthread_rwlock_wrlock(&kr->lock);
    struct keyset old = kr->keys;
    kr->keys = *next;
    pthread_rwlock_unlock(&kr->lock);

    next->keys = NULL;
    next->n = 0;
    keys_set_finish(&old);
}

size_t keyring_count(struct keyring *kr)
{
    pthread_rwlock_rdlock(&kr->lock);
    size_t n = kr->keys.n;
    pthread_rwlock_unlock(&kr->lock);
    return n;
}

EVP_PKEY *keyring_first(struct keyring *kr)
{
    EVP_PKEY *k = NULL;
    pthread_rwlock_rdlock(&kr->lock);
    if (kr->keys.n > 0 && EVP_PKEY_up_ref(kr->keys.keys[0]) == 1)
        k = kr->keys.keys[0];
    pthread_rwlock_unlock(&kr->lock);
    return k;
}
