/*
 * Payout results: turns an authentic LianLian message (notification or queryPayment answer)
 * into a struct payresult, checking every known field's format.
 *
 * The string LianLian signs is ambiguous by construction ("a=1&b=2" can be re-split), so the
 * signature alone does not pin down what a message means: strict formats do (protocol.md). Hence
 * no known field may be a boolean, only money_order may be a JSON number, and no value may carry
 * a control character. Run it only after the signature verified. Pure; safe from any thread.
 *
 * It also says which message a result came from (payresult.signed_sha256): LianLian signs the
 * members' values, not the body's bytes, so the identity of a message is what was signed. It is
 * computed here, on the thread that verified the message, because the writer thread that uses
 * it is the daemon's one serial stage.
 *
 * The field formats are exported (payresult_valid_no_order, ...): every place where such a value
 * enters the program uses these, and sql/0003 repeats them as CHECK constraints.
 */
#include "payresult.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "money.h"
#include "msg.h"
#include "sign.h"

/* What a known field needs; the reasons are static so that callers can log and answer them. */
/* The known fields, and "sign": where each stands in a message is found in one pass over its
 * members (find_known) rather than by one search per field and check. */
enum known_field {
    F_OID_PARTNER,
    F_SIGN_TYPE,
    F_NO_ORDER,
    F_DT_ORDER,
    F_MONEY_ORDER,
    F_OID_PAYBILL,
    F_RESULT_PAY,
    F_SETTLE_DATE,
    F_INFO_ORDER,
    F_MEMO,
    F_RET_CODE,
    F_RULES, /* the fields with a rule: those above */
    F_SIGN = F_RULES,
    F_COUNT,
};

/* A message's known members (NULL: absent). */
struct known {
    const struct msg_field *f[F_COUNT];
};

struct rule {
    enum known_field id;
    const char *key;
    bool number_ok;
    const char *missing;
    const char *bad;
};

static const struct rule r_oid_partner = {F_OID_PARTNER, "oid_partner", false,
                                          "missing oid_partner", "bad oid_partner"};
static const struct rule r_sign_type = {F_SIGN_TYPE, "sign_type", false, "missing sign_type",
                                        "bad sign_type"};
static const struct rule r_no_order = {F_NO_ORDER, "no_order", false, "missing no_order",
                                       "bad no_order"};
static const struct rule r_dt_order = {F_DT_ORDER, "dt_order", false, "missing dt_order",
                                       "bad dt_order"};
static const struct rule r_money_order = {F_MONEY_ORDER, "money_order", true, "missing money_order",
                                          "bad money_order"};
static const struct rule r_oid_paybill = {F_OID_PAYBILL, "oid_paybill", false,
                                          "missing oid_paybill", "bad oid_paybill"};
static const struct rule r_result_pay = {F_RESULT_PAY, "result_pay", false, "missing result_pay",
                                         "bad result_pay"};
static const struct rule r_settle_date = {F_SETTLE_DATE, "settle_date", false,
                                          "missing settle_date", "bad settle_date"};
static const struct rule r_info_order = {F_INFO_ORDER, "info_order", false, "missing info_order",
                                         "bad info_order"};
static const struct rule r_memo = {F_MEMO, "memo", false, "missing memo", "bad memo"};
static const struct rule r_ret_code = {F_RET_CODE, "ret_code", false, "missing ret_code",
                                       "bad ret_code"};

/*
 * The text of a known field in *text, NULL when it is absent, null or "" (such members are not
 * signed either). Returns -1 with the rule's reason when its JSON type is wrong.
 */
static int field_text(const struct known *k, const struct rule *r, const char **text,
                      const char **why)
{
    const struct msg_field *f = k->f[r->id];

    *text = NULL;
    if (f == NULL || f->type == MSG_NULL)
        return 0;
    if (f->type == MSG_STRING || (f->type == MSG_NUMBER && r->number_ok)) {
        *text = f->value[0] != '\0' ? f->value : NULL;
        return 0;
    }
    *why = r->bad;
    return -1;
}

/* A field that must be present and non-empty. */
static const char *required(const struct known *k, const struct rule *r, const char **why)
{
    const char *text = NULL;

    if (field_text(k, r, &text, why) < 0)
        return NULL;
    if (text == NULL)
        *why = r->missing;
    return text;
}

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

/* Two digits at s as a number. The caller has checked they are digits. */
static int two_digits(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Days are not checked against the month: sql/0003 checks the same ranges. */
bool payresult_valid_dt_order(const char *s)
{
    if (!all_digits(s, 14, 14))
        return false;
    int month = two_digits(s + 4), day = two_digits(s + 6);
    return month >= 1 && month <= 12 && day >= 1 && day <= 31 && two_digits(s + 8) < 24 &&
           two_digits(s + 10) < 60 && two_digits(s + 12) < 60;
}

bool payresult_valid_oid_partner(const char *s)
{
    return all_digits(s, 18, 18);
}

/* Printable ASCII without the characters that would make the sign string re-splittable. */
bool payresult_valid_no_order(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c > '~' || strchr("&=\"", c) != NULL)
            return false;
    }
    return true;
}

/* True when the 8 bytes at p are all printable ASCII (0x20..0x7e): no byte below 0x20 (the word
 * test for a byte below n, exact about whether there is one), none with its high bit set, none
 * that 1 more carries into it (0x7f). */
static bool printable8(const unsigned char *p)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;
    uint64_t w;

    memcpy(&w, p, 8);
    return ((((w - ones * 0x20) & ~w) | w | (w + ones)) & high) == 0;
}

/* C0 controls, DEL, and C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F). */
static bool has_control(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;

    while (n - i >= 8 && printable8(p + i))
        i += 8;
    for (; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f || (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f))
            return true;
    }
    return false;
}

/* Code points in valid UTF-8: every byte but continuation bytes starts one. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xc0) != 0x80;
    return n;
}

/* Every known field, for the type check that applies to all of them. */
static const struct rule *const rules[F_RULES] = {
    &r_oid_partner, &r_sign_type,   &r_no_order,   &r_dt_order, &r_money_order, &r_oid_paybill,
    &r_result_pay,  &r_settle_date, &r_info_order, &r_ret_code, &r_memo,
};

/* Fills k from one pass over m's members; the first of a key counts, as with msg_find (msg_parse
 * allows one anyway). */
static void find_known(const struct msg *m, struct known *k)
{
    memset(k, 0, sizeof(*k));
    for (size_t i = 0; i < m->n; i++) {
        const struct msg_field *f = &m->fields[i];
        enum known_field id = F_COUNT;
        for (size_t r = 0; r < F_RULES && id == F_COUNT; r++) {
            if (rules[r]->key[0] == f->key[0] && strcmp(rules[r]->key, f->key) == 0)
                id = rules[r]->id;
        }
        if (id == F_COUNT && strcmp(f->key, "sign") == 0)
            id = F_SIGN;
        if (id != F_COUNT && k->f[id] == NULL)
            k->f[id] = f;
    }
}

static int check_types(const struct known *k, const char **why)
{
    const char *text = NULL;

    for (size_t i = 0; i < F_RULES; i++) {
        if (field_text(k, rules[i], &text, why) < 0)
            return -1;
    }
    return 0;
}

/* dst has room: every caller has checked the length of src against it. */
static void copy_text(char *dst, const char *src)
{
    memcpy(dst, src, strlen(src) + 1);
}

static int refuse(const char **why, const char *reason)
{
    *why = reason;
    return -1;
}

static int check_partner(const struct known *k, const char *ours, struct payresult *out,
                         const char **why)
{
    const char *v = required(k, &r_oid_partner, why);

    if (v == NULL)
        return -1;
    if (!payresult_valid_oid_partner(v))
        return refuse(why, r_oid_partner.bad);
    if (ours == NULL || strcmp(v, ours) != 0)
        return refuse(why, "oid_partner is not ours");
    copy_text(out->oid_partner, v);
    v = required(k, &r_sign_type, why);
    if (v == NULL)
        return -1;
    if (strcmp(v, "RSA") != 0)
        return refuse(why, r_sign_type.bad);
    return 0;
}

static int check_ret_code(const struct known *k, enum payresult_source source, const char **why)
{
    const char *v = NULL;

    if (source != PAYRESULT_QUERY)
        return 0;
    v = required(k, &r_ret_code, why);
    if (v == NULL)
        return -1;
    if (strcmp(v, "0000") != 0)
        return refuse(why, "ret_code is not 0000");
    return 0;
}

static int check_order(const struct known *k, struct payresult *out, const char **why)
{
    const char *v = required(k, &r_no_order, why);

    if (v == NULL)
        return -1;
    if (!payresult_valid_no_order(v))
        return refuse(why, r_no_order.bad);
    copy_text(out->no_order, v);
    v = required(k, &r_dt_order, why);
    if (v == NULL)
        return -1;
    if (!payresult_valid_dt_order(v))
        return refuse(why, r_dt_order.bad);
    copy_text(out->dt_order, v);
    /* A JSON number counts by its text: "200.10" is fine, "1e2" is not. */
    v = required(k, &r_money_order, why);
    if (v == NULL)
        return -1;
    if (payresult_money_fen(v, &out->amount_fen) < 0)
        return refuse(why, r_money_order.bad);
    copy_text(out->money_order, v);
    return 0;
}

static bool notify_allows(enum result_pay r)
{
    return r == RESULT_SUCCESS || r == RESULT_FAILURE || r == RESULT_CANCEL;
}

static int check_result(const struct known *k, enum payresult_source source, struct payresult *out,
                        const char **why)
{
    const char *v = required(k, &r_result_pay, why);

    if (v == NULL)
        return -1;
    if (state_result_parse(v, &out->result_pay) < 0 ||
        (source == PAYRESULT_NOTIFY && !notify_allows(out->result_pay)))
        return refuse(why, r_result_pay.bad);
    if (field_text(k, &r_oid_paybill, &v, why) < 0)
        return -1;
    if (v == NULL) {
        /* A pending payout may not have a bill number yet. */
        if (source == PAYRESULT_NOTIFY || !state_is_pending(out->result_pay))
            return refuse(why, r_oid_paybill.missing);
        return 0;
    }
    if (!all_digits(v, 1, 32))
        return refuse(why, r_oid_paybill.bad);
    copy_text(out->oid_paybill, v);
    return 0;
}

/* A free text LianLian may send: at most 255 characters of UTF-8, no control character. */
static int check_free_text(const struct known *k, const struct rule *r, char *dst, const char **why)
{
    const char *v = NULL;

    if (field_text(k, r, &v, why) < 0)
        return -1;
    if (v != NULL && (utf8_chars(v) > 255 || has_control(v)))
        return refuse(why, r->bad);
    if (v != NULL)
        copy_text(dst, v);
    return 0;
}

static int check_optional(const struct known *k, struct payresult *out, const char **why)
{
    const char *v = NULL;

    if (field_text(k, &r_settle_date, &v, why) < 0)
        return -1;
    if (v != NULL && !all_digits(v, 8, 8))
        return refuse(why, r_settle_date.bad);
    if (v != NULL)
        copy_text(out->settle_date, v);
    return check_free_text(k, &r_info_order, out->info_order, why) < 0 ||
                   check_free_text(k, &r_memo, out->memo, why) < 0
               ? -1
               : 0;
}

/* Run last, so that a known field's own check names it first. */
static int check_controls(const struct msg *m, const char **why)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct msg_field *f = &m->fields[i];
        if (has_control(f->key) || (f->value != NULL && has_control(f->value)))
            return refuse(why, "control character in a field");
    }
    return 0;
}

/* Fetched once: OpenSSL 3 looks EVP_sha256() up by name on every EVP_DigestInit_ex otherwise,
 * which was half the cost of the digest. Kept for the life of the process. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256;

static void sha256_fetch(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/*
 * SHA-256 over the string to sign, a NUL and the signature. The NUL keeps the two apart: msg_parse
 * refuses a NUL in any key or value, so neither can hold one.
 */
static int signed_digest(const struct known *k, const char *text, size_t len,
                         unsigned char out[PAYRESULT_DIGEST_LEN], const char **why)
{
    const struct msg_field *f = k->f[F_SIGN];
    const char *sig = f != NULL && (f->type == MSG_STRING || f->type == MSG_NUMBER) ? f->value : "";
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -1;

    if (pthread_once(&sha256_once, sha256_fetch) != 0 || sha256 == NULL || text == NULL ||
        ctx == NULL || EVP_DigestInit_ex(ctx, sha256, NULL) != 1 ||
        EVP_DigestUpdate(ctx, text, len + 1) != 1 || EVP_DigestUpdate(ctx, sig, strlen(sig)) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &mdlen) != 1 || mdlen != PAYRESULT_DIGEST_LEN) {
        *why = "out of memory";
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* A message that names another merchant was sent to the wrong place, whichever of its fields
 * was found wrong first: the operator's first question is whose message it is. */
static enum payresult_refusal refusal(const struct msg *m, const char *ours)
{
    const char *partner = msg_get(m, r_oid_partner.key);

    if (partner != NULL && (ours == NULL || strcmp(partner, ours) != 0))
        return PAYRESULT_WRONG_PARTNER;
    return PAYRESULT_INVALID_FIELD;
}

enum payresult_refusal payresult_from_signed(const struct msg *m, const char *text, size_t len,
                                             enum payresult_source source, const char *oid_partner,
                                             struct payresult *out, const char **why)
{
    struct payresult r;
    struct known k;

    memset(&r, 0, sizeof(r));
    find_known(m, &k);
    if (check_types(&k, why) < 0 || check_partner(&k, oid_partner, &r, why) < 0 ||
        check_ret_code(&k, source, why) < 0 || check_order(&k, &r, why) < 0 ||
        check_result(&k, source, &r, why) < 0 || check_optional(&k, &r, why) < 0 ||
        check_controls(m, why) < 0 || signed_digest(&k, text, len, r.signed_sha256, why) < 0)
        return refusal(m, oid_partner);
    *out = r;
    return PAYRESULT_ACCEPTED;
}

enum payresult_refusal payresult_from_msg(const struct msg *m, enum payresult_source source,
                                          const char *oid_partner, struct payresult *out,
                                          const char **why)
{
    size_t len = 0;
    char *text = sign_string(m, &len);
    enum payresult_refusal rc = payresult_from_signed(m, text, len, source, oid_partner, out, why);

    free(text);
    return rc;
}

int payresult_money_fen(const char *s, int64_t *fen)
{
    int64_t v = 0;

    if (strlen(s) >= sizeof(((struct payresult *)NULL)->money_order) ||
        money_parse_fen(s, &v) < 0 || v <= 0)
        return -1;
    *fen = v;
    return 0;
}

const char *payresult_source_name(enum payresult_source s)
{
    return s == PAYRESULT_QUERY ? "query" : "notify";
}
