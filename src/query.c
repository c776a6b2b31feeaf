/*
 * queryPayment.htm over libcurl (protocol.md). What never happens here: a field of an answer is
 * used before its signature has verified; an 8901 becomes a failure; a network error, a timeout
 * or a 9999 is taken for an answer about the payout. The caller decides what an answer does to
 * the order; this file only says what the answer is.
 */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpclient.h"
#include "keyring.h"
#include "msg.h"
#include "sign.h"

struct query_client {
    struct httpclient *http;
    char *url;
    EVP_PKEY *merchant_key;
    char oid_partner[19];
};

struct query_client *query_client_create(const struct query_options *opt, char *err, size_t errlen)
{
    struct query_client *qc = calloc(1, sizeof(*qc));
    if (qc == NULL || opt->merchant_key == NULL || opt->url == NULL)
        goto fail;
    qc->http = httpclient_create(opt->ca_file,
                                 opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 5000,
                                 opt->timeout_ms > 0 ? opt->timeout_ms : 15000);
    qc->url = strdup(opt->url);
    if (qc->http == NULL || qc->url == NULL)
        goto fail;
    qc->merchant_key = opt->merchant_key;
    snprintf(qc->oid_partner, sizeof(qc->oid_partner), "%s", opt->oid_partner);
    return qc;
fail:
    snprintf(err, errlen, "cannot set up the query client (libcurl)");
    query_client_destroy(qc);
    return NULL;
}

void query_client_destroy(struct query_client *qc)
{
    if (qc == NULL)
        return;
    httpclient_destroy(qc->http);
    free(qc->url);
    free(qc);
}

/* The signed request body, or NULL. */
static char *build_request(struct query_client *qc, const char *no_order)
{
    struct msg m = {0};
    char *json = NULL;
    if (msg_set(&m, "oid_partner", qc->oid_partner) < 0 || msg_set(&m, "api_version", "1.0") < 0 ||
        msg_set(&m, "no_order", no_order) < 0 || sign_msg(&m, qc->merchant_key) < 0)
        goto out;
    json = msg_to_json(&m);
out:
    msg_finish(&m);
    return json;
}

static void copy_field(const struct msg *m, const char *key, char *dst, size_t len)
{
    const char *v = msg_get(m, key);
    snprintf(dst, len, "%s", v ? v : "");
}

/* Classifies a parsed answer. Nothing of it is trusted before keyring_verify. */
static void classify(const char *oid_partner, struct keyring *keys, const char *no_order,
                     const struct msg *m, struct query_answer *out)
{
    const char *why = NULL;

    out->signed_ok = keyring_verify(keys, m) >= 0;
    copy_field(m, "ret_code", out->ret_code, sizeof(out->ret_code));
    copy_field(m, "ret_msg", out->ret_msg, sizeof(out->ret_msg));

    /* 8901 comes unsigned from LianLian: whether signed or not, it only means "keep asking". */
    if (strcmp(out->ret_code, "8901") == 0) {
        out->status = QUERY_NO_RECORD;
        snprintf(out->detail, sizeof(out->detail), "8901: LianLian has no record (%s)",
                 out->signed_ok ? "signed" : "unsigned");
        return;
    }
    if (!out->signed_ok) {
        out->status = QUERY_UNSIGNED;
        snprintf(out->detail, sizeof(out->detail), "answer without a valid signature");
        return;
    }
    if (strcmp(out->ret_code, "0000") != 0) {
        out->status = QUERY_REFUSED;
        snprintf(out->detail, sizeof(out->detail), "LianLian answered %s", out->ret_code);
        return;
    }
    if (payresult_from_msg(m, PAYRESULT_QUERY, oid_partner, &out->result, &why) !=
        PAYRESULT_ACCEPTED) {
        out->status = QUERY_INVALID;
        snprintf(out->detail, sizeof(out->detail), "%s", why);
        return;
    }
    /* A genuine answer about another order (replayed or misrouted) says nothing about ours. */
    if (strcmp(out->result.no_order, no_order) != 0) {
        out->status = QUERY_INVALID;
        snprintf(out->detail, sizeof(out->detail), "answer is about another order");
        return;
    }
    out->status = QUERY_RESULT;
}

void query_classify_answer(const char *oid_partner, struct keyring *keys, const char *no_order,
                           const char *body, size_t len, struct query_answer *out)
{
    struct msg m = {0};
    const char *why = NULL;

    if (msg_parse(body, len, &m, &why) < 0) {
        out->status = QUERY_TRANSPORT;
        snprintf(out->detail, sizeof(out->detail), "answer is not a usable message: %s", why);
        return;
    }
    classify(oid_partner, keys, no_order, &m, out);
    msg_finish(&m);
}

int query_payment(struct query_client *qc, struct keyring *keys, const char *no_order,
                  struct query_answer *out)
{
    struct httpclient_answer ha;

    memset(out, 0, sizeof(*out));
    out->status = QUERY_TRANSPORT;
    char *req = build_request(qc, no_order);
    if (req == NULL) {
        snprintf(out->detail, sizeof(out->detail), "cannot sign the request");
        return -1;
    }
    if (httpclient_post_json(qc->http, qc->url, req, &ha) == 0)
        query_classify_answer(qc->oid_partner, keys, no_order, ha.body ? ha.body : "", ha.len, out);
    else
        snprintf(out->detail, sizeof(out->detail), "%s", ha.error);
    out->http_status = ha.status;
    out->body = ha.body;
    out->body_len = ha.len;
    free(req);
    return 0;
}

void query_answer_finish(struct query_answer *a)
{
    free(a->body);
    a->body = NULL;
}

const char *query_status_name(enum query_status s)
{
    switch (s) {
    case QUERY_RESULT:
        return "result";
    case QUERY_NO_RECORD:
        return "no_record";
    case QUERY_REFUSED:
        return "refused";
    case QUERY_UNSIGNED:
        return "unsigned";
    case QUERY_INVALID:
        return "invalid";
    case QUERY_TRANSPORT:
        return "transport_error";
    case QUERY_STATUS_COUNT:
        break;
    }
    return "unknown";
}
