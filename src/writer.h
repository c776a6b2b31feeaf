#ifndef LIANPAY_WRITER_H
#define LIANPAY_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store.h"
#include "store_decision.h"
#include "store_submit.h"

struct metrics_histogram;

/*
 * The writer thread: the owner of the daemon's only writable database connection. Jobs are
 * queued from any thread and never wait for the disk there; the writer commits everything queued
 * in one transaction (group commit), a second thread fdatasyncs the WAL, and only then is each
 * job's done() called with the result (writer.c, DESIGN).
 */
struct writer;

enum writer_kind {
    WRITER_APPLY,            /* a notification: store_apply(in.apply) */
    WRITER_QUERY_OUTCOME,    /* a query attempt's outcome: store_query_outcome(in.query) */
    WRITER_SCHEDULE_NEW,     /* store_schedule_new(notify_window) */
    WRITER_FLAG_UNQUERYABLE, /* store_flag_unqueryable(in.now_ms, STORE_DUE_BATCH) */
    /* The submit thread (store_submit.h), each on in.payout: */
    WRITER_PAYOUT_REFUSE,     /* store_submit_refuse */
    WRITER_PAYOUT_SENDING,    /* store_submit_sending */
    WRITER_PAYOUT_ANSWER,     /* store_submit_answer */
    WRITER_PAYOUT_RECOVER,    /* store_submit_recover */
    WRITER_PAYOUT_EXPIRE,     /* store_submit_expire */
    WRITER_PAYOUT_CONFIRMING, /* store_submit_confirming */
    WRITER_DECISIONS_LOGGED,  /* store_decisions_mark(in.decisions): decision_log.c */
};

/*
 * One job: its kind and, in the union, the input of the store function that kind runs, handed
 * to it as it is. The job and whatever its input points to belong to the caller and must stay
 * valid until done(); the caller embeds the job (an HTTP request, the reconciler's stack), so
 * that queueing a message allocates nothing.
 */
struct writer_job {
    enum writer_kind kind;
    union {
        struct store_input apply;
        struct store_query_outcome query;
        int64_t now_ms;
        struct store_submit_step *payout;
        struct store_decisions_logged *decisions;
    } in;

    /* Filled by the writer before done(): 0 when committed, -1 when nothing was written; what
     * store_apply did (WRITER_APPLY, WRITER_QUERY_OUTCOME), zeroed for the other kinds. */
    int status;
    struct store_applied applied;

    /* Called on the writer's thread or its sync thread once the job's transaction has ended and,
     * when it committed, once the commit is on the disk; exactly once for every job
     * writer_submit took; the job belongs to the caller again from then on. */
    void (*done)(struct writer_job *job);
    void *ctx;

    struct writer_job *next; /* queue link, the writer's */
};

/* Takes ownership of st (the writable store; its connection is switched to synchronous=NORMAL,
 * store_defer_sync) and starts the threads. Returns NULL on failure, with a reason in err; st is
 * then still the caller's. */
struct writer *writer_create(struct store *st, int64_t notify_window_s, char *err, size_t errlen);

/* Queues a job; never blocks on the disk. After writer_stop() began, the job is refused:
 * returns -1 and done() is not called. */
int writer_submit(struct writer *w, struct writer_job *job);

/* Monotonic time (ms) of the older of the writer loop's and the sync loop's last turns, for the
 * watchdog and readiness. Each turns at least once a second when idle and after every
 * transaction attempt or fdatasync, so an age of several seconds means one of them is stuck (in
 * the kernel, on a dead disk). */
int64_t writer_heartbeat(struct writer *w);
#define WRITER_STALL_MS 10000 /* a heartbeat older than this: the writer is stuck */

/*
 * Whether the database is writable: false from a failed transaction on, true again only once a
 * transaction that wrote something has committed (a batch, or the writer's own probe write every
 * few seconds during a fault). While writable and idle, the writer checks every few seconds that
 * it can still take the write lock (an empty BEGIN IMMEDIATE), so this also notices another
 * process holding the database locked. Returns true when writable; otherwise false with the
 * reason of the last failure ("busy: database is locked") in why.
 */
bool writer_writable(struct writer *w, char *why, size_t len);

/* Statistics since start (for logs and metrics). */
struct writer_stats {
    uint64_t batches;
    uint64_t jobs;
    uint64_t failed_batches;
    uint64_t max_batch;
    /* Failed transactions, probe writes and lock checks, by enum store_err. */
    uint64_t storage_errors[STORE_ERR_COUNT];
};
void writer_get_stats(struct writer *w, struct writer_stats *out);

/* Jobs per transaction, and seconds from BEGIN to the end of COMMIT of committed transactions.
 * Valid as long as the writer. */
const struct metrics_histogram *writer_batch_sizes(struct writer *w);
const struct metrics_histogram *writer_commit_seconds(struct writer *w);

/* Commits, syncs and answers everything queued, refuses later jobs (writer_submit returns -1),
 * stops the thread and closes the store; when it held the last connection to the file, SQLite
 * checkpoints the WAL into the database and removes it. Idempotent. */
void writer_stop(struct writer *w);

/* writer_stop(), then frees the writer. */
void writer_destroy(struct writer *w);

#endif
