/*
 * bench-apply: the writer's work alone, without HTTP or signatures: store_apply of N
 * notifications in group-committed transactions of B messages (BEGIN IMMEDIATE ... COMMIT with
 * synchronous=FULL, as the writer thread does), on a new or existing database. Prints the
 * messages per second and the CPU time per message, which bound what the daemon's single writer
 * thread can do. Used to profile store.c (perf record bench-apply ...).
 *
 * With --reader, a second thread keeps a read connection open and asks for due orders every
 * second, as the daemon's reconciler does: SQLite then runs in two threads, which changes how the
 * C library's heap behaves under the writer (see configure_sqlite in store.c).
 *
 * With --deferred, the daemon's writer as it is now (src/writer.c, DESIGN): COMMIT with
 * synchronous=NORMAL, and a second thread fdatasyncs the -wal after each commit while the next
 * batch runs (one fdatasync covering every commit made during the previous one). The CPU time
 * printed is the writer thread's alone; the last commit's sync is waited for before the end.
 *
 * Usage: bench-apply [--batch B] [--count N] [--pending M --start S] [--reader] [--deferred]
 *        DBFILE
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "store.h"
#include "timeutil.h"
#include "orders.h"

#define BODY_PAD 300 /* about what a signed notification adds to the fields (the signature) */

struct options {
    uint64_t count, batch, pending, start;
    bool reader, deferred;
    const char *path;
};

static atomic_bool finished;

/* --deferred: commits made and commits synced, under sync_lock. */
static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_cond = PTHREAD_COND_INITIALIZER;
static uint64_t commits, synced, syncs;
static struct store_wal *wal;

static void *sync_main(void *arg)
{
    char err[256];

    (void)arg;
    pthread_mutex_lock(&sync_lock);
    for (;;) {
        while (synced == commits && !atomic_load(&finished))
            pthread_cond_wait(&sync_cond, &sync_lock);
        if (synced == commits)
            break;
        uint64_t upto = commits;
        pthread_mutex_unlock(&sync_lock);
        if (store_wal_sync(wal, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench-apply: %s\n", err);
            exit(1);
        }
        pthread_mutex_lock(&sync_lock);
        synced = upto;
        syncs++;
        pthread_cond_broadcast(&sync_cond);
    }
    pthread_mutex_unlock(&sync_lock);
    return NULL;
}

static void committed(void)
{
    pthread_mutex_lock(&sync_lock);
    commits++;
    pthread_cond_broadcast(&sync_cond);
    pthread_mutex_unlock(&sync_lock);
}

/* The reconciler's pattern: its own read connection, a due-order query now and then. */
static void *reader_main(void *arg)
{
    const struct options *opt = arg;
    struct store_due due[32];
    char err[512];
    struct store *st = store_open(opt->path, STORE_READ, err, sizeof(err));

    if (st == NULL) {
        fprintf(stderr, "bench-apply: reader: %s\n", err);
        return NULL;
    }
    while (!atomic_load(&finished)) {
        (void)store_due(st, time_now_ms(), due, 32);
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    store_close(st);
    return NULL;
}

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_result(const struct options *opt, uint64_t i, struct payresult *r, char *body,
                        size_t bodylen)
{
    uint64_t n = opt->pending > 0 ? bench_scatter(i, opt->pending) : i;

    memset(r, 0, sizeof(*r));
    snprintf(r->oid_partner, sizeof(r->oid_partner), "%s", BENCH_OID_PARTNER);
    if (opt->pending > 0)
        bench_pending_no(n, r->no_order);
    else
        snprintf(r->no_order, sizeof(r->no_order), "A%" PRIu64, i);
    snprintf(r->dt_order, sizeof(r->dt_order), "%s", BENCH_DT_ORDER);
    bench_money(n, r->money_order);
    r->amount_fen = bench_amount_fen(n);
    snprintf(r->oid_paybill, sizeof(r->oid_paybill), "2026112200%08" PRIu64, i % 100000000u);
    r->result_pay = RESULT_SUCCESS;
    snprintf(r->settle_date, sizeof(r->settle_date), "%s", BENCH_SETTLE_DATE);
    snprintf(r->info_order, sizeof(r->info_order), "代付 %s", r->no_order);
    snprintf(body, bodylen, "{\"no_order\":\"%s\",\"money_order\":\"%s\",\"sign\":\"%0*d\"}",
             r->no_order, r->money_order, BODY_PAD, 0);
    /* The HTTP thread computes the signed content's digest (payresult_from_msg); here any
     * distinct 32 bytes per message do. */
    memset(r->signed_sha256, 0xa5, sizeof(r->signed_sha256));
    memcpy(r->signed_sha256, &i, sizeof(i));
}

static int parse_args(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'b'},
        {"pending", required_argument, NULL, 'P'},
        {"start", required_argument, NULL, 's'},
        {"reader", no_argument, NULL, 'R'},
        {"deferred", no_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *opt = (struct options){.count = 200000, .batch = 64};
    while ((c = getopt_long(argc, argv, "n:b:P:s:RD", longopts, NULL)) != -1) {
        if (c == 'R' || c == 'D') {
            *(c == 'R' ? &opt->reader : &opt->deferred) = true;
            continue;
        }
        uint64_t v = strtoull(optarg, NULL, 10);
        if (c == 'n')
            opt->count = v;
        else if (c == 'b')
            opt->batch = v;
        else if (c == 'P')
            opt->pending = v;
        else if (c == 's')
            opt->start = v;
        else
            return -1;
    }
    if (argc - optind != 1 || opt->count == 0 || opt->batch == 0)
        return -1;
    opt->path = argv[optind];
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Batch durations (BEGIN to the end of COMMIT): what a message waits for once its batch has
 * started. Checkpoints show up here. */
static void report_batches(double *t, size_t n)
{
    if (n == 0)
        return;
    qsort(t, n, sizeof(*t), cmp_double);
    printf("batches=%zu batch_ms_p50=%.3f batch_ms_p99=%.3f batch_ms_p999=%.3f batch_ms_max=%.3f\n",
           n, t[n / 2] * 1e3, t[n * 99 / 100] * 1e3, t[n * 999 / 1000] * 1e3, t[n - 1] * 1e3);
}

static int run(struct store *st, const struct options *opt)
{
    char body[1024], now[TIME_ISO_LEN];
    struct payresult r;
    struct store_applied applied;
    uint64_t i = 0;
    size_t nb = 0;
    double *bt = malloc(sizeof(double) * (size_t)(opt->count / opt->batch + 1));

    if (bt == NULL)
        return -1;
    while (i < opt->count) {
        double t0 = seconds(CLOCK_MONOTONIC);
        if (store_begin(st) < 0) {
            free(bt);
            return -1;
        }
        time_iso(time_now_ms(), now);
        for (uint64_t k = 0; k < opt->batch && i < opt->count; k++, i++) {
            make_result(opt, opt->start + i, &r, body, sizeof(body));
            struct store_input in = {
                .r = &r,
                .source = PAYRESULT_NOTIFY,
                .body = body,
                .body_len = strlen(body),
                .remote_addr = "127.0.0.1",
                .received_at = now,
            };
            if (store_apply(st, &in, &applied) < 0 || applied.outcome != OUTCOME_APPLIED ||
                applied.redelivery) {
                fprintf(stderr, "bench-apply: message %" PRIu64 " not applied: %s\n", i,
                        store_errmsg(st));
                free(bt);
                return -1;
            }
        }
        if (store_commit(st) < 0) {
            free(bt);
            return -1;
        }
        bt[nb++] = seconds(CLOCK_MONOTONIC) - t0;
        if (opt->deferred)
            committed();
    }
    report_batches(bt, nb);
    free(bt);
    return 0;
}

int main(int argc, char **argv)
{
    struct options opt;
    char err[512];

    if (parse_args(argc, argv, &opt) < 0) {
        fprintf(stderr,
                "usage: bench-apply [--batch B] [--count N] [--pending M --start S] [--reader] "
                "[--deferred] DB\n");
        return 2;
    }
    struct store *st = store_open(opt.path, STORE_WRITE, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "bench-apply: %s\n", err);
        return 1;
    }
    pthread_t reader, syncer;
    if (opt.reader && pthread_create(&reader, NULL, reader_main, &opt) != 0)
        opt.reader = false;
    if (opt.deferred) {
        wal = store_defer_sync(st, err, sizeof(err));
        if (wal == NULL || pthread_create(&syncer, NULL, sync_main, NULL) != 0) {
            fprintf(stderr, "bench-apply: %s\n",
                    wal == NULL ? err : "cannot start the sync thread");
            return 1;
        }
    }
    double t0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
    int rc = run(st, &opt);
    double c1 = seconds(CLOCK_THREAD_CPUTIME_ID);
    if (opt.deferred) {
        pthread_mutex_lock(&sync_lock);
        atomic_store(&finished, true);
        pthread_cond_broadcast(&sync_cond);
        pthread_mutex_unlock(&sync_lock);
        pthread_join(syncer, NULL);
        printf("commits=%" PRIu64 " fdatasyncs=%" PRIu64 "\n", commits, syncs);
    }
    double t1 = seconds(CLOCK_MONOTONIC);
    atomic_store(&finished, true);
    if (opt.reader)
        pthread_join(reader, NULL);
    if (rc < 0)
        fprintf(stderr, "bench-apply: %s\n", store_errmsg(st));
    else
        printf("messages=%" PRIu64 " batch=%" PRIu64 " rate=%.0f/s cpu_us_per_message=%.2f "
               "wall_us_per_message=%.2f\n",
               opt.count, opt.batch, (double)opt.count / (t1 - t0),
               (c1 - c0) * 1e6 / (double)opt.count, (t1 - t0) * 1e6 / (double)opt.count);
    store_wal_close(wal);
    store_close(st);
    return rc < 0 ? 1 : 0;
}
