#ifndef LIANPAY_HTTPD_H
#define LIANPAY_HTTPD_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct keyring;
struct writer;

/*
 * The notification endpoint: libmicrohttpd with a thread pool. Its threads parse, verify and
 * validate each POST, hand it to the writer and suspend the connection; the writer resumes it
 * once the result is committed, and only then is "0000" sent (design.md, answers table).
 */
struct httpd;

/* Binds and starts serving. cfg, keys and w must outlive the httpd. Returns NULL with a one-line
 * reason in err. */
struct httpd *httpd_create(const struct config *cfg, struct keyring *keys, struct writer *w,
                           char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
uint16_t httpd_port(struct httpd *h);

/* Stops accepting new connections; requests already received still complete. */
void httpd_quiesce(struct httpd *h);

/* Requests received and not yet answered. */
unsigned httpd_in_flight(struct httpd *h);

/* Counters since start, for the periodic summary and metrics. */
struct httpd_stats {
    uint64_t acknowledged; /* answered 0000 */
    uint64_t rejected;     /* 4xx */
    uint64_t failed;       /* 503 */
};
void httpd_get_stats(struct httpd *h, struct httpd_stats *out);

/* Stops the server. Every suspended request must have been resumed (the writer drained). */
void httpd_destroy(struct httpd *h);

#endif
