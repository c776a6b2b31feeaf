#ifndef LIANPAY_DEVCONFIG_H
#define LIANPAY_DEVCONFIG_H

#include <stddef.h>

/*
 * The embedded development configuration (lianpay-notifyd --dev DIR): everything in DIR, the
 * daemon on 127.0.0.1:8080, queries to lianpay-sim on 127.0.0.1:8081, short reconciliation times
 * so that a demo shows them in seconds. Creates DIR (0700) and, when missing, a simulated LianLian
 * key pair and a merchant key pair in it. Returns the configuration text (malloc'd) or NULL with
 * a reason in err. Never for production: the keys are made on the spot.
 */
char *devconfig_prepare(const char *dir, char *err, size_t errlen);

#endif
