/*
 * lianpay-sim: LianLian as the daemon meets it.
 *
 * notify: signs a notification and POSTs it on LianLian's resend schedule until the merchant
 * answers ret_code 0000 (protocol.md: 6 sends, 6 minutes apart; the caller scales time).
 *
 * serve: answers queryPayment.htm from a script, a JSON file mapping each order number to the
 * list of answers it gets, one per query, the last one repeating:
 *
 *   { "A1": [ {"result_pay": "PROCESSING"}, {"result_pay": "SUCCESS", "money_order": "1.00"} ],
 *     "A2": [ {"ret_code": "8901", "ret_msg": "没有记录", "sign": "none"} ],
 *     "*":  [ {"ret_code": "8901", "ret_msg": "没有记录", "sign": "none"} ] }
 *
 * An answer holds the fields to send (ret_code defaults to 0000 and ret_msg to 交易成功; on 0000
 * oid_partner and no_order are filled in) plus three controls: "sign" ("good", the default; "bad":
 * a corrupted signature; "none": unsigned), "http_status" (send that status instead of 200) and
 * "delay_ms" (answer late, to exercise the caller's timeout). Orders not in the script get the
 * "*" entry, or LianLian's unsigned 8901. A request whose merchant signature does not verify gets
 * LianLian's signed 1001. The script is re-read whenever its file changes, so a test can add
 * orders while the simulator runs. One thread serves everything, in order.
 */
#include "sim.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
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
    if (stat(s->opt->script, &st) < 0)
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

/* The scripted step for this query of no_order, or NULL for the default unsigned 8901. */
static const cJSON *script_step(struct sim_server *s, const char *no_order)
{
    load_script(s);
    int n = next_query(s, no_order);
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(s->script, no_order);
    if (steps == NULL)
        steps = cJSON_GetObjectItemCaseSensitive(s->script, "*");
    int count = cJSON_GetArraySize(steps);
    if (!cJSON_IsArray(steps) || count == 0)
        return NULL;
    return cJSON_GetArrayItem(steps, n < count ? n : count - 1);
}

static const char *step_str(const cJSON *step, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(step, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
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
    const char *code = step_str(step, "ret_code", step ? "0000" : "8901");
    const char *sign_mode = step_str(step, "sign", step ? "good" : "none");

    msg_set(&m, "ret_code", code);
    msg_set(&m, "ret_msg",
            step_str(step, "ret_msg", strcmp(code, "0000") == 0 ? "交易成功" : "没有记录"));
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
        strcmp(sign_mode, "bad") == 0) {
        /* A signature of the right form that verifies nothing: flip one base64 digit. */
        const char *sig = msg_get(&m, "sign");
        char *bad = strdup(sig ? sig : "");
        if (bad != NULL && bad[0] != '\0')
            bad[3] = bad[3] == 'A' ? 'B' : 'A';
        msg_set(&m, "sign", bad ? bad : "");
        free(bad);
    }
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
    EVP_PKEY *keys[] = {s->opt->merchant_public};
    const char *partner = msg_get(&m, "oid_partner");
    if (sign_verify_msg(&m, keys, 1) < 0 || partner == NULL ||
        strcmp(partner, s->opt->oid_partner) != 0 || no_order == NULL) {
        log_kv(LOG_LEVEL_WARNING, "sim_query", "no_order", no_order, "signature", "invalid",
               "answer", "1001", NULL);
        ret = reply(conn, MHD_HTTP_OK, signed_error(s, "1001", "签名验证失败"));
        goto out;
    }
    const cJSON *step = script_step(s, no_order);
    int delay = step_int(step, "delay_ms", 0);
    if (delay > 0) {
        struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    unsigned status = (unsigned)step_int(step, "http_status", 200);
    log_kv(LOG_LEVEL_INFO, "sim_query", "no_order", no_order, "signature", "valid", "answer",
           step_str(step, "ret_code", step ? "0000" : "8901"), "result_pay",
           step_str(step, "result_pay", NULL), "sign",
           step_str(step, "sign", step ? "good" : "none"), "http_status",
           status != 200 ? log_int(status) : NULL, NULL);
    ret = reply(conn, status, build_answer(s, step, no_order));
out:
    msg_finish(&m);
    return ret;
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
    size_t ulen = strlen(url);
    const char *suffix = "queryPayment.htm";
    if (ulen < strlen(suffix) || strcmp(url + ulen - strlen(suffix), suffix) != 0)
        return reply(conn, MHD_HTTP_NOT_FOUND, NULL);
    return handle_query(s, conn, rq);
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

    if (netaddr_split_hostport(opt->listen, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "lianpay-sim: serve: bad --listen %s\n", opt->listen);
        return 2;
    }
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
        .answer = serve_answer,
        .answer_cls = &s,
        .more = more,
        .n_more = 1,
    };
    struct MHD_Daemon *d = mhd_start(&mo, &bound, err, sizeof(err));
    if (d == NULL) {
        fprintf(stderr, "lianpay-sim: serve: %s\n", err);
        return 2;
    }
    char addr[96];
    netaddr_join_hostport(host, bound, addr, sizeof(addr));
    log_kv(LOG_LEVEL_INFO, "ready", "listen", addr, "script", opt->script, NULL);

    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    cJSON_Delete(s.script);
    free(s.served);
    return 0;
}
