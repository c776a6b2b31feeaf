#ifndef LIANPAY_HTTPD_H
#define LIANPAY_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include "netaddr.h"
#include "state.h"

struct keyring;
struct listener;
struct metrics_histogram;
struct writer;

/*
 * The notification endpoint: libmicrohttpd with a thread pool. Its threads parse, verify and
 * validate each POST, hand it to the writer and suspend the connection; the writer resumes it
 * once the result is committed, and only then is "0000" sent (design.md, answers table).
 */
struct httpd;

/* What the endpoint is told ([server] and lianlian.oid_partner; service.c fills it in from the
 * configuration). The strings and lists are borrowed. */
struct httpd_options {
    struct netaddr_listen listen; /* server.listen */
    const char *notify_path;
    const char *tls_cert; /* NULL: plain HTTP */
    const char *tls_key;
    const char *tls_priorities; /* a GnuTLS priority string */
    size_t max_body;
    const struct netaddr_list *trusted_proxies;
    const struct netaddr_list *allow_from; /* NULL: every source */
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0: no limit */
    unsigned connection_timeout;     /* seconds of inactivity */
    unsigned request_timeout;        /* seconds for a whole request */
    unsigned threads;                /* 0: one per CPU */
    const char *oid_partner;         /* ours: messages for another merchant are refused */
};

/* Binds and starts serving. cfg, keys and w must outlive the httpd. Returns NULL with a one-line
 * reason in err. */
struct httpd *httpd_create(const struct httpd_options *cfg, struct keyring *keys, struct writer *w,
                           char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
uint16_t httpd_port(struct httpd *h);

/* Stops accepting new connections (each is closed as it comes); requests already received
 * still complete. */
void httpd_quiesce(struct httpd *h);

/* Its connections: counts, limits, saturation (listener.h). Owned by the httpd. */
struct listener *httpd_listener(struct httpd *h);

/* Requests received and not yet answered. */
unsigned httpd_in_flight(struct httpd *h);

/* Why a request was refused: a small fixed set, the label values of the rejection counter. */
enum httpd_reject {
    HTTPD_REJECT_MALFORMED,          /* not strict flat JSON (duplicate key, bad UTF-8, ...) */
    HTTPD_REJECT_BAD_SIGNATURE,      /* no trusted key verifies it */
    HTTPD_REJECT_WRONG_PARTNER,      /* authentic, but oid_partner is not ours */
    HTTPD_REJECT_INVALID_FIELD,      /* authentic, but a field is missing or invalid */
    HTTPD_REJECT_SOURCE_NOT_ALLOWED, /* not in server.allow_from: closed at accept, or 403
                                        when a trusted proxy forwarded it */
    HTTPD_REJECT_BAD_FORWARDED_FOR,  /* a trusted proxy sent a malformed X-Forwarded-For */
    HTTPD_REJECT_BODY_TOO_LARGE,     /* 413 */
    HTTPD_REJECT_NOT_FOUND,          /* 404: not notify_path */
    HTTPD_REJECT_METHOD_NOT_ALLOWED, /* 405: not POST */
    HTTPD_REJECT_BAD_HEADER,         /* 400 and closed: a header name that is no token */
    HTTPD_REJECT_HEADERS_TOO_LARGE,  /* 431 and closed: no room left for the answer */
    HTTPD_REJECT_PER_IP_LIMIT,       /* closed at accept: server.max_connections_per_ip */
    HTTPD_REJECT_CONNECTION_LIMIT,   /* closed at accept: server.max_connections */
    HTTPD_REJECT_REQUEST_TIMEOUT,    /* closed: no complete request within request_timeout */
    HTTPD_REJECT_COUNT
};

/* "bad_signature", ...: the label value. */
const char *httpd_reject_name(enum httpd_reject r);

/* Indexes of httpd_stats.results: enum result_pay (RESULT_NONE is never counted). */
#define HTTPD_RESULT_COUNT (RESULT_CLOSED + 1)

/* Counters since start, for the periodic summary and metrics. */
struct httpd_stats {
    uint64_t acknowledged;                /* answered 0000 */
    uint64_t rejected;                    /* 4xx */
    uint64_t failed;                      /* 503 */
    uint64_t outcomes[OUTCOME_COUNT];     /* acknowledged, by enum outcome */
    uint64_t results[HTTPD_RESULT_COUNT]; /* acknowledged, by the result_pay they carried */
    int64_t last_stored_ms;               /* Unix ms of the last one acknowledged; 0: none */
    uint64_t rejections[HTTPD_REJECT_COUNT];
};
void httpd_get_stats(struct httpd *h, struct httpd_stats *out);

/* Seconds from the headers of a notify_path request to its end (answered, refused after the
 * headers, or the client gone). Valid as long as the httpd. */
const struct metrics_histogram *httpd_request_seconds(struct httpd *h);

/*
 * The liveness probe behind the watchdog: makes a real request to the notification listener
 * (HTTPS when it serves HTTPS) over a loopback connection of its own that it hands to the
 * thread pool, outside the connection limits and the listen queue, and returns 0 when one of its
 * threads answered within timeout_ms, -1 otherwise. So connections from outside, however many,
 * cannot make it fail; a wedged pool does. The request carries a secret made at start, so it is
 * answered 204 without a log line. Call from one thread only.
 */
int httpd_probe(struct httpd *h, long timeout_ms);

/* SIGHUP: loads the certificate chain and key again from cert and key (the reloaded
 * configuration's server.tls_cert and server.tls_key) for every later handshake. Switching
 * HTTPS on or off is refused (it needs a restart). Returns 0 (also for plain HTTP, cert NULL),
 * or -1 with a reason in err and the served certificate unchanged. Main thread. */
int httpd_reload_tls(struct httpd *h, const char *cert, const char *key, char *err, size_t errlen);

/* Stops the server. Every suspended request must have been resumed (the writer drained). */
void httpd_destroy(struct httpd *h);

#endif
