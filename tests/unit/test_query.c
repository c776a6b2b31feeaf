/*
 * query: what query_classify_answer makes of each class of queryPayment answer (query.h, enum
 * query_status), with answers signed at test time by a key the ring trusts (standing in for
 * LianLian's) or by one it does not, and one answer really signed by LianLian (tests/vectors).
 * Only a signed 0000 answer about our order with valid fields is a result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "keyring.h"
#include "keys.h"
#include "msg.h"
#include "query.h"
#include "sign.h"
#include "state.h"
#include "testkeys.h"
#include "testvectors.h"

#define OURS     "201103171000000000"
#define NO_ORDER "20261122000123"

struct fx {
    EVP_PKEY *lianlian; /* private key of the trusted pair */
    EVP_PKEY *stranger; /* a key the ring does not hold */
    struct keyring *ring;
};

static int group_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->lianlian = EVP_RSA_gen(1024);
    fx->stranger = EVP_RSA_gen(1024);
    assert_non_null(fx->lianlian);
    assert_non_null(fx->stranger);
    struct keyset ks = testkeys_set(&fx->lianlian, 1);
    fx->ring = keyring_create(&ks);
    assert_non_null(fx->ring);
    *state = fx;
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *fx = *state;
    keyring_destroy(fx->ring);
    EVP_PKEY_free(fx->lianlian);
    EVP_PKEY_free(fx->stranger);
    free(fx);
    return 0;
}

/* An answer with ret_code and, unless result is NULL, the fields of a result about NO_ORDER, as
 * JSON; then (key, value) pairs up to a NULL key replace or add members (a NULL value removes
 * one); signed with key unless key is NULL. */
static char *answer_json(EVP_PKEY *key, const char *ret_code, const char *result, ...)
{
    static const char *const base[][2] = {
        {"oid_partner", OURS},
        {"no_order", NO_ORDER},
        {"dt_order", "20261122083000"},
        {"money_order", "49.65"},
        {"oid_paybill", "2026112200012345"},
        {"settle_date", "20261122"},
        {"info_order", "payout"},
    };
    struct msg m = {0};
    va_list ap;

    assert_int_equal(msg_set(&m, "ret_code", ret_code), 0);
    assert_int_equal(msg_set(&m, "ret_msg", "交易成功"), 0);
    if (result != NULL) {
        for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
            assert_int_equal(msg_set(&m, base[i][0], base[i][1]), 0);
        assert_int_equal(msg_set(&m, "result_pay", result), 0);
    }
    va_start(ap, result);
    for (const char *k = va_arg(ap, const char *); k != NULL; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        if (v != NULL) {
            assert_int_equal(msg_set(&m, k, v), 0);
            continue;
        }
        msg_remove(&m, k);
    }
    va_end(ap);
    if (key != NULL)
        assert_int_equal(sign_msg(&m, key), 0);
    char *json = msg_to_json(&m);
    assert_non_null(json);
    msg_finish(&m);
    return json;
}

static struct query_answer classify(struct fx *fx, const char *body)
{
    struct query_answer a;

    memset(&a, 0, sizeof(a));
    query_classify_answer(OURS, fx->ring, NO_ORDER, body, strlen(body), &a);
    return a;
}

static struct query_answer classify_json(struct fx *fx, char *json)
{
    struct query_answer a = classify(fx, json);
    free(json);
    return a;
}

static void assert_class(const struct query_answer *a, enum query_status status, int signed_ok,
                         const char *detail)
{
    if (a->status != status)
        fail_msg("got %s (%s), want %s", query_status_name(a->status), a->detail,
                 query_status_name(status));
    assert_int_equal(a->signed_ok, signed_ok);
    assert_string_equal(a->detail, detail);
}

/* A signed 0000 answer with a final result: a result, every field as answered. */
static void test_verified_final(void **state)
{
    struct fx *fx = *state;
    struct query_answer a = classify_json(fx, answer_json(fx->lianlian, "0000", "SUCCESS", NULL));

    assert_class(&a, QUERY_RESULT, 1, "");
    assert_string_equal(a.ret_code, "0000");
    assert_string_equal(a.ret_msg, "交易成功");
    assert_string_equal(a.result.no_order, NO_ORDER);
    assert_int_equal(a.result.result_pay, RESULT_SUCCESS);
    assert_int_equal(a.result.amount_fen, 4965);
    assert_string_equal(a.result.settle_date, "20261122");
    assert_true(state_is_final(a.result.result_pay));
}

/* Signed 0000 answers with each pending result, and CLOSED (a query-only value): results. */
static void test_verified_pending(void **state)
{
    struct fx *fx = *state;
    const char *const results[] = {"APPLY", "CHECK", "WAITING", "PROCESSING", "CLOSED"};

    for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
        struct query_answer a = classify_json(
            fx, answer_json(fx->lianlian, "0000", results[i], "settle_date", NULL, NULL));
        assert_class(&a, QUERY_RESULT, 1, "");
        assert_string_equal(state_result_name(a.result.result_pay), results[i]);
    }
}

/* 8901 says "no record", signed or not (LianLian sends it unsigned): never a failure. */
static void test_no_record_8901(void **state)
{
    struct fx *fx = *state;
    struct query_answer a = classify(fx, "{\"ret_code\":\"8901\",\"ret_msg\":\"没有记录\"}");

    assert_class(&a, QUERY_NO_RECORD, 0, "8901: LianLian has no record (unsigned)");
    assert_string_equal(a.ret_code, "8901");
    assert_string_equal(a.ret_msg, "没有记录");

    a = classify_json(fx, answer_json(fx->lianlian, "8901", NULL, NULL));
    assert_class(&a, QUERY_NO_RECORD, 1, "8901: LianLian has no record (signed)");

    /* an 8901 beside a result's fields is still only "no record" */
    a = classify_json(fx, answer_json(NULL, "8901", "FAILURE", NULL));
    assert_class(&a, QUERY_NO_RECORD, 0, "8901: LianLian has no record (unsigned)");
}

/* A signed error answer other than 8901 is a refusal, whatever fields it carries; LianLian's
 * real signed 8888 answer is one (its oid_partner is not ours: refused before that matters). */
static void test_signed_error(void **state)
{
    struct fx *fx = *state;
    struct query_answer a = classify_json(fx, answer_json(fx->lianlian, "9999", NULL, NULL));

    assert_class(&a, QUERY_REFUSED, 1, "LianLian answered 9999");
    a = classify_json(fx, answer_json(fx->lianlian, "1001", "FAILURE", NULL));
    assert_class(&a, QUERY_REFUSED, 1, "LianLian answered 1001");

    char err[512];
    struct keyset ks = {0};
    if (keys_load_set(testvec_path("lianlian_public_key.pem"), &ks, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    struct keyring *real = keyring_create(&ks);
    assert_non_null(real);
    size_t n;
    char *body = testvec_read("response_8888.json", &n);
    query_classify_answer(OURS, real, "LLianPay-YT-20221013145018", body, n, &a);
    assert_class(&a, QUERY_REFUSED, 1, "LianLian answered 8888");
    free(body);
    keyring_destroy(real);
}

/* A 0000 answer without a signature is believed in nothing. */
static void test_unsigned(void **state)
{
    struct fx *fx = *state;
    struct query_answer a = classify_json(fx, answer_json(NULL, "0000", "SUCCESS", NULL));

    assert_class(&a, QUERY_UNSIGNED, 0, "answer without a valid signature");
    assert_string_equal(a.ret_code, "0000"); /* for the log, escaped there */
    a = classify_json(fx, answer_json(NULL, "9999", NULL, NULL));
    assert_class(&a, QUERY_UNSIGNED, 0, "answer without a valid signature");
}

/* Signed by a key the ring does not hold, or changed after signing: unsigned. */
static void test_bad_signature(void **state)
{
    struct fx *fx = *state;
    struct query_answer a = classify_json(fx, answer_json(fx->stranger, "0000", "SUCCESS", NULL));

    assert_class(&a, QUERY_UNSIGNED, 0, "answer without a valid signature");

    char *json = answer_json(fx->lianlian, "0000", "FAILURE", NULL);
    char *v = strstr(json, "FAILURE");
    assert_non_null(v);
    memcpy(v, "SUCCESS", 7); /* one signed value changed */
    a = classify_json(fx, json);
    assert_class(&a, QUERY_UNSIGNED, 0, "answer without a valid signature");

    a = classify_json(fx, answer_json(NULL, "0000", "SUCCESS", "sign_type", "RSA", "sign",
                                      "bm90IGEgc2lnbmF0dXJl", NULL));
    assert_class(&a, QUERY_UNSIGNED, 0, "answer without a valid signature");
}

/* Signed 0000, but a field is invalid, the merchant is another, or the answer is about another
 * order: invalid, with payresult's reason. */
static void test_invalid_field(void **state)
{
    struct fx *fx = *state;
    const struct {
        const char *key, *value, *detail;
    } rows[] = {
        {"money_order", "49.655", "bad money_order"},
        {"result_pay", "DONE", "bad result_pay"},
        {"dt_order", "20261322083000", "bad dt_order"},
        {"oid_paybill", NULL, "missing oid_paybill"},
        {"oid_partner", "201103171000000001", "oid_partner is not ours"},
        {"no_order", "20261122000999", "answer is about another order"},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct query_answer a = classify_json(
            fx, answer_json(fx->lianlian, "0000", "SUCCESS", rows[i].key, rows[i].value, NULL));
        assert_class(&a, QUERY_INVALID, 1, rows[i].detail);
    }
}

/* What is not one flat JSON object is no usable answer (as if none had come). */
static void test_not_json(void **state)
{
    struct fx *fx = *state;
    const char *const bodies[] = {"", "<html>502 Bad Gateway</html>", "{\"ret_code\":\"0000\"",
                                  "{\"ret_code\":{\"x\":1}}", "[]"};

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct query_answer a = classify(fx, bodies[i]);
        if (a.status != QUERY_TRANSPORT)
            fail_msg("%s: got %s", bodies[i], query_status_name(a.status));
        assert_int_equal(a.signed_ok, 0);
        assert_int_equal(strncmp(a.detail, "answer is not a usable message: ", 32), 0);
    }
}

static void test_status_names(void **state)
{
    (void)state;
    const char *const names[] = {"result",   "no_record", "refused",
                                 "unsigned", "invalid",   "transport_error"};
    for (int i = QUERY_RESULT; i <= QUERY_TRANSPORT; i++)
        assert_string_equal(query_status_name((enum query_status)i), names[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verified_final), cmocka_unit_test(test_verified_pending),
        cmocka_unit_test(test_no_record_8901), cmocka_unit_test(test_signed_error),
        cmocka_unit_test(test_unsigned),       cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_invalid_field),  cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
