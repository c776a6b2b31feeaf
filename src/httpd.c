/*
 * The notification endpoint (design.md: data flow, answers to LianLian).
 *
 * libmicrohttpd calls answer() several times per request: once with the headers, then with body
 * pieces, then once with nothing left. Everything that can be refused without the body (method,
 * path, source address, Content-Length) is refused on the first call, before any memory is
 * taken for the body. The last call parses, verifies and validates on the HTTP thread (CPU only),
 * queues the message for the writer and suspends the connection. The writer calls job_done() on
 * its thread after COMMIT; that puts the request on its HTTP thread's answer queue and, for the
 * first request of the queue only, resumes the connection; libmicrohttpd calls answer() once
 * more, and there the HTTP thread takes the whole queue, writes the lines of all its requests
 * with one write(2), resumes the others, and only then is the answer queued. So a line is
 * written before its answer goes out, the writer wakes each HTTP thread once per batch instead
 * of once per message (MHD_resume_connection writes the thread's eventfd on every call), and
 * the log costs one system call per batch. An HTTP thread never waits for the disk.
 *
 * Connections are counted, limited and given a deadline by listener.c, which also refuses
 * sources outside allow_from before any byte is read and closes every new connection once
 * httpd_quiesce was called. The watchdog's probe comes in through a loopback socket of its own
 * that the prober accepts and hands to the pool (listener_add_internal), outside those limits:
 * a listener full of hostile connections is overloaded, not hung, and the probe says so by
 * passing.
 */
#include "httpd.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "answerq.h"
#include "keyring.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "mhd.h"
#include "msg.h"
#include "netaddr.h"
#include "payresult.h"
#include "sign.h"
#include "timeutil.h"
#include "tlscred.h"
#include "writer.h"

#define ACK_BODY          "{\"ret_code\":\"0000\",\"ret_msg\":\"交易成功\"}"
#define CONTENT_TYPE_JSON "application/json;charset=utf-8"
/* libmicrohttpd's per-connection pool: request line and headers only (bodies are ours, bounded
 * by server.max_body). A request whose headers do not fit is answered 431 by the library. */
#define CONNECTION_MEMORY (32 * 1024)
/* What the answer needs of that pool after the request: its status line and headers are built
 * there. Headers that fit but leave less than this had the library close the connection where
 * the answer should go, after the notification was stored (eight 4,000-byte headers did: stored,
 * no answer). Such a request is read and answered 431, never stored. Each header also costs the
 * library a list entry in the pool (HEADER_ENTRY_COST, an upper bound). In a band of about
 * 100 bytes just below the library's own 431 nothing can be answered at all: the connection is
 * closed, and nothing was stored. */
#define ANSWER_ROOM       (2 * 1024)
#define HEADER_ENTRY_COST 64
/* The watchdog's probe carries this header with a secret made at start (httpd_probe). */
#define PROBE_HEADER "X-Lianpay-Probe"

/* Request durations (seconds): a stored notification takes a commit (milliseconds); the last
 * buckets catch the writer waiting on a sick disk and request_timeout. */
static const double duration_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10,   30};

struct httpd {
    const struct httpd_options *cfg;
    struct keyring *keys;
    struct writer *writer;
    struct MHD_Daemon *mhd;
    struct listener *listener;
    struct MHD_Response *ack; /* shared by every 200: libmicrohttpd responses are refcounted */
    /* The pool threads' answer queues (this_thread_queue), for httpd_destroy. */
    struct answer_queue **queues;
    unsigned queues_max;
    atomic_uint queues_n;
    uint16_t port;
    struct tlscred *tls; /* NULL: plain HTTP */

    atomic_uint in_flight;
    atomic_ullong acknowledged, rejected, failed;
    atomic_ullong outcomes[OUTCOME_COUNT];
    atomic_ullong results[HTTPD_RESULT_COUNT];
    atomic_ullong rejections[HTTPD_REJECT_COUNT];
    atomic_llong last_stored_ms;
    struct metrics_histogram durations; /* notify_path requests, first byte to completion */

    char probe_token[33];
    /* The prober's (one thread only), made on first use. */
    CURL *probe;
    CURLM *probe_multi;
    struct curl_slist *probe_headers;
    int probe_listen;     /* its own loopback listening socket, known to no one else */
    uint16_t probe_local; /* the port libcurl's socket is bound to, for the current probe */
    bool probe_added;     /* the current probe's connection is with the pool */
};

enum request_state {
    REQ_READING,  /* receiving the body */
    REQ_WAITING,  /* suspended, with the writer */
    REQ_ANSWERED, /* the writer is done: job.status says how */
};

/* The requests of one HTTP thread that the writer is done with (job_done): a stack the writer
 * pushes on and the thread takes whole (answer_queued). The request pushed on an empty stack is
 * the one the writer resumed; the thread resumes the others. */
struct answer_queue {
    struct answerq stack;
    struct httpd *owner; /* whose list of queues it is on */
};

struct request {
    struct httpd *h;
    struct MHD_Connection *conn;
    struct answer_queue *queue; /* its HTTP thread's */
    struct answerq_item item;   /* on the queue */
    enum request_state state;
    char client[46];
    char *body;
    size_t len;
    bool too_big;
    bool crowded; /* the headers leave the answer too little room (room_for_answer) */
    bool logged;  /* the message's one "notify" line is written */
    struct payresult result;
    char received_at[TIME_ISO_LEN];
    struct timespec started; /* CLOCK_MONOTONIC, when the headers were in */
    struct writer_job job;   /* its input points at body, client, result and received_at */
};

/* ---- answers ---------------------------------------------------------------------------- */

/* close: the connection ends after this answer (what follows cannot be trusted to be a
 * request of its own). */
static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, const char *code,
                                 const char *msg, bool close)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"ret_code\":\"%s\",\"ret_msg\":\"%s\"}", code, msg);
    const struct mhd_headers h = {.allow = "POST", .close = close};
    return mhd_send(conn, status, CONTENT_TYPE_JSON, body, (size_t)n, &h);
}

/* A short fingerprint of a refused body for the log: enough to match two log lines, nothing of
 * the content itself. */
static void body_hash(const char *body, size_t len, char out[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    out[0] = '\0';
    /* No body kept (refused before it, or it grew too large): the hash of nothing, not len bytes
     * of "" (a chunked body over max_body made this read past a string literal). */
    if (EVP_Digest(body ? body : "", body ? len : 0, md, &mdlen, EVP_sha256(), NULL) != 1)
        return;
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

const char *httpd_reject_name(enum httpd_reject r)
{
    static const char *const names[HTTPD_REJECT_COUNT] = {
        [HTTPD_REJECT_MALFORMED] = "malformed",
        [HTTPD_REJECT_BAD_SIGNATURE] = "bad_signature",
        [HTTPD_REJECT_WRONG_PARTNER] = "wrong_partner",
        [HTTPD_REJECT_INVALID_FIELD] = "invalid_field",
        [HTTPD_REJECT_SOURCE_NOT_ALLOWED] = "source_not_allowed",
        [HTTPD_REJECT_BAD_FORWARDED_FOR] = "bad_forwarded_for",
        [HTTPD_REJECT_BODY_TOO_LARGE] = "body_too_large",
        [HTTPD_REJECT_NOT_FOUND] = "not_found",
        [HTTPD_REJECT_METHOD_NOT_ALLOWED] = "method_not_allowed",
        [HTTPD_REJECT_BAD_HEADER] = "bad_header",
        [HTTPD_REJECT_HEADERS_TOO_LARGE] = "headers_too_large",
        [HTTPD_REJECT_PER_IP_LIMIT] = "per_ip_limit",
        [HTTPD_REJECT_CONNECTION_LIMIT] = "connection_limit",
        [HTTPD_REJECT_REQUEST_TIMEOUT] = "request_timeout",
    };
    return (unsigned)r < HTTPD_REJECT_COUNT ? names[r] : "unknown";
}

/* Counts a refusal; true when its line is to be written. Anyone can send refusals by the
 * thousand: their lines are throttled per kind and source. A message LianLian signed is not
 * anyone's (wrong partner, invalid field): its line is always written. */
static bool count_refusal(struct httpd *h, enum httpd_reject kind, const char *client)
{
    atomic_fetch_add(&h->rejected, 1);
    atomic_fetch_add(&h->rejections[kind], 1);
    return kind == HTTPD_REJECT_WRONG_PARTNER || kind == HTTPD_REJECT_INVALID_FIELD ||
           listener_may_log(h->listener, httpd_reject_name(kind), client);
}

/* Logs and answers a refusal; `kind` is the counter's label, `reason` the words for people. */
static enum MHD_Result reject_and_close(struct httpd *h, struct MHD_Connection *conn,
                                        const char *client, enum httpd_reject kind, unsigned status,
                                        const char *reason, const char *body, size_t len,
                                        const char *claimed_order, bool close)
{
    char hash[17];
    char st[8];

    if (count_refusal(h, kind, client)) {
        body_hash(body, len, hash);
        snprintf(st, sizeof(st), "%u", status);
        log_kv(LOG_LEVEL_WARNING, "reject", "status", st, "reason", reason, "kind",
               httpd_reject_name(kind), "remote", client, "claimed_no_order",
               log_outside(claimed_order), "bytes", log_int((long long)len), "body_sha256", hash,
               NULL);
    }
    return send_json(conn, status, "9999", reason, close);
}

static enum MHD_Result reject(struct httpd *h, struct MHD_Connection *conn, const char *client,
                              enum httpd_reject kind, unsigned status, const char *reason,
                              const char *body, size_t len, const char *claimed_order)
{
    return reject_and_close(h, conn, client, kind, status, reason, body, len, claimed_order, false);
}

/* A connection the listener closed without an answer (listener.h). */
static void refused(void *cls, enum listener_refusal why, const char *peer)
{
    static const struct {
        enum httpd_reject kind;
        const char *reason;
    } map[LISTENER_REFUSAL_COUNT] = {
        [LISTENER_NOT_ALLOWED] = {HTTPD_REJECT_SOURCE_NOT_ALLOWED, "source not allowed"},
        [LISTENER_PER_IP] = {HTTPD_REJECT_PER_IP_LIMIT, "too many connections from this address"},
        [LISTENER_FULL] = {HTTPD_REJECT_CONNECTION_LIMIT, "max_connections reached"},
        [LISTENER_TIMEOUT] = {HTTPD_REJECT_REQUEST_TIMEOUT, "no complete request in time"},
    };
    struct httpd *h = cls;

    if (count_refusal(h, map[why].kind, peer))
        log_kv(LOG_LEVEL_WARNING, "reject", "reason", map[why].reason, "kind",
               httpd_reject_name(map[why].kind), "remote", peer, "connection", "closed", NULL);
}

/* ---- the writer's side ------------------------------------------------------------------ */

/* Called on the HTTP thread, not in job_done: the writer thread is the daemon's one serial
 * stage, and a write(2) per message there was a measurable share of its time (bench/). */
static void log_stored(struct request *req)
{
    const struct writer_job *j = &req->job;
    const struct payresult *r = &req->result;
    req->logged = true;
    if (j->status != 0) {
        log_kv(LOG_LEVEL_ERROR, "notify", "status", "503", "no_order", r->no_order, "result_pay",
               state_result_name(r->result_pay), "remote", req->client, "error",
               "not stored, LianLian will resend", NULL);
        return;
    }
    log_kv(j->applied.flagged ? LOG_LEVEL_WARNING : LOG_LEVEL_INFO, "notify", "status", "200",
           "no_order", r->no_order, "result_pay", state_result_name(r->result_pay), "money_order",
           r->money_order, "outcome", state_outcome_name(j->applied.outcome), "previous",
           state_result_name(j->applied.previous), "redelivery", j->applied.redelivery ? "1" : NULL,
           "review", j->applied.flagged ? j->applied.review_reason : NULL, "remote", req->client,
           NULL);
    store_log_payout_change(r->no_order, &j->applied);
}

/* The answer queue of the calling HTTP thread. A pool thread serves its connections from start
 * to end, so the queue of the thread that took a request is the one that answers it. */
static struct answer_queue *this_thread_queue(struct httpd *h)
{
    static _Thread_local struct answer_queue q;
    if (q.owner != h) {
        q.owner = h;
        unsigned i = atomic_fetch_add(&h->queues_n, 1);
        if (i < h->queues_max)
            h->queues[i] = &q;
    }
    return &q;
}

/* Whether a queue still holds requests (some of them suspended, waiting for their thread). */
static bool queues_busy(struct httpd *h)
{
    unsigned n = atomic_load(&h->queues_n);
    for (unsigned i = 0; i < n && i < h->queues_max; i++) {
        if (answerq_busy(&h->queues[i]->stack))
            return true;
    }
    return false;
}

/* Runs on the writer thread once the transaction holding this message has ended. */
static void job_done(struct writer_job *job)
{
    struct request *req = job->ctx;

    req->state = REQ_ANSWERED;
    /* The queue was empty: nothing wakes this thread for it but this. Otherwise the request
     * below, already resumed, is answered first and takes this one with it. */
    if (answerq_push(&req->queue->stack, &req->item))
        MHD_resume_connection(req->conn);
}

static struct request *request_of(struct answerq_item *item)
{
    return ANSWERQ_ENTRY(item, struct request, item);
}

/* On the HTTP thread: takes every request of its queue, writes their lines together (in the
 * order they were committed), then resumes the connections the writer left suspended. Each is
 * answered after this, so no line is written after its answer. */

static void answer_queued(struct answer_queue *q)
{
    struct answerq_item *list = answerq_take(&q->stack);

    if (list == NULL)
        return;
    log_batch_begin();
    for (struct answerq_item *it = list; it != NULL; it = it->next) {
        if (!request_of(it)->logged)
            log_stored(request_of(it));
    }
    log_batch_end();
    for (struct answerq_item *it = list, *next; it != NULL; it = next) {
        next = it->next;
        if (!it->leader)
            MHD_resume_connection(request_of(it)->conn);
    }
}

struct header_count {
    const char *name;
    unsigned n;
};

/* ---- the request ------------------------------------------------------------------------ */

/* Parses, authenticates and validates the body; on success hands it to the writer. */
static enum MHD_Result process(struct request *req)
{
    struct httpd *h = req->h;
    struct msg m = {0};
    const char *why = NULL;
    char *text = NULL;
    size_t text_len = 0;
    enum MHD_Result ret;

    if (msg_parse(req->body, req->len, &m, &why) < 0)
        return reject(h, req->conn, req->client, HTTPD_REJECT_MALFORMED, MHD_HTTP_BAD_REQUEST, why,
                      req->body, req->len, NULL);

    const char *claimed = msg_get(&m, "no_order");
    /* Built once: the signature check and the signed-content digest both hash it. */
    text = sign_string(&m, &text_len);
    if (keyring_verify_text(h->keys, &m, text, text_len) < 0) {
        ret = reject(h, req->conn, req->client, HTTPD_REJECT_BAD_SIGNATURE, MHD_HTTP_BAD_REQUEST,
                     "bad signature", req->body, req->len, claimed);
        goto out;
    }
    enum payresult_refusal refused = payresult_from_signed(&m, text, text_len, PAYRESULT_NOTIFY,
                                                           h->cfg->oid_partner, &req->result, &why);
    if (refused != PAYRESULT_ACCEPTED) {
        enum httpd_reject kind = refused == PAYRESULT_WRONG_PARTNER ? HTTPD_REJECT_WRONG_PARTNER
                                                                    : HTTPD_REJECT_INVALID_FIELD;
        ret = reject(h, req->conn, req->client, kind, MHD_HTTP_BAD_REQUEST, why, req->body,
                     req->len, claimed);
        goto out;
    }

    struct writer_job *job = &req->job;
    time_iso_cached(time_now_ms(), req->received_at);
    job->kind = WRITER_APPLY;
    job->in.apply = (struct store_input){
        .r = &req->result,
        .source = PAYRESULT_NOTIFY,
        .body = req->body,
        .body_len = req->len,
        .remote_addr = req->client,
        .received_at = req->received_at,
    };
    job->done = job_done;
    job->ctx = req;
    req->queue = this_thread_queue(h);

    /* Suspend before submitting: the writer may finish and resume before we return. */
    req->state = REQ_WAITING;
    MHD_suspend_connection(req->conn);
    if (writer_submit(h->writer, job) < 0) {
        /* Shutting down: the message was not taken. */
        req->state = REQ_ANSWERED;
        job->status = -1;
        MHD_resume_connection(req->conn);
    }
    ret = MHD_YES;
out:
    free(text);
    msg_finish(&m);
    return ret;
}

static enum MHD_Result answer_done(struct request *req)
{
    struct httpd *h = req->h;
    answer_queued(req->queue);
    if (!req->logged) /* not taken by the writer (shutting down): never on the queue */
        log_stored(req);
    if (req->job.status == 0) {
        atomic_fetch_add(&h->acknowledged, 1);
        atomic_store(&h->last_stored_ms, time_now_ms());
        if ((unsigned)req->job.applied.outcome < OUTCOME_COUNT)
            atomic_fetch_add(&h->outcomes[req->job.applied.outcome], 1);
        if ((unsigned)req->result.result_pay < HTTPD_RESULT_COUNT)
            atomic_fetch_add(&h->results[req->result.result_pay], 1);
        return MHD_queue_response(req->conn, MHD_HTTP_OK, h->ack);
    }
    atomic_fetch_add(&h->failed, 1);
    return send_json(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "9999", "storage unavailable", false);
}

/* The watchdog's own request (httpd_probe): on its own connection, and the header holds this
 * process's secret. */
static bool is_probe(struct httpd *h, struct MHD_Connection *conn)
{
    if (!listener_is_internal(conn))
        return false;
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, PROBE_HEADER);
    size_t n = sizeof(h->probe_token) - 1;
    return v != NULL && strlen(v) == n && CRYPTO_memcmp(v, h->probe_token, n) == 0;
}

static enum MHD_Result answer_probe(struct MHD_Connection *conn)
{
    return mhd_send(conn, MHD_HTTP_NO_CONTENT, NULL, NULL, 0, NULL);
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct header_count *c = cls;
    if (strcasecmp(key, c->name) == 0)
        c->n++;
    return MHD_YES;
}

/* How many lines of the header there are (libmicrohttpd's lookup only gives the first). */
static unsigned header_count(struct MHD_Connection *conn, const char *name)
{
    struct header_count c = {name, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &c);
    return c.n;
}

/* True when the request line and headers leave the pool room for the answer (ANSWER_ROOM). */
static bool room_for_answer(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    int entries = MHD_get_connection_values(
        conn, MHD_HEADER_KIND | MHD_COOKIE_KIND | MHD_GET_ARGUMENT_KIND, NULL, NULL);
    size_t used = (ci != NULL ? ci->header_size : CONNECTION_MEMORY) +
                  (size_t)(entries > 0 ? entries : 0) * HEADER_ENTRY_COST;
    return used <= CONNECTION_MEMORY - ANSWER_ROOM;
}

/* The client address to believe, or -1 when a trusted proxy sent a malformed X-Forwarded-For. */
static int client_address(struct httpd *h, struct MHD_Connection *conn, char *out, size_t len)
{
    char peer[46];
    listener_peer_address(conn, peer, sizeof(peer));
    const char *xff = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For");
    /* libmicrohttpd gives the first of several lines, the one a client can forge (HAProxy adds
     * its own line after the client's): several lines are refused, not half-read. */
    if (header_count(conn, "X-Forwarded-For") > 1 ||
        netaddr_client(peer, xff, h->cfg->trusted_proxies, out, len) < 0) {
        snprintf(out, len, "%s", peer);
        return -1;
    }
    return 0;
}

/* The first call: everything decided from the request line and headers. Returns MHD_YES with
 * *req set to continue with the body, or the result of an answer already queued. */
static enum MHD_Result first_call(struct httpd *h, struct MHD_Connection *conn, const char *version,
                                  const char *method, struct request **reqp)
{
    char client[46];

    if (is_probe(h, conn))
        return answer_probe(conn);
    if (!listener_headers_ok(conn, MHD_HEADER_KIND)) {
        /* libmicrohttpd took "Content-Length : 5" for another header: what it read as the end
         * of this request may be the middle of its body. Nothing more is read. */
        listener_peer_address(conn, client, sizeof(client));
        return reject_and_close(h, conn, client, HTTPD_REJECT_BAD_HEADER, MHD_HTTP_BAD_REQUEST,
                                "invalid header name (whitespace before the colon?)", NULL, 0, NULL,
                                true);
    }
    if (client_address(h, conn, client, sizeof(client)) < 0)
        return reject(h, conn, client, HTTPD_REJECT_BAD_FORWARDED_FOR, MHD_HTTP_BAD_REQUEST,
                      "malformed X-Forwarded-For", NULL, 0, NULL);
    if (h->cfg->allow_from != NULL && !netaddr_list_contains(h->cfg->allow_from, client))
        return reject(h, conn, client, HTTPD_REJECT_SOURCE_NOT_ALLOWED, MHD_HTTP_FORBIDDEN,
                      "source not allowed", NULL, 0, NULL);
    /* The path as sent: "/lianpay/%6eotify" and "/lianpay/notify%00x" are other paths. */
    if (!listener_path_is(conn, version, h->cfg->notify_path))
        return reject(h, conn, client, HTTPD_REJECT_NOT_FOUND, MHD_HTTP_NOT_FOUND, "not found",
                      NULL, 0, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return reject(h, conn, client, HTTPD_REJECT_METHOD_NOT_ALLOWED, MHD_HTTP_METHOD_NOT_ALLOWED,
                      "method not allowed", NULL, 0, NULL);

    /* Framing LianLian never sends and a proxy in front might read differently from
     * libmicrohttpd (request smuggling): refused before the body is read. */
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te != NULL && strcasecmp(te, "chunked") != 0)
        return reject(h, conn, client, HTTPD_REJECT_MALFORMED, MHD_HTTP_NOT_IMPLEMENTED,
                      "unsupported Transfer-Encoding", NULL, 0, NULL);
    if ((te != NULL && cl != NULL) || header_count(conn, MHD_HTTP_HEADER_CONTENT_LENGTH) > 1 ||
        header_count(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING) > 1)
        return reject(h, conn, client, HTTPD_REJECT_MALFORMED, MHD_HTTP_BAD_REQUEST,
                      "ambiguous message framing", NULL, 0, NULL);
    if (cl != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno != 0 || end == cl || *end != '\0' || n > h->cfg->max_body)
            return reject(h, conn, client, HTTPD_REJECT_BODY_TOO_LARGE, MHD_HTTP_CONTENT_TOO_LARGE,
                          "body too large", NULL, 0, NULL);
    }

    struct request *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return MHD_NO;
    req->h = h;
    req->conn = conn;
    clock_gettime(CLOCK_MONOTONIC, &req->started);
    snprintf(req->client, sizeof(req->client), "%s", client);
    req->crowded = !room_for_answer(conn);
    atomic_fetch_add(&h->in_flight, 1);
    *reqp = req;
    return MHD_YES;
}

static void append_body(struct request *req, const char *data, size_t size)
{
    size_t max = req->h->cfg->max_body;
    if (req->too_big || size > max - req->len) {
        /* A chunked body (no Content-Length) grew past the limit: keep reading, keep nothing. */
        req->too_big = true;
        return;
    }
    if (req->body == NULL) {
        req->body = malloc(max + 1);
        if (req->body == NULL) {
            req->too_big = true;
            return;
        }
    }
    memcpy(req->body + req->len, data, size);
    req->len += size;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct httpd *h = cls;
    struct request *req = *con_cls;

    if (req == NULL)
        return first_call(h, conn, version, method, (struct request **)con_cls);

    switch (req->state) {
    case REQ_READING:
        if (*upload_data_size > 0) {
            append_body(req, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return MHD_YES;
        }
        listener_request_received(conn);
        if (!listener_headers_ok(conn, MHD_FOOTER_KIND))
            return reject_and_close(h, conn, req->client, HTTPD_REJECT_BAD_HEADER,
                                    MHD_HTTP_BAD_REQUEST, "invalid trailer name", NULL, req->len,
                                    NULL, true);
        /* Answered once the body is read: the body's bytes in the pool leave less room for an
         * answer before it (measured: 431 at once failed where a 200 after the body was sent). */
        if (req->crowded)
            return reject_and_close(h, conn, req->client, HTTPD_REJECT_HEADERS_TOO_LARGE,
                                    MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                                    "request headers too large", NULL, req->len, NULL, true);
        if (req->too_big)
            return reject(h, conn, req->client, HTTPD_REJECT_BODY_TOO_LARGE,
                          MHD_HTTP_CONTENT_TOO_LARGE, "body too large", NULL, req->len, NULL);
        return process(req);
    case REQ_WAITING:
        return MHD_YES; /* not reached: a suspended connection is not called */
    case REQ_ANSWERED:
        return answer_done(req);
    }
    return MHD_NO;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct httpd *h = cls;
    struct request *req = *con_cls;
    listener_request_done(conn);
    if (req == NULL)
        return;
    /* A client that left while its message was with the writer never got to answer_done; the
     * queue it is on (when it is on one) is taken now, so that the others on it are answered. */
    if (req->queue != NULL)
        answer_queued(req->queue);
    if (req->state == REQ_ANSWERED && !req->logged)
        log_stored(req);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    metrics_histogram_observe(&h->durations,
                              (double)(now.tv_sec - req->started.tv_sec) +
                                  (double)(now.tv_nsec - req->started.tv_nsec) / 1e9);
    atomic_fetch_sub(&h->in_flight, 1);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

/* ---- life cycle ------------------------------------------------------------------------- */

static int make_probe_token(struct httpd *h, char *err, size_t errlen)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        snprintf(err, errlen, "no randomness for the probe secret");
        return -1;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(h->probe_token + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static unsigned pool_size(const struct httpd_options *cfg)
{
    long threads = cfg->threads;
    if (threads == 0)
        threads = sysconf(_SC_NPROCESSORS_ONLN);
    return threads < 1 ? 1 : (unsigned)threads;
}

static int start_listener(struct httpd *h, unsigned threads, char *err, size_t errlen)
{
    const struct httpd_options *cfg = h->cfg;
    struct listener_config lc = {
        .name = "http",
        .reject_event = "reject_suppressed",
        .library_event = "http_library",
        .max_connections = cfg->max_connections,
        .max_per_ip = cfg->max_connections_per_ip,
        .request_timeout_ms = (int64_t)cfg->request_timeout * 1000,
        .threads = threads,
        .allow = cfg->allow_from,
        .exempt = cfg->trusted_proxies,
        .refused = refused,
        .refused_cls = h,
    };
    h->listener = listener_create(&lc, err, errlen);
    return h->listener != NULL ? 0 : -1;
}

static int start_daemon(struct httpd *h, unsigned threads, char *err, size_t errlen)
{
    const struct httpd_options *cfg = h->cfg;
    bool tls = cfg->tls_cert != NULL;

    if (tls) {
        h->tls = tlscred_create(cfg->tls_cert, cfg->tls_key, err, errlen);
        if (h->tls == NULL)
            return -1;
    }
    const struct MHD_OptionItem more[] = {
        {MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, h},
        {MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL},
        /* Only read: the option's pointer predates const. */
        {tls ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0,
         (void *)(uintptr_t)cfg->tls_priorities},
        /* The certificate is asked for at each handshake, so that SIGHUP can renew it. */
        {tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, 0, tlscred_callback()},
    };
    const struct mhd_options mo = {
        .listen = cfg->listen,
        .flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | (tls ? MHD_USE_TLS : 0),
        .listener = h->listener,
        .answer = answer,
        .answer_cls = h,
        .more = more,
        .n_more = sizeof(more) / sizeof(more[0]),
        .refused_hint = "(server.tls_priorities, the certificate or its key?)",
    };
    h->mhd = mhd_start(&mo, &h->port, err, errlen);
    return h->mhd != NULL ? 0 : -1;
}

int httpd_reload_tls(struct httpd *h, const char *cert, const char *key, char *err, size_t errlen)
{
    if ((cert != NULL) != (h->tls != NULL)) {
        snprintf(err, errlen, "server.tls_cert: switching HTTPS %s needs a restart",
                 cert != NULL ? "on" : "off");
        return -1;
    }
    if (cert == NULL)
        return 0;
    return tlscred_reload(h->tls, cert, key, err, errlen);
}

struct httpd *httpd_create(const struct httpd_options *cfg, struct keyring *keys, struct writer *w,
                           char *err, size_t errlen)
{
    struct httpd *h = calloc(1, sizeof(*h));

    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    h->keys = keys;
    h->writer = w;
    h->probe_listen = -1;
    metrics_histogram_init(&h->durations, duration_bounds,
                           sizeof(duration_bounds) / sizeof(duration_bounds[0]));
    if (make_probe_token(h, err, errlen) < 0)
        goto fail;
    unsigned threads = pool_size(cfg);
    h->queues_max = threads;
    h->queues = calloc(threads, sizeof(*h->queues));
    if (h->queues == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    h->ack =
        MHD_create_response_from_buffer(strlen(ACK_BODY), (void *)ACK_BODY, MHD_RESPMEM_PERSISTENT);
    if (h->ack == NULL)
        goto fail;
    MHD_add_response_header(h->ack, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_JSON);
    if (start_listener(h, threads, err, errlen) < 0 || start_daemon(h, threads, err, errlen) < 0)
        goto fail;
    return h;
fail:
    tlscred_destroy(h->tls);
    listener_destroy(h->listener);
    if (h->ack)
        MHD_destroy_response(h->ack);
    free(h->queues);
    free(h);
    return NULL;
}

uint16_t httpd_port(struct httpd *h)
{
    return h->port;
}

/* Not MHD_quiesce_daemon: in libmicrohttpd 0.9.75 (and 1.0.1) it races the pool's threads over
 * the listening socket in their epoll sets, and the loser aborts the process ("Failed to remove
 * listen FD from epoll set"). The socket stays open until httpd_destroy; new connections are
 * closed as they come, by the accept policy. */
void httpd_quiesce(struct httpd *h)
{
    listener_stop_accepting(h->listener);
}

unsigned httpd_in_flight(struct httpd *h)
{
    return atomic_load(&h->in_flight);
}

struct listener *httpd_listener(struct httpd *h)
{
    return h->listener;
}

void httpd_get_stats(struct httpd *h, struct httpd_stats *out)
{
    out->acknowledged = atomic_load(&h->acknowledged);
    out->rejected = atomic_load(&h->rejected);
    out->failed = atomic_load(&h->failed);
    for (int i = 0; i < OUTCOME_COUNT; i++)
        out->outcomes[i] = atomic_load(&h->outcomes[i]);
    for (int i = 0; i < HTTPD_RESULT_COUNT; i++)
        out->results[i] = atomic_load(&h->results[i]);
    out->last_stored_ms = atomic_load(&h->last_stored_ms);
    for (int i = 0; i < HTTPD_REJECT_COUNT; i++)
        out->rejections[i] = atomic_load(&h->rejections[i]);
}

const struct metrics_histogram *httpd_request_seconds(struct httpd *h)
{
    return &h->durations;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void probe_teardown(struct httpd *h);

void httpd_destroy(struct httpd *h)
{
    if (h == NULL)
        return;
    /* Requests the writer finished but whose thread has not taken its queue yet are still
     * suspended, and libmicrohttpd aborts when stopped with a suspended connection: their
     * threads resume them first (promptly, the first of each queue is resumed already). */
    for (int i = 0; i < 2000 && queues_busy(h); i++) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(h->mhd);
    listener_destroy(h->listener);
    MHD_destroy_response(h->ack);
    probe_teardown(h);
    tlscred_destroy(h->tls);
    free(h->queues);
    free(h);
}

/* ---- the watchdog's probe ---------------------------------------------------------------- */

/*
 * libcurl connects to a loopback socket of the prober's own; between its steps (the multi
 * interface, on this one thread) the prober accepts that connection and hands it to the pool as
 * an internal one. So the probe never waits among outside connections for a slot or in the
 * listen queue. (libcurl 7.88 cannot be given a connected socket: CURL_SOCKOPT_ALREADY_CONNECTED
 * is ignored there, curl issue 10626.)
 */

static int loopback_socket(struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* libcurl's socket, bound here so that the prober knows its port before it connects. */
static curl_socket_t probe_open(void *cls, curlsocktype purpose, struct curl_sockaddr *address)
{
    struct httpd *h = cls;
    struct sockaddr_in sa;
    socklen_t n = sizeof(sa);
    int fd = loopback_socket(&sa);

    if (fd < 0)
        return CURL_SOCKET_BAD;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &n) < 0) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    h->probe_local = ntohs(sa.sin_port);
    return fd;
}

/* The probe's listening socket; returns its port, or 0. */
static uint16_t probe_listen(struct httpd *h)
{
    struct sockaddr_in sa;
    socklen_t n = sizeof(sa);

    h->probe_listen = loopback_socket(&sa);
    if (h->probe_listen < 0)
        return 0;
    if (bind(h->probe_listen, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(h->probe_listen, 4) < 0 ||
        getsockname(h->probe_listen, (struct sockaddr *)&sa, &n) < 0 ||
        fcntl(h->probe_listen, F_SETFL, O_NONBLOCK) < 0) {
        close_fd(&h->probe_listen);
        return 0;
    }
    return ntohs(sa.sin_port);
}

static int probe_setup(struct httpd *h)
{
    char header[64];
    char url[160];
    uint16_t port = probe_listen(h);

    snprintf(header, sizeof(header), "%s: %s", PROBE_HEADER, h->probe_token);
    h->probe_headers = curl_slist_append(NULL, header);
    h->probe = curl_easy_init();
    h->probe_multi = curl_multi_init();
    if (port == 0 || h->probe_headers == NULL || h->probe == NULL || h->probe_multi == NULL)
        return -1;
    snprintf(url, sizeof(url), "%s://127.0.0.1:%u%s", h->cfg->tls_cert ? "https" : "http",
             (unsigned)port, h->cfg->notify_path);
    CURL *c = h->probe;
    /* Our own listener: no proxy from the environment, and its certificate need not name a
     * loopback address (only the secret travels, and it proves nothing to anyone else). */
    if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->probe_headers) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, probe_open) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h) != CURLE_OK)
        return -1;
    return 0;
}

static void probe_teardown(struct httpd *h)
{
    if (h->probe != NULL)
        curl_easy_cleanup(h->probe);
    if (h->probe_multi != NULL)
        curl_multi_cleanup(h->probe_multi);
    curl_slist_free_all(h->probe_headers);
    close_fd(&h->probe_listen);
    h->probe = NULL;
    h->probe_multi = NULL;
    h->probe_headers = NULL;
}

/* Takes libcurl's connection from the probe's listening socket to the pool. Anything else that
 * found the socket (it is on loopback) is closed. */
static void probe_accept(struct httpd *h)
{
    struct sockaddr_in peer;

    while (!h->probe_added && h->probe_local != 0) {
        socklen_t n = sizeof(peer);
        int fd = accept4(h->probe_listen, (struct sockaddr *)&peer, &n, SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (n != sizeof(peer) || ntohs(peer.sin_port) != h->probe_local) {
            close(fd);
            continue;
        }
        h->probe_added = true; /* the pool's, even when adding failed (then it is closed) */
        listener_add_internal(h->mhd, fd);
    }
}

/* Runs the transfer for at most timeout_ms; returns its result. */
static CURLcode probe_run(struct httpd *h, long timeout_ms)
{
    int64_t end = time_mono_ms() + timeout_ms;
    CURLcode result = CURLE_OPERATION_TIMEDOUT;
    int running = 1;

    h->probe_local = 0;
    h->probe_added = false;
    if (curl_multi_add_handle(h->probe_multi, h->probe) != CURLM_OK)
        return CURLE_FAILED_INIT;
    while (running > 0) {
        if (curl_multi_perform(h->probe_multi, &running) != CURLM_OK)
            break;
        probe_accept(h);
        int64_t left = end - time_mono_ms();
        if (running == 0 || left <= 0)
            break;
        struct curl_waitfd extra = {h->probe_listen, CURL_WAIT_POLLIN, 0};
        curl_multi_poll(h->probe_multi, &extra, h->probe_added ? 0 : 1,
                        (int)(left < 100 ? left : 100), NULL);
    }
    int queued;
    CURLMsg *m;
    while ((m = curl_multi_info_read(h->probe_multi, &queued)) != NULL) {
        if (m->msg == CURLMSG_DONE)
            result = m->data.result;
    }
    curl_multi_remove_handle(h->probe_multi, h->probe);
    return result;
}

int httpd_probe(struct httpd *h, long timeout_ms)
{
    long code = 0;

    if (h->probe == NULL && probe_setup(h) < 0) {
        probe_teardown(h);
        return -1;
    }
    /* A fresh connection each time (FORBID_REUSE), taken in by one of the pool's threads:
     * answering it is what is checked, not winning a place among connections from outside. */
    if (curl_easy_setopt(h->probe, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
        probe_run(h, timeout_ms) != CURLE_OK ||
        curl_easy_getinfo(h->probe, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
        return -1;
    return code == MHD_HTTP_NO_CONTENT ? 0 : -1;
}
