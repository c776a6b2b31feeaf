/*
 * lianpayctl review list and review resolve (ctl_review.h): what a person must look at, and the
 * record that they did (store_review.c). Single-threaded, one store connection.
 *
 * resolve names the person by the user name of getuid() and, under sudo, SUDO_USER as well: the
 * uid is what the kernel vouches for, SUDO_USER who sudo says asked. Neither is a proof against
 * the owner of the database, who can write any row; the table is a trail for people who work
 * through lianpayctl, kept append-only by its triggers.
 */
#include "ctl_review.h"

#include <getopt.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl_print.h"
#include "log.h"
#include "store.h"
#include "store_review.h"
#include "timeutil.h"

static const char *const review_keys[STORE_REVIEW_COLUMNS] = {
    "no_order", "updated_at", "flagged", "result_pay", "money_order", "payout_state", "reason",
};

struct list_ctx {
    FILE *out;
    int failed;
};

static void print_row(void *ctx, const struct store_value *cols)
{
    struct list_ctx *c = ctx;

    if (ctl_json()) {
        cJSON *o = cJSON_CreateObject();
        for (int i = 0; o != NULL && i < STORE_REVIEW_COLUMNS; i++) {
            cJSON *v = i == 2 ? cJSON_CreateBool(cols[i].text && cols[i].text[0] == '1')
                              : ctl_json_value(cols[i]);
            if (v == NULL || !cJSON_AddItemToObject(o, review_keys[i], v)) {
                cJSON_Delete(v);
                cJSON_Delete(o);
                o = NULL;
            }
        }
        if (ctl_json_print(c->out, o) < 0)
            c->failed = 1;
        return;
    }
    /* The reason last: it is the one value with spaces in it. */
    for (int i = 0; i < STORE_REVIEW_COLUMNS; i++) {
        if (i > 0)
            fputc(' ', c->out);
        ctl_print_value(c->out, cols[i]);
    }
    fputc('\n', c->out);
}

int ctl_review_list(struct store *st, int argc, char **argv, FILE *out)
{
    struct list_ctx c = {out, 0};

    (void)argv;
    if (argc != 1)
        return ctl_fail("usage: review list");
    if (!ctl_json())
        fputs("no_order updated_at flagged result_pay money_order payout_state reason\n", out);
    if (store_review_rows(st, print_row, &c) < 0)
        return ctl_fail("review list: %s", store_errmsg(st));
    if (c.failed)
        return ctl_fail("review list: out of memory");
    if (fflush(out) != 0 || ferror(out))
        return ctl_fail("review list: cannot write the output");
    return 0;
}

static int print_resolved(FILE *out, const struct store_resolution *r)
{
    if (!ctl_json()) {
        fputs(r->no_order, out); /* NO_ORDER was found in payments: its CHECK keeps it printable */
        fputs(r->requery ? ": resolved; chased again from now\n" : ": resolved\n", out);
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToObject(o, "no_order", ctl_json_string(r->no_order)) ||
        !cJSON_AddStringToObject(o, "outcome", "resolved") ||
        !cJSON_AddItemToObject(o, "resolved_by", ctl_json_string(r->resolved_by)) ||
        !cJSON_AddItemToObject(o, "sudo_user", ctl_json_string(r->sudo_user)) ||
        !cJSON_AddBoolToObject(o, "requery", r->requery)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return ctl_json_print(out, o);
}

const char *ctl_review_user(char *buf, size_t len, const char **sudo_user)
{
    struct passwd *pw = getpwuid(getuid());
    if (pw == NULL)
        snprintf(buf, len, "uid %u", (unsigned)getuid());
    *sudo_user = getenv("SUDO_USER");
    if (*sudo_user != NULL && (*sudo_user)[0] == '\0')
        *sudo_user = NULL;
    return pw != NULL ? pw->pw_name : buf;
}

int ctl_review_resolve(struct store *st, int argc, char **argv, FILE *out)
{
    static const struct option opts[] = {
        {"note", required_argument, NULL, 'n'},
        {"requery", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    struct store_resolution r = {0};
    enum store_resolve_result res;
    char why[512], uidname[32];
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'n')
            r.note = optarg;
        else if (c == 'r')
            r.requery = true;
        else
            return 2;
    }
    if (argc - optind != 1 || r.note == NULL)
        return ctl_fail("usage: review resolve NO_ORDER --note TEXT [--requery]");
    if (r.note[0] == '\0')
        return ctl_fail("review resolve: the note is empty (say what was decided and why)");
    r.no_order = argv[optind];
    r.resolved_by = ctl_review_user(uidname, sizeof(uidname), &r.sudo_user);
    r.now_ms = time_now_ms();
    if (store_review_resolve(st, &r, &res, why, sizeof(why)) < 0)
        return ctl_fail("review resolve: %s", store_errmsg(st));
    if (res == STORE_RESOLVE_UNKNOWN) {
        fputs("lianpayctl: ", stderr);
        log_print_escaped(stderr, r.no_order, strlen(r.no_order));
        fputs(": no such order\n", stderr);
        return 2;
    }
    if (res == STORE_RESOLVE_REFUSED) {
        fprintf(stderr, "lianpayctl: %s: %s\n", r.no_order, why);
        return 1;
    }
    if (print_resolved(out, &r) < 0 || fflush(out) != 0 || ferror(out))
        return ctl_fail("review resolve: resolved, but cannot write the output");
    return 0;
}
