#ifndef LIANPAY_HTTPCLIENT_H
#define LIANPAY_HTTPCLIENT_H

#include <stddef.h>

/*
 * One libcurl connection to LianLian, shared by the clients of queryPayment.htm, payment.htm and
 * confirmPayment.htm: a JSON POST with TLS verification on, an optional CA file, connect and
 * total timeouts, no redirects, the answer collected up to 64 KiB. One per thread.
 */
struct httpclient;

/* ca_file NULL: the system store. Returns NULL when libcurl cannot be set up. */
struct httpclient *httpclient_create(const char *ca_file, long connect_timeout_ms, long timeout_ms);
void httpclient_destroy(struct httpclient *hc);

/* From now on every request of hc goes on a new connection, closed after its answer. A request
 * that must never be sent twice needs it: on a reused connection that dies before the answer
 * starts, libcurl sends the request again on a new one, unasked. */
void httpclient_fresh_connections(struct httpclient *hc);

/* What one POST brought back. */
struct httpclient_answer {
    int complete;    /* the transfer ended normally (whatever the status) */
    long status;     /* HTTP status, 0 when none came */
    char *body;      /* what arrived (malloc'd, NUL-terminated; NULL when nothing did) */
    size_t len;      /* bytes of body, the NUL not counted */
    char error[256]; /* why the POST failed: a curl error, "answer too large", "HTTP status N" */
};

/* POSTs body to url as application/json;charset=utf-8. Returns 0 when an HTTP 200 answer came
 * whole, -1 otherwise (error says why). *out is overwritten either way; free its body with
 * httpclient_answer_finish. */
int httpclient_post_json(struct httpclient *hc, const char *url, const char *body,
                         struct httpclient_answer *out);
void httpclient_answer_finish(struct httpclient_answer *a);

#endif
