/*
 * keyring: the LianLian keys the daemon trusts, shared by every verifying thread and replaced as
 * a whole on reload. What a message signed by each key verifies as before, during and after a
 * rotation, who owns the keys handed over, and verifications racing with replacements (run it
 * under the sanitizers: a freed key in use is a use-after-free).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "keyring.h"
#include "keys.h"
#include "msg.h"
#include "sign.h"
#include "testkeys.h"

enum { OLD, NEW, OTHER, NKEYS };

struct fx {
    EVP_PKEY *key[NKEYS];  /* private keys */
    struct msg msg[NKEYS]; /* the same answer, signed by each */
};

static int group_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    for (int i = 0; i < NKEYS; i++) {
        fx->key[i] = EVP_RSA_gen(1024);
        assert_non_null(fx->key[i]);
        assert_int_equal(msg_set(&fx->msg[i], "ret_code", "8901"), 0);
        assert_int_equal(msg_set(&fx->msg[i], "ret_msg", "没有记录"), 0);
        assert_int_equal(sign_msg(&fx->msg[i], fx->key[i]), 0);
    }
    *state = fx;
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *fx = *state;
    for (int i = 0; i < NKEYS; i++) {
        EVP_PKEY_free(fx->key[i]);
        msg_finish(&fx->msg[i]);
    }
    free(fx);
    return 0;
}

/* A ring of the public halves of the keys named in which[0..n). */
static struct keyring *ring_of(struct fx *fx, const int *which, size_t n)
{
    EVP_PKEY *keys[NKEYS];
    for (size_t i = 0; i < n; i++)
        keys[i] = fx->key[which[i]];
    struct keyset ks = testkeys_set(keys, n);
    struct keyring *kr = keyring_create(&ks);
    assert_non_null(kr);
    assert_null(ks.keys); /* taken over */
    assert_int_equal(ks.n, 0);
    return kr;
}

static void replace(struct fx *fx, struct keyring *kr, const int *which, size_t n)
{
    EVP_PKEY *keys[NKEYS];
    for (size_t i = 0; i < n; i++)
        keys[i] = fx->key[which[i]];
    struct keyset ks = testkeys_set(keys, n);
    keyring_replace(kr, &ks);
    assert_null(ks.keys);
    assert_int_equal(ks.n, 0);
}

/* Each message verifies with the index of its key in the ring, or not at all (-1). */
static void assert_verifies(struct fx *fx, struct keyring *kr, int old, int new, int other)
{
    assert_int_equal(keyring_verify(kr, &fx->msg[OLD]), old);
    assert_int_equal(keyring_verify(kr, &fx->msg[NEW]), new);
    assert_int_equal(keyring_verify(kr, &fx->msg[OTHER]), other);
}

/* A rotation as an operator does it: old alone, old and new (either signs), new alone. */
static void test_rotation(void **state)
{
    struct fx *fx = *state;
    struct keyring *kr = ring_of(fx, (const int[]){OLD}, 1);

    assert_int_equal(keyring_count(kr), 1);
    assert_verifies(fx, kr, 0, -1, -1);
    replace(fx, kr, (const int[]){OLD, NEW}, 2);
    assert_int_equal(keyring_count(kr), 2);
    assert_verifies(fx, kr, 0, 1, -1);
    replace(fx, kr, (const int[]){NEW}, 1);
    assert_int_equal(keyring_count(kr), 1);
    assert_verifies(fx, kr, -1, 0, -1);
    keyring_destroy(kr);
}

/* An empty ring verifies nothing; a message without a sign member never verifies. */
static void test_empty_and_unsigned(void **state)
{
    struct fx *fx = *state;
    struct keyring *kr = ring_of(fx, NULL, 0);
    struct msg bare = {0};

    assert_int_equal(keyring_count(kr), 0);
    assert_verifies(fx, kr, -1, -1, -1);
    replace(fx, kr, (const int[]){OLD, NEW, OTHER}, 3);
    assert_verifies(fx, kr, 0, 1, 2);
    assert_int_equal(msg_set(&bare, "ret_code", "8901"), 0);
    assert_int_equal(keyring_verify(kr, &bare), -1);
    msg_finish(&bare);
    keyring_destroy(kr);
    keyring_destroy(NULL);
}

struct race {
    struct fx *fx;
    struct keyring *kr;
    atomic_bool stop;
    atomic_int wrong; /* verifications of OLD's message that did not verify */
    atomic_int verified;
};

/* OLD is in every ring the main thread swaps in, at index 0 or 1: its message always verifies. */
static void *verifier(void *arg)
{
    struct race *r = arg;
    while (!atomic_load(&r->stop)) {
        int idx = keyring_verify(r->kr, &r->fx->msg[OLD]);
        if (idx != 0 && idx != 1)
            atomic_fetch_add(&r->wrong, 1);
        if (keyring_verify(r->kr, &r->fx->msg[OTHER]) != -1)
            atomic_fetch_add(&r->wrong, 1);
        /* No pause between checks, as HTTP threads at full load: the ring's lock prefers a
         * waiting writer, or verifiers like these would hold every reload off for ever. */
        atomic_fetch_add(&r->verified, 1);
    }
    return NULL;
}

/* Four threads verify while the ring is replaced 200 times: no verification sees a half-replaced
 * set, and the sets replaced are freed (the sanitizers see a key used after it). */
static void test_replace_while_verifying(void **state)
{
    struct fx *fx = *state;
    struct race r = {.fx = fx, .kr = ring_of(fx, (const int[]){OLD}, 1)};
    pthread_t t[4];

    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, verifier, &r), 0);
    while (atomic_load(&r.verified) < 4)
        sched_yield(); /* the verifiers are under way */
    for (int i = 0; i < 200; i++) {
        if (i % 2 == 0)
            replace(fx, r.kr, (const int[]){NEW, OLD}, 2);
        else
            replace(fx, r.kr, (const int[]){OLD}, 1);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("# %d verifications during 200 replacements\n", atomic_load(&r.verified));
    assert_int_equal(atomic_load(&r.wrong), 0);
    assert_int_equal(keyring_count(r.kr), 1);
    keyring_destroy(r.kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_empty_and_unsigned),
        cmocka_unit_test(test_replace_while_verifying),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
