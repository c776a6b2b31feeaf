/*
 * pay_load: the envelope in which payment.htm and confirmPayment.htm carry the signed request
 * (protocol.md, "pay_load encryption"). We encrypt (the merchant's side, for the submit thread)
 * and decrypt (LianLian's side, for lianpay-sim and its tests):
 *
 *     lianpay1_0_1 $ P1 $ P2 $ P3 $ P4 $ P5
 *     P1 = b64(RSA-OAEP-SHA1(hmac_key))   P2 = b64(RSA-OAEP-SHA1(aes_key))   P3 = b64(nonce)
 *     P4 = b64(AES-256-CTR(aes_key, nonce || 00000001, plaintext))
 *     P5 = b64(HMAC-SHA256(hmac_key, P3 "$" P4))
 *
 * hmac_key and aes_key are 32 characters of 0-9A-Z (the AES key is those 32 ASCII bytes), the
 * nonce 8 such characters. LianLian's Java wraps the fields at 76 columns with the JVM's line
 * separator and ends P4 with one when the plaintext is a multiple of 57 bytes; the HMAC covers P3
 * and P4 as written, so line breaks are stripped for base64 decoding only. We send unwrapped.
 *
 * The HMAC is all the integrity there is: P1 and P2 are not covered by it (a changed byte there
 * fails OAEP instead), and anyone with LianLian's public key can make a valid pay_load, which is
 * why the request inside is signed by the merchant. Keys are drawn from OpenSSL's CSPRNG and
 * wiped after use. Pure functions over caller-owned keys; safe from any thread.
 */
#include "payload.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "b64.h"

#define PAYLOAD_PREFIX "lianpay1_0_1"
#define PAYLOAD_FIELDS 6
#define KEY_CHARS      32
#define NONCE_CHARS    8
#define MAC_BYTES      32
#define CTR_CHUNK      (1 << 20)

static const char key_alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
#define ALPHABET_SIZE (sizeof(key_alphabet) - 1)

/* n characters of 0-9A-Z, each equally likely: a byte of 252 (7 × 36) or more is drawn again
 * rather than reduced, which would favour the first characters. */
static int random_chars(char *out, size_t n)
{
    unsigned char buf[64];
    size_t got = 0;
    int rc = 0;

    while (got < n && rc == 0) {
        if (RAND_bytes(buf, sizeof(buf)) != 1) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < sizeof(buf) && got < n; i++) {
            if (buf[i] < 256 / ALPHABET_SIZE * ALPHABET_SIZE)
                out[got++] = key_alphabet[buf[i] % ALPHABET_SIZE];
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

static bool all_key_chars(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    }
    return true;
}

/* A context for RSA-OAEP with SHA-1 and MGF1-SHA-1 and no label, for encrypting or decrypting. */
static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *key, bool encrypt)
{
    EVP_PKEY_CTX *ctx = NULL;

    if (key == NULL || !EVP_PKEY_is_a(key, "RSA"))
        return NULL;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (ctx == NULL)
        return NULL;
    if ((encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA1", NULL) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, "SHA1", NULL) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* b64(RSA-OAEP(text)), malloc'd, or NULL. */
static char *oaep_encrypt_b64(EVP_PKEY *key, const char *text, size_t n)
{
    EVP_PKEY_CTX *ctx = oaep_ctx(key, true);
    unsigned char *ct = NULL;
    size_t ctlen = 0;
    char *b64 = NULL;

    if (ctx == NULL || EVP_PKEY_encrypt(ctx, NULL, &ctlen, (const unsigned char *)text, n) != 1 ||
        (ct = malloc(ctlen)) == NULL ||
        EVP_PKEY_encrypt(ctx, ct, &ctlen, (const unsigned char *)text, n) != 1)
        goto out;
    b64 = b64_encode(ct, ctlen);
out:
    EVP_PKEY_CTX_free(ctx);
    free(ct);
    return b64;
}

/* RSA-OAEP decryption of ct into exactly want characters of 0-9A-Z. Returns 0, -1 when it does
 * not decrypt, -2 when it decrypts to something else. */
static int oaep_decrypt_chars(EVP_PKEY *key, const unsigned char *ct, size_t ctlen, char *out,
                              size_t want)
{
    EVP_PKEY_CTX *ctx = oaep_ctx(key, false);
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    int rc = -1;

    if (ctx == NULL || EVP_PKEY_decrypt(ctx, NULL, &cap, ct, ctlen) != 1 ||
        (buf = malloc(cap)) == NULL)
        goto out;
    n = cap;
    if (EVP_PKEY_decrypt(ctx, buf, &n, ct, ctlen) != 1)
        goto out;
    rc = -2;
    if (n != want || !all_key_chars(buf, n))
        goto out;
    memcpy(out, buf, want);
    rc = 0;
out:
    if (buf != NULL)
        OPENSSL_cleanse(buf, cap);
    free(buf);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* AES-256-CTR, key = the 32 ASCII bytes, initial counter block = nonce || 00 00 00 00 00 00 00 01
 * (the whole block counts up, as OpenSSL's and Java's CTR do). Encrypts and decrypts alike. */
static int aes_ctr(const char key[KEY_CHARS], const char nonce[NONCE_CHARS],
                   const unsigned char *in, size_t n, unsigned char *out)
{
    unsigned char iv[16] = {0};
    EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int rc = -1, outl = 0;

    memcpy(iv, nonce, NONCE_CHARS);
    iv[15] = 1;
    if (aes == NULL || ctx == NULL ||
        EVP_EncryptInit_ex2(ctx, aes, (const unsigned char *)key, iv, NULL) != 1)
        goto out;
    for (size_t done = 0; done < n; done += (size_t)outl) {
        int chunk = n - done > CTR_CHUNK ? CTR_CHUNK : (int)(n - done);
        if (EVP_EncryptUpdate(ctx, out + done, &outl, in + done, chunk) != 1 || outl != chunk)
            goto out;
    }
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(aes);
    return rc;
}

static int hmac_sha256(const char key[KEY_CHARS], const char *data, size_t n,
                       unsigned char mac[MAC_BYTES])
{
    size_t maclen = 0;

    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, KEY_CHARS, (const unsigned char *)data,
                  n, mac, MAC_BYTES, &maclen) == NULL ||
        maclen != MAC_BYTES)
        return -1;
    return 0;
}

/* Joins NUL-terminated parts with '$' into one malloc'd string. */
static char *join_dollar(const char *const *parts, size_t n)
{
    size_t total = 0, o = 0;
    char *s = NULL;

    for (size_t i = 0; i < n; i++)
        total += strlen(parts[i]) + 1;
    s = malloc(total);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(parts[i]);
        memcpy(s + o, parts[i], k);
        o += k;
        s[o++] = i + 1 < n ? '$' : '\0';
    }
    return s;
}

char *payload_encrypt(EVP_PKEY *lianlian_public, const void *plain, size_t len)
{
    char hmac_key[KEY_CHARS], aes_key[KEY_CHARS], nonce[NONCE_CHARS];
    unsigned char mac[MAC_BYTES], *ct = NULL;
    char *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL, *p3p4 = NULL, *p5 = NULL, *out = NULL;

    if (random_chars(hmac_key, KEY_CHARS) < 0 || random_chars(aes_key, KEY_CHARS) < 0 ||
        random_chars(nonce, NONCE_CHARS) < 0)
        goto out;
    ct = malloc(len + 1);
    if (ct == NULL || aes_ctr(aes_key, nonce, plain, len, ct) < 0)
        goto out;
    p1 = oaep_encrypt_b64(lianlian_public, hmac_key, KEY_CHARS);
    p2 = oaep_encrypt_b64(lianlian_public, aes_key, KEY_CHARS);
    p3 = b64_encode((const unsigned char *)nonce, NONCE_CHARS);
    p4 = b64_encode(ct, len);
    if (p1 == NULL || p2 == NULL || p3 == NULL || p4 == NULL)
        goto out;
    p3p4 = join_dollar((const char *const[]){p3, p4}, 2);
    if (p3p4 == NULL || hmac_sha256(hmac_key, p3p4, strlen(p3p4), mac) < 0 ||
        (p5 = b64_encode(mac, MAC_BYTES)) == NULL)
        goto out;
    out = join_dollar((const char *const[]){PAYLOAD_PREFIX, p1, p2, p3p4, p5}, 5);
out:
    if (out == NULL)
        ERR_clear_error();
    OPENSSL_cleanse(hmac_key, sizeof(hmac_key));
    OPENSSL_cleanse(aes_key, sizeof(aes_key));
    free(ct);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
    free(p3p4);
    free(p5);
    return out;
}

/* The pay_load's fields, pointing into the caller's text. */
struct fields {
    const char *p[PAYLOAD_FIELDS];
    size_t n[PAYLOAD_FIELDS];
};

static int split_fields(const char *s, size_t len, struct fields *f)
{
    const char *end = s + len;

    for (int i = 0; i < PAYLOAD_FIELDS; i++) {
        const char *d = memchr(s, '$', (size_t)(end - s));
        if ((d == NULL) != (i == PAYLOAD_FIELDS - 1))
            return -1;
        f->p[i] = s;
        f->n[i] = (size_t)((d ? d : end) - s);
        s = d ? d + 1 : end;
    }
    return 0;
}

/* What decryption holds; everything secret is wiped by decrypt_finish. */
struct opened {
    unsigned char *p1, *p2, *p3, *p4, *p5;
    size_t n1, n2, n3, n4, n5;
    char hmac_key[KEY_CHARS], aes_key[KEY_CHARS];
};

static void decrypt_finish(struct opened *o)
{
    OPENSSL_cleanse(o->hmac_key, sizeof(o->hmac_key));
    OPENSSL_cleanse(o->aes_key, sizeof(o->aes_key));
    free(o->p1);
    free(o->p2);
    free(o->p3);
    free(o->p4);
    free(o->p5);
}

static enum payload_status decode_field(const struct fields *f, int i, unsigned char **out,
                                        size_t *n, const char **why)
{
    static const char *const invalid[] = {
        NULL,
        "P1 is not base64",
        "P2 is not base64",
        "P3 is not base64",
        "P4 is not base64",
        "P5 is not base64",
    };

    *out = b64_decode(f->p[i], f->n[i], B64_LINE_BREAKS, n);
    if (*out == NULL)
        *why = errno == ENOMEM ? "out of memory" : invalid[i];
    return *out == NULL ? PAYLOAD_UNUSABLE : PAYLOAD_OK;
}

/* The checks in the order that needs them: the form, the HMAC key, the HMAC over P3 "$" P4 as
 * written, and only then what the HMAC vouches for. */
static enum payload_status open_payload(EVP_PKEY *key, const struct fields *f, struct opened *o,
                                        const char **why)
{
    unsigned char mac[MAC_BYTES];
    int r;

    if (f->n[0] != strlen(PAYLOAD_PREFIX) || memcmp(f->p[0], PAYLOAD_PREFIX, f->n[0]) != 0) {
        *why = "unknown version (want the prefix " PAYLOAD_PREFIX ")";
        return PAYLOAD_UNUSABLE;
    }
    if (decode_field(f, 1, &o->p1, &o->n1, why) != PAYLOAD_OK ||
        decode_field(f, 2, &o->p2, &o->n2, why) != PAYLOAD_OK ||
        decode_field(f, 5, &o->p5, &o->n5, why) != PAYLOAD_OK)
        return PAYLOAD_UNUSABLE;
    if (o->n5 != MAC_BYTES) {
        *why = "P5 is not an HMAC-SHA256 (32 bytes)";
        return PAYLOAD_UNUSABLE;
    }
    r = oaep_decrypt_chars(key, o->p1, o->n1, o->hmac_key, KEY_CHARS);
    if (r < 0) {
        *why = r == -1 ? "P1 does not decrypt with this key (RSA-OAEP-SHA1)"
                       : "P1 holds no hmac_key (32 characters of 0-9A-Z)";
        return PAYLOAD_UNUSABLE;
    }
    /* P3 "$" P4 lie next to each other in the text, exactly as sent. */
    if (hmac_sha256(o->hmac_key, f->p[3], f->n[3] + 1 + f->n[4], mac) < 0) {
        *why = "cannot compute the HMAC";
        return PAYLOAD_UNUSABLE;
    }
    if (CRYPTO_memcmp(mac, o->p5, MAC_BYTES) != 0) {
        *why = "the HMAC over P3$P4 does not check (P5)";
        return PAYLOAD_TAMPERED;
    }
    r = oaep_decrypt_chars(key, o->p2, o->n2, o->aes_key, KEY_CHARS);
    if (r < 0) {
        *why = r == -1 ? "P2 does not decrypt with this key (RSA-OAEP-SHA1)"
                       : "P2 holds no aes_key (32 characters of 0-9A-Z)";
        return PAYLOAD_UNUSABLE;
    }
    if (decode_field(f, 3, &o->p3, &o->n3, why) != PAYLOAD_OK ||
        decode_field(f, 4, &o->p4, &o->n4, why) != PAYLOAD_OK)
        return PAYLOAD_UNUSABLE;
    if (o->n3 != NONCE_CHARS || !all_key_chars(o->p3, o->n3)) {
        *why = "P3 holds no nonce (8 characters of 0-9A-Z)";
        return PAYLOAD_UNUSABLE;
    }
    return PAYLOAD_OK;
}

enum payload_status payload_decrypt(EVP_PKEY *lianlian_private, const char *payload, size_t len,
                                    char **out, size_t *out_len, const char **why)
{
    struct opened o = {0};
    struct fields f;
    char *plain = NULL;
    enum payload_status st;

    *out = NULL;
    *out_len = 0;
    if (lianlian_private == NULL || !EVP_PKEY_is_a(lianlian_private, "RSA")) {
        *why = "not an RSA private key";
        return PAYLOAD_UNUSABLE;
    }
    if (split_fields(payload, len, &f) < 0) {
        *why = "not a pay_load (want lianpay1_0_1$P1$P2$P3$P4$P5)";
        return PAYLOAD_UNUSABLE;
    }
    st = open_payload(lianlian_private, &f, &o, why);
    if (st == PAYLOAD_OK) {
        plain = malloc(o.n4 + 1);
        if (plain == NULL ||
            aes_ctr(o.aes_key, (const char *)o.p3, o.p4, o.n4, (unsigned char *)plain) < 0) {
            *why = plain == NULL ? "out of memory" : "AES-256-CTR failed";
            st = PAYLOAD_UNUSABLE;
            if (plain != NULL)
                OPENSSL_clear_free(plain, o.n4 + 1);
        } else {
            plain[o.n4] = '\0';
            *out = plain;
            *out_len = o.n4;
        }
    }
    decrypt_finish(&o);
    /* A refused pay_load is an answer, not an error: keep the thread's error queue clean. */
    ERR_clear_error();
    return st;
}
