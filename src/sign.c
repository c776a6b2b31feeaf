/*
 * LianLian's signature: the string to sign (protocol.md) and MD5withRSA over it, i.e. RSA
 * PKCS#1 v1.5 with MD5 through OpenSSL's EVP interface, signatures in standard base64 on one line.
 *
 * Base64 is decoded here by hand because OpenSSL's decoders are lenient (white space, line
 * breaks, missing padding, non-zero pad bits): a signature has exactly one accepted spelling.
 * Pure functions over caller-owned keys; safe from any thread (EVP_PKEY is read-only here).
 */
#include "sign.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "msg.h"

/* Members that go into the string to sign: not "sign", not null, not "". */
static bool is_signed(const struct msg_field *f)
{
    return strcmp(f->key, "sign") != 0 && f->type != MSG_NULL && f->value[0] != '\0';
}

/*
 * ASCII case-insensitive order, a key before any longer key it prefixes; byte order breaks the
 * remaining ties so the result never depends on the input order (msg_parse refuses keys that
 * differ only by case anyway).
 */
static int cmp_sign_key(const void *a, const void *b)
{
    const char *ka = (*(const struct msg_field *const *)a)->key;
    const char *kb = (*(const struct msg_field *const *)b)->key;

    for (size_t i = 0;; i++) {
        int ca = (unsigned char)ka[i], cb = (unsigned char)kb[i];
        if (ca >= 'A' && ca <= 'Z')
            ca += 'a' - 'A';
        if (cb >= 'A' && cb <= 'Z')
            cb += 'a' - 'A';
        if (ca != cb)
            return ca - cb;
        if (ca == 0)
            return strcmp(ka, kb);
    }
}

static char *join_pairs(const struct msg_field **f, size_t n, size_t *len)
{
    size_t size = 1;
    char *s = NULL, *o = NULL;

    for (size_t i = 0; i < n; i++)
        size += strlen(f[i]->key) + 1 + strlen(f[i]->value) + 1;
    s = malloc(size);
    if (s == NULL)
        return NULL;
    o = s;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(f[i]->key), vl = strlen(f[i]->value);
        if (i > 0)
            *o++ = '&';
        memcpy(o, f[i]->key, kl);
        o += kl;
        *o++ = '=';
        memcpy(o, f[i]->value, vl);
        o += vl;
    }
    *o = '\0';
    if (len != NULL)
        *len = (size_t)(o - s);
    return s;
}

char *sign_string(const struct msg *m, size_t *len)
{
    const struct msg_field **f = malloc((m->n ? m->n : 1) * sizeof(*f));
    size_t n = 0;
    char *s = NULL;

    if (f == NULL)
        return NULL;
    for (size_t i = 0; i < m->n; i++) {
        if (is_signed(&m->fields[i]))
            f[n++] = &m->fields[i];
    }
    qsort(f, n, sizeof(*f), cmp_sign_key);
    s = join_pairs(f, n, len);
    free(f);
    return s;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* One group of 4 characters; the last group may end in "=" or "==" with zero pad bits. */
static int b64_group(const char *in, bool last, unsigned char *out, size_t *outlen)
{
    int pad = last ? (in[3] == '=') + (in[2] == '=' && in[3] == '=') : 0;
    unsigned long v = 0;

    for (int i = 0; i < 4 - pad; i++) {
        int d = b64_value((unsigned char)in[i]);
        if (d < 0)
            return -1;
        v = (v << 6) | (unsigned long)d;
    }
    v <<= 6 * pad;
    if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
        return -1;
    out[0] = (unsigned char)(v >> 16);
    out[1] = (unsigned char)(v >> 8);
    out[2] = (unsigned char)v;
    *outlen = 3 - (size_t)pad;
    return 0;
}

/* Strict standard base64. Returns a malloc'd buffer with its length in *outlen, or NULL. */
static unsigned char *b64_decode(const char *in, size_t *outlen)
{
    size_t n = strlen(in), o = 0, k = 0;
    unsigned char *out = NULL;

    if (n == 0 || n % 4 != 0)
        return NULL;
    out = malloc(n / 4 * 3);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i += 4) {
        if (b64_group(in + i, i + 4 == n, out + o, &k) < 0) {
            free(out);
            return NULL;
        }
        o += k;
    }
    *outlen = o;
    return out;
}

/* A digest context set up for MD5withRSA (PKCS#1 v1.5) with key, for signing or verifying. */
static EVP_MD_CTX *md5_rsa_ctx(EVP_PKEY *key, bool sign)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok;

    if (ctx == NULL)
        return NULL;
    if (sign)
        ok = EVP_DigestSignInit_ex(ctx, &pctx, "MD5", NULL, NULL, key, NULL);
    else
        ok = EVP_DigestVerifyInit_ex(ctx, &pctx, "MD5", NULL, NULL, key, NULL);
    if (ok != 1 || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int sign_verify(EVP_PKEY *key, const char *data, size_t len, const char *b64sig)
{
    EVP_MD_CTX *ctx = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    int rc = -1;

    if (key == NULL || b64sig == NULL)
        goto out;
    sig = b64_decode(b64sig, &siglen);
    if (sig == NULL)
        goto out;
    ctx = md5_rsa_ctx(key, false);
    if (ctx == NULL)
        goto out;
    if (EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)data, len) == 1)
        rc = 0;
out:
    /* A failed check is an answer, not an error: keep the thread's error queue clean. */
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    free(sig);
    return rc;
}

int sign_verify_msg(const struct msg *m, EVP_PKEY *const *keys, size_t nkeys)
{
    const struct msg_field *sig = msg_find(m, "sign");
    char *data = NULL;
    size_t len = 0;
    int found = -1;

    if (sig == NULL || sig->type != MSG_STRING)
        return -1;
    data = sign_string(m, &len);
    if (data == NULL)
        return -1;
    for (size_t i = 0; i < nkeys && found < 0; i++) {
        if (sign_verify(keys[i], data, len, sig->value) == 0)
            found = (int)i;
    }
    free(data);
    return found;
}

static char *b64_encode(const unsigned char *in, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1);

    if (out == NULL)
        return NULL;
    if (EVP_EncodeBlock((unsigned char *)out, in, (int)n) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

char *sign_data(EVP_PKEY *key, const char *data, size_t len)
{
    EVP_MD_CTX *ctx = md5_rsa_ctx(key, true);
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char *b64 = NULL;

    if (ctx == NULL)
        goto out;
    if (EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)data, len) != 1)
        goto out;
    sig = malloc(siglen);
    if (sig == NULL)
        goto out;
    if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)data, len) != 1)
        goto out;
    b64 = b64_encode(sig, siglen);
out:
    if (b64 == NULL)
        ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    free(sig);
    return b64;
}

int sign_msg(struct msg *m, EVP_PKEY *key)
{
    char *data = NULL, *sig = NULL;
    size_t len = 0;
    int rc = -1;

    if (msg_set(m, "sign_type", "RSA") < 0)
        goto out;
    data = sign_string(m, &len);
    if (data == NULL)
        goto out;
    sig = sign_data(key, data, len);
    if (sig == NULL)
        goto out;
    if (msg_set(m, "sign", sig) < 0)
        goto out;
    rc = 0;
out:
    free(data);
    free(sig);
    return rc;
}
