/* payresult: field-by-field validation of authentic notifications and query answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "msg.h"
#include "payresult.h"
#include "sign.h"
#include "state.h"

#define OURS "201103171000000000"

/* A valid SUCCESS notification, as raw JSON values. */
static const char *const base[][2] = {
    {"oid_partner", "\"" OURS "\""},
    {"sign_type", "\"RSA\""},
    {"sign", "\"c2lnbmF0dXJl\""},
    {"no_order", "\"20240101123456001\""},
    {"dt_order", "\"20240101123456\""},
    {"money_order", "\"49.65\""},
    {"oid_paybill", "\"2024010112345678\""},
    {"result_pay", "\"SUCCESS\""},
    {"settle_date", "\"20240102\""},
    {"info_order", "\"工资_ok\""},
};
#define NBASE (sizeof(base) / sizeof(base[0]))

/*
 * The base message with key's raw JSON value replaced by raw (removed when raw is NULL, added
 * when key is not in the base), and ret_code "0000" added for queries.
 */
static char *body_with(const char *key, const char *raw, enum payresult_source src)
{
    size_t cap = 8192, len = 0;
    char *b = malloc(cap);
    int found = 0;

    assert_non_null(b);
    len += (size_t)snprintf(b + len, cap - len, "{\"x_filler\":\"-\"");
    for (size_t i = 0; i < NBASE; i++) {
        const char *v = base[i][1];
        if (key != NULL && strcmp(key, base[i][0]) == 0) {
            found = 1;
            v = raw;
        }
        if (v != NULL)
            len += (size_t)snprintf(b + len, cap - len, ",\"%s\":%s", base[i][0], v);
    }
    if (key != NULL && !found && raw != NULL)
        len += (size_t)snprintf(b + len, cap - len, ",\"%s\":%s", key, raw);
    if (src == PAYRESULT_QUERY && (key == NULL || strcmp(key, "ret_code") != 0))
        len += (size_t)snprintf(b + len, cap - len, ",\"ret_code\":\"0000\"");
    len += (size_t)snprintf(b + len, cap - len, "}");
    assert_true(len < cap);
    return b;
}

static enum payresult_refusal run(const char *key, const char *raw, enum payresult_source src,
                                  struct payresult *out, const char **why)
{
    char *body = body_with(key, raw, src);
    struct msg m = {0};
    const char *perr = NULL;
    enum payresult_refusal rc;

    if (msg_parse(body, strlen(body), &m, &perr) < 0)
        fail_msg("test body refused by msg_parse (%s): %s", perr, body);
    rc = payresult_from_msg(&m, src, OURS, out, why);
    msg_finish(&m);
    free(body);
    return rc;
}

static void assert_ok(const char *key, const char *raw, enum payresult_source src,
                      struct payresult *out)
{
    const char *why = NULL;

    if (run(key, raw, src, out, &why) != PAYRESULT_ACCEPTED)
        fail_msg("%s=%s refused: %s", key ? key : "-", raw ? raw : "(absent)", why);
}

static void assert_refused(enum payresult_source src, const char *key, const char *raw,
                           const char *reason)
{
    struct payresult out;
    const char *why = NULL;

    memset(&out, 0x5a, sizeof(out));
    if (run(key, raw, src, &out, &why) == PAYRESULT_ACCEPTED)
        fail_msg("%s=%s accepted", key, raw ? raw : "(absent)");
    if (why == NULL || strcmp(why, reason) != 0)
        fail_msg("%s=%s refused as \"%s\", expected \"%s\"", key, raw ? raw : "(absent)",
                 why ? why : "(null)", reason);
    /* Nothing is half-filled on failure. */
    assert_int_equal((unsigned char)out.no_order[0], 0x5a);
}

static void test_valid_notification(void **state)
{
    struct payresult r;

    assert_ok(NULL, NULL, PAYRESULT_NOTIFY, &r);
    assert_string_equal(r.oid_partner, OURS);
    assert_string_equal(r.no_order, "20240101123456001");
    assert_string_equal(r.dt_order, "20240101123456");
    assert_string_equal(r.money_order, "49.65");
    assert_int_equal(r.amount_fen, 4965);
    assert_string_equal(r.oid_paybill, "2024010112345678");
    assert_int_equal(r.result_pay, RESULT_SUCCESS);
    assert_string_equal(r.settle_date, "20240102");
    assert_string_equal(r.info_order, "工资_ok");
    assert_string_equal(payresult_source_name(PAYRESULT_NOTIFY), "notify");
    assert_string_equal(payresult_source_name(PAYRESULT_QUERY), "query");
}

static void test_valid_variants(void **state)
{
    struct payresult r;

    assert_ok("money_order", "200.10", PAYRESULT_NOTIFY, &r);
    assert_string_equal(r.money_order, "200.10");
    assert_int_equal(r.amount_fen, 20010);
    assert_ok("result_pay", "\"FAILURE\"", PAYRESULT_NOTIFY, &r);
    assert_int_equal(r.result_pay, RESULT_FAILURE);
    assert_ok("result_pay", "\"CANCEL\"", PAYRESULT_NOTIFY, &r);
    assert_int_equal(r.result_pay, RESULT_CANCEL);
    assert_ok("settle_date", NULL, PAYRESULT_NOTIFY, &r);
    assert_string_equal(r.settle_date, "");
    assert_ok("settle_date", "\"\"", PAYRESULT_NOTIFY, &r);
    assert_string_equal(r.settle_date, "");
    assert_ok("settle_date", "null", PAYRESULT_NOTIFY, &r);
    assert_ok("info_order", NULL, PAYRESULT_NOTIFY, &r);
    assert_string_equal(r.info_order, "");
    assert_ok("no_order", "\"A-b_c.1~!#$%'()*+,/:;<>?@[]^`{|}\"", PAYRESULT_NOTIFY, &r);
    assert_ok("no_order", "\"12345678901234567890123456789012\"", PAYRESULT_NOTIFY, &r);
    assert_ok("money_order", "\"0.01\"", PAYRESULT_NOTIFY, &r);
    assert_int_equal(r.amount_fen, 1);
    assert_ok("dt_order", "\"20241231235959\"", PAYRESULT_NOTIFY, &r);
    assert_ok("oid_paybill", "\"1\"", PAYRESULT_NOTIFY, &r);
    /* Unknown fields are allowed, whatever their scalar type. */
    assert_ok("api_version", "\"1.0\"", PAYRESULT_NOTIFY, &r);
    assert_ok("extra_n", "12.50", PAYRESULT_NOTIFY, &r);
    assert_ok("extra_b", "true", PAYRESULT_NOTIFY, &r);
    assert_ok("extra_z", "null", PAYRESULT_NOTIFY, &r);
}

/* A JSON string of n copies of the UTF-8 character ch, then extra (or ""), in raw. */
static void repeated(char *raw, const char *ch, int n, const char *extra)
{
    size_t o = 0, len = strlen(ch);

    raw[o++] = '"';
    for (int i = 0; i < n; i++, o += len)
        memcpy(raw + o, ch, len);
    snprintf(raw + o, 16, "%s\"", extra);
}

/* A free text field (info_order, memo): 255 characters fit, of 3 or 4 bytes; 256 are refused. */
static void assert_free_text(const char *key, enum payresult_source src, const char *bad)
{
    char raw[2048];
    struct payresult r;

    repeated(raw, "中", 255, "");
    assert_ok(key, raw, src, &r);
    assert_int_equal(strlen(strcmp(key, "memo") == 0 ? r.memo : r.info_order), 255 * 3);
    repeated(raw, "中", 255, "x");
    assert_refused(src, key, raw, bad);
    repeated(raw, "\xf0\x9f\x98\x80", 255, "");
    assert_ok(key, raw, src, &r);
    assert_int_equal(strlen(strcmp(key, "memo") == 0 ? r.memo : r.info_order), 255 * 4);
}

static void test_info_order_length(void **state)
{
    assert_free_text("info_order", PAYRESULT_NOTIFY, "bad info_order");
}

/* A query answer's memo: LianLian's failure reason, kept when it is at most 255 characters. */
static void test_memo(void **state)
{
    struct payresult r;

    assert_ok("memo", "\"户名不符\"", PAYRESULT_QUERY, &r);
    assert_string_equal(r.memo, "户名不符");
    assert_ok(NULL, NULL, PAYRESULT_QUERY, &r);
    assert_string_equal(r.memo, "");
    assert_refused(PAYRESULT_QUERY, "memo", "\"a\\u0001b\"", "bad memo");
    assert_free_text("memo", PAYRESULT_QUERY, "bad memo");
}

static void test_oid_partner(void **state)
{
    const enum payresult_source n = PAYRESULT_NOTIFY;

    assert_refused(n, "oid_partner", NULL, "missing oid_partner");
    assert_refused(n, "oid_partner", "\"\"", "missing oid_partner");
    assert_refused(n, "oid_partner", "null", "missing oid_partner");
    assert_refused(n, "oid_partner", "\"20110317100000000\"", "bad oid_partner");
    assert_refused(n, "oid_partner", "\"2011031710000000000\"", "bad oid_partner");
    assert_refused(n, "oid_partner", "\"20110317100000000x\"", "bad oid_partner");
    assert_refused(n, "oid_partner", "\" 01103171000000000\"", "bad oid_partner");
    assert_refused(n, "oid_partner", "\"201103171000000001\"", "oid_partner is not ours");
    assert_refused(n, "oid_partner", OURS, "bad oid_partner");
    assert_refused(n, "oid_partner", "true", "bad oid_partner");
}

/* Fails unless body (a notification) is refused as kind, for reason. */
static void assert_kind(const char *body, enum payresult_refusal kind, const char *reason)
{
    struct msg m = {0};
    struct payresult r;
    const char *why = NULL;

    if (msg_parse(body, strlen(body), &m, &why) < 0)
        fail_msg("test body refused by msg_parse (%s): %s", why, body);
    enum payresult_refusal got = payresult_from_msg(&m, PAYRESULT_NOTIFY, OURS, &r, &why);
    msg_finish(&m);
    if (got != kind || why == NULL || strcmp(why, reason) != 0)
        fail_msg("refused as %d \"%s\", expected %d \"%s\": %s", (int)got, why ? why : "-",
                 (int)kind, reason, body);
}

/* httpd counts these apart (lianpay_rejections_total reason wrong_partner, invalid_field): a
 * message that names another merchant is a wrong partner's, whichever field failed first. */
static void test_refusal_kinds(void **state)
{
    char *ours_bad = body_with("no_order", "\"a b\"", PAYRESULT_NOTIFY);
    char *other = body_with("oid_partner", "\"201103171000000001\"", PAYRESULT_NOTIFY);
    char *other_short = body_with("oid_partner", "\"2011031710\"", PAYRESULT_NOTIFY);
    char *other_number = body_with("oid_partner", "201103171000000001", PAYRESULT_NOTIFY);
    char *ours_number = body_with("oid_partner", OURS, PAYRESULT_NOTIFY);
    char *missing = body_with("oid_partner", NULL, PAYRESULT_NOTIFY);
    char *boolean = body_with("oid_partner", "true", PAYRESULT_NOTIFY);

    (void)state;
    assert_kind(ours_bad, PAYRESULT_INVALID_FIELD, "bad no_order");
    assert_kind(other, PAYRESULT_WRONG_PARTNER, "oid_partner is not ours");
    assert_kind(other_short, PAYRESULT_WRONG_PARTNER, "bad oid_partner");
    assert_kind(other_number, PAYRESULT_WRONG_PARTNER, "bad oid_partner");
    assert_kind(ours_number, PAYRESULT_INVALID_FIELD, "bad oid_partner");
    assert_kind(missing, PAYRESULT_INVALID_FIELD, "missing oid_partner");
    assert_kind(boolean, PAYRESULT_INVALID_FIELD, "bad oid_partner");
    /* Another merchant's message with a field of the wrong type, found before oid_partner. */
    assert_kind("{\"oid_partner\":\"201103171000000001\",\"sign_type\":\"RSA\","
                "\"no_order\":true}",
                PAYRESULT_WRONG_PARTNER, "bad no_order");
    free(ours_bad);
    free(other);
    free(other_short);
    free(other_number);
    free(ours_number);
    free(missing);
    free(boolean);
}

static void test_sign_type(void **state)
{
    const enum payresult_source n = PAYRESULT_NOTIFY;

    assert_refused(n, "sign_type", NULL, "missing sign_type");
    assert_refused(n, "sign_type", "\"MD5\"", "bad sign_type");
    assert_refused(n, "sign_type", "\"rsa\"", "bad sign_type");
    assert_refused(n, "sign_type", "\"RSA \"", "bad sign_type");
    assert_refused(n, "sign_type", "1", "bad sign_type");
}

static void test_no_order(void **state)
{
    const enum payresult_source n = PAYRESULT_NOTIFY;

    assert_refused(n, "no_order", NULL, "missing no_order");
    assert_refused(n, "no_order", "\"\"", "missing no_order");
    assert_refused(n, "no_order", "\"123456789012345678901234567890123\"", "bad no_order");
    assert_refused(n, "no_order", "\"A 1\"", "bad no_order");
    assert_refused(n, "no_order", "\"A&b=1\"", "bad no_order");
    assert_refused(n, "no_order", "\"A=1\"", "bad no_order");
    assert_refused(n, "no_order", "\"A\\\"1\"", "bad no_order");
    assert_refused(n, "no_order", "\"订单\"", "bad no_order");
    assert_refused(n, "no_order", "\"A\\u007f\"", "bad no_order");
    assert_refused(n, "no_order", "\"A\\n\"", "bad no_order");
    assert_refused(n, "no_order", "123", "bad no_order");
    assert_refused(n, "no_order", "false", "bad no_order");
}

static void test_dt_order(void **state)
{
    static const char *const bad[] = {
        "\"2024010112345\"",  "\"202401011234567\"", "\"2024010112345a\"",  "\"20240001123456\"",
        "\"20241301123456\"", "\"20240100123456\"",  "\"20240132123456\"",  "\"20240101243456\"",
        "\"20240101126056\"", "\"20240101123460\"",  "\"2024-01-01 12:3\"", "20240101123456",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(PAYRESULT_NOTIFY, "dt_order", bad[i], "bad dt_order");
    assert_refused(PAYRESULT_NOTIFY, "dt_order", NULL, "missing dt_order");
}

static void test_money_order(void **state)
{
    static const char *const bad[] = {
        "\"0\"", "\"0.00\"", "\"-1\"",     "\"1.234\"",         "\"1e2\"", "1e2",     "-0",
        "0",     "\" 1\"",   "\"49.65 \"", "\"1000000000000\"", "true",    "200.100",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(PAYRESULT_NOTIFY, "money_order", bad[i], "bad money_order");
    assert_refused(PAYRESULT_NOTIFY, "money_order", NULL, "missing money_order");
    assert_refused(PAYRESULT_NOTIFY, "money_order", "\"\"", "missing money_order");
}

static void test_oid_paybill(void **state)
{
    struct payresult r;

    assert_refused(PAYRESULT_NOTIFY, "oid_paybill", NULL, "missing oid_paybill");
    assert_refused(PAYRESULT_NOTIFY, "oid_paybill", "\"\"", "missing oid_paybill");
    assert_refused(PAYRESULT_NOTIFY, "oid_paybill", "\"12a\"", "bad oid_paybill");
    assert_refused(PAYRESULT_NOTIFY, "oid_paybill", "\"-12\"", "bad oid_paybill");
    assert_refused(PAYRESULT_NOTIFY, "oid_paybill", "\"123456789012345678901234567890123\"",
                   "bad oid_paybill");
    assert_refused(PAYRESULT_NOTIFY, "oid_paybill", "2024010112345678", "bad oid_paybill");
    assert_refused(PAYRESULT_QUERY, "oid_paybill", NULL, "missing oid_paybill");
    assert_ok("oid_paybill", "\"12345678901234567890123456789012\"", PAYRESULT_NOTIFY, &r);
}

static void test_result_pay(void **state)
{
    static const char *const not_notified[] = {"\"APPLY\"", "\"CHECK\"", "\"WAITING\"",
                                               "\"PROCESSING\"", "\"CLOSED\""};

    for (size_t i = 0; i < sizeof(not_notified) / sizeof(not_notified[0]); i++)
        assert_refused(PAYRESULT_NOTIFY, "result_pay", not_notified[i], "bad result_pay");
    assert_refused(PAYRESULT_NOTIFY, "result_pay", NULL, "missing result_pay");
    assert_refused(PAYRESULT_NOTIFY, "result_pay", "\"success\"", "bad result_pay");
    assert_refused(PAYRESULT_NOTIFY, "result_pay", "\"UNKNOWN\"", "bad result_pay");
    assert_refused(PAYRESULT_NOTIFY, "result_pay", "true", "bad result_pay");
    assert_refused(PAYRESULT_QUERY, "result_pay", "\"DONE\"", "bad result_pay");
}

static void test_query(void **state)
{
    static const char *const all[] = {"APPLY",   "CHECK",   "WAITING", "PROCESSING",
                                      "SUCCESS", "FAILURE", "CANCEL",  "CLOSED"};
    struct payresult r;
    char raw[32];

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        enum result_pay expected;
        snprintf(raw, sizeof(raw), "\"%s\"", all[i]);
        assert_ok("result_pay", raw, PAYRESULT_QUERY, &r);
        assert_int_equal(state_result_parse(all[i], &expected), 0);
        assert_int_equal(r.result_pay, expected);
    }
    /* Pending: LianLian may have no bill number yet. */
    char *body = body_with("oid_paybill", NULL, PAYRESULT_QUERY);
    char *p = strstr(body, "\"SUCCESS\"");
    assert_non_null(p);
    memcpy(p, "\"WAITING\"", 9);
    struct msg m = {0};
    const char *why = NULL;
    assert_int_equal(msg_parse(body, strlen(body), &m, &why), 0);
    assert_int_equal(payresult_from_msg(&m, PAYRESULT_QUERY, OURS, &r, &why), PAYRESULT_ACCEPTED);
    assert_int_equal(r.result_pay, RESULT_WAITING);
    assert_string_equal(r.oid_paybill, "");
    /* The same message is no notification. */
    assert_int_equal(payresult_from_msg(&m, PAYRESULT_NOTIFY, OURS, &r, &why),
                     PAYRESULT_INVALID_FIELD);
    assert_string_equal(why, "bad result_pay");
    msg_finish(&m);
    free(body);

    assert_refused(PAYRESULT_QUERY, "ret_code", NULL, "missing ret_code");
    assert_refused(PAYRESULT_QUERY, "ret_code", "\"8901\"", "ret_code is not 0000");
    assert_refused(PAYRESULT_QUERY, "ret_code", "\"0000 \"", "ret_code is not 0000");
    assert_refused(PAYRESULT_QUERY, "ret_code", "0", "bad ret_code");
    assert_refused(PAYRESULT_QUERY, "oid_partner", "\"201103171000000001\"",
                   "oid_partner is not ours");
}

static void test_optional_fields(void **state)
{
    const enum payresult_source n = PAYRESULT_NOTIFY;

    assert_refused(n, "settle_date", "\"2024010\"", "bad settle_date");
    assert_refused(n, "settle_date", "\"202401021\"", "bad settle_date");
    assert_refused(n, "settle_date", "\"2024-1-2\"", "bad settle_date");
    assert_refused(n, "settle_date", "20240102", "bad settle_date");
    assert_refused(n, "info_order", "\"line\\nbreak\"", "bad info_order");
    assert_refused(n, "info_order", "\"tab\\there\"", "bad info_order");
    assert_refused(n, "info_order", "\"c1\\u0085\"", "bad info_order");
    assert_refused(n, "info_order", "false", "bad info_order");
}

static void test_extra_fields(void **state)
{
    const enum payresult_source n = PAYRESULT_NOTIFY;

    assert_refused(n, "remark", "\"a\\u0001b\"", "control character in a field");
    assert_refused(n, "remark", "\"a\\nb\"", "control character in a field");
    assert_refused(n, "remark", "\"a\\u007f\"", "control character in a field");
    assert_refused(n, "remark", "\"\\u009f\"", "control character in a field");
    assert_refused(n, "re\\u0001mark", "\"x\"", "control character in a field");
    assert_refused(n, "sign", "\"a\\rb\"", "control character in a field");
}

/* Control characters are looked for 8 bytes at a time: one is found at any place of a value,
 * and the characters next to them pass. */
static void test_controls_any_place(void **state)
{
    static const char pad[] = "abcdefghijklmnopqrstu";
    static const char *const bad[] = {"\\u0001", "\\u001f", "\\n", "\\u007f", "\\u0080", "\\u009f"};
    static const char *const good[] = {" ", "~", "\\u00a0", "\\u00bf", "中", "\\u0100"};
    char raw[128];
    struct payresult r;

    (void)state;
    for (int k = 0; k <= 20; k++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(raw, sizeof(raw), "\"%.*s%s%.*s\"", k, pad, bad[i], 20 - k, pad);
            assert_refused(PAYRESULT_NOTIFY, "remark", raw, "control character in a field");
            assert_refused(PAYRESULT_NOTIFY, "info_order", raw, "bad info_order");
        }
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            snprintf(raw, sizeof(raw), "\"%.*s%s%.*s\"", k, pad, good[i], 20 - k, pad);
            assert_ok("remark", raw, PAYRESULT_NOTIFY, &r);
            assert_ok("info_order", raw, PAYRESULT_NOTIFY, &r);
        }
    }
}

/* The result of a whole raw body, which must be accepted. */
static void parse_raw(const char *body, struct payresult *r)
{
    struct msg m = {0};
    const char *why = NULL;

    if (msg_parse(body, strlen(body), &m, &why) < 0)
        fail_msg("msg_parse refused (%s): %s", why, body);
    if (payresult_from_msg(&m, PAYRESULT_NOTIFY, OURS, r, &why) != PAYRESULT_ACCEPTED)
        fail_msg("refused (%s): %s", why, body);
    msg_finish(&m);
}

#define SIGNED_FIELDS                                                                              \
    "\"oid_partner\":\"" OURS "\",\"sign_type\":\"RSA\",\"no_order\":\"N1\","                      \
    "\"dt_order\":\"20240101123456\",\"oid_paybill\":\"2024010112345678\",\"result_pay\":"         \
    "\"SUCCESS\",\"settle_date\":\"20240102\",\"info_order\":\"工资\""

/* Issue 11, item 3: what identifies a message is what was signed, whatever else the body holds. */
static void test_signed_digest(void **state)
{
    static const char *const same[] = {
        /* white space, member order, \u escapes, a number for a string, "" and null members */
        "{ \"sign\" : \"c2lnbmF0dXJl\",\n\t" SIGNED_FIELDS ",\r\n\"money_order\":\"49.65\" }",
        "{\"money_order\":\"49.65\"," SIGNED_FIELDS ",\"sign\":\"c2lnbmF0dXJl\"}",
        "{\"money_order\":49.65," SIGNED_FIELDS ",\"sign\":\"c2lnbmF0dXJl\"}",
        "{\"money_order\":\"\\u0034\\u0039.65\"," SIGNED_FIELDS ",\"sign\":\"c2lnbmF0dXJl\"}",
        "{\"money_order\":\"49.65\"," SIGNED_FIELDS ",\"sign\":\"c2lnbmF0dXJl\",\"x\":\"\","
        "\"y\":null,\"memo\":\"\"}",
    };
    static const char *const other[] = {
        /* another signature; another signed value; a member that is signed */
        "{\"money_order\":\"49.65\"," SIGNED_FIELDS ",\"sign\":\"c2lnbmF0dXJm\"}",
        "{\"money_order\":\"49.66\"," SIGNED_FIELDS ",\"sign\":\"c2lnbmF0dXJl\"}",
        "{\"money_order\":\"49.65\"," SIGNED_FIELDS ",\"sign\":\"c2lnbmF0dXJl\",\"memo\":\"x\"}",
    };
    struct payresult first, r;
    unsigned char want[PAYRESULT_DIGEST_LEN];
    unsigned int len = 0;

    parse_raw(same[0], &first);
    for (size_t i = 1; i < sizeof(same) / sizeof(same[0]); i++) {
        parse_raw(same[i], &r);
        if (memcmp(r.signed_sha256, first.signed_sha256, PAYRESULT_DIGEST_LEN) != 0)
            fail_msg("variant %zu has another digest: %s", i, same[i]);
    }
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        parse_raw(other[i], &r);
        if (memcmp(r.signed_sha256, first.signed_sha256, PAYRESULT_DIGEST_LEN) == 0)
            fail_msg("message %zu has the same digest: %s", i, other[i]);
    }

    /* It is SHA-256 of the string to sign, a NUL and the signature. */
    struct msg m = {0};
    const char *why = NULL;
    size_t n = 0;
    assert_int_equal(msg_parse(same[1], strlen(same[1]), &m, &why), 0);
    char *text = sign_string(&m, &n);
    assert_non_null(text);
    text = realloc(text, n + 1 + 12);
    assert_non_null(text);
    memcpy(text + n + 1, "c2lnbmF0dXJl", 12);
    assert_int_equal(EVP_Digest(text, n + 1 + 12, want, &len, EVP_sha256(), NULL), 1);
    assert_memory_equal(want, first.signed_sha256, PAYRESULT_DIGEST_LEN);
    /* payresult_from_signed, given the string by the caller, hashes that string. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(payresult_from_signed(&m, text, n, PAYRESULT_NOTIFY, OURS, &r, &why),
                     PAYRESULT_ACCEPTED);
    assert_memory_equal(want, r.signed_sha256, PAYRESULT_DIGEST_LEN);
    assert_int_equal(payresult_from_signed(&m, text, n - 1, PAYRESULT_NOTIFY, OURS, &r, &why),
                     PAYRESULT_ACCEPTED);
    assert_memory_not_equal(want, r.signed_sha256, PAYRESULT_DIGEST_LEN);
    free(text);
    msg_finish(&m);
}

/* A known field is found by its exact key: a key that differs by case, is cut short or runs on
 * is another member, and the field is missing. The signature's member is found the same way. */
static void test_known_keys_exact(void **state)
{
    static const char *const near[] = {"No_order", "no_orde", "no_order_", "n", "NO_ORDER"};
    char body[1024];
    struct payresult r;

    (void)state;
    for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"money_order\":\"49.65\",\"oid_partner\":\"" OURS "\",\"sign_type\":"
                 "\"RSA\",\"%s\":\"N1\",\"dt_order\":\"20240101123456\",\"oid_paybill\":"
                 "\"2024010112345678\",\"result_pay\":\"SUCCESS\",\"sign\":\"c2ln\"}",
                 near[i]);
        assert_kind(body, PAYRESULT_INVALID_FIELD, "missing no_order");
    }
    /* "Sign" is signed like any other member, and no signature for the digest. */
    parse_raw("{\"money_order\":\"49.65\"," SIGNED_FIELDS ",\"Sign\":\"c2ln\"}", &r);
    struct payresult with;
    parse_raw("{\"money_order\":\"49.65\"," SIGNED_FIELDS ",\"sign\":\"c2ln\"}", &with);
    assert_memory_not_equal(r.signed_sha256, with.signed_sha256, PAYRESULT_DIGEST_LEN);
}

/* The exported formats are the ones the messages are checked with. */
static void test_exported_formats(void **state)
{
    int64_t fen = 0;

    assert_true(payresult_valid_oid_partner("201103171000000000"));
    assert_false(payresult_valid_oid_partner("20110317100000000"));
    assert_false(payresult_valid_oid_partner("2011031710000000000"));
    assert_false(payresult_valid_oid_partner("20110317100000000x"));
    assert_false(payresult_valid_oid_partner(""));
    assert_true(payresult_valid_no_order("A-1"));
    assert_false(payresult_valid_no_order(""));
    assert_false(payresult_valid_no_order("A&1"));
    assert_false(payresult_valid_no_order("123456789012345678901234567890123"));
    assert_true(payresult_valid_dt_order("20241231235959"));
    assert_false(payresult_valid_dt_order("20241301000000"));
    assert_false(payresult_valid_dt_order("20241231990000"));
    assert_false(payresult_valid_dt_order("20240100000000"));
    assert_int_equal(payresult_money_fen("49.65", &fen), 0);
    assert_int_equal(fen, 4965);
    assert_int_equal(payresult_money_fen("0.00", &fen), -1);
    assert_int_equal(payresult_money_fen("1000000000000", &fen), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_notification),
        cmocka_unit_test(test_valid_variants),
        cmocka_unit_test(test_info_order_length),
        cmocka_unit_test(test_memo),
        cmocka_unit_test(test_oid_partner),
        cmocka_unit_test(test_refusal_kinds),
        cmocka_unit_test(test_sign_type),
        cmocka_unit_test(test_no_order),
        cmocka_unit_test(test_dt_order),
        cmocka_unit_test(test_money_order),
        cmocka_unit_test(test_oid_paybill),
        cmocka_unit_test(test_result_pay),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_optional_fields),
        cmocka_unit_test(test_extra_fields),
        cmocka_unit_test(test_signed_digest),
        cmocka_unit_test(test_known_keys_exact),
        cmocka_unit_test(test_controls_any_place),
        cmocka_unit_test(test_exported_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
