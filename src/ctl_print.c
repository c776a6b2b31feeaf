/*
 * lianpayctl's printing for people: an order as the store holds it (ctl_print_status). The store
 * hands over the values as stored; this file lays them out. Everything in the database was
 * written by internal tools or LianLian and shown on a terminal, so every value goes through
 * log_print_escaped, as the log's do.
 */
#include "ctl_print.h"

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

int ctl_print_status(struct store *st, const char *no_order, FILE *out)
{
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
    FILE *out = ctx;

    for (int i = 0; i < STORE_PENDING_COLUMNS; i++) {
        if (i > 0)
            fputc(' ', out);
        ctl_print_value(out, cols[i]);
    }
    fputc('\n', out);
}

int ctl_print_pending(struct store *st, FILE *out)
{
    fputs("no_order money_order result_pay age_seconds query_count next_query_at\n", out);
    if (store_pending_rows(st, print_pending, out) < 0)
        return -1;
    if (fflush(out) != 0 || ferror(out))
        return -1;
    return 0;
}
