/*
 * libFuzzer target for what the reconciler does with a queryPayment answer
 * (query_classify_answer): parse, verify with the key ring, validate as the answer about one
 * order. The ring holds LianLian's real key and the test key that signed the seed answers in
 * corpus/query, so that mutations of genuine answers reach the checks behind the signature.
 * Properties: only a signed 0000 answer about our order, with valid fields, is a result; an
 * unsigned answer is never anything but "no record", "unsigned" or unusable.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "query.h"

#define OID_PARTNER FUZZ_OID_PARTNER
#define NO_ORDER    FUZZ_NO_ORDER

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyring *ring;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_init();
    ring = fuzz_lianlian_ring();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct query_answer a;

    memset(&a, 0, sizeof(a));
    query_classify_answer(OID_PARTNER, ring, NO_ORDER, (const char *)data, size, &a);
    FUZZ_CHECK(memchr(a.detail, '\0', sizeof(a.detail)) != NULL);
    switch (a.status) {
    case QUERY_RESULT:
        FUZZ_CHECK(a.signed_ok && strcmp(a.ret_code, "0000") == 0);
        FUZZ_CHECK(strcmp(a.result.no_order, NO_ORDER) == 0);
        FUZZ_CHECK(strcmp(a.result.oid_partner, OID_PARTNER) == 0 && a.result.amount_fen > 0);
        break;
    case QUERY_REFUSED:
    case QUERY_INVALID:
        FUZZ_CHECK(a.signed_ok);
        break;
    case QUERY_NO_RECORD:
        FUZZ_CHECK(strcmp(a.ret_code, "8901") == 0);
        break;
    case QUERY_UNSIGNED:
        FUZZ_CHECK(!a.signed_ok);
        break;
    case QUERY_TRANSPORT:
        break;
    case QUERY_STATUS_COUNT:
        FUZZ_CHECK(!"a status");
        break;
    }
    return 0;
}
