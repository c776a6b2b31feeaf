/*
 * lianpay-sim: our stand-in for LianLian, for development, demos, tests and benchmarks
 * (design.md, programs). It signs with the project's own signing code, so what it sends is
 * exactly what the daemon must accept from the real LianLian.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"

#include "lianpay-config.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: lianpay-sim VERB [ARGS]\n"
                 "\n"
                 "  keygen [--bits N] PRIVATE PUBLIC   make an RSA key pair (PKCS#8 and SPKI PEM)\n"
                 "  -V, --version                      print the version\n");
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

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } verbs[] = {
        {"keygen", cmd_keygen},
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
