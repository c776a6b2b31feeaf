#ifndef LIANPAY_SIM_PAYOUT_H
#define LIANPAY_SIM_PAYOUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <openssl/evp.h>

struct msg;
struct cJSON;

/*
 * lianpay-sim's LianLian side of payment.htm and confirmPayment.htm (sim.c serves them): the
 * payouts the simulated LianLian knows, what it answers about them, and the notifications it
 * sends once they have a result. Thread-safe: libmicrohttpd calls in from several threads.
 */

struct sim_payout_options {
    EVP_PKEY *key;             /* LianLian's private key: decrypts pay_load, signs answers */
    EVP_PKEY *merchant_public; /* the inner request must verify with it, else 1001 */
    const char *oid_partner;
    int64_t confirm_ttl_ms;     /* how long a confirm_code is valid (LianLian: 30 min) */
    int notify_count;           /* sends of a notification at most (LianLian: 6) */
    int64_t notify_interval_ms; /* between them (LianLian: 6 min), already time-scaled */
    FILE *record;               /* one JSON line per decrypted request; NULL: none */
};

enum sim_payout_call {
    SIM_PAYOUT_APPLY,
    SIM_PAYOUT_CONFIRM,
};

/* What to send back: after delay_ms, json with HTTP status, or nothing at all (no_answer). */
struct sim_payout_reply {
    unsigned status;
    char *json; /* malloc'd; NULL with no_answer */
    int64_t delay_ms;
    bool no_answer;
    int64_t hold_ms; /* with no_answer: how long to keep the connection before closing it */
};

struct sim_payouts;

/* NULL on ENOMEM. The options' strings and keys are borrowed for the object's life. */
struct sim_payouts *sim_payouts_create(const struct sim_payout_options *o);
/* Notification threads still running are not waited for: they hold copies of what they send
 * and a reference on the key, and end with the process. */
void sim_payouts_destroy(struct sim_payouts *p);

/*
 * Answers one request body (len bytes) of call. script is the whole script object (or NULL):
 * an order's entry {"apply":[…],"confirm":[…],"result":{…}} scripts its answers (sim.c's top
 * comment). Fills *out (free out->json).
 */
void sim_payout_handle(struct sim_payouts *p, enum sim_payout_call call, const char *body,
                       size_t len, const struct cJSON *script, struct sim_payout_reply *out);

/*
 * What LianLian knows for a query of no_order (or, when no_order is NULL, of oid_paybill): when
 * the payout was created, sets the fields of a 0000 answer in *answer (result_pay PROCESSING until
 * its result is due) and the order's number in no_order_out, and returns 1; returns 0 when no
 * payout was created under that name.
 */
int sim_payout_query(struct sim_payouts *p, const char *no_order, const char *oid_paybill,
                     struct msg *answer, char *no_order_out, size_t len);

/* Replaces m's "sign" with one of the right form that verifies nothing (scripts' bad
 * signatures). */
void sim_spoil_signature(struct msg *m);
/* The string member key of a script step, or dflt. */
const char *sim_step_str(const struct cJSON *step, const char *key, const char *dflt);

#endif
