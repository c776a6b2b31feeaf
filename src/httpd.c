/*
 * The notification endpoint (design.md: data flow, answers to LianLian).
 *
 * libmicrohttpd calls answer() several times per request: once with the headers, then with body
 * pieces, then once with nothing left. Everything that can be refused without the body (method,
 * path, source address, Content-Length) is refused on the first call, before any memory is
 * taken for the body. The last call parses, verifies and validates on the HTTP thread (CPU only),
 * queues the message for the writer and suspends the connection. The writer calls job_done() on
 * its thread after COMMIT; that resumes the connection, libmicrohttpd calls answer() once more,
 * and only then is the answer queued. An HTTP thread never waits for the disk.
 */
#include "httpd.h"

#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config.h"
#include "keyring.h"
#include "log.h"
#include "msg.h"
#include "netaddr.h"
#include "payresult.h"
#include "timeutil.h"
#include "writer.h"

#define ACK_BODY          "{\"ret_code\":\"0000\",\"ret_msg\":\"交易成功\"}"
#define CONTENT_TYPE_JSON "application/json;charset=utf-8"
/* libmicrohttpd's per-connection pool: request line and headers only (bodies are ours, bounded
 * by server.max_body). A request whose headers do not fit is answered 431 by the library. */
#define CONNECTION_MEMORY (32 * 1024)
/* The watchdog's probe carries this header with a secret made at start (httpd_probe). */
#define PROBE_HEADER "X-Lianpay-Probe"

struct httpd {
    const struct config *cfg;
    struct keyring *keys;
    struct writer *writer;
    struct MHD_Daemon *mhd;
    struct MHD_Response *ack; /* shared by every 200: libmicrohttpd responses are refcounted */
    uint16_t port;

    atomic_uint in_flight;
    atomic_ullong acknowledged, rejected, failed;
    atomic_ullong outcomes[OUTCOME_COUNT];
    atomic_ullong rejections[HTTPD_REJECT_COUNT];

    char probe_token[33];
    CURL *probe; /* the prober's handle, made on first use (one thread only) */
    struct curl_slist *probe_headers;
};

enum request_state {
    REQ_READING,  /* receiving the body */
    REQ_WAITING,  /* suspended, with the writer */
    REQ_ANSWERED, /* the writer is done: job.status says how */
};

struct request {
    struct httpd *h;
    struct MHD_Connection *conn;
    enum request_state state;
    char client[46];
    char *body;
    size_t len;
    bool too_big;
    bool logged; /* the message's one "notify" line is written */
    struct payresult result;
    char received_at[TIME_ISO_LEN];
    struct writer_job job; /* its input points at body, client, result and received_at */
};

/* ---- answers ---------------------------------------------------------------------------- */

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, const char *code,
                                 const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"ret_code\":\"%s\",\"ret_msg\":\"%s\"}", code, msg);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_JSON);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
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
    };
    return (unsigned)r < HTTPD_REJECT_COUNT ? names[r] : "unknown";
}

/* Logs and answers a refusal; `kind` is the counter's label, `reason` the words for people. */
static enum MHD_Result reject(struct httpd *h, struct MHD_Connection *conn, const char *client,
                              enum httpd_reject kind, unsigned status, const char *reason,
                              const char *body, size_t len, const char *claimed_order)
{
    char hash[17];
    char st[8];

    body_hash(body, len, hash);
    snprintf(st, sizeof(st), "%u", status);
    atomic_fetch_add(&h->rejected, 1);
    atomic_fetch_add(&h->rejections[kind], 1);
    log_kv(LOG_LEVEL_WARNING, "reject", "status", st, "reason", reason, "remote", client,
           "claimed_no_order", log_outside(claimed_order), "bytes", log_int((long long)len),
           "body_sha256", hash, NULL);
    return send_json(conn, status, "9999", reason);
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
}

/* Runs on the writer thread once the transaction holding this message has ended. */
static void job_done(struct writer_job *job)
{
    struct request *req = job->ctx;
    req->state = REQ_ANSWERED;
    MHD_resume_connection(req->conn);
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
    enum MHD_Result ret;

    if (msg_parse(req->body, req->len, &m, &why) < 0)
        return reject(h, req->conn, req->client, HTTPD_REJECT_MALFORMED, MHD_HTTP_BAD_REQUEST, why,
                      req->body, req->len, NULL);

    const char *claimed = msg_get(&m, "no_order");
    if (keyring_verify(h->keys, &m) < 0) {
        ret = reject(h, req->conn, req->client, HTTPD_REJECT_BAD_SIGNATURE, MHD_HTTP_BAD_REQUEST,
                     "bad signature", req->body, req->len, claimed);
        goto out;
    }
    enum payresult_refusal refused =
        payresult_from_msg(&m, PAYRESULT_NOTIFY, h->cfg->oid_partner, &req->result, &why);
    if (refused != PAYRESULT_ACCEPTED) {
        enum httpd_reject kind = refused == PAYRESULT_WRONG_PARTNER ? HTTPD_REJECT_WRONG_PARTNER
                                                                    : HTTPD_REJECT_INVALID_FIELD;
        ret = reject(h, req->conn, req->client, kind, MHD_HTTP_BAD_REQUEST, why, req->body,
                     req->len, claimed);
        goto out;
    }

    struct writer_job *job = &req->job;
    time_iso(time_now_ms(), req->received_at);
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
    msg_finish(&m);
    return ret;
}

static enum MHD_Result answer_done(struct request *req)
{
    struct httpd *h = req->h;
    log_stored(req);
    if (req->job.status == 0) {
        atomic_fetch_add(&h->acknowledged, 1);
        if ((unsigned)req->job.applied.outcome < OUTCOME_COUNT)
            atomic_fetch_add(&h->outcomes[req->job.applied.outcome], 1);
        return MHD_queue_response(req->conn, MHD_HTTP_OK, h->ack);
    }
    atomic_fetch_add(&h->failed, 1);
    return send_json(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "9999", "storage unavailable");
}

/* The watchdog's own request (httpd_probe): the header holds this process's secret. */
static bool is_probe(struct httpd *h, struct MHD_Connection *conn)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, PROBE_HEADER);
    size_t n = sizeof(h->probe_token) - 1;
    return v != NULL && strlen(v) == n && CRYPTO_memcmp(v, h->probe_token, n) == 0;
}

static enum MHD_Result answer_probe(struct MHD_Connection *conn)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
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

/* The client address to believe, or -1 when a trusted proxy sent a malformed X-Forwarded-For. */
static int client_address(struct httpd *h, struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char peer[46] = "unknown";
    if (ci != NULL && ci->client_addr != NULL)
        netaddr_format(ci->client_addr, peer, sizeof(peer));
    const char *xff = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For");
    /* libmicrohttpd gives the first of several lines, the one a client can forge (HAProxy adds
     * its own line after the client's): several lines are refused, not half-read. */
    if (header_count(conn, "X-Forwarded-For") > 1 ||
        netaddr_client(peer, xff, &h->cfg->trusted_proxies, out, len) < 0) {
        snprintf(out, len, "%s", peer);
        return -1;
    }
    return 0;
}

/* The first call: everything decided from the request line and headers. Returns MHD_YES with
 * *req set to continue with the body, or the result of an answer already queued. */
static enum MHD_Result first_call(struct httpd *h, struct MHD_Connection *conn, const char *url,
                                  const char *method, struct request **reqp)
{
    char client[46];

    if (is_probe(h, conn))
        return answer_probe(conn);
    if (client_address(h, conn, client, sizeof(client)) < 0)
        return reject(h, conn, client, HTTPD_REJECT_BAD_FORWARDED_FOR, MHD_HTTP_BAD_REQUEST,
                      "malformed X-Forwarded-For", NULL, 0, NULL);
    if (!h->cfg->allow_all && !netaddr_list_contains(&h->cfg->allow_from, client))
        return reject(h, conn, client, HTTPD_REJECT_SOURCE_NOT_ALLOWED, MHD_HTTP_FORBIDDEN,
                      "source not allowed", NULL, 0, NULL);
    if (strcmp(url, h->cfg->notify_path) != 0)
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
    snprintf(req->client, sizeof(req->client), "%s", client);
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
        return first_call(h, conn, url, method, (struct request **)con_cls);

    switch (req->state) {
    case REQ_READING:
        if (*upload_data_size > 0) {
            append_body(req, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return MHD_YES;
        }
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
    if (req == NULL)
        return;
    /* A client that left while its message was with the writer never got to answer_done. */
    if (req->state == REQ_ANSWERED && !req->logged)
        log_stored(req);
    atomic_fetch_sub(&h->in_flight, 1);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

/* libmicrohttpd passes printf-style messages. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_kv(LOG_LEVEL_DEBUG, "http_library", "message", buf, NULL);
}

/* ---- life cycle ------------------------------------------------------------------------- */

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0)
        goto fail;
    long size = ftell(f);
    if (size < 0 || size > 1 << 20 || fseek(f, 0, SEEK_SET) != 0)
        goto fail;
    buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size)
        goto fail;
    buf[size] = '\0';
    fclose(f);
    return buf;
fail:
    snprintf(err, errlen, "%s: cannot read", path);
    free(buf);
    fclose(f);
    return NULL;
}

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

static int listen_address(const struct config *cfg, struct sockaddr_storage *ss, char *err,
                          size_t errlen)
{
    if (netaddr_sockaddr(cfg->listen_host, cfg->listen_port, ss) == 0)
        return 0;
    snprintf(err, errlen, "server.listen: %s is not an IP address", cfg->listen_host);
    return -1;
}

struct httpd *httpd_create(const struct config *cfg, struct keyring *keys, struct writer *w,
                           char *err, size_t errlen)
{
    struct httpd *h = calloc(1, sizeof(*h));
    char *cert = NULL, *key = NULL;
    struct sockaddr_storage ss;

    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    h->keys = keys;
    h->writer = w;
    if (make_probe_token(h, err, errlen) < 0 || listen_address(cfg, &ss, err, errlen) < 0)
        goto fail;
    h->ack =
        MHD_create_response_from_buffer(strlen(ACK_BODY), (void *)ACK_BODY, MHD_RESPMEM_PERSISTENT);
    if (h->ack == NULL)
        goto fail;
    MHD_add_response_header(h->ack, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_JSON);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (cfg->tls_cert != NULL) {
        cert = read_file(cfg->tls_cert, err, errlen);
        key = cert ? read_file(cfg->tls_key, err, errlen) : NULL;
        if (key == NULL)
            goto fail;
        flags |= MHD_USE_TLS;
    }
    long threads = cfg->threads;
    if (threads == 0)
        threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;

    /* The logger first: libmicrohttpd reports problems with the options that follow it. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, h},
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, h},
        {MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL},
        {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key},
        {MHD_OPTION_END, 0, NULL},
    };
    h->mhd =
        MHD_start_daemon(flags, 0, NULL, NULL, answer, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (h->mhd == NULL) {
        snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen,
                 errno ? strerror(errno) : "libmicrohttpd refused the options");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : cfg->listen_port;
    /* libmicrohttpd has copied the PEM data into its GnuTLS credentials. */
    free(cert);
    free(key);
    return h;
fail:
    free(cert);
    free(key);
    if (h->ack)
        MHD_destroy_response(h->ack);
    free(h);
    return NULL;
}

uint16_t httpd_port(struct httpd *h)
{
    return h->port;
}

void httpd_quiesce(struct httpd *h)
{
    MHD_socket fd = MHD_quiesce_daemon(h->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

unsigned httpd_in_flight(struct httpd *h)
{
    return atomic_load(&h->in_flight);
}

void httpd_get_stats(struct httpd *h, struct httpd_stats *out)
{
    out->acknowledged = atomic_load(&h->acknowledged);
    out->rejected = atomic_load(&h->rejected);
    out->failed = atomic_load(&h->failed);
    for (int i = 0; i < OUTCOME_COUNT; i++)
        out->outcomes[i] = atomic_load(&h->outcomes[i]);
    for (int i = 0; i < HTTPD_REJECT_COUNT; i++)
        out->rejections[i] = atomic_load(&h->rejections[i]);
}

void httpd_destroy(struct httpd *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->mhd);
    MHD_destroy_response(h->ack);
    if (h->probe != NULL)
        curl_easy_cleanup(h->probe);
    curl_slist_free_all(h->probe_headers);
    free(h);
}

/* Where the probe connects: the listening address, or loopback when it listens on all. */
static void probe_url(struct httpd *h, char *url, size_t len)
{
    const char *host = h->cfg->listen_host;
    if (strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    bool v6 = strchr(host, ':') != NULL;
    snprintf(url, len, "%s://%s%s%s:%u%s", h->cfg->tls_cert ? "https" : "http", v6 ? "[" : "", host,
             v6 ? "]" : "", (unsigned)h->port, h->cfg->notify_path);
}

static int probe_setup(struct httpd *h)
{
    char header[64];
    char url[160];

    snprintf(header, sizeof(header), "%s: %s", PROBE_HEADER, h->probe_token);
    h->probe_headers = curl_slist_append(NULL, header);
    h->probe = curl_easy_init();
    if (h->probe_headers == NULL || h->probe == NULL)
        return -1;
    probe_url(h, url, sizeof(url));
    CURL *c = h->probe;
    /* Our own listener: no proxy from the environment, and its certificate need not name a
     * loopback address (only the secret travels, and it proves nothing to anyone else). */
    if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->probe_headers) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK)
        return -1;
    return 0;
}

int httpd_probe(struct httpd *h, long timeout_ms)
{
    long code = 0;

    if (h->probe == NULL && probe_setup(h) < 0) {
        if (h->probe != NULL)
            curl_easy_cleanup(h->probe);
        curl_slist_free_all(h->probe_headers);
        h->probe = NULL;
        h->probe_headers = NULL;
        return -1;
    }
    /* A fresh connection each time (FORBID_REUSE): accepting is part of what is checked. */
    if (curl_easy_setopt(h->probe, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
        curl_easy_perform(h->probe) != CURLE_OK ||
        curl_easy_getinfo(h->probe, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
        return -1;
    return code == MHD_HTTP_NO_CONTENT ? 0 : -1;
}
