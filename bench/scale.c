/*
 * bench-scale: the big database of the scale test, and the reconciler's due-order selection
 * measured on it.
 *
 *   bench-scale build [--pending M] [--final F] DBFILE
 *       M pending orders (registered, last query answered PROCESSING, one query event each,
 *       next_query_at spread from 2 hours before BENCH_T0 to 2 hours after it) and F final
 *       orders (SUCCESS, three events each: a PROCESSING query answer, the SUCCESS notification
 *       and the SUCCESS query answer). The defaults, 1,000,000 and 3,000,000, make 4 million
 *       orders and 10 million events, with bodies of the size LianLian's messages have.
 *   bench-scale due [--calls N] DBFILE
 *       store_due(BENCH_T0, 32) on a read connection, as the reconciler calls it: the first call
 *       and then N more; prints milliseconds per call (first, median, p99, max).
 *
 * The schema is the daemon's own: the file is created with store_open (migrations), then filled
 * through one plain SQLite connection in one transaction with the journal off, synchronous off
 * and the CHECK constraints not evaluated (the rows are generated here, valid by construction),
 * and finally put back in WAL mode. Pending orders "P%09u" are those bench-gen --pending makes
 * notifications for.
 */
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "timeutil.h"
#include "orders.h"

#define BENCH_T0  1795336200000LL /* 2026-11-22T08:30:00.000Z */
#define HOUR_MS   3600000LL
#define DUE_BATCH 32 /* what reconcile.c asks for */

static const char payment_sql[] =
    "INSERT INTO payments (no_order, oid_partner, money_order, amount_fen, dt_order, oid_paybill,"
    " result_pay, settle_date, info_order, source, registered_at, first_notified_at, updated_at,"
    " final_at, notify_count, query_count, next_query_at, needs_review)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0)";
static const char event_sql[] =
    "INSERT INTO payment_events (no_order, source, result_pay, money_order, oid_paybill,"
    " settle_date, info_order, outcome, body, received_at, remote_addr, seen_count)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1)";

struct builder {
    sqlite3 *db;
    sqlite3_stmt *payment, *event;
};

/* An order's fixed fields. */
struct order {
    char no[33], money[24], paybill[33], info[64];
    int64_t fen;
};

static int check(sqlite3 *db, int rc, const char *what)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    fprintf(stderr, "bench-scale: %s: %s\n", what, sqlite3_errmsg(db));
    return -1;
}

static int exec(sqlite3 *db, const char *sql)
{
    return check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql);
}

static void bind(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

static void order_fields(struct order *o, char kind, uint64_t n)
{
    snprintf(o->no, sizeof(o->no), "%c%09" PRIu64, kind, n);
    bench_money(n, o->money);
    o->fen = bench_amount_fen(n);
    snprintf(o->paybill, sizeof(o->paybill), "2026112100%08" PRIu64, n % 100000000u);
    snprintf(o->info, sizeof(o->info), "代付 %s", o->no);
}

/* A body of the size and shape of a signed message; the signature is filler. */
static void body_text(const struct order *o, const char *result, char *out, size_t len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char sig[173];
    uint64_t x = (uint64_t)o->fen * 6364136223846793005u + 1442695040888963407u;

    for (int i = 0; i < 172; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        sig[i] = b64[(x >> 58) & 63];
    }
    sig[171] = '=';
    sig[172] = '\0';
    snprintf(out, len,
             "{\"oid_partner\":\"%s\",\"no_order\":\"%s\",\"dt_order\":\"%s\",\"money_order\":"
             "\"%s\",\"oid_paybill\":\"%s\",\"result_pay\":\"%s\",\"settle_date\":\"%s\","
             "\"info_order\":\"%s\",\"sign_type\":\"RSA\",\"sign\":\"%s\"}",
             BENCH_OID_PARTNER, o->no, BENCH_DT_ORDER, o->money, o->paybill, result,
             BENCH_SETTLE_DATE, o->info, sig);
}

static int add_event(struct builder *b, const struct order *o, const char *source,
                     const char *result, const char *outcome, const char *at)
{
    char body[1024];
    sqlite3_stmt *s = b->event;

    body_text(o, result, body, sizeof(body));
    bind(s, 1, o->no);
    bind(s, 2, source);
    bind(s, 3, result);
    bind(s, 4, o->money);
    bind(s, 5, o->paybill);
    bind(s, 6, strcmp(result, "SUCCESS") == 0 ? BENCH_SETTLE_DATE : NULL);
    bind(s, 7, o->info);
    bind(s, 8, outcome);
    bind(s, 9, body);
    bind(s, 10, at);
    bind(s, 11, strcmp(source, "notify") == 0 ? "127.0.0.1" : NULL);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return check(b->db, rc, "insert event");
}

/* One order row; pending orders get next_query_at, final ones final_at. */
static int add_payment(struct builder *b, const struct order *o, bool final, int64_t registered,
                       int64_t next)
{
    char reg[TIME_ISO_LEN], upd[TIME_ISO_LEN], nxt[TIME_ISO_LEN];
    sqlite3_stmt *s = b->payment;

    time_iso(registered, reg);
    time_iso(registered + HOUR_MS, upd);
    time_iso(next, nxt);
    bind(s, 1, o->no);
    bind(s, 2, BENCH_OID_PARTNER);
    bind(s, 3, o->money);
    sqlite3_bind_int64(s, 4, o->fen);
    bind(s, 5, BENCH_DT_ORDER);
    bind(s, 6, o->paybill);
    bind(s, 7, final ? "SUCCESS" : "PROCESSING");
    bind(s, 8, final ? BENCH_SETTLE_DATE : NULL);
    bind(s, 9, o->info);
    bind(s, 10, final ? "notify" : "query");
    bind(s, 11, reg);
    bind(s, 12, final ? upd : NULL);
    bind(s, 13, upd);
    bind(s, 14, final ? upd : NULL);
    sqlite3_bind_int(s, 15, final ? 1 : 0);
    sqlite3_bind_int(s, 16, final ? 2 : 1);
    bind(s, 17, final ? NULL : nxt);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return check(b->db, rc, "insert payment");
}

static int add_orders(struct builder *b, char kind, uint64_t count)
{
    bool final = kind == 'F';
    uint64_t x = 88172645463325252u;
    struct order o;
    char at[TIME_ISO_LEN];

    for (uint64_t n = 0; n < count; n++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Registered up to 3 days before T0; pending ones due from 2 h before to 2 h after. */
        int64_t registered = BENCH_T0 - 3 * 24 * HOUR_MS + (int64_t)(x % (3 * 24 * HOUR_MS));
        int64_t next = BENCH_T0 - 2 * HOUR_MS + (int64_t)((x >> 20) % (4 * HOUR_MS));
        order_fields(&o, kind, n);
        if (add_payment(b, &o, final, registered, next) < 0)
            return -1;
        time_iso(registered + HOUR_MS / 2, at);
        if (add_event(b, &o, "query", "PROCESSING", "applied", at) < 0)
            return -1;
        if (final) {
            time_iso(registered + HOUR_MS, at);
            if (add_event(b, &o, "notify", "SUCCESS", "applied", at) < 0)
                return -1;
            time_iso(registered + 2 * HOUR_MS, at);
            if (add_event(b, &o, "query", "SUCCESS", "duplicate", at) < 0)
                return -1;
        }
        if ((n + 1) % 500000 == 0)
            fprintf(stderr, "bench-scale: %c %" PRIu64 "/%" PRIu64 "\n", kind, n + 1, count);
    }
    return 0;
}

static int build(const char *path, uint64_t pending, uint64_t final)
{
    struct builder b = {0};
    char err[512];
    int ret = -1;

    struct store *st = store_open(path, STORE_WRITE, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "bench-scale: %s\n", err);
        return -1;
    }
    store_close(st);
    if (check(NULL, sqlite3_open(path, &b.db), path) < 0)
        goto out;
    if (exec(b.db, "PRAGMA journal_mode=OFF") < 0 || exec(b.db, "PRAGMA synchronous=OFF") < 0 ||
        exec(b.db, "PRAGMA cache_size=-262144") < 0 ||
        exec(b.db, "PRAGMA ignore_check_constraints=ON") < 0 ||
        exec(b.db, "PRAGMA locking_mode=EXCLUSIVE") < 0 || exec(b.db, "BEGIN") < 0)
        goto out;
    if (check(b.db, sqlite3_prepare_v2(b.db, payment_sql, -1, &b.payment, NULL), "prepare") < 0 ||
        check(b.db, sqlite3_prepare_v2(b.db, event_sql, -1, &b.event, NULL), "prepare") < 0)
        goto out;
    /* "F..." sorts before "P...": both go in key order, so every B-tree only grows at its end. */
    if (add_orders(&b, 'F', final) < 0 || add_orders(&b, 'P', pending) < 0)
        goto out;
    if (exec(b.db, "COMMIT") < 0 || exec(b.db, "PRAGMA locking_mode=NORMAL") < 0 ||
        exec(b.db, "PRAGMA journal_mode=WAL") < 0)
        goto out;
    ret = 0;
out:
    sqlite3_finalize(b.payment);
    sqlite3_finalize(b.event);
    sqlite3_close(b.db);
    return ret;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int due(const char *path, int calls)
{
    struct store_due out[DUE_BATCH];
    char err[512];
    double *t = calloc((size_t)calls, sizeof(*t));
    int n = 0, ret = -1;

    struct store *st = store_open(path, STORE_READ, err, sizeof(err));
    if (st == NULL || t == NULL) {
        fprintf(stderr, "bench-scale: %s\n", st == NULL ? err : "out of memory");
        goto out;
    }
    double t0 = now_ms();
    n = store_due(st, BENCH_T0, out, DUE_BATCH);
    double first = now_ms() - t0;
    for (int i = 0; i < calls && n >= 0; i++) {
        t0 = now_ms();
        n = store_due(st, BENCH_T0, out, DUE_BATCH);
        t[i] = now_ms() - t0;
    }
    if (n < 0) {
        fprintf(stderr, "bench-scale: store_due: %s\n", store_errmsg(st));
        goto out;
    }
    qsort(t, (size_t)calls, sizeof(*t), cmp_double);
    printf("due_found=%d due_ms_first=%.3f due_ms_p50=%.3f due_ms_p99=%.3f due_ms_max=%.3f "
           "calls=%d\n",
           n, first, t[calls / 2], t[calls * 99 / 100], t[calls - 1], calls);
    ret = 0;
out:
    store_close(st);
    free(t);
    return ret;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pending", required_argument, NULL, 'P'},
        {"final", required_argument, NULL, 'F'},
        {"calls", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    uint64_t pending = 1000000, final = 3000000;
    int calls = 1000, c;

    while ((c = getopt_long(argc, argv, "+P:F:n:", longopts, NULL)) != -1) {
        if (c == 'P')
            pending = strtoull(optarg, NULL, 10);
        else if (c == 'F')
            final = strtoull(optarg, NULL, 10);
        else if (c == 'n')
            calls = atoi(optarg);
        else
            goto usage;
    }
    if (argc - optind == 2 && strcmp(argv[optind], "build") == 0)
        return build(argv[optind + 1], pending, final) < 0;
    if (argc - optind == 2 && strcmp(argv[optind], "due") == 0 && calls > 0)
        return due(argv[optind + 1], calls) < 0;
usage:
    fprintf(stderr, "usage: bench-scale [--pending M] [--final F] build DBFILE\n"
                    "       bench-scale [--calls N] due DBFILE\n");
    return 2;
}
