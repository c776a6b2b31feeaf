/*
 * DESIGN
 *
 * lianpayctl records each person's decision (cancel, confirm, decline, resubmit, review
 * resolve) in payout_decisions in the decision's own transaction; the daemon is where operators
 * watch, so it logs each one: event=decision with who, what, from which state to which.
 *
 * The main thread calls decision_log_poll from its supervision loop, which turns at least once a
 * second whatever is configured (decisions on review_queue are made with [submit] off, and
 * notifications flag orders for review with [reconcile] off). A poll reads up to BATCH rows
 * whose logged_at is NULL on this module's read connection (a partial index: the read costs
 * nothing when there are none), logs each, then queues one writer job that sets their
 * logged_at; it does not wait for it. Until that job's done() has run, polls read nothing, so a
 * row is never logged twice by one process. When the mark fails (a storage fault), the same ids
 * are handed to the writer again at the next poll without being logged again.
 *
 * Logged first, marked after: a crash (or kill -9) between the line and the commit of its mark
 * logs that decision once more at the next start, never zero times. A decision made while the
 * daemon was stopped is logged at its start.
 *
 * Threads: poll and stop on the main thread; done() on a writer thread (its sync thread) touches
 * only the atomics.
 */
#include "decision_log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "store.h"
#include "store_decision.h"
#include "timeutil.h"
#include "writer.h"

#define BATCH            64
#define POLL_MS          1000
#define STORAGE_PAUSE_MS 5000

enum mark_state {
    MARK_IDLE,   /* nothing handed to the writer */
    MARK_QUEUED, /* the job is the writer's */
    MARK_FAILED, /* its transaction failed: hand the same ids again */
};

struct decision_log {
    struct store *store; /* read-only */
    struct writer *writer;
    int64_t next_poll; /* monotonic ms */

    int64_t ids[BATCH];
    char now_iso[TIME_ISO_LEN];
    struct store_decisions_logged mark;
    struct writer_job job;
    atomic_int state; /* enum mark_state */
};

static void marked(struct writer_job *job)
{
    struct decision_log *d = job->ctx;
    atomic_store(&d->state, job->status == 0 ? MARK_IDLE : MARK_FAILED);
}

/* One line per decision. Everything but id came from the table, which anyone with write access
 * to the file could fill: each value is an outsider's (log_outside), none longer than that. */
static void log_decision(void *ctx, int64_t id, const struct store_decision *row)
{
    struct decision_log *d = ctx;

    log_kv(LOG_LEVEL_INFO, "decision", "no_order", log_outside(row->no_order), "decision",
           log_outside(row->decision), "by", log_outside(row->by.user), "sudo_user",
           log_outside(row->by.sudo_user), "from", log_outside(row->from_state), "to",
           log_outside(row->to_state), "reason", log_outside(row->reason), "note",
           log_outside(row->note), "decided_at", row->decided_at, "id", log_int((long long)id),
           NULL);
    if (d->mark.n < BATCH)
        d->ids[d->mark.n++] = id;
}

static void hand_to_writer(struct decision_log *d)
{
    time_iso(time_now_ms(), d->now_iso);
    d->mark.ids = d->ids;
    d->mark.now_iso = d->now_iso;
    d->job = (struct writer_job){
        .kind = WRITER_DECISIONS_LOGGED, .in.decisions = &d->mark, .done = marked, .ctx = d};
    atomic_store(&d->state, MARK_QUEUED);
    if (writer_submit(d->writer, &d->job) < 0)
        atomic_store(&d->state, MARK_FAILED); /* stopping: logged again at the next start */
}

void decision_log_poll(struct decision_log *d)
{
    int64_t now = time_mono_ms();

    if (d == NULL || d->store == NULL || now < d->next_poll)
        return;
    d->next_poll = now + POLL_MS;
    switch (atomic_load(&d->state)) {
    case MARK_QUEUED:
        return;
    case MARK_FAILED:
        hand_to_writer(d);
        return;
    default:
        break;
    }
    d->mark.n = 0;
    int n = store_decisions_unlogged(d->store, BATCH, log_decision, d);
    if (n < 0) {
        log_kv(LOG_LEVEL_ERROR, "storage_error", "op", "select_decisions", "kind",
               store_errkind(d->store), "error", store_errmsg(d->store), NULL);
        d->next_poll = now + STORAGE_PAUSE_MS;
    }
    if (d->mark.n > 0)
        hand_to_writer(d);
    if (n == BATCH)
        d->next_poll = now; /* more may wait: once this mark is done */
}

struct decision_log *decision_log_create(const char *database_path, struct writer *w, char *err,
                                         size_t errlen)
{
    struct decision_log *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->writer = w;
    d->store = store_open(database_path, STORE_READ, err, errlen);
    if (d->store == NULL) {
        free(d);
        return NULL;
    }
    atomic_init(&d->state, MARK_IDLE);
    d->next_poll = time_mono_ms();
    return d;
}

void decision_log_stop(struct decision_log *d)
{
    if (d == NULL)
        return;
    store_close(d->store);
    d->store = NULL;
}

void decision_log_destroy(struct decision_log *d)
{
    if (d == NULL)
        return;
    decision_log_stop(d);
    free(d);
}
