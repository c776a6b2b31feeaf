/*
 * The development configuration compiled into the daemon, so that a newcomer can run it
 * against lianpay-sim without writing a file first. The same keys as in production are all set;
 * only the values are for a laptop: loopback addresses, a database in DIR, and a notification
 * window of seconds instead of 36 minutes. The submit thread is on, sending payouts to
 * lianpay-sim serve's payment.htm and confirmPayment.htm on the query port (8081) with the
 * daemon's own listener as notify_url; an unknown payout is queried seconds after its answer.
 */
#include "devconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"

static const char template[] = "# lianpay-notifyd development configuration (--dev @DIR@)\n"
                               "[server]\n"
                               "listen = 127.0.0.1:8080\n"
                               "notify_path = /lianpay/notify\n"
                               "\n"
                               "[lianlian]\n"
                               "oid_partner = 201801030001351894\n"
                               "public_key = @DIR@/lianlian_public.pem\n"
                               "merchant_private_key = @DIR@/merchant_private.pem\n"
                               "query_url = http://127.0.0.1:8081/paymentapi/queryPayment.htm\n"
                               "\n"
                               "[database]\n"
                               "path = @DIR@/payments.db\n"
                               "\n"
                               "[reconcile]\n"
                               "notify_window = 10s\n"
                               "retry_interval = 4s\n"
                               "max_retry_interval = 30s\n"
                               "give_up_after = 1h\n"
                               "max_rate = 5\n"
                               "\n"
                               "[log]\n"
                               "level = info\n"
                               "summary_interval = 1m\n"
                               "\n"
                               "[admin]\n"
                               "listen = 127.0.0.1:8479\n"
                               "\n"
                               "[submit]\n"
                               "enabled = true\n"
                               "notify_url = http://127.0.0.1:8080/lianpay/notify\n"
                               "payment_url = http://127.0.0.1:8081/paymentapi/payment.htm\n"
                               "confirm_url = http://127.0.0.1:8081/paymentapi/confirmPayment.htm\n"
                               "max_rate = 5\n"
                               "timeout = 5s\n"
                               "unknown_query_after = 2s\n"
                               "no_record_after = 1m\n";

static int make_pair(const char *dir, const char *name, char *err, size_t errlen)
{
    char priv[4096], pub[4096];
    snprintf(priv, sizeof(priv), "%s/%s_private.pem", dir, name);
    snprintf(pub, sizeof(pub), "%s/%s_public.pem", dir, name);
    if (access(priv, F_OK) == 0 && access(pub, F_OK) == 0)
        return 0;
    return keys_generate(1024, priv, pub, err, errlen);
}

/* The template with every @DIR@ replaced by dir. */
static char *substitute(const char *dir, char *err, size_t errlen)
{
    static const char mark[] = "@DIR@";
    size_t n = sizeof(template) + 8 * strlen(dir);
    char *text = malloc(n), *out = text;
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (const char *p = template; *p != '\0';) {
        if (strncmp(p, mark, sizeof(mark) - 1) == 0) {
            out = stpcpy(out, dir);
            p += sizeof(mark) - 1;
        } else {
            *out++ = *p++;
        }
    }
    *out = '\0';
    return text;
}

char *devconfig_prepare(const char *dir, char *err, size_t errlen)
{
    if (strlen(dir) > 1024 || strpbrk(dir, "\n\r;#") != NULL) {
        snprintf(err, errlen, "--dev %s: not a usable directory name", dir);
        return NULL;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "--dev %s: cannot create: %s", dir, strerror(errno));
        return NULL;
    }
    if (make_pair(dir, "lianlian", err, errlen) < 0 || make_pair(dir, "merchant", err, errlen) < 0)
        return NULL;
    return substitute(dir, err, errlen);
}

int devconfig_load(const char *dir, const char *file, unsigned flags, struct config *cfg,
                   char **text, char *err, size_t errlen)
{
    char *dev = NULL;
    int rc;

    if (text != NULL)
        *text = NULL;
    memset(cfg, 0, sizeof(*cfg));
    if (dir == NULL)
        return config_load_flags(file, flags, cfg, err, errlen);
    dev = devconfig_prepare(dir, err, errlen);
    if (dev == NULL)
        return -1;
    rc = config_load_string_flags(dev, DEVCONFIG_NAME, flags, cfg, err, errlen);
    if (rc == 0 && text != NULL)
        *text = dev;
    else
        free(dev);
    return rc;
}
