/*
 * lianpayctl's printing for people: an order as the store holds it (ctl_print_status). The store
 * hands over the values as stored; this file lays them out. Everything in the database was
 * written by internal tools or LianLian and shown on a terminal, so every value goes through
 * log_print_escaped, as the log's do.
 */
#include "ctl_print.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl_payout.h"
#include "log.h"
#include "store.h"

/* Names are padded to line the values up. */
#define NAME_WIDTH 19

int ctl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lianpayctl: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

static bool json_mode;

void ctl_set_json(bool on)
{
    json_mode = on;
}

bool ctl_json(void)
{
    return json_mode;
}

/* The length of the character at p (n > 0 bytes left) when it may go into a JSON string as it
 * is: well-formed UTF-8 and not NUL (cJSON would end the string there). 0 otherwise. */
static size_t json_char_len(const unsigned char *p, size_t n)
{
    uint32_t cp;

    if (p[0] < 0x80)
        return p[0] != 0;
    return log_utf8_decode(p, n, &cp);
}

cJSON *ctl_json_value(struct store_value v)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    const unsigned char *p = (const unsigned char *)v.text;
    char *buf;
    size_t o = 0;

    if (v.text == NULL)
        return cJSON_CreateNull();
    if ((buf = malloc(v.len * 3 + 1)) == NULL)
        return NULL;
    for (size_t i = 0; i < v.len;) {
        size_t k = json_char_len(p + i, v.len - i);
        if (k == 0) {
            memcpy(buf + o, replacement, 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, p + i, k);
            o += k;
            i += k;
        }
    }
    buf[o] = '\0';
    cJSON *s = cJSON_CreateString(buf);
    free(buf);
    return s;
}

cJSON *ctl_json_string(const char *s)
{
    return ctl_json_value((struct store_value){s, s ? strlen(s) : 0});
}

cJSON *ctl_json_int(struct store_value v)
{
    char *end;

    if (v.text == NULL || v.len == 0 || strlen(v.text) != v.len)
        return ctl_json_value(v);
    errno = 0;
    long long n = strtoll(v.text, &end, 10);
    if (errno != 0 || *end != '\0')
        return ctl_json_value(v);
    return cJSON_CreateNumber((double)n); /* exact below 2^53: counters and ages are */
}

void ctl_json_put(cJSON *o, const char *key, cJSON *v)
{
    if (o == NULL || v == NULL || !cJSON_AddItemToObject(o, key, v))
        cJSON_Delete(v);
}

void ctl_json_result(FILE *out, const char *no_order, long line, const char *outcome,
                     const char *reason)
{
    cJSON *o = cJSON_CreateObject();

    ctl_json_put(o, "no_order", ctl_json_string(no_order));
    if (line > 0)
        ctl_json_put(o, "line", cJSON_CreateNumber((double)line));
    ctl_json_put(o, "outcome", cJSON_CreateString(outcome));
    ctl_json_put(o, "reason", ctl_json_string(reason));
    (void)ctl_json_print(out, o);
}

int ctl_json_print(FILE *out, cJSON *obj)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    int rc = text ? 0 : -1;

    if (text != NULL)
        fprintf(out, "%s\n", text);
    free(text);
    cJSON_Delete(obj);
    return rc;
}

void ctl_print_value(FILE *out, struct store_value v)
{
    if (v.text == NULL)
        fputs("-", out);
    else
        log_print_escaped(out, v.text, v.len);
}

static void print_column(void *ctx, const char *name, struct store_value value)
{
    FILE *out = ctx;
    size_t n = strlen(name);

    fprintf(out, "%s:%*s", name, n < NAME_WIDTH ? (int)(NAME_WIDTH - n) : 1, "");
    ctl_print_value(out, value);
    fputc('\n', out);
}

static void print_event(void *ctx, const struct store_event *ev)
{
    FILE *out = ctx;
    const struct store_value first[] = {ev->received_at, ev->source, ev->result_pay, ev->outcome};

    for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
        fputs(i == 0 ? "  " : " ", out);
        ctl_print_value(out, first[i]);
    }
    fprintf(out, " seen×%" PRId64 " ", ev->seen_count);
    ctl_print_value(out, ev->remote_addr);
    fputc('\n', out);
}

/* The payments columns that hold integers. */
static bool integer_column(const char *name)
{
    static const char *const names[] = {"amount_fen", "notify_count", "query_count", "needs_review",
                                        "payout_held"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static void json_column(void *ctx, const char *name, struct store_value value)
{
    ctl_json_put(ctx, name, integer_column(name) ? ctl_json_int(value) : ctl_json_value(value));
}

static void json_event(void *ctx, const struct store_event *ev)
{
    cJSON *o = cJSON_CreateObject();

    ctl_json_put(o, "received_at", ctl_json_value(ev->received_at));
    ctl_json_put(o, "source", ctl_json_value(ev->source));
    ctl_json_put(o, "result_pay", ctl_json_value(ev->result_pay));
    ctl_json_put(o, "outcome", ctl_json_value(ev->outcome));
    ctl_json_put(o, "seen_count", cJSON_CreateNumber((double)ev->seen_count));
    ctl_json_put(o, "remote_addr", ctl_json_value(ev->remote_addr));
    if (!cJSON_AddItemToArray(ctx, o))
        cJSON_Delete(o);
}

/* status --json: {"order": {...}, "events": [...], "payout": {...} | null, "attempts": [...]}. */
static int json_status(struct store *st, const char *no_order, FILE *out)
{
    cJSON *o = cJSON_CreateObject(), *order = cJSON_CreateObject(), *events = cJSON_CreateArray();
    int rc = store_order_columns(st, no_order, json_column, order);

    ctl_json_put(o, "order", order);
    ctl_json_put(o, "events", events);
    if (rc == 0 && (store_order_events(st, no_order, json_event, events) < 0 ||
                    ctl_payout_json(st, no_order, o) < 0))
        rc = -1;
    if (rc != 0) {
        cJSON_Delete(o);
        return rc;
    }
    if (ctl_json_print(out, o) < 0 || fflush(out) != 0 || ferror(out))
        return -1;
    return 0;
}

int ctl_print_status(struct store *st, const char *no_order, FILE *out)
{
    if (ctl_json())
        return json_status(st, no_order, out);
    int rc = store_order_columns(st, no_order, print_column, out);

    if (rc != 0)
        return rc;
    fputs("events:\n", out);
    if (store_order_events(st, no_order, print_event, out) < 0 ||
        ctl_payout_print(st, no_order, out) < 0)
        return -1;
    if (fflush(out) != 0 || ferror(out))
        return -1;
    return 0;
}

static void print_pending(void *ctx, const struct store_value *cols)
{
    static const char *const keys[STORE_PENDING_COLUMNS] = {
        "no_order", "money_order", "result_pay", "age_seconds", "query_count", "next_query_at",
    };
    FILE *out = ctx;

    if (ctl_json()) {
        cJSON *o = cJSON_CreateObject();
        for (int i = 0; i < STORE_PENDING_COLUMNS; i++)
            ctl_json_put(o, keys[i],
                         i == 3 || i == 4 ? ctl_json_int(cols[i]) : ctl_json_value(cols[i]));
        (void)ctl_json_print(out, o);
        return;
    }

    for (int i = 0; i < STORE_PENDING_COLUMNS; i++) {
        if (i > 0)
            fputc(' ', out);
        ctl_print_value(out, cols[i]);
    }
    fputc('\n', out);
}

int ctl_print_pending(struct store *st, FILE *out)
{
    if (!ctl_json())
        fputs("no_order money_order result_pay age_seconds query_count next_query_at\n", out);
    if (store_pending_rows(st, print_pending, out) < 0)
        return -1;
    if (fflush(out) != 0 || ferror(out))
        return -1;
    return 0;
}
