/*
 * payload: LianLian's own pay_loads (tests/vectors/payload, made by its Java jar and PHP demo)
 * decrypt to their plaintexts byte for byte; ours decrypt; the HMAC covers P3 "$" P4 exactly as
 * written; any changed byte is refused, never read as another plaintext.
 *
 * The test has its own small implementation of the scheme from protocol.md (OAEP with the vector
 * key, AES-256-CTR, HMAC, Java's line wrapping) so that it can build pay_loads the module would
 * never make: re-wrapped vectors, keys of the wrong form, a valid HMAC over bad base64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "b64.h"
#include "keys.h"
#include "msg.h"
#include "payload.h"
#include "sign.h"
#include "testvectors.h"

struct vector {
    const char *payload; /* file names in tests/vectors/payload */
    const char *plain;
};

static const struct vector vectors[] = {
    {"v1_payment_chinese.java2016-crlf.pay_load", "v1_payment_chinese.plain.json"},
    {"v1_payment_chinese.php-json_encode.php2016.pay_load",
     "v1_payment_chinese.php-json_encode.plain.json"},
    {"v3_payment_company_ascii.java2016-crlf.pay_load", "v3_payment_company_ascii.plain.json"},
    {"v3_payment_company_ascii.php2016.pay_load", "v3_payment_company_ascii.plain.json"},
};
#define NVECTORS (sizeof(vectors) / sizeof(vectors[0]))

static EVP_PKEY *priv_key, *pub_key;

/* A growing byte string. */
struct buf {
    char *p;
    size_t n;
};

static void buf_add(struct buf *b, const void *data, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    assert_non_null(b->p);
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* A payload vector's path, and the file whole and NUL-terminated. */
static const char *vector_path(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof(path), "payload/%s", name);
    return testvec_path(path);
}

static char *slurp(const char *name, size_t *len)
{
    return testvec_read_path(vector_path(name), len);
}

static int setup(void **state)
{
    char err[512];

    priv_key = keys_load_private(vector_path("private_key.pem"), err, sizeof(err));
    pub_key = keys_load_public(vector_path("public_key.pem"), err, sizeof(err));
    if (priv_key == NULL || pub_key == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    EVP_PKEY_free(priv_key);
    EVP_PKEY_free(pub_key);
    return 0;
}

/* payload_decrypt, with what every outcome must satisfy checked: a plaintext only on OK, and a
 * printable static reason otherwise. */
static enum payload_status decrypt(EVP_PKEY *key, const char *p, size_t n, struct buf *plain,
                                   const char **why_out)
{
    char *out = (char *)"junk";
    size_t out_len = 99;
    const char *why = NULL;
    enum payload_status st = payload_decrypt(key, p, n, &out, &out_len, &why);

    if (st == PAYLOAD_OK) {
        assert_non_null(out);
        assert_int_equal(out[out_len], '\0');
        if (plain != NULL)
            buf_add(plain, out, out_len);
    } else {
        assert_true(st == PAYLOAD_TAMPERED || st == PAYLOAD_UNUSABLE);
        assert_null(out);
        assert_int_equal(out_len, 0);
        assert_non_null(why);
        assert_true(*why != '\0');
        for (const char *c = why; *c; c++)
            assert_true(*c >= 0x20 && *c < 0x7f);
    }
    if (why_out != NULL)
        *why_out = why;
    free(out);
    return st;
}

static void assert_decrypts_to(const char *p, size_t n, const void *plain, size_t plain_len)
{
    struct buf got = {0};
    const char *why = NULL;

    if (decrypt(priv_key, p, n, &got, &why) != PAYLOAD_OK)
        fail_msg("refused: %s", why);
    assert_int_equal(got.n, plain_len);
    if (plain_len > 0)
        assert_memory_equal(got.p, plain, plain_len);
    free(got.p);
}

/* --- the scheme, as protocol.md describes it, for building pay_loads by hand --- */

struct parts {
    char *f[6]; /* prefix, P1..P5 as written, NUL-terminated copies */
};

static void split(const char *p, size_t n, struct parts *out)
{
    const char *s = p, *end = p + n;

    for (int i = 0; i < 6; i++) {
        const char *d = i < 5 ? memchr(s, '$', (size_t)(end - s)) : end;
        assert_non_null(d);
        out->f[i] = strndup(s, (size_t)(d - s));
        s = d + 1;
    }
}

static void parts_free(struct parts *ps)
{
    for (int i = 0; i < 6; i++)
        free(ps->f[i]);
}

static char *join(char *const f[6])
{
    struct buf b = {0};

    for (int i = 0; i < 6; i++) {
        buf_str(&b, f[i]);
        if (i < 5)
            buf_str(&b, "$");
    }
    return b.p;
}

static unsigned char *unb64(const char *text, size_t *n)
{
    unsigned char *d = b64_decode(text, strlen(text), B64_LINE_BREAKS, n);

    assert_non_null(d);
    return d;
}

/* Base64 as LianLian's Java jar writes it (sun.misc.BASE64Encoder): 57 bytes a line, the line
 * separator after every full line, so a multiple of 57 bytes ends with one. sep NULL: one line. */
static char *java_b64(const unsigned char *d, size_t n, const char *sep)
{
    struct buf b = {0};

    buf_add(&b, "", 0);
    for (size_t i = 0; i < n; i += 57) {
        size_t k = sep == NULL ? n : (n - i < 57 ? n - i : 57);
        char *line = b64_encode(d + i, k);
        assert_non_null(line);
        buf_str(&b, line);
        free(line);
        if (sep != NULL && k == 57)
            buf_str(&b, sep);
        if (sep == NULL)
            break;
    }
    return b.p;
}

static char *test_oaep_encrypt(const void *data, size_t n)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub_key, NULL);
    unsigned char ct[512];
    size_t ctlen = sizeof(ct);

    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA1", NULL), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, "SHA1", NULL), 1);
    assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &ctlen, data, n), 1);
    EVP_PKEY_CTX_free(ctx);
    return java_b64(ct, ctlen, NULL);
}

/* The 32 characters an OAEP field (P1 or P2) holds, with the vector's private key. */
static void test_oaep_decrypt(const char *field, char key[33])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv_key, NULL);
    unsigned char out[256];
    size_t ctlen = 0, outlen = sizeof(out);
    unsigned char *ct = unb64(field, &ctlen);

    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA1", NULL), 1);
    assert_int_equal(EVP_PKEY_decrypt(ctx, out, &outlen, ct, ctlen), 1);
    assert_int_equal(outlen, 32);
    memcpy(key, out, 32);
    key[32] = '\0';
    EVP_PKEY_CTX_free(ctx);
    free(ct);
}

/* P5 for P3 "$" P4 under hmac_key. */
static char *test_hmac(const char *hmac_key, const char *p3, const char *p4)
{
    struct buf data = {0};
    unsigned char mac[32];
    size_t maclen = 0;

    buf_str(&data, p3);
    buf_str(&data, "$");
    buf_str(&data, p4);
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hmac_key, strlen(hmac_key),
                              (unsigned char *)data.p, data.n, mac, sizeof(mac), &maclen));
    free(data.p);
    return java_b64(mac, maclen, NULL);
}

static void test_aes_ctr(const char *aes_key, const char *nonce, const void *in, size_t n,
                         unsigned char *out)
{
    unsigned char iv[16] = {0};
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0;

    memcpy(iv, nonce, 8);
    iv[15] = 1;
    assert_int_equal(
        EVP_EncryptInit_ex2(ctx, EVP_aes_256_ctr(), (const unsigned char *)aes_key, iv, NULL), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, out, &outl, in, (int)n), 1);
    assert_int_equal((size_t)outl, n);
    EVP_CIPHER_CTX_free(ctx);
}

/* A pay_load built by hand: the given key texts (any bytes) OAEP-encrypted, P3 and P4 as given,
 * P5 the right HMAC over them under hmac_key. */
static char *build(const char *hmac_key, size_t hmac_len, const char *aes_key, size_t aes_len,
                   const char *p3, const char *p4)
{
    char *f[6] = {strdup("lianpay1_0_1"), NULL, NULL, strdup(p3), strdup(p4), NULL};
    char mac_key[64] = {0};

    memcpy(mac_key, hmac_key, hmac_len < 63 ? hmac_len : 63);
    f[1] = test_oaep_encrypt(hmac_key, hmac_len);
    f[2] = test_oaep_encrypt(aes_key, aes_len);
    f[5] = test_hmac(mac_key, p3, p4);
    char *s = join(f);
    for (int i = 0; i < 6; i++)
        free(f[i]);
    return s;
}

/* A pay_load for plain built by hand from protocol.md alone. */
static char *build_valid(const char *hmac_key, const char *aes_key, const char *nonce,
                         const void *plain, size_t n, const char *sep)
{
    unsigned char *ct = malloc(n + 1);
    char *p3 = java_b64((const unsigned char *)nonce, strlen(nonce), sep), *p4 = NULL, *s = NULL;

    assert_non_null(ct);
    test_aes_ctr(aes_key, nonce, plain, n, ct);
    p4 = java_b64(ct, n, sep);
    s = build(hmac_key, strlen(hmac_key), aes_key, strlen(aes_key), p3, p4);
    free(ct);
    free(p3);
    free(p4);
    return s;
}

/*
 * The pay_load p with every base64 field re-written as Java would with separator sep (NULL:
 * unwrapped). recompute: P5 computed again over the new P3 "$" P4; otherwise P5 kept as it was
 * (only its own wrapping changes, which the HMAC does not cover).
 */
static char *rewrap(const char *p, size_t n, const char *sep, int recompute)
{
    struct parts ps;
    char *f[6];

    split(p, n, &ps);
    f[0] = ps.f[0];
    for (int i = 1; i <= 5; i++) {
        size_t dn = 0;
        unsigned char *d = unb64(ps.f[i], &dn);
        f[i] = java_b64(d, dn, sep);
        free(d);
    }
    if (recompute) {
        char hmac_key[33];
        test_oaep_decrypt(ps.f[1], hmac_key);
        free(f[5]);
        f[5] = test_hmac(hmac_key, f[3], f[4]);
    }
    char *s = join(f);
    for (int i = 1; i <= 5; i++)
        free(f[i]);
    parts_free(&ps);
    return s;
}

/* --- the tests --- */

static void test_vectors_decrypt(void **state)
{
    for (size_t i = 0; i < NVECTORS; i++) {
        size_t plen = 0, tlen = 0;
        char *p = slurp(vectors[i].payload, &plen), *plain = slurp(vectors[i].plain, &tlen);

        assert_decrypts_to(p, plen, plain, tlen);
        printf("# %s: %zu bytes -> %zu bytes, identical to %s\n", vectors[i].payload, plen, tlen,
               vectors[i].plain);
        free(p);
        free(plain);
    }
}

/* The plaintexts are requests signed by the merchant: our sign module checks them, so its rules
 * for the string to sign hold on the request side too (including \u and \/ escapes). */
static void test_vector_plaintexts_signed(void **state)
{
    char err[512];
    EVP_PKEY *merchant = keys_load_public(vector_path("merchant_public_key.pem"), err, sizeof(err));

    assert_non_null(merchant);
    for (size_t i = 0; i < NVECTORS; i++) {
        size_t n = 0;
        char *text = slurp(vectors[i].plain, &n);
        struct msg m = {0};
        const char *why = NULL;

        if (msg_parse(text, n, &m, &why) < 0)
            fail_msg("%s: %s", vectors[i].plain, why);
        assert_int_equal(sign_verify_msg(&m, &merchant, 1), 0);
        assert_int_equal(sign_verify_msg(&m, &pub_key, 1), -1);
        assert_int_equal(msg_set(&m, "money_order", "0.03"), 0);
        assert_int_equal(sign_verify_msg(&m, &merchant, 1), -1);
        msg_finish(&m);
        free(text);
    }
    EVP_PKEY_free(merchant);
}

/* Our understanding of the jar's wrapping reproduces its output byte for byte. */
static void test_java_wrapping_reproduced(void **state)
{
    for (size_t i = 0; i < NVECTORS; i++) {
        size_t n = 0;
        char *p = slurp(vectors[i].payload, &n);
        int crlf = strstr(vectors[i].payload, "crlf") != NULL;
        char *again = rewrap(p, n, crlf ? "\r\n" : NULL, 0);

        assert_int_equal(strlen(again), n);
        assert_memory_equal(again, p, n);
        free(again);
        free(p);
    }
}

/* Re-wrapped (LF as Java on Linux, CRLF, none) the vectors decrypt when P5 is the HMAC of what is
 * sent, and fail the HMAC when P5 is the one computed over the original wrapping. */
static void test_rewrapped_vectors(void **state)
{
    static const char *const seps[] = {"\n", "\r\n", NULL};

    for (size_t i = 0; i < NVECTORS; i++) {
        size_t n = 0, tn = 0;
        char *p = slurp(vectors[i].payload, &n), *plain = slurp(vectors[i].plain, &tn);

        for (size_t s = 0; s < 3; s++) {
            char *good = rewrap(p, n, seps[s], 1), *stale = rewrap(p, n, seps[s], 0);
            assert_decrypts_to(good, strlen(good), plain, tn);
            if (strcmp(stale, p) == 0) {
                /* The same wrapping as the original: the original HMAC is the right one. */
                assert_string_equal(good, p);
            } else {
                assert_int_equal(decrypt(priv_key, stale, strlen(stale), NULL, NULL),
                                 PAYLOAD_TAMPERED);
            }
            free(good);
            free(stale);
        }
        free(p);
        free(plain);
    }
}

/* A plaintext of a multiple of 57 bytes: Java ends P4 with a line break, and the HMAC covers it. */
static void test_trailing_line_break(void **state)
{
    char plain[570];
    size_t n = 0;
    char *ours = NULL;

    memset(plain, 'x', sizeof(plain));
    memcpy(plain, "{\"memo\":\"", 9);
    memcpy(plain + sizeof(plain) - 2, "\"}", 2);
    ours = payload_encrypt(pub_key, plain, sizeof(plain));
    assert_non_null(ours);
    n = strlen(ours);
    for (int lf = 0; lf < 2; lf++) {
        char *java = rewrap(ours, n, lf ? "\n" : "\r\n", 1);
        const char *end = strrchr(java, '$');
        assert_non_null(end);
        assert_memory_equal(end - (lf ? 1 : 2), lf ? "\n" : "\r\n", lf ? 1 : 2);
        assert_decrypts_to(java, strlen(java), plain, sizeof(plain));

        /* Without the trailing line break, P4 is not what the HMAC covers any more. */
        struct buf cut = {0};
        buf_add(&cut, java, (size_t)(end - java) - (lf ? 1 : 2));
        buf_str(&cut, end);
        assert_int_equal(decrypt(priv_key, cut.p, cut.n, NULL, NULL), PAYLOAD_TAMPERED);
        free(cut.p);
        free(java);
    }

    /* And a line break added to the end of a vector's P4: refused unless the HMAC covers it. */
    char *v = slurp(vectors[3].payload, &n), *tn_plain = NULL;
    size_t tn = 0;
    struct parts ps;
    tn_plain = slurp(vectors[3].plain, &tn);
    split(v, n, &ps);
    char *p4 = ps.f[4];
    ps.f[4] = malloc(strlen(p4) + 2);
    assert_non_null(ps.f[4]);
    strcpy(ps.f[4], p4);
    strcat(ps.f[4], "\n");
    free(p4);
    char *stale = join(ps.f), hmac_key[33];
    assert_int_equal(decrypt(priv_key, stale, strlen(stale), NULL, NULL), PAYLOAD_TAMPERED);
    test_oaep_decrypt(ps.f[1], hmac_key);
    free(ps.f[5]);
    ps.f[5] = test_hmac(hmac_key, ps.f[3], ps.f[4]);
    char *fresh = join(ps.f);
    assert_decrypts_to(fresh, strlen(fresh), tn_plain, tn);
    parts_free(&ps);
    free(stale);
    free(fresh);
    free(v);
    free(tn_plain);
    free(ours);
}

static void assert_key_text(const unsigned char *s, size_t n, size_t want)
{
    assert_int_equal(n, want);
    for (size_t i = 0; i < n; i++)
        assert_true((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z'));
}

static void roundtrip(const void *plain, size_t n)
{
    char *p = payload_encrypt(pub_key, plain, n);
    size_t pn = 0;
    struct parts ps;

    assert_non_null(p);
    pn = strlen(p);
    assert_null(memchr(p, '\r', pn));
    assert_null(memchr(p, '\n', pn));
    assert_memory_equal(p, "lianpay1_0_1$", 13);
    split(p, pn, &ps);
    for (int i = 1; i <= 5; i++) {
        size_t dn = 0;
        unsigned char *d = unb64(ps.f[i], &dn);
        assert_int_equal(dn, ((size_t[]){0, 128, 128, 8, n, 32})[i]);
        if (i == 3)
            assert_key_text(d, dn, 8);
        free(d);
    }
    parts_free(&ps);
    assert_decrypts_to(p, pn, plain, n);
    free(p);
}

static void test_roundtrip(void **state)
{
    static const char ascii[] =
        "{\"no_order\":\"A1\",\"money_order\":\"49.65\",\"sign_type\":\"RSA\"}";
    static const char chinese[] =
        "{\"acct_name\":\"张三\",\"memo\":\"代付\",\"info_order\":\"佣金\"}";
    size_t big = 3u << 20; /* beyond the module's 1 MiB CTR chunk */
    unsigned char *large = malloc(big);

    roundtrip(ascii, strlen(ascii));
    roundtrip(chinese, strlen(chinese));
    roundtrip("", 0);
    roundtrip("x", 1);
    for (size_t k = 1; k <= 20; k++) {
        char buf[57 * 20 + 1];
        memset(buf, 'a' + (int)k, sizeof(buf));
        roundtrip(buf, 57 * k);
        roundtrip(buf, 57 * k + 1);
    }
    assert_non_null(large);
    for (size_t i = 0; i < big; i++)
        large[i] = (unsigned char)(i * 131 + (i >> 9));
    roundtrip(large, big);
    free(large);

    /* Every plaintext in the vectors, encrypted by us. */
    for (size_t i = 0; i < NVECTORS; i++) {
        size_t n = 0;
        char *plain = slurp(vectors[i].plain, &n);
        roundtrip(plain, n);
        free(plain);
    }
}

/* Our keys and nonces: 0-9A-Z, new for every pay_load, every character in use. */
static void test_fresh_keys(void **state)
{
    enum { ROUNDS = 150 };
    unsigned counts[36] = {0}, total = 0;
    char prev_key[33] = "";

    for (int r = 0; r < ROUNDS; r++) {
        char *p = payload_encrypt(pub_key, "{}", 2);
        struct parts ps;
        char hk[33], ak[33];
        size_t nn = 0;

        assert_non_null(p);
        split(p, strlen(p), &ps);
        test_oaep_decrypt(ps.f[1], hk);
        test_oaep_decrypt(ps.f[2], ak);
        unsigned char *nonce = unb64(ps.f[3], &nn);
        assert_key_text((unsigned char *)hk, 32, 32);
        assert_key_text((unsigned char *)ak, 32, 32);
        assert_key_text(nonce, nn, 8);
        assert_string_not_equal(hk, ak);
        assert_string_not_equal(hk, prev_key);
        memcpy(prev_key, hk, sizeof(prev_key));
        for (const char *s = hk; *s; s++)
            counts[*s <= '9' ? *s - '0' : *s - 'A' + 10]++;
        for (const char *s = ak; *s; s++)
            counts[*s <= '9' ? *s - '0' : *s - 'A' + 10]++;
        total += 64;
        free(nonce);
        parts_free(&ps);
        free(p);
    }
    /* 9600 characters, 267 of each expected: a generous band that only a broken draw leaves. */
    for (int c = 0; c < 36; c++) {
        assert_true(counts[c] > total / 36 / 2);
        assert_true(counts[c] < total / 36 * 2);
    }
}

/* A pay_load built from protocol.md's description alone, by this test, decrypts. */
static void test_independent_build(void **state)
{
    static const char plain[] = "{\"acct_name\":\"张三\",\"money_order\":\"0.02\"}";

    for (int w = 0; w < 3; w++) {
        const char *sep = (const char *[]){NULL, "\n", "\r\n"}[w];
        char *p =
            build_valid("0123456789ABCDEFGHIJKLMNOPQRSTUV", "ZYXWVUTSRQPONMLKJIHGFEDCBA987654",
                        "NONCE123", plain, strlen(plain), sep);
        assert_decrypts_to(p, strlen(p), plain, strlen(plain));
        free(p);
    }
}

/* Every single-byte change, anywhere, is refused: the HMAC for P3 and P4, OAEP for P1 and P2,
 * the form for the prefix, the separators and P5's spelling. Never a plaintext. */
static void assert_every_change_refused(const char *p, size_t n, const char *name)
{
    char *copy = malloc(n + 1);
    unsigned counts[6][3] = {{0}};
    int field = 0;

    assert_non_null(copy);
    memcpy(copy, p, n + 1);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '$')
            field++;
        static const unsigned char flips[] = {0x01, 0x20, 0x80};
        for (size_t f = 0; f < sizeof(flips); f++) {
            copy[i] = (char)(p[i] ^ flips[f]);
            enum payload_status st = decrypt(priv_key, copy, n, NULL, NULL);
            assert_int_not_equal(st, PAYLOAD_OK);
            /* The HMAC covers P3 and P4 (a changed '$' there is a change of form instead). */
            if ((field == 3 || field == 4) && p[i] != '$' && copy[i] != '$')
                assert_int_equal(st, PAYLOAD_TAMPERED);
            if (field <= 2)
                assert_int_equal(st, PAYLOAD_UNUSABLE);
            counts[field][st]++;
        }
        copy[i] = p[i];
    }
    for (size_t len = 0; len < n; len += 7)
        assert_int_not_equal(decrypt(priv_key, p, len, NULL, NULL), PAYLOAD_OK);
    printf("# %s: %zu changes; HMAC failed / unusable: prefix %u/%u P1 %u/%u P2 %u/%u P3 %u/%u "
           "P4 %u/%u P5 %u/%u\n",
           name, 3 * n, counts[0][1], counts[0][2], counts[1][1], counts[1][2], counts[2][1],
           counts[2][2], counts[3][1], counts[3][2], counts[4][1], counts[4][2], counts[5][1],
           counts[5][2]);
    free(copy);
}

static void test_tamper(void **state)
{
    for (size_t i = 0; i < NVECTORS; i++) {
        size_t n = 0;
        char *p = slurp(vectors[i].payload, &n);
        assert_every_change_refused(p, n, vectors[i].payload);
        free(p);
    }
    char *ours = payload_encrypt(pub_key, "{\"acct_name\":\"张三\"}", 22);
    assert_non_null(ours);
    assert_every_change_refused(ours, strlen(ours), "ours");
    free(ours);
}

static void test_wrong_key(void **state)
{
    EVP_PKEY *other1024 = EVP_RSA_gen(1024), *other2048 = EVP_RSA_gen(2048);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    const char *why = NULL;

    assert_non_null(other1024);
    assert_non_null(other2048);
    assert_non_null(ec);
    for (size_t i = 0; i < NVECTORS; i++) {
        size_t n = 0;
        char *p = slurp(vectors[i].payload, &n);
        assert_int_equal(decrypt(other1024, p, n, NULL, &why), PAYLOAD_UNUSABLE);
        assert_non_null(strstr(why, "P1 does not decrypt"));
        assert_int_equal(decrypt(other2048, p, n, NULL, NULL), PAYLOAD_UNUSABLE);
        assert_int_equal(decrypt(ec, p, n, NULL, &why), PAYLOAD_UNUSABLE);
        assert_non_null(strstr(why, "RSA"));
        assert_int_equal(decrypt(NULL, p, n, NULL, NULL), PAYLOAD_UNUSABLE);
        free(p);
    }
    /* A 2048-bit LianLian key works too (256-byte P1 and P2); an EC key cannot encrypt. */
    char *p = payload_encrypt(other2048, "{}", 2);
    assert_non_null(p);
    assert_int_equal(decrypt(other2048, p, strlen(p), NULL, NULL), PAYLOAD_OK);
    assert_int_equal(decrypt(priv_key, p, strlen(p), NULL, NULL), PAYLOAD_UNUSABLE);
    free(p);
    assert_null(payload_encrypt(ec, "{}", 2));
    assert_null(payload_encrypt(NULL, "{}", 2));
    EVP_PKEY_free(other1024);
    EVP_PKEY_free(other2048);
    EVP_PKEY_free(ec);
}

static void assert_refused(const char *p, size_t n, enum payload_status want, const char *reason)
{
    const char *why = NULL;
    enum payload_status st = decrypt(priv_key, p, n, NULL, &why);

    if (st != want || strstr(why, reason) == NULL)
        fail_msg("want %d \"%s\", got %d \"%s\"", want, reason, st, why ? why : "");
}

/* One field of a vector replaced; P5 recomputed when recompute (so the HMAC is not the reason). */
static char *with_field(int i, const char *text, int recompute)
{
    size_t n = 0;
    char *v = slurp(vectors[3].payload, &n);
    struct parts ps;
    char hmac_key[33];

    split(v, n, &ps);
    free(ps.f[i]);
    ps.f[i] = strdup(text);
    if (recompute) {
        test_oaep_decrypt(ps.f[1], hmac_key);
        free(ps.f[5]);
        ps.f[5] = test_hmac(hmac_key, ps.f[3], ps.f[4]);
    }
    char *s = join(ps.f);
    parts_free(&ps);
    free(v);
    return s;
}

static void refuse_field(int i, const char *text, int recompute, enum payload_status want,
                         const char *reason)
{
    char *p = with_field(i, text, recompute);
    assert_refused(p, strlen(p), want, reason);
    free(p);
}

static void test_malformed(void **state)
{
    static const char *const forms[] = {
        "",
        "lianpay1_0_1",
        "lianpay1_0_1$",
        "lianpay1_0_1$a$b$c$d",
        "lianpay1_0_1$a$b$c$d$e$f",
        "$$$$$",
    };
    char hk[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV", ak[] = "ZYXWVUTSRQPONMLKJIHGFEDCBA987654";

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        assert_int_equal(decrypt(priv_key, forms[i], strlen(forms[i]), NULL, NULL),
                         PAYLOAD_UNUSABLE);
    refuse_field(0, "lianpay1_0_2", 0, PAYLOAD_UNUSABLE, "unknown version");
    refuse_field(0, "LIANPAY1_0_1", 0, PAYLOAD_UNUSABLE, "unknown version");
    refuse_field(0, " lianpay1_0_1", 0, PAYLOAD_UNUSABLE, "unknown version");
    refuse_field(0, "", 0, PAYLOAD_UNUSABLE, "unknown version");

    /* Bad base64: white space other than line breaks, padding, pad bits, alphabet. */
    refuse_field(1, "", 0, PAYLOAD_UNUSABLE, "P1 does not decrypt");
    refuse_field(1, "AAAA AAA=", 0, PAYLOAD_UNUSABLE, "P1 is not base64");
    refuse_field(2, "AAA", 0, PAYLOAD_UNUSABLE, "P2 is not base64");
    refuse_field(5, "psxwd783BXVg4QciG6OgL/Zr3JkbIsA1vD88dXlfcwc", 0, PAYLOAD_UNUSABLE,
                 "P5 is not base64");
    refuse_field(5, "psxwd783BXVg4QciG6OgL/Zr3JkbIsA1vD88dXlfcwd=", 0, PAYLOAD_UNUSABLE,
                 "P5 is not base64");
    refuse_field(5, "psxwd783BXVg4QciG6OgL-Zr3JkbIsA1vD88dXlfcwc=", 0, PAYLOAD_UNUSABLE,
                 "P5 is not base64");
    refuse_field(5, "psxwd783BXVg4QciG6OgL/Zr3JkbIsA1vD88dXlf", 0, PAYLOAD_UNUSABLE,
                 "P5 is not an HMAC");
    refuse_field(5, "", 0, PAYLOAD_UNUSABLE, "P5 is not an HMAC");
    /* A valid HMAC over P3 and P4 that are not base64, or not a nonce. */
    refuse_field(4, "not base64!", 1, PAYLOAD_UNUSABLE, "P4 is not base64");
    refuse_field(4, "AAAA AAAA", 1, PAYLOAD_UNUSABLE, "P4 is not base64");
    refuse_field(3, "TkNFMTIz", 1, PAYLOAD_UNUSABLE, "P3 holds no nonce");     /* 6 bytes */
    refuse_field(3, "TkNFMTIzNDU2", 1, PAYLOAD_UNUSABLE, "P3 holds no nonce"); /* 9 bytes */
    refuse_field(3, "bm9uY2UxMjM=", 1, PAYLOAD_UNUSABLE, "P3 holds no nonce"); /* "nonce123" */
    refuse_field(3, "", 1, PAYLOAD_UNUSABLE, "P3 holds no nonce");
    /* A NUL in the text is just a byte that is not base64 (after the HMAC, it is a change). */
    size_t n = 0;
    char *v = slurp(vectors[3].payload, &n);
    v[20] = '\0';
    assert_refused(v, n, PAYLOAD_UNUSABLE, "P1 is not base64");
    free(v);

    /* OAEP-decrypted keys of the wrong length or characters, with a valid HMAC where possible. */
    static const struct {
        const char *text;
        size_t len;
    } bad_keys[] = {
        {"0123456789ABCDEFGHIJKLMNOPQRSTU", 31},  {"0123456789ABCDEFGHIJKLMNOPQRSTUVW", 33},
        {"0123456789abcdefghijklmnopqrstuv", 32}, {"0123456789ABCDEFGHIJKLMNOPQRST\0V", 32},
        {"0123456789ABCDEFGHIJKLMNOPQRST V", 32}, {"", 0},
    };
    for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        char *p = build(bad_keys[i].text, bad_keys[i].len, ak, 32, "Tk9OQ0UxMjM=", "AAAA");
        assert_refused(p, strlen(p), PAYLOAD_UNUSABLE, "P1 holds no hmac_key");
        free(p);
        p = build(hk, 32, bad_keys[i].text, bad_keys[i].len, "Tk9OQ0UxMjM=", "AAAA");
        assert_refused(p, strlen(p), PAYLOAD_UNUSABLE, "P2 holds no aes_key");
        free(p);
    }
    /* The control: the same construction with good keys opens. */
    char *p = build(hk, 32, ak, 32, "Tk9OQ0UxMjM=", "AAAA");
    assert_int_equal(decrypt(priv_key, p, strlen(p), NULL, NULL), PAYLOAD_OK);
    free(p);
    /* A tampered P2 behind a valid HMAC is unusable, not a plaintext. */
    char *wrong_p2 = test_oaep_encrypt("0123456789", 10);
    refuse_field(2, wrong_p2, 1, PAYLOAD_UNUSABLE, "P2 holds no aes_key");
    free(wrong_p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_decrypt),
        cmocka_unit_test(test_vector_plaintexts_signed),
        cmocka_unit_test(test_java_wrapping_reproduced),
        cmocka_unit_test(test_rewrapped_vectors),
        cmocka_unit_test(test_trailing_line_break),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_fresh_keys),
        cmocka_unit_test(test_independent_build),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
