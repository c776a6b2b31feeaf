/*
 * DESIGN
 *
 * The writer thread is the only code in the daemon that writes to SQLite. HTTP threads and the
 * reconciler hand it jobs through a mutex-protected queue and go on (an HTTP connection is
 * suspended meanwhile); the writer takes everything queued at once, runs it in one
 * BEGIN IMMEDIATE ... COMMIT with synchronous=FULL, and only after COMMIT has returned calls each
 * job's done(). One fsync thus covers a whole batch: under load batches grow by themselves and
 * the cost of durability is shared (group commit).
 *
 * When a batch fails, it is rolled back and, if it held more than one job, each job is retried
 * alone: a job that fails for a reason of its own (a constraint) must not take the messages it
 * happened to be batched with down with it again and again. A storage fault (disk full, lock,
 * read-only, I/O) is not retried: it would fail every retry too. Every job of the batch gets
 * status -1: nothing was written, the caller answers "try again".
 *
 * Health: the loop stamps `heartbeat` on every turn (at least once a second, and after every
 * transaction attempt), which the watchdog and /readyz read. `writable` is false from a failed
 * transaction on, and only a transaction that committed a write makes it true again: taking the
 * write lock, or committing a transaction that changed nothing, touches neither the WAL nor the
 * disk, and a database made immutable lets both succeed (before, /readyz turned green again five
 * seconds into such a fault while every notification still failed). When nothing was written for
 * PROBE_IDLE_MS, the loop checks by itself: while writable, that it can still take the write lock
 * (an empty BEGIN IMMEDIATE: another process may hold it); during a fault, with a real write that
 * must commit (store_probe_write), so that the fault ends without traffic once the disk is back.
 *
 * Locks: `lock` guards the queue, the flags and last_error; the store is touched only by the
 * thread.
 */
#include "writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

/* How long the writer may stay without a transaction before it checks the write lock itself. */
#define PROBE_IDLE_MS 5000

/*
 * Transactions start at most this often. Group commit alone sizes a batch by how long the last
 * commit took; between light and full load that means one to three messages per commit and
 * thousands of fsyncs a second, each writing several WAL pages whatever the batch size, and the
 * disk's stalls under that become the latency tail (bench/: at 6000/s, p99 16 ms without, 5 to
 * 8 ms with). An idle writer (last commit long ago) never waits, nor does a saturated one
 * (commits take longer than this).
 */
#define COMMIT_INTERVAL_NS 1000000L

struct writer {
    struct store *store;
    int64_t notify_window;

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct writer_job *head, *tail;
    bool stopping;
    bool stopped; /* writer_stop() has joined the thread */

    atomic_llong heartbeat;
    atomic_ullong batches, jobs, failed_batches, max_batch;
    atomic_ullong storage_errors[STORE_ERR_COUNT]; /* failed transactions and checks, by kind */
    struct metrics_histogram batch_sizes, commit_seconds;

    int64_t last_attempt; /* monotonic ms of the last transaction attempt (thread only) */
    atomic_bool writable; /* the last attempt committed (or the idle check took the lock) */
    char last_error[160]; /* why not, under lock */
};

static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
static const double commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* Runs one job inside the current transaction. Returns 0, or -1 on an SQL error. */
static int run_job(struct writer *w, struct writer_job *job)
{
    switch (job->kind) {
    case WRITER_APPLY:
        return store_apply(w->store, &job->in.apply, &job->applied);
    case WRITER_QUERY_OUTCOME:
        return store_query_outcome(w->store, &job->in.query, &job->applied);
    case WRITER_SCHEDULE_NEW:
        return store_schedule_new(w->store, w->notify_window) < 0 ? -1 : 0;
    case WRITER_FLAG_UNQUERYABLE:
        return store_flag_unqueryable(w->store, job->in.now_ms, STORE_DUE_BATCH) < 0 ? -1 : 0;
    case WRITER_PAYOUT_REFUSE:
        return store_submit_refuse(w->store, job->in.payout);
    case WRITER_PAYOUT_SENDING:
        return store_submit_sending(w->store, job->in.payout);
    case WRITER_PAYOUT_ANSWER:
        return store_submit_answer(w->store, job->in.payout);
    case WRITER_PAYOUT_RECOVER:
        return store_submit_recover(w->store, job->in.payout);
    case WRITER_PAYOUT_EXPIRE:
        return store_submit_expire(w->store, job->in.payout);
    case WRITER_PAYOUT_CONFIRMING:
        return store_submit_confirming(w->store, job->in.payout);
    case WRITER_DECISIONS_LOGGED:
        return store_decisions_mark(w->store, job->in.decisions);
    }
    return -1;
}

/* Records the outcome of a transaction attempt for writer_writable() and the heartbeat: a
 * failure starts a fault (or goes on with it), only a committed write (wrote) ends it. */
static void note_attempt(struct writer *w, bool ok, bool wrote)
{
    int64_t now = time_mono_ms();
    w->last_attempt = now;
    atomic_store(&w->heartbeat, now);
    if (!ok) {
        pthread_mutex_lock(&w->lock);
        snprintf(w->last_error, sizeof(w->last_error), "%s: %s", store_errkind(w->store),
                 store_errmsg(w->store));
        pthread_mutex_unlock(&w->lock);
        atomic_store(&w->writable, false);
    } else if (wrote && !atomic_exchange(&w->writable, true)) {
        log_kv(LOG_LEVEL_INFO, "storage_ok", NULL);
    }
}

/* Counts the failure on the writer's connection by its kind (lianpay_storage_errors_total). */
static void count_storage_error(struct writer *w)
{
    atomic_fetch_add(&w->storage_errors[store_err(w->store)], 1);
}

static void log_storage_error(struct writer *w, const char *what, size_t batch)
{
    count_storage_error(w);
    log_kv(LOG_LEVEL_ERROR, "storage_error", "op", what, "kind", store_errkind(w->store), "error",
           store_errmsg(w->store), "batch", log_int((long long)batch), NULL);
}

/* Runs jobs [first, end) in one transaction. Returns 0 when committed, -1 when rolled back. */
static int run_batch(struct writer *w, struct writer_job *first, struct writer_job *end, size_t n)
{
    struct timespec t0, t1;
    const char *op = "begin";
    int64_t changes = store_changes(w->store);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (store_begin(w->store) < 0)
        goto fail;
    op = "apply";
    for (struct writer_job *j = first; j != end; j = j->next) {
        memset(&j->applied, 0, sizeof(j->applied));
        if (run_job(w, j) < 0)
            goto fail;
    }
    op = "commit";
    if (store_commit(w->store) < 0)
        goto fail;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    metrics_histogram_observe(&w->commit_seconds, (double)(t1.tv_sec - t0.tv_sec) +
                                                      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    note_attempt(w, true, store_changes(w->store) > changes);
    return 0;
fail:
    log_storage_error(w, op, n);
    note_attempt(w, false, false);
    store_rollback(w->store);
    return -1;
}

static void finish(struct writer_job *job, int status)
{
    job->status = status;
    job->done(job);
}

static void process(struct writer *w, struct writer_job *list, size_t n)
{
    int status = run_batch(w, list, NULL, n);

    atomic_fetch_add(&w->batches, 1);
    atomic_fetch_add(&w->jobs, n);
    if (n > atomic_load(&w->max_batch))
        atomic_store(&w->max_batch, n);
    metrics_histogram_observe(&w->batch_sizes, (double)n);

    /* A storage fault (lock, full, read-only, I/O) would fail each retry too, after its own busy
     * timeout: a locked database would hold the last of a batch of n for n seconds. Only an error
     * of the job's own (STORE_ERR_SQL) is worth retrying alone. */
    if (status < 0 && n > 1 && store_err(w->store) == STORE_ERR_SQL) {
        atomic_fetch_add(&w->failed_batches, 1);
        /* Alone, each job either commits or fails on its own account. */
        while (list != NULL) {
            struct writer_job *next = list->next;
            int s = run_batch(w, list, next, 1);
            finish(list, s);
            list = next;
        }
        return;
    }
    if (status < 0)
        atomic_fetch_add(&w->failed_batches, 1);
    while (list != NULL) {
        struct writer_job *next = list->next; /* done() may reuse the job */
        finish(list, status);
        list = next;
    }
}

/* With nothing to write for a while: can we still take the write lock, or, during a fault, does
 * a write commit again? */
static void idle_check(struct writer *w)
{
    if (!atomic_load(&w->writable)) {
        bool ok = store_probe_write(w->store) == 0;
        if (!ok)
            count_storage_error(w);
        note_attempt(w, ok, ok);
        return;
    }
    bool ok = store_begin(w->store) == 0;
    /* Said once, when the fault starts: a batch failure is logged by itself, an idle lock is not.
     */
    if (!ok)
        count_storage_error(w);
    if (!ok)
        log_kv(LOG_LEVEL_WARNING, "storage_error", "op", "check", "kind", store_errkind(w->store),
               "error", store_errmsg(w->store), NULL);
    note_attempt(w, ok, false);
    if (ok)
        store_rollback(w->store);
}

/* Waits, without the lock, until COMMIT_INTERVAL_NS after the previous transaction started
 * (*last), so that more messages join this one; then stamps *last. */
static void pace(struct writer *w, struct timespec *last)
{
    struct timespec now, next = *last;

    next.tv_nsec += COMMIT_INTERVAL_NS;
    if (next.tv_nsec >= 1000000000L) {
        next.tv_sec++;
        next.tv_nsec -= 1000000000L;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec < next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec < next.tv_nsec)) {
        pthread_mutex_unlock(&w->lock);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        pthread_mutex_lock(&w->lock);
        clock_gettime(CLOCK_MONOTONIC, &now);
    }
    *last = now;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct timespec last = {0, 0};

    /* Named for operators (top -H, /proc/PID/task/TID/comm) and for the watchdog's tests. */
    pthread_setname_np(pthread_self(), "writer");
    pthread_mutex_lock(&w->lock);
    for (;;) {
        atomic_store(&w->heartbeat, time_mono_ms());
        if (w->head == NULL) {
            if (w->stopping)
                break;
            if (time_mono_ms() - w->last_attempt >= PROBE_IDLE_MS) {
                pthread_mutex_unlock(&w->lock);
                idle_check(w);
                pthread_mutex_lock(&w->lock);
                continue;
            }
            /* Wake up every second even when idle, so that the heartbeat shows a live loop. */
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&w->wake, &w->lock, &until);
            continue;
        }
        pace(w, &last);
        struct writer_job *list = w->head;
        w->head = w->tail = NULL;
        pthread_mutex_unlock(&w->lock);

        size_t n = 0;
        for (struct writer_job *j = list; j != NULL; j = j->next)
            n++;
        process(w, list, n);

        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct writer *writer_create(struct store *st, int64_t notify_window_s)
{
    struct writer *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->store = st;
    w->notify_window = notify_window_s;
    atomic_store(&w->heartbeat, time_mono_ms());
    w->last_attempt = time_mono_ms();
    atomic_store(&w->writable, true); /* store_open has just migrated it */
    metrics_histogram_init(&w->batch_sizes, batch_bounds,
                           sizeof(batch_bounds) / sizeof(batch_bounds[0]));
    metrics_histogram_init(&w->commit_seconds, commit_bounds,
                           sizeof(commit_bounds) / sizeof(commit_bounds[0]));
    pthread_mutex_init(&w->lock, NULL);
    time_cond_init(&w->wake);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

int writer_submit(struct writer *w, struct writer_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    if (w->tail != NULL)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

int64_t writer_heartbeat(struct writer *w)
{
    return atomic_load(&w->heartbeat);
}

bool writer_writable(struct writer *w, char *why, size_t len)
{
    if (atomic_load(&w->writable))
        return true;
    pthread_mutex_lock(&w->lock);
    snprintf(why, len, "%s", w->last_error);
    pthread_mutex_unlock(&w->lock);
    return false;
}

const struct metrics_histogram *writer_batch_sizes(struct writer *w)
{
    return &w->batch_sizes;
}

const struct metrics_histogram *writer_commit_seconds(struct writer *w)
{
    return &w->commit_seconds;
}

void writer_get_stats(struct writer *w, struct writer_stats *out)
{
    out->batches = atomic_load(&w->batches);
    out->jobs = atomic_load(&w->jobs);
    out->failed_batches = atomic_load(&w->failed_batches);
    out->max_batch = atomic_load(&w->max_batch);
    for (int i = 0; i < STORE_ERR_COUNT; i++)
        out->storage_errors[i] = atomic_load(&w->storage_errors[i]);
}

void writer_stop(struct writer *w)
{
    if (w == NULL || w->stopped)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->stopped = true;
    store_close(w->store);
    w->store = NULL;
}

void writer_destroy(struct writer *w)
{
    if (w == NULL)
        return;
    writer_stop(w);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
