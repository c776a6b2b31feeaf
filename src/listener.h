#ifndef LIANPAY_LISTENER_H
#define LIANPAY_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>

struct netaddr_list;

/*
 * What a libmicrohttpd listener needs against hostile clients, shared by the notification
 * endpoint and the admin listener:
 *   - sources outside allow_from are closed at accept time, before a byte is read;
 *   - at most max_connections at once, and max_per_ip from one address (an IPv6 /64); more are
 *     closed at accept time. Addresses in exempt (trusted proxies) are not limited per address
 *     nor checked against allow_from: their clients are told apart by X-Forwarded-For later;
 *   - every request has a deadline: complete (headers and body) within request_timeout_ms of
 *     the connection's opening or of the previous request's end, or the connection is closed;
 *   - the request target as sent, before libmicrohttpd decodes it (listener_path_is);
 *   - header names that are tokens (listener_headers_ok);
 *   - refusal lines throttled per kind and source (throttle.h).
 * libmicrohttpd gives no way to close a connection from outside its threads, so the deadline
 * is kept by a thread of this module that shuts the socket down (shutdown(2)); libmicrohttpd
 * then sees the end of the connection and closes it.
 *
 * A connection added with listener_add_internal (the watchdog's probe) is never counted nor
 * limited, and max_connections keeps slots for it in libmicrohttpd's own limit, so that a
 * listener full of hostile connections still answers the probe: full is overload, not a hang.
 */
struct listener;

enum listener_refusal {
    LISTENER_NOT_ALLOWED, /* outside allow_from */
    LISTENER_PER_IP,      /* max_per_ip reached for that address */
    LISTENER_FULL,        /* max_connections reached */
    LISTENER_TIMEOUT,     /* no complete request within the deadline */
    LISTENER_REFUSAL_COUNT
};

/* Told of each refusal (to count and log it), from a libmicrohttpd thread or the deadline
 * thread, never under a lock of the listener. */
typedef void (*listener_refused_fn)(void *cls, enum listener_refusal why, const char *peer);

struct listener_config {
    const char *name;          /* "notify", "admin": the thread's name and log lines */
    const char *reject_event;  /* the throttle's "more like this" event */
    const char *library_event; /* libmicrohttpd's own messages */
    unsigned max_connections;
    unsigned max_per_ip; /* 0: no limit */
    int64_t request_timeout_ms;
    unsigned threads;                  /* libmicrohttpd threads: the slots kept for the probe */
    const struct netaddr_list *allow;  /* NULL: every source */
    const struct netaddr_list *exempt; /* NULL: none */
    listener_refused_fn refused;
    void *refused_cls;
};

/* Copies cfg (the lists must outlive the listener) and starts the deadline thread. Returns
 * NULL with a reason in err. */
struct listener *listener_create(const struct listener_config *cfg, char *err, size_t errlen);

/* Frees; call after MHD_stop_daemon. NULL is accepted. */
void listener_destroy(struct listener *l);

/* For MHD_start_daemon (mhd_start passes them): the accept policy (apc, with l as its argument),
 * and the options that wire l in (the logger first, MHD_OPTION_CONNECTION_LIMIT among them)
 * followed by the owner's n_more and MHD_OPTION_END, into out (n_out items). Returns 0, or -1
 * when out is too small. */
MHD_AcceptPolicyCallback listener_accept_policy(void);
int listener_options(struct listener *l, const struct MHD_OptionItem *more, size_t n_more,
                     struct MHD_OptionItem *out, size_t n_out);

/* From here on every new connection is closed at accept time (stopping). Any thread. */
void listener_stop_accepting(struct listener *l);

/* Adds a connected socket to mhd as an uncounted, unlimited connection (the probe), marked by
 * an AF_UNIX address that no accepted connection of a TCP listener has. The socket is mhd's
 * afterwards, whatever the result. Returns 0, or -1. */
int listener_add_internal(struct MHD_Daemon *mhd, int fd);

/* True for a connection added with listener_add_internal. */
bool listener_is_internal(struct MHD_Connection *conn);

/* The request is complete: its deadline no longer runs. */
void listener_request_received(struct MHD_Connection *conn);
/* The request is over (libmicrohttpd's completed callback): the next one's deadline starts. */
void listener_request_done(struct MHD_Connection *conn);

/* True when the request target as sent, up to a '?', is exactly path: not percent-decoded, no
 * NUL inside. version is what the access handler was given. */
bool listener_path_is(struct MHD_Connection *conn, const char *version, const char *path);

/* False when a header name is not a token (RFC 9110 5.1): a space or tab before the colon,
 * which libmicrohttpd takes as part of the name ("Content-Length : 5" is then no
 * Content-Length). kind is MHD_HEADER_KIND or MHD_FOOTER_KIND. */
bool listener_headers_ok(struct MHD_Connection *conn, enum MHD_ValueKind kind);

/* The connection's peer address as text into out ("unknown" when libmicrohttpd has none or it
 * cannot be formatted): the socket's, before any X-Forwarded-For is believed. */
void listener_peer_address(struct MHD_Connection *conn, char *out, size_t len);

/* Whether a refusal line of this kind from this source may be written now (throttle.h). */
bool listener_may_log(struct listener *l, const char *kind, const char *source);

struct listener_stats {
    unsigned connections; /* counted now */
    unsigned max_connections;
    uint64_t refused[LISTENER_REFUSAL_COUNT];
    int64_t last_full_ms; /* monotonic ms of the last refusal at max_connections; 0: never */
};
void listener_get_stats(struct listener *l, struct listener_stats *out);

/* How long a listener counts as saturated after it last refused a connection at max_connections:
 * one window for /readyz and the overload log line, so that the two agree. */
#define LISTENER_SATURATION_WINDOW_MS 10000

/* True when the listener is full now or refused a connection for it in the last window_ms. */
bool listener_saturated(struct listener *l, int64_t window_ms);

/* Raises the soft limit on open files, when it must and can, so that connections (every
 * listener's max_connections together) and the daemon's own files fit; warns when they do not. */
void listener_fit_fd_limit(unsigned connections);

#endif
