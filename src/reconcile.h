#ifndef LIANPAY_RECONCILE_H
#define LIANPAY_RECONCILE_H

#include <stddef.h>
#include <stdint.h>
#include "attempt.h"
#include "query.h"

struct keyring;
struct writer;

/*
 * The reconcile thread (design.md): finds registered orders whose result has not arrived within
 * the notification window, asks queryPayment about them at most max_rate times a second, and hands
 * what LianLian answers (verified) to the writer like a notification.
 */
struct reconciler;

/* What the reconciler is told ([reconcile], [lianlian], database.path; service.c fills it in from
 * the configuration). The strings and the key are borrowed. */
struct reconcile_options {
    const char *database_path; /* read for the orders due */
    struct query_options query;
    struct attempt_policy policy; /* when to ask again, when to give up */
    int max_rate;                 /* queries per second, >= 1 */
    int64_t no_record_after;      /* submit.no_record_after (seconds): an unknown payout still
                                   * 8901 this long after it was sent asks a person */
};

/* Starts the thread. cfg, keys and w must outlive it. Returns NULL with a reason in err. */
struct reconciler *reconcile_start(const struct reconcile_options *cfg, struct keyring *keys,
                                   struct writer *w, char *err, size_t errlen);

/* Monotonic ms of the loop's last turn (for readiness and the watchdog). */
int64_t reconcile_heartbeat(struct reconciler *r);
/* A heartbeat older than this (ms) means the thread is stuck: a turn is at most one query
 * (lianlian.query_timeout), the writer's answer and a database read, each bounded. */
int64_t reconcile_stall_ms(const struct reconcile_options *cfg);

#define RECONCILE_ANSWER_KINDS QUERY_STATUS_COUNT

struct reconcile_stats {
    uint64_t queries;   /* attempts */
    uint64_t results;   /* verified answers that were recorded */
    uint64_t no_record; /* 8901 */
    uint64_t errors;    /* transport, unsigned, invalid, refused */
    uint64_t gave_up;
    /* Unix ms of the last query whose signed answer (a result or 8901) was stored; 0: none
     * since start. */
    int64_t last_answer_ms;
    /* attempts by enum query_status (query_status_name() gives the label) */
    uint64_t by_answer[RECONCILE_ANSWER_KINDS];
};
void reconcile_get_stats(struct reconciler *r, struct reconcile_stats *out);

/* Stops the thread (an ongoing query finishes or times out first). */
void reconcile_stop(struct reconciler *r);

#endif
