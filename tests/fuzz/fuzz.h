#ifndef LIANPAY_FUZZ_H
#define LIANPAY_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#include "keyring.h"
#include "keys.h"

/* A property that must hold for every input: a violation is a crash libFuzzer records. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A reason goes into a JSON answer and a log line as it is: printable ASCII, no quote or
 * backslash. */
static inline int fuzz_reason_ok(const char *why)
{
    if (why == NULL || *why == '\0')
        return 0;
    for (const char *p = why; *p; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
            return 0;
    }
    return 1;
}

/* The answers' targets (fuzz_query, fuzz_payout): LianLian's real key, whose genuine answers are
 * seeds, and the test key that signed the other seed answers; our merchant and order. */
#define FUZZ_OID_PARTNER "201801030001351894"
#define FUZZ_NO_ORDER    "LP2026112200001"
static inline struct keyring *fuzz_lianlian_ring(void)
{
    struct keyset ks = {0};
    char err[512];

    FUZZ_CHECK(keys_load_set(FUZZ_SOURCE_DIR "/../vectors/lianlian_public_key.pem " FUZZ_SOURCE_DIR
                                             "/keys/query_test_public.pem",
                             &ks, err, sizeof(err)) == 0);
    struct keyring *ring = keyring_create(&ks);
    FUZZ_CHECK(ring != NULL);
    return ring;
}

#endif
