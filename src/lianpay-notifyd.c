/*
 * lianpay-notifyd: receives LianLian payout notifications and records them durably.
 * This file only reads the command line and the configuration; service.c runs the daemon.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "devconfig.h"
#include "log.h"
#include "service.h"

#include "lianpay-config.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: lianpay-notifyd [-c FILE | --dev DIR] [-t]\n"
            "\n"
            "Receives LianLian instant-payment notifications, verifies them and records them\n"
            "in SQLite; queries LianLian for payouts whose result never arrived; with [submit]\n"
            "on, sends the payouts queued in the database, each at most once.\n"
            "\n"
            "  -c, --config FILE  configuration file (default " CONFIG_DEFAULT_FILE ")\n"
            "      --dev DIR      development: the embedded configuration, with keys, database\n"
            "                     in DIR (made if missing), payouts and queries to\n"
            "                     lianpay-sim on :8081\n"
            "  -t, --test         check the configuration and exit (0: valid, 1: not)\n"
            "  -V, --version      print the version and exit\n"
            "  -h, --help         print this help and exit\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
        {"dev", required_argument, NULL, 'D'},    {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *file = CONFIG_DEFAULT_FILE;
    const char *dev_dir = NULL;
    char *dev_text = NULL;
    int test_only = 0;
    int c;

    while ((c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            file = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        case 'D':
            dev_dir = optarg;
            break;
        case 'V':
            printf("lianpay-notifyd %s\n", LIANPAY_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "lianpay-notifyd: unexpected argument: %s\n", argv[optind]);
        return 2;
    }

    log_init();
    struct config cfg;
    char err[1024];
    int rc = devconfig_load(dev_dir, file, 0, &cfg, &dev_text, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "lianpay-notifyd: %s\n", err);
        return 1;
    }
    if (test_only) {
        /* The configuration's own checks ran as at start-up; what start-up needs besides. */
        rc = service_check(&cfg, err, sizeof(err));
        if (rc < 0)
            fprintf(stderr, "lianpay-notifyd: %s\n", err);
        else
            printf("%s: configuration ok\n", cfg.file);
        config_finish(&cfg);
        free(dev_text);
        return rc < 0 ? 1 : 0;
    }
    log_set_level(cfg.log_level);
    if (dev_text != NULL)
        log_kv(LOG_LEVEL_WARNING, "development", "dir", dev_dir, "note",
               "embedded development configuration with generated keys: never for production",
               NULL);
    int status = service_run(&cfg, dev_text);
    config_finish(&cfg);
    free(dev_text);
    return status;
}
