#ifndef LIANPAY_MHD_H
#define LIANPAY_MHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>
#include "netaddr.h"

struct listener;

/*
 * What the program's libmicrohttpd daemons share (the notification endpoint, the admin listener,
 * lianpay-sim's queryPayment.htm): starting one on an address with its connections through a
 * listener (listener.h: counting, refusals, deadlines, libmicrohttpd's own messages), and
 * queueing an answer. systemd's journal-remote keeps the same in microhttpd-util.c.
 */

/* A daemon to start. */
struct mhd_options {
    struct netaddr_listen listen;
    unsigned flags; /* MHD_USE_* beyond an internal polling thread, the error log and IPv6 */
    struct listener *listener; /* NULL: connections are not accounted (lianpay-sim) */
    MHD_AccessHandlerCallback answer;
    void *answer_cls;
    const struct MHD_OptionItem *more; /* the daemon's own options, without MHD_OPTION_END */
    size_t n_more;
    const char *refused_hint; /* what libmicrohttpd may have refused, for the message; NULL */
};

/* Binds o->listen and starts the daemon. Returns it with the port actually bound in *port, or
 * NULL with "KEY: reason" in err. */
struct MHD_Daemon *mhd_start(const struct mhd_options *o, uint16_t *port, char *err, size_t errlen);

/* The headers of an answer beyond its Content-Type. */
struct mhd_headers {
    const char *allow; /* the methods served: an Allow header on 405 answers; NULL: none */
    bool no_store;     /* Cache-Control: no-store */
    bool close;        /* Connection: close (what follows may not be a request of its own) */
};

/* Queues an answer: status, Content-Type type (NULL: none), the headers h asks for (h may be
 * NULL) and a copy of the len bytes of body. Returns what MHD_queue_response returned (MHD_NO
 * also when out of memory). */
enum MHD_Result mhd_send(struct MHD_Connection *conn, unsigned status, const char *type,
                         const char *body, size_t len, const struct mhd_headers *h);

#endif
