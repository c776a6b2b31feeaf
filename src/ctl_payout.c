/*
 * lianpayctl pay, payouts, cancel, confirm, decline, resubmit and the payout part of status
 * (ctl_payout.h). Single-threaded, one store connection.
 *
 * pay --file: every line is checked (payout_check, then sql/0004's CHECKs) and inserted inside
 * ONE transaction; a refused line is reported with its line number and skipped, the others are
 * committed together (a bulk tool's user fixes the refused lines and sends those again; a
 * no_order already queued is refused the second time, so sending the whole file again is
 * harmless). The result lines are printed only after the commit: nothing says "queued" that is
 * not. A database failure rolls everything back (exit 2).
 */
#include "ctl_payout.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ctl_print.h"
#include "ctl_review.h"
#include "log.h"
#include "payout.h"
#include "payout_check.h"
#include "store.h"
#include "store_decision.h"
#include "store_payout.h"
#include "timeutil.h"

/* A line of pay --file longer than this is refused. */
#define PAY_LINE_MAX 65536

static void print_escaped(FILE *out, const char *s)
{
    log_print_escaped(out, s, strlen(s));
}

/* ---- pay ------------------------------------------------------------------------------------ */

/* The JSON keys of pay --file: the payouts columns a tool may write, and where they go. */
static const char **field(struct payout_request *r, const char *key)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"no_order", offsetof(struct payout_request, no_order)},
        {"dt_order", offsetof(struct payout_request, dt_order)},
        {"money_order", offsetof(struct payout_request, money_order)},
        {"card_no", offsetof(struct payout_request, card_no)},
        {"acct_name", offsetof(struct payout_request, acct_name)},
        {"bank_name", offsetof(struct payout_request, bank_name)},
        {"info_order", offsetof(struct payout_request, info_order)},
        {"flag_card", offsetof(struct payout_request, flag_card)},
        {"memo", offsetof(struct payout_request, memo)},
        {"prcptcd", offsetof(struct payout_request, prcptcd)},
        {"bank_code", offsetof(struct payout_request, bank_code)},
        {"city_code", offsetof(struct payout_request, city_code)},
        {"brabank_name", offsetof(struct payout_request, brabank_name)},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strcmp(key, fields[i].name) == 0)
            return (const char **)((char *)r + fields[i].offset);
    return NULL;
}

/* Fills *r from a JSON object whose values are strings (borrowed from obj). Returns NULL, or why
 * the line cannot be a payout. */
static const char *from_json(const cJSON *obj, struct payout_request *r, char *buf, size_t len)
{
    const cJSON *m;

    memset(r, 0, sizeof(*r));
    if (!cJSON_IsObject(obj))
        return "not a JSON object";
    cJSON_ArrayForEach(m, obj)
    {
        const char **slot = field(r, m->string);
        if (slot == NULL) {
            snprintf(buf, len, "unknown key \"%.40s\" (keys are payouts column names)", m->string);
            return buf;
        }
        if (*slot != NULL) {
            snprintf(buf, len, "%s: given twice", m->string);
            return buf;
        }
        if (cJSON_IsNull(m))
            continue;
        if (!cJSON_IsString(m)) {
            /* a number would go through a double: money must stay exact text */
            snprintf(buf, len, "%s: must be a string", m->string);
            return buf;
        }
        *slot = m->valuestring;
    }
    return NULL;
}

struct pay_run {
    struct store *st;
    FILE *results; /* printed after the commit */
    long queued, refused;
};

/* Checks and queues r; line 0 for the arguments' payout. Returns 0, or -1 on a database error. */
static int pay_one(struct pay_run *run, const struct payout_request *r, long line,
                   const char *unusable)
{
    char why[512], buf[512];
    enum store_payout_result res = STORE_PAYOUT_REFUSED;
    const char *reason = unusable;

    if (reason == NULL)
        reason = payout_check(r, buf, sizeof(buf));
    if (reason == NULL) {
        if (store_payout_queue(run->st, r, &res, why, sizeof(why)) < 0)
            return -1;
        if (res == STORE_PAYOUT_DONE && ctl_json()) {
            ctl_json_result(run->results, r->no_order, line, "queued", NULL);
            run->queued++;
            return 0;
        }
        if (res == STORE_PAYOUT_DONE) {
            fputs("queued ", run->results);
            print_escaped(run->results, r->no_order);
            fputc('\n', run->results);
            run->queued++;
            return 0;
        }
        reason = why;
    }
    run->refused++;
    if (ctl_json()) {
        ctl_json_result(run->results, r->no_order, line, "refused", reason);
        return 0;
    }
    fputs("refused ", run->results);
    print_escaped(run->results, r->no_order != NULL ? r->no_order : "-");
    fputs(": ", run->results);
    if (line > 0)
        fprintf(run->results, "line %ld: ", line);
    print_escaped(run->results, reason);
    fputc('\n', run->results);
    return 0;
}

/* One payout per line of f. Returns 0, or -1 (database error; a read error says so too). */
static int pay_lines(struct pay_run *run, FILE *f, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long number = 0;
    int ret = 0;

    while ((n = getline(&line, &cap, f)) >= 0) {
        struct payout_request r;
        char buf[128];
        const char *unusable = NULL;
        cJSON *obj = NULL;

        number++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue; /* a blank line is no payout */
        memset(&r, 0, sizeof(r));
        if (n > PAY_LINE_MAX)
            unusable = "line longer than 64 KiB";
        else if (strlen(line) != (size_t)n)
            unusable = "line holds a NUL byte";
        else if (strstr(line, "\\u0000") != NULL)
            /* cJSON would end the string there: a card number cut short is another card */
            unusable = "line holds \\u0000";
        else if ((obj = cJSON_ParseWithLength(line, (size_t)n)) == NULL)
            unusable = "not JSON";
        else
            unusable = from_json(obj, &r, buf, sizeof(buf));
        if (pay_one(run, &r, number, unusable) < 0)
            ret = -1;
        cJSON_Delete(obj);
        if (ret < 0)
            break;
    }
    if (ret == 0 && ferror(f)) {
        ctl_fail("%s: %s", name, strerror(errno));
        ret = -2;
    }
    free(line);
    return ret;
}

/* The payout of pay's arguments: NO_ORDER MONEY_ORDER DT_ORDER CARD_NO ACCT_NAME [options]. */
static int pay_arguments(int argc, char **argv, struct payout_request *r, const char **file)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"flag-card", required_argument, NULL, 'F'},
        {"info-order", required_argument, NULL, 'i'},
        {"memo", required_argument, NULL, 'm'},
        {"bank-code", required_argument, NULL, 'b'},
        {"prcptcd", required_argument, NULL, 'p'},
        {"city-code", required_argument, NULL, 'c'},
        {"brabank-name", required_argument, NULL, 'r'},
        {"bank-name", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(r, 0, sizeof(*r));
    *file = NULL;
    optind = 0; /* GNU: start afresh, permuting (main's getopt stopped at the verb) */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            *file = optarg;
            break;
        case 'F':
            r->flag_card = optarg;
            break;
        case 'i':
            r->info_order = optarg;
            break;
        case 'm':
            r->memo = optarg;
            break;
        case 'b':
            r->bank_code = optarg;
            break;
        case 'p':
            r->prcptcd = optarg;
            break;
        case 'c':
            r->city_code = optarg;
            break;
        case 'r':
            r->brabank_name = optarg;
            break;
        case 'n':
            r->bank_name = optarg;
            break;
        default:
            return -1;
        }
    }
    if (*file != NULL)
        return optind == argc && r->flag_card == NULL && r->info_order == NULL && r->memo == NULL &&
                       r->bank_code == NULL && r->prcptcd == NULL && r->city_code == NULL &&
                       r->brabank_name == NULL && r->bank_name == NULL
                   ? 0
                   : -1;
    if (argc - optind != 5)
        return -1;
    r->no_order = argv[optind];
    r->money_order = argv[optind + 1];
    r->dt_order = argv[optind + 2];
    r->card_no = argv[optind + 3];
    r->acct_name = argv[optind + 4];
    return 0;
}

int ctl_payout_pay(struct store *st, int argc, char **argv, FILE *out)
{
    struct payout_request r;
    const char *file = NULL;
    struct pay_run run = {.st = st};
    char *results = NULL;
    size_t results_len = 0;
    FILE *f = NULL;
    int status = 2, rc;

    if (pay_arguments(argc, argv, &r, &file) < 0)
        return ctl_fail(
            "usage: pay NO_ORDER MONEY_ORDER DT_ORDER CARD_NO ACCT_NAME [--flag-card 0|1] "
            "[--info-order T] [--memo T] [--bank-code C] [--prcptcd C] [--city-code C] "
            "[--brabank-name T] [--bank-name T], or pay --file F|-");
    if (file != NULL) {
        f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
        if (f == NULL)
            return ctl_fail("%s: %s", file, strerror(errno));
    }
    run.results = open_memstream(&results, &results_len);
    if (run.results == NULL) {
        status = ctl_fail("out of memory");
        goto out;
    }
    int64_t started = time_now_ms();
    if (store_begin(st) < 0) {
        status = ctl_fail("%s", store_errmsg(st));
        goto out;
    }
    rc = f != NULL ? pay_lines(&run, f, file) : pay_one(&run, &r, 0, NULL);
    if (rc < 0 || store_commit(st) < 0) {
        if (rc != -2)
            ctl_fail("%s: nothing was queued", store_errmsg(st));
        (void)store_rollback(st);
        goto out;
    }
    int64_t took = time_now_ms() - started;
    fclose(run.results);
    run.results = NULL;
    if (fwrite(results, 1, results_len, out) != results_len || fflush(out) != 0)
        goto out;
    if (f != NULL)
        fprintf(stderr, "%ld queued, %ld refused in %" PRId64 " ms (%.0f a second)\n", run.queued,
                run.refused, took,
                (double)(run.queued + run.refused) * 1000.0 / (double)(took > 0 ? took : 1));
    status = run.refused > 0 ? 1 : 0;
out:
    if (run.results != NULL)
        fclose(run.results);
    free(results);
    if (f != NULL && f != stdin)
        fclose(f);
    return status;
}

/* ---- payouts, cancel, status ---------------------------------------------------------------- */

static const char *const states[] = {"queued",  "sending", "accepted", "review",   "confirming",
                                     "refused", "unknown", "closed",   "cancelled"};

/* The stored card as logs show it: the whole value must be a C string to be masked. */
static void mask_card(struct store_value v, char masked[PAYOUT_MASKED_CARD_LEN])
{
    payout_mask_card(v.text != NULL && strlen(v.text) == v.len ? v.text : "", masked);
}

static void print_card(FILE *out, struct store_value v)
{
    char masked[PAYOUT_MASKED_CARD_LEN];

    mask_card(v, masked);
    fputs(masked, out);
}

/* A name is personal data: payout_mask_name's first character and one '*'. */
static void print_name(FILE *out, struct store_value v)
{
    char masked[PAYOUT_MASKED_NAME_LEN];

    if (v.text == NULL) {
        fputs("-", out);
        return;
    }
    payout_mask_name(v.text, v.len, masked);
    log_print_escaped(out, masked, strlen(masked));
}

/* The masked card and name as JSON strings; any other column as stored. */
static cJSON *json_column(const char *name, struct store_value v)
{
    char buf[PAYOUT_MASKED_CARD_LEN + 8];

    if (strcmp(name, "card_no") == 0) {
        mask_card(v, buf);
        return cJSON_CreateString(buf);
    }
    if (strcmp(name, "acct_name") == 0) {
        if (v.text == NULL)
            return cJSON_CreateNull();
        payout_mask_name(v.text, v.len, buf);
        return ctl_json_value((struct store_value){buf, strlen(buf)});
    }
    return ctl_json_value(v);
}

struct list_ctx {
    FILE *out;
    int64_t now;
};

static void list_line(void *ctx, const struct store_payout_line *l)
{
    struct list_ctx *c = ctx;
    int64_t queued = 0;
    bool age = l->queued_at.text != NULL && time_parse_iso(l->queued_at.text, &queued) == 0;
    int64_t age_s = age && c->now > queued ? (c->now - queued) / 1000 : 0;

    if (ctl_json()) {
        cJSON *o = cJSON_CreateObject();
        ctl_json_put(o, "no_order", ctl_json_value(l->no_order));
        ctl_json_put(o, "state", ctl_json_value(l->state));
        ctl_json_put(o, "money_order", ctl_json_value(l->money_order));
        ctl_json_put(o, "age_seconds",
                     age ? cJSON_CreateNumber((double)age_s) : cJSON_CreateNull());
        ctl_json_put(o, "card_no", json_column("card_no", l->card_no));
        ctl_json_put(o, "reason", ctl_json_value(l->reason));
        (void)ctl_json_print(c->out, o);
        return;
    }
    ctl_print_value(c->out, l->no_order);
    fputc(' ', c->out);
    ctl_print_value(c->out, l->state);
    fputc(' ', c->out);
    ctl_print_value(c->out, l->money_order);
    if (age)
        fprintf(c->out, " %" PRId64 "s ", age_s);
    else
        fputs(" - ", c->out);
    print_card(c->out, l->card_no);
    fputc(' ', c->out);
    ctl_print_value(c->out, l->reason);
    fputc('\n', c->out);
}

int ctl_payout_list(struct store *st, int argc, char **argv, FILE *out)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *state = NULL;
    struct list_ctx ctx = {out, time_now_ms()};
    int c;

    optind = 0; /* as in pay_arguments */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 's')
            return ctl_fail("usage: payouts [--state S]");
        state = optarg;
    }
    if (optind != argc)
        return ctl_fail("usage: payouts [--state S]");
    if (state != NULL) {
        size_t i = 0;
        while (i < sizeof(states) / sizeof(states[0]) && strcmp(state, states[i]) != 0)
            i++;
        if (i == sizeof(states) / sizeof(states[0]))
            return ctl_fail("payouts: unknown state \"%.32s\" (queued sending accepted review "
                            "confirming refused unknown closed cancelled)",
                            state);
    }
    if (store_payout_list(st, state, list_line, &ctx) < 0)
        return ctl_fail("%s", store_errmsg(st));
    return fflush(out) == 0 && !ferror(out) ? 0 : 2;
}

/* ---- a person's decisions: cancel, confirm, decline, resubmit -------------------------------- */

/* How long confirm waits for the daemon by default, and how often it looks. */
#define CONFIRM_WAIT_S  60
#define CONFIRM_POLL_MS 200

/* Why decision d does not apply to the payout b is in. */
static const char *refusal(enum store_payout_decision d, const struct store_payout_brief *b)
{
    switch (d) {
    case STORE_DECIDE_CANCEL:
        return "only a queued or refused payout can be cancelled: one that LianLian may have "
               "is queried, never cancelled";
    case STORE_DECIDE_CONFIRM:
        if (strcmp(b->state, "review") == 0)
            return "its confirm code has lapsed (30 minutes): it is closed shortly, nothing is "
                   "paid";
        if (strcmp(b->state, "confirming") == 0)
            return "its confirm is being sent now";
        return "only a payout in review (LianLian asks to confirm a suspected duplicate) can be "
               "confirmed";
    case STORE_DECIDE_DECLINE:
        if (strcmp(b->state, "review") == 0)
            return "a confirm is requested: the daemon sends it (wait for its answer)";
        if (strcmp(b->state, "confirming") == 0)
            return "its confirm is in flight";
        return "only a payout in review can be declined";
    case STORE_DECIDE_RESUBMIT:
        if (strcmp(b->state, "unknown") == 0)
            return "its result is unknown and LianLian may have it: it is queried, never sent "
                   "again (resubmit only when the reason says \"" STORE_NO_RECORD_PREFIX "\")";
        return "only a refused payout, or an unknown one LianLian has no record of, can be "
               "resubmitted";
    }
    return "not in a state this applies to";
}

/* The row after a decision or the wait: one JSON object, or one line. Returns 0, or -1. */
static int print_brief(FILE *out, const char *no_order, const char *outcome,
                       const struct store_payout_brief *b)
{
    if (ctl_json()) {
        cJSON *o = cJSON_CreateObject();
        ctl_json_put(o, "no_order", ctl_json_string(no_order));
        ctl_json_put(o, "outcome", ctl_json_string(outcome));
        ctl_json_put(o, "state", ctl_json_string(b->state));
        ctl_json_put(o, "ret_code", ctl_json_string(b->ret_code[0] ? b->ret_code : NULL));
        ctl_json_put(o, "ret_msg", ctl_json_string(b->ret_msg[0] ? b->ret_msg : NULL));
        ctl_json_put(o, "oid_paybill", ctl_json_string(b->oid_paybill[0] ? b->oid_paybill : NULL));
        ctl_json_put(o, "confirm_tries", cJSON_CreateNumber(b->confirm_tries));
        ctl_json_put(o, "reason", ctl_json_string(b->reason[0] ? b->reason : NULL));
        return ctl_json_print(out, o);
    }
    fputs(outcome, out);
    fputc(' ', out);
    print_escaped(out, no_order);
    fputs(": ", out);
    print_escaped(out, b->state);
    if (b->ret_code[0]) {
        fputs(" ret_code=", out);
        print_escaped(out, b->ret_code);
    }
    if (b->ret_msg[0]) {
        fputs(" ret_msg=", out);
        print_escaped(out, b->ret_msg);
    }
    if (b->oid_paybill[0]) {
        fputs(" oid_paybill=", out);
        print_escaped(out, b->oid_paybill);
    }
    if (b->reason[0]) {
        fputs(" (", out);
        print_escaped(out, b->reason);
        fputc(')', out);
    }
    fputc('\n', out);
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

/* Makes decision d on no_order as the caller (getuid's user name, SUDO_USER), its reason
 * "DONE by USER[ via sudo from SUDO_USER]" (done NULL keeps the stored reason); prints a
 * refusal. Returns -1 when done (go on), or the exit status. */
static int decide(struct store *st, enum store_payout_decision d, const char *no_order,
                  const char *done, struct store_payout_brief *b)
{
    enum store_payout_result res;
    char now[TIME_ISO_LEN], reason[160], uidname[32];
    struct store_person by;

    by.user = ctl_review_user(uidname, sizeof(uidname), &by.sudo_user);
    snprintf(reason, sizeof(reason), "%s by %s%s%s", done != NULL ? done : "", by.user,
             by.sudo_user != NULL ? " via sudo from " : "",
             by.sudo_user != NULL ? by.sudo_user : "");
    time_iso(time_now_ms(), now);
    if (store_payout_decide(st, d, &by, no_order, now, done != NULL ? reason : NULL, &res, b) < 0)
        return ctl_fail("%s", store_errmsg(st));
    if (res == STORE_PAYOUT_DONE)
        return -1;
    if (res == STORE_PAYOUT_UNKNOWN) {
        fputs("lianpayctl: no payout ", stderr);
        print_escaped(stderr, no_order);
        fputc('\n', stderr);
        return 2;
    }
    fprintf(stderr, "lianpayctl: cannot %s ", store_payout_decision_name(d));
    print_escaped(stderr, no_order);
    fputs(": it is ", stderr);
    print_escaped(stderr, b->state);
    fprintf(stderr, " (%s)\n", refusal(d, b));
    return 1;
}

/* cancel, decline, resubmit: the decision, recorded as "VERBed by USER" where it has a reason. */
static int simple_decision(struct store *st, enum store_payout_decision d, int argc, char **argv,
                           FILE *out)
{
    static const char *const done[] = {
        [STORE_DECIDE_CANCEL] = "cancelled",
        [STORE_DECIDE_CONFIRM] = "confirm requested",
        [STORE_DECIDE_DECLINE] = "declined",
        [STORE_DECIDE_RESUBMIT] = "resubmitted",
    };
    struct store_payout_brief b;

    if (argc != 2)
        return ctl_fail("usage: %s NO_ORDER", store_payout_decision_name(d));
    int rc = decide(st, d, argv[1], done[d], &b);
    if (rc >= 0)
        return rc;
    if (d != STORE_DECIDE_CANCEL)
        return print_brief(out, argv[1], done[d], &b) < 0 ? 2 : 0;
    /* cancel prints what it printed before this file had decisions: scripts read it. */
    if (ctl_json()) {
        cJSON *o = cJSON_CreateObject();
        ctl_json_put(o, "no_order", ctl_json_string(argv[1]));
        ctl_json_put(o, "outcome", cJSON_CreateString("cancelled"));
        return ctl_json_print(out, o) < 0 ? 2 : 0;
    }
    fputs("cancelled ", out);
    print_escaped(out, argv[1]);
    fputc('\n', out);
    return 0;
}

int ctl_payout_cancel(struct store *st, int argc, char **argv, FILE *out)
{
    return simple_decision(st, STORE_DECIDE_CANCEL, argc, argv, out);
}

int ctl_payout_decline(struct store *st, int argc, char **argv, FILE *out)
{
    return simple_decision(st, STORE_DECIDE_DECLINE, argc, argv, out);
}

int ctl_payout_resubmit(struct store *st, int argc, char **argv, FILE *out)
{
    return simple_decision(st, STORE_DECIDE_RESUBMIT, argc, argv, out);
}

/* The confirm is still to be sent or in flight. */
static bool confirm_pending(const struct store_payout_brief *b)
{
    return strcmp(b->state, "confirming") == 0 ||
           (strcmp(b->state, "review") == 0 && b->confirm_requested);
}

int ctl_payout_confirm(struct store *st, int argc, char **argv, FILE *out)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    int64_t wait_s = CONFIRM_WAIT_S;
    struct store_payout_brief b;
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 't' || time_parse_duration(optarg, &wait_s) < 0 || wait_s <= 0)
            return ctl_fail("confirm: --timeout wants a duration such as 60s or 5m");
    }
    if (argc - optind != 1)
        return ctl_fail("usage: confirm NO_ORDER [--timeout DURATION]");
    const char *no_order = argv[optind];
    int rc = decide(st, STORE_DECIDE_CONFIRM, no_order, "confirm requested", &b);
    if (rc >= 0)
        return rc;

    /* The submit thread sends it; its answer is in the row when neither pending nor in flight. */
    int64_t deadline = time_mono_ms() + wait_s * 1000;
    while (confirm_pending(&b)) {
        if (time_mono_ms() >= deadline) {
            fputs("lianpayctl: confirm ", stderr);
            print_escaped(stderr, no_order);
            fprintf(stderr,
                    ": no answer after %" PRId64 " s (it is %s; the daemon may be stopped or "
                    "[submit] off: the request stays and is sent when the daemon runs)\n",
                    wait_s, b.state);
            return 2;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = CONFIRM_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        int row = store_payout_brief(st, no_order, &b);
        if (row < 0)
            return ctl_fail("%s", store_errmsg(st));
        if (row == 0)
            return ctl_fail("confirm: the payout is gone");
    }
    if (print_brief(out, no_order, "confirm answered", &b) < 0)
        return 2;
    return strcmp(b.state, "accepted") == 0 ? 0 : 1;
}

/* Names are padded to line the values up, as ctl_print.c does for the payments row. */
#define NAME_WIDTH 21

struct print_ctx {
    FILE *out;
    const char *indent;
    int numbered; /* attempts: a "#n" line before each */
    int last_row;
};

static void print_column(void *ctx, int row, const char *name, struct store_value v)
{
    struct print_ctx *c = ctx;
    size_t n = strlen(name);

    if (c->numbered && row != c->last_row)
        fprintf(c->out, "  #%d\n", row + 1);
    c->last_row = row;
    fprintf(c->out, "%s%s:%*s", c->indent, name, n < NAME_WIDTH ? (int)(NAME_WIDTH - n) : 1, "");
    if (strcmp(name, "card_no") == 0)
        print_card(c->out, v);
    else if (strcmp(name, "acct_name") == 0)
        print_name(c->out, v);
    else
        ctl_print_value(c->out, v);
    fputc('\n', c->out);
}

/* The payout row goes through a buffer: its header is printed only when there is one. */
int ctl_payout_print(struct store *st, const char *no_order, FILE *out)
{
    struct print_ctx ctx = {NULL, "  ", 0, -1};
    char *row = NULL;
    size_t len = 0;
    int rows = -1;

    ctx.out = open_memstream(&row, &len);
    if (ctx.out == NULL)
        return -1;
    rows = store_payout_columns(st, no_order, print_column, &ctx);
    fclose(ctx.out);
    if (rows > 0) {
        fputs("payout:\n", out);
        fwrite(row, 1, len, out);
        fputs("payout attempts:\n", out);
        ctx = (struct print_ctx){out, "    ", 1, -1};
        int attempts = store_payout_attempts(st, no_order, print_column, &ctx);
        if (attempts == 0)
            fputs("  -\n", out);
        rows = attempts < 0 ? -1 : rows;
    }
    free(row);
    return rows < 0 ? -1 : 0;
}

/* status --json's objects: one per row of a listing (attempts), or the first row alone. */
struct json_rows {
    cJSON *rows; /* an array, or NULL when only the first row is kept */
    cJSON *row;
    int last_row;
};

static void json_payout_column(void *ctx, int row, const char *name, struct store_value v)
{
    struct json_rows *c = ctx;

    if (row != c->last_row) {
        c->row = cJSON_CreateObject();
        c->last_row = row;
        if (c->rows != NULL && !cJSON_AddItemToArray(c->rows, c->row)) {
            cJSON_Delete(c->row);
            c->row = NULL;
        }
    }
    bool number = strcmp(name, "amount_fen") == 0 || strcmp(name, "attempts") == 0 ||
                  strcmp(name, "confirm_tries") == 0 || strcmp(name, "id") == 0 ||
                  strcmp(name, "signed") == 0;
    ctl_json_put(c->row, name, number ? ctl_json_int(v) : json_column(name, v));
}

int ctl_payout_json(struct store *st, const char *no_order, cJSON *o)
{
    struct json_rows payout = {NULL, NULL, -1}, attempts = {cJSON_CreateArray(), NULL, -1};
    int rows = store_payout_columns(st, no_order, json_payout_column, &payout);

    if (rows > 0 && store_payout_attempts(st, no_order, json_payout_column, &attempts) < 0)
        rows = -1;
    ctl_json_put(o, "payout", payout.row != NULL ? payout.row : cJSON_CreateNull());
    ctl_json_put(o, "attempts", attempts.rows);
    return rows < 0 ? -1 : 0;
}
