/*
 * The writer thread against a real SQLite file in a temporary directory: group commit (what is
 * queued together commits together), a failing job retried alone only when the failure is its own
 * (a constraint) and never on a storage fault, every job answered exactly once, and what each
 * kind of job leaves in the rows, read back with a plain SQLite connection as internal tools do.
 *
 * To queue many jobs at once deterministically, a "gate" job holds the writer thread in its done()
 * until the test has queued the rest: the writer then finds them all waiting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attempt.h"
#include "payresult.h"
#include "state.h"
#include "store.h"
#include "testdb.h"
#include "timeutil.h"
#include "writer.h"

#define T0       1795336200000LL /* 2026-11-22T08:30:00.000Z */
#define MIN      (60 * 1000LL)
#define WINDOW_S 2160
#define WAIT_S   30 /* generous: a job is answered within about a second */

struct fx {
    char dir[256];
    char path[300];
    struct writer *w;
    sqlite3 *raw;
    char text[1024];

    pthread_mutex_t lock;
    pthread_cond_t cond;
    int answered; /* done() calls, all jobs */
    bool gate_entered, gate_open;
    bool unlock_on_failure; /* the first failed job's done() ends raw's transaction */
};

struct tjob {
    struct writer_job job;
    struct fx *fx;
    struct payresult r;
    char body[160];
    char received[TIME_ISO_LEN];
    int answered;    /* under fx->lock */
    char thread[16]; /* the name of the thread that called done() */
    bool gate;
};

/* ---- fixture ------------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    char err[512];

    assert_non_null(fx);
    testdb_make("test_writer", fx->dir, sizeof(fx->dir), fx->path, sizeof(fx->path));
    struct store *st = store_open(fx->path, STORE_WRITE, err, sizeof(err));
    if (st == NULL)
        fail_msg("store_open: %s", err);
    fx->w = writer_create(st, WINDOW_S, err, sizeof(err));
    if (fx->w == NULL)
        fail_msg("writer_create: %s", err);
    assert_int_equal(sqlite3_open(fx->path, &fx->raw), SQLITE_OK);
    assert_int_equal(sqlite3_busy_timeout(fx->raw, 5000), SQLITE_OK);
    pthread_mutex_init(&fx->lock, NULL);
    pthread_cond_init(&fx->cond, NULL);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    writer_destroy(fx->w);
    sqlite3_close(fx->raw);
    pthread_cond_destroy(&fx->cond);
    pthread_mutex_destroy(&fx->lock);
    testdb_remove(fx->dir, fx->path, NULL);
    free(fx);
    return 0;
}

static void raw_exec(struct fx *fx, const char *sql)
{
    testdb_exec(fx->raw, sql);
}

/* First column of the first row as text ("NULL" for NULL, "NOROW" for no row). */
#define q_text(fx, ...) testdb_textf((fx)->raw, (fx)->text, sizeof((fx)->text), __VA_ARGS__)

static const char *col(struct fx *fx, const char *no_order, const char *column)
{
    return q_text(fx, "SELECT %s FROM payments WHERE no_order = '%s'", column, no_order);
}

static long long count_rows(struct fx *fx, const char *sql)
{
    return atoll(q_text(fx, "%s", sql));
}

/* ---- jobs ---------------------------------------------------------------------------------- */

static void job_done(struct writer_job *job)
{
    struct tjob *t = job->ctx;
    struct fx *fx = t->fx;

    pthread_mutex_lock(&fx->lock);
    t->answered++;
    fx->answered++;
    pthread_getname_np(pthread_self(), t->thread, sizeof(t->thread));
    if (job->status != 0 && fx->unlock_on_failure) {
        fx->unlock_on_failure = false;
        raw_exec(fx, "ROLLBACK"); /* the fault is over from now on */
    }
    if (t->gate) {
        fx->gate_entered = true;
        pthread_cond_broadcast(&fx->cond);
        while (!fx->gate_open)
            pthread_cond_wait(&fx->cond, &fx->lock);
    }
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->lock);
}

static void deadline(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += WAIT_S;
}

/* Waits until n done() calls in all since setup. */
static void wait_answered(struct fx *fx, int n)
{
    struct timespec until;

    deadline(&until);
    pthread_mutex_lock(&fx->lock);
    while (fx->answered < n) {
        if (pthread_cond_timedwait(&fx->cond, &fx->lock, &until) != 0) {
            int got = fx->answered;
            pthread_mutex_unlock(&fx->lock);
            fail_msg("%d of %d jobs answered after %d s", got, n, WAIT_S);
        }
    }
    pthread_mutex_unlock(&fx->lock);
}

/* A notification of no_order (SUCCESS, 10.00) as the HTTP thread queues it; the digest is the
 * order number's, so every order's message is its own. */
static void apply_job(struct fx *fx, struct tjob *t, const char *no_order)
{
    memset(t, 0, sizeof(*t));
    t->fx = fx;
    struct payresult *r = &t->r;
    snprintf(r->oid_partner, sizeof(r->oid_partner), "201103171000000000");
    snprintf(r->no_order, sizeof(r->no_order), "%s", no_order);
    snprintf(r->dt_order, sizeof(r->dt_order), "20261122083000");
    snprintf(r->money_order, sizeof(r->money_order), "10.00");
    r->amount_fen = 1000;
    snprintf(r->oid_paybill, sizeof(r->oid_paybill), "2026112200012345");
    r->result_pay = RESULT_SUCCESS;
    snprintf(r->settle_date, sizeof(r->settle_date), "20261122");
    memset(r->signed_sha256, 0xa5, sizeof(r->signed_sha256));
    memcpy(r->signed_sha256, no_order, strnlen(no_order, sizeof(r->signed_sha256)));
    snprintf(t->body, sizeof(t->body), "{\"no_order\":\"%s\",\"result_pay\":\"SUCCESS\"}",
             no_order);
    time_iso(T0, t->received);
    t->job.kind = WRITER_APPLY;
    t->job.in.apply = (struct store_input){
        .r = r,
        .source = PAYRESULT_NOTIFY,
        .body = t->body,
        .body_len = strlen(t->body),
        .remote_addr = "115.236.102.36",
        .received_at = t->received,
    };
    t->job.done = job_done;
    t->job.ctx = t;
}

static void submit(struct fx *fx, struct tjob *t)
{
    assert_int_equal(writer_submit(fx->w, &t->job), 0);
}

/* Submits a gate job (an apply of "GATE X", which breaks a CHECK: nothing commits, so the writer
 * thread answers it itself, without the sync thread) and returns once the writer thread is held in
 * its done(): whatever is submitted next waits in the queue. */
static void close_gate(struct fx *fx, struct tjob *gate)
{
    struct timespec until;

    apply_job(fx, gate, "GATE X");
    gate->gate = true;
    submit(fx, gate);
    deadline(&until);
    pthread_mutex_lock(&fx->lock);
    while (!fx->gate_entered) {
        if (pthread_cond_timedwait(&fx->cond, &fx->lock, &until) != 0) {
            pthread_mutex_unlock(&fx->lock);
            fail_msg("the gate job was not answered after %d s", WAIT_S);
        }
    }
    pthread_mutex_unlock(&fx->lock);
}

static void open_gate(struct fx *fx)
{
    pthread_mutex_lock(&fx->lock);
    fx->gate_open = true;
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->lock);
}

static int answered(struct fx *fx, const struct tjob *t)
{
    pthread_mutex_lock(&fx->lock);
    int n = t->answered;
    pthread_mutex_unlock(&fx->lock);
    return n;
}

/* ---- group commit, retries, answers -------------------------------------------------------- */

/* 50 messages queued while the writer is busy commit in one transaction: two batches in all (the
 * gate's, failed, and theirs), the largest of 50, every row there, every job answered once with 0,
 * by the sync thread (after the fdatasync), the gate's failure by the writer. */
static void test_group_commit(void **state)
{
    struct fx *fx = *state;
    enum { N = 50 };
    struct tjob gate, jobs[N];
    struct writer_stats ws;
    char name[16];

    close_gate(fx, &gate);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "W-%d", i);
        apply_job(fx, &jobs[i], name);
        submit(fx, &jobs[i]);
    }
    open_gate(fx);
    wait_answered(fx, N + 1);

    writer_get_stats(fx->w, &ws);
    printf("# batches %llu, jobs %llu, largest %llu\n", (unsigned long long)ws.batches,
           (unsigned long long)ws.jobs, (unsigned long long)ws.max_batch);
    assert_int_equal(ws.batches, 2);
    assert_int_equal(ws.max_batch, N);
    assert_int_equal(ws.jobs, N + 1);
    assert_int_equal(ws.failed_batches, 1);
    assert_string_equal(gate.thread, "writer");
    for (int i = 0; i < N; i++)
        assert_string_equal(jobs[i].thread, "writer-sync");
    for (int i = 0; i < N; i++) {
        assert_int_equal(answered(fx, &jobs[i]), 1);
        assert_int_equal(jobs[i].job.status, 0);
        assert_int_equal(jobs[i].job.applied.outcome, OUTCOME_APPLIED);
    }
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM payments WHERE no_order GLOB 'W-*' "
                                    "AND result_pay = 'SUCCESS'"),
                     N);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM payment_events"), N);
}

/* A job that breaks a CHECK (its no_order has a space) fails its batch; each job of the batch is
 * then retried alone: the others commit, it alone is answered -1. */
static void test_own_error_retried_alone(void **state)
{
    struct fx *fx = *state;
    struct tjob gate, jobs[5];
    struct writer_stats ws;
    const char *names[] = {"R-0", "R-1", "R BAD", "R-3", "R-4"};

    close_gate(fx, &gate);
    for (int i = 0; i < 5; i++) {
        apply_job(fx, &jobs[i], names[i]);
        submit(fx, &jobs[i]);
    }
    open_gate(fx);
    wait_answered(fx, 6);

    for (int i = 0; i < 5; i++) {
        assert_int_equal(answered(fx, &jobs[i]), 1);
        assert_int_equal(jobs[i].job.status, i == 2 ? -1 : 0);
    }
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM payments WHERE no_order GLOB 'R-*'"), 4);
    assert_string_equal(col(fx, "R BAD", "result_pay"), "NOROW");
    writer_get_stats(fx->w, &ws);
    assert_int_equal(ws.failed_batches, 2); /* the gate's and theirs */
    assert_int_equal(ws.max_batch, 5);
}

/*
 * A storage fault (another connection holds the write lock: "busy") fails the batch, and no job
 * is retried: all five are answered -1, nothing is written, even though the lock is gone by the
 * time the first of them is answered (a retry alone would then have committed). The next message
 * commits, and the database is writable again.
 */
static void test_storage_fault_not_retried(void **state)
{
    struct fx *fx = *state;
    struct tjob gate, jobs[5], after;
    char why[160] = "";
    char name[16];

    close_gate(fx, &gate);
    raw_exec(fx, "BEGIN IMMEDIATE");
    pthread_mutex_lock(&fx->lock);
    fx->unlock_on_failure = true;
    pthread_mutex_unlock(&fx->lock);
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "F-%d", i);
        apply_job(fx, &jobs[i], name);
        submit(fx, &jobs[i]);
    }
    open_gate(fx);
    wait_answered(fx, 6);

    for (int i = 0; i < 5; i++) {
        assert_int_equal(answered(fx, &jobs[i]), 1);
        assert_int_equal(jobs[i].job.status, -1);
    }
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM payments WHERE no_order GLOB 'F-*'"), 0);
    assert_false(writer_writable(fx->w, why, sizeof(why)));
    printf("# during the fault: %s\n", why);
    assert_int_equal(strncmp(why, "busy", 4), 0);

    apply_job(fx, &after, "F-after");
    submit(fx, &after);
    wait_answered(fx, 7);
    assert_int_equal(after.job.status, 0);
    assert_string_equal(col(fx, "F-after", "result_pay"), "SUCCESS");
    assert_true(writer_writable(fx->w, why, sizeof(why)));
}

/* writer_stop commits and answers everything queued; a job submitted after it is refused and
 * never answered. */
static void test_stop_answers_queued_refuses_later(void **state)
{
    struct fx *fx = *state;
    enum { N = 20 };
    struct tjob jobs[N], late;
    char name[16];

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "S-%d", i);
        apply_job(fx, &jobs[i], name);
        submit(fx, &jobs[i]);
    }
    writer_stop(fx->w);
    for (int i = 0; i < N; i++) {
        assert_int_equal(answered(fx, &jobs[i]), 1);
        assert_int_equal(jobs[i].job.status, 0);
    }
    apply_job(fx, &late, "S-late");
    assert_int_equal(writer_submit(fx->w, &late.job), -1);
    assert_int_equal(answered(fx, &late), 0);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM payments WHERE no_order GLOB 'S-*'"), N);
    assert_string_equal(col(fx, "S-late", "no_order"), "NOROW");
}

/* ---- each kind of job ---------------------------------------------------------------------- */

/* Registers no_order at T0 with next_query_at = T0 + the window, as lianpayctl register does. */
static void registered(struct fx *fx, const char *no_order)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO payments (no_order, money_order, dt_order, registered_at, updated_at, "
             "next_query_at) VALUES ('%s', '10.00', '20261122083000', "
             "'2026-11-22T08:30:00.000Z', '2026-11-22T08:30:00.000Z', "
             "'2026-11-22T09:06:00.000Z')",
             no_order);
    raw_exec(fx, sql);
}

/* Runs one query outcome job: the answer (a copy of a notification job's result turned into a
 * query answer of result_pay, or none) and the action. */
static int run_outcome(struct fx *fx, const char *no_order, enum result_pay result,
                       const struct attempt_action *act, struct store_applied *applied)
{
    struct tjob answer, t;

    apply_job(fx, &answer, no_order);
    answer.r.result_pay = result;
    if (!state_is_final(result))
        answer.r.settle_date[0] = '\0';
    answer.job.in.apply.source = PAYRESULT_QUERY;
    answer.job.in.apply.remote_addr = "";
    memset(&t, 0, sizeof(t));
    t.fx = fx;
    t.job.kind = WRITER_QUERY_OUTCOME;
    t.job.in.query = (struct store_query_outcome){
        .no_order = no_order,
        .answer = act->record ? &answer.job.in.apply : NULL,
        .action = act,
    };
    t.job.done = job_done;
    t.job.ctx = &t;
    pthread_mutex_lock(&fx->lock);
    int before = fx->answered;
    pthread_mutex_unlock(&fx->lock);
    submit(fx, &t);
    wait_answered(fx, before + 1);
    assert_int_equal(answered(fx, &t), 1);
    *applied = t.job.applied;
    return t.job.status;
}

static const char *const row_cols =
    "coalesce(result_pay, '-') || ' q' || query_count || ' next ' || coalesce(next_query_at, '-') "
    "|| ' review ' || needs_review || ' ' || coalesce(review_reason, '-')";

static const char *row(struct fx *fx, const char *no_order)
{
    return col(fx, no_order, row_cols);
}

static long long events_of(struct fx *fx, const char *no_order)
{
    return atoll(q_text(fx, "SELECT count(*) FROM payment_events WHERE no_order = '%s'", no_order));
}

/*
 * Each action of a query attempt on a registered order, as the rows show it: a pending answer
 * recorded then rescheduled (and counted) or given up on (flagged, no longer scheduled, not
 * counted); a final one recorded and counted; no usable answer: only the next query time and
 * the count, or only the flag. Only recorded answers are journalled.
 */
static void test_outcome_rows(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *no_order;
        enum result_pay answer;
        struct attempt_action act;
        const char *row;
        long long events;
    } rows[] = {
        {"O-1",
         RESULT_PROCESSING,
         {true, ATTEMPT_RETRY, T0 + 46 * MIN, ""},
         "PROCESSING q1 next 2026-11-22T09:16:00.000Z review 0 -",
         1},
        {"O-2",
         RESULT_WAITING,
         {true, ATTEMPT_GIVE_UP, 0, "gave up; last query answer: WAITING"},
         "WAITING q0 next - review 1 gave up; last query answer: WAITING",
         1},
        {"O-3", RESULT_SUCCESS, {true, ATTEMPT_DONE, 0, ""}, "SUCCESS q1 next - review 0 -", 1},
        {"O-4",
         RESULT_NONE,
         {false, ATTEMPT_RETRY, T0 + 46 * MIN, ""},
         "- q1 next 2026-11-22T09:16:00.000Z review 0 -",
         0},
        {"O-5",
         RESULT_NONE,
         {false, ATTEMPT_GIVE_UP, 0, "gave up; last query answer: 8901"},
         "- q0 next - review 1 gave up; last query answer: 8901",
         0},
    };
    struct store_applied applied;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        registered(fx, rows[i].no_order);
        assert_int_equal(run_outcome(fx, rows[i].no_order, rows[i].answer, &rows[i].act, &applied),
                         0);
        assert_string_equal(row(fx, rows[i].no_order), rows[i].row);
        assert_int_equal(events_of(fx, rows[i].no_order), rows[i].events);
        assert_int_equal(applied.outcome, OUTCOME_APPLIED);
        assert_int_equal(applied.flagged, 0);
        if (rows[i].events > 0)
            assert_string_equal(col(fx, rows[i].no_order, "source"), "query");
        assert_string_equal(
            q_text(fx, "SELECT count(*) FROM review_queue WHERE no_order = '%s'", rows[i].no_order),
            rows[i].act.next == ATTEMPT_GIVE_UP ? "1" : "0");
    }
}

/* When recording fails (a value the CHECKs refuse), the give-up after it is not kept either: one
 * transaction, nothing of it written. */
static void test_outcome_is_one_transaction(void **state)
{
    struct fx *fx = *state;
    struct attempt_action act = {.record = true, .next = ATTEMPT_GIVE_UP};
    struct tjob answer, t;

    registered(fx, "O-5");
    snprintf(act.reason, sizeof(act.reason), "given up");
    apply_job(fx, &answer, "O-5");
    answer.r.result_pay = RESULT_PROCESSING;
    snprintf(answer.r.settle_date, sizeof(answer.r.settle_date), "2026"); /* 8 digits or NULL */
    answer.job.in.apply.source = PAYRESULT_QUERY;
    memset(&t, 0, sizeof(t));
    t.fx = fx;
    t.job.kind = WRITER_QUERY_OUTCOME;
    t.job.in.query = (struct store_query_outcome){
        .no_order = "O-5", .answer = &answer.job.in.apply, .action = &act};
    t.job.done = job_done;
    t.job.ctx = &t;
    submit(fx, &t);
    wait_answered(fx, 1);
    assert_int_equal(t.job.status, -1);
    assert_string_equal(row(fx, "O-5"), "- q0 next 2026-11-22T09:06:00.000Z review 0 -");
    assert_int_equal(events_of(fx, "O-5"), 0);
}

/* The reconciler's two other jobs: scheduling orders inserted with plain SQL, and flagging rows
 * that cannot be queried as stored, at the job's now_ms. */
static void test_schedule_new_and_flag_unqueryable(void **state)
{
    struct fx *fx = *state;
    struct tjob t;

    raw_exec(fx, "INSERT INTO payments (no_order, money_order, dt_order, registered_at) VALUES "
                 "('N-1', '10.00', '20261122083000', '2026-11-22T08:30:00.000Z')");
    memset(&t, 0, sizeof(t));
    t.fx = fx;
    t.job.kind = WRITER_SCHEDULE_NEW;
    t.job.done = job_done;
    t.job.ctx = &t;
    submit(fx, &t);
    wait_answered(fx, 1);
    assert_int_equal(t.job.status, 0);
    assert_string_equal(col(fx, "N-1", "next_query_at"), "2026-11-22T09:06:00.000Z");

    raw_exec(fx, "PRAGMA ignore_check_constraints = 1");
    raw_exec(fx, "INSERT INTO payments (no_order, money_order, dt_order, registered_at, "
                 "updated_at, next_query_at) VALUES ('U 1', '10.00', '20261122083000', "
                 "'2026-11-22T08:30:00.000Z', '2026-11-22T08:30:00.000Z', "
                 "'2026-11-22T09:06:00.000Z')");
    raw_exec(fx, "PRAGMA ignore_check_constraints = 0");
    memset(&t, 0, sizeof(t));
    t.fx = fx;
    t.job.kind = WRITER_FLAG_UNQUERYABLE;
    t.job.in.now_ms = T0 + 35 * MIN; /* before it is due: nothing */
    t.job.done = job_done;
    t.job.ctx = &t;
    submit(fx, &t);
    wait_answered(fx, 2);
    assert_int_equal(t.job.status, 0);
    assert_string_equal(col(fx, "U 1", "needs_review"), "0");
    t.job.in.now_ms = T0 + 36 * MIN;
    submit(fx, &t);
    wait_answered(fx, 3);
    assert_int_equal(t.job.status, 0);
    assert_string_equal(col(fx, "U 1", "needs_review || ' ' || review_reason"),
                        "1 cannot be queried: no_order is not an order number LianLian accepts");
    assert_string_equal(col(fx, "N-1", "needs_review"), "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_own_error_retried_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_fault_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_answers_queued_refuses_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outcome_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outcome_is_one_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schedule_new_and_flag_unqueryable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
