/*
 * lianpayctl's printing for people: an order as the store holds it (ctl_print_status). The store
 * hands over the values as stored; this file lays them out. Everything in the database was
 * written by internal tools or LianLian and shown on a terminal, so every value goes through
 * log_print_escaped, as the log's do.
 */
#include "ctl_print.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

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
