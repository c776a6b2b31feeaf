/*
 * bench-gen: writes N distinct notifications signed like LianLian's (MD5withRSA, with the
 * project's own sign_msg and msg_to_json), one compact JSON body per line, split into K chunk
 * files BASE.0 .. BASE.K-1 (one per load-generator thread, so that no two threads ever send the
 * same body). Chunks are signed in parallel, one thread each.
 *
 * Orders are either new ("N" PREFIX and a counter: every body creates an order) or, with
 * --pending M, the pending orders 0..M-1 of a database built by bench-scale, visited in scattered
 * order from --start on (every body completes a registered order).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "msg.h"
#include "sign.h"
#include "orders.h"

struct options {
    const char *key;
    const char *out;
    const char *prefix;
    uint64_t count;
    uint64_t start;
    uint64_t pending; /* 0: new orders */
    unsigned chunks;
};

struct chunk {
    const struct options *opt;
    EVP_PKEY *key;
    unsigned index;
    uint64_t first, end; /* message numbers [first, end) */
    int status;
};

static void order_number(const struct options *opt, uint64_t i, char no[33])
{
    if (opt->pending > 0)
        bench_pending_no(bench_scatter(i, opt->pending), no);
    else
        snprintf(no, 33, "N%s%" PRIu64, opt->prefix, i);
}

/* The signed body of message number i, malloc'd. */
static char *make_body(const struct chunk *c, uint64_t i)
{
    struct msg m = {0};
    char no[33], money[24], paybill[33], info[64];
    char *json = NULL;

    order_number(c->opt, i, no);
    bench_money(c->opt->pending > 0 ? bench_scatter(i, c->opt->pending) : i, money);
    snprintf(paybill, sizeof(paybill), "2026112200%08" PRIu64, i % 100000000u);
    snprintf(info, sizeof(info), "代付 %s", no);
    if (msg_set(&m, "oid_partner", BENCH_OID_PARTNER) < 0 || msg_set(&m, "no_order", no) < 0 ||
        msg_set(&m, "dt_order", BENCH_DT_ORDER) < 0 || msg_set(&m, "money_order", money) < 0 ||
        msg_set(&m, "oid_paybill", paybill) < 0 || msg_set(&m, "result_pay", "SUCCESS") < 0 ||
        msg_set(&m, "settle_date", BENCH_SETTLE_DATE) < 0 || msg_set(&m, "info_order", info) < 0 ||
        sign_msg(&m, c->key) < 0)
        goto out;
    json = msg_to_json(&m);
out:
    msg_finish(&m);
    return json;
}

static void *write_chunk(void *arg)
{
    struct chunk *c = arg;
    char path[4096];
    FILE *f = NULL;

    c->status = -1;
    snprintf(path, sizeof(path), "%s.%u", c->opt->out, c->index);
    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "bench-gen: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    for (uint64_t i = c->first; i < c->end; i++) {
        char *body = make_body(c, i);
        if (body == NULL) {
            fprintf(stderr, "bench-gen: cannot sign message %" PRIu64 "\n", i);
            goto out;
        }
        int rc = fprintf(f, "%s\n", body);
        free(body);
        if (rc < 0)
            goto out;
    }
    c->status = 0;
out:
    if (fclose(f) != 0 || c->status < 0) {
        fprintf(stderr, "bench-gen: %s: cannot write\n", path);
        c->status = -1;
    }
    return NULL;
}

static int parse_args(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"key", required_argument, NULL, 'k'},
        {"count", required_argument, NULL, 'n'},
        {"chunks", required_argument, NULL, 'c'},
        {"prefix", required_argument, NULL, 'p'},
        {"start", required_argument, NULL, 's'},
        {"pending", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *opt = (struct options){.prefix = "", .chunks = 1};
    while ((c = getopt_long(argc, argv, "k:n:c:p:s:P:", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            opt->key = optarg;
            break;
        case 'n':
            opt->count = strtoull(optarg, NULL, 10);
            break;
        case 'c':
            opt->chunks = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'p':
            opt->prefix = optarg;
            break;
        case 's':
            opt->start = strtoull(optarg, NULL, 10);
            break;
        case 'P':
            opt->pending = strtoull(optarg, NULL, 10);
            break;
        default:
            return -1;
        }
    }
    if (argc - optind != 1 || opt->key == NULL || opt->count == 0 || opt->chunks == 0 ||
        opt->chunks > 256 || strlen(opt->prefix) > 12)
        return -1;
    if (opt->pending > 0 && opt->start + opt->count > opt->pending) {
        fprintf(stderr, "bench-gen: only %" PRIu64 " pending orders: --start + --count too big\n",
                opt->pending);
        return -1;
    }
    opt->out = argv[optind];
    return 0;
}

int main(int argc, char **argv)
{
    struct options opt;
    struct chunk chunks[256];
    pthread_t threads[256];
    char err[512];
    int ret = 1;

    if (parse_args(argc, argv, &opt) < 0) {
        fprintf(stderr, "usage: bench-gen --key PRIVATE.pem --count N [--chunks K] "
                        "[--prefix P | --pending M] [--start S] OUTBASE\n");
        return 2;
    }
    EVP_PKEY *key = keys_load_private(opt.key, err, sizeof(err));
    if (key == NULL) {
        fprintf(stderr, "bench-gen: %s\n", err);
        return 1;
    }
    for (unsigned i = 0; i < opt.chunks; i++) {
        chunks[i] = (struct chunk){
            .opt = &opt,
            .key = key,
            .index = i,
            .first = opt.start + opt.count * i / opt.chunks,
            .end = opt.start + opt.count * (i + 1) / opt.chunks,
            .status = -1,
        };
        if (pthread_create(&threads[i], NULL, write_chunk, &chunks[i]) != 0) {
            fprintf(stderr, "bench-gen: cannot start a thread\n");
            opt.chunks = i;
            break;
        }
    }
    ret = opt.chunks > 0 ? 0 : 1;
    for (unsigned i = 0; i < opt.chunks; i++) {
        pthread_join(threads[i], NULL);
        if (chunks[i].status < 0)
            ret = 1;
    }
    EVP_PKEY_free(key);
    return ret;
}
