/*
 * payment.htm and confirmPayment.htm (protocol.md): building the signed, encrypted request and
 * saying what LianLian's answer is. The one rule of this file: only a signed answer about the
 * request just sent can be anything but PAYOUT_UNKNOWN, because every other class lets a person
 * or the submit thread act as if LianLian had (or had not) created the payout. LianLian's own
 * demo checks the signature on 0000 only; a forged 1004 would then have its caller pay twice.
 *
 * Building and classifying are pure; payout_send does the one POST. A client belongs to one
 * thread. Building is separate from sending so that the caller can record the request (and the
 * state "sending") before a byte leaves.
 */
#include "payout.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpclient.h"
#include "keyring.h"
#include "msg.h"
#include "payload.h"
#include "sign.h"

struct payout_client {
    struct httpclient *http;
    char *payment_url, *confirm_url;
    char oid_partner[19];
};

/*
 * protocol.md's table, code by code, for each call. Where the table is silent the answer is
 * UNKNOWN, the class that can never cost money (it is queried, not sent again):
 * - 4008 and 4010 close a reviewed order; after an apply they make no sense;
 * - 4002-4004 after a confirm would ask for a review of a review;
 * - 4011 (wrong code, tries left) means an apply makes no sense; after a confirm the order is
 *   still in review with the same code;
 * - 4001 ("order absent or not awaiting review") after a confirm may follow a confirm that
 *   LianLian did act on (the payout exists), or an order that never was: only a query says.
 * - a refusal after a confirm refuses the confirm, not the order LianLian holds in review: the
 *   class stays refused (the journal says what LianLian answered), and the submit thread puts
 *   the payout back in review with its code (submit.c).
 * The codes of the "unknown: query" row are listed too, so that the table reads like protocol.md.
 */
#define U PAYOUT_UNKNOWN
static const struct {
    const char *code;
    enum payout_class apply, confirm;
} code_table[] = {
    {"0000", PAYOUT_ACCEPTED, PAYOUT_ACCEPTED},
    {"4002", PAYOUT_REVIEW, U},
    {"4003", PAYOUT_REVIEW, U},
    {"4004", PAYOUT_REVIEW, U},
    {"1001", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"1004", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"1005", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"1008", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"3001", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"4005", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"4012", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"4105", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"9910", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"9911", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"9912", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"9913", PAYOUT_REFUSED_NOTHING_STORED, PAYOUT_REFUSED_NOTHING_STORED},
    {"4103", PAYOUT_REFUSED_MAY_RESUBMIT, PAYOUT_REFUSED_MAY_RESUBMIT},
    {"4104", PAYOUT_REFUSED_MAY_RESUBMIT, PAYOUT_REFUSED_MAY_RESUBMIT},
    {"9104", PAYOUT_REFUSED_MAY_RESUBMIT, PAYOUT_REFUSED_MAY_RESUBMIT},
    {"4008", U, PAYOUT_CLOSED},
    {"4010", U, PAYOUT_CLOSED},
    {"4011", U, PAYOUT_REVIEW},
    {"4001", U, U},
    {"1002", U, U},
    {"2005", U, U},
    {"4006", U, U},
    {"4007", U, U},
    {"4009", U, U},
    {"9999", U, U},
};
#undef U

static enum payout_class class_of(enum payout_call call, const char *code)
{
    for (size_t i = 0; i < sizeof(code_table) / sizeof(code_table[0]); i++)
        if (strcmp(code_table[i].code, code) == 0)
            return call == PAYOUT_APPLY ? code_table[i].apply : code_table[i].confirm;
    return PAYOUT_UNKNOWN;
}

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static void copy_field(const struct msg *m, const char *key, char *dst, size_t len)
{
    const char *v = msg_get(m, key);
    snprintf(dst, len, "%s", v ? v : "");
}

/* The class of a signed answer, or UNKNOWN with the reason in detail. */
static enum payout_class classify_signed(enum payout_call call, const struct msg *m,
                                         const char *oid_partner, const char *no_order,
                                         struct payout_answer *out)
{
    const char *partner = msg_get(m, "oid_partner");
    const char *order = msg_get(m, "no_order");
    const char *code = msg_get(m, "ret_code");
    const char *paybill = msg_get(m, "oid_paybill");
    const char *confirm = msg_get(m, "confirm_code");
    char *d = out->detail;
    size_t dl = sizeof(out->detail);

    /* A genuine answer to another merchant or about another order (replayed, misrouted) says
     * nothing about ours. Refusals may omit no_order (apply_4005 does); what says the payout
     * exists or awaits review must name it. */
    if (partner == NULL || strcmp(partner, oid_partner) != 0) {
        snprintf(d, dl, "signed answer names another merchant");
        return PAYOUT_UNKNOWN;
    }
    if (code == NULL) {
        snprintf(d, dl, "signed answer without ret_code");
        return PAYOUT_UNKNOWN;
    }
    enum payout_class c = class_of(call, code);
    bool names_order = c == PAYOUT_ACCEPTED || (c == PAYOUT_REVIEW && call == PAYOUT_APPLY);
    if ((order != NULL && strcmp(order, no_order) != 0) || (order == NULL && names_order)) {
        snprintf(d, dl, "signed %s is about another order", code);
        return PAYOUT_UNKNOWN;
    }
    if (paybill != NULL && !all_digits(paybill, 1, sizeof(out->oid_paybill) - 1)) {
        snprintf(d, dl, "signed %s with an invalid oid_paybill", code);
        return PAYOUT_UNKNOWN;
    }
    if (c == PAYOUT_REVIEW && call == PAYOUT_APPLY) {
        if (confirm == NULL || !all_digits(confirm, 6, 6)) {
            snprintf(d, dl, "signed %s without a 6-digit confirm_code", code);
            return PAYOUT_UNKNOWN;
        }
        snprintf(out->confirm_code, sizeof(out->confirm_code), "%s", confirm);
    }
    out->wrong_code = c == PAYOUT_REVIEW && call == PAYOUT_CONFIRM;
    if (paybill != NULL)
        snprintf(out->oid_paybill, sizeof(out->oid_paybill), "%s", paybill);
    if (c == PAYOUT_UNKNOWN)
        snprintf(d, dl, "LianLian answered %s: the payout may exist, query it", code);
    else
        snprintf(d, dl, "LianLian answered %s", code);
    return c;
}

void payout_classify_answer(enum payout_call call, const char *transport_error, long http_status,
                            const char *body, size_t len, struct keyring *keys,
                            const char *oid_partner, const char *no_order,
                            struct payout_answer *out)
{
    struct msg m = {0};
    const char *why = NULL;

    out->cls = PAYOUT_UNKNOWN;
    out->signed_ok = 0;
    out->wrong_code = 0;
    out->http_status = http_status;
    out->ret_code[0] = out->ret_msg[0] = out->oid_paybill[0] = out->confirm_code[0] = '\0';
    if (transport_error != NULL) {
        snprintf(out->detail, sizeof(out->detail), "no answer: %s", transport_error);
        return;
    }
    if (http_status != 200) {
        snprintf(out->detail, sizeof(out->detail), "HTTP status %ld", http_status);
        return;
    }
    if (msg_parse(body, len, &m, &why) < 0) {
        snprintf(out->detail, sizeof(out->detail), "answer is not a usable message: %s", why);
        return;
    }
    out->signed_ok = keyring_verify(keys, &m) >= 0;
    /* Kept for the journal and for the person who looks, whether or not they are believed. */
    copy_field(&m, "ret_code", out->ret_code, sizeof(out->ret_code));
    copy_field(&m, "ret_msg", out->ret_msg, sizeof(out->ret_msg));
    if (out->signed_ok)
        out->cls = classify_signed(call, &m, oid_partner, no_order, out);
    else
        snprintf(out->detail, sizeof(out->detail), "answer without a valid signature");
    msg_finish(&m);
}

void payout_mask_name(const char *name, size_t len, char out[PAYOUT_MASKED_NAME_LEN])
{
    size_t first = len > 0 ? 1 : 0;
    while (first < len && first < 4 && ((unsigned char)name[first] & 0xC0) == 0x80)
        first++;
    if (first == 0 || first == len) { /* one character: even it is not shown */
        snprintf(out, PAYOUT_MASKED_NAME_LEN, "*");
        return;
    }
    memcpy(out, name, first);
    out[first] = '*';
    out[first + 1] = '\0';
}

void payout_mask_card(const char *card_no, char out[PAYOUT_MASKED_CARD_LEN])
{
    size_t n = strlen(card_no);
    bool plain = true;
    for (size_t i = 0; plain && i < n; i++)
        plain = (card_no[i] >= '0' && card_no[i] <= '9') ||
                (card_no[i] >= 'A' && card_no[i] <= 'Z') ||
                (card_no[i] >= 'a' && card_no[i] <= 'z');
    /* At least 6 hidden: the head shrinks first (a 16-digit card keeps 6 + 4), then the tail. */
    size_t head = n > 10 ? (n - 10 < 6 ? n - 10 : 6) : 0;
    size_t tail = n > 6 + head ? (n - 6 - head < 4 ? n - 6 - head : 4) : 0;
    if (plain)
        snprintf(out, PAYOUT_MASKED_CARD_LEN, "%.*s******%s", (int)head, card_no,
                 card_no + n - tail);
    else
        snprintf(out, PAYOUT_MASKED_CARD_LEN, "******");
}

static bool present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Adds key=value when value is present; a required one must be. */
static int put(struct msg *m, const char *key, const char *value, bool required)
{
    if (!present(value))
        return required ? -1 : 0;
    return msg_set(m, key, value);
}

static int put_common_head(struct msg *m, const struct payout_options *opt)
{
    if (put(m, "oid_partner", opt->oid_partner, true) < 0 ||
        put(m, "platform", opt->platform, false) < 0 ||
        put(m, "api_version", present(opt->api_version) ? opt->api_version : "1.0", true) < 0)
        return -1;
    return 0;
}

/* Replaces card_no and acct_name (when m has them) with their masked forms. */
static int mask_personal(struct msg *m)
{
    char card[PAYOUT_MASKED_CARD_LEN], name[PAYOUT_MASKED_NAME_LEN];
    const char *v = msg_get(m, "card_no");

    if (v != NULL) {
        payout_mask_card(v, card);
        if (msg_set(m, "card_no", card) < 0)
            return -1;
    }
    v = msg_get(m, "acct_name");
    if (v != NULL) {
        payout_mask_name(v, strlen(v), name);
        if (msg_set(m, "acct_name", name) < 0)
            return -1;
    }
    return 0;
}

/* Signs m, encrypts it for lianlian_key and fills *out; masks m's personal data afterwards for
 * the journal copy. */
static int seal(struct msg *m, const struct payout_options *opt, EVP_PKEY *lianlian_key,
                struct payout_built *out, const char **why)
{
    struct msg outer = {0};
    char *payload = NULL;
    int rc = -1;

    *why = "cannot sign the request";
    if (sign_msg(m, opt->merchant_key) < 0 || (out->signed_json = msg_to_json(m)) == NULL)
        goto out;
    *why = "cannot encrypt the request (LianLian's key)";
    payload = payload_encrypt(lianlian_key, out->signed_json, strlen(out->signed_json));
    if (payload == NULL)
        goto out;
    *why = "out of memory";
    if (msg_set(&outer, "oid_partner", opt->oid_partner) < 0 ||
        msg_set(&outer, "pay_load", payload) < 0 || (out->body = msg_to_json(&outer)) == NULL)
        goto out;
    /* The journal keeps no signature: over the plain card and name it would let a reader of the
     * masked copy test guessed card numbers (10^6 candidates, fewer after Luhn) offline. */
    if (mask_personal(m) < 0 || msg_set(m, "sign", PAYOUT_JOURNAL_SIGN) < 0)
        goto out;
    if ((out->journal_json = msg_to_json(m)) == NULL)
        goto out;
    rc = 0;
out:
    free(payload);
    msg_finish(&outer);
    if (rc < 0)
        payout_built_finish(out);
    return rc;
}

/* A field of the payout itself, with what is wrong with it for *why (static: the sentences are
 * spelt out per field by FIELD). Returns 0, PAYOUT_BUILD_FIELD, or -1 when out of memory. */
static int put_field(struct msg *m, const char *key, const char *value, bool required,
                     const char *required_why, const char *utf8_why, const char **why)
{
    if (!present(value)) {
        if (!required)
            return 0;
        *why = required_why;
        return PAYOUT_BUILD_FIELD;
    }
    errno = 0;
    if (msg_set(m, key, value) == 0)
        return 0;
    if (errno != EINVAL) {
        *why = "out of memory";
        return -1;
    }
    *why = utf8_why;
    return PAYOUT_BUILD_FIELD;
}

#define FIELD(m, key, value, required, why)                                                        \
    put_field(m, key, value, required, key ": required", key ": not UTF-8 text", why)

int payout_build_apply(const struct payout_options *opt, const struct payout_request *r,
                       EVP_PKEY *lianlian_key, struct payout_built *out, const char **why)
{
    struct msg m = {0};
    int rc = -1;

    memset(out, 0, sizeof(*out));
    /* In the order LianLian's demo sends them; the configuration's first and last. */
    *why = "the configuration lacks oid_partner or notify_url";
    if (put_common_head(&m, opt) < 0 || !present(opt->notify_url))
        goto out;
    if ((rc = FIELD(&m, "no_order", r->no_order, true, why)) < 0 ||
        (rc = FIELD(&m, "dt_order", r->dt_order, true, why)) < 0 ||
        (rc = FIELD(&m, "money_order", r->money_order, true, why)) < 0 ||
        (rc = FIELD(&m, "card_no", r->card_no, true, why)) < 0 ||
        (rc = FIELD(&m, "acct_name", r->acct_name, true, why)) < 0 ||
        (rc = FIELD(&m, "bank_name", r->bank_name, false, why)) < 0 ||
        (rc = FIELD(&m, "info_order", r->info_order, false, why)) < 0 ||
        (rc = FIELD(&m, "flag_card", r->flag_card, true, why)) < 0)
        goto out;
    rc = -1;
    *why = "out of memory";
    if (put(&m, "notify_url", opt->notify_url, true) < 0)
        goto out;
    if ((rc = FIELD(&m, "memo", r->memo, false, why)) < 0 ||
        (rc = FIELD(&m, "prcptcd", r->prcptcd, false, why)) < 0 ||
        (rc = FIELD(&m, "bank_code", r->bank_code, false, why)) < 0 ||
        (rc = FIELD(&m, "city_code", r->city_code, false, why)) < 0 ||
        (rc = FIELD(&m, "brabank_name", r->brabank_name, false, why)) < 0)
        goto out;
    rc = seal(&m, opt, lianlian_key, out, why);
out:
    msg_finish(&m);
    return rc;
}

int payout_build_confirm(const struct payout_options *opt, const char *no_order,
                         const char *confirm_code, EVP_PKEY *lianlian_key, struct payout_built *out,
                         const char **why)
{
    struct msg m = {0};
    int rc = -1;

    memset(out, 0, sizeof(*out));
    *why = "a required field of the request is missing";
    if (put_common_head(&m, opt) < 0 || put(&m, "no_order", no_order, true) < 0 ||
        put(&m, "confirm_code", confirm_code, true) < 0 ||
        put(&m, "notify_url", opt->notify_url, true) < 0)
        goto out;
    rc = seal(&m, opt, lianlian_key, out, why);
out:
    msg_finish(&m);
    return rc;
}

void payout_built_finish(struct payout_built *b)
{
    free(b->signed_json);
    free(b->journal_json);
    free(b->body);
    memset(b, 0, sizeof(*b));
}

struct payout_client *payout_client_create(const struct payout_options *opt, char *err,
                                           size_t errlen)
{
    struct payout_client *pc = calloc(1, sizeof(*pc));
    if (pc == NULL || opt->payment_url == NULL || opt->confirm_url == NULL ||
        opt->oid_partner == NULL)
        goto fail;
    pc->http = httpclient_create(opt->ca_file,
                                 opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 5000,
                                 opt->timeout_ms > 0 ? opt->timeout_ms : 30000);
    pc->payment_url = strdup(opt->payment_url);
    pc->confirm_url = strdup(opt->confirm_url);
    if (pc->http == NULL || pc->payment_url == NULL || pc->confirm_url == NULL)
        goto fail;
    /* payment.htm and confirmPayment.htm go once or not at all (httpclient.h). */
    httpclient_fresh_connections(pc->http);
    snprintf(pc->oid_partner, sizeof(pc->oid_partner), "%s", opt->oid_partner);
    return pc;
fail:
    snprintf(err, errlen, "cannot set up the payout client (libcurl)");
    payout_client_destroy(pc);
    return NULL;
}

void payout_client_destroy(struct payout_client *pc)
{
    if (pc == NULL)
        return;
    httpclient_destroy(pc->http);
    free(pc->payment_url);
    free(pc->confirm_url);
    free(pc);
}

void payout_send(struct payout_client *pc, enum payout_call call, const struct payout_built *b,
                 struct keyring *keys, const char *no_order, struct payout_answer *out)
{
    struct httpclient_answer ha;
    const char *url = call == PAYOUT_APPLY ? pc->payment_url : pc->confirm_url;

    httpclient_post_json(pc->http, url, b->body, &ha);
    payout_classify_answer(call, ha.complete ? NULL : ha.error, ha.status, ha.body ? ha.body : "",
                           ha.len, keys, pc->oid_partner, no_order, out);
    out->body = ha.body;
    out->body_len = ha.len;
}

void payout_answer_finish(struct payout_answer *a)
{
    free(a->body);
    a->body = NULL;
    a->body_len = 0;
}

const char *payout_class_name(enum payout_class c)
{
    switch (c) {
    case PAYOUT_ACCEPTED:
        return "accepted";
    case PAYOUT_REVIEW:
        return "review";
    case PAYOUT_REFUSED_NOTHING_STORED:
        return "refused_nothing_stored";
    case PAYOUT_REFUSED_MAY_RESUBMIT:
        return "refused_may_resubmit";
    case PAYOUT_CLOSED:
        return "closed";
    case PAYOUT_UNKNOWN:
    case PAYOUT_CLASS_COUNT:
        break;
    }
    return "unknown";
}

const char *payout_class_state(enum payout_class c)
{
    if (c == PAYOUT_REFUSED_NOTHING_STORED || c == PAYOUT_REFUSED_MAY_RESUBMIT)
        return "refused";
    return payout_class_name(c);
}
