/*
 * lianpay-sim: our stand-in for LianLian, for development, demos, tests and benchmarks
 * (design.md, programs). It signs with the project's own signing code, so what it sends is
 * exactly what the daemon must accept from the real LianLian.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "keys.h"
#include "log.h"
#include "msg.h"
#include "payload.h"
#include "sign.h"
#include "sim.h"
#include "timeutil.h"

#include "lianpay-config.h"

/* A notification to sign (--message); a pay_load to decrypt. */
#define MESSAGE_MAX       65536
#define PAYLOAD_INPUT_MAX (8 << 20)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: lianpay-sim VERB [ARGS]\n"
            "\n"
            "  notify --url URL --private-key FILE [--message FILE | FIELDS] [SCHEDULE]\n"
            "      sign a notification and send it on LianLian's schedule until answered 0000\n"
            "      FIELDS: --oid-partner N --no-order X --result R --money M [--dt-order D]\n"
            "              [--oid-paybill B] [--settle-date D] [--info-order TEXT]\n"
            "      SCHEDULE: --count N (6) --interval DURATION (6m) --time-scale X (1)\n"
            "                --timeout DURATION (5s)\n"
            "  serve --listen HOST:PORT --private-key FILE --merchant-public-key FILE\n"
            "        --oid-partner N [--script FILE] [--time-scale X (1)] [--confirm-ttl D (30m)]\n"
            "        [--notify-count N (6)] [--notify-interval D (6m)] [--record FILE]\n"
            "      answer payment.htm, confirmPayment.htm and queryPayment.htm as LianLian does\n"
            "      (or as a script of per-order answers says), and notify created payouts\n"
            "  keygen [--bits N] PRIVATE PUBLIC\n"
            "      make an RSA key pair (PKCS#8 and SubjectPublicKeyInfo PEM)\n"
            "  sign-batch --private-key FILE\n"
            "      sign each JSON message of stdin (one a line); print them signed, one a line\n"
            "  decrypt --private-key FILE [PAYLOAD]\n"
            "      print the plaintext of a pay_load (a file, or stdin); exit 1 when its HMAC\n"
            "      does not check, 2 when it is unusable\n"
            "  -V, --version   print the version\n");
}

static int cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"bits", required_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    int bits = 1024, c;
    char err[512];

    while ((c = getopt_long(argc, argv, "+b:", opts, NULL)) != -1) {
        if (c != 'b')
            return 2;
        bits = atoi(optarg);
        if (bits != 1024 && bits != 2048 && bits != 4096) {
            fprintf(stderr, "lianpay-sim: keygen: --bits must be 1024, 2048 or 4096\n");
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "lianpay-sim: usage: keygen [--bits N] PRIVATE PUBLIC\n");
        return 2;
    }
    if (keys_generate(bits, argv[optind], argv[optind + 1], err, sizeof(err)) < 0) {
        fprintf(stderr, "lianpay-sim: keygen: %s\n", err);
        return 2;
    }
    return 0;
}

static EVP_PKEY *load_private(const char *path)
{
    char err[512];
    EVP_PKEY *k = path ? keys_load_private(path, err, sizeof(err)) : NULL;
    if (path == NULL)
        fprintf(stderr, "lianpay-sim: --private-key FILE is required\n");
    else if (k == NULL)
        fprintf(stderr, "lianpay-sim: %s\n", err);
    return k;
}

/* All of path (flags: fileio.h), up to max bytes, in a malloc'd buffer; NULL after saying why. */
static char *read_input(const char *path, size_t max, unsigned flags, size_t *len)
{
    char why[256];
    char *buf = fileio_read(path, max, flags, len, why, sizeof(why));

    if (buf == NULL)
        fprintf(stderr, "lianpay-sim: %s: %s\n", path, why);
    return buf;
}

/* Many messages in one process: tests and benchmarks need thousands of signed notifications,
 * and a process per signature (lianpayctl sign) would cost more than what they measure. */
static int cmd_sign_batch(int argc, char **argv)
{
    static const struct option opts[] = {
        {"private-key", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *key_file = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int c, status = 2;
    long lineno = 0;

    while ((c = getopt_long(argc, argv, "+k:", opts, NULL)) != -1) {
        if (c != 'k')
            return 2;
        key_file = optarg;
    }
    EVP_PKEY *key = load_private(key_file);
    if (key == NULL)
        return 2;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        struct msg m = {0};
        const char *why = NULL;
        char *out = NULL;
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (msg_parse(line, (size_t)n, &m, &why) < 0 || sign_msg(&m, key) < 0 ||
            (out = msg_to_json(&m)) == NULL) {
            fprintf(stderr, "lianpay-sim: sign-batch: line %ld: %s\n", lineno,
                    why ? why : "cannot sign");
            msg_finish(&m);
            goto out;
        }
        printf("%s\n", out);
        free(out);
        msg_finish(&m);
    }
    status = fflush(stdout) == 0 && !ferror(stdin) ? 0 : 2;
out:
    free(line);
    EVP_PKEY_free(key);
    return status;
}

/* The plaintext came from outside: exactly its bytes into a pipe or file, but on a terminal
 * with control characters (C0, DEL, UTF-8 C1) escaped so that it cannot drive the terminal. */
static void print_untrusted(const unsigned char *p, size_t n)
{
    if (!isatty(STDOUT_FILENO)) {
        fwrite(p, 1, n, stdout);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            printf("\\x%02x", p[i]);
        else if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] < 0xa0)
            printf("\\u%04x", p[++i]);
        else
            putchar(p[i]);
    }
    putchar('\n');
}

static int cmd_decrypt(int argc, char **argv)
{
    static const struct option opts[] = {
        {"private-key", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *key_file = NULL, *why = NULL;
    char *text = NULL, *plain = NULL;
    size_t len = 0, plain_len = 0;
    int c, status = 2;

    while ((c = getopt_long(argc, argv, "+k:", opts, NULL)) != -1) {
        if (c != 'k')
            return 2;
        key_file = optarg;
    }
    if (argc - optind > 1) {
        fprintf(stderr, "lianpay-sim: usage: decrypt --private-key FILE [PAYLOAD]\n");
        return 2;
    }
    EVP_PKEY *key = load_private(key_file);
    if (key == NULL)
        return 2;
    text = read_input(optind < argc ? argv[optind] : "-", PAYLOAD_INPUT_MAX, FILEIO_STDIN, &len);
    if (text == NULL)
        goto out;
    status = (int)payload_decrypt(key, text, len, &plain, &plain_len, &why);
    if (status != PAYLOAD_OK) {
        fprintf(stderr, "lianpay-sim: decrypt: %s\n", why);
        goto out;
    }
    print_untrusted((const unsigned char *)plain, plain_len);
    if (fflush(stdout) != 0)
        status = 2;
out:
    free(text);
    free(plain);
    EVP_PKEY_free(key);
    return status;
}

enum {
    OPT_URL = 1000,
    OPT_KEY,
    OPT_MESSAGE,
    OPT_COUNT,
    OPT_INTERVAL,
    OPT_SCALE,
    OPT_TIMEOUT,
    OPT_FIELD,
};

static const struct {
    const char *option;
    const char *field;
} notify_fields[] = {
    {"oid-partner", "oid_partner"}, {"no-order", "no_order"},     {"result", "result_pay"},
    {"money", "money_order"},       {"dt-order", "dt_order"},     {"oid-paybill", "oid_paybill"},
    {"settle-date", "settle_date"}, {"info-order", "info_order"},
};

static int cmd_notify(int argc, char **argv)
{
    struct option opts[8 + 8] = {
        {"url", required_argument, NULL, OPT_URL},
        {"private-key", required_argument, NULL, OPT_KEY},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"count", required_argument, NULL, OPT_COUNT},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"time-scale", required_argument, NULL, OPT_SCALE},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
    };
    size_t nf = sizeof(notify_fields) / sizeof(notify_fields[0]);
    for (size_t i = 0; i < nf; i++)
        opts[7 + i] =
            (struct option){notify_fields[i].option, required_argument, NULL, OPT_FIELD + (int)i};
    struct sim_notify_options o = {.count = 6, .timeout_ms = 5000};
    const char *key_file = NULL, *message_file = NULL;
    int64_t interval = 360, timeout = 5;
    double scale = 1;
    struct msg fields = {0};
    int c, idx, status = 2;

    while ((c = getopt_long(argc, argv, "+", opts, &idx)) != -1) {
        switch (c) {
        case OPT_URL:
            o.url = optarg;
            break;
        case OPT_KEY:
            key_file = optarg;
            break;
        case OPT_MESSAGE:
            message_file = optarg;
            break;
        case OPT_COUNT:
            o.count = atoi(optarg);
            break;
        case OPT_INTERVAL:
        case OPT_TIMEOUT:
            if (time_parse_duration(optarg, c == OPT_INTERVAL ? &interval : &timeout) < 0) {
                fprintf(stderr, "lianpay-sim: bad duration: %s\n", optarg);
                goto out;
            }
            break;
        case OPT_SCALE:
            scale = atof(optarg);
            break;
        default:
            if (c < OPT_FIELD || c >= OPT_FIELD + (int)nf)
                goto out;
            msg_set(&fields, notify_fields[c - OPT_FIELD].field, optarg);
        }
    }
    if (o.url == NULL || o.count < 1 || scale <= 0) {
        fprintf(stderr, "lianpay-sim: notify: --url is required; --count and --time-scale must be "
                        "positive\n");
        goto out;
    }
    if ((o.key = load_private(key_file)) == NULL)
        goto out;
    char *text = NULL;
    if (message_file != NULL) {
        size_t len = 0;
        text = read_input(message_file, MESSAGE_MAX, 0, &len);
    } else {
        msg_set(&fields, "sign_type", "RSA");
        text = msg_to_json(&fields);
    }
    if (text == NULL)
        goto out;
    o.message = text;
    o.interval_ms = (int64_t)((double)interval * 1000.0 / scale);
    o.timeout_ms = (long)(timeout * 1000);
    status = sim_notify(&o);
    free(text);
out:
    EVP_PKEY_free(o.key);
    msg_finish(&fields);
    return status;
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"private-key", required_argument, NULL, 'k'},
        {"merchant-public-key", required_argument, NULL, 'm'},
        {"oid-partner", required_argument, NULL, 'p'},
        {"script", required_argument, NULL, 's'},
        {"time-scale", required_argument, NULL, 'x'},
        {"confirm-ttl", required_argument, NULL, 't'},
        {"notify-count", required_argument, NULL, 'c'},
        {"notify-interval", required_argument, NULL, 'i'},
        {"record", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    struct sim_serve_options o = {.listen = "127.0.0.1:0", .time_scale = 1};
    const char *key_file = NULL, *merchant_file = NULL;
    char err[512];
    int c, status = 2;
    int64_t seconds = 0;

    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            o.listen = optarg;
            break;
        case 'k':
            key_file = optarg;
            break;
        case 'm':
            merchant_file = optarg;
            break;
        case 'p':
            o.oid_partner = optarg;
            break;
        case 's':
            o.script = optarg;
            break;
        case 'x':
            o.time_scale = atof(optarg);
            if (o.time_scale <= 0) {
                fprintf(stderr, "lianpay-sim: serve: --time-scale must be positive\n");
                return 2;
            }
            break;
        case 'c':
            o.notify_count = atoi(optarg);
            if (o.notify_count < 1) {
                fprintf(stderr, "lianpay-sim: serve: --notify-count must be positive\n");
                return 2;
            }
            break;
        case 't':
        case 'i':
            if (time_parse_duration(optarg, &seconds) < 0 || seconds <= 0) {
                fprintf(stderr, "lianpay-sim: serve: bad duration: %s\n", optarg);
                return 2;
            }
            *(c == 't' ? &o.confirm_ttl_ms : &o.notify_interval_ms) = seconds * 1000;
            break;
        case 'r':
            o.record = optarg;
            break;
        default:
            return 2;
        }
    }
    if (merchant_file == NULL || o.oid_partner == NULL) {
        fprintf(stderr,
                "lianpay-sim: serve: --merchant-public-key and --oid-partner are required\n");
        return 2;
    }
    if ((o.key = load_private(key_file)) == NULL)
        return 2;
    o.merchant_public = keys_load_public(merchant_file, err, sizeof(err));
    if (o.merchant_public == NULL) {
        fprintf(stderr, "lianpay-sim: %s\n", err);
        goto out;
    }
    status = sim_serve(&o);
out:
    EVP_PKEY_free(o.key);
    EVP_PKEY_free(o.merchant_public);
    return status;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } verbs[] = {
        {"notify", cmd_notify},         {"serve", cmd_serve},     {"keygen", cmd_keygen},
        {"sign-batch", cmd_sign_batch}, {"decrypt", cmd_decrypt},
    };

    log_init();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("lianpay-sim %s\n", LIANPAY_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(argv[1], verbs[i].name) == 0) {
            optind = 1;
            return verbs[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "lianpay-sim: unknown verb: %s (try --help)\n", argv[1]);
    return 2;
}
