/* sign: the string LianLian signs, and MD5withRSA against LianLian's real signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "b64.h"
#include "keys.h"
#include "msg.h"
#include "sign.h"
#include "testvectors.h"

static EVP_PKEY *vector_key(const char *name)
{
    char path[4096], err[512];
    EVP_PKEY *key = NULL;

    snprintf(path, sizeof(path), "%s/%s", testvec_dir(), name);
    key = keys_load_public(path, err, sizeof(err));
    if (key == NULL)
        fail_msg("%s", err);
    return key;
}

static void parse_or_fail(const char *body, size_t len, struct msg *m)
{
    const char *why = NULL;

    if (msg_parse(body, len, m, &why) < 0)
        fail_msg("refused: %s", why);
}

/* Every single-byte change of the signed string, and of every signed value, breaks it. */
static void assert_tamper_fails(struct msg *m, EVP_PKEY *key, const char *signstr, size_t len)
{
    EVP_PKEY *keys[] = {key};
    const char *sig = msg_get(m, "sign");
    char *copy = malloc(len + 1);

    assert_non_null(copy);
    memcpy(copy, signstr, len + 1);
    assert_int_equal(sign_verify(key, copy, len, sig), 0);
    for (size_t i = 0; i < len; i++) {
        copy[i] ^= 0x01;
        assert_int_equal(sign_verify(key, copy, len, sig), -1);
        copy[i] ^= 0x01;
    }
    assert_int_equal(sign_verify(key, copy, len - 1, sig), -1);
    free(copy);
    for (size_t f = 0; f < m->n; f++) {
        if (strcmp(m->fields[f].key, "sign") == 0)
            continue;
        for (char *p = m->fields[f].value; *p; p++) {
            *p ^= 0x20;
            assert_int_equal(sign_verify_msg(m, keys, 1), -1);
            *p ^= 0x20;
        }
    }
    assert_int_equal(sign_verify_msg(m, keys, 1), 0);
}

static void check_vector(const char *json_path, EVP_PKEY *pem, EVP_PKEY *b64, EVP_PKEY *other)
{
    char signstr_path[4096];
    size_t jlen = 0, slen = 0, len = 0;
    char *json = testvec_read_path(json_path, &jlen), *expected = NULL, *got = NULL;
    struct msg m = {0};

    snprintf(signstr_path, sizeof(signstr_path), "%.*s.signstr", (int)(strlen(json_path) - 5),
             json_path);
    expected = testvec_read_path(signstr_path, &slen);
    parse_or_fail(json, jlen, &m);
    got = sign_string(&m, &len);
    assert_non_null(got);
    assert_int_equal(len, slen);
    assert_memory_equal(got, expected, slen);
    assert_int_equal(sign_verify_msg(&m, &pem, 1), 0);
    assert_int_equal(sign_verify_msg(&m, &b64, 1), 0);
    assert_int_equal(sign_verify_msg(&m, &other, 1), -1);
    EVP_PKEY *rotation[] = {other, b64};
    assert_int_equal(sign_verify_msg(&m, rotation, 2), 1);
    assert_int_equal(sign_verify_msg(&m, rotation, 1), -1);
    assert_int_equal(sign_verify_msg(&m, rotation, 0), -1);
    /* With the string built by the caller: the same answers, and only for this message's text. */
    assert_int_equal(sign_verify_text(&m, got, len, rotation, 2), 1);
    assert_int_equal(sign_verify_text(&m, got, len, rotation, 1), -1);
    assert_int_equal(sign_verify_text(&m, got, len - 1, rotation, 2), -1);
    assert_int_equal(sign_verify_text(&m, NULL, 0, rotation, 2), -1);
    assert_tamper_fails(&m, pem, expected, slen);
    free(got);
    free(expected);
    free(json);
    msg_finish(&m);
}

static void test_vectors(void **state)
{
    DIR *dir = opendir(testvec_dir());
    struct dirent *e = NULL;
    EVP_PKEY *pem = vector_key("lianlian_public_key.pem");
    EVP_PKEY *b64 = vector_key("lianlian_public_key.b64");
    EVP_PKEY *other = EVP_RSA_gen(1024);
    int checked = 0;

    assert_non_null(dir);
    assert_non_null(other);
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        char path[4096];
        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", testvec_dir(), e->d_name);
        check_vector(path, pem, b64, other);
        checked++;
    }
    closedir(dir);
    assert_true(checked >= 3);
    EVP_PKEY_free(pem);
    EVP_PKEY_free(b64);
    EVP_PKEY_free(other);
}

/* A vector's message, parsed, for tests that alter it. */
static void load_vector(const char *name, struct msg *m)
{
    char path[4096];
    size_t len = 0;
    char *json = NULL;

    snprintf(path, sizeof(path), "%s/%s", testvec_dir(), name);
    json = testvec_read_path(path, &len);
    parse_or_fail(json, len, m);
    free(json);
}

/* The signature has exactly one accepted spelling. */
static void test_strict_base64(void **state)
{
    EVP_PKEY *key = vector_key("lianlian_public_key.pem");
    struct msg m = {0};
    char *good = NULL, *bad = NULL;
    size_t n;

    load_vector("apply_4005.json", &m);
    assert_int_equal(sign_verify_msg(&m, &key, 1), 0);
    good = strdup(msg_get(&m, "sign"));
    n = strlen(good);
    assert_int_equal(good[n - 1], '=');
    bad = malloc(n + 8);
    assert_non_null(bad);
    /* Text around the good signature: a line break, a space, more padding, one more digit. */
    static const char *const around[][2] = {{"", "\n"},   {" ", ""}, {"", "="},   {"", "=="},
                                            {"", "===="}, {"", "A"}, {"", "\r\n"}};
    for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++) {
        snprintf(bad, n + 8, "%s%s%s", around[i][0], good, around[i][1]);
        assert_int_equal(msg_set(&m, "sign", bad), 0);
        assert_int_equal(sign_verify_msg(&m, &key, 1), -1);
    }
    /* Without its padding; with a line break inside; URL-safe alphabet. */
    snprintf(bad, n + 8, "%.*s", (int)n - 1, good);
    assert_int_equal(msg_set(&m, "sign", bad), 0);
    assert_int_equal(sign_verify_msg(&m, &key, 1), -1);
    snprintf(bad, n + 8, "%.10s\n%s", good, good + 10);
    assert_int_equal(msg_set(&m, "sign", bad), 0);
    assert_int_equal(sign_verify_msg(&m, &key, 1), -1);
    /* Non-zero pad bits decode to the same bytes in lenient decoders: refused here. */
    snprintf(bad, n + 8, "%s", good);
    assert_int_equal(bad[n - 2], 'w');
    bad[n - 2] = 'x';
    assert_int_equal(msg_set(&m, "sign", bad), 0);
    assert_int_equal(sign_verify_msg(&m, &key, 1), -1);
    snprintf(bad, n + 8, "%s", good);
    for (char *p = bad; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    assert_string_not_equal(bad, good);
    assert_int_equal(msg_set(&m, "sign", bad), 0);
    assert_int_equal(sign_verify_msg(&m, &key, 1), -1);
    assert_int_equal(msg_set(&m, "sign", ""), 0);
    assert_int_equal(sign_verify_msg(&m, &key, 1), -1);
    assert_int_equal(msg_set(&m, "sign", good), 0);
    assert_int_equal(sign_verify_msg(&m, &key, 1), 0);
    free(bad);
    free(good);
    msg_finish(&m);
    EVP_PKEY_free(key);
}

/* Every byte in every place of a group: only the 64 of the alphabet decode, each to its value. */
static void test_b64_every_byte(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    (void)state;
    for (int pos = 0; pos < 4; pos++) {
        for (int c = 0; c < 256; c++) {
            char text[5] = "AAAA";
            size_t len = 0;
            text[pos] = (char)c;
            unsigned char *out = b64_decode(text, 4, 0, &len);
            const char *at = c != 0 ? memchr(alphabet, c, 64) : NULL;
            if (pos == 3 && c == '=') { /* "AAA=": padding, two bytes */
                assert_non_null(out);
                assert_int_equal(len, 2);
                free(out);
                continue;
            }
            if (at == NULL) {
                assert_null(out);
                continue;
            }
            assert_non_null(out);
            assert_int_equal(len, 3);
            unsigned long v = (unsigned long)out[0] << 16 | (unsigned long)out[1] << 8 | out[2];
            assert_int_equal(v, (unsigned long)(at - alphabet) << (6 * (3 - pos)));
            free(out);
        }
    }
}

static void test_vector_field_changes(void **state)
{
    EVP_PKEY *key = vector_key("lianlian_public_key.pem");
    struct msg m = {0};

    load_vector("response_8888.json", &m);
    assert_int_equal(sign_verify_msg(&m, &key, 1), 0);
    /* An added field is signed too. */
    assert_int_equal(msg_set(&m, "extra", "1"), 0);
    assert_int_equal(sign_verify_msg(&m, &key, 1), -1);
    msg_finish(&m);
    /* No sign member, or a sign that is not a string: nothing verifies. */
    const char *why = NULL;
    const char *unsigned_answer = "{\"ret_code\":\"8901\",\"ret_msg\":\"没有记录\"}";
    assert_int_equal(msg_parse(unsigned_answer, strlen(unsigned_answer), &m, &why), 0);
    assert_int_equal(sign_verify_msg(&m, &key, 1), -1);
    msg_finish(&m);
    const char *numeric = "{\"ret_code\":\"8901\",\"sign\":1234}";
    assert_int_equal(msg_parse(numeric, strlen(numeric), &m, &why), 0);
    assert_int_equal(sign_verify_msg(&m, &key, 1), -1);
    msg_finish(&m);
    EVP_PKEY_free(key);
}

static void test_order(void **state)
{
    const char *body =
        "{\"oid_partner\":\"1\",\"OID\":\"2\",\"no_order\":\"3\",\"No\":\"4\","
        "\"a_b\":\"5\",\"ab\":\"6\",\"a\":\"7\",\"sign\":\"x\",\"sign_type\":\"RSA\","
        "\"Z\":\"8\",\"y\":\"9\",\"B1\":\"10\",\"b\":\"11\"}";
    struct msg m = {0};
    char *s = NULL;
    size_t len = 0;

    parse_or_fail(body, strlen(body), &m);
    s = sign_string(&m, &len);
    assert_string_equal(s, "a=7&a_b=5&ab=6&b=11&B1=10&No=4&no_order=3&OID=2&oid_partner=1&"
                           "sign_type=RSA&y=9&Z=8");
    assert_int_equal(len, strlen(s));
    free(s);
    msg_finish(&m);
    /* Case variants (msg_parse refuses them, a hand-built message may not): input order does
     * not matter. */
    char k1[] = "a", k2[] = "A", v1[] = "1", v2[] = "2";
    struct msg_field both[2] = {{k1, v1, MSG_STRING}, {k2, v2, MSG_STRING}};
    struct msg hand = {both, 2};
    s = sign_string(&hand, NULL);
    assert_string_equal(s, "A=2&a=1");
    free(s);
    both[0] = (struct msg_field){k2, v2, MSG_STRING};
    both[1] = (struct msg_field){k1, v1, MSG_STRING};
    s = sign_string(&hand, NULL);
    assert_string_equal(s, "A=2&a=1");
    free(s);
    /* Nothing left to sign: the empty string. */
    const char *empty = "{\"sign\":\"x\",\"a\":\"\",\"b\":null}";
    parse_or_fail(empty, strlen(empty), &m);
    s = sign_string(&m, &len);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    msg_finish(&m);
}

static void round_trip(int bits)
{
    EVP_PKEY *key = EVP_RSA_gen((unsigned int)bits);
    EVP_PKEY *other = EVP_RSA_gen(1024);
    const char data[] = "a=1&b=中文&c= ";
    char *sig = NULL;

    assert_non_null(key);
    assert_non_null(other);
    sig = sign_data(key, data, strlen(data));
    assert_non_null(sig);
    assert_null(strchr(sig, '\n'));
    assert_int_equal(strlen(sig), ((size_t)bits / 8 + 2) / 3 * 4);
    assert_int_equal(sign_verify(key, data, strlen(data), sig), 0);
    assert_int_equal(sign_verify(key, data, strlen(data) - 1, sig), -1);
    assert_int_equal(sign_verify(other, data, strlen(data), sig), -1);
    assert_int_equal(sign_verify(key, data, strlen(data), "AAAA"), -1);
    free(sig);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

static void test_round_trip_1024(void **state)
{
    round_trip(1024);
}

static void test_round_trip_2048(void **state)
{
    round_trip(2048);
}

static void test_sign_msg(void **state)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    const char *body = "{\"no_order\":\"A1\",\"sign_type\":\"MD5\",\"money_order\":200.10}";
    struct msg m = {0}, again = {0};
    char *s = NULL, *json = NULL;

    assert_non_null(key);
    parse_or_fail(body, strlen(body), &m);
    assert_int_equal(sign_msg(&m, key), 0);
    assert_string_equal(msg_get(&m, "sign_type"), "RSA");
    assert_non_null(msg_get(&m, "sign"));
    assert_int_equal(sign_verify_msg(&m, &key, 1), 0);
    s = sign_string(&m, NULL);
    assert_string_equal(s, "money_order=200.10&no_order=A1&sign_type=RSA");
    free(s);
    /* What goes on the wire verifies on the other side, number text intact. */
    json = msg_to_json(&m);
    assert_non_null(strstr(json, "\"money_order\":200.10"));
    parse_or_fail(json, strlen(json), &again);
    assert_int_equal(sign_verify_msg(&again, &key, 1), 0);
    assert_int_equal(msg_find(&again, "money_order")->type, MSG_NUMBER);
    /* Signing again replaces the sign, it does not sign the old one. */
    assert_int_equal(sign_msg(&again, key), 0);
    assert_int_equal(again.n, m.n);
    assert_int_equal(sign_verify_msg(&again, &key, 1), 0);
    free(json);
    msg_finish(&m);
    msg_finish(&again);
    EVP_PKEY_free(key);
}

static void test_wrong_key_type(void **state)
{
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    const char data[] = "a=1";

    assert_non_null(ec);
    assert_null(sign_data(ec, data, 3));
    assert_int_equal(sign_verify(ec, data, 3, "AAAA"), -1);
    assert_int_equal(sign_verify(NULL, data, 3, "AAAA"), -1);
    EVP_PKEY_free(ec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),         cmocka_unit_test(test_strict_base64),
        cmocka_unit_test(test_b64_every_byte),  cmocka_unit_test(test_vector_field_changes),
        cmocka_unit_test(test_order),           cmocka_unit_test(test_round_trip_1024),
        cmocka_unit_test(test_round_trip_2048), cmocka_unit_test(test_sign_msg),
        cmocka_unit_test(test_wrong_key_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
