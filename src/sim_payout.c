/*
 * lianpay-sim as LianLian's payment.htm and confirmPayment.htm (protocol.md): the body's pay_load
 * is decrypted with the simulated LianLian's private key, the inner request's signature checked
 * with the merchant's public key (the HMAC proves nothing: P1/P2 can be made by anybody), its
 * fields checked, and the answer signed with LianLian's key. Checks in LianLian's order:
 *   body not {"oid_partner","pay_load"}  -> 1004      outer oid_partner not ours -> 3001
 *   pay_load unusable (form, RSA)        -> 4006      HMAC does not check        -> 4007
 *   merchant signature                   -> 1001      inner oid_partner          -> 3001
 *   fields (protocol.md's request fields, notify_url <= 64)                      -> 1004
 *
 * LianLian's duplicate rule, as we play it: a payment.htm for a no_order that was created (0000,
 * or a scripted unknown code with "created") or that waits in review is answered 2005 "already
 * processing" while the payout has no final result (or the review is open), and 1002 "order
 * number used" once it has one (or the review closed). An order refused "nothing stored" is
 * forgotten; one refused 4103/4104/9104 may come again only with the same signed fields (else
 * 1004), and is then handled as new.
 *
 * Review: 4002-4004 carry a random 6-digit confirm_code valid confirm_ttl_ms with 6 tries. A
 * confirm with the right code creates the payout (0000); a wrong one is 4011 with the tries left
 * in ret_msg, the 6th wrong one 4008, one after the validity 4010; an order not in review 4001.
 *
 * A created payout gets its result (script "result", SUCCESS by default) after result.delay_ms;
 * then a detached thread notifies the request's notify_url on LianLian's schedule (sim_notify),
 * unless the script says "lose_notifications". sim_payout_query answers consistently with that.
 *
 * One mutex guards the list of orders; nothing blocks while it is held but the record file.
 */
#include "sim_payout.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "msg.h"
#include "payload.h"
#include "payout.h"
#include "payresult.h"
#include "sign.h"
#include "sim.h"
#include "timeutil.h"

#define CONFIRM_TRIES 6

enum order_state {
    ORDER_MAY_RESUBMIT, /* refused 4103/4104/9104: the same request may come again */
    ORDER_REVIEW,       /* 4002-4004: waits for confirmPayment.htm */
    ORDER_CREATED,      /* the payout exists (oid_paybill) */
    ORDER_CLOSED,       /* the review closed (4008, 4010): never paid under this number */
    ORDER_FORGOTTEN,    /* refused "nothing stored": the number is free again (the entry stays
                         * for the script's count of requests) */
};

struct order {
    char no_order[33];
    enum order_state state;
    int applies, confirms; /* requests that reached the script, for the step to use */
    char *signed_string;   /* the refused request's string to sign (ORDER_MAY_RESUBMIT) */
    char confirm_code[7];
    int64_t confirm_expires; /* time_mono_ms */
    int tries;               /* wrong confirm codes so far */
    char oid_paybill[19];
    char dt_order[15], money_order[24], info_order[800], notify_url[65];
    /* the result and when it is due (time_mono_ms) */
    char result_pay[16], result_info[1024], memo[256];
    int64_t result_at;
    bool lose_notifications;
    struct order *next;
};

struct sim_payouts {
    struct sim_payout_options o;
    pthread_mutex_t lock;
    struct order *orders;
    unsigned long paybills;
};

struct sim_payouts *sim_payouts_create(const struct sim_payout_options *o)
{
    struct sim_payouts *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->o = *o;
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void sim_payouts_destroy(struct sim_payouts *p)
{
    if (p == NULL)
        return;
    for (struct order *o = p->orders, *next; o != NULL; o = next) {
        next = o->next;
        free(o->signed_string);
        free(o);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- the answers ------------------------------------------------------------------------ */

void sim_spoil_signature(struct msg *m)
{
    /* The right form, verifying nothing: one base64 digit changed. */
    const char *sig = msg_get(m, "sign");
    char *bad = strdup(sig ? sig : "");
    if (bad != NULL && strlen(bad) > 3)
        bad[3] = bad[3] == 'A' ? 'B' : 'A';
    msg_set(m, "sign", bad ? bad : "");
    free(bad);
}

const char *sim_step_str(const cJSON *step, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(step, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static const struct {
    const char *code, *msg;
} ret_msgs[] = {
    {"0000", "交易成功"},
    {"1001", "商户请求签名未通过"},
    {"1002", "商户订单号重复"},
    {"1004", "商户请求参数校验错误"},
    {"2005", "原交易已在进行处理,请勿重复提交"},
    {"3001", "非法的商户"},
    {"4001", "订单不存在或不在待确认状态"},
    {"4002", "疑似重复提交订单"},
    {"4003", "收款户名与卡号不符"},
    {"4004", "疑似重复提交订单且收款户名与卡号不符"},
    {"4006", "请求报文解密失败"},
    {"4007", "请求报文校验失败"},
    {"4008", "确认码验证次数超限,订单已关闭"},
    {"4010", "确认码已过期,订单已关闭"},
    {"9104", "商户余额不足"},
    {"9999", "系统错误"},
};

static const char *default_msg(const char *code)
{
    for (size_t i = 0; i < sizeof(ret_msgs) / sizeof(ret_msgs[0]); i++)
        if (strcmp(ret_msgs[i].code, code) == 0)
            return ret_msgs[i].msg;
    return "交易失败";
}

/* What an answer carries beyond its code. */
struct answer_spec {
    const char *code, *msg;
    const char *no_order, *oid_paybill, *confirm_code;
    bool unsigned_, bad_signature;
};

static char *build_answer(struct sim_payouts *p, const struct answer_spec *a)
{
    struct msg m = {0};
    char *json = NULL;

    msg_set(&m, "ret_code", a->code);
    msg_set(&m, "ret_msg", a->msg ? a->msg : default_msg(a->code));
    msg_set(&m, "oid_partner", p->o.oid_partner);
    if (a->no_order && a->no_order[0])
        msg_set(&m, "no_order", a->no_order);
    if (a->oid_paybill && a->oid_paybill[0])
        msg_set(&m, "oid_paybill", a->oid_paybill);
    if (a->confirm_code && a->confirm_code[0])
        msg_set(&m, "confirm_code", a->confirm_code);
    if (!a->unsigned_ && sign_msg(&m, p->o.key) == 0 && a->bad_signature)
        sim_spoil_signature(&m);
    json = msg_to_json(&m);
    msg_finish(&m);
    return json;
}

/* ---- the request ------------------------------------------------------------------------ */

/* The member as a string, "" when absent (the format checks take no NULL). */
static const char *get(const struct msg *m, const char *key)
{
    const char *v = msg_get(m, key);
    return v ? v : "";
}

/* Exactly n ASCII digits. */
static bool digits(const char *s, size_t n)
{
    return s != NULL && strlen(s) == n && strspn(s, "0123456789") == n;
}

/* Characters (UTF-8 code points) of s: LianLian's lengths count characters. */
static size_t chars(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool len_ok(const struct msg *m, const char *key, size_t max, bool required)
{
    const char *v = msg_get(m, key);
    if (v == NULL || v[0] == '\0')
        return !required;
    return chars(v) <= max;
}

/* protocol.md's request fields. Returns NULL, or the name of the first field that is wrong. */
static const char *bad_field(const struct msg *m, enum sim_payout_call call)
{
    const char *v;
    if ((v = msg_get(m, "api_version")) == NULL || (strcmp(v, "1.0") && strcmp(v, "1.1")))
        return "api_version";
    if ((v = msg_get(m, "sign_type")) == NULL || strcmp(v, "RSA") != 0)
        return "sign_type";
    if (!payresult_valid_no_order(get(m, "no_order")))
        return "no_order";
    if (!len_ok(m, "platform", 32, false))
        return "platform";
    if (!len_ok(m, "notify_url", 64, true))
        return "notify_url";
    if (call == SIM_PAYOUT_CONFIRM)
        return digits(msg_get(m, "confirm_code"), 6) ? NULL : "confirm_code";
    int64_t fen = 0;
    if (!payresult_valid_dt_order(get(m, "dt_order")))
        return "dt_order";
    if (payresult_money_fen(get(m, "money_order"), &fen) < 0)
        return "money_order";
    if (!len_ok(m, "card_no", 32, true))
        return "card_no";
    if (!len_ok(m, "acct_name", 64, true))
        return "acct_name";
    if (!len_ok(m, "bank_name", 64, false))
        return "bank_name";
    if ((v = msg_get(m, "flag_card")) == NULL || (strcmp(v, "0") && strcmp(v, "1")))
        return "flag_card";
    bool large = fen >= 5000000;
    if (!len_ok(m, "info_order", 255, large))
        return "info_order";
    if (!len_ok(m, "memo", 24, large))
        return "memo";
    if (!len_ok(m, "prcptcd", 12, false))
        return "prcptcd";
    if (strcmp(v, "1") == 0 && !digits(msg_get(m, "bank_code"), 8))
        return "bank_code";
    return NULL;
}

/* One JSON line per decrypted request: its fields with the card masked and the name left out. */
static void record(struct sim_payouts *p, enum sim_payout_call call, const struct msg *m,
                   const char *answer, bool created)
{
    if (p->o.record == NULL)
        return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "call", call == SIM_PAYOUT_APPLY ? "apply" : "confirm");
    for (size_t i = 0; i < m->n; i++) {
        const struct msg_field *f = &m->fields[i];
        if (f->value == NULL || !strcmp(f->key, "sign") || !strcmp(f->key, "acct_name"))
            continue;
        char masked[PAYOUT_MASKED_CARD_LEN];
        if (strcmp(f->key, "card_no") == 0)
            payout_mask_card(f->value, masked);
        cJSON_AddStringToObject(j, f->key, strcmp(f->key, "card_no") ? f->value : masked);
    }
    cJSON_AddStringToObject(j, "answer", answer);
    cJSON_AddBoolToObject(j, "created", created);
    char *line = cJSON_PrintUnformatted(j);
    if (line != NULL) {
        fprintf(p->o.record, "%s\n", line);
        fflush(p->o.record);
    }
    free(line);
    cJSON_Delete(j);
}

/* ---- orders ----------------------------------------------------------------------------- */

static struct order *find(struct sim_payouts *p, const char *no_order)
{
    for (struct order *o = p->orders; o != NULL; o = o->next)
        if (strcmp(o->no_order, no_order) == 0)
            return o;
    return NULL;
}

static struct order *find_paybill(struct sim_payouts *p, const char *oid_paybill)
{
    for (struct order *o = p->orders; o != NULL; o = o->next)
        if (o->state == ORDER_CREATED && strcmp(o->oid_paybill, oid_paybill) == 0)
            return o;
    return NULL;
}

static struct order *add(struct sim_payouts *p, const char *no_order)
{
    struct order *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    snprintf(o->no_order, sizeof(o->no_order), "%s", no_order);
    o->next = p->orders;
    p->orders = o;
    return o;
}

/* LianLian's settle_date and the prefix of our bill numbers: YYYYMMDD, UTC. */
static void today(char day[9])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(day, 9, "%Y%m%d", &tm);
}

static bool result_due(const struct order *o)
{
    return time_mono_ms() >= o->result_at;
}

/* The order's step for this call in the script (NULL: the natural answer). */
static const cJSON *script_step(const cJSON *script, const char *no_order,
                                enum sim_payout_call call, int n)
{
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(script, no_order);
    if (!cJSON_IsObject(entry))
        entry = cJSON_GetObjectItemCaseSensitive(script, "*");
    const cJSON *steps =
        cJSON_GetObjectItemCaseSensitive(entry, call == SIM_PAYOUT_APPLY ? "apply" : "confirm");
    int count = cJSON_GetArraySize(steps);
    if (!cJSON_IsArray(steps) || count == 0)
        return NULL;
    return cJSON_GetArrayItem(steps, n < count ? n : count - 1);
}

static bool jbool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static int64_t jint(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (int64_t)v->valuedouble : 0;
}

struct notify_job {
    struct sim_notify_options n;
    char *message, *url;
    int64_t delay_ms;
};

static void *notify_main(void *arg)
{
    struct notify_job *j = arg;
    if (j->delay_ms > 0) {
        struct timespec ts = {j->delay_ms / 1000, (j->delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    const char *no_order = NULL;
    cJSON *m = cJSON_Parse(j->message);
    no_order = sim_step_str(m, "no_order", "?");
    int status = sim_notify(&j->n);
    log_kv(status == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING, "sim_notified", "no_order", no_order,
           "url", j->url, "acked", status == 0 ? "yes" : "no", NULL);
    cJSON_Delete(m);
    EVP_PKEY_free(j->n.key);
    free(j->message);
    free(j->url);
    free(j);
    return NULL;
}

/* The signed notification LianLian sends when the result is known (unsigned here: sim_notify
 * signs it). */
static char *notification(struct sim_payouts *p, const struct order *o)
{
    struct msg m = {0};
    char day[9];
    today(day);
    msg_set(&m, "oid_partner", p->o.oid_partner);
    msg_set(&m, "sign_type", "RSA");
    msg_set(&m, "no_order", o->no_order);
    msg_set(&m, "dt_order", o->dt_order);
    msg_set(&m, "money_order", o->money_order);
    msg_set(&m, "oid_paybill", o->oid_paybill);
    msg_set(&m, "result_pay", o->result_pay);
    if (o->result_info[0])
        msg_set(&m, "info_order", o->result_info);
    if (strcmp(o->result_pay, "SUCCESS") == 0)
        msg_set(&m, "settle_date", day);
    char *json = msg_to_json(&m);
    msg_finish(&m);
    return json;
}

/* The payout exists from now on: its bill number, its result and the notifications. */
static void create_payout(struct sim_payouts *p, struct order *o, const cJSON *script)
{
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(script, o->no_order);
    if (!cJSON_IsObject(entry))
        entry = cJSON_GetObjectItemCaseSensitive(script, "*");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(entry, "result");
    char day[9];
    today(day);

    o->state = ORDER_CREATED;
    snprintf(o->oid_paybill, sizeof(o->oid_paybill), "%s%08lu", day, ++p->paybills);
    snprintf(o->result_pay, sizeof(o->result_pay), "%s",
             sim_step_str(result, "result_pay", "SUCCESS"));
    const char *reason = sim_step_str(result, "reason", "账户信息不符");
    if (strcmp(o->result_pay, "FAILURE") == 0)
        snprintf(o->result_info, sizeof(o->result_info), "%.800s_%.200s", o->info_order, reason);
    else
        snprintf(o->result_info, sizeof(o->result_info), "%s", o->info_order);
    snprintf(o->memo, sizeof(o->memo), "%s",
             strcmp(o->result_pay, "FAILURE") == 0 ? sim_step_str(result, "memo", reason) : "");
    int64_t delay = jint(result, "delay_ms");
    o->result_at = time_mono_ms() + delay;
    o->lose_notifications = jbool(result, "lose_notifications");
    if (o->lose_notifications || o->notify_url[0] == '\0')
        return;

    struct notify_job *j = calloc(1, sizeof(*j));
    pthread_t t;
    if (j == NULL || (j->message = notification(p, o)) == NULL ||
        (j->url = strdup(o->notify_url)) == NULL)
        goto fail;
    j->delay_ms = delay;
    /* the thread outlives no request, but may outlive the server: its own key reference */
    if (EVP_PKEY_up_ref(p->o.key) != 1)
        goto fail;
    j->n = (struct sim_notify_options){.url = j->url,
                                       .key = p->o.key,
                                       .message = j->message,
                                       .count = p->o.notify_count,
                                       .interval_ms = p->o.notify_interval_ms,
                                       .timeout_ms = 5000,
                                       .quiet = 1};
    if (pthread_create(&t, NULL, notify_main, j) != 0) {
        EVP_PKEY_free(j->n.key);
        goto fail;
    }
    pthread_detach(t);
    return;
fail:
    log_kv(LOG_LEVEL_ERROR, "sim_notify", "no_order", o->no_order, "error",
           "cannot start the notification", NULL);
    if (j != NULL) {
        free(j->message);
        free(j->url);
        free(j);
    }
}

static void new_confirm_code(char code[7])
{
    unsigned char r[4];
    uint32_t v = 0;
    if (RAND_bytes(r, sizeof(r)) == 1)
        v = (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3];
    snprintf(code, 7, "%06u", (unsigned)(v % 1000000));
}

static bool is_code(const char *code, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(code, *list) == 0)
            return true;
    return false;
}

static const char *const may_resubmit[] = {"4103", "4104", "9104", NULL};

/* The outcome of one request that passed every check. */
struct decision {
    struct answer_spec a;
    bool created;
    char code_buf[16];
};

/* Applies a scripted (or the natural 0000) apply step to the order. */
static void apply_step(struct sim_payouts *p, struct order *o, const struct msg *m,
                       const cJSON *step, const cJSON *script, struct decision *out)
{
    const char *code = sim_step_str(step, "ret_code", "0000");
    snprintf(out->code_buf, sizeof(out->code_buf), "%s", code);
    out->a.code = out->code_buf;
    out->a.msg = sim_step_str(step, "ret_msg", NULL);
    snprintf(o->dt_order, sizeof(o->dt_order), "%s", msg_get(m, "dt_order"));
    snprintf(o->money_order, sizeof(o->money_order), "%s", msg_get(m, "money_order"));
    const char *info = msg_get(m, "info_order");
    snprintf(o->info_order, sizeof(o->info_order), "%s", info ? info : "");
    snprintf(o->notify_url, sizeof(o->notify_url), "%s", msg_get(m, "notify_url"));
    free(o->signed_string);
    o->signed_string = NULL;

    if (strcmp(code, "0000") == 0 || jbool(step, "created")) {
        create_payout(p, o, script);
        out->created = true;
        if (strcmp(code, "0000") == 0)
            out->a.oid_paybill = o->oid_paybill;
    } else if (!strcmp(code, "4002") || !strcmp(code, "4003") || !strcmp(code, "4004")) {
        o->state = ORDER_REVIEW;
        new_confirm_code(o->confirm_code);
        o->confirm_expires = time_mono_ms() + p->o.confirm_ttl_ms;
        o->tries = 0;
        out->a.confirm_code = o->confirm_code;
    } else if (is_code(code, may_resubmit)) {
        o->state = ORDER_MAY_RESUBMIT;
        o->signed_string = sign_string(m, NULL);
    } else {
        /* refused "nothing stored", or an unknown code behind which nothing was created */
        o->state = ORDER_FORGOTTEN;
    }
}

static void apply(struct sim_payouts *p, const struct msg *m, const cJSON *script,
                  const cJSON **step_out, struct decision *out)
{
    const char *no_order = msg_get(m, "no_order");
    struct order *o = find(p, no_order);
    out->a.no_order = no_order;

    if (o != NULL && o->state == ORDER_MAY_RESUBMIT) {
        char *s = sign_string(m, NULL);
        bool same = s != NULL && o->signed_string != NULL && strcmp(s, o->signed_string) == 0;
        free(s);
        if (!same) {
            out->a.code = "1004";
            out->a.msg = "商户请求参数校验错误:重新提交的参数与原订单不一致";
            return;
        }
    } else if (o != NULL && o->state != ORDER_FORGOTTEN) {
        bool open = o->state == ORDER_REVIEW ? time_mono_ms() < o->confirm_expires
                                             : o->state == ORDER_CREATED && !result_due(o);
        out->a.code = open ? "2005" : "1002";
        return;
    }
    if (o == NULL && (o = add(p, no_order)) == NULL) {
        out->a.code = "9999";
        return;
    }
    *step_out = script_step(script, no_order, SIM_PAYOUT_APPLY, o->applies++);
    apply_step(p, o, m, *step_out, script, out);
}

static void confirm(struct sim_payouts *p, const struct msg *m, const cJSON *script,
                    const cJSON **step_out, struct decision *out)
{
    const char *no_order = msg_get(m, "no_order");
    const char *code = msg_get(m, "confirm_code");
    struct order *o = find(p, no_order);
    out->a.no_order = no_order;

    if (o == NULL || o->state != ORDER_REVIEW) {
        out->a.code = "4001";
        return;
    }
    const cJSON *step = script_step(script, no_order, SIM_PAYOUT_CONFIRM, o->confirms++);
    *step_out = step;
    /* the confirm names the notify_url LianLian notifies from now on */
    snprintf(o->notify_url, sizeof(o->notify_url), "%s", msg_get(m, "notify_url"));
    if (step != NULL) {
        snprintf(out->code_buf, sizeof(out->code_buf), "%s",
                 sim_step_str(step, "ret_code", "0000"));
        out->a.code = out->code_buf;
        out->a.msg = sim_step_str(step, "ret_msg", NULL);
        if (strcmp(out->a.code, "0000") == 0 || jbool(step, "created")) {
            create_payout(p, o, script);
            out->created = true;
        } else if (!strcmp(out->a.code, "4008") || !strcmp(out->a.code, "4010")) {
            o->state = ORDER_CLOSED;
        }
    } else if (time_mono_ms() >= o->confirm_expires) {
        o->state = ORDER_CLOSED;
        out->a.code = "4010";
    } else if (strcmp(code, o->confirm_code) == 0) {
        create_payout(p, o, script);
        out->created = true;
        out->a.code = "0000";
    } else if (++o->tries >= CONFIRM_TRIES) {
        o->state = ORDER_CLOSED;
        out->a.code = "4008";
    } else {
        snprintf(out->code_buf, sizeof(out->code_buf), "%d", CONFIRM_TRIES - o->tries);
        out->a.code = "4011";
        out->a.msg = NULL;
    }
    if (out->created && strcmp(out->a.code, "0000") == 0)
        out->a.oid_paybill = o->oid_paybill;
}

/* ---- the entry points ------------------------------------------------------------------- */

/* Decrypts and checks the body; the code to answer when it is refused, else NULL with *m set. */
static const char *open_request(struct sim_payouts *p, const char *body, size_t len, struct msg *m,
                                const char **why)
{
    struct msg outer = {0};
    char *plain = NULL;
    size_t plain_len = 0;
    const char *code = NULL;

    if (msg_parse(body, len, &outer, why) < 0 || msg_get(&outer, "pay_load") == NULL ||
        msg_get(&outer, "oid_partner") == NULL) {
        *why = *why ? *why : "not {oid_partner, pay_load}";
        code = "1004";
        goto out;
    }
    if (strcmp(msg_get(&outer, "oid_partner"), p->o.oid_partner) != 0) {
        *why = "another merchant (outer oid_partner)";
        code = "3001";
        goto out;
    }
    const char *pl = msg_get(&outer, "pay_load");
    enum payload_status st = payload_decrypt(p->o.key, pl, strlen(pl), &plain, &plain_len, why);
    if (st != PAYLOAD_OK) {
        code = st == PAYLOAD_TAMPERED ? "4007" : "4006";
        goto out;
    }
    if (msg_parse(plain, plain_len, m, why) < 0) {
        code = "1004";
        goto out;
    }
    EVP_PKEY *keys[] = {p->o.merchant_public};
    if (sign_verify_msg(m, keys, 1) < 0) {
        *why = "merchant signature does not verify";
        code = "1001";
        goto out;
    }
    const char *partner = msg_get(m, "oid_partner");
    if (partner == NULL || strcmp(partner, p->o.oid_partner) != 0) {
        *why = "another merchant (signed oid_partner)";
        code = "3001";
    }
out:
    free(plain);
    msg_finish(&outer);
    return code;
}

void sim_payout_handle(struct sim_payouts *p, enum sim_payout_call call, const char *body,
                       size_t len, const cJSON *script, struct sim_payout_reply *out)
{
    struct msg m = {0};
    struct decision oc = {0};
    const char *why = NULL, *field = NULL;
    const cJSON *step = NULL;
    const char *event = call == SIM_PAYOUT_APPLY ? "sim_apply" : "sim_confirm";
    bool decrypted = false;
    char masked[PAYOUT_MASKED_CARD_LEN] = "";

    *out = (struct sim_payout_reply){.status = 200};
    pthread_mutex_lock(&p->lock);
    const char *refused = open_request(p, body, len, &m, &why);
    decrypted = m.n > 0;
    if (refused == NULL && (field = bad_field(&m, call)) != NULL) {
        refused = "1004";
        why = "invalid field";
    }
    if (refused != NULL) {
        oc.a.code = refused;
        oc.a.no_order = decrypted ? msg_get(&m, "no_order") : NULL;
    } else if (call == SIM_PAYOUT_APPLY) {
        apply(p, &m, script, &step, &oc);
    } else {
        confirm(p, &m, script, &step, &oc);
    }
    char tries[48] = "";
    if (strcmp(oc.a.code, "4011") == 0) {
        snprintf(tries, sizeof(tries), "确认码错误,还可尝试%s次", oc.code_buf);
        oc.a.msg = tries;
    }
    oc.a.unsigned_ = jbool(step, "unsigned");
    oc.a.bad_signature = jbool(step, "bad_signature");
    out->delay_ms = jint(step, "delay_ms");
    out->no_answer = jbool(step, "no_answer");
    out->hold_ms = jint(step, "hold_ms") > 0 ? jint(step, "hold_ms") : 60000;
    if (step != NULL && jint(step, "http_status") > 0)
        out->status = (unsigned)jint(step, "http_status");
    if (!out->no_answer)
        out->json = build_answer(p, &oc.a);
    if (decrypted)
        record(p, call, &m, out->no_answer ? "no_answer" : oc.a.code, oc.created);
    pthread_mutex_unlock(&p->lock);

    const char *card = decrypted ? msg_get(&m, "card_no") : NULL;
    if (card != NULL)
        payout_mask_card(card, masked);
    log_kv(refused ? LOG_LEVEL_WARNING : LOG_LEVEL_INFO, event, "no_order",
           log_outside(oc.a.no_order), "card_no", card ? masked : NULL, "money_order",
           decrypted ? log_outside(msg_get(&m, "money_order")) : NULL, "answer", oc.a.code,
           "created", oc.created ? "yes" : NULL, "error", why, "field", field, "sign",
           oc.a.unsigned_       ? "none"
           : oc.a.bad_signature ? "bad"
                                : NULL,
           "no_answer", out->no_answer ? "yes" : NULL, NULL);
    msg_finish(&m);
}

int sim_payout_query(struct sim_payouts *p, const char *no_order, const char *oid_paybill,
                     struct msg *answer, char *no_order_out, size_t len)
{
    pthread_mutex_lock(&p->lock);
    struct order *o = no_order ? find(p, no_order) : find_paybill(p, oid_paybill);
    if (o == NULL || o->state != ORDER_CREATED ||
        (oid_paybill != NULL && strcmp(oid_paybill, o->oid_paybill) != 0)) {
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    bool due = result_due(o);
    msg_set(answer, "ret_code", "0000");
    msg_set(answer, "ret_msg", "交易成功");
    msg_set(answer, "oid_partner", p->o.oid_partner);
    msg_set(answer, "no_order", o->no_order);
    msg_set(answer, "dt_order", o->dt_order);
    msg_set(answer, "money_order", o->money_order);
    msg_set(answer, "oid_paybill", o->oid_paybill);
    msg_set(answer, "result_pay", due ? o->result_pay : "PROCESSING");
    if (o->info_order[0])
        msg_set(answer, "info_order", due ? o->result_info : o->info_order);
    if (due && o->memo[0])
        msg_set(answer, "memo", o->memo);
    if (due && strcmp(o->result_pay, "SUCCESS") == 0) {
        char day[9];
        today(day);
        msg_set(answer, "settle_date", day);
    }
    snprintf(no_order_out, len, "%s", o->no_order);
    pthread_mutex_unlock(&p->lock);
    return 1;
}
