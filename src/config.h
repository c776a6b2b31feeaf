#ifndef LIANPAY_CONFIG_H
#define LIANPAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "keys.h"
#include "log.h"
#include "netaddr.h"

struct query_options;

#define CONFIG_DEFAULT_FILE        "/etc/lianpay-notifyd/lianpay-notifyd.conf"
#define CONFIG_DEFAULT_QUERY_URL   "https://instantpay.lianlianpay.com/paymentapi/queryPayment.htm"
#define CONFIG_DEFAULT_PAYMENT_URL "https://instantpay.lianlianpay.com/paymentapi/payment.htm"
#define CONFIG_DEFAULT_CONFIRM_URL                                                                 \
    "https://instantpay.lianlianpay.com/paymentapi/confirmPayment.htm"
/* TLS 1.2 and 1.3 only (GnuTLS's NORMAL also offers 1.0 and 1.1). */
#define CONFIG_DEFAULT_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Everything the configuration file says (design.md, configuration contract), checked and with
 * its key files loaded. Strings are malloc'd and owned by the struct. Only the programs and
 * service.c read it: each module is told what it needs in options of its own (httpd_options,
 * reconcile_options, admin_options, query_options), which point into it. */
struct config {
    char *file; /* the path it was read from, or "(embedded)" */

    /* [server] */
    char *listen; /* as written */
    char listen_host[64];
    uint16_t listen_port;
    char *notify_path;
    char *tls_cert;       /* NULL: plain HTTP */
    char *tls_key;        /* mode checked like the merchant key's */
    char *tls_priorities; /* a GnuTLS priority string */
    size_t max_body;
    struct netaddr_list trusted_proxies;
    struct netaddr_list allow_from; /* n == 0 and allow_all: everyone */
    bool allow_all;
    /* Beyond design.md's table (issue "reliability"): limits against hostile clients. */
    unsigned max_connections;        /* all clients together */
    unsigned max_connections_per_ip; /* per client address (IPv6: /64), trusted proxies not
                                        counted; 0: no limit */
    unsigned connection_timeout;     /* seconds of inactivity before a connection is closed */
    unsigned request_timeout;        /* seconds for a whole request, headers and body; both
                                        listeners */
    unsigned threads;                /* HTTP threads; 0: one per CPU */

    /* [lianlian] */
    char oid_partner[19];
    char *public_key; /* space-separated files, as written */
    struct keyset public_keys;
    char *merchant_private_key; /* file name; NULL when unset */
    EVP_PKEY *merchant_key;     /* loaded; NULL when unset or not loaded (CONFIG_NO_SECRETS) */
    char *query_url;
    char *ca_file;           /* NULL: system store */
    long query_timeout_ms;   /* a whole query, connection included (beyond design.md's table) */
    long connect_timeout_ms; /* the TCP and TLS connection */

    /* [database] */
    char *database_path;

    /* [reconcile] (durations in seconds) */
    bool reconcile_enabled;
    int64_t notify_window;
    int64_t retry_interval;
    int64_t max_retry_interval;
    int64_t give_up_after;
    int max_rate; /* queries per second, >= 1 */

    /* [log] */
    enum log_level log_level;
    int64_t summary_interval;      /* seconds between summary lines; 0: none */
    int64_t pending_warning_after; /* warn when the oldest pending order is older; 0: never */

    /* [admin]: /livez, /readyz, /metrics */
    char *admin_listen; /* NULL: off */
    char admin_host[64];
    uint16_t admin_port;
    unsigned admin_max_connections;
    unsigned admin_max_connections_per_ip; /* 0: no limit */

    /* [submit]: the submit thread (design.md, "Payout submission") */
    bool submit_enabled;
    char *submit_notify_url; /* NULL when unset; required when enabled; at most 64 characters */
    char *submit_payment_url;
    char *submit_confirm_url;
    int submit_max_rate;                /* requests per second, >= 1 */
    long submit_timeout_ms;             /* a whole apply or confirm request */
    int64_t submit_unknown_query_after; /* seconds */
    int64_t submit_no_record_after;     /* seconds */
    char *submit_platform;              /* NULL when unset */
    char *submit_api_version;
};

/*
 * Reads and checks a configuration file. Unknown sections or keys, bad values, missing required
 * keys, unreadable or unparsable key files are errors: returns -1 with a message naming the file,
 * line and key in err ("FILE:LINE: section.key: reason"). On success returns 0 and *cfg is
 * filled (free with config_finish). Key material never appears in err.
 *
 * The configuration and every file it names must be readable by the user running this by their
 * mode (root's privilege is not counted) and writable by nobody but their owner; the merchant
 * key must also be owned by the user running this, and mode 0600 or 0400 (filecheck.h).
 */
int config_load(const char *file, struct config *cfg, char *err, size_t errlen);

/* What config_load_flags may leave out. */
enum config_flags {
    /* lianlian.merchant_private_key and server.tls_key, which only the daemon's user may read,
     * are named but neither opened nor checked (merchant_key stays NULL): for lianpayctl's verbs
     * that do not sign, run by members of the daemon's group. */
    CONFIG_NO_SECRETS = 1,
};
int config_load_flags(const char *file, unsigned flags, struct config *cfg, char *err,
                      size_t errlen);

/* The same from a string in memory (the embedded development configuration); name is used in
 * messages in place of a file name. Relative key paths are taken as given. */
int config_load_string(const char *text, const char *name, struct config *cfg, char *err,
                       size_t errlen);
int config_load_string_flags(const char *text, const char *name, unsigned flags, struct config *cfg,
                             char *err, size_t errlen);

void config_finish(struct config *cfg);

/* The default of key ("server.listen") as it would be written in the file ("127.0.0.1:8080"),
 * or NULL when it has none (unset, required) or there is no such key. What config_load sets
 * before the file is read. */
const char *config_default(const char *key);

/* What the query client needs of cfg (lianlian.*), for the reconciler and lianpayctl query.
 * Points into cfg. */
void config_query_options(const struct config *cfg, struct query_options *out);

#endif
