/*
 * lianpayctl: the operator's and internal tools' command line (design.md, programs).
 * Each verb is one function; exit status 0 means done, 1 a negative answer (invalid signature,
 * unknown order, flagged), 2 unusable input or a failure, with a one-line reason on stderr.
 *
 * The verbs are run by members of the daemon's group, who may read the configuration but not the
 * merchant key: only query, which signs, loads it. Whatever came from outside (an answer's bytes,
 * a message's values, what the database holds) is printed through log_print_escaped, so that no
 * control sequence reaches the terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attempt.h"
#include "config.h"
#include "ctl_backup.h"
#include "ctl_payout.h"
#include "ctl_print.h"
#include "ctl_review.h"
#include "devconfig.h"
#include "fileio.h"
#include "keys.h"
#include "log.h"
#include "keyring.h"
#include "msg.h"
#include "query.h"
#include "sign.h"
#include "store.h"
#include "timeutil.h"

#include "lianpay-config.h"

#define MAX_MESSAGE (1 << 20)

static const char *config_file = CONFIG_DEFAULT_FILE;
static const char *dev_dir; /* --dev DIR: the daemon's embedded development configuration */

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: lianpayctl [-c FILE] [--json] VERB [ARGS]\n"
        "\n"
        "  verify [-v] [--public-key FILE] [MSG]   check a LianLian-signed JSON message\n"
        "                                          (exit 0 valid, 1 invalid, 2 unusable)\n"
        "  sign --private-key FILE [MSG]           print MSG with sign_type and sign set\n"
        "  register NO_ORDER MONEY_ORDER DT_ORDER  record a submitted payout to be chased\n"
        "  register --file F|-                     many, one JSON object a line, in one\n"
        "                                          transaction\n"
        "  status NO_ORDER                         an order's state and event history, and\n"
        "                                          its payout and attempts\n"
        "  pending                                 the orders still chased, oldest first\n"
        "  query [--apply] NO_ORDER                ask LianLian (queryPayment) once and print\n"
        "                                          the verified answer; --apply records it\n"
        "  pay NO_ORDER MONEY_ORDER DT_ORDER CARD_NO ACCT_NAME [--flag-card 0|1]\n"
        "      [--info-order T] [--memo T] [--bank-code C] [--prcptcd C] [--city-code C]\n"
        "      [--brabank-name T] [--bank-name T]  queue a payout for the daemon to send\n"
        "  pay --file F|-                          one JSON object a line, one transaction\n"
        "                                          (exit 0 all queued, 1 some refused)\n"
        "  backup FILE                             a consistent copy of the database, checked,\n"
        "                                          synced and renamed into place\n"
        "  archive --before DATE FILE              move final orders (final_at < DATE) and\n"
        "                                          their journal into the archive FILE\n"
        "  payouts [--state S]                     the payouts, oldest first\n"
        "  cancel NO_ORDER                         cancel a payout still queued, or a refused\n"
        "                                          one a person gives up on\n"
        "  confirm NO_ORDER [--timeout D]          have the daemon confirm a payout in review\n"
        "                                          and print LianLian's answer (waits 60 s)\n"
        "  decline NO_ORDER                        close a payout in review: nothing is paid\n"
        "  resubmit NO_ORDER                       queue a refused payout (or one LianLian has\n"
        "                                          no record of) again, the same fields\n"
        "  review list                             what waits for a person, oldest first\n"
        "  review resolve NO_ORDER --note TEXT [--requery]\n"
        "                                          record who resolved it and why, and clear\n"
        "                                          the flag (--requery: chase it again)\n"
        "\n"
        "MSG is a file name; without it the message is read from standard input.\n"
        "  -c, --config FILE  configuration (default " CONFIG_DEFAULT_FILE ")\n"
        "      --dev DIR      the development configuration of lianpay-notifyd --dev DIR\n"
        "      --json         one JSON object per result line (lianpayctl(1) has the keys)\n"
        "  -V, --version      print the version\n");
}

/* Reads a whole message from path (stdin when path is NULL or "-") and parses it into *m.
 * Returns 0, or -1 after printing why. */
static int load_message(const char *path, struct msg *m)
{
    const char *name = path == NULL || strcmp(path, "-") == 0 ? "stdin" : path;
    const char *why = NULL;
    char reason[256];
    size_t n = 0;
    char *buf =
        fileio_read(path ? path : "-", MAX_MESSAGE, FILEIO_STDIN, &n, reason, sizeof(reason));
    int rc = -1;

    if (buf == NULL)
        ctl_fail("%s: %s", name,
                 errno == EFBIG ? "cannot read the message (at most 1 MiB)" : reason);
    else if (msg_parse(buf, n, m, &why) < 0)
        ctl_fail("%s: not a usable message: %s", name, why);
    else
        rc = 0;
    free(buf);
    return rc;
}

/* flags: CONFIG_NO_SECRETS for every verb that does not sign. */
static int load_config(struct config *cfg, unsigned flags)
{
    char err[1024];
    if (devconfig_load(dev_dir, config_file, flags, cfg, NULL, err, sizeof(err)) == 0)
        return 0;
    ctl_fail("%s", err);
    return -1;
}

/* One line: label, then text (len bytes) escaped, for text that came from outside. */
static void show(const char *label, const char *text, size_t len)
{
    fputs(label, stdout);
    log_print_escaped(stdout, text, len);
    fputc('\n', stdout);
}

static void show_str(const char *label, const char *text)
{
    show(label, text, strlen(text));
}

static int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"public-key", required_argument, NULL, 'k'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    const char *key_file = NULL;
    int verbose = 0, c, status = 2;
    struct keyset keys = {0};
    struct config cfg = {0};
    struct msg m = {0};
    char *signed_str = NULL;
    char err[1024];

    while ((c = getopt_long(argc, argv, "+k:v", opts, NULL)) != -1) {
        if (c == 'k')
            key_file = optarg;
        else if (c == 'v')
            verbose = 1;
        else
            return 2;
    }
    if (argc - optind > 1)
        return ctl_fail("verify: one message at a time");
    if (key_file != NULL) {
        if (keys_load_set(key_file, &keys, err, sizeof(err)) < 0)
            return ctl_fail("%s", err);
    } else {
        if (load_config(&cfg, CONFIG_NO_SECRETS) < 0)
            return 2;
        keys = cfg.public_keys;
        cfg.public_keys = (struct keyset){0};
    }
    if (load_message(optind < argc ? argv[optind] : NULL, &m) < 0)
        goto out;
    if (msg_find(&m, "sign") == NULL) {
        ctl_fail("not a usable message: no sign member");
        goto out;
    }
    signed_str = sign_string(&m, NULL);
    int idx = sign_verify_msg(&m, keys.keys, keys.n);
    if (ctl_json()) {
        cJSON *o = cJSON_CreateObject();
        ctl_json_put(o, "valid", cJSON_CreateBool(idx >= 0));
        ctl_json_put(o, "key", idx >= 0 ? cJSON_CreateNumber(idx + 1) : cJSON_CreateNull());
        ctl_json_put(o, "keys", cJSON_CreateNumber((double)keys.n));
        if (verbose)
            ctl_json_put(o, "signed_string", ctl_json_string(signed_str));
        status = ctl_json_print(stdout, o) < 0 ? 2 : idx >= 0 ? 0 : 1;
        goto out;
    }
    if (verbose && signed_str != NULL)
        show("signed string: ", signed_str, strlen(signed_str));
    if (idx >= 0) {
        printf("valid: signed by key %d of %zu\n", idx + 1, keys.n);
        status = 0;
    } else {
        printf("invalid: the signature does not verify with %s key%s\n",
               keys.n == 1 ? "the" : "any", keys.n == 1 ? "" : "s");
        status = 1;
    }
out:
    free(signed_str);
    msg_finish(&m);
    keys_set_finish(&keys);
    config_finish(&cfg);
    return status;
}

static int cmd_sign(int argc, char **argv)
{
    static const struct option opts[] = {
        {"private-key", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *key_file = NULL;
    int c, status = 2;
    EVP_PKEY *key = NULL;
    struct msg m = {0};
    char *out = NULL;
    char err[1024];

    while ((c = getopt_long(argc, argv, "+k:", opts, NULL)) != -1) {
        if (c != 'k')
            return 2;
        key_file = optarg;
    }
    if (key_file == NULL)
        return ctl_fail("sign: --private-key FILE is required");
    key = keys_load_private(key_file, err, sizeof(err));
    if (key == NULL)
        return ctl_fail("%s", err);
    if (load_message(optind < argc ? argv[optind] : NULL, &m) < 0)
        goto out;
    if (sign_msg(&m, key) < 0 || (out = msg_to_json(&m)) == NULL) {
        ctl_fail("cannot sign the message");
        goto out;
    }
    printf("%s\n", out);
    status = 0;
out:
    free(out);
    msg_finish(&m);
    EVP_PKEY_free(key);
    return status;
}

/* The line register prints for one order; returns 1 for one flagged for review, else 0. */
static int print_registered(const char *no_order, size_t line, enum store_register_result res)
{
    static const char *const outcomes[] = {
        [STORE_REGISTERED] = "registered",
        [STORE_ALREADY] = "already",
        [STORE_MERGED] = "merged",
        [STORE_MERGED_MISMATCH] = "mismatch",
    };

    if (ctl_json()) {
        ctl_json_result(stdout, no_order, line, outcomes[res],
                        res == STORE_MERGED_MISMATCH
                            ? "differs from what LianLian notified: flagged for review"
                            : NULL);
        return res == STORE_MERGED_MISMATCH;
    }
    switch (res) {
    case STORE_REGISTERED:
        printf("%s: registered\n", no_order);
        return 0;
    case STORE_ALREADY:
        printf("%s: already registered, unchanged\n", no_order);
        return 0;
    case STORE_MERGED:
        printf("%s: registered; its result had already been notified\n", no_order);
        return 0;
    case STORE_MERGED_MISMATCH:
        printf("%s: registered, but it differs from what LianLian notified: flagged for review "
               "(see lianpayctl status %s)\n",
               no_order, no_order);
        return 1;
    }
    return 0;
}

#define REGISTER_LINE_MAX 4096 /* a registration is three short values */

/* One line of register --file: {"no_order":…,"money_order":…,"dt_order":…}. Returns 0 with the
 * three values in *m (msg_finish it), or -1 with the reason in why. */
static int register_line(const char *line, size_t len, struct msg *m, const char **why)
{
    static const char *const keys[] = {"no_order", "money_order", "dt_order"};

    if (len > REGISTER_LINE_MAX) {
        *why = "longer than 4096 bytes";
        return -1;
    }
    if (msg_parse(line, len, m, why) < 0)
        return -1;
    for (size_t i = 0; i < m->n; i++) {
        size_t k = 0;
        while (k < 3 && strcmp(m->fields[i].key, keys[k]) != 0)
            k++;
        if (k == 3) {
            *why = "unknown key (the keys are no_order, money_order and dt_order)";
            goto refuse;
        }
        if (m->fields[i].value == NULL || m->fields[i].type == MSG_TRUE ||
            m->fields[i].type == MSG_FALSE) {
            *why = "a value is null, true or false (write each as a string)";
            goto refuse;
        }
    }
    for (size_t k = 0; k < 3; k++)
        if (msg_get(m, keys[k]) == NULL) {
            *why = k == 0 ? "no no_order" : k == 1 ? "no money_order" : "no dt_order";
            goto refuse;
        }
    return 0;
refuse:
    msg_finish(m);
    return -1;
}

/*
 * register --file F|-: every line in one transaction. A line that is refused (not a JSON object
 * of the three values, a value of the wrong format, an amount that contradicts an earlier
 * registration) prints why and writes nothing; the others are committed together. Returns the
 * exit status: 0 all registered, 1 some refused or flagged, 2 nothing written (unreadable input,
 * a database error: then not one line was kept).
 */
static int register_file(struct store *st, const char *path, int64_t notify_window)
{
    const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *line = NULL, err[1024];
    size_t cap = 0, lineno = 0, done = 0, refused = 0;
    int status = 0;
    ssize_t n;

    if (in == NULL)
        return ctl_fail("register: %s: %s", name, strerror(errno));
    if (store_begin(st) < 0) {
        status = ctl_fail("register: %s", store_errmsg(st));
        goto out;
    }
    int64_t now = time_now_ms();
    while ((n = getline(&line, &cap, in)) >= 0) {
        struct msg m;
        const char *why;
        enum store_register_result res;

        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        if (register_line(line, (size_t)n, &m, &why) < 0) {
            if (ctl_json())
                ctl_json_result(stdout, NULL, lineno, "refused", why);
            else
                printf("%s:%zu: refused: %s\n", name, lineno, why);
            refused++;
            continue;
        }
        const char *no = msg_get(&m, "no_order");
        int rc = store_register_in(st, no, msg_get(&m, "money_order"), msg_get(&m, "dt_order"), now,
                                   notify_window, &res, err, sizeof(err));
        if (rc == -1) {
            msg_finish(&m);
            (void)store_rollback(st);
            status = ctl_fail("register: %s:%zu: %s; nothing was registered", name, lineno, err);
            goto out;
        }
        if (rc == -2) {
            if (ctl_json()) {
                ctl_json_result(stdout, no, lineno, "refused", err);
            } else {
                printf("%s:%zu: refused: ", name, lineno);
                log_print_escaped(stdout, err, strlen(err));
                putchar('\n');
            }
            refused++;
        } else {
            if (print_registered(no, lineno, res))
                refused++;
            done++;
        }
        msg_finish(&m);
    }
    if (ferror(in)) {
        (void)store_rollback(st);
        status = ctl_fail("register: %s: %s; nothing was registered", name, strerror(errno));
    } else if (store_commit(st) < 0) {
        status = ctl_fail("register: %s; nothing was registered", store_errmsg(st));
        (void)store_rollback(st);
    } else {
        status = refused ? 1 : 0;
        fprintf(stderr,
                "lianpayctl: %s: %zu registered, %zu refused or flagged, in one "
                "transaction\n",
                name, done, refused);
    }
out:
    free(line);
    if (in != stdin)
        fclose(in);
    return status;
}

static int cmd_register(int argc, char **argv)
{
    struct config cfg;
    char err[1024];
    enum store_register_result res;
    const char *file = NULL;

    if (argc == 3 && strcmp(argv[1], "--file") == 0)
        file = argv[2];
    else if (argc != 4 || argv[1][0] == '-')
        return ctl_fail("usage: register NO_ORDER MONEY_ORDER DT_ORDER | register --file F|-");
    if (load_config(&cfg, CONFIG_NO_SECRETS) < 0)
        return 2;
    struct store *st = store_open(cfg.database_path, STORE_WRITE, err, sizeof(err));
    if (st == NULL) {
        config_finish(&cfg);
        return ctl_fail("%s", err);
    }
    if (file != NULL) {
        int status = register_file(st, file, cfg.notify_window);
        store_close(st);
        config_finish(&cfg);
        return status;
    }
    int rc = store_register(st, argv[1], argv[2], argv[3], time_now_ms(), cfg.notify_window, &res,
                            err, sizeof(err));
    store_close(st);
    config_finish(&cfg);
    if (rc < 0)
        return ctl_fail("register: %s", err);
    return print_registered(argv[1], 0, res);
}

/* The configured database, read-only, for the verbs that only look. NULL after saying why. */
static struct store *open_reader(void)
{
    struct config cfg;
    char err[1024];

    if (load_config(&cfg, CONFIG_NO_SECRETS) < 0)
        return NULL;
    struct store *st = store_open(cfg.database_path, STORE_READ, err, sizeof(err));
    config_finish(&cfg);
    if (st == NULL)
        ctl_fail("%s", err);
    return st;
}

static int cmd_status(int argc, char **argv)
{
    if (argc != 2)
        return ctl_fail("usage: status NO_ORDER");
    struct store *st = open_reader();
    if (st == NULL)
        return 2;
    int rc = ctl_print_status(st, argv[1], stdout);
    if (rc == 1)
        fprintf(stderr, "lianpayctl: %s: no such order\n", argv[1]);
    else if (rc < 0)
        ctl_fail("status: %s", store_errmsg(st));
    store_close(st);
    return rc < 0 ? 2 : rc;
}

static int cmd_pending(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return ctl_fail("usage: pending");
    struct store *st = open_reader();
    if (st == NULL)
        return 2;
    int rc = ctl_print_pending(st, stdout);
    if (rc < 0)
        ctl_fail("pending: %s", store_errmsg(st));
    store_close(st);
    return rc < 0 ? 2 : 0;
}

/* query --json: the answer as one object (see lianpayctl(1)); recorded is added by --apply. */
static cJSON *answer_json(const char *no_order, const struct query_answer *a)
{
    cJSON *o = cJSON_CreateObject();
    const struct payresult *r = &a->result;
    bool result = a->status == QUERY_RESULT;

    ctl_json_put(o, "no_order", ctl_json_string(no_order));
    ctl_json_put(o, "answer", cJSON_CreateString(query_status_name(a->status)));
    ctl_json_put(o, "detail", ctl_json_string(!result && a->detail[0] ? a->detail : NULL));
    ctl_json_put(o, "signed", cJSON_CreateBool(a->signed_ok));
    ctl_json_put(o, "ret_code", ctl_json_string(a->ret_code[0] ? a->ret_code : NULL));
    ctl_json_put(o, "ret_msg", ctl_json_string(a->ret_code[0] ? a->ret_msg : NULL));
    ctl_json_put(o, "result_pay",
                 ctl_json_string(result ? state_result_name(r->result_pay) : NULL));
    ctl_json_put(o, "money_order", ctl_json_string(result ? r->money_order : NULL));
    ctl_json_put(o, "dt_order", ctl_json_string(result ? r->dt_order : NULL));
    ctl_json_put(o, "oid_paybill", ctl_json_string(result ? r->oid_paybill : NULL));
    ctl_json_put(o, "settle_date",
                 ctl_json_string(result && r->settle_date[0] ? r->settle_date : NULL));
    ctl_json_put(o, "info_order",
                 ctl_json_string(result && r->info_order[0] ? r->info_order : NULL));
    ctl_json_put(o, "raw",
                 a->body_len > 0 ? ctl_json_value((struct store_value){a->body, a->body_len})
                                 : cJSON_CreateNull());
    return o;
}

/* Every value of an answer came from whoever answered, signed or not. */
static void print_answer(const char *no_order, const struct query_answer *a)
{
    char line[512];

    show_str("order:      ", no_order);
    snprintf(line, sizeof(line), "%s%s%s", query_status_name(a->status), a->detail[0] ? ": " : "",
             a->status == QUERY_RESULT ? "" : a->detail);
    show_str("answer:     ", line);
    printf("signature:  %s\n", a->signed_ok ? "valid" : "missing or invalid");
    if (a->ret_code[0]) {
        snprintf(line, sizeof(line), "%s %s", a->ret_code, a->ret_msg);
        show_str("ret_code:   ", line);
    }
    if (a->status == QUERY_RESULT) {
        const struct payresult *r = &a->result;
        show_str("result_pay: ", state_result_name(r->result_pay));
        show_str("money:      ", r->money_order);
        show_str("dt_order:   ", r->dt_order);
        show_str("oid_paybill: ", r->oid_paybill);
        if (r->settle_date[0])
            show_str("settle:     ", r->settle_date);
        if (r->info_order[0])
            show_str("info_order: ", r->info_order);
    }
    if (a->body_len > 0)
        show("raw:        ", a->body, a->body_len);
}

/*
 * Records a verified answer the way the reconciler does (source = query), with the reconciler's
 * decision (attempt_after_query) under lianpayctl's own policy: a pending answer is asked again
 * after retry_interval, with neither backoff nor giving up, since an operator's query is no step
 * of the order's chase. Only a verified answer gets here: anything else leaves the order alone.
 */
static int apply_answer(const struct config *cfg, const struct query_answer *a, cJSON *json)
{
    const struct attempt_policy policy = {
        .retry_interval = cfg->retry_interval,
        .max_retry_interval = cfg->retry_interval,
        .give_up_after = 0,
    };
    const struct attempt_history history = {.started = false};
    char err[1024], now_iso[TIME_ISO_LEN];
    struct attempt_action act;
    struct store_applied applied;
    int64_t now = time_now_ms();

    struct store *st = store_open(cfg->database_path, STORE_WRITE, err, sizeof(err));
    if (st == NULL)
        return ctl_fail("%s", err);
    attempt_after_query(a, &history, &policy, now, &act);
    time_iso(now, now_iso);
    struct store_input answer = {
        .r = &a->result,
        .source = PAYRESULT_QUERY,
        .body = a->body,
        .body_len = a->body_len,
        .remote_addr = "",
        .received_at = now_iso,
    };
    struct store_query_outcome outcome = {
        .no_order = a->result.no_order,
        .answer = &answer,
        .action = &act,
    };
    int rc = store_begin(st);
    if (rc == 0)
        rc = store_query_outcome(st, &outcome, &applied);
    if (rc == 0)
        rc = store_commit(st);
    if (rc < 0) {
        ctl_fail("cannot record the answer: %s", store_errmsg(st));
        store_rollback(st);
        store_close(st);
        return 2;
    }
    store_close(st);
    if (json != NULL) {
        ctl_json_put(json, "recorded", cJSON_CreateString(state_outcome_name(applied.outcome)));
        ctl_json_put(json, "review_reason",
                     ctl_json_string(applied.flagged ? applied.review_reason : NULL));
        return 0;
    }
    printf("recorded:   %s%s%s\n", state_outcome_name(applied.outcome),
           applied.flagged ? "; flagged for review: " : "",
           applied.flagged ? applied.review_reason : "");
    return 0;
}

static int cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {
        {"apply", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    int apply = 0, c, status = 2;
    struct config cfg;
    char err[1024];
    struct query_answer a = {0};
    struct keyring *kr = NULL;
    struct query_client *qc = NULL;
    cJSON *json = NULL;

    while ((c = getopt_long(argc, argv, "+a", opts, NULL)) != -1) {
        if (c != 'a')
            return 2;
        apply = 1;
    }
    if (argc - optind != 1)
        return ctl_fail("usage: query [--apply] NO_ORDER");
    if (load_config(&cfg, 0) < 0)
        return 2;
    if (cfg.merchant_key == NULL) {
        ctl_fail("%s: lianlian.merchant_private_key is needed to sign queries", cfg.file);
        goto out;
    }
    struct query_options qo;
    config_query_options(&cfg, &qo);
    kr = keyring_create(&cfg.public_keys);
    qc = kr ? query_client_create(&qo, err, sizeof(err)) : NULL;
    if (qc == NULL) {
        ctl_fail("%s", kr ? err : "out of memory");
        goto out;
    }
    query_payment(qc, kr, argv[optind], &a);
    if (ctl_json()) {
        json = answer_json(argv[optind], &a);
        status = a.status != QUERY_RESULT ? 1 : apply ? apply_answer(&cfg, &a, json) : 0;
        if (ctl_json_print(stdout, json) < 0)
            status = 2;
        goto out;
    }
    print_answer(argv[optind], &a);
    if (a.status != QUERY_RESULT) {
        status = 1;
        goto out;
    }
    status = apply ? apply_answer(&cfg, &a, NULL) : 0;
out:
    query_answer_finish(&a);
    query_client_destroy(qc);
    keyring_destroy(kr);
    config_finish(&cfg);
    return status;
}

/* Runs verb on the configured database opened in mode, or, when that fails and fallback
 * differs, in fallback (the first reason is the one reported). */
static int with_store_or(int argc, char **argv, enum store_mode mode, enum store_mode fallback,
                         int (*verb)(struct store *, int, char **, FILE *))
{
    struct config cfg;
    char err[1024], err2[1024];

    if (load_config(&cfg, CONFIG_NO_SECRETS) < 0)
        return 2;
    struct store *st = store_open(cfg.database_path, mode, err, sizeof(err));
    if (st == NULL && fallback != mode)
        st = store_open(cfg.database_path, fallback, err2, sizeof(err2));
    config_finish(&cfg);
    if (st == NULL)
        return ctl_fail("%s", err);
    int status = verb(st, argc, argv, stdout);
    store_close(st);
    return status;
}

/* The verbs of ctl_payout.c and ctl_backup.c, on the configured database. */
static int with_store(int argc, char **argv, enum store_mode mode,
                      int (*verb)(struct store *, int, char **, FILE *))
{
    return with_store_or(argc, argv, mode, mode, verb);
}

/* backup records its run when it may write the database, and still backs up when it may only
 * read it (a member of the reader group): the copy is what matters. */
static int cmd_backup(int argc, char **argv)
{
    return with_store_or(argc, argv, STORE_WRITE, STORE_READ, ctl_backup_backup);
}

static int cmd_archive(int argc, char **argv)
{
    return with_store(argc, argv, STORE_WRITE, ctl_backup_archive);
}

static int cmd_pay(int argc, char **argv)
{
    return with_store(argc, argv, STORE_WRITE, ctl_payout_pay);
}

static int cmd_payouts(int argc, char **argv)
{
    return with_store(argc, argv, STORE_READ, ctl_payout_list);
}

static int cmd_cancel(int argc, char **argv)
{
    return with_store(argc, argv, STORE_WRITE, ctl_payout_cancel);
}

static int cmd_confirm(int argc, char **argv)
{
    return with_store(argc, argv, STORE_WRITE, ctl_payout_confirm);
}

static int cmd_decline(int argc, char **argv)
{
    return with_store(argc, argv, STORE_WRITE, ctl_payout_decline);
}

static int cmd_resubmit(int argc, char **argv)
{
    return with_store(argc, argv, STORE_WRITE, ctl_payout_resubmit);
}

static int cmd_review(int argc, char **argv)
{
    /* 0, not 1: glibc then forgets main's "+" and lets --note follow NO_ORDER. */
    optind = 0;
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return with_store(argc - 1, argv + 1, STORE_READ, ctl_review_list);
    if (argc >= 2 && strcmp(argv[1], "resolve") == 0)
        return with_store(argc - 1, argv + 1, STORE_WRITE, ctl_review_resolve);
    return ctl_fail("usage: review list | review resolve NO_ORDER --note TEXT [--requery]");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"dev", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},         {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } verbs[] = {
        {"verify", cmd_verify},   {"sign", cmd_sign},       {"register", cmd_register},
        {"status", cmd_status},   {"query", cmd_query},     {"pending", cmd_pending},
        {"pay", cmd_pay},         {"payouts", cmd_payouts}, {"cancel", cmd_cancel},
        {"backup", cmd_backup},   {"archive", cmd_archive}, {"review", cmd_review},
        {"confirm", cmd_confirm}, {"decline", cmd_decline}, {"resubmit", cmd_resubmit},
    };
    int c;

    log_init();
    /* '+': options after the verb belong to the verb. */
    while ((c = getopt_long(argc, argv, "+c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_file = optarg;
            break;
        case 'D':
            dev_dir = optarg;
            break;
        case 'j':
            ctl_set_json(true);
            break;
        case 'V':
            printf("lianpayctl %s\n", LIANPAY_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(argv[optind], verbs[i].name) == 0) {
            int vargc = argc - optind;
            char **vargv = argv + optind;
            optind = 1; /* the verb parses its own options */
            return verbs[i].run(vargc, vargv);
        }
    }
    fprintf(stderr, "lianpayctl: unknown verb: %s (try --help)\n", argv[optind]);
    return 2;
}
