/*
 * DESIGN
 *
 * The writer thread is the only code in the daemon that writes to SQLite. HTTP threads and the
 * reconciler hand it jobs through a mutex-protected queue and go on (an HTTP connection is
 * suspended meanwhile); the writer takes everything queued at once and runs it in one
 * BEGIN IMMEDIATE ... COMMIT (group commit). Its connection is synchronous=NORMAL: COMMIT writes
 * the WAL frames and returns without syncing them. The committed batch goes to the sync thread,
 * which fdatasyncs the -wal and only then calls done() for every job handed to it before that
 * fdatasync began; meanwhile the writer runs the next batch (commit N+1 overlaps the sync of N,
 * and one fdatasync covers every batch committed while the previous one ran). No job of any kind
 * (notifications, query outcomes, the payout steps' "sending" written before a byte leaves) is
 * answered before the sync: done() with status 0 means durable, as it did with
 * synchronous=FULL, whose COMMIT did the same fdatasync on the writer's thread.
 *
 * Why that is as durable as FULL, case by case (tests/integration/test_powercut.py checks each):
 * - Which file: the sync thread's descriptor is the -wal, opened by path by store_defer_sync
 *   before the connection switched to NORMAL. SQLite deletes a WAL only when the last connection
 *   closes (it must get the database file's exclusive lock, which the writer's own connection,
 *   open until writer_stop, denies every other process), never truncates it (journal_size_limit
 *   is left at -1) and never recreates it while open: the descriptor names the file SQLite
 *   writes. store_wal_sync checks it after every fdatasync (the path's inode against the
 *   descriptor's) and fails if not, rather than trusting the argument.
 * - A prefix: WAL recovery keeps the commits up to the first frame whose checksum chain breaks,
 *   so once the fdatasync that began after batch N's COMMIT returned, N and everything before N
 *   survive a power cut, whatever was torn after it.
 * - Checkpoints (automatic, on this connection, after a COMMIT): with NORMAL SQLite still syncs
 *   the WAL before copying frames into the database and syncs the database before it records
 *   them as copied, so a checkpoint between a commit and its sync only makes it durable sooner.
 * - The WAL restart (the first write after a complete checkpoint starts again at its
 *   beginning, over old frames): SQLite writes a new header (new salts) and syncs it before the
 *   first new frame (even with NORMAL); the frames it overwrites are all in the synced database.
 *   A cut before this sync thread's fdatasync loses only the new, unanswered frames.
 * - A failed fdatasync (EIO...) is final: the kernel may have dropped the dirty pages and a later
 *   fdatasync would succeed without them, so no later success is believed. Every job waiting,
 *   and every later one, is answered -1 ("try again": LianLian resends), the writer stays
 *   unwritable (/readyz says why) and runs no more transactions until the daemon is restarted,
 *   when SQLite recovers from what the disk really holds.
 * - Directory: store_open syncs the directory after creating the -wal, so its name is durable
 *   before the first commit; nothing here creates or removes a name.
 * - Shutdown: writer_stop drains the writer's queue, then the sync queue, then closes the store.
 * - Readers on other connections may see rows committed but not yet synced, for about one
 *   fdatasync. That promises nothing outside: a notification is answered only by done();
 *   whatever a reader derives and writes back goes through this writer, later in the same WAL,
 *   so it cannot survive a cut that loses what it was derived from (the prefix); a query to
 *   LianLian about such an order only asks; what lianpayctl shows a person is the state of the
 *   moment, as with FULL between COMMIT's write and its sync.
 *
 * When a batch fails, it is rolled back and, if it held more than one job, each job is retried
 * alone: a job that fails for a reason of its own (a constraint) must not take the messages it
 * happened to be batched with down with it again and again. A storage fault (disk full, lock,
 * read-only, I/O) is not retried: it would fail every retry too. Every job of the batch gets
 * status -1: nothing was written, the caller answers "try again". Jobs of a batch in which
 * nothing committed are answered at once, by the writer; the others wait for the sync.
 *
 * Health: both loops stamp a heartbeat on every turn (at least once a second, and after every
 * transaction attempt or fdatasync); writer_heartbeat is the older of the two, so a sync thread
 * stuck in fdatasync on a dead disk shows as a stalled writer. `writable` is false from a failed
 * transaction or fdatasync on, and only a transaction that committed a write makes it true again
 * (never after a failed fdatasync): taking the write lock, or committing a transaction that
 * changed nothing, touches neither the WAL nor the disk, and a database made immutable lets both
 * succeed (before, /readyz turned green again five seconds into such a fault while every
 * notification still failed). When nothing was written for PROBE_IDLE_MS, the loop checks by
 * itself: while writable, that it can still take the write lock (an empty BEGIN IMMEDIATE:
 * another process may hold it); during a fault, with a real write that must commit
 * (store_probe_write), so that the fault ends without traffic once the disk is back.
 *
 * Locks: `lock` guards the writer's queue, the flags and last_error; `sync_lock` the sync queue.
 * The store is touched only by the writer thread, the -wal descriptor only by the sync thread.
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

    /* The sync thread (DESIGN): the jobs committed and not yet synced, in commit order. */
    struct store_wal *wal;
    pthread_t sync_thread;
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_wake;
    struct writer_job *sync_head, *sync_tail;
    bool sync_stopping;
    atomic_bool sync_failed; /* an fdatasync failed: final (DESIGN) */
    atomic_llong sync_heartbeat;

    int64_t last_attempt; /* monotonic ms of the last transaction attempt (thread only) */
    atomic_bool writable; /* the last attempt committed (or the idle check took the lock) */
    char last_error[160]; /* why not, under lock */
};

static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
static const double commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* Appends the jobs first..last (linked) to the queue *head..*tail; under its lock. */
static void append(struct writer_job **head, struct writer_job **tail, struct writer_job *first,
                   struct writer_job *last)
{
    if (*tail != NULL)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

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
    } else if (wrote && !atomic_load(&w->sync_failed) && !atomic_exchange(&w->writable, true)) {
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

/* Answers every job of list with status. */
static void finish_all(struct writer_job *list, int status)
{
    while (list != NULL) {
        struct writer_job *next = list->next; /* done() may reuse the job */
        finish(list, status);
        list = next;
    }
}

/* Hands list (jobs whose status is set, at least one committed) to the sync thread. */
static void hand_over(struct writer *w, struct writer_job *list)
{
    struct writer_job *tail = list;

    while (tail->next != NULL)
        tail = tail->next;
    pthread_mutex_lock(&w->sync_lock);
    append(&w->sync_head, &w->sync_tail, list, tail);
    pthread_cond_signal(&w->sync_wake);
    pthread_mutex_unlock(&w->sync_lock);
}

static void process(struct writer *w, struct writer_job *list, size_t n)
{
    /* After a failed fdatasync nothing more is written (DESIGN). */
    if (atomic_load(&w->sync_failed)) {
        atomic_fetch_add(&w->failed_batches, 1);
        finish_all(list, -1);
        return;
    }
    int status = run_batch(w, list, NULL, n);

    atomic_fetch_add(&w->batches, 1);
    atomic_fetch_add(&w->jobs, n);
    if (n > atomic_load(&w->max_batch))
        atomic_store(&w->max_batch, n);
    metrics_histogram_observe(&w->batch_sizes, (double)n);

    if (status == 0) {
        for (struct writer_job *j = list; j != NULL; j = j->next)
            j->status = 0;
        hand_over(w, list);
        return;
    }
    atomic_fetch_add(&w->failed_batches, 1);
    /* A storage fault (lock, full, read-only, I/O) would fail each retry too, after its own busy
     * timeout: a locked database would hold the last of a batch of n for n seconds. Only an error
     * of the job's own (STORE_ERR_SQL) is worth retrying alone. */
    if (n > 1 && store_err(w->store) == STORE_ERR_SQL) {
        /* Alone, each job either commits or fails on its own account. */
        bool committed = false;
        for (struct writer_job *j = list; j != NULL; j = j->next) {
            j->status = run_batch(w, j, j->next, 1);
            committed = committed || j->status == 0;
        }
        if (committed)
            hand_over(w, list);
        else
            finish_all(list, -1);
        return;
    }
    finish_all(list, -1);
}

/* Waits on cond for at most a second: an idle loop still turns, and its heartbeat shows it. */
static void wait_a_second(pthread_cond_t *cond, pthread_mutex_t *lock)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    pthread_cond_timedwait(cond, lock, &until);
}

/* A failed fdatasync: logged once, and final (DESIGN). */
static void sync_fail(struct writer *w, const char *why)
{
    if (atomic_exchange(&w->sync_failed, true))
        return;
    atomic_fetch_add(&w->storage_errors[STORE_ERR_IOERR], 1);
    pthread_mutex_lock(&w->lock);
    snprintf(w->last_error, sizeof(w->last_error), "ioerr: %s; restart the daemon", why);
    pthread_mutex_unlock(&w->lock);
    atomic_store(&w->writable, false);
    log_kv(LOG_LEVEL_ERROR, "storage_error", "op", "sync", "kind", "ioerr", "error", why, NULL);
}

static void *sync_main(void *arg)
{
    struct writer *w = arg;
    char why[128]; /* fits last_error with its prefix and suffix */

    pthread_setname_np(pthread_self(), "writer-sync");
    pthread_mutex_lock(&w->sync_lock);
    for (;;) {
        atomic_store(&w->sync_heartbeat, time_mono_ms());
        if (w->sync_head == NULL) {
            if (w->sync_stopping)
                break;
            wait_a_second(&w->sync_wake, &w->sync_lock);
            continue;
        }
        /* Every job taken here was committed before the fdatasync below begins. */
        struct writer_job *list = w->sync_head;
        w->sync_head = w->sync_tail = NULL;
        pthread_mutex_unlock(&w->sync_lock);

        bool synced = !atomic_load(&w->sync_failed);
        if (synced && store_wal_sync(w->wal, why, sizeof(why)) < 0) {
            sync_fail(w, why);
            synced = false;
        }
        atomic_store(&w->sync_heartbeat, time_mono_ms());
        while (list != NULL) {
            struct writer_job *next = list->next; /* done() may reuse the job */
            finish(list, synced ? list->status : -1);
            list = next;
        }
        pthread_mutex_lock(&w->sync_lock);
    }
    pthread_mutex_unlock(&w->sync_lock);
    return NULL;
}

/* With nothing to write for a while: can we still take the write lock, or, during a fault, does
 * a write commit again? */
static void idle_check(struct writer *w)
{
    if (atomic_load(&w->sync_failed)) {
        w->last_attempt = time_mono_ms();
        return;
    }
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
            wait_a_second(&w->wake, &w->lock);
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

struct writer *writer_create(struct store *st, int64_t notify_window_s, char *err, size_t errlen)
{
    struct writer *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->wal = store_defer_sync(st, err, errlen);
    if (w->wal == NULL) {
        free(w);
        return NULL;
    }
    w->store = st;
    w->notify_window = notify_window_s;
    atomic_store(&w->heartbeat, time_mono_ms());
    atomic_store(&w->sync_heartbeat, time_mono_ms());
    w->last_attempt = time_mono_ms();
    atomic_store(&w->writable, true); /* store_open has just migrated it */
    metrics_histogram_init(&w->batch_sizes, batch_bounds,
                           sizeof(batch_bounds) / sizeof(batch_bounds[0]));
    metrics_histogram_init(&w->commit_seconds, commit_bounds,
                           sizeof(commit_bounds) / sizeof(commit_bounds[0]));
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->sync_lock, NULL);
    time_cond_init(&w->wake);
    time_cond_init(&w->sync_wake);
    if (pthread_create(&w->sync_thread, NULL, sync_main, w) != 0)
        goto fail;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_mutex_lock(&w->sync_lock);
        w->sync_stopping = true;
        pthread_cond_signal(&w->sync_wake);
        pthread_mutex_unlock(&w->sync_lock);
        pthread_join(w->sync_thread, NULL);
        goto fail;
    }
    return w;
fail:
    snprintf(err, errlen, "cannot start the writer's threads");
    pthread_cond_destroy(&w->sync_wake);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->sync_lock);
    pthread_mutex_destroy(&w->lock);
    store_wal_close(w->wal);
    free(w);
    return NULL;
}

int writer_submit(struct writer *w, struct writer_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    append(&w->head, &w->tail, job, job);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

int64_t writer_heartbeat(struct writer *w)
{
    int64_t writer = atomic_load(&w->heartbeat), sync = atomic_load(&w->sync_heartbeat);
    return writer < sync ? writer : sync;
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
    /* The writer handed over its last batch; the sync thread answers it before it stops. */
    pthread_mutex_lock(&w->sync_lock);
    w->sync_stopping = true;
    pthread_cond_signal(&w->sync_wake);
    pthread_mutex_unlock(&w->sync_lock);
    pthread_join(w->sync_thread, NULL);
    w->stopped = true;
    store_wal_close(w->wal);
    w->wal = NULL;
    store_close(w->store);
    w->store = NULL;
}

void writer_destroy(struct writer *w)
{
    if (w == NULL)
        return;
    writer_stop(w);
    pthread_cond_destroy(&w->sync_wake);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->sync_lock);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
