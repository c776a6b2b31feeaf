/*
 * libFuzzer target for what the simulator does with a pay_load (payload_decrypt), with the key
 * pair of tests/vectors/payload. Two kinds of input, told apart by the first byte:
 *  - even (every pay_load starts with 'l'): the input is a whole pay_load. A mutation can only
 *    open if it is another spelling of a seed (a line break in a base64 field): the plaintext
 *    must then be one of the vectors' plaintexts, never anything else. (The HMAC does not cover
 *    P2: a crossover that puts another seed's P2 behind a P1 opens to garbage. That is the
 *    protocol, not a bug, and the merchant's signature inside is what catches it.)
 *  - odd: the rest is P3 "$" P4, placed behind P1 and P2 of v3_payment_company_ascii.php2016 and
 *    given the right HMAC, so that the checks behind the HMAC (P2, the nonce, P4's base64) are
 *    reached. Such a pay_load can never fail the HMAC.
 * Both: a plaintext only on PAYLOAD_OK, a printable reason otherwise.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "b64.h"
#include "fuzz.h"
#include "keys.h"
#include "log.h"
#include "payload.h"

#define VECTORS FUZZ_SOURCE_DIR "/../vectors/payload/"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *key;
static struct {
    char *p;
    size_t n;
} plains[3];
static char *v3_head; /* "lianpay1_0_1$P1$P2$" of v3_payment_company_ascii.php2016 */
/* The hmac_key inside its P1 (openssl pkeyutl -decrypt -pkeyopt rsa_padding_mode:oaep). */
static const char v3_hmac_key[] = "OYRFABA3TZPKO6X46J54OM9XWBX1L7CO";
/* P1 and P2 of each seed vector, without line breaks. */
static const char *const seed_names[] = {
    "v1_payment_chinese.java2016-crlf.pay_load",
    "v1_payment_chinese.php-json_encode.php2016.pay_load",
    "v3_payment_company_ascii.java2016-crlf.pay_load",
    "v3_payment_company_ascii.php2016.pay_load",
};
#define NSEEDS (sizeof(seed_names) / sizeof(seed_names[0]))
static char *seed_p1[NSEEDS], *seed_p2[NSEEDS];

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 16);
    size_t n = 0;

    FUZZ_CHECK(f != NULL && buf != NULL);
    n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Field i (0 = prefix) of a pay_load without CR and LF, malloc'd; NULL when there is none. */
static char *field(const char *s, size_t n, int i)
{
    const char *end = s + n;

    for (; i > 0 && s != NULL; i--) {
        s = memchr(s, '$', (size_t)(end - s));
        s = s != NULL ? s + 1 : NULL;
    }
    if (s == NULL)
        return NULL;
    const char *d = memchr(s, '$', (size_t)(end - s));
    size_t k = (size_t)((d != NULL ? d : end) - s), o = 0;
    char *out = malloc(k + 1);
    FUZZ_CHECK(out != NULL);
    for (size_t j = 0; j < k; j++) {
        if (s[j] != '\r' && s[j] != '\n')
            out[o++] = s[j];
    }
    out[o] = '\0';
    return out;
}

/* Whether P2 is the one its P1 came with in a seed (so that the seed's plaintext is due). */
static int p2_of_same_seed(const char *s, size_t n)
{
    char *p1 = field(s, n, 1), *p2 = field(s, n, 2);
    int same = 0;

    for (size_t i = 0; i < NSEEDS && p1 != NULL && p2 != NULL; i++) {
        if (strcmp(p1, seed_p1[i]) == 0 && strcmp(p2, seed_p2[i]) == 0)
            same = 1;
    }
    free(p1);
    free(p2);
    return same;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const names[] = {
        "v1_payment_chinese.plain.json",
        "v1_payment_chinese.php-json_encode.plain.json",
        "v3_payment_company_ascii.plain.json",
    };
    char err[512];
    size_t n = 0;

    log_init();
    key = keys_load_private(VECTORS "private_key.pem", err, sizeof(err));
    FUZZ_CHECK(key != NULL);
    for (size_t i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s%s", VECTORS, names[i]);
        plains[i].p = slurp(path, &plains[i].n);
    }
    for (size_t i = 0; i < NSEEDS; i++) {
        char path[4096], *text = NULL;
        snprintf(path, sizeof(path), "%s%s", VECTORS, seed_names[i]);
        text = slurp(path, &n);
        seed_p1[i] = field(text, n, 1);
        seed_p2[i] = field(text, n, 2);
        FUZZ_CHECK(seed_p1[i] != NULL && seed_p2[i] != NULL);
        free(text);
    }
    v3_head = slurp(VECTORS "v3_payment_company_ascii.php2016.pay_load", &n);
    char *d = v3_head;
    for (int i = 0; i < 3; i++)
        d = strchr(d, '$') + 1;
    *d = '\0';
    return 0;
}

static int known_plaintext(const char *p, size_t n)
{
    for (size_t i = 0; i < 3; i++) {
        if (plains[i].n == n && memcmp(plains[i].p, p, n) == 0)
            return 1;
    }
    return 0;
}

/* v3's prefix, P1 and P2, then p3p4 as given, then the HMAC of exactly that. */
static char *with_valid_hmac(const char *p3p4, size_t n, size_t *len)
{
    unsigned char mac[32];
    size_t maclen = 0, head = strlen(v3_head);
    char *p5 = NULL, *out = NULL;

    FUZZ_CHECK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, v3_hmac_key, 32,
                         (const unsigned char *)p3p4, n, mac, sizeof(mac), &maclen) != NULL);
    p5 = b64_encode(mac, maclen);
    out = malloc(head + n + 1 + strlen(p5));
    FUZZ_CHECK(p5 != NULL && out != NULL);
    memcpy(out, v3_head, head);
    memcpy(out + head, p3p4, n);
    out[head + n] = '$';
    memcpy(out + head + n + 1, p5, strlen(p5));
    *len = head + n + 1 + strlen(p5);
    free(p5);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *why = NULL;
    char *built = NULL, *plain = NULL;
    size_t len = size, plain_len = 0;
    int behind_hmac = size > 0 && (data[0] & 1);

    if (behind_hmac) {
        /* Exactly one '$' (P3 "$" P4): with more, the HMAC would not be over P3 and P4. */
        const char *d = memchr(text + 1, '$', size - 1);
        if (d == NULL || memchr(d + 1, '$', size - (size_t)(d + 1 - text)) != NULL)
            return 0;
        text = built = with_valid_hmac(text + 1, size - 1, &len);
    }
    enum payload_status st = payload_decrypt(key, text, len, &plain, &plain_len, &why);
    if (st == PAYLOAD_OK) {
        FUZZ_CHECK(plain != NULL && plain[plain_len] == '\0');
        FUZZ_CHECK(behind_hmac || known_plaintext(plain, plain_len) || !p2_of_same_seed(text, len));
    } else {
        FUZZ_CHECK(st == PAYLOAD_TAMPERED || st == PAYLOAD_UNUSABLE);
        FUZZ_CHECK(plain == NULL && plain_len == 0 && fuzz_reason_ok(why));
        FUZZ_CHECK(!behind_hmac || st == PAYLOAD_UNUSABLE);
    }
    free(plain);
    free(built);
    return 0;
}
