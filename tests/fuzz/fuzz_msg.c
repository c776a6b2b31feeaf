/*
 * libFuzzer target for what an HTTP thread does with a notification body before the signature:
 * msg_parse, the string to sign, both validations (notification and query answer), and the
 * msg_to_json round trip the signer relies on. Properties checked beyond "no crash, no leak":
 * refusal reasons are safe to put in a JSON answer; a parsed message serialises to JSON that
 * parses back to the same members and the same string to sign; a validated result has the
 * formats protocol.md promises.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "msg.h"
#include "payresult.h"
#include "sign.h"

#define OID_PARTNER "201801030001351894"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(const struct msg *a, const struct msg *b)
{
    FUZZ_CHECK(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        FUZZ_CHECK(strcmp(a->fields[i].key, b->fields[i].key) == 0);
        FUZZ_CHECK(a->fields[i].type == b->fields[i].type);
        FUZZ_CHECK((a->fields[i].value == NULL) == (b->fields[i].value == NULL));
        if (a->fields[i].value != NULL)
            FUZZ_CHECK(strcmp(a->fields[i].value, b->fields[i].value) == 0);
    }
}

static int digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

static void validate(const struct msg *m, enum payresult_source source)
{
    struct payresult r;
    const char *why = NULL;

    memset(&r, 0, sizeof(r));
    if (payresult_from_msg(m, source, OID_PARTNER, &r, &why) != PAYRESULT_ACCEPTED) {
        FUZZ_CHECK(fuzz_reason_ok(why));
        return;
    }
    FUZZ_CHECK(strcmp(r.oid_partner, OID_PARTNER) == 0);
    FUZZ_CHECK(strlen(r.no_order) >= 1 && strlen(r.no_order) <= 32);
    FUZZ_CHECK(digits(r.dt_order, 14));
    FUZZ_CHECK(r.amount_fen > 0);
    FUZZ_CHECK(r.settle_date[0] == '\0' || digits(r.settle_date, 8));
    if (source == PAYRESULT_NOTIFY)
        FUZZ_CHECK(r.result_pay == RESULT_SUCCESS || r.result_pay == RESULT_FAILURE ||
                   r.result_pay == RESULT_CANCEL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct msg m = {0}, back = {0};
    const char *why = NULL;
    char *json = NULL, *s1 = NULL, *s2 = NULL;
    size_t l1 = 0, l2 = 0;

    if (msg_parse((const char *)data, size, &m, &why) < 0) {
        FUZZ_CHECK(fuzz_reason_ok(why));
        return 0;
    }
    s1 = sign_string(&m, &l1);
    FUZZ_CHECK(s1 != NULL && strlen(s1) == l1);
    msg_get(&m, "no_order");
    validate(&m, PAYRESULT_NOTIFY);
    validate(&m, PAYRESULT_QUERY);

    json = msg_to_json(&m);
    FUZZ_CHECK(json != NULL);
    why = NULL;
    FUZZ_CHECK(msg_parse(json, strlen(json), &back, &why) == 0);
    check_same(&m, &back);
    s2 = sign_string(&back, &l2);
    FUZZ_CHECK(s2 != NULL && l1 == l2 && memcmp(s1, s2, l1) == 0);

    /* What signing does to a message: replace or add members, then serialise again. */
    FUZZ_CHECK(msg_set(&m, "sign_type", "RSA") == 0 && msg_set(&m, "sign", "AAAA") == 0);
    FUZZ_CHECK(strcmp(msg_get(&m, "sign_type"), "RSA") == 0);

    free(json);
    free(s1);
    free(s2);
    msg_finish(&m);
    msg_finish(&back);
    return 0;
}
