/*
 * payout: the payment.htm / confirmPayment.htm clients. LianLian's genuine apply answers classify
 * as protocol.md says (4002 review with its confirm code, 4005 refused) and as unknown with any
 * byte changed; every code of protocol.md's table lands in its class when signed and in unknown
 * when not; no answer, a timeout, an HTTP error or a body that is not a message is unknown. The
 * built request decrypts (with the vectors' key in LianLian's role) to the signed fields, and the
 * journal's copy shows the card only masked. A loopback server checks the HTTP path end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "keyring.h"
#include "keys.h"
#include "msg.h"
#include "payload.h"
#include "payout.h"
#include "sign.h"
#include "testvectors.h"

#define PARTNER "201801030001351894"
#define ORDER   "P20261201000123"

static EVP_PKEY *test_lianlian;              /* signs the scripted answers; trusted by the ring */
static EVP_PKEY *other_key;                  /* signs answers nobody trusts */
static EVP_PKEY *merchant;                   /* the merchant's pair */
static EVP_PKEY *payload_pub, *payload_priv; /* LianLian's role in tests/vectors/payload */
static struct keyring *ring;                 /* LianLian's real key, then test_lianlian */

static int setup(void **state)
{
    char err[256];
    struct keyset ks = {0};
    (void)state;

    test_lianlian = EVP_RSA_gen(1024);
    other_key = EVP_RSA_gen(1024);
    merchant = EVP_RSA_gen(2048);
    payload_pub = keys_load_public(testvec_path("payload/public_key.pem"), err, sizeof(err));
    payload_priv = keys_load_private(testvec_path("payload/private_key.pem"), err, sizeof(err));
    if (test_lianlian == NULL || other_key == NULL || merchant == NULL || payload_pub == NULL ||
        payload_priv == NULL)
        return -1;
    if (keys_load_set(testvec_path("lianlian_public_key.pem"), &ks, err, sizeof(err)) < 0)
        return -1;
    EVP_PKEY **grown = realloc(ks.keys, (ks.n + 1) * sizeof(*grown));
    if (grown == NULL || EVP_PKEY_up_ref(test_lianlian) != 1)
        return -1;
    ks.keys = grown;
    ks.keys[ks.n++] = test_lianlian;
    ring = keyring_create(&ks);
    return ring != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    keyring_destroy(ring);
    EVP_PKEY_free(test_lianlian);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(merchant);
    EVP_PKEY_free(payload_pub);
    EVP_PKEY_free(payload_priv);
    return 0;
}

static void classify(enum payout_call call, const char *body, size_t len, const char *partner,
                     const char *order, struct payout_answer *a)
{
    memset(a, 0, sizeof(*a));
    payout_classify_answer(call, NULL, 200, body, len, ring, partner, order, a);
}

/* Every byte of a genuine answer replaced in turn: never anything but unknown. */
static void assert_every_byte_matters(const char *body, size_t len, const char *partner,
                                      const char *order)
{
    char *copy = malloc(len + 1);
    struct payout_answer a;
    assert_non_null(copy);
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, body, len + 1);
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        classify(PAYOUT_APPLY, copy, len, partner, order, &a);
        if (a.cls != PAYOUT_UNKNOWN)
            fail_msg("byte %zu changed: %s", i, payout_class_name(a.cls));
    }
    printf("# %zu one-byte variants: all unknown\n", len);
    free(copy);
}

static void test_genuine_4002(void **state)
{
    size_t len;
    char *body = testvec_read("apply_4002.json", &len);
    struct payout_answer a;
    (void)state;

    classify(PAYOUT_APPLY, body, len, PARTNER, "20190510112458100750606813", &a);
    assert_int_equal(a.cls, PAYOUT_REVIEW);
    assert_true(a.signed_ok);
    assert_string_equal(a.ret_code, "4002");
    assert_string_equal(a.confirm_code, "646872");
    assert_string_equal(a.ret_msg, "疑似重复提交订单");
    assert_false(a.wrong_code);

    /* Genuine, but about another order or to another merchant. */
    classify(PAYOUT_APPLY, body, len, PARTNER, "20190510112458100750606814", &a);
    assert_int_equal(a.cls, PAYOUT_UNKNOWN);
    assert_true(a.signed_ok);
    classify(PAYOUT_APPLY, body, len, "201801030001351895", "20190510112458100750606813", &a);
    assert_int_equal(a.cls, PAYOUT_UNKNOWN);
    /* A review answer makes no sense after a confirm. */
    memset(&a, 0, sizeof(a));
    payout_classify_answer(PAYOUT_CONFIRM, NULL, 200, body, len, ring, PARTNER,
                           "20190510112458100750606813", &a);
    assert_int_equal(a.cls, PAYOUT_UNKNOWN);

    assert_every_byte_matters(body, len, PARTNER, "20190510112458100750606813");
    free(body);
}

static void test_genuine_4005(void **state)
{
    size_t len;
    char *body = testvec_read("apply_4005.json", &len);
    struct payout_answer a;
    (void)state;

    classify(PAYOUT_APPLY, body, len, "201408071000001541", ORDER, &a);
    assert_int_equal(a.cls, PAYOUT_REFUSED_NOTHING_STORED);
    assert_string_equal(payout_class_state(a.cls), "refused");
    assert_true(a.signed_ok);
    assert_string_equal(a.ret_code, "4005");
    assert_string_equal(a.confirm_code, "");

    classify(PAYOUT_APPLY, body, len, PARTNER, ORDER, &a);
    assert_int_equal(a.cls, PAYOUT_UNKNOWN);

    assert_every_byte_matters(body, len, "201408071000001541", ORDER);
    free(body);
}

/* An answer as LianLian would write it. key NULL: unsigned. */
static char *answer(const char *code, const char *partner, const char *order,
                    const char *confirm_code, const char *paybill, EVP_PKEY *key)
{
    struct msg m = {0};
    char *json = NULL;
    assert_int_equal(msg_set(&m, "ret_code", code), 0);
    assert_int_equal(msg_set(&m, "ret_msg", "message"), 0);
    assert_int_equal(msg_set(&m, "oid_partner", partner), 0);
    if (order != NULL)
        assert_int_equal(msg_set(&m, "no_order", order), 0);
    if (confirm_code != NULL)
        assert_int_equal(msg_set(&m, "confirm_code", confirm_code), 0);
    if (paybill != NULL)
        assert_int_equal(msg_set(&m, "oid_paybill", paybill), 0);
    if (key != NULL)
        assert_int_equal(sign_msg(&m, key), 0);
    else
        assert_int_equal(msg_set(&m, "sign_type", "RSA"), 0);
    json = msg_to_json(&m);
    assert_non_null(json);
    msg_finish(&m);
    return json;
}

static enum payout_class class_for(enum payout_call call, const char *code, const char *order,
                                   const char *confirm_code, EVP_PKEY *key, struct payout_answer *a)
{
    char *json = answer(code, PARTNER, order, confirm_code, "2026120100012345", key);
    memset(a, 0, sizeof(*a));
    payout_classify_answer(call, NULL, 200, json, strlen(json), ring, PARTNER, ORDER, a);
    free(json);
    return a->cls;
}

/* protocol.md's table, row by row as written there (not derived from payout.c): the class after
 * an apply and after a confirm. Codes the table does not name are unknown. */
static const struct {
    enum payout_class apply, confirm;
    const char *codes;
} expected[] = {
    {PAYOUT_ACCEPTED, PAYOUT_ACCEPTED, "0000"},
    {PAYOUT_REVIEW, PAYOUT_UNKNOWN, "4002 4003 4004"},
    {PAYOUT_UNKNOWN, PAYOUT_UNKNOWN, "1002 2005 4006 4007 4009 9999"},
    {PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED,
     "1001 1004 1005 1008 3001 4005 4012 4105 9910 9911 9912 9913"},
    {PAYOUT_REFUSED_MAY_RESUBMIT, PAYOUT_REFUSED_MAY_RESUBMIT, "4103 4104 9104"},
    {PAYOUT_UNKNOWN, PAYOUT_CLOSED, "4008 4010"},
    {PAYOUT_UNKNOWN, PAYOUT_REVIEW, "4011"},
    {PAYOUT_UNKNOWN, PAYOUT_UNKNOWN, "4001 8901 1234 00000 000 0 x"},
};

/* A code signed by LianLian lands in its class; unsigned or signed by another key, in unknown. */
static void check_code(const char *code, enum payout_class apply, enum payout_class confirm)
{
    struct payout_answer a;

    if (class_for(PAYOUT_APPLY, code, ORDER, "123456", test_lianlian, &a) != apply)
        fail_msg("apply %s: %s", code, payout_class_name(a.cls));
    assert_true(a.signed_ok);
    assert_string_equal(a.ret_code, code);
    if (class_for(PAYOUT_CONFIRM, code, ORDER, NULL, test_lianlian, &a) != confirm)
        fail_msg("confirm %s: %s", code, payout_class_name(a.cls));
    for (int call = PAYOUT_APPLY; call <= PAYOUT_CONFIRM; call++) {
        if (class_for(call, code, ORDER, "123456", NULL, &a) != PAYOUT_UNKNOWN)
            fail_msg("unsigned %s: %s", code, payout_class_name(a.cls));
        assert_false(a.signed_ok);
        assert_string_equal(a.ret_code, code);
        if (class_for(call, code, ORDER, "123456", other_key, &a) != PAYOUT_UNKNOWN)
            fail_msg("foreign key %s: %s", code, payout_class_name(a.cls));
    }
}

static void test_table(void **state)
{
    struct payout_answer a;
    (void)state;

    size_t n = 0;
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        char codes[128], *save = NULL;
        snprintf(codes, sizeof(codes), "%s", expected[i].codes);
        for (char *code = strtok_r(codes, " ", &save); code; code = strtok_r(NULL, " ", &save)) {
            check_code(code, expected[i].apply, expected[i].confirm);
            n++;
        }
    }
    check_code("", PAYOUT_UNKNOWN, PAYOUT_UNKNOWN);
    printf("# %zu codes, signed, unsigned and signed by a foreign key, after apply and confirm\n",
           n + 1);

    /* What the classes carry. */
    assert_int_equal(class_for(PAYOUT_APPLY, "0000", ORDER, NULL, test_lianlian, &a),
                     PAYOUT_ACCEPTED);
    assert_string_equal(a.oid_paybill, "2026120100012345");
    assert_int_equal(class_for(PAYOUT_APPLY, "4003", ORDER, "012345", test_lianlian, &a),
                     PAYOUT_REVIEW);
    assert_string_equal(a.confirm_code, "012345");
    assert_int_equal(class_for(PAYOUT_CONFIRM, "4011", ORDER, NULL, test_lianlian, &a),
                     PAYOUT_REVIEW);
    assert_true(a.wrong_code);
    assert_int_equal(class_for(PAYOUT_CONFIRM, "0000", ORDER, NULL, test_lianlian, &a),
                     PAYOUT_ACCEPTED);
    assert_false(a.wrong_code);
}

static void test_signed_but_not_ours(void **state)
{
    struct payout_answer a;
    (void)state;

    /* Review without a usable confirm code. */
    const char *bad_codes[] = {NULL, "", "64687", "6468722", "64687a", " 64687"};
    for (size_t i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++)
        assert_int_equal(class_for(PAYOUT_APPLY, "4002", ORDER, bad_codes[i], test_lianlian, &a),
                         PAYOUT_UNKNOWN);
    /* About another order; accepted or review without naming the order. */
    assert_int_equal(class_for(PAYOUT_APPLY, "9104", "P2", NULL, test_lianlian, &a),
                     PAYOUT_UNKNOWN);
    assert_int_equal(class_for(PAYOUT_APPLY, "0000", "P2", NULL, test_lianlian, &a),
                     PAYOUT_UNKNOWN);
    assert_int_equal(class_for(PAYOUT_APPLY, "0000", NULL, NULL, test_lianlian, &a),
                     PAYOUT_UNKNOWN);
    assert_int_equal(class_for(PAYOUT_APPLY, "4004", NULL, "123456", test_lianlian, &a),
                     PAYOUT_UNKNOWN);
    /* A refusal may leave no_order out (apply_4005 does). */
    assert_int_equal(class_for(PAYOUT_APPLY, "9104", NULL, NULL, test_lianlian, &a),
                     PAYOUT_REFUSED_MAY_RESUBMIT);

    /* To another merchant. */
    char *json = answer("1004", "201801030001351895", ORDER, NULL, NULL, test_lianlian);
    classify(PAYOUT_APPLY, json, strlen(json), PARTNER, ORDER, &a);
    assert_int_equal(a.cls, PAYOUT_UNKNOWN);
    free(json);
    /* An oid_paybill that is not one. */
    json = answer("0000", PARTNER, ORDER, NULL, "12a4", test_lianlian);
    classify(PAYOUT_APPLY, json, strlen(json), PARTNER, ORDER, &a);
    assert_int_equal(a.cls, PAYOUT_UNKNOWN);
    free(json);
}

static void test_no_usable_answer(void **state)
{
    struct payout_answer a;
    char *ok = answer("0000", PARTNER, ORDER, NULL, "2026120100012345", test_lianlian);
    (void)state;

    payout_classify_answer(PAYOUT_APPLY, "Timeout was reached", 0, "", 0, ring, PARTNER, ORDER, &a);
    assert_int_equal(a.cls, PAYOUT_UNKNOWN);
    assert_string_equal(a.detail, "no answer: Timeout was reached");
    payout_classify_answer(PAYOUT_APPLY, "Couldn't connect to server", 0, "", 0, ring, PARTNER,
                           ORDER, &a);
    assert_int_equal(a.cls, PAYOUT_UNKNOWN);
    /* A signed 0000 under an HTTP error, or cut short, is still no answer. */
    const long statuses[] = {500, 502, 503, 404, 302, 201};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        payout_classify_answer(PAYOUT_APPLY, NULL, statuses[i], ok, strlen(ok), ring, PARTNER,
                               ORDER, &a);
        assert_int_equal(a.cls, PAYOUT_UNKNOWN);
    }
    payout_classify_answer(PAYOUT_APPLY, "Transferred a partial file", 200, ok, strlen(ok) / 2,
                           ring, PARTNER, ORDER, &a);
    assert_int_equal(a.cls, PAYOUT_UNKNOWN);
    const char *bodies[] = {"",
                            "   ",
                            "<html>502 Bad Gateway</html>",
                            "[\"0000\"]",
                            "{\"ret_code\":\"0000\"",
                            "{\"ret_code\":{\"a\":1}}",
                            "null"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        payout_classify_answer(PAYOUT_APPLY, NULL, 200, bodies[i], strlen(bodies[i]), ring, PARTNER,
                               ORDER, &a);
        assert_int_equal(a.cls, PAYOUT_UNKNOWN);
        assert_false(a.signed_ok);
    }
    /* The same body, 200 and whole: accepted (the checks above are not vacuous). */
    payout_classify_answer(PAYOUT_APPLY, NULL, 200, ok, strlen(ok), ring, PARTNER, ORDER, &a);
    assert_int_equal(a.cls, PAYOUT_ACCEPTED);
    free(ok);
}

static const struct payout_request request = {
    .no_order = ORDER,
    .dt_order = "20261201093000",
    .money_order = "49.65",
    .card_no = "6228480223312311474",
    .acct_name = "李三",
    .info_order = "佣金",
    .flag_card = "0",
    .memo = "代付",
};

static struct payout_options options(void)
{
    struct payout_options o = {
        .payment_url = "http://127.0.0.1:9/paymentapi/payment.htm",
        .confirm_url = "http://127.0.0.1:9/paymentapi/confirmPayment.htm",
        .merchant_key = merchant,
        .oid_partner = PARTNER,
        .platform = "lianpay-test",
        .notify_url = "https://pay.example.com/notify",
    };
    return o;
}

/* Decrypts a POSTed body as LianLian would; returns the signed request, verified. */
static void open_body(const char *body, struct msg *plain)
{
    struct msg outer = {0};
    const char *why = NULL;
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(msg_parse(body, strlen(body), &outer, &why), 0);
    assert_int_equal(outer.n, 2);
    assert_string_equal(msg_get(&outer, "oid_partner"), PARTNER);
    const char *pl = msg_get(&outer, "pay_load");
    assert_non_null(pl);
    assert_int_equal(payload_decrypt(payload_priv, pl, strlen(pl), &text, &len, &why), PAYLOAD_OK);
    assert_int_equal(msg_parse(text, len, plain, &why), 0);
    assert_int_equal(sign_verify_msg(plain, &merchant, 1), 0);
    assert_int_equal(sign_verify_msg(plain, &other_key, 1), -1);
    free(text);
    msg_finish(&outer);
}

static void test_build_apply(void **state)
{
    struct payout_options o = options();
    struct payout_built b;
    struct msg m = {0};
    const char *why = NULL;
    (void)state;

    assert_int_equal(payout_build_apply(&o, &request, payload_pub, &b, &why), 0);
    assert_null(strstr(b.body, "6228480223312311474"));
    open_body(b.body, &m);
    const char *want[][2] = {
        {"oid_partner", PARTNER}, {"platform", "lianpay-test"},
        {"api_version", "1.0"},   {"sign_type", "RSA"},
        {"no_order", ORDER},      {"dt_order", "20261201093000"},
        {"money_order", "49.65"}, {"card_no", "6228480223312311474"},
        {"acct_name", "李三"},    {"info_order", "佣金"},
        {"flag_card", "0"},       {"notify_url", "https://pay.example.com/notify"},
        {"memo", "代付"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *v = msg_get(&m, want[i][0]);
        if (v == NULL || strcmp(v, want[i][1]) != 0)
            fail_msg("%s: %s", want[i][0], v ? v : "(absent)");
    }
    /* The optional fields not given are not sent, not even empty; sign is the last member. */
    assert_int_equal(m.n, sizeof(want) / sizeof(want[0]) + 1);
    assert_non_null(msg_get(&m, "sign"));
    char *sig = strdup(msg_get(&m, "sign"));
    msg_finish(&m);

    /* The journal's copy: the same request, card and name masked. */
    assert_null(strstr(b.journal_json, "6228480223312311474"));
    assert_null(strstr(b.journal_json, "李三"));
    assert_int_equal(msg_parse(b.journal_json, strlen(b.journal_json), &m, &why), 0);
    assert_string_equal(msg_get(&m, "card_no"), "622848******1474");
    assert_string_equal(msg_get(&m, "acct_name"), "李*");
    assert_string_equal(msg_get(&m, "money_order"), "49.65");
    assert_string_equal(msg_get(&m, "no_order"), ORDER);
    /* Nor its signature: over the plain card it would let a reader test guessed numbers. */
    assert_string_equal(msg_get(&m, "sign"), PAYOUT_JOURNAL_SIGN);
    assert_null(strstr(b.journal_json, sig));
    free(sig);
    msg_finish(&m);
    /* What pay_load carries is the signed request itself. */
    assert_non_null(strstr(b.signed_json, "\"card_no\":\"6228480223312311474\""));
    payout_built_finish(&b);

    /* A company payout carries its branch fields; a fresh pay_load each time. */
    struct payout_request company = request;
    company.flag_card = "1";
    company.bank_code = "01030000";
    company.prcptcd = "103100000026";
    company.city_code = "310000";
    company.brabank_name = "中国农业银行上海分行";
    company.bank_name = "中国农业银行";
    o.platform = NULL;
    assert_int_equal(payout_build_apply(&o, &company, payload_pub, &b, &why), 0);
    open_body(b.body, &m);
    assert_string_equal(msg_get(&m, "bank_code"), "01030000");
    assert_string_equal(msg_get(&m, "prcptcd"), "103100000026");
    assert_string_equal(msg_get(&m, "city_code"), "310000");
    assert_string_equal(msg_get(&m, "brabank_name"), "中国农业银行上海分行");
    assert_string_equal(msg_get(&m, "bank_name"), "中国农业银行");
    assert_null(msg_find(&m, "platform"));
    msg_finish(&m);
    struct payout_built again;
    assert_int_equal(payout_build_apply(&o, &company, payload_pub, &again, &why), 0);
    assert_string_not_equal(b.body, again.body);
    payout_built_finish(&again);
    payout_built_finish(&b);

    /* Required fields: the payout's own problem (PAYOUT_BUILD_FIELD: refused, the field named),
     * and a field that is not UTF-8. */
    struct payout_request missing = request;
    missing.card_no = "";
    assert_int_equal(payout_build_apply(&o, &missing, payload_pub, &b, &why), PAYOUT_BUILD_FIELD);
    assert_string_equal(why, "card_no: required");
    assert_null(b.body);
    missing = request;
    missing.money_order = NULL;
    assert_int_equal(payout_build_apply(&o, &missing, payload_pub, &b, &why), PAYOUT_BUILD_FIELD);
    assert_string_equal(why, "money_order: required");
    missing = request;
    missing.brabank_name = "\xff";
    assert_int_equal(payout_build_apply(&o, &missing, payload_pub, &b, &why), PAYOUT_BUILD_FIELD);
    assert_string_equal(why, "brabank_name: not UTF-8 text");
    /* Ours (the configuration, a key): -1, the payout is not to blame. */
    o.notify_url = NULL;
    assert_int_equal(payout_build_apply(&o, &request, payload_pub, &b, &why), -1);
    o = options();
    o.oid_partner = NULL;
    assert_int_equal(payout_build_apply(&o, &request, payload_pub, &b, &why), -1);
    o = options();
    EVP_PKEY *public_only = payload_pub; /* no private key to sign with */
    o.merchant_key = public_only;
    assert_int_equal(payout_build_apply(&o, &request, payload_pub, &b, &why), -1);
    assert_null(b.body);
}

static void test_build_confirm(void **state)
{
    struct payout_options o = options();
    struct payout_built b;
    struct msg m = {0};
    const char *why = NULL;
    (void)state;

    assert_int_equal(payout_build_confirm(&o, ORDER, "646872", payload_pub, &b, &why), 0);
    open_body(b.body, &m);
    assert_string_equal(msg_get(&m, "oid_partner"), PARTNER);
    assert_string_equal(msg_get(&m, "platform"), "lianpay-test");
    assert_string_equal(msg_get(&m, "api_version"), "1.0");
    assert_string_equal(msg_get(&m, "sign_type"), "RSA");
    assert_string_equal(msg_get(&m, "no_order"), ORDER);
    assert_string_equal(msg_get(&m, "confirm_code"), "646872");
    assert_string_equal(msg_get(&m, "notify_url"), "https://pay.example.com/notify");
    assert_int_equal(m.n, 8);
    msg_finish(&m);
    /* The journal's copy is the request with its sign withheld. */
    assert_int_equal(msg_parse(b.journal_json, strlen(b.journal_json), &m, &why), 0);
    assert_string_equal(msg_get(&m, "confirm_code"), "646872");
    assert_string_equal(msg_get(&m, "sign"), PAYOUT_JOURNAL_SIGN);
    assert_int_equal(m.n, 8);
    msg_finish(&m);
    payout_built_finish(&b);
    assert_int_equal(payout_build_confirm(&o, ORDER, NULL, payload_pub, &b, &why), -1);
    /* Not an RSA key for pay_load: refused, nothing built. */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    assert_int_equal(payout_build_confirm(&o, ORDER, "646872", ec, &b, &why), -1);
    assert_null(b.body);
    EVP_PKEY_free(ec);
}

/* pay_load goes to the first key of lianlian.public_key (design.md), as the ring has it now. */
static void test_encryption_key(void **state)
{
    char err[256];
    EVP_PKEY *real = keys_load_public(testvec_path("lianlian_public_key.pem"), err, sizeof(err));
    EVP_PKEY *first = keyring_first(ring);
    struct keyset empty = {0};
    struct keyring *none = keyring_create(&empty);
    (void)state;

    assert_non_null(real);
    assert_non_null(first);
    assert_int_equal(EVP_PKEY_eq(first, real), 1);
    assert_int_equal(EVP_PKEY_eq(first, test_lianlian), 0);
    assert_null(keyring_first(none));
    keyring_destroy(none);
    EVP_PKEY_free(first);
    EVP_PKEY_free(real);
}

/* At least 6 digits hidden whatever the length (an 11-13 digit company account showed 10), at
 * most the first 6 and last 4 shown. */
static void test_mask_card(void **state)
{
    char out[PAYOUT_MASKED_CARD_LEN];
    (void)state;

    static const char *const cases[][2] = {
        {"6228480223312311474", "622848******1474"},
        {"6228480223311474", "622848******1474"},
        {"62284802233123114740000000000000", "622848******0000"},
        {"622848022331474", "62284******1474"},
        {"11014567890123", "1101******0123"},
        {"1101456789012", "110******9012"},
        {"11014567890", "1******7890"},
        {"1234567890", "******7890"},
        {"12345678", "******78"},
        {"123456", "******"},
        {"12", "******"},
        {"", "******"},
        {"6228 4802 2331 1474", "******"},
        {"622848022331231147\xe4", "******"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        payout_mask_card(cases[i][0], out);
        assert_string_equal(out, cases[i][1]);
    }
}

/* The first character (a whole UTF-8 sequence) and one '*', or '*' alone for a name of one
 * character: the journal, lianpayctl's lines and its JSON all show this. */
static void test_mask_name(void **state)
{
    char out[PAYOUT_MASKED_NAME_LEN];
    (void)state;

    static const char *const cases[][2] = {
        {"李三", "李*"},
        {"欧阳娜娜", "欧*"},
        {"李", "*"},
        {"Li San", "L*"},
        {"L", "*"},
        {"", "*"},
        {"\xf0\x9f\x98\x80x", "\xf0\x9f\x98\x80*"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        payout_mask_name(cases[i][0], strlen(cases[i][0]), out);
        assert_string_equal(out, cases[i][1]);
    }
}

/* The HTTP path: a one-request server on loopback with a scripted answer. */
struct server {
    int fd;
    int port;
    pthread_t thread;
    int status;
    const char *answer;
    int delay_ms;
    char request[65536];
    size_t request_len;
};

static void *serve_one(void *arg)
{
    struct server *s = arg;
    int c = accept(s->fd, NULL, NULL);
    size_t want = 0;
    if (c < 0)
        return NULL;
    while (s->request_len < sizeof(s->request) - 1) {
        ssize_t n =
            recv(c, s->request + s->request_len, sizeof(s->request) - 1 - s->request_len, 0);
        if (n <= 0)
            break;
        s->request_len += (size_t)n;
        s->request[s->request_len] = '\0';
        char *end = strstr(s->request, "\r\n\r\n");
        char *cl = strcasestr(s->request, "Content-Length:");
        if (end != NULL && cl != NULL) {
            want = (size_t)(end + 4 - s->request) + strtoul(cl + 15, NULL, 10);
            if (s->request_len >= want)
                break;
        }
    }
    if (s->delay_ms > 0)
        nanosleep(&(struct timespec){s->delay_ms / 1000, (s->delay_ms % 1000) * 1000000L}, NULL);
    char head[256];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d X\r\nContent-Type: text/json;charset=utf-8\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      s->status, strlen(s->answer));
    send(c, head, (size_t)hn, MSG_NOSIGNAL);
    send(c, s->answer, strlen(s->answer), MSG_NOSIGNAL);
    close(c);
    return NULL;
}

static void server_start(struct server *s, int status, const char *answer_body, int delay_ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    memset(s, 0, sizeof(*s));
    s->status = status;
    s->answer = answer_body;
    s->delay_ms = delay_ms;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 1), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve_one, s), 0);
}

static void server_stop(struct server *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double last_exchange_s; /* how long the last payout_send took */

/* Sends one request to a scripted server and returns the class; the request arrives in s. */
static enum payout_class exchange(struct server *s, enum payout_call call, int status,
                                  const char *answer_body, int delay_ms, struct payout_answer *a)
{
    char payment[128], confirm[128], err[256];
    struct payout_options o = options();
    struct payout_built b;
    const char *why = NULL;

    server_start(s, status, answer_body, delay_ms);
    snprintf(payment, sizeof(payment), "http://127.0.0.1:%d/paymentapi/payment.htm", s->port);
    snprintf(confirm, sizeof(confirm), "http://127.0.0.1:%d/paymentapi/confirmPayment.htm",
             s->port);
    o.payment_url = payment;
    o.confirm_url = confirm;
    o.timeout_ms = 700;
    struct payout_client *pc = payout_client_create(&o, err, sizeof(err));
    assert_non_null(pc);
    if (call == PAYOUT_APPLY)
        assert_int_equal(payout_build_apply(&o, &request, payload_pub, &b, &why), 0);
    else
        assert_int_equal(payout_build_confirm(&o, ORDER, "646872", payload_pub, &b, &why), 0);
    double t0 = now_s();
    payout_send(pc, call, &b, ring, ORDER, a);
    last_exchange_s = now_s() - t0;
    payout_built_finish(&b);
    payout_client_destroy(pc);
    server_stop(s);
    return a->cls;
}

static void test_http(void **state)
{
    struct server s;
    struct payout_answer a;
    struct msg m = {0};
    char *ok = answer("0000", PARTNER, ORDER, NULL, "2026120100012345", test_lianlian);
    char *wrong = answer("4011", PARTNER, ORDER, NULL, NULL, test_lianlian);
    (void)state;

    assert_int_equal(exchange(&s, PAYOUT_APPLY, 200, ok, 0, &a), PAYOUT_ACCEPTED);
    assert_int_equal(a.http_status, 200);
    assert_string_equal(a.oid_paybill, "2026120100012345");
    assert_memory_equal(a.body, ok, strlen(ok));
    payout_answer_finish(&a);
    assert_non_null(strstr(s.request, "POST /paymentapi/payment.htm HTTP/1.1\r\n"));
    assert_non_null(strcasestr(s.request, "\r\nContent-Type: application/json;charset=utf-8\r\n"));
    open_body(strstr(s.request, "\r\n\r\n") + 4, &m);
    assert_string_equal(msg_get(&m, "card_no"), "6228480223312311474");
    msg_finish(&m);

    assert_int_equal(exchange(&s, PAYOUT_CONFIRM, 200, wrong, 0, &a), PAYOUT_REVIEW);
    assert_true(a.wrong_code);
    payout_answer_finish(&a);
    assert_non_null(strstr(s.request, "POST /paymentapi/confirmPayment.htm HTTP/1.1\r\n"));

    assert_int_equal(exchange(&s, PAYOUT_APPLY, 500, ok, 0, &a), PAYOUT_UNKNOWN);
    assert_string_equal(a.detail, "HTTP status 500");
    payout_answer_finish(&a);

    assert_int_equal(exchange(&s, PAYOUT_APPLY, 200, ok, 1500, &a), PAYOUT_UNKNOWN);
    printf("# answer after 1.5 s, timeout 0.7 s: unknown (%s) after %.2f s\n", a.detail,
           last_exchange_s);
    assert_non_null(strstr(a.detail, "no answer: "));
    assert_int_equal(a.http_status, 0);
    payout_answer_finish(&a);

    /* Nobody listening. */
    struct payout_options o = options();
    struct payout_built b;
    const char *why = NULL;
    char err[256];
    o.timeout_ms = 2000;
    struct payout_client *pc = payout_client_create(&o, err, sizeof(err));
    assert_non_null(pc);
    assert_int_equal(payout_build_apply(&o, &request, payload_pub, &b, &why), 0);
    payout_send(pc, PAYOUT_APPLY, &b, ring, ORDER, &a);
    assert_int_equal(a.cls, PAYOUT_UNKNOWN);
    assert_null(a.body);
    printf("# port 9 closed: %s\n", a.detail);
    payout_answer_finish(&a);
    payout_built_finish(&b);
    payout_client_destroy(pc);
    free(ok);
    free(wrong);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_genuine_4002),
        cmocka_unit_test(test_genuine_4005),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_signed_but_not_ours),
        cmocka_unit_test(test_no_usable_answer),
        cmocka_unit_test(test_build_apply),
        cmocka_unit_test(test_build_confirm),
        cmocka_unit_test(test_encryption_key),
        cmocka_unit_test(test_mask_card),
        cmocka_unit_test(test_mask_name),
        cmocka_unit_test(test_http),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
