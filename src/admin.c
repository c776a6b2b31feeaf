/*
 * The admin listener: /livez, /readyz, /metrics (admin.h says what each means).
 *
 * One libmicrohttpd thread serves every request in turn, so its read-only database connection
 * (opened on first use, for the pending-order gauges) is only ever used by that thread. The
 * figures come from the other modules' atomics and getters; the only lock here guards the main
 * loop's liveness verdict. Nothing served here names an order: no order number in a label, a
 * body or a log line, whoever asks. Its connections are limited and given a deadline by
 * listener.c like the notification endpoint's, so that a few slow clients cannot silence it.
 */
#include "admin.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <malloc.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include "httpd.h"
#include "keyring.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "mhd.h"
#include "query.h"
#include "reconcile.h"
#include "state.h"
#include "store.h"
#include "store_submit.h"
#include "submit.h"
#include "timeutil.h"
#include "writer.h"

#include "lianpay-config.h"

/* The pending gauges are a query; scrapes closer together than this share one. */
#define PENDING_CACHE_MS 2000
#define METRICS_TYPE     "text/plain; version=0.0.4; charset=utf-8"

struct admin {
    struct admin_options opt;
    struct admin_sources src;
    struct MHD_Daemon *mhd;
    struct listener *listener;
    uint16_t port;
    double start_time; /* Unix seconds */

    pthread_mutex_t lock; /* the verdict below */
    bool live;
    char live_why[160];
    int64_t live_at; /* monotonic ms of the verdict */
    int64_t live_stale_ms;

    atomic_ullong reloads_ok, reloads_failed;

    /* The admin thread's own. */
    struct store *store;
    struct store_pending pending;
    int64_t pending_at; /* monotonic ms; 0: never */
    bool pending_ok;
    /* From the database, refreshed with the pending gauges. The latest journalled notification
     * and query answer are read once, so that the gauges survive a restart; from then on the
     * live counters move them. */
    bool history_read;
    int64_t stored_notify_ms, stored_query_ms; /* Unix ms; 0: none */
    int backup_state;                          /* store_last_backup's return */
    int64_t backup_ms;
    bool cert_ok;
    int64_t cert_expiry_s; /* notAfter of server.tls_cert, Unix seconds */
};

/* ---- checks ------------------------------------------------------------------------------ */

/* The main loop's verdict, or false when it is missing or too old. */
static bool is_live(struct admin *a, char *why, size_t len)
{
    pthread_mutex_lock(&a->lock);
    bool live = a->live;
    int64_t age = time_mono_ms() - a->live_at;
    if (a->live_at == 0)
        snprintf(why, len, "not checked yet");
    else if (age > a->live_stale_ms) {
        live = false;
        snprintf(why, len, "no liveness check for %lld s", (long long)(age / 1000));
    } else if (!live)
        snprintf(why, len, "%s", a->live_why);
    pthread_mutex_unlock(&a->lock);
    return live && a->live_at != 0;
}

/* "stalled for N s" when the heartbeat is older than limit_ms. */
static bool heartbeat_ok(int64_t beat, int64_t limit_ms, char *why, size_t len)
{
    int64_t age = time_mono_ms() - beat;
    if (age <= limit_ms)
        return true;
    snprintf(why, len, "stalled for %lld s", (long long)(age / 1000));
    return false;
}

/* The notification listener is not full (overload, not a hang: /livez still holds). */
static bool connections_ok(struct admin *a, char *why, size_t len)
{
    struct listener *l = httpd_listener(a->src.httpd);
    struct listener_stats st;

    if (!listener_saturated(l, LISTENER_SATURATION_WINDOW_MS))
        return true;
    listener_get_stats(l, &st);
    snprintf(why, len, "saturated: %u of %u connections in use, new ones refused", st.connections,
             st.max_connections);
    return false;
}

/* Adds one check to the JSON object; returns ok. */
static bool check(cJSON *checks, const char *name, bool ok, const char *why)
{
    cJSON_AddStringToObject(checks, name, ok ? "ok" : why);
    return ok;
}

/* The /readyz body; *ready says whether every check passed. NULL when out of memory. */
static char *readiness(struct admin *a, bool *ready)
{
    char why[256];
    cJSON *root = cJSON_CreateObject();
    cJSON *checks = cJSON_CreateObject();
    bool ok = true;
    char *text = NULL;

    if (root == NULL || checks == NULL) {
        cJSON_Delete(checks);
        goto out;
    }
    cJSON_AddItemToObject(root, "checks", checks);
    why[0] = '\0';
    ok &= check(checks, "database", writer_writable(a->src.writer, why, sizeof(why)), why);
    ok &= check(checks, "writer",
                heartbeat_ok(writer_heartbeat(a->src.writer), WRITER_STALL_MS, why, sizeof(why)),
                why);
    if (a->src.reconciler == NULL)
        cJSON_AddStringToObject(checks, "reconciler", "off");
    else
        ok &= check(checks, "reconciler",
                    heartbeat_ok(reconcile_heartbeat(a->src.reconciler), a->opt.reconciler_stall_ms,
                                 why, sizeof(why)),
                    why);
    if (a->src.submitter == NULL)
        cJSON_AddStringToObject(checks, "submitter", "off");
    else
        ok &= check(checks, "submitter",
                    heartbeat_ok(submit_heartbeat(a->src.submitter), a->opt.submitter_stall_ms, why,
                                 sizeof(why)),
                    why);
    ok &= check(checks, "live", is_live(a, why, sizeof(why)), why);
    ok &= check(checks, "connections", connections_ok(a, why, sizeof(why)), why);
    cJSON_AddBoolToObject(root, "ready", ok);
    text = cJSON_PrintUnformatted(root);
    *ready = ok;
out:
    cJSON_Delete(root);
    return text;
}

/* ---- metrics ----------------------------------------------------------------------------- */

/* notAfter of the first certificate in the PEM file path, in Unix seconds. Returns 0, or -1
 * (unreadable, not a certificate). */
static int certificate_expiry(const char *path, int64_t *out)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    const ASN1_TIME *t = x != NULL ? X509_get0_notAfter(x) : NULL;
    struct tm tm;
    int ret = -1;

    if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1) {
        *out = (int64_t)timegm(&tm);
        ret = 0;
    }
    X509_free(x);
    BIO_free(bio);
    return ret;
}

/* What /metrics reads from the database beside the pending gauges: the journal's latest times
 * (once), the last good backup. */
static void refresh_history(struct admin *a)
{
    if (!a->history_read) {
        int n = store_last_event(a->store, PAYRESULT_NOTIFY, &a->stored_notify_ms);
        int q = n >= 0 ? store_last_event(a->store, PAYRESULT_QUERY, &a->stored_query_ms) : -1;
        a->history_read = n >= 0 && q >= 0;
    }
    a->backup_state = store_last_backup(a->store, &a->backup_ms);
    if (!a->history_read || a->backup_state < 0)
        log_kv(LOG_LEVEL_WARNING, "metrics", "op", "history", "error", store_errmsg(a->store),
               NULL);
}

/* The pending-order gauges, from a query at most every PENDING_CACHE_MS. */
static bool pending(struct admin *a)
{
    char err[512];
    int64_t now = time_mono_ms();

    if (a->pending_at != 0 && now - a->pending_at < PENDING_CACHE_MS)
        return a->pending_ok;
    a->pending_at = now;
    if (a->opt.tls_cert != NULL)
        a->cert_ok = certificate_expiry(a->opt.tls_cert, &a->cert_expiry_s) == 0;
    if (a->store == NULL)
        a->store = store_open(a->opt.database_path, STORE_READ, err, sizeof(err));
    if (a->store == NULL) {
        log_kv(LOG_LEVEL_WARNING, "metrics", "error", err, NULL);
        a->pending_ok = false;
        return false;
    }
    a->pending_ok = store_pending(a->store, time_now_ms(), &a->pending) == 0;
    if (!a->pending_ok)
        log_kv(LOG_LEVEL_WARNING, "metrics", "op", "pending", "error", store_errmsg(a->store),
               NULL);
    refresh_history(a);
    return a->pending_ok;
}

static void labelled(struct metrics_text *t, const char *name, const char *key, const char *value,
                     uint64_t v)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "%s=\"%s\"", key, value);
    metrics_sample_u64(t, name, labels, v);
}

/* The later of two Unix ms times, in seconds. */
static double latest_s(int64_t a_ms, int64_t b_ms)
{
    return (double)(a_ms > b_ms ? a_ms : b_ms) / 1000.0;
}

static void render_http(struct admin *a, struct metrics_text *t)
{
    struct httpd_stats hs;

    httpd_get_stats(a->src.httpd, &hs);
    metrics_family(t, "lianpay_notifications_total", "counter",
                   "Authentic notifications by what they did to the order; failed: not stored "
                   "(answered 503, LianLian resends).");
    for (int o = OUTCOME_APPLIED; o <= OUTCOME_MISMATCH; o++)
        labelled(t, "lianpay_notifications_total", "outcome", state_outcome_name(o),
                 hs.outcomes[o]);
    labelled(t, "lianpay_notifications_total", "outcome", "failed", hs.failed);
    metrics_family(t, "lianpay_notification_results_total", "counter",
                   "Authentic notifications stored, by the result_pay they carried.");
    for (int r = RESULT_APPLY; r < HTTPD_RESULT_COUNT; r++)
        labelled(t, "lianpay_notification_results_total", "result", state_result_name(r),
                 hs.results[r]);
    metrics_gauge(t, "lianpay_last_notification_timestamp_seconds",
                  "When the latest notification was stored (Unix seconds; from the journal "
                  "at start); 0 when none ever was.",
                  latest_s(hs.last_stored_ms, a->stored_notify_ms));
    metrics_histogram_render(t, "lianpay_http_request_duration_seconds",
                             "Requests to notify_path, from their headers to their end.",
                             httpd_request_seconds(a->src.httpd));
    metrics_family(t, "lianpay_rejections_total", "counter",
                   "Requests refused before anything was stored, by reason.");
    for (int r = 0; r < HTTPD_REJECT_COUNT; r++)
        labelled(t, "lianpay_rejections_total", "reason", httpd_reject_name(r), hs.rejections[r]);
    metrics_gauge_u64(t, "lianpay_http_requests_in_flight",
                      "Notification requests received and not yet answered.",
                      httpd_in_flight(a->src.httpd));
    struct listener_stats ls;
    listener_get_stats(httpd_listener(a->src.httpd), &ls);
    metrics_gauge_u64(t, "lianpay_http_connections",
                      "Connections open to the notification listener (server.max_connections at "
                      "most).",
                      ls.connections);
    metrics_gauge_u64(t, "lianpay_http_max_connections", "server.max_connections.",
                      ls.max_connections);
}

static void render_queries(struct admin *a, struct metrics_text *t)
{
    struct reconcile_stats rs;

    memset(&rs, 0, sizeof(rs));
    if (a->src.reconciler != NULL)
        reconcile_get_stats(a->src.reconciler, &rs);
    metrics_family(t, "lianpay_queries_total", "counter",
                   "queryPayment attempts by the reconciler, by what the answer was.");
    for (int q = QUERY_RESULT; q <= QUERY_TRANSPORT; q++)
        labelled(t, "lianpay_queries_total", "result", query_status_name(q), rs.by_answer[q]);
    metrics_family(t, "lianpay_reconcile_gave_up_total", "counter",
                   "Orders flagged for review because no final result came within give_up_after.");
    metrics_sample_u64(t, "lianpay_reconcile_gave_up_total", NULL, rs.gave_up);
    if (a->src.reconciler == NULL)
        return;
    metrics_gauge(t, "lianpay_last_successful_query_timestamp_seconds",
                  "When a query's signed answer (a result or 8901) was last stored (Unix "
                  "seconds; from the journal's latest query result at start); 0: never.",
                  latest_s(rs.last_answer_ms, a->stored_query_ms));
}

static void render_writer(struct admin *a, struct metrics_text *t)
{
    struct writer_stats ws;

    writer_get_stats(a->src.writer, &ws);
    metrics_histogram_render(t, "lianpay_writer_batch_size",
                             "Messages per database transaction (group commit).",
                             writer_batch_sizes(a->src.writer));
    metrics_histogram_render(t, "lianpay_writer_commit_seconds",
                             "Time from BEGIN to the end of COMMIT of committed transactions.",
                             writer_commit_seconds(a->src.writer));
    metrics_family(t, "lianpay_writer_failed_transactions_total", "counter",
                   "Transactions rolled back (storage errors); their messages were not stored.");
    metrics_sample_u64(t, "lianpay_writer_failed_transactions_total", NULL, ws.failed_batches);
    metrics_family(t, "lianpay_storage_errors_total", "counter",
                   "Storage failures of the writer's transactions and checks, by kind.");
    for (int k = 0; k < STORE_ERR_COUNT; k++)
        labelled(t, "lianpay_storage_errors_total", "kind", store_err_name(k),
                 ws.storage_errors[k]);
    metrics_gauge(t, "lianpay_writer_heartbeat_age_seconds",
                  "Seconds since the older of the writer's loops (commits, WAL syncs) last turned.",
                  (double)(time_mono_ms() - writer_heartbeat(a->src.writer)) / 1000.0);
    char why[8];
    metrics_gauge_u64(t, "lianpay_database_writable",
                      "1 when the database took the writer's last transaction or lock check.",
                      writer_writable(a->src.writer, why, sizeof(why)) ? 1 : 0);
}

static void render_orders(struct admin *a, struct metrics_text *t)
{
    if (!pending(a))
        return; /* absent rather than a wrong zero */
    metrics_gauge_u64(t, "lianpay_pending_orders",
                      "Registered orders without a final result, not in review (pending_payments).",
                      (uint64_t)a->pending.count);
    metrics_gauge_u64(t, "lianpay_oldest_pending_age_seconds",
                      "Seconds since the oldest pending order was registered; 0 when none.",
                      (uint64_t)a->pending.oldest_age_s);
    metrics_gauge_u64(t, "lianpay_review_orders", "Orders waiting for a person (review_queue).",
                      (uint64_t)a->pending.review);
    metrics_gauge_u64(t, "lianpay_pending_warning_after_seconds",
                      "log.pending_warning_after: the age of the oldest pending order that is "
                      "overdue; 0: off.",
                      (uint64_t)a->opt.pending_warning_after);
    metrics_gauge_u64(t, "lianpay_reconcile_backlog_orders",
                      "Orders due for a query now but not yet asked.", (uint64_t)a->pending.due);
    if (a->backup_state == 1) {
        metrics_gauge(t, "lianpay_last_backup_timestamp_seconds",
                      "When the latest good backup finished (Unix seconds); 0: none yet.",
                      (double)a->backup_ms / 1000.0);
    }
}

/* The database file and its WAL (0 when there is none: checkpointed and removed). */
static void render_files(struct admin *a, struct metrics_text *t)
{
    char wal[4096];
    struct stat st;

    if (stat(a->opt.database_path, &st) == 0) {
        metrics_gauge_u64(t, "lianpay_database_size_bytes", "Size of the database file.",
                          (uint64_t)st.st_size);
    }
    snprintf(wal, sizeof(wal), "%s-wal", a->opt.database_path);
    metrics_gauge_u64(t, "lianpay_database_wal_size_bytes",
                      "Size of the write-ahead log; it grows while a long reader holds it back.",
                      stat(wal, &st) == 0 ? (uint64_t)st.st_size : 0);
    if (a->opt.tls_cert != NULL && a->cert_ok) {
        metrics_gauge(t, "lianpay_tls_certificate_expiry_timestamp_seconds",
                      "notAfter of server.tls_cert (Unix seconds).", (double)a->cert_expiry_s);
    }
}

/* Payouts (sql/0004) and the submit thread's attempts. */
static void render_payouts(struct admin *a, struct metrics_text *t)
{
    struct submit_stats ss;
    uint64_t counts[STORE_PAYOUT_STATES];
    struct store_payout_gauges g;

    memset(&ss, 0, sizeof(ss));
    if (a->src.submitter != NULL)
        submit_get_stats(a->src.submitter, &ss);
    metrics_family(t, "lianpay_submit_attempts_total", "counter",
                   "payment.htm requests by the submit thread, by the class of the answer.");
    for (int c = 0; c < PAYOUT_CLASS_COUNT; c++)
        labelled(t, "lianpay_submit_attempts_total", "class", payout_class_name(c), ss.by_class[c]);
    /* The same connection and cache as the pending-order gauges: absent when it failed. */
    if (!pending(a) || store_submit_counts(a->store, time_now_ms(), counts, &g) < 0)
        return;
    metrics_family(t, "lianpay_payouts", "gauge", "Payouts by state (payouts table).");
    for (int i = 0; i < STORE_PAYOUT_STATES; i++)
        labelled(t, "lianpay_payouts", "state", store_payout_state_names[i], counts[i]);
    metrics_family(t, "lianpay_oldest_queued_payout_age_seconds", "gauge",
                   "Seconds since the oldest queued payout was queued; 0 when none.");
    metrics_sample_u64(t, "lianpay_oldest_queued_payout_age_seconds", NULL,
                       (uint64_t)g.oldest_queued_age_s);
    metrics_family(t, "lianpay_oldest_unknown_payout_age_seconds", "gauge",
                   "Seconds since the oldest payout whose fate is unknown was sent; 0 when none.");
    metrics_sample_u64(t, "lianpay_oldest_unknown_payout_age_seconds", NULL,
                       (uint64_t)g.oldest_unknown_age_s);
    metrics_family(t, "lianpay_payouts_for_a_person", "gauge",
                   "Payouts waiting for a person's decision (payouts_for_a_person).");
    metrics_sample_u64(t, "lianpay_payouts_for_a_person", NULL, g.for_a_person);
}

static void render_service(struct admin *a, struct metrics_text *t)
{
    metrics_family(t, "lianpay_build_info", "gauge", "The running version; always 1.");
    metrics_sample_u64(t, "lianpay_build_info", "version=\"" LIANPAY_VERSION "\"", 1);
    metrics_gauge_u64(t, "lianpay_public_keys", "LianLian public keys trusted now.",
                      keyring_count(a->src.keys));
    metrics_family(t, "lianpay_reloads_total", "counter",
                   "SIGHUP reloads; failed ones kept the previous keys and log level.");
    labelled(t, "lianpay_reloads_total", "result", "ok", atomic_load(&a->reloads_ok));
    labelled(t, "lianpay_reloads_total", "result", "failed", atomic_load(&a->reloads_failed));
    char why[200];
    metrics_gauge_u64(t, "lianpay_live", "1 while /livez answers 200.",
                      is_live(a, why, sizeof(why)) ? 1 : 0);
    bool ready = false;
    char *body = readiness(a, &ready);
    if (body != NULL) {
        metrics_gauge_u64(t, "lianpay_ready", "1 while /readyz answers 200.", ready ? 1 : 0);
    }
    cJSON_free(body);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own descriptor */
}

/* The conventional process_* metrics, from what is cheap to read. */
static void render_process(struct admin *a, struct metrics_text *t)
{
    struct rusage ru;
    struct rlimit rl;
    long pages = 0, resident = 0;

    metrics_gauge(t, "process_start_time_seconds", "Start time, Unix seconds.", a->start_time);
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        metrics_family(t, "process_cpu_seconds_total", "counter", "User and system CPU time.");
        metrics_sample(t, "process_cpu_seconds_total", NULL,
                       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    }
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) == 2) {
            metrics_gauge_u64(t, "process_resident_memory_bytes", "Resident memory size.",
                              (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE));
        }
        fclose(f);
    }
    /* What the program holds, as opposed to what the allocator keeps resident: a leak shows
     * here first. mallinfo2 walks every arena under its lock: cheap for a scrape. Under another
     * allocator (a sanitizer build) it reports nothing, and so does this. */
    struct mallinfo2 mi = mallinfo2();
    if (mi.arena > 0) {
        metrics_gauge_u64(t, "lianpay_heap_in_use_bytes",
                          "Heap memory allocated and not yet freed (glibc mallinfo2).",
                          (uint64_t)(mi.uordblks + mi.hblkhd));
    }
    int fds = count_fds();
    if (fds >= 0) {
        metrics_gauge_u64(t, "process_open_fds", "Open file descriptors.", (uint64_t)fds);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        metrics_gauge_u64(t, "process_max_fds", "Limit on open file descriptors.",
                          (uint64_t)rl.rlim_cur);
    }
}

/* ---- HTTP -------------------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *type,
                                 const char *body, size_t len)
{
    /* The only 400 is a header name with whitespace before its colon ("Content-Length : 5"):
     * what follows may not be a request of its own. */
    const struct mhd_headers h = {
        .allow = "GET, HEAD",
        .no_store = true,
        .close = status == MHD_HTTP_BAD_REQUEST,
    };
    return mhd_send(conn, status, type, body, len, &h);
}

static enum MHD_Result serve_livez(struct admin *a, struct MHD_Connection *conn)
{
    char why[200], body[256];
    if (is_live(a, why, sizeof(why)))
        return send_text(conn, MHD_HTTP_OK, "text/plain", "ok\n", 3);
    int n = snprintf(body, sizeof(body), "not live: %s\n", why);
    return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", body, (size_t)n);
}

static enum MHD_Result serve_readyz(struct admin *a, struct MHD_Connection *conn)
{
    bool ready = false;
    char *body = readiness(a, &ready);
    if (body == NULL)
        return send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14);
    enum MHD_Result ret = send_text(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                                    "application/json", body, strlen(body));
    cJSON_free(body);
    return ret;
}

static enum MHD_Result serve_metrics(struct admin *a, struct MHD_Connection *conn)
{
    struct metrics_text t;
    enum MHD_Result ret;

    metrics_text_init(&t);
    (void)pending(a); /* the database's figures, which several families below use */
    render_service(a, &t);
    render_http(a, &t);
    render_queries(a, &t);
    render_writer(a, &t);
    render_orders(a, &t);
    render_files(a, &t);
    render_payouts(a, &t);
    render_process(a, &t);
    if (t.failed)
        ret = send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14);
    else
        ret = send_text(conn, MHD_HTTP_OK, METRICS_TYPE, t.data, t.len);
    metrics_text_finish(&t);
    return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct admin *a = cls;

    listener_request_received(conn);
    if (!listener_headers_ok(conn, MHD_HEADER_KIND))
        return send_text(conn, MHD_HTTP_BAD_REQUEST, "text/plain", "invalid header name\n", 20);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n",
                         19);
    /* A GET with a body: answer without reading it (libmicrohttpd discards it). */
    *upload_data_size = 0;
    if (listener_path_is(conn, version, "/livez"))
        return serve_livez(a, conn);
    if (listener_path_is(conn, version, "/readyz"))
        return serve_readyz(a, conn);
    if (listener_path_is(conn, version, "/metrics"))
        return serve_metrics(a, conn);
    return send_text(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    listener_request_done(conn);
}

/* A connection the listener closed without an answer. */
static void refused(void *cls, enum listener_refusal why, const char *peer)
{
    static const char *const kinds[LISTENER_REFUSAL_COUNT] = {
        [LISTENER_NOT_ALLOWED] = "source_not_allowed",
        [LISTENER_PER_IP] = "per_ip_limit",
        [LISTENER_FULL] = "connection_limit",
        [LISTENER_TIMEOUT] = "request_timeout",
    };
    struct admin *a = cls;
    if (listener_may_log(a->listener, kinds[why], peer))
        log_kv(LOG_LEVEL_WARNING, "admin_reject", "kind", kinds[why], "remote", peer, "connection",
               "closed", NULL);
}

/* ---- life cycle -------------------------------------------------------------------------- */

static int start_listener(struct admin *a, char *err, size_t errlen)
{
    struct listener_config lc = {
        .name = "admin",
        .reject_event = "admin_reject_suppressed",
        .library_event = "admin_http_library",
        .max_connections = a->opt.max_connections,
        .max_per_ip = a->opt.max_connections_per_ip,
        .request_timeout_ms = (int64_t)a->opt.request_timeout * 1000,
        .threads = 1,
        .refused = refused,
        .refused_cls = a,
    };
    a->listener = listener_create(&lc, err, errlen);
    return a->listener != NULL ? 0 : -1;
}

struct admin *admin_create(const struct admin_options *opt, const struct admin_sources *src,
                           char *err, size_t errlen)
{
    struct admin *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->opt = *opt;
    a->src = *src;
    a->start_time = (double)time_now_ms() / 1000.0;
    pthread_mutex_init(&a->lock, NULL);
    if (start_listener(a, err, errlen) < 0)
        goto fail;
    const struct MHD_OptionItem more[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, a},
        {MHD_OPTION_CONNECTION_TIMEOUT, 10, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL},
    };
    const struct mhd_options mo = {
        .listen = opt->listen,
        .flags = MHD_USE_POLL,
        .listener = a->listener,
        .answer = answer,
        .answer_cls = a,
        .more = more,
        .n_more = sizeof(more) / sizeof(more[0]),
    };
    a->mhd = mhd_start(&mo, &a->port, err, errlen);
    if (a->mhd == NULL)
        goto fail;
    return a;
fail:
    listener_destroy(a->listener);
    pthread_mutex_destroy(&a->lock);
    free(a);
    return NULL;
}

uint16_t admin_port(struct admin *a)
{
    return a->port;
}

void admin_set_live(struct admin *a, bool live, const char *why, int64_t stale_ms)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    a->live = live;
    snprintf(a->live_why, sizeof(a->live_why), "%s", live || why == NULL ? "" : why);
    a->live_at = time_mono_ms();
    a->live_stale_ms = stale_ms;
    pthread_mutex_unlock(&a->lock);
}

void admin_count_reload(struct admin *a, bool ok)
{
    if (a == NULL)
        return;
    atomic_fetch_add(ok ? &a->reloads_ok : &a->reloads_failed, 1);
}

void admin_destroy(struct admin *a)
{
    if (a == NULL)
        return;
    MHD_stop_daemon(a->mhd);
    listener_destroy(a->listener);
    store_close(a->store);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
