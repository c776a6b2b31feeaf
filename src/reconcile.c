/*
 * DESIGN
 *
 * One thread. Each turn it asks its own read-only connection for the orders that are due
 * (registered, no final result, not in review, next_query_at passed: a partial index keeps this
 * cheap with millions of rows), queries LianLian about each, no more than max_rate a second, and
 * hands the outcome to the writer, waiting for it before the next order so that the next
 * selection sees it. Orders inserted with plain SQL have no next_query_at yet: a writer job gives
 * them one first.
 *
 * What an answer does is attempt_after_query's decision (attempt.c; query.c says what the answer
 * is), carried out by one writer job in one transaction (store_query_outcome):
 *   verified final result   -> recorded like a notification (source = query); never queried again
 *   verified pending result -> recorded, asked again after retry_interval, doubling each time up to
 *                              max_retry_interval
 *   8901, a signed error, an unsigned/badly signed/invalid answer, no answer
 *                           -> nothing about the order changes but the next query time
 * Past give_up_after since registration the order is flagged for review, with the last answer as
 * the reason, and no longer queried (a pending answer is recorded first). Each attempt is logged
 * once, after the writer is done.
 *
 * A due row whose values cannot be read exactly (store_due's unqueryable: a no_order with a NUL
 * byte, a BLOB, no timestamp; written past the schema's CHECKs) is never queried: LianLian would
 * be asked about another order. It is flagged for review at once, so that such rows cannot fill
 * every due batch and keep the legitimate orders behind them from being queried.
 */
#include "reconcile.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "attempt.h"
#include "log.h"
#include "query.h"
#include "store.h"
#include "timeutil.h"
#include "worker.h"
#include "writer.h"

#define IDLE_MS          1000
#define STORAGE_PAUSE_MS 5000

struct reconciler {
    const struct reconcile_options *cfg;
    struct keyring *keys;
    struct writer *writer;
    struct store *store; /* read-only */
    struct query_client *qc;
    struct attempt_policy policy;

    pthread_t thread;
    struct worker w; /* stop requests, writer jobs, heartbeat, max_rate */

    atomic_ullong queries, results, no_record, errors, gave_up;
    atomic_llong last_answer_ms; /* wall-clock ms of the last signed answer stored */
    atomic_ullong by_answer[RECONCILE_ANSWER_KINDS];
};

_Static_assert(QUERY_TRANSPORT + 1 == RECONCILE_ANSWER_KINDS, "one counter per query_status");

static void log_attempt(const struct store_due *d, const struct query_answer *a,
                        const struct attempt_action *act, const struct store_applied *applied,
                        int status)
{
    bool result = a->status == QUERY_RESULT;
    char next[TIME_ISO_LEN] = "";
    if (act->retry_at_ms > 0)
        time_iso(act->retry_at_ms, next);
    enum log_level level = status < 0                  ? LOG_LEVEL_ERROR
                           : a->status == QUERY_RESULT ? LOG_LEVEL_INFO
                                                       : LOG_LEVEL_WARNING;
    if (result && applied->flagged)
        level = LOG_LEVEL_WARNING;
    log_kv(level, "query", "no_order", d->no_order, "answer", query_status_name(a->status),
           "ret_code", log_outside(a->ret_code[0] ? a->ret_code : NULL), "signed",
           a->signed_ok ? "yes" : "no", "result_pay",
           result ? state_result_name(a->result.result_pay) : NULL, "outcome",
           result && status == 0 ? state_outcome_name(applied->outcome) : NULL, "action",
           status < 0 ? "not_stored" : attempt_next_name(act->next), "next_query_at",
           next[0] ? next : NULL, "attempt", log_int((long long)d->query_count + 1), "detail",
           log_outside(a->status == QUERY_RESULT ? NULL : a->detail), "review",
           applied->flagged ? applied->review_reason : NULL, NULL);
}

static void count(struct reconciler *r, const struct query_answer *a,
                  const struct attempt_action *act, int status, int64_t now)
{
    atomic_fetch_add(&r->queries, 1);
    /* LianLian answered and what it said is recorded: a result, or its "no record". */
    if (status == 0 && (a->status == QUERY_RESULT || a->status == QUERY_NO_RECORD))
        atomic_store(&r->last_answer_ms, now);
    if ((unsigned)a->status < RECONCILE_ANSWER_KINDS)
        atomic_fetch_add(&r->by_answer[a->status], 1);
    if (a->status == QUERY_RESULT)
        atomic_fetch_add(&r->results, 1);
    else if (a->status == QUERY_NO_RECORD)
        atomic_fetch_add(&r->no_record, 1);
    else
        atomic_fetch_add(&r->errors, 1);
    if (act->next == ATTEMPT_GIVE_UP)
        atomic_fetch_add(&r->gave_up, 1);
}

/* Queries one due order and records what it taught us. Returns -1 on a storage failure. */
static int chase(struct reconciler *r, const struct store_due *d)
{
    struct query_answer a;
    struct attempt_action act;
    struct attempt_history h = {.attempts = d->query_count};
    char received_at[TIME_ISO_LEN];

    query_payment(r->qc, r->keys, d->no_order, &a);
    int64_t now = time_now_ms();
    h.started = time_parse_iso(d->registered_at, &h.started_ms) == 0;
    attempt_after_query(&a, &h, &r->policy, now, &act);
    time_iso(now, received_at);
    struct store_input answer = {
        .r = &a.result,
        .source = PAYRESULT_QUERY,
        .body = a.body,
        .body_len = a.body_len,
        .remote_addr = "",
        .received_at = received_at,
    };
    struct writer_job job = {
        .kind = WRITER_QUERY_OUTCOME,
        .in.query = {.no_order = d->no_order,
                     .answer = &answer,
                     .action = &act,
                     .no_record = a.status == QUERY_NO_RECORD,
                     .received_at = received_at,
                     .no_record_after_s = r->cfg->no_record_after},
    };
    int status = worker_write(&r->w, r->writer, &job);
    count(r, &a, &act, status, now);
    log_attempt(d, &a, &act, &job.applied, status);
    if (status == 0)
        store_log_payout_change(d->no_order, &job.applied);
    query_answer_finish(&a);
    return status;
}

/* Flags the unqueryable rows of a due batch, logging each. Returns how many there were, or -1
 * when the writer could not store it. */
static int flag_unqueryable(struct reconciler *r, const struct store_due *due, int n, int64_t now)
{
    struct writer_job job = {.kind = WRITER_FLAG_UNQUERYABLE, .in.now_ms = now};
    int bad = 0;

    for (int i = 0; i < n; i++)
        bad += due[i].unqueryable != NULL;
    if (bad == 0)
        return 0;
    int status = worker_write(&r->w, r->writer, &job);
    for (int i = 0; i < n; i++) {
        if (due[i].unqueryable == NULL)
            continue;
        log_kv(status < 0 ? LOG_LEVEL_ERROR : LOG_LEVEL_WARNING, "unqueryable", "no_order",
               due[i].no_order, "rowid", log_int((long long)due[i].rowid), "reason",
               due[i].unqueryable, "action", status < 0 ? "not_stored" : "flagged", NULL);
    }
    return status < 0 ? -1 : bad;
}

static int schedule_new_orders(struct reconciler *r)
{
    int pending = store_has_unscheduled(r->store);
    if (pending <= 0)
        return pending;
    struct writer_job job = {.kind = WRITER_SCHEDULE_NEW};
    return worker_write(&r->w, r->writer, &job);
}

static void *reconcile_main(void *arg)
{
    struct reconciler *r = arg;
    struct store_due due[STORE_DUE_BATCH];

    pthread_setname_np(pthread_self(), "reconcile");
    for (;;) {
        atomic_store(&r->w.heartbeat, time_mono_ms());
        int64_t pause = IDLE_MS, now = time_now_ms();
        int n = -1;
        if (schedule_new_orders(r) >= 0)
            n = store_due(r->store, now, due, STORE_DUE_BATCH);
        if (n < 0) {
            log_kv(LOG_LEVEL_ERROR, "storage_error", "op", "select_due", "kind",
                   store_errkind(r->store), "error", store_errmsg(r->store), NULL);
            pause = STORAGE_PAUSE_MS;
        }
        if (n > 0 && flag_unqueryable(r, due, n, now) < 0) {
            pause = STORAGE_PAUSE_MS;
            n = 0;
        }
        for (int i = 0; i < n; i++) {
            if (due[i].unqueryable != NULL)
                continue;
            if (worker_rate_wait(&r->w))
                return NULL;
            if (chase(r, &due[i]) < 0) {
                pause = STORAGE_PAUSE_MS;
                break;
            }
            atomic_store(&r->w.heartbeat, time_mono_ms());
        }
        if (n == STORE_DUE_BATCH && pause == IDLE_MS)
            continue; /* more may be due right now */
        if (worker_sleep_until(&r->w, time_mono_ms() + pause))
            return NULL;
    }
}

struct reconciler *reconcile_start(const struct reconcile_options *cfg, struct keyring *keys,
                                   struct writer *w, char *err, size_t errlen)
{
    struct reconciler *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->cfg = cfg;
    r->keys = keys;
    r->writer = w;
    r->policy = cfg->policy;
    r->qc = query_client_create(&cfg->query, err, errlen);
    if (r->qc == NULL)
        goto fail;
    r->store = store_open(cfg->database_path, STORE_READ, err, errlen);
    if (r->store == NULL)
        goto fail;
    worker_init(&r->w, cfg->max_rate);
    if (pthread_create(&r->thread, NULL, reconcile_main, r) != 0) {
        snprintf(err, errlen, "cannot start the reconcile thread");
        worker_finish(&r->w);
        goto fail;
    }
    return r;
fail:
    store_close(r->store);
    query_client_destroy(r->qc);
    free(r);
    return NULL;
}

int64_t reconcile_stall_ms(const struct reconcile_options *cfg)
{
    /* 20 s for the rest: the writer's answer (its busy timeout is 1 s), a read (5 s) and the
     * rate limiter's wait (1 s at most), with room to spare. */
    return cfg->query.timeout_ms + 20000;
}

int64_t reconcile_heartbeat(struct reconciler *r)
{
    return atomic_load(&r->w.heartbeat);
}

void reconcile_get_stats(struct reconciler *r, struct reconcile_stats *out)
{
    out->queries = atomic_load(&r->queries);
    out->results = atomic_load(&r->results);
    out->no_record = atomic_load(&r->no_record);
    out->errors = atomic_load(&r->errors);
    out->gave_up = atomic_load(&r->gave_up);
    out->last_answer_ms = atomic_load(&r->last_answer_ms);
    for (int i = 0; i < RECONCILE_ANSWER_KINDS; i++)
        out->by_answer[i] = atomic_load(&r->by_answer[i]);
}

void reconcile_stop(struct reconciler *r)
{
    if (r == NULL)
        return;
    worker_stop(&r->w);
    pthread_join(r->thread, NULL);
    worker_finish(&r->w);
    store_close(r->store);
    query_client_destroy(r->qc);
    free(r);
}
