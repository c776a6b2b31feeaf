/*
 * The HTTP side of every call to LianLian (query.c, payout.c): libcurl's easy interface on one
 * handle that keeps its connection open between requests (the query client's), or opens one per
 * request (the payout client's: httpclient_fresh_connections). TLS is always verified (peer and
 * host); the handle is reset before each request so that no option of the last one leaks into the
 * next. Not thread-safe: each thread that calls LianLian has its own httpclient.
 */
#include "httpclient.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWER (64 * 1024)

struct httpclient {
    CURL *curl;
    struct curl_slist *headers;
    char *ca_file;
    long connect_timeout_ms, timeout_ms;
    int fresh; /* httpclient_fresh_connections: no connection is reused */
};

struct buffer {
    char *data;
    size_t len;
    int overflow;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buffer *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > MAX_ANSWER) {
        b->overflow = 1;
        return 0; /* aborts the transfer */
    }
    char *p = realloc(b->data, b->len + n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->len, ptr, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

struct httpclient *httpclient_create(const char *ca_file, long connect_timeout_ms, long timeout_ms)
{
    static int curl_ready;
    struct httpclient *hc = NULL;

    /* curl_global_init is not thread-safe in this libcurl; the daemon creates its clients before
     * it starts the threads that use them, lianpayctl creates one. */
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            goto fail;
        curl_ready = 1;
    }
    hc = calloc(1, sizeof(*hc));
    if (hc == NULL)
        goto fail;
    hc->curl = curl_easy_init();
    hc->ca_file = ca_file ? strdup(ca_file) : NULL;
    hc->headers = curl_slist_append(NULL, "Content-Type: application/json;charset=utf-8");
    if (hc->curl == NULL || hc->headers == NULL || (ca_file && hc->ca_file == NULL))
        goto fail;
    hc->connect_timeout_ms = connect_timeout_ms;
    hc->timeout_ms = timeout_ms;
    return hc;
fail:
    httpclient_destroy(hc);
    return NULL;
}

void httpclient_fresh_connections(struct httpclient *hc)
{
    hc->fresh = 1;
}

void httpclient_destroy(struct httpclient *hc)
{
    if (hc == NULL)
        return;
    if (hc->curl)
        curl_easy_cleanup(hc->curl);
    curl_slist_free_all(hc->headers);
    free(hc->ca_file);
    free(hc);
}

int httpclient_post_json(struct httpclient *hc, const char *url, const char *body,
                         struct httpclient_answer *out)
{
    struct buffer b = {0};
    CURL *c = hc->curl;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hc->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, hc->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, hc->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "lianpay-notifyd");
    if (hc->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, hc->ca_file);
    if (hc->fresh) {
        /* libcurl resends a request on a fresh connection by itself when a reused one dies
         * before the first byte of the answer ("Connection died, retrying a fresh connect"):
         * for payment.htm, a second payout nobody knows of. A connection of its own per
         * request, closed after it, leaves libcurl nothing to retry. */
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    }

    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->complete = cc == CURLE_OK;
    if (!out->complete)
        snprintf(out->error, sizeof(out->error), "%s",
                 b.overflow ? "answer too large" : curl_easy_strerror(cc));
    else if (out->status != 200)
        snprintf(out->error, sizeof(out->error), "HTTP status %ld", out->status);
    else
        rc = 0;
    out->body = b.data;
    out->len = b.len;
    return rc;
}

void httpclient_answer_finish(struct httpclient_answer *a)
{
    free(a->body);
    a->body = NULL;
    a->len = 0;
}
