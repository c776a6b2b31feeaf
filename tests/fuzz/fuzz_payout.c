/*
 * libFuzzer target for what the submit thread does with a payment.htm or confirmPayment.htm
 * answer (payout_classify_answer): parse, verify with the key ring, check it is about our
 * request, classify. The ring holds LianLian's real key (the seeds apply_4002/apply_4005 are its
 * genuine answers) and the test key that signed the seed 0000 answer. The first input byte picks
 * the call. Properties: an answer that did not verify is always unknown; review after an apply
 * carries a 6-digit confirm code; accepted is a signed 0000.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "payout.h"

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
    struct payout_answer a;
    /* An even first byte is an apply, an odd one a confirm: the seeds that start with '{' are
     * confirm answers, the *.as_apply.json seeds start with a space. */
    enum payout_call call = size > 0 && (data[0] & 1) ? PAYOUT_CONFIRM : PAYOUT_APPLY;

    memset(&a, 0, sizeof(a));
    payout_classify_answer(call, NULL, 200, (const char *)data, size, ring, OID_PARTNER, NO_ORDER,
                           &a);
    FUZZ_CHECK(memchr(a.detail, '\0', sizeof(a.detail)) != NULL);
    FUZZ_CHECK(a.cls == PAYOUT_UNKNOWN || a.signed_ok);
    switch (a.cls) {
    case PAYOUT_ACCEPTED:
        FUZZ_CHECK(strcmp(a.ret_code, "0000") == 0);
        break;
    case PAYOUT_REVIEW:
        FUZZ_CHECK(call == PAYOUT_CONFIRM ? a.wrong_code
                                          : strlen(a.confirm_code) == 6 && !a.wrong_code);
        break;
    case PAYOUT_CLOSED:
        FUZZ_CHECK(call == PAYOUT_CONFIRM);
        break;
    case PAYOUT_REFUSED_NOTHING_STORED:
    case PAYOUT_REFUSED_MAY_RESUBMIT:
    case PAYOUT_UNKNOWN:
        break;
    case PAYOUT_CLASS_COUNT:
        FUZZ_CHECK(!"a class");
        break;
    }
    return 0;
}
