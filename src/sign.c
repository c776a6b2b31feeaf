/*
 * LianLian's signature: the string to sign (protocol.md) and MD5withRSA over it, i.e. RSA
 * PKCS#1 v1.5 with MD5 through OpenSSL's EVP interface, signatures in standard base64 on one line.
 *
 * Signatures are decoded with b64.c's strict decoder: a signature has exactly one accepted
 * spelling. Pure functions over caller-owned keys; safe from any thread (EVP_PKEY is read-only
 * here).
 *
 * Verification is on every notification's path. Setting up an OpenSSL 3 verification context
 * (fetching MD5 and RSA by name, creating the key context) costs as much as the RSA-1024 check
 * itself, so each thread keeps its contexts for the last few keys it saw and only hashes and
 * checks per message. A cached context holds a reference to its key: the key cannot be freed
 * while cached, so its address cannot come back as another key's (a reloaded key ring simply
 * misses the cache). The contexts go with their thread (pthread key destructor).
 */
#include "sign.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "b64.h"
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
    int c = msg_key_casecmp(ka, kb);

    return c != 0 ? c : strcmp(ka, kb);
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
    msg_sort_fields(f, n, cmp_sign_key);
    s = join_pairs(f, n, len);
    free(f);
    return s;
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

/* ---- the per-thread verification cache ---- */

#define VERIFY_CACHE_KEYS 4

struct verify_cache {
    EVP_PKEY_CTX *ctx[VERIFY_CACHE_KEYS]; /* each holds a reference to its key */
    unsigned next;                        /* slot to replace next */
};

static pthread_once_t verify_once = PTHREAD_ONCE_INIT;
static pthread_key_t verify_key;
static bool verify_key_ok;
static EVP_MD *verify_md5; /* fetched once, kept for the life of the process */

static void verify_cache_free(void *p)
{
    struct verify_cache *c = p;
    for (int i = 0; i < VERIFY_CACHE_KEYS; i++)
        EVP_PKEY_CTX_free(c->ctx[i]);
    free(c);
}

static void verify_init_once(void)
{
    verify_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    verify_key_ok = pthread_key_create(&verify_key, verify_cache_free) == 0;
}

static EVP_PKEY_CTX *verify_ctx_new(EVP_PKEY *key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);

    if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx, verify_md5) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* This thread's verification context for key, or NULL when none can be made (the caller then
 * takes the uncached way). */
static EVP_PKEY_CTX *verify_ctx(EVP_PKEY *key)
{
    struct verify_cache *c = NULL;

    if (pthread_once(&verify_once, verify_init_once) != 0 || !verify_key_ok || verify_md5 == NULL)
        return NULL;
    c = pthread_getspecific(verify_key);
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL || pthread_setspecific(verify_key, c) != 0) {
            free(c);
            return NULL;
        }
    }
    for (int i = 0; i < VERIFY_CACHE_KEYS; i++) {
        if (c->ctx[i] != NULL && EVP_PKEY_CTX_get0_pkey(c->ctx[i]) == key)
            return c->ctx[i];
    }
    EVP_PKEY_CTX *ctx = verify_ctx_new(key);
    if (ctx == NULL)
        return NULL;
    unsigned slot = c->next++ % VERIFY_CACHE_KEYS;
    EVP_PKEY_CTX_free(c->ctx[slot]);
    c->ctx[slot] = ctx;
    return ctx;
}

/* MD5withRSA check with a cached context: 1 valid, 0 invalid, -1 when no context could be made. */
static int verify_cached(EVP_PKEY *key, const char *data, size_t len, const unsigned char *sig,
                         size_t siglen)
{
    EVP_PKEY_CTX *ctx = verify_ctx(key);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (ctx == NULL)
        return -1;
    if (EVP_Digest(data, len, md, &mdlen, verify_md5, NULL) != 1)
        return 0;
    return EVP_PKEY_verify(ctx, sig, siglen, md, mdlen) == 1;
}

static int verify_uncached(EVP_PKEY *key, const char *data, size_t len, const unsigned char *sig,
                           size_t siglen)
{
    EVP_MD_CTX *ctx = md5_rsa_ctx(key, false);
    int ok =
        ctx != NULL && EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)data, len) == 1;

    EVP_MD_CTX_free(ctx);
    return ok;
}

int sign_verify(EVP_PKEY *key, const char *data, size_t len, const char *b64sig)
{
    unsigned char *sig = NULL;
    size_t siglen = 0;
    int rc = -1;

    if (key == NULL || b64sig == NULL)
        goto out;
    sig = b64_decode(b64sig, strlen(b64sig), 0, &siglen);
    if (sig == NULL || siglen == 0)
        goto out;
    int ok = verify_cached(key, data, len, sig, siglen);
    if (ok < 0)
        ok = verify_uncached(key, data, len, sig, siglen);
    if (ok == 1)
        rc = 0;
out:
    /* A failed check is an answer, not an error: keep the thread's error queue clean. */
    ERR_clear_error();
    free(sig);
    return rc;
}

int sign_verify_text(const struct msg *m, const char *text, size_t len, EVP_PKEY *const *keys,
                     size_t nkeys)
{
    const struct msg_field *sig = msg_find(m, "sign");

    if (sig == NULL || sig->type != MSG_STRING || text == NULL)
        return -1;
    for (size_t i = 0; i < nkeys; i++) {
        if (sign_verify(keys[i], text, len, sig->value) == 0)
            return (int)i;
    }
    return -1;
}

int sign_verify_msg(const struct msg *m, EVP_PKEY *const *keys, size_t nkeys)
{
    const struct msg_field *sig = msg_find(m, "sign");
    char *data = NULL;
    size_t len = 0;
    int found;

    if (sig == NULL || sig->type != MSG_STRING)
        return -1;
    data = sign_string(m, &len);
    found = sign_verify_text(m, data, len, keys, nkeys);
    free(data);
    return found;
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
