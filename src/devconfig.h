#ifndef LIANPAY_DEVCONFIG_H
#define LIANPAY_DEVCONFIG_H

#include <stddef.h>

struct config;

/*
 * The embedded development configuration (lianpay-notifyd --dev DIR): everything in DIR, the
 * daemon on 127.0.0.1:8080, queries to lianpay-sim on 127.0.0.1:8081, short reconciliation times
 * so that a demo shows them in seconds. Creates DIR (0700) and, when missing, a simulated LianLian
 * key pair and a merchant key pair in it. Returns the configuration text (malloc'd) or NULL with
 * a reason in err. Never for production: the keys are made on the spot.
 */
char *devconfig_prepare(const char *dir, char *err, size_t errlen);

/* The name the development configuration goes by in messages and in cfg->file. */
#define DEVCONFIG_NAME "(development configuration)"

/*
 * Loads the configuration a program was pointed at (-c FILE or --dev DIR): with dir, the
 * development configuration made ready in it (devconfig_prepare), else file; flags as for
 * config_load_flags. On success returns 0 and, when text is not NULL, sets *text to the
 * development configuration's text (malloc'd; NULL for a file), which the daemon reloads from.
 * Returns -1 with a reason in err (cfg finished, nothing to free).
 */
int devconfig_load(const char *dir, const char *file, unsigned flags, struct config *cfg,
                   char **text, char *err, size_t errlen);

#endif
