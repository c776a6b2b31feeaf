/* keys: every key file form LianLian and its demos use, and the ones we must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "keys.h"
#include "msg.h"
#include "sign.h"

struct fixture {
    char dir[64];
    char priv[128]; /* a generated 2048-bit pair */
    char pub[128];
    EVP_PKEY *key;
};

static char *tmp_path(struct fixture *fx, const char *name)
{
    static char path[4][160];
    static int next;
    char *p = path[next++ % 4];

    snprintf(p, sizeof(path[0]), "%s/%s", fx->dir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
    write_file(path, text, strlen(text));
}

/* Writes what a BIO-writing OpenSSL call produces to path. */
static BIO *mem_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    return b;
}

static void bio_to_file(BIO *b, const char *path)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);

    assert_true(n > 0);
    write_file(path, data, (size_t)n);
    BIO_free(b);
}

/* Bare base64 of der, broken into lines of 64 with extra white space, as people paste it. */
static void write_b64(const char *path, const unsigned char *der, int len)
{
    char *b64 = malloc((size_t)len * 2 + 16);
    char *out = malloc((size_t)len * 3 + 16);
    int n = 0;
    size_t o = 0;

    assert_non_null(b64);
    assert_non_null(out);
    n = EVP_EncodeBlock((unsigned char *)b64, der, len);
    assert_true(n > 0);
    out[o++] = ' ';
    for (int i = 0; i < n; i++) {
        if (i > 0 && i % 64 == 0)
            out[o++] = '\n';
        out[o++] = b64[i];
    }
    memcpy(out + o, "\r\n\t\n", 4);
    write_file(path, out, o + 4);
    free(b64);
    free(out);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[512];

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_keys.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->priv, sizeof(fx->priv), "%s/merchant.key", fx->dir);
    snprintf(fx->pub, sizeof(fx->pub), "%s/merchant.pub", fx->dir);
    if (keys_generate(2048, fx->priv, fx->pub, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    fx->key = keys_load_private(fx->priv, err, sizeof(err));
    if (fx->key == NULL)
        fail_msg("%s", err);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];

    EVP_PKEY_free(fx->key);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        return -1;
    free(fx);
    return 0;
}

static const char *vector_path(const char *name)
{
    static char path[4096];
    const char *d = getenv("LIANPAY_TEST_VECTORS");

    snprintf(path, sizeof(path), "%s/%s", d != NULL ? d : "tests/vectors", name);
    return path;
}

static void test_lianlian_public_forms(void **state)
{
    char err[512];
    EVP_PKEY *pem = keys_load_public(vector_path("lianlian_public_key.pem"), err, sizeof(err));
    EVP_PKEY *b64 = keys_load_public(vector_path("lianlian_public_key.b64"), err, sizeof(err));

    assert_non_null(pem);
    assert_non_null(b64);
    assert_int_equal(EVP_PKEY_get_bits(pem), 1024);
    assert_int_equal(EVP_PKEY_eq(pem, b64), 1);
    EVP_PKEY_free(pem);
    EVP_PKEY_free(b64);
}

static void test_generated_pair(void **state)
{
    struct fixture *fx = *state;
    char err[512];
    struct stat st;
    char head[40] = {0};
    FILE *f = NULL;
    EVP_PKEY *pub = keys_load_public(fx->pub, err, sizeof(err));

    assert_non_null(pub);
    assert_int_equal(EVP_PKEY_eq(fx->key, pub), 1);
    assert_int_equal(EVP_PKEY_get_bits(fx->key), 2048);
    assert_int_equal(stat(fx->priv, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    f = fopen(fx->priv, "r");
    assert_non_null(f);
    assert_non_null(fgets(head, sizeof(head), f));
    fclose(f);
    assert_string_equal(head, "-----BEGIN PRIVATE KEY-----\n");
    EVP_PKEY_free(pub);
}

/* An existing, world-readable file is overwritten and left 0600. */
static void test_generate_over_existing(void **state)
{
    struct fixture *fx = *state;
    char *priv = tmp_path(fx, "old.key"), *pub = tmp_path(fx, "old.pub");
    char err[512];
    struct stat st;

    write_text(priv, "old content that is longer than nothing\n");
    assert_int_equal(chmod(priv, 0644), 0);
    assert_int_equal(keys_generate(1024, priv, pub, err, sizeof(err)), 0);
    assert_int_equal(stat(priv, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    EVP_PKEY *key = keys_load_private(priv, err, sizeof(err));
    assert_non_null(key);
    assert_int_equal(EVP_PKEY_get_bits(key), 1024);
    EVP_PKEY_free(key);
    assert_int_equal(keys_generate(512, priv, pub, err, sizeof(err)), -1);
    assert_int_equal(keys_generate(2048, tmp_path(fx, "no/such/dir.key"), pub, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "no/such/dir.key"));
}

static void test_4096(void **state)
{
    struct fixture *fx = *state;
    char *priv = tmp_path(fx, "big.key"), *pub = tmp_path(fx, "big.pub");
    char err[512];
    const char data[] = "a=1&b=2";

    assert_int_equal(keys_generate(4096, priv, pub, err, sizeof(err)), 0);
    EVP_PKEY *k = keys_load_private(priv, err, sizeof(err));
    EVP_PKEY *p = keys_load_public(pub, err, sizeof(err));
    assert_non_null(k);
    assert_non_null(p);
    assert_int_equal(EVP_PKEY_get_bits(p), 4096);
    char *sig = sign_data(k, data, strlen(data));
    assert_non_null(sig);
    assert_int_equal(sign_verify(p, data, strlen(data), sig), 0);
    free(sig);
    EVP_PKEY_free(k);
    EVP_PKEY_free(p);
}

static void assert_loads_private(const char *path, EVP_PKEY *expected)
{
    char err[512] = "";
    EVP_PKEY *key = keys_load_private(path, err, sizeof(err));

    if (key == NULL)
        fail_msg("%s", err);
    assert_int_equal(EVP_PKEY_eq(key, expected), 1);
    EVP_PKEY_free(key);
}

static void test_pkcs1_pem(void **state)
{
    struct fixture *fx = *state;
    char *path = tmp_path(fx, "pkcs1.pem");
    BIO *b = mem_bio();

    assert_int_equal(PEM_write_bio_PrivateKey_traditional(b, fx->key, NULL, NULL, 0, NULL, NULL),
                     1);
    bio_to_file(b, path);
    assert_loads_private(path, fx->key);
}

static void test_bare_der_private(void **state)
{
    struct fixture *fx = *state;
    unsigned char *der = NULL;
    char *path = tmp_path(fx, "pkcs8.b64");
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(fx->key);
    int n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);

    assert_true(n > 0);
    write_b64(path, der, n);
    assert_loads_private(path, fx->key);
    OPENSSL_free(der);
    PKCS8_PRIV_KEY_INFO_free(p8);
    /* PKCS#1 DER, what i2d_PrivateKey writes for RSA. */
    der = NULL;
    n = i2d_PrivateKey(fx->key, &der);
    assert_true(n > 0);
    path = tmp_path(fx, "pkcs1.b64");
    write_b64(path, der, n);
    assert_loads_private(path, fx->key);
    OPENSSL_free(der);
}

static void test_bare_der_public(void **state)
{
    struct fixture *fx = *state;
    unsigned char *der = NULL;
    char *path = tmp_path(fx, "pub.b64");
    char err[512];
    int n = i2d_PUBKEY(fx->key, &der);

    assert_true(n > 0);
    write_b64(path, der, n);
    EVP_PKEY *key = keys_load_public(path, err, sizeof(err));
    assert_non_null(key);
    assert_int_equal(EVP_PKEY_eq(key, fx->key), 1);
    EVP_PKEY_free(key);
    OPENSSL_free(der);
}

/* Loading must fail, name the file, mention reason, and never echo the file's content. */
static void assert_refused(const char *path, int private, const char *reason, const char *secret)
{
    char err[512] = "";
    EVP_PKEY *key = private ? keys_load_private(path, err, sizeof(err))
                            : keys_load_public(path, err, sizeof(err));

    if (key != NULL)
        fail_msg("%s loaded", path);
    assert_non_null(strstr(err, path));
    if (strstr(err, reason) == NULL)
        fail_msg("\"%s\" does not say \"%s\"", err, reason);
    if (secret != NULL)
        assert_null(strstr(err, secret));
}

static void test_encrypted_refused(void **state)
{
    struct fixture *fx = *state;
    char *p8 = tmp_path(fx, "enc8.pem"), *p1 = tmp_path(fx, "enc1.pem");
    char *der_path = tmp_path(fx, "enc8.b64");
    BIO *b = mem_bio();
    const EVP_CIPHER *aes = EVP_aes_256_cbc();
    char pass[] = "secret";

    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(b, fx->key, aes, pass, 6, NULL, NULL), 1);
    bio_to_file(b, p8);
    assert_refused(p8, 1, "encrypted", NULL);
    b = mem_bio();
    assert_int_equal(
        PEM_write_bio_PrivateKey_traditional(b, fx->key, aes, (unsigned char *)pass, 6, NULL, NULL),
        1);
    bio_to_file(b, p1);
    assert_refused(p1, 1, "encrypted", NULL);
    b = mem_bio();
    assert_int_equal(i2d_PKCS8PrivateKey_bio(b, fx->key, aes, pass, 6, NULL, NULL), 1);
    char *der = NULL;
    long n = BIO_get_mem_data(b, &der);
    write_b64(der_path, (unsigned char *)der, (int)n);
    BIO_free(b);
    assert_refused(der_path, 1, "encrypted", NULL);
}

static void test_garbage_refused(void **state)
{
    struct fixture *fx = *state;
    char *path = tmp_path(fx, "garbage");

    write_text(path, "hello world, this is no key\n");
    assert_refused(path, 0, "neither PEM nor base64", "hello");
    assert_refused(path, 1, "neither PEM nor base64", "hello");
    /* Valid base64, but not a key: the content is not echoed. */
    write_text(path, "SGVsbG9Xb3JsZEhlbGxvV29ybGQ=\n");
    assert_refused(path, 0, "not a DER", "SGVsbG9");
    assert_refused(path, 1, "not a DER", "SGVsbG9");
    write_text(path, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    assert_refused(path, 0, "unreadable", "AAAA");
    write_text(path, "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n");
    assert_refused(path, 1, "unreadable", "QUJD");
    write_text(path, "");
    assert_refused(path, 0, "neither PEM nor base64", NULL);
    assert_refused(fx->dir, 0, "not a file", NULL);
}

static void test_wrong_kind_refused(void **state)
{
    struct fixture *fx = *state;

    assert_refused(fx->priv, 0, "holds a private key", "MII");
    assert_refused(fx->pub, 1, "not a PEM private key", "MII");
}

static void test_missing_refused(void **state)
{
    struct fixture *fx = *state;
    char *path = tmp_path(fx, "does-not-exist.pem");

    assert_refused(path, 0, "No such file", NULL);
    assert_refused(path, 1, "No such file", NULL);
}

static void test_ec_refused(void **state)
{
    struct fixture *fx = *state;
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    char *pub = tmp_path(fx, "ec.pub"), *priv = tmp_path(fx, "ec.key");
    BIO *b = mem_bio();

    assert_non_null(ec);
    assert_int_equal(PEM_write_bio_PUBKEY(b, ec), 1);
    bio_to_file(b, pub);
    b = mem_bio();
    assert_int_equal(PEM_write_bio_PrivateKey(b, ec, NULL, NULL, 0, NULL, NULL), 1);
    bio_to_file(b, priv);
    assert_refused(pub, 0, "not an RSA key (EC)", NULL);
    assert_refused(priv, 1, "not an RSA key (EC)", NULL);
    EVP_PKEY_free(ec);
}

static void test_short_rsa_refused(void **state)
{
    struct fixture *fx = *state;
    EVP_PKEY *small = EVP_RSA_gen(512);
    char *pub = tmp_path(fx, "small.pub");
    BIO *b = mem_bio();

    assert_non_null(small);
    assert_int_equal(PEM_write_bio_PUBKEY(b, small), 1);
    bio_to_file(b, pub);
    assert_refused(pub, 0, "512 bits", NULL);
    EVP_PKEY_free(small);
}

static void test_keyset_rotation(void **state)
{
    struct fixture *fx = *state;
    char paths[8192], err[512] = "";
    struct keyset ks = {0};
    struct msg m = {0};
    const char *why = NULL;
    const char body[] = "{\"no_order\":\"A1\",\"money_order\":\"1.00\"}";

    snprintf(paths, sizeof(paths), "  %s \t %s\n", vector_path("lianlian_public_key.b64"), fx->pub);
    if (keys_load_set(paths, &ks, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(ks.n, 2);
    assert_int_equal(msg_parse(body, strlen(body), &m, &why), 0);
    assert_int_equal(sign_msg(&m, fx->key), 0);
    assert_int_equal(sign_verify_msg(&m, ks.keys, ks.n), 1);
    assert_int_equal(sign_verify_msg(&m, ks.keys, 1), -1);
    msg_finish(&m);
    keys_set_finish(&ks);
    assert_int_equal(ks.n, 0);

    char *missing = tmp_path(fx, "gone.pub");
    snprintf(paths, sizeof(paths), "%s %s", fx->pub, missing);
    assert_int_equal(keys_load_set(paths, &ks, err, sizeof(err)), -1);
    assert_non_null(strstr(err, missing));
    assert_int_equal(keys_load_set(" \t", &ks, err, sizeof(err)), -1);
    assert_int_equal(keys_load_set("", &ks, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lianlian_public_forms),
        cmocka_unit_test(test_generated_pair),
        cmocka_unit_test(test_generate_over_existing),
        cmocka_unit_test(test_4096),
        cmocka_unit_test(test_pkcs1_pem),
        cmocka_unit_test(test_bare_der_private),
        cmocka_unit_test(test_bare_der_public),
        cmocka_unit_test(test_encrypted_refused),
        cmocka_unit_test(test_garbage_refused),
        cmocka_unit_test(test_wrong_kind_refused),
        cmocka_unit_test(test_missing_refused),
        cmocka_unit_test(test_ec_refused),
        cmocka_unit_test(test_short_rsa_refused),
        cmocka_unit_test(test_keyset_rotation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
