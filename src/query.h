#ifndef LIANPAY_QUERY_H
#define LIANPAY_QUERY_H

#include <stddef.h>
#include <openssl/evp.h>
#include "payresult.h"

struct keyring;

/*
 * The queryPayment.htm client (protocol.md): a signed JSON request with the merchant key, an
 * answer whose signature is checked with LianLian's keys before any field of it is believed.
 * One client per thread (it keeps its connection to LianLian open between queries).
 */
struct query_client;

struct query_options {
    const char *url;
    const char *ca_file;    /* NULL: the system store */
    EVP_PKEY *merchant_key; /* borrowed */
    const char *oid_partner;
    long connect_timeout_ms;
    long timeout_ms;
};

/* Returns NULL with a reason in err. */
struct query_client *query_client_create(const struct query_options *opt, char *err, size_t errlen);
void query_client_destroy(struct query_client *qc);

/* What one query taught us. Only QUERY_RESULT may change an order. */
enum query_status {
    QUERY_RESULT,    /* signed, ret_code 0000, every field valid: answer.result is usable */
    QUERY_NO_RECORD, /* 8901 "no record" (signed or not): the payout may still exist */
    QUERY_REFUSED,   /* a signed error answer other than 8901 (e.g. 9999, 1001) */
    QUERY_UNSIGNED,  /* an answer without a valid signature (other than 8901) */
    QUERY_INVALID,   /* signed 0000 but a field is invalid or it is about another order */
    QUERY_TRANSPORT, /* no answer: network error, timeout, HTTP status, not JSON */
    QUERY_STATUS_COUNT
};

struct query_answer {
    enum query_status status;
    struct payresult result; /* QUERY_RESULT only */
    char ret_code[16];       /* as answered, "" when none */
    char ret_msg[256];
    int signed_ok; /* the answer's signature verified */
    long http_status;
    char detail[256]; /* a short reason for logs and review reasons */
    char *body;       /* the answer as received (malloc'd; free with query_answer_finish) */
    size_t body_len;
};

/* Queries one order. Always fills *out (status says what it is); returns 0, or -1 when the request
 * could not even be built (out->detail says why). */
int query_payment(struct query_client *qc, struct keyring *keys, const char *no_order,
                  struct query_answer *out);
void query_answer_finish(struct query_answer *a);

/* What query_payment does with an answer's body (len bytes): parse, verify with keys, validate
 * as the answer about no_order. Fills status, result, ret_code, ret_msg, signed_ok and detail of
 * *out; leaves http_status and body alone. Exposed for the fuzzer. */
void query_classify_answer(const char *oid_partner, struct keyring *keys, const char *no_order,
                           const char *body, size_t len, struct query_answer *out);

const char *query_status_name(enum query_status s);

#endif
