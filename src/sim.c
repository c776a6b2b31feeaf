/*
 * lianpay-sim: LianLian as the daemon meets it.
 *
 * notify: signs a notification and POSTs it on LianLian's resend schedule until the merchant
 * answers ret_code 0000 (protocol.md: 6 sends, 6 minutes apart; the caller scales time).
 *
 * serve: answers payment.htm and confirmPayment.htm (sim_payout.c: pay_load, the merchant's
 * signature, LianLian's duplicate rule, confirm codes, then the notifications) and
 * queryPayment.htm, from a script: a JSON file mapping each order number to its answers.
 * An order's value is either the list of its query answers (one per query, the last repeating)
 * or an object with any of "query" (that list), "apply" and "confirm" (lists of steps, one per
 * request, the last repeating) and "result":
 *
 *   { "A1": [ {"result_pay": "PROCESSING"}, {"result_pay": "SUCCESS", "money_order": "1.00"} ],
 *     "A2": [ {"ret_code": "8901", "ret_msg": "没有记录", "sign": "none"} ],
 *     "P1": { "apply": [ {"ret_code": "9999", "created": true} ],
 *             "result": {"result_pay": "FAILURE", "delay_ms": 2000, "lose_notifications": true} },
 *     "*":  [ {"ret_code": "8901", "ret_msg": "没有记录", "sign": "none"} ] }
 *
 * A query answer holds the fields to send (ret_code defaults to 0000 and ret_msg to 交易成功; on
 * 0000 oid_partner and no_order are filled in) plus three controls: "sign" ("good", the default;
 * "bad": a corrupted signature; "none": unsigned), "http_status" (send that status instead of 200)
 * and "delay_ms" (answer late, to exercise the caller's timeout). An apply or confirm step holds
 * "ret_code" (any code: 0000 when absent), "ret_msg", and the controls "created" (the payout
 * exists behind an unknown code such as 9999, 1002, 2005), "no_answer" (hold the request for
 * "hold_ms", 60 s by default, then close without a word), "delay_ms", "unsigned", "bad_signature"
 * and "http_status". "result" says what the payout becomes: "result_pay" (SUCCESS), "reason" (on
 * FAILURE, appended to info_order and sent as memo), "delay_ms" (how long it is PROCESSING) and
 * "lose_notifications". Without a script an apply is answered 0000 and the payout created.
 *
 * A query of an order with no scripted query answers is answered from what sim_payout.c knows
 * (PROCESSING, then the result); orders neither scripted nor created get the "*" entry, or
 * LianLian's unsigned 8901. A query may name the order by oid_paybill alone. A request whose
 * merchant signature does not verify gets LianLian's signed 1001. The script is re-read whenever
 * its file changes, so a test can add orders while the simulator runs.
 *
 * libmicrohttpd runs a thread per connection (a held or delayed answer must not stop the
 * others); one mutex guards the script and the query counts, sim_payout.c guards its orders.
 */
#include "sim.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "log.h"
#include "mhd.h"
#include "msg.h"
#include "netaddr.h"
#include "sign.h"
#include "sim_payout.h"
#include "timeutil.h"

/* A script is a few kilobytes; one this large is the wrong file. */
#define SCRIPT_MAX (16 << 20)

/* ---- notify ----------------------------------------------------------------------------- */

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    char *buf = userdata;
    size_t have = strlen(buf), n = size * nmemb;
    if (have + n < 4096) {
        memcpy(buf + have, ptr, n);
        buf[have + n] = '\0';
    }
    return n;
}

/* One POST. Returns 1 when the answer's ret_code is 0000, 0 otherwise; describes it in what. */
static int send_once(CURL *c, const struct sim_notify_options *opt, const char *body, char *what,
                     size_t len)
{
    char answer[4096] = "";
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/json;charset=utf-8");
    long status = 0;
    int acked = 0;

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, opt->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, opt->timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        snprintf(what, len, "no answer (%s)", curl_easy_strerror(rc));
        return 0;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    cJSON *j = cJSON_Parse(answer);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "ret_code");
    const char *code_s = cJSON_IsString(code) ? code->valuestring : "-";
    acked = strcmp(code_s, "0000") == 0;
    snprintf(what, len, "HTTP %ld ret_code=%s", status, code_s);
    cJSON_Delete(j);
    return acked;
}

int sim_notify(const struct sim_notify_options *opt)
{
    struct msg m = {0};
    const char *why = NULL;
    char *body = NULL;
    int status = 2;
    CURL *c = NULL;

    if (msg_parse(opt->message, strlen(opt->message), &m, &why) < 0) {
        fprintf(stderr, "lianpay-sim: notify: the message is not usable: %s\n", why);
        goto out;
    }
    if (sign_msg(&m, opt->key) < 0 || (body = msg_to_json(&m)) == NULL ||
        (c = curl_easy_init()) == NULL) {
        fprintf(stderr, "lianpay-sim: notify: cannot sign or send\n");
        goto out;
    }
    const char *no_order = msg_get(&m, "no_order");
    status = 1;
    for (int i = 1; i <= opt->count; i++) {
        char what[256];
        int acked = send_once(c, opt, body, what, sizeof(what));
        if (!opt->quiet)
            printf("notify %s: send %d/%d: %s\n", no_order ? no_order : "?", i, opt->count, what);
        fflush(stdout);
        if (acked) {
            status = 0;
            break;
        }
        if (i < opt->count) {
            struct timespec ts = {opt->interval_ms / 1000, (opt->interval_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
        }
    }
out:
    if (c)
        curl_easy_cleanup(c);
    free(body);
    msg_finish(&m);
    return status;
}

/* ---- serve ------------------------------------------------------------------------------ */

struct served {
    char no_order[64];
    int queries;
};

struct sim_server {
    const struct sim_serve_options *opt;
    pthread_mutex_t lock; /* the script and served */
    struct sim_payouts *payouts;
    atomic_bool stopping;
    cJSON *script;
    struct timespec script_mtime;
    off_t script_size;
    struct served *served;
    size_t nserved;
};

struct sim_request {
    char body[8192];
    size_t len;
    int too_big;
};

static void load_script(struct sim_server *s)
{
    struct stat st;
    if (s->opt->script == NULL || stat(s->opt->script, &st) < 0)
        return;
    if (s->script && st.st_mtim.tv_sec == s->script_mtime.tv_sec &&
        st.st_mtim.tv_nsec == s->script_mtime.tv_nsec && st.st_size == s->script_size)
        return;
    char why[256];
    size_t n = 0;
    char *text = fileio_read(s->opt->script, SCRIPT_MAX, 0, &n, why, sizeof(why));
    if (text == NULL)
        return;
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    if (!cJSON_IsObject(j)) {
        log_kv(LOG_LEVEL_ERROR, "sim_script", "error", "not a JSON object", "file", s->opt->script,
               NULL);
        cJSON_Delete(j);
        return;
    }
    cJSON_Delete(s->script);
    s->script = j;
    s->script_mtime = st.st_mtim;
    s->script_size = st.st_size;
}

/* How many times this order was asked about before (and counts this time). */
static int next_query(struct sim_server *s, const char *no_order)
{
    for (size_t i = 0; i < s->nserved; i++) {
        if (strcmp(s->served[i].no_order, no_order) == 0)
            return s->served[i].queries++;
    }
    struct served *p = realloc(s->served, (s->nserved + 1) * sizeof(*p));
    if (p == NULL)
        return 0;
    s->served = p;
    snprintf(p[s->nserved].no_order, sizeof(p[0].no_order), "%s", no_order);
    p[s->nserved].queries = 1;
    s->nserved++;
    return 0;
}

/* An order's scripted query answers (the entry's list, or its "query" list), or NULL. */
static const cJSON *query_steps(const cJSON *script, const char *no_order)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(script, no_order);
    if (cJSON_IsObject(e))
        e = cJSON_GetObjectItemCaseSensitive(e, "query");
    return cJSON_IsArray(e) && cJSON_GetArraySize(e) > 0 ? e : NULL;
}

/* The n-th step of steps, the last repeating; NULL for none. */
static const cJSON *nth_step(const cJSON *steps, int n)
{
    int count = cJSON_GetArraySize(steps);
    if (steps == NULL || count == 0)
        return NULL;
    return cJSON_GetArrayItem(steps, n < count ? n : count - 1);
}

/* Sleeps ms, or less when the server stops. */
static void pause_ms(struct sim_server *s, int64_t ms)
{
    int64_t end = time_mono_ms() + ms;
    while (!atomic_load(&s->stopping) && time_mono_ms() < end) {
        int64_t left = end - time_mono_ms();
        struct timespec ts = {0, (left < 50 ? (left > 0 ? left : 0) : 50) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int step_int(const cJSON *step, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(step, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

/* Builds the answer for a step; returns malloc'd JSON. */
static char *build_answer(struct sim_server *s, const cJSON *step, const char *no_order)
{
    struct msg m = {0};
    char *json = NULL;
    const char *code = sim_step_str(step, "ret_code", step ? "0000" : "8901");
    const char *sign_mode = sim_step_str(step, "sign", step ? "good" : "none");

    msg_set(&m, "ret_code", code);
    msg_set(&m, "ret_msg",
            sim_step_str(step, "ret_msg", strcmp(code, "0000") == 0 ? "交易成功" : "没有记录"));
    if (strcmp(code, "0000") == 0) {
        msg_set(&m, "oid_partner", s->opt->oid_partner);
        msg_set(&m, "no_order", no_order);
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, step)
    {
        if (cJSON_IsString(f) && strcmp(f->string, "sign") != 0)
            msg_set(&m, f->string, f->valuestring);
    }
    if (strcmp(sign_mode, "none") != 0 && sign_msg(&m, s->opt->key) == 0 &&
        strcmp(sign_mode, "bad") == 0)
        sim_spoil_signature(&m);
    json = msg_to_json(&m);
    msg_finish(&m);
    return json;
}

/* Sends json (malloc'd, NULL: no body) and frees it. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *json)
{
    enum MHD_Result ret = mhd_send(conn, status, "application/json;charset=utf-8", json,
                                   json != NULL ? strlen(json) : 0, NULL);
    free(json);
    return ret;
}

static char *signed_error(struct sim_server *s, const char *code, const char *text)
{
    struct msg m = {0};
    msg_set(&m, "ret_code", code);
    msg_set(&m, "ret_msg", text);
    msg_set(&m, "oid_partner", s->opt->oid_partner);
    sign_msg(&m, s->opt->key);
    char *json = msg_to_json(&m);
    msg_finish(&m);
    return json;
}

/* The answer to a verified query under the lock: from the script, else from the payout. */
static char *query_answer(struct sim_server *s, const char *no_order, const char *oid_paybill,
                          unsigned *status, int64_t *delay)
{
    char known_order[64] = "";
    struct msg known = {0};
    char *json = NULL;

    pthread_mutex_lock(&s->lock);
    load_script(s);
    const cJSON *steps = no_order ? query_steps(s->script, no_order) : NULL;
    if (steps == NULL && sim_payout_query(s->payouts, no_order, oid_paybill, &known, known_order,
                                          sizeof(known_order))) {
        next_query(s, known_order);
        sign_msg(&known, s->opt->key);
        json = msg_to_json(&known);
        log_kv(LOG_LEVEL_INFO, "sim_query", "no_order", known_order, "oid_paybill",
               log_outside(oid_paybill), "signature", "valid", "answer", "0000", "result_pay",
               msg_get(&known, "result_pay"), NULL);
        msg_finish(&known);
        goto out;
    }
    if (no_order == NULL) {
        /* a bill number LianLian never issued: its unsigned "no record" */
        json = build_answer(s, NULL, "");
        log_kv(LOG_LEVEL_INFO, "sim_query", "oid_paybill", log_outside(oid_paybill), "signature",
               "valid", "answer", "8901", "sign", "none", NULL);
        goto out;
    }
    const cJSON *step =
        nth_step(steps ? steps : query_steps(s->script, "*"), next_query(s, no_order));
    *delay = step_int(step, "delay_ms", 0);
    *status = (unsigned)step_int(step, "http_status", 200);
    log_kv(LOG_LEVEL_INFO, "sim_query", "no_order", no_order, "signature", "valid", "answer",
           sim_step_str(step, "ret_code", step ? "0000" : "8901"), "result_pay",
           sim_step_str(step, "result_pay", NULL), "sign",
           sim_step_str(step, "sign", step ? "good" : "none"), "http_status",
           *status != 200 ? log_int(*status) : NULL, NULL);
    json = build_answer(s, step, no_order);
out:
    pthread_mutex_unlock(&s->lock);
    return json;
}

static enum MHD_Result handle_query(struct sim_server *s, struct MHD_Connection *conn,
                                    struct sim_request *rq)
{
    struct msg m = {0};
    const char *why = NULL;
    enum MHD_Result ret;

    if (rq->too_big || msg_parse(rq->body, rq->len, &m, &why) < 0) {
        log_kv(LOG_LEVEL_WARNING, "sim_query", "signature", "unparsable", "error",
               why ? why : "too large", NULL);
        return reply(conn, MHD_HTTP_OK, signed_error(s, "1004", "参数错误"));
    }
    const char *no_order = msg_get(&m, "no_order");
    const char *oid_paybill = msg_get(&m, "oid_paybill");
    EVP_PKEY *keys[] = {s->opt->merchant_public};
    const char *partner = msg_get(&m, "oid_partner");
    if (sign_verify_msg(&m, keys, 1) < 0 || partner == NULL ||
        strcmp(partner, s->opt->oid_partner) != 0 || (no_order == NULL && oid_paybill == NULL)) {
        log_kv(LOG_LEVEL_WARNING, "sim_query", "no_order", log_outside(no_order), "signature",
               "invalid", "answer", "1001", NULL);
        ret = reply(conn, MHD_HTTP_OK, signed_error(s, "1001", "签名验证失败"));
        goto out;
    }
    unsigned status = 200;
    int64_t delay = 0;
    char *json = query_answer(s, no_order, oid_paybill, &status, &delay);
    pause_ms(s, delay);
    ret = reply(conn, status, json);
out:
    msg_finish(&m);
    return ret;
}

static enum MHD_Result handle_payout(struct sim_server *s, struct MHD_Connection *conn,
                                     struct sim_request *rq, enum sim_payout_call call)
{
    struct sim_payout_reply r;

    pthread_mutex_lock(&s->lock);
    load_script(s);
    sim_payout_handle(s->payouts, call, rq->too_big ? "" : rq->body, rq->too_big ? 0 : rq->len,
                      s->script, &r);
    pthread_mutex_unlock(&s->lock);
    pause_ms(s, r.delay_ms);
    if (r.no_answer) {
        pause_ms(s, r.hold_ms);
        return MHD_NO; /* closes the connection without an answer */
    }
    return reply(conn, r.status, r.json);
}

static bool ends_with(const char *url, const char *suffix)
{
    size_t ulen = strlen(url), slen = strlen(suffix);
    return ulen >= slen && strcmp(url + ulen - slen, suffix) == 0;
}

static enum MHD_Result serve_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    struct sim_server *s = cls;
    struct sim_request *rq = *con_cls;

    if (rq == NULL) {
        if (strcmp(method, "POST") != 0)
            return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, NULL);
        rq = calloc(1, sizeof(*rq));
        *con_cls = rq;
        return rq ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size > 0) {
        if (rq->len + *upload_data_size >= sizeof(rq->body))
            rq->too_big = 1;
        else
            memcpy(rq->body + rq->len, upload_data, *upload_data_size);
        rq->len += rq->too_big ? 0 : *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (ends_with(url, "queryPayment.htm"))
        return handle_query(s, conn, rq);
    if (ends_with(url, "confirmPayment.htm"))
        return handle_payout(s, conn, rq, SIM_PAYOUT_CONFIRM);
    if (ends_with(url, "/payment.htm"))
        return handle_payout(s, conn, rq, SIM_PAYOUT_APPLY);
    return reply(conn, MHD_HTTP_NOT_FOUND, NULL);
}

static void serve_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

int sim_serve(const struct sim_serve_options *opt)
{
    struct sim_server s = {.opt = opt};
    char host[64], err[512];
    uint16_t port, bound;
    sigset_t set;
    FILE *record = NULL;
    int status = 2;

    if (netaddr_split_hostport(opt->listen, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "lianpay-sim: serve: bad --listen %s\n", opt->listen);
        return 2;
    }
    if (opt->record != NULL && (record = fopen(opt->record, "a")) == NULL) {
        fprintf(stderr, "lianpay-sim: serve: --record %s: cannot open\n", opt->record);
        return 2;
    }
    double scale = opt->time_scale > 0 ? opt->time_scale : 1;
    const struct sim_payout_options po = {
        .key = opt->key,
        .merchant_public = opt->merchant_public,
        .oid_partner = opt->oid_partner,
        .confirm_ttl_ms =
            opt->confirm_ttl_ms > 0 ? opt->confirm_ttl_ms : (int64_t)(30 * 60 * 1000.0 / scale),
        .notify_count = opt->notify_count > 0 ? opt->notify_count : 6,
        .notify_interval_ms = opt->notify_interval_ms > 0 ? opt->notify_interval_ms
                                                          : (int64_t)(6 * 60 * 1000.0 / scale),
        .record = record,
    };
    pthread_mutex_init(&s.lock, NULL);
    if ((s.payouts = sim_payouts_create(&po)) == NULL)
        goto out;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    load_script(&s);

    const struct MHD_OptionItem more[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)serve_completed, &s},
    };
    const struct mhd_options mo = {
        .listen = {"--listen", opt->listen, host, port},
        .flags = MHD_USE_THREAD_PER_CONNECTION,
        .answer = serve_answer,
        .answer_cls = &s,
        .more = more,
        .n_more = 1,
    };
    struct MHD_Daemon *d = mhd_start(&mo, &bound, err, sizeof(err));
    if (d == NULL) {
        fprintf(stderr, "lianpay-sim: serve: %s\n", err);
        goto out;
    }
    char addr[96];
    netaddr_join_hostport(host, bound, addr, sizeof(addr));
    log_kv(LOG_LEVEL_INFO, "ready", "listen", addr, "script", opt->script, NULL);

    int sig = 0;
    sigwait(&set, &sig);
    atomic_store(&s.stopping, true);
    MHD_stop_daemon(d);
    status = 0;
out:
    /* notification threads still running hold their own copies and key references */
    sim_payouts_destroy(s.payouts);
    cJSON_Delete(s.script);
    free(s.served);
    if (record != NULL)
        fclose(record);
    pthread_mutex_destroy(&s.lock);
    return status;
}
