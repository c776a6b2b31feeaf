#ifndef LIANPAY_PAYRESULT_H
#define LIANPAY_PAYRESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "state.h"

struct msg;

/* Where a result came from: payments.source and payment_events.source. */
enum payresult_source {
    PAYRESULT_NOTIFY,
    PAYRESULT_QUERY,
};

/* Bytes of payresult.signed_sha256. */
#define PAYRESULT_DIGEST_LEN 32

/*
 * A payout result that has been authenticated and validated, from a notification or from a
 * queryPayment answer. Everything here is safe to store: formats were checked field by field.
 * Optional fields are "" when absent.
 */
struct payresult {
    char oid_partner[19]; /* 18 digits */
    char no_order[33];    /* 1..32 printable ASCII */
    char dt_order[15];    /* 14 digits, YYYYMMDDHHMMSS */
    char money_order[24]; /* exactly as LianLian wrote it */
    int64_t amount_fen;   /* > 0 */
    char oid_paybill[33]; /* digits, <= 18 in practice */
    enum result_pay result_pay;
    char settle_date[9];   /* 8 digits or "" */
    char info_order[1024]; /* <= 255 characters of UTF-8, or "" */
    char memo[1024];       /* a query answer's failure reason (signed): <= 255 characters of
                            * UTF-8, or "" */
    /* SHA-256 of what LianLian signed: the string to sign, a NUL, the signature. Two bodies with
     * the same digest are one message however their unsigned parts differ (white space, member
     * order, escapes, a number written as a string, "" or null members): the journal's key. */
    unsigned char signed_sha256[PAYRESULT_DIGEST_LEN];
};

/* What payresult_from_msg made of a message. */
enum payresult_refusal {
    PAYRESULT_ACCEPTED = 0,
    PAYRESULT_INVALID_FIELD, /* a field is missing or invalid */
    PAYRESULT_WRONG_PARTNER, /* it names a merchant other than ours, whatever else is wrong */
};

/*
 * Validates every known field of an authentic message (protocol.md) and fills *out.
 * For PAYRESULT_NOTIFY: sign_type must be "RSA", result_pay SUCCESS/FAILURE/CANCEL.
 * For PAYRESULT_QUERY: the message is a queryPayment answer with ret_code "0000"; result_pay may
 * also be APPLY/CHECK/WAITING/PROCESSING/CLOSED.
 * oid_partner must equal ours. Returns PAYRESULT_ACCEPTED, or why it refused with *why set to a
 * static, loggable reason (out is then untouched).
 */
enum payresult_refusal payresult_from_msg(const struct msg *m, enum payresult_source source,
                                          const char *oid_partner, struct payresult *out,
                                          const char **why);

/* The same when the caller has m's string to sign already (text, len: what sign_string returned
 * for m; the signature check needs it too), so that it is built once per message. */
enum payresult_refusal payresult_from_signed(const struct msg *m, const char *text, size_t len,
                                             enum payresult_source source, const char *oid_partner,
                                             struct payresult *out, const char **why);

const char *payresult_source_name(enum payresult_source s);

/*
 * The formats of protocol.md's fields, one definition each. payresult_from_msg checks every
 * notification and query answer with them, config_load the merchant's own number, store_register
 * every registration (lianpayctl register), store_due every order before the reconciler queries it.
 * sql/0003 writes the same formats as CHECK constraints for plain SQL; test_store checks that both
 * accept the same values.
 */
/* oid_partner: a merchant number, 18 digits (also the configuration's lianlian.oid_partner). */
bool payresult_valid_oid_partner(const char *s);
/* no_order: 1 to 32 printable ASCII characters, none of space, &, = or ". */
bool payresult_valid_no_order(const char *s);
/* dt_order: YYYYMMDDHHMMSS, month 01-12, day 01-31, hour 00-23, minutes and seconds 00-59. */
bool payresult_valid_dt_order(const char *s);
/* money_order: yuan above zero as money_parse_fen reads them. Returns 0 with *fen set, or -1. */
int payresult_money_fen(const char *s, int64_t *fen);

#endif
