/*
 * The libmicrohttpd glue the daemons share (mhd.h): one way to start a daemon and one way to
 * queue an answer. What the listeners do against hostile clients is listener.c's; this file
 * only wires it in. Called at start-up (mhd_start) and on libmicrohttpd's threads (mhd_send).
 */
#include "mhd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "listener.h"

/* The socket address, the daemon's own options, the listener's and the end. */
#define MAX_OPTIONS 24

/* The options for MHD_start_daemon: the address first, then the daemon's own, behind the
 * listener's when there is one, and MHD_OPTION_END. Returns 0, or -1 when they do not fit. */
static int compose_options(const struct mhd_options *o, struct sockaddr_storage *ss,
                           struct MHD_OptionItem *out, size_t n_out)
{
    struct MHD_OptionItem mine[MAX_OPTIONS];
    size_t n = o->n_more + 1;

    if (n + 1 > MAX_OPTIONS || n + 1 > n_out)
        return -1;
    mine[0] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, ss};
    memcpy(mine + 1, o->more, o->n_more * sizeof(*o->more));
    if (o->listener != NULL)
        return listener_options(o->listener, mine, n, out, n_out);
    memcpy(out, mine, n * sizeof(*mine));
    out[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 0;
}

struct MHD_Daemon *mhd_start(const struct mhd_options *o, uint16_t *port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    struct MHD_OptionItem opts[MAX_OPTIONS];
    unsigned flags = o->flags | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    const struct netaddr_listen *at = &o->listen;

    if (netaddr_sockaddr(at->host, at->port, &ss) < 0) {
        snprintf(err, errlen, "%s: %s is not an IP address", at->key, at->host);
        return NULL;
    }
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (compose_options(o, &ss, opts, MAX_OPTIONS) < 0) {
        snprintf(err, errlen, "%s: too many libmicrohttpd options", at->key);
        return NULL;
    }
    errno = 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, o->listener != NULL ? listener_accept_policy() : NULL, o->listener, o->answer,
        o->answer_cls, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (d == NULL) {
        /* Without errno it refused an option: with TLS, most likely the priorities or keys. */
        int e = errno;
        snprintf(err, errlen, "%s: cannot listen on %s: %s%s%s", at->key, at->text,
                 e != 0 ? strerror(e) : "libmicrohttpd refused the options",
                 e == 0 && o->refused_hint != NULL ? " " : "",
                 e == 0 && o->refused_hint != NULL ? o->refused_hint : "");
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = di != NULL ? di->port : at->port;
    return d;
}

enum MHD_Result mhd_send(struct MHD_Connection *conn, unsigned status, const char *type,
                         const char *body, size_t len, const struct mhd_headers *h)
{
    /* MUST_COPY only reads the buffer; the library's prototype predates const. */
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)(uintptr_t)body, len > 0 ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    if (type != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (h != NULL && h->no_store)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (h != NULL && h->allow != NULL && status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, h->allow);
    if (h != NULL && h->close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}
