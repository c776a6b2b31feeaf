#ifndef LIANPAY_SUBMIT_H
#define LIANPAY_SUBMIT_H

#include <stdint.h>

#include "payout.h"

struct keyring;
struct writer;

/*
 * The submit thread (design.md, "Payout submission"): sends each queued payout to LianLian's
 * payment.htm at most once, at most max_rate requests a second. Write-ahead: the payout's
 * "sending" is committed through the writer before a byte leaves, and at start-up, before
 * anything is sent, every payout left in sending or confirming becomes unknown (queried, never
 * sent again). Review payouts whose confirm code lapsed are closed.
 */
struct submitter;

/* What the thread is told ([submit], [lianlian], [reconcile] notify_window; service.c fills it
 * in). Strings and keys are borrowed. */
struct submit_options {
    const char *database_path; /* its own read connection */
    struct payout_options payout;
    int max_rate;                /* requests per second, >= 1 */
    int64_t notify_window_s;     /* accepted: first query at sent_at + this */
    int64_t unknown_query_after; /* unknown: first query at answered_at + this (seconds) */
};

/* Start-up recovery, once, before any request can leave, whatever [submit] says (a daemon
 * killed while sending and restarted with submit off must not leave the payout "sending" for
 * ever): every payout in sending or confirming becomes unknown, queried unknown_query_after
 * from now, one log line per payout. Returns 0, or -1 (logged) when the writer did not commit
 * it; the submit thread then does it again before it sends anything. */
int submit_recover(const struct submit_options *opt, struct writer *w);

/* Starts the thread. opt, keys and w must outlive it. Returns NULL with a reason in err. */
struct submitter *submit_start(const struct submit_options *opt, struct keyring *keys,
                               struct writer *w, char *err, size_t errlen);

/* Monotonic ms of the loop's last turn (for readiness and the watchdog). */
int64_t submit_heartbeat(struct submitter *s);

/* A heartbeat older than this (ms) means the thread is stuck: a turn is at most one request
 * (submit.timeout), the writer's answers and a database read, each bounded. */
int64_t submit_stall_ms(const struct submit_options *opt);

struct submit_stats {
    uint64_t attempts;                     /* requests sent */
    uint64_t by_class[PAYOUT_CLASS_COUNT]; /* their answers, by enum payout_class */
    uint64_t refused_before_sending;       /* payout_check's refusals */
    uint64_t recovered;                    /* sending/confirming made unknown at start-up */
    uint64_t expired;                      /* review closed when the confirm code lapsed */
};
void submit_get_stats(struct submitter *s, struct submit_stats *out);

/* Stops the thread (a request under way finishes or times out first, and its answer is
 * recorded). NULL is ignored. */
void submit_stop(struct submitter *s);

#endif
