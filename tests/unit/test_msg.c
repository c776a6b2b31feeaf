/* msg: strict parsing of LianLian's flat JSON objects, and writing them back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msg.h"
#include "sign.h"

static int parse(const char *body, struct msg *m, const char **why)
{
    return msg_parse(body, strlen(body), m, why);
}

static void assert_refused_len(const char *body, size_t len, const char *reason)
{
    struct msg m = {0};
    const char *why = NULL;

    if (msg_parse(body, len, &m, &why) == 0)
        fail_msg("accepted: %.*s", (int)len, body);
    assert_non_null(why);
    if (reason != NULL && strcmp(why, reason) != 0)
        fail_msg("%.*s: refused as \"%s\", expected \"%s\"", (int)len, body, why, reason);
    assert_null(m.fields);
    assert_int_equal(m.n, 0);
}

static void assert_refused(const char *body, const char *reason)
{
    assert_refused_len(body, strlen(body), reason);
}

/* Parses body, which must have one member "v", and checks its type and value. */
static void assert_value(const char *body, enum msg_type type, const char *value)
{
    struct msg m = {0};
    const char *why = NULL;

    if (parse(body, &m, &why) < 0)
        fail_msg("%s: refused: %s", body, why);
    assert_int_equal(m.n, 1);
    assert_string_equal(m.fields[0].key, "v");
    assert_int_equal(m.fields[0].type, type);
    if (value == NULL)
        assert_null(m.fields[0].value);
    else
        assert_string_equal(m.fields[0].value, value);
    msg_finish(&m);
}

static char *sign_str(const char *body)
{
    struct msg m = {0};
    const char *why = NULL;
    char *s = NULL;

    if (parse(body, &m, &why) < 0)
        fail_msg("%s: refused: %s", body, why);
    s = sign_string(&m, NULL);
    assert_non_null(s);
    msg_finish(&m);
    return s;
}

static void test_basic(void **state)
{
    struct msg m = {0};
    const char *why = NULL;

    assert_int_equal(
        parse(" {\"b\" : \"x\",\n\"a\":1,\t\"t\":true,\"f\":false,\"z\":null}\r\n", &m, &why), 0);
    assert_int_equal(m.n, 5);
    /* Document order is kept. */
    assert_string_equal(m.fields[0].key, "b");
    assert_string_equal(m.fields[1].key, "a");
    assert_int_equal(m.fields[1].type, MSG_NUMBER);
    assert_int_equal(m.fields[2].type, MSG_TRUE);
    assert_string_equal(m.fields[2].value, "true");
    assert_int_equal(m.fields[3].type, MSG_FALSE);
    assert_string_equal(m.fields[3].value, "false");
    assert_int_equal(m.fields[4].type, MSG_NULL);
    assert_null(m.fields[4].value);
    assert_string_equal(msg_get(&m, "b"), "x");
    assert_string_equal(msg_get(&m, "a"), "1");
    assert_null(msg_get(&m, "t"));
    assert_null(msg_get(&m, "z"));
    assert_null(msg_get(&m, "B"));
    assert_non_null(msg_find(&m, "z"));
    assert_null(msg_find(&m, "missing"));
    msg_finish(&m);
    assert_int_equal(parse("{}", &m, &why), 0);
    assert_int_equal(m.n, 0);
    msg_finish(&m);
}

static void test_duplicates(void **state)
{
    assert_refused("{\"a\":\"1\",\"a\":\"2\"}", "duplicate key");
    assert_refused("{\"a\":\"1\",\"b\":2,\"a\":\"1\"}", "duplicate key");
    assert_refused("{\"a\":\"1\",\"\\u0061\":\"2\"}", "duplicate key");
    assert_refused("{\"sign\":\"1\",\"Sign\":\"2\"}", "duplicate key");
    assert_refused("{\"sign_type\":\"RSA\",\"SIGN_TYPE\":\"MD5\"}", "duplicate key");
    assert_refused("{\"money_order\":\"1.00\",\"money_order\":null}", "duplicate key");
}

static void test_nested(void **state)
{
    assert_refused("{\"a\":{}}", "nested value");
    assert_refused("{\"a\":{\"b\":1}}", "nested value");
    assert_refused("{\"a\":[1,2]}", "nested value");
    assert_refused("{\"a\":\"1\",\"b\":[]}", "nested value");
    /* Deep nesting is refused at the first level, never recursed into. */
    char deep[20001];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    memcpy(deep, "{\"a\":", 5);
    assert_refused(deep, "nested value");
}

static void test_numbers_keep_text(void **state)
{
    assert_value("{\"v\":200.10}", MSG_NUMBER, "200.10");
    assert_value("{\"v\":-0}", MSG_NUMBER, "-0");
    assert_value("{\"v\":1e5}", MSG_NUMBER, "1e5");
    assert_value("{\"v\":1E+05}", MSG_NUMBER, "1E+05");
    assert_value("{\"v\":-1.50e-3}", MSG_NUMBER, "-1.50e-3");
    assert_value("{\"v\":0}", MSG_NUMBER, "0");
    assert_value("{\"v\" : 0.0 }", MSG_NUMBER, "0.0");
    assert_value("{\"v\":123456789012345678901234567890}", MSG_NUMBER,
                 "123456789012345678901234567890");
}

static void test_number_grammar(void **state)
{
    static const char *const bad[] = {"+1",  "01",  ".5",    "1.", "-",   "1e",    "1e+",
                                      "-01", "0x1", "1.2.3", "00", "-.5", "1e5.0", "1-2"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"v\":%s}", bad[i]);
        assert_refused(body, "invalid number");
    }
    assert_refused("{\"v\":NaN}", NULL);
    assert_refused("{\"v\":Infinity}", NULL);
    assert_refused("{\"v\":-Infinity}", NULL);
}

static void test_escapes(void **state)
{
    assert_value("{\"v\":\"\\u4e2d\"}", MSG_STRING, "\xe4\xb8\xad");
    assert_value("{\"v\":\"\\u4E2D\\u6587\"}", MSG_STRING, "中文");
    assert_value("{\"v\":\"\\ud83d\\ude00\"}", MSG_STRING, "\xf0\x9f\x98\x80");
    assert_value("{\"v\":\"http:\\/\\/x\"}", MSG_STRING, "http://x");
    assert_value("{\"v\":\"a\\\"b\\\\c\\n\\t\\r\\b\\f\"}", MSG_STRING, "a\"b\\c\n\t\r\b\f");
    assert_value("{\"v\":\"\\u00e9\"}", MSG_STRING, "\xc3\xa9");
    assert_value("{\"\\u0076\":\"x\"}", MSG_STRING, "x");
    assert_value("{\"v\":\"中文，全角\"}", MSG_STRING, "中文，全角");
    assert_refused("{\"v\":\"\\x41\"}", "bad escape in string");
    assert_refused("{\"v\":\"\\u12\"}", "bad unicode escape");
    assert_refused("{\"v\":\"\\u12g4\"}", "bad unicode escape");
}

static void test_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "{\"v\":\"\xc0\xaf\"}",             /* overlong '/' */
        "{\"v\":\"\xe0\x80\xaf\"}",         /* overlong, 3 bytes */
        "{\"v\":\"\xf0\x80\x80\xaf\"}",     /* overlong, 4 bytes */
        "{\"v\":\"\xed\xa0\x80\"}",         /* U+D800 encoded */
        "{\"v\":\"\xed\xbf\xbf\"}",         /* U+DFFF encoded */
        "{\"v\":\"\xf4\x90\x80\x80\"}",     /* U+110000 */
        "{\"v\":\"\xf8\x88\x80\x80\x80\"}", /* 5-byte form */
        "{\"v\":\"\x80\"}",                 /* lone continuation */
        "{\"v\":\"\xe4\xb8\"}",             /* truncated */
        "{\"v\":\"\xff\"}",
        "{\"\xc3\":\"x\"}",  /* in a key */
        "{\"v\":\"x\"}\xc3", /* outside strings */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(bad[i], "invalid UTF-8");
    assert_value("{\"v\":\"\xf4\x8f\xbf\xbf\"}", MSG_STRING, "\xf4\x8f\xbf\xbf");
    assert_value("{\"v\":\"\xef\xbf\xbf\"}", MSG_STRING, "\xef\xbf\xbf");
}

/* The validator reads ASCII 8 bytes at a time: a bad sequence after any number of ASCII bytes,
 * at the end of the body or not, is found, and a good one is kept. */
static void test_utf8_after_ascii(void **state)
{
    static const char *const bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\x80", "\xe4\xb8", "\xff"};
    char body[128], want[64];

    (void)state;
    for (int k = 0; k <= 20; k++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(body, sizeof(body), "{\"v\":\"%.*s%s\"}", k, "abcdefghijklmnopqrstuvwxyz",
                     bad[i]);
            assert_refused(body, "invalid UTF-8");
            /* the last bytes of the body */
            int n = snprintf(body, sizeof(body), "{\"v\":\"x\"}%.*s%s", k,
                             "                          ", bad[i]);
            assert_refused_len(body, (size_t)n, "invalid UTF-8");
        }
        snprintf(want, sizeof(want), "%.*s\xe4\xb8\xad", k, "abcdefghijklmnopqrstuvwxyz");
        snprintf(body, sizeof(body), "{\"v\":\"%s\"}", want);
        assert_value(body, MSG_STRING, want);
    }
}

static void test_nul_and_surrogates(void **state)
{
    assert_refused("{\"v\":\"a\\u0000b\"}", "escaped NUL character");
    assert_refused("{\"a\\u0000b\":\"x\"}", "escaped NUL character");
    assert_refused_len("{\"v\":\"a\0b\"}", 11, "control character in string");
    assert_refused_len("{\"v\":\"a\"}\0", 10, "trailing garbage");
    assert_refused("{\"v\":\"\\ud800\"}", "invalid surrogate escape");
    assert_refused("{\"v\":\"\\udc00\"}", "invalid surrogate escape");
    assert_refused("{\"v\":\"\\ude00\\ud83d\"}", "invalid surrogate escape");
    assert_refused("{\"v\":\"\\ud800\\u0041\"}", "invalid surrogate escape");
    assert_refused("{\"v\":\"\\ud800\\ud800\"}", "invalid surrogate escape");
    assert_refused("{\"v\":\"\\ud800x\"}", "invalid surrogate escape");
    assert_refused("{\"v\":\"x\ty\"}", "control character in string");
}

static void test_framing(void **state)
{
    assert_refused("", "empty body");
    assert_refused(" \r\n\t", "empty body");
    assert_refused("\"a\"", "not a JSON object");
    assert_refused("1", "not a JSON object");
    assert_refused("null", "not a JSON object");
    assert_refused("[{\"a\":\"1\"}]", "not a JSON object");
    assert_refused("\xef\xbb\xbf{\"a\":\"1\"}", "not a JSON object");
    assert_refused("{\"a\":\"1\"}x", "trailing garbage");
    assert_refused("{\"a\":\"1\"}{}", "trailing garbage");
    assert_refused("{\"a\":\"1\"} ,", "trailing garbage");
    assert_refused("{\"\":\"1\"}", "empty key");
    static const char *const malformed[] = {
        "{",
        "{\"a\"",
        "{\"a\":",
        "{\"a\":\"1\"",
        "{\"a\":\"1\",}",
        "{,}",
        "{\"a\" \"1\"}",
        "{a:1}",
        "{\"a\":'1'}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":\"1\"\"b\":2}",
        "{\"a\":\"unterminated}",
        "{\"a\":1,,\"b\":2}",
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        assert_refused(malformed[i], "malformed JSON");
}

/* The body need not be NUL-terminated: only len bytes count. */
static void test_length_bounded(void **state)
{
    const char buf[] = "{\"a\":\"1\"}GARBAGE";
    struct msg m = {0};
    const char *why = NULL;

    assert_int_equal(msg_parse(buf, 9, &m, &why), 0);
    assert_string_equal(msg_get(&m, "a"), "1");
    msg_finish(&m);
    assert_refused_len(buf, 8, "malformed JSON");
    assert_refused_len("{\"a\":12}", 7, "malformed JSON");
}

static void test_sign_string_values(void **state)
{
    char *s = sign_str("{\"b\":\"  \",\"a\":\"\",\"c\":null,\"d\":true,\"e\":false,\"f\":\" x \"}");
    assert_string_equal(s, "b=  &d=true&e=false&f= x ");
    free(s);
    s = sign_str("{\"v\":\"a%20b+c\",\"sign\":\"zzz\",\"w\":200.10,\"u\":\"\\u4e2d\\/\"}");
    assert_string_equal(s, "u=中/&v=a%20b+c&w=200.10");
    free(s);
}

/* Strings are scanned 8 bytes at a time: a quote, a backslash or a control character is seen
 * at any place of a string, and the bytes next to them in value pass as they are. */
static void test_string_bytes_any_place(void **state)
{
    static const char pad[] = "abcdefghijklmnopqrstu";
    /* bytes next to the ones that end a plain run, in value: all plain */
    static const unsigned char near[] = {0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xbf};
    char body[128], want[64];

    (void)state;
    for (int k = 0; k <= 20; k++) {
        for (int c = 1; c < 0x20; c++) {
            int n = snprintf(body, sizeof(body), "{\"v\":\"%.*s%c%.*s\"}", k, pad, c, 20 - k, pad);
            assert_refused_len(body, (size_t)n, "control character in string");
            n = snprintf(body, sizeof(body), "{\"%.*s%c\":\"v\"}", k, pad, c);
            assert_refused_len(body, (size_t)n, "control character in string");
        }
        /* a raw NUL, which snprintf cannot write */
        int n = snprintf(body, sizeof(body), "{\"v\":\"%.*s#%.*s\"}", k, pad, 20 - k, pad);
        *strchr(body, '#') = '\0';
        assert_refused_len(body, (size_t)n, "control character in string");
        /* an escape, and a quote that ends the string early */
        snprintf(body, sizeof(body), "{\"v\":\"%.*s\\n\\\"%.*s\"}", k, pad, 20 - k, pad);
        snprintf(want, sizeof(want), "%.*s\n\"%.*s", k, pad, 20 - k, pad);
        assert_value(body, MSG_STRING, want);
        snprintf(body, sizeof(body), "{\"v\":\"%.*s\"%.*s\"}", k, pad, 20 - k, pad);
        assert_refused(body, NULL);
        /* a string the body ends in */
        snprintf(body, sizeof(body), "{\"v\":\"%.*s", k, pad);
        assert_refused(body, "malformed JSON");
        for (size_t i = 0; i < sizeof(near); i++) {
            if (near[i] >= 0x80) /* as the second byte of a two-byte sequence */
                snprintf(want, sizeof(want), "%.*s\xc2%c%.*s", k, pad, near[i], 20 - k, pad);
            else
                snprintf(want, sizeof(want), "%.*s%c%.*s", k, pad, near[i], 20 - k, pad);
            snprintf(body, sizeof(body), "{\"v\":\"%s\"}", want);
            assert_value(body, MSG_STRING, want);
        }
    }
}

/* Key number i of a body of n distinct keys, in no sorted order. */
static size_t scrambled(size_t i, size_t n)
{
    return (i % 2 ? i : 2 * n - i) * 13;
}

/* n members "k<number>", the last one's key replaced with "K" and the number of member dup
 * (dup == n - 1: no duplicate). */
static size_t keys_body(char *body, size_t cap, size_t n, size_t dup)
{
    size_t len = (size_t)snprintf(body, cap, "{");

    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(body + len, cap - len, "%s\"%s%03zu\":\"v\"", i ? "," : "",
                                i == n - 1 ? "K" : "k", scrambled(i == n - 1 ? dup : i, n));
    len += (size_t)snprintf(body + len, cap - len, "}");
    return len;
}

/* Duplicates are found by sorting, and few members are sorted otherwise than many: whatever the
 * count and wherever the two stand, they are found, and distinct keys pass. */
static void test_duplicates_any_count(void **state)
{
    char body[2048];
    struct msg m = {0};
    const char *why = NULL;

    (void)state;
    for (size_t n = 2; n <= 40; n++) {
        size_t len = keys_body(body, sizeof(body), n, n - 1);
        assert_int_equal(msg_parse(body, len, &m, &why), 0);
        assert_int_equal(m.n, n);
        msg_finish(&m);
        for (size_t dup = 0; dup + 1 < n; dup++) {
            len = keys_body(body, sizeof(body), n, dup);
            assert_refused_len(body, len, "duplicate key");
        }
    }
}

static void test_many_members(void **state)
{
    const size_t n = 3000;
    size_t cap = n * 32 + 16, len = 0;
    char *body = malloc(cap);
    struct msg m = {0};
    const char *why = NULL;
    struct timespec t0, t1;

    assert_non_null(body);
    len += (size_t)snprintf(body + len, cap - len, "{");
    for (size_t i = 0; i < n; i++)
        len +=
            (size_t)snprintf(body + len, cap - len, "%s\"key%05zu\":\"v%zu\"", i ? "," : "", i, i);
    len += (size_t)snprintf(body + len, cap - len, "}");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(msg_parse(body, len, &m, &why), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(m.n, n);
    assert_string_equal(msg_get(&m, "key02999"), "v2999");
    msg_finish(&m);
    /* The same body with its last key made a case-variant of the first. */
    memcpy(strstr(body, "\"key02999\""), "\"KEY00000\"", 10);
    assert_refused_len(body, len, "duplicate key");
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 0.5);
    free(body);
}

static void assert_same_fields(const struct msg *a, const struct msg *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->fields[i].key, b->fields[i].key);
        assert_int_equal(a->fields[i].type, b->fields[i].type);
        if (a->fields[i].value == NULL)
            assert_null(b->fields[i].value);
        else
            assert_string_equal(a->fields[i].value, b->fields[i].value);
    }
}

static void test_to_json_round_trip(void **state)
{
    const char *body =
        "{ \"ret_msg\" : \"中文\\u4e2d \\\"q\\\" back\\\\slash \\/ \\n\\t\\u0001\\u001f\","
        "\"money_order\":200.10,\"n\":-0,\"e\":1E+5,\"t\":true,\"f\":false,"
        "\"z\":null,\"emoji\":\"\\ud83d\\ude00\",\"k\\\"ey\":\"\" }";
    struct msg a = {0}, b = {0};
    const char *why = NULL;
    char *json = NULL, *sa = NULL, *sb = NULL;

    assert_int_equal(parse(body, &a, &why), 0);
    json = msg_to_json(&a);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"money_order\":200.10,"));
    assert_non_null(strstr(json, "\\u0001\\u001f"));
    assert_non_null(strstr(json, "\"z\":null"));
    assert_non_null(strstr(json, "中文中"));
    assert_int_equal(parse(json, &b, &why), 0);
    assert_same_fields(&a, &b);
    sa = sign_string(&a, NULL);
    sb = sign_string(&b, NULL);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_string_equal(sa, sb);
    free(sa);
    free(sb);
    free(json);
    msg_finish(&a);
    msg_finish(&b);
}

static void test_to_json_exact(void **state)
{
    struct msg m = {0};
    const char *why = NULL;
    char *json = NULL;

    assert_int_equal(
        parse("{ \"a\" : \"x\\\"y\", \"n\" : 200.10 , \"t\":true,\"z\":null}", &m, &why), 0);
    json = msg_to_json(&m);
    assert_string_equal(json, "{\"a\":\"x\\\"y\",\"n\":200.10,\"t\":true,\"z\":null}");
    free(json);
    msg_finish(&m);
    json = msg_to_json(&m);
    assert_string_equal(json, "{}");
    free(json);
}

static void test_set(void **state)
{
    struct msg m = {0};
    const char *why = NULL;
    char *json = NULL;

    assert_int_equal(parse("{\"a\":1,\"Sign\":\"old\"}", &m, &why), 0);
    assert_int_equal(msg_set(&m, "a", "one"), 0);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.fields[0].type, MSG_STRING);
    assert_string_equal(msg_get(&m, "a"), "one");
    /* A case-variant is replaced, never kept beside the new key. */
    assert_int_equal(msg_set(&m, "sign", "new"), 0);
    assert_int_equal(m.n, 2);
    assert_null(msg_find(&m, "Sign"));
    assert_string_equal(msg_get(&m, "sign"), "new");
    assert_int_equal(msg_set(&m, "sign_type", "RSA"), 0);
    assert_int_equal(m.n, 3);
    assert_string_equal(m.fields[2].key, "sign_type");
    assert_int_equal(msg_set(&m, "bad", "\xc0\xaf"), -1);
    assert_int_equal(msg_set(&m, "", "x"), -1);
    assert_int_equal(m.n, 3);
    json = msg_to_json(&m);
    assert_string_equal(json, "{\"a\":\"one\",\"sign\":\"new\",\"sign_type\":\"RSA\"}");
    free(json);
    /* Removing: only the exact key, the others keep their order. */
    msg_remove(&m, "SIGN");
    assert_int_equal(m.n, 3);
    msg_remove(&m, "sign");
    assert_int_equal(m.n, 2);
    json = msg_to_json(&m);
    assert_string_equal(json, "{\"a\":\"one\",\"sign_type\":\"RSA\"}");
    free(json);
    msg_finish(&m);

    struct msg empty = {0};
    assert_int_equal(msg_set(&empty, "k", "v"), 0);
    assert_string_equal(msg_get(&empty, "k"), "v");
    msg_finish(&empty);
}

/* The order LianLian's signer sorts keys in, and the sameness msg_parse refuses duplicates by:
 * ASCII letters folded, nothing else, whatever the locale. */
static void test_key_casecmp(void **state)
{
    (void)state;
    assert_int_equal(msg_key_casecmp("No_Order", "no_order"), 0);
    assert_true(msg_key_casecmp("money_order", "No_order") < 0);
    assert_true(msg_key_casecmp("no_order", "NO_ORDER_X") < 0);
    assert_true(msg_key_casecmp("a", "") > 0);
    /* 'A' compares as 'a' (0x61): '_' (0x5f) comes before it, as it does before 'a' */
    assert_true(msg_key_casecmp("_", "A") < 0);
    assert_true(msg_key_casecmp("\xc3\x89", "\xc3\xa9") != 0); /* É and é: not ASCII */
    assert_true(msg_key_casecmp("[", "z") < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_duplicates_any_count),
        cmocka_unit_test(test_utf8_after_ascii),
        cmocka_unit_test(test_string_bytes_any_place),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_numbers_keep_text),
        cmocka_unit_test(test_number_grammar),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_nul_and_surrogates),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_length_bounded),
        cmocka_unit_test(test_sign_string_values),
        cmocka_unit_test(test_many_members),
        cmocka_unit_test(test_to_json_round_trip),
        cmocka_unit_test(test_to_json_exact),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_key_casecmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
