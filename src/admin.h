#ifndef LIANPAY_ADMIN_H
#define LIANPAY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "netaddr.h"

struct httpd;
struct keyring;
struct reconciler;
struct writer;

/*
 * The admin listener (admin.listen, loopback by default): its own small libmicrohttpd daemon with
 * one thread, apart from the notification endpoint so that monitoring never competes with
 * LianLian for connections. Its own connections have the same deadline (server.request_timeout)
 * and limits of their own (admin.max_connections, admin.max_connections_per_ip).
 *
 *   GET /livez    200 while the main loop's last liveness check passed (writer heartbeat fresh,
 *                 the notification listener answered a real request), else 503 with the reason
 *   GET /readyz   200 when the database takes writes, the writer and the reconciler are alive,
 *                 /livez holds and the notification listener is not full; else 503. JSON body
 *                 naming each check.
 *   GET /metrics  Prometheus text format
 */
struct admin;

/* What the admin listener is told ([admin], server.request_timeout; service.c fills it in from
 * the configuration). The strings are borrowed. */
struct admin_options {
    struct netaddr_listen listen; /* admin.listen */
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0: no limit */
    unsigned request_timeout;        /* seconds for a whole request */
    const char *database_path;       /* read for the pending-order gauges */
    const char *tls_cert;            /* server.tls_cert, for its expiry; NULL: plain HTTP */
    int64_t pending_warning_after;   /* log.pending_warning_after (s), exported for the alert */
    int64_t reconciler_stall_ms;     /* an older reconciler heartbeat fails /readyz */
};

/* What the admin listener reads. Everything must outlive the admin; reconciler is NULL when
 * reconciliation is off. */
struct admin_sources {
    struct httpd *httpd;
    struct writer *writer;
    struct reconciler *reconciler;
    struct keyring *keys;
};

/* Binds opt->listen and starts the thread. Returns NULL with a reason in err. */
struct admin *admin_create(const struct admin_options *opt, const struct admin_sources *src,
                           char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
uint16_t admin_port(struct admin *a);

/* The main loop's latest liveness verdict; why says what failed (ignored when live). A verdict
 * older than stale_ms counts as failed: the main loop itself stopped checking. Any thread. */
void admin_set_live(struct admin *a, bool live, const char *why, int64_t stale_ms);

/* Counts a SIGHUP reload, successful or not (lianpay_reloads_total). */
void admin_count_reload(struct admin *a, bool ok);

/* Stops the thread and closes its database connection. NULL is accepted. */
void admin_destroy(struct admin *a);

#endif
