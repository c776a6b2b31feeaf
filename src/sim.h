#ifndef LIANPAY_SIM_H
#define LIANPAY_SIM_H

#include <stdint.h>
#include <openssl/evp.h>

/*
 * lianpay-sim's two roles (design.md): LianLian sending notifications, and LianLian answering
 * queryPayment.htm. Both sign with the project's own signing code.
 */

struct sim_notify_options {
    const char *url;
    EVP_PKEY *key;       /* LianLian's private key (the simulated one) */
    const char *message; /* JSON object to sign and send */
    int count;           /* sends at most (LianLian: 6) */
    int64_t interval_ms; /* between sends, already divided by the time scale */
    long timeout_ms;     /* per send (LianLian: 5 s) */
    int quiet;
};

/* Signs the message and POSTs it until the answer's ret_code is 0000 or count sends are done.
 * Prints one line per send on stdout. Returns 0 when acknowledged, 1 when never, 2 on error. */
int sim_notify(const struct sim_notify_options *opt);

struct sim_serve_options {
    const char *listen;        /* host:port; port 0 picks a free one */
    EVP_PKEY *key;             /* LianLian's private key: answers are signed with it */
    EVP_PKEY *merchant_public; /* requests must verify with it, else 1001 */
    const char *oid_partner;
    const char *script;         /* JSON file of per-order answers, re-read when it changes */
    double time_scale;          /* LianLian's minutes pass this many times faster (0: 1) */
    int64_t confirm_ttl_ms;     /* validity of a confirm_code (0: 30 min, time-scaled) */
    int notify_count;           /* notification sends at most (0: 6) */
    int64_t notify_interval_ms; /* between them (0: 6 min, time-scaled) */
    const char *record;         /* file: one JSON line per decrypted request; NULL: none */
};

/* Serves payment.htm, confirmPayment.htm and queryPayment.htm until SIGTERM/SIGINT. Logs
 * "event=ready listen=HOST:PORT" when bound and one line per request. Returns the exit status. */
int sim_serve(const struct sim_serve_options *opt);

#endif
