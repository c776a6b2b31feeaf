/*
 * config: the configuration contract of design.md. Every test writes its configuration and key
 * files into a temporary directory made by the group setup; keys come from keys_generate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "fileio.h"

/* Room for a path, a name in it, and a little more, so that the compiler sees no truncation. */
#define PATH_ROOM (2 * PATH_MAX)

static char dir[PATH_MAX];
static char conf_path[PATH_ROOM];

#define OID  "oid_partner = 201103171000000000\n"
#define PUB  "public_key = pub.pem\n"
#define PRIV "merchant_private_key = priv.pem\n"
/* The smallest valid configuration: lines 1 to 4. */
#define MINIMAL "[lianlian]\n" OID PUB PRIV

static const char *path_in(const char *name)
{
    static char buf[4][PATH_ROOM];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, PATH_ROOM, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    const char *path = path_in(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

/* Writes text as test.conf and loads it. */
static int load(const char *text, struct config *cfg, char *err, size_t errlen)
{
    write_file("test.conf", text, 0644);
    return config_load(conf_path, cfg, err, errlen);
}

static void rm_rf(const char *path)
{
    char cmd[PATH_ROOM];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

static int group_setup(void **state)
{
    char err[256];
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, sizeof(dir), "%s/test_config.XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(conf_path, sizeof(conf_path), "%s/test.conf", dir);
    if (keys_generate(2048, path_in("priv.pem"), path_in("pub.pem"), err, sizeof(err)) < 0 ||
        keys_generate(2048, path_in("priv2.pem"), path_in("pub2.pem"), err, sizeof(err)) < 0) {
        fprintf(stderr, "keys_generate: %s\n", err);
        return -1;
    }
    write_file("junk.pem", "this is not a key\n", 0600);
    write_file("cert.pem", "placeholder certificate\n", 0644);
    write_file("tlskey.pem", "placeholder key\n", 0600);
    write_file("ca.pem", "placeholder bundle\n", 0644);
    if (mkdir(path_in("sub"), 0755) < 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    rm_rf(dir);
    return 0;
}

static void test_minimal_defaults(void **state)
{
    struct config c;
    char err[512] = "";

    if (load(MINIMAL, &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.file, conf_path);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.notify_path, "/lianpay/notify");
    assert_null(c.tls_cert);
    assert_null(c.tls_key);
    assert_int_equal(c.max_body, 16384);
    assert_int_equal(c.trusted_proxies.n, 2);
    assert_true(netaddr_list_contains(&c.trusted_proxies, "127.0.0.1"));
    assert_true(netaddr_list_contains(&c.trusted_proxies, "::1"));
    assert_false(netaddr_list_contains(&c.trusted_proxies, "127.0.0.2"));
    assert_true(c.allow_all);
    assert_int_equal(c.allow_from.n, 0);
    assert_string_equal(c.oid_partner, "201103171000000000");
    assert_string_equal(c.public_key, "pub.pem");
    assert_int_equal(c.public_keys.n, 1);
    assert_non_null(c.public_keys.keys[0]);
    /* Relative to the configuration's directory. */
    assert_string_equal(c.merchant_private_key, path_in("priv.pem"));
    assert_non_null(c.merchant_key);
    assert_string_equal(c.query_url, CONFIG_DEFAULT_QUERY_URL);
    assert_string_equal(c.query_url,
                        "https://instantpay.lianlianpay.com/paymentapi/queryPayment.htm");
    assert_null(c.ca_file);
    assert_string_equal(c.database_path, "/var/lib/lianpay-notifyd/payments.db");
    assert_true(c.reconcile_enabled);
    assert_int_equal(c.notify_window, 36 * 60);
    assert_int_equal(c.retry_interval, 10 * 60);
    assert_int_equal(c.max_retry_interval, 2 * 3600);
    assert_int_equal(c.give_up_after, 7 * 86400);
    assert_int_equal(c.max_rate, 5);
    assert_int_equal(c.log_level, LOG_LEVEL_INFO);
    config_finish(&c);
    assert_null(c.file);
    assert_null(c.merchant_key);
}

static void test_extension_keys(void **state)
{
    struct config c;
    char err[512] = "";

    assert_int_equal(load(MINIMAL, &c, err, sizeof(err)), 0);
    assert_int_equal(c.max_connections, 1000);
    assert_int_equal(c.max_connections_per_ip, 64);
    assert_int_equal(c.connection_timeout, 15);
    assert_int_equal(c.request_timeout, 10);
    assert_string_equal(c.tls_priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
    assert_int_equal(c.admin_max_connections, 64);
    assert_int_equal(c.admin_max_connections_per_ip, 8);
    assert_int_equal(c.threads, 0);
    assert_int_equal(c.query_timeout_ms, 15000);
    assert_int_equal(c.connect_timeout_ms, 5000);
    assert_string_equal(c.admin_listen, "127.0.0.1:8479");
    assert_int_equal(c.admin_port, 8479);
    assert_int_equal(c.summary_interval, 300);
    assert_int_equal(c.pending_warning_after, 3600);
    config_finish(&c);

    assert_int_equal(load(MINIMAL "query_timeout = 30s\nconnect_timeout = 2s\n"
                                  "[server]\nmax_connections = 64\nmax_connections_per_ip = 8\n"
                                  "connection_timeout = 5s\nthreads = 3\nrequest_timeout = 3s\n"
                                  "tls_priorities = NORMAL:+VERS-TLS1.1\n"
                                  "[admin]\nlisten = [::1]:0\nmax_connections = 5\n"
                                  "max_connections_per_ip = 0\n"
                                  "[log]\nsummary_interval = off\npending_warning_after = 2h\n",
                          &c, err, sizeof(err)),
                     0);
    assert_int_equal(c.query_timeout_ms, 30000);
    assert_int_equal(c.connect_timeout_ms, 2000);
    assert_int_equal(c.max_connections, 64);
    assert_int_equal(c.max_connections_per_ip, 8);
    assert_int_equal(c.connection_timeout, 5);
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.request_timeout, 3);
    assert_string_equal(c.tls_priorities, "NORMAL:+VERS-TLS1.1");
    assert_int_equal(c.admin_max_connections, 5);
    assert_int_equal(c.admin_max_connections_per_ip, 0);
    assert_string_equal(c.admin_host, "::1");
    assert_int_equal(c.admin_port, 0);
    assert_int_equal(c.summary_interval, 0);
    assert_int_equal(c.pending_warning_after, 7200);
    config_finish(&c);

    assert_int_equal(load(MINIMAL "[admin]\nlisten = off\n", &c, err, sizeof(err)), 0);
    assert_null(c.admin_listen);
    config_finish(&c);
}

static void test_every_key(void **state)
{
    struct config c;
    char err[512] = "";
    const char *text = "# every key, none at its default\n"
                       "; both comment styles\n"
                       "[server]\n"
                       "listen = [::1]:8443\n"
                       "notify_path = /hooks/lianlian\n"
                       "tls_cert = cert.pem\n"
                       "tls_key = tlskey.pem\n"
                       "max_body = 4096 ; an inline comment\n"
                       "trusted_proxies = 10.0.0.0/8, 192.0.2.1\n"
                       "allow_from = 203.0.113.0/24 198.51.100.17\n"
                       "[lianlian]\n"
                       "oid_partner =   201103171000000001  \n"
                       "public_key = pub.pem   pub2.pem\n"
                       "merchant_private_key = priv2.pem\n"
                       "query_url = http://127.0.0.1:9999/queryPayment.htm\n"
                       "ca_file = ca.pem\n"
                       "[database]\n"
                       "path = data/payments.db\n"
                       "[reconcile]\n"
                       "enabled = yes\n"
                       "notify_window = 40m\n"
                       "retry_interval = 30s\n"
                       "max_retry_interval = 1h\n"
                       "give_up_after = 3d\n"
                       "max_rate = 1000\n"
                       "[log]\n"
                       "level = debug\n";

    if (load(text, &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.listen, "[::1]:8443");
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 8443);
    assert_string_equal(c.notify_path, "/hooks/lianlian");
    assert_string_equal(c.tls_cert, path_in("cert.pem"));
    assert_string_equal(c.tls_key, path_in("tlskey.pem"));
    assert_int_equal(c.max_body, 4096);
    assert_int_equal(c.trusted_proxies.n, 2);
    assert_true(netaddr_list_contains(&c.trusted_proxies, "10.9.8.7"));
    assert_false(netaddr_list_contains(&c.trusted_proxies, "127.0.0.1"));
    assert_false(c.allow_all);
    assert_int_equal(c.allow_from.n, 2);
    assert_true(netaddr_list_contains(&c.allow_from, "203.0.113.200"));
    assert_true(netaddr_list_contains(&c.allow_from, "198.51.100.17"));
    assert_false(netaddr_list_contains(&c.allow_from, "198.51.100.18"));
    assert_string_equal(c.oid_partner, "201103171000000001");
    assert_string_equal(c.public_key, "pub.pem   pub2.pem");
    assert_int_equal(c.public_keys.n, 2);
    assert_string_equal(c.merchant_private_key, path_in("priv2.pem"));
    assert_non_null(c.merchant_key);
    assert_string_equal(c.query_url, "http://127.0.0.1:9999/queryPayment.htm");
    assert_string_equal(c.ca_file, path_in("ca.pem"));
    assert_string_equal(c.database_path, path_in("data/payments.db"));
    assert_true(c.reconcile_enabled);
    assert_int_equal(c.notify_window, 2400);
    assert_int_equal(c.retry_interval, 30);
    assert_int_equal(c.max_retry_interval, 3600);
    assert_int_equal(c.give_up_after, 3 * 86400);
    assert_int_equal(c.max_rate, 1000);
    assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
    config_finish(&c);
}

static void test_booleans_and_levels(void **state)
{
    static const struct {
        const char *text;
        bool value;
    } bools[] = {{"true", true}, {"false", false}, {"yes", true}, {"no", false},  {"on", true},
                 {"off", false}, {"1", true},      {"0", false},  {"TRUE", true}, {"Off", false}};
    static const struct {
        const char *text;
        enum log_level level;
    } levels[] = {{"debug", LOG_LEVEL_DEBUG},
                  {"info", LOG_LEVEL_INFO},
                  {"warning", LOG_LEVEL_WARNING},
                  {"error", LOG_LEVEL_ERROR}};
    struct config c;
    char text[512];
    char err[512] = "";

    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        snprintf(text, sizeof(text), MINIMAL "[reconcile]\nenabled = %s\n", bools[i].text);
        if (load(text, &c, err, sizeof(err)) != 0)
            fail_msg("%s: %s", bools[i].text, err);
        assert_int_equal(c.reconcile_enabled, bools[i].value);
        config_finish(&c);
    }
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        snprintf(text, sizeof(text), MINIMAL "[log]\nlevel = %s\n", levels[i].text);
        if (load(text, &c, err, sizeof(err)) != 0)
            fail_msg("%s: %s", levels[i].text, err);
        assert_int_equal(c.log_level, levels[i].level);
        config_finish(&c);
    }
}

static void test_bounds_accepted(void **state)
{
    struct config c;
    char err[512] = "";

    if (load(MINIMAL "[server]\nmax_body = 256\nlisten = 0.0.0.0:1\n[reconcile]\nmax_rate = 1\n"
                     "retry_interval = 2h\n",
             &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.max_body, 256);
    assert_int_equal(c.listen_port, 1);
    assert_int_equal(c.max_rate, 1);
    /* Equal intervals are fine: the interval simply never grows. */
    assert_int_equal(c.retry_interval, c.max_retry_interval);
    config_finish(&c);

    if (load(MINIMAL "[server]\nmax_body = 10485760\nlisten = [::]:65535\n", &c, err,
             sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.max_body, 10485760);
    assert_int_equal(c.listen_port, 65535);
    config_finish(&c);

    /* Port 0: any free port, which the daemon reports once listening. */
    if (load(MINIMAL "[server]\nlisten = 127.0.0.1:0\n", &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.listen_port, 0);
    config_finish(&c);

    /* An empty trusted_proxies trusts no one. */
    if (load(MINIMAL "[server]\ntrusted_proxies =\n", &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.trusted_proxies.n, 0);
    assert_false(netaddr_list_contains(&c.trusted_proxies, "127.0.0.1"));
    config_finish(&c);
}

static void test_submit(void **state)
{
    struct config c;
    char err[512] = "";

    /* Off by default, with LianLian's production URLs and design.md's defaults. */
    if (load(MINIMAL, &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_false(c.submit_enabled);
    assert_null(c.submit_notify_url);
    assert_string_equal(c.submit_payment_url,
                        "https://instantpay.lianlianpay.com/paymentapi/payment.htm");
    assert_string_equal(c.submit_confirm_url,
                        "https://instantpay.lianlianpay.com/paymentapi/confirmPayment.htm");
    assert_int_equal(c.submit_max_rate, 5);
    assert_int_equal(c.submit_timeout_ms, 30000);
    assert_int_equal(c.submit_unknown_query_after, 60);
    assert_int_equal(c.submit_no_record_after, 1800);
    assert_null(c.submit_platform);
    assert_string_equal(c.submit_api_version, "1.0");
    config_finish(&c);

    /* Every key set; a notify_url of exactly 64 characters is LianLian's limit, not past it. */
    static const char url64[] = "https://pay.example.com/lianpay/notify/0123456789012345678901234";
    assert_int_equal(strlen(url64), 64);
    char text[1024];
    snprintf(text, sizeof(text),
             MINIMAL "[submit]\nenabled = on\nnotify_url = %s\n"
                     "payment_url = http://127.0.0.1:1/payment.htm\n"
                     "confirm_url = http://127.0.0.1:1/confirmPayment.htm\nmax_rate = 2\n"
                     "timeout = 1m\nunknown_query_after = 5s\nno_record_after = 2h\n"
                     "platform = shop.example\napi_version = 1.1\n",
             url64);
    if (load(text, &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_true(c.submit_enabled);
    assert_string_equal(c.submit_notify_url, url64);
    assert_string_equal(c.submit_payment_url, "http://127.0.0.1:1/payment.htm");
    assert_string_equal(c.submit_confirm_url, "http://127.0.0.1:1/confirmPayment.htm");
    assert_int_equal(c.submit_max_rate, 2);
    assert_int_equal(c.submit_timeout_ms, 60000);
    assert_int_equal(c.submit_unknown_query_after, 5);
    assert_int_equal(c.submit_no_record_after, 7200);
    assert_string_equal(c.submit_platform, "shop.example");
    assert_string_equal(c.submit_api_version, "1.1");
    config_finish(&c);
}

static void test_reconcile_disabled_needs_no_private_key(void **state)
{
    struct config c;
    char err[512] = "";

    if (load("[lianlian]\n" OID PUB "[reconcile]\nenabled = false\n", &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_false(c.reconcile_enabled);
    assert_null(c.merchant_private_key);
    assert_null(c.merchant_key);
    config_finish(&c);
}

struct bad_case {
    const char *text;
    int line;        /* 0: the message names no line */
    const char *key; /* NULL: the message names no key */
    const char *reason;
};

static const struct bad_case bad_cases[] = {
    /* [server] */
    {MINIMAL "[server]\nmax_body = abc\n", 6, "server.max_body",
     "not a positive number of bytes: \"abc\""},
    {MINIMAL "[server]\nmax_body = 255\n", 6, "server.max_body", "between 256 and 10485760"},
    {MINIMAL "[server]\nmax_body = 10485761\n", 6, "server.max_body", "between"},
    {MINIMAL "[server]\nmax_body = -5\n", 6, "server.max_body", "\"-5\""},
    {MINIMAL "[server]\nmax_body = 99999999999999999999999\n", 6, "server.max_body", "not a"},
    {MINIMAL "[server]\nlisten = 127.0.0.1\n", 6, "server.listen", "\"127.0.0.1\""},
    {MINIMAL "[server]\nlisten = ::1:8080\n", 6, "server.listen", "IPv6 in brackets"},
    {MINIMAL "[server]\nlisten = 127.0.0.1:99999\n", 6, "server.listen", "port 0-65535"},
    {MINIMAL "[server]\nlisten = 127.0.0.1:65536\n", 6, "server.listen", "port"},
    {MINIMAL "[server]\nlisten = 127.0.0.1:http\n", 6, "server.listen", "port"},
    {MINIMAL "[server]\nlisten = localhost:8080\n", 6, "server.listen",
     "not an IP address: \"localhost\""},
    {MINIMAL "[server]\nnotify_path = lianpay/notify\n", 6, "server.notify_path",
     "must start with '/'"},
    {MINIMAL "[server]\nnotify_path = /lianpay notify\n", 6, "server.notify_path", "spaces"},
    {MINIMAL "[server]\nnotify_path = /notify?x=1\n", 6, "server.notify_path", "'?'"},
    {MINIMAL "[server]\ntls_cert = missing.pem\ntls_key = tlskey.pem\n", 6, "server.tls_cert",
     "No such file or directory"},
    {MINIMAL "[server]\ntls_cert = cert.pem\ntls_key = missing.pem\n", 7, "server.tls_key",
     "missing.pem"},
    {MINIMAL "[server]\nmax_body = 300\ntls_cert = cert.pem\n", 7, "server.tls_cert",
     "set without server.tls_key"},
    {MINIMAL "[server]\ntls_key = tlskey.pem\n", 6, "server.tls_key",
     "set without server.tls_cert"},
    {MINIMAL "[server]\nrequest_timeout = 0\n", 6, "server.request_timeout", "greater than zero"},
    {MINIMAL "[server]\nrequest_timeout = 2h\n", 6, "server.request_timeout", "at most 1h"},
    {MINIMAL "[server]\ntls_priorities = NORMAL VERS\n", 6, "server.tls_priorities",
     "not a GnuTLS priority string"},
    {MINIMAL "[admin]\nmax_connections = 0\n", 6, "admin.max_connections", "1 to 10000"},
    {MINIMAL "[server]\ntrusted_proxies = 127.0.0.1 10.0.0.0/33\n", 6, "server.trusted_proxies",
     "\"10.0.0.0/33\""},
    {MINIMAL "[server]\nallow_from = 203.0.113.0/24, bogus\n", 6, "server.allow_from", "\"bogus\""},
    {MINIMAL "[server]\nallow_from = 10.1.2.3/8\n", 6, "server.allow_from", "host bits"},
    {MINIMAL "[server]\nallow_from =\n", 6, "server.allow_from", "unset"},
    /* [lianlian] */
    {"[lianlian]\noid_partner = 20110317100000000\n" PUB PRIV, 2, "lianlian.oid_partner",
     "18-digit"},
    {"[lianlian]\noid_partner = 2011031710000000001\n" PUB PRIV, 2, "lianlian.oid_partner",
     "18-digit"},
    {"[lianlian]\noid_partner = 20110317100000000x\n" PUB PRIV, 2, "lianlian.oid_partner",
     "\"20110317100000000x\""},
    {"[lianlian]\n" OID "public_key = missing.pem\n" PRIV, 3, "lianlian.public_key", "missing.pem"},
    {"[lianlian]\n" OID "public_key = pub.pem junk.pem\n" PRIV, 3, "lianlian.public_key",
     "junk.pem"},
    {"[lianlian]\n" OID "public_key =\n" PRIV, 3, "lianlian.public_key", "no key file"},
    {"[lianlian]\n" OID PUB "merchant_private_key = priv644.pem\n", 4,
     "lianlian.merchant_private_key", "readable by others (mode 0644); chmod 600 it"},
    {"[lianlian]\n" OID PUB "merchant_private_key = priv640.pem\n", 4,
     "lianlian.merchant_private_key", "(mode 0640); chmod 600 it"},
    {"[lianlian]\n" OID PUB "merchant_private_key = junk.pem\n", 4, "lianlian.merchant_private_key",
     "junk.pem"},
    {"[lianlian]\n" OID PUB "merchant_private_key = missing.pem\n", 4,
     "lianlian.merchant_private_key", "No such file"},
    {MINIMAL "query_url = ftp://example.com/q\n", 5, "lianlian.query_url", "https:// or http://"},
    {MINIMAL "query_url = instantpay.lianlianpay.com\n", 5, "lianlian.query_url", "https://"},
    {MINIMAL "ca_file = missing-ca.pem\n", 5, "lianlian.ca_file", "missing-ca.pem"},
    /* [database] */
    {MINIMAL "[database]\npath =\n", 6, "database.path", "empty"},
    /* [reconcile] */
    {MINIMAL "[reconcile]\nenabled = maybe\n", 6, "reconcile.enabled", "not a boolean"},
    {MINIMAL "[reconcile]\nnotify_window = 10x\n", 6, "reconcile.notify_window", "not a duration"},
    {MINIMAL "[reconcile]\nnotify_window = 1.5h\n", 6, "reconcile.notify_window", "\"1.5h\""},
    {MINIMAL "[reconcile]\nretry_interval = 0\n", 6, "reconcile.retry_interval",
     "greater than zero"},
    {MINIMAL "[reconcile]\nmax_retry_interval = 0m\n", 6, "reconcile.max_retry_interval",
     "greater than zero"},
    {MINIMAL "[reconcile]\ngive_up_after = -1d\n", 6, "reconcile.give_up_after", "duration"},
    {MINIMAL "[reconcile]\nmax_retry_interval = 5m\n", 6, "reconcile.max_retry_interval",
     "shorter than reconcile.retry_interval"},
    {MINIMAL "[reconcile]\nretry_interval = 3h\n", 6, "reconcile.retry_interval",
     "longer than reconcile.max_retry_interval"},
    {MINIMAL "[reconcile]\nmax_rate = 0\n", 6, "reconcile.max_rate", "1 to 1000"},
    {MINIMAL "[reconcile]\nmax_rate = 1001\n", 6, "reconcile.max_rate", "1 to 1000"},
    {MINIMAL "[reconcile]\nmax_rate = 2.5\n", 6, "reconcile.max_rate", "\"2.5\""},
    /* [log] */
    {MINIMAL "[log]\nlevel = verbose\n", 6, "log.level", "\"verbose\""},
    {MINIMAL "[log]\nlevel = INFO\n", 6, "log.level", "debug, info, warning, error"},
    /* structure */
    {MINIMAL "[server]\nlisten_port = 80\n", 6, "server.listen_port", "unknown key"},
    {MINIMAL "[lianlian]\npublic-key = pub.pem\n", 6, "lianlian.public-key", "unknown key"},
    {MINIMAL "[srever]\nlisten = 127.0.0.1:80\n", 5, NULL, "unknown section [srever]"},
    {MINIMAL "\n[empty]\n", 6, NULL, "unknown section [empty]"},
    {"max_body = 300\n" MINIMAL, 1, "max_body", "outside of any [section]"},
    {MINIMAL "[server]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n", 7, "server.listen",
     "given twice (first on line 6)"},
    {MINIMAL "[server]\nmax_body = 300\n[lianlian]\n" OID, 8, "lianlian.oid_partner",
     "given twice (first on line 2)"},
    {MINIMAL "[server]\nthis line has no equals sign\n", 6, NULL, "expected"},
    {MINIMAL "[server\nmax_body = 300\n", 5, NULL, "expected"},
    /* inih's error comes first in the file, so it is the one reported */
    {MINIMAL "[server]\nnonsense\nmax_body = abc\n", 6, NULL, "expected"},
    {MINIMAL "[server]\nlisten = 127.0.0.1:1\n  max_body = 300\n", 7, NULL,
     "indented line would continue the value of line 6"},
    /* missing required keys: the file and the key, no line */
    {"[lianlian]\n" PUB PRIV, 0, "lianlian.oid_partner", "required"},
    {"[lianlian]\n" OID PRIV, 0, "lianlian.public_key", "required"},
    /* keys beyond design.md's table */
    {MINIMAL "[server]\nmax_connections = 0\n", 6, "server.max_connections", "from 1 to"},
    {MINIMAL "[server]\nmax_connections_per_ip = x\n", 6, "server.max_connections_per_ip", "\"x\""},
    {MINIMAL "[server]\nconnection_timeout = 2h\n", 6, "server.connection_timeout", "at most 1h"},
    {MINIMAL "[server]\nthreads = 999\n", 6, "server.threads", "0 to 256"},
    {MINIMAL "query_timeout = 0s\n", 5, "lianlian.query_timeout", "greater than zero"},
    {MINIMAL "connect_timeout = 10m\n", 5, "lianlian.connect_timeout", "at most 5m"},
    {MINIMAL "[admin]\nlisten = nowhere\n", 6, "admin.listen", "\"nowhere\""},
    {MINIMAL "[log]\nsummary_interval = soon\n", 6, "log.summary_interval", "not a duration"},
    {MINIMAL "[log]\npending_warning_after = -1h\n", 6, "log.pending_warning_after",
     "not a duration"},
    {"[lianlian]\n" OID PUB, 0, "lianlian.merchant_private_key",
     "required when reconcile.enabled is true"},
    {"", 0, "lianlian.oid_partner", "required"},
    /* [submit] (issue 13) */
    {MINIMAL "[submit]\nenabled = yes\n", 6, "submit.enabled",
     "submit.notify_url is required when enabled"},
    {"[lianlian]\n" OID PUB "[reconcile]\nenabled = false\n[submit]\nenabled = true\n"
     "notify_url = http://x.example/n\n",
     0, "lianlian.merchant_private_key", "required when submit.enabled is true"},
    /* unknown payouts would never be queried */
    {MINIMAL "[reconcile]\nenabled = false\n[submit]\nenabled = true\n"
             "notify_url = http://x.example/n\n",
     6, "reconcile.enabled",
     "false while submit.enabled is true: unknown payouts are resolved only by the "
     "reconciler's queries"},
    {MINIMAL "[submit]\nnotify_url = https://pay.example.com/"
             "lianpay/notify/0123456789012345678901234567890\n",
     6, "submit.notify_url", "longer than 64 characters"},
    {MINIMAL "[submit]\nnotify_url = ftp://x\n", 6, "submit.notify_url", "https:// or http://"},
    {MINIMAL "[submit]\npayment_url = payment.htm\n", 6, "submit.payment_url", "https://"},
    {MINIMAL "[submit]\nconfirm_url = \n", 6, "submit.confirm_url", "https://"},
    {MINIMAL "[submit]\nmax_rate = 0\n", 6, "submit.max_rate", "requests per second from 1"},
    {MINIMAL "[submit]\ntimeout = 10m\n", 6, "submit.timeout", "at most 5m"},
    {MINIMAL "[submit]\nunknown_query_after = soon\n", 6, "submit.unknown_query_after",
     "not a duration"},
    {MINIMAL "[submit]\nno_record_after = -1m\n", 6, "submit.no_record_after", "not a duration"},
    {MINIMAL "[submit]\nplatform = my shop\n", 6, "submit.platform", "only letters"},
    {MINIMAL "[submit]\nplatform = 012345678901234567890123456789012\n", 6, "submit.platform",
     "not 1 to 32 characters"},
    {MINIMAL "[submit]\napi_version = \n", 6, "submit.api_version", "not 1 to 8 characters"},
    {MINIMAL "[submit]\nenabled = maybe\n", 6, "submit.enabled", "not a boolean"},
    {MINIMAL "[submit]\nno_such = 1\n", 6, "submit.no_such", "unknown key"},
    /* two listeners on one address and port (issue 11, item 18) */
    {MINIMAL "[server]\nlisten = 127.0.0.1:8080\n[admin]\nlisten = 127.0.0.1:8080\n", 8,
     "admin.listen", "the same address and port as server.listen"},
    {MINIMAL "[admin]\nlisten = 0.0.0.0:8080\n", 6, "admin.listen",
     "the same address and port as server.listen (127.0.0.1:8080 and 0.0.0.0:8080)"},
    {MINIMAL "[server]\nlisten = 127.0.0.1:8479\n", 6, "server.listen",
     "the same address and port as admin.listen"},
    {MINIMAL "[server]\nlisten = [::]:8443\n[admin]\nlisten = [::1]:8443\n", 8, "admin.listen",
     "the same address and port"},
    /* files others could change, or that the user running this cannot read by their mode
     * (issue 11, items 15 and 18): made by test_errors */
    {"[lianlian]\n" OID "public_key = pub666.pem\n" PRIV, 3, "lianlian.public_key",
     "pub666.pem is writable by others (mode 0666); chmod go-w it"},
    {"[lianlian]\n" OID "public_key = pub.pem pub000.pem\n" PRIV, 3, "lianlian.public_key",
     "pub000.pem: not readable by uid"},
    {"[lianlian]\n" OID PUB "merchant_private_key = priv200.pem\n", 4,
     "lianlian.merchant_private_key", "priv200.pem: not readable by uid"},
    {MINIMAL "ca_file = ca666.pem\n", 5, "lianlian.ca_file", "writable by others (mode 0666)"},
    {MINIMAL "[server]\ntls_cert = cert666.pem\ntls_key = tlskey.pem\n", 6, "server.tls_cert",
     "writable by others (mode 0666)"},
};

static void check_error(const char *err, int line, const char *key, const char *reason,
                        const char *name)
{
    char where[PATH_ROOM + 32];

    if (line > 0) {
        snprintf(where, sizeof(where), "%s:%d: ", name, line);
    } else {
        snprintf(where, sizeof(where), "%s: ", name);
    }
    if (strncmp(err, where, strlen(where)) != 0)
        fail_msg("expected \"%s\" at the start of \"%s\"", where, err);
    if (key != NULL) {
        char k[128];
        snprintf(k, sizeof(k), ": %s: ", key);
        if (strstr(err, k) == NULL)
            fail_msg("expected key \"%s\" in \"%s\"", key, err);
    }
    if (strstr(err, reason) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", reason, err);
    if (strchr(err, '\n') != NULL)
        fail_msg("more than one line: \"%s\"", err);
}

static void test_errors(void **state)
{
    write_file("priv644.pem", "", 0600);
    write_file("priv640.pem", "", 0600);
    /* Copies of the real private key with loose modes, so that only the mode is wrong. */
    char cmd[3 * PATH_ROOM];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && cp '%s' '%s'", path_in("priv.pem"),
             path_in("priv644.pem"), path_in("priv.pem"), path_in("priv640.pem"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(chmod(path_in("priv644.pem"), 0644), 0);
    assert_int_equal(chmod(path_in("priv640.pem"), 0640), 0);
    static const char *const copies[][2] = {
        {"pub.pem", "pub666.pem"}, {"pub.pem", "pub000.pem"}, {"priv.pem", "priv200.pem"}};
    for (size_t i = 0; i < sizeof(copies) / sizeof(copies[0]); i++) {
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path_in(copies[i][0]), path_in(copies[i][1]));
        assert_int_equal(system(cmd), 0);
    }
    assert_int_equal(chmod(path_in("pub666.pem"), 0666), 0);
    assert_int_equal(chmod(path_in("pub000.pem"), 0), 0);
    assert_int_equal(chmod(path_in("priv200.pem"), 0200), 0);
    write_file("ca666.pem", "placeholder bundle\n", 0666);
    write_file("cert666.pem", "placeholder certificate\n", 0666);

    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *bc = &bad_cases[i];
        struct config c;
        char err[512] = "";

        if (load(bc->text, &c, err, sizeof(err)) != -1)
            fail_msg("case %zu accepted:\n%s", i, bc->text);
        print_message("# %s\n", err);
        check_error(err, bc->line, bc->key, bc->reason, conf_path);
        /* A failed load leaves nothing to free, and finishing it again is harmless. */
        assert_null(c.file);
        assert_null(c.public_keys.keys);
        config_finish(&c);
    }
}

static void test_long_line(void **state)
{
    struct config c;
    char err[512] = "";
    char text[1024];
    char path[256];

    /* notify_path = /aaa...: exactly 199 bytes is accepted, and later lines keep their numbers. */
    memset(path, 'a', sizeof(path));
    path[0] = '/';
    path[199 - strlen("notify_path = ")] = '\0';
    snprintf(text, sizeof(text), MINIMAL "[server]\nnotify_path = %s\nmax_body = 1\n", path);
    assert_int_equal(load(text, &c, err, sizeof(err)), -1);
    check_error(err, 7, "server.max_body", "between", conf_path);

    snprintf(text, sizeof(text), MINIMAL "[server]\r\nnotify_path = %s\r\n", path);
    if (load(text, &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(strlen(c.notify_path), 199 - strlen("notify_path = "));
    config_finish(&c);

    /* 200 bytes: inih would cut it silently, so it is refused. */
    snprintf(text, sizeof(text), MINIMAL "[server]\nnotify_path = %sb\n", path);
    assert_int_equal(load(text, &c, err, sizeof(err)), -1);
    check_error(err, 6, NULL, "line too long (max 199 bytes)", conf_path);

    /* Comments too: the tail of a long comment would otherwise be read as a line. */
    memset(path, '#', sizeof(path));
    path[210] = '\0';
    snprintf(text, sizeof(text), "%s\n" MINIMAL, path);
    assert_int_equal(load(text, &c, err, sizeof(err)), -1);
    check_error(err, 1, NULL, "line too long", conf_path);
}

static void test_crlf_bom_comments(void **state)
{
    struct config c;
    char err[512] = "";

    if (load("\xEF\xBB\xBF# a BOM, CRLF line ends and comments\r\n"
             "[lianlian]\r\n" OID PUB PRIV "; comment\r\n"
             "[server]\r\n"
             "  ; an indented comment after a key is still a comment\r\n"
             "max_body = 1000 ; bytes\r\n"
             "notify_path = /a;b\r\n",
             &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.max_body, 1000);
    /* Only " ;" starts an inline comment. */
    assert_string_equal(c.notify_path, "/a;b");
    config_finish(&c);
}

static void test_relative_paths(void **state)
{
    struct config c;
    char err[512] = "";
    char cwd[PATH_MAX];

    /* A file in a sub-directory finds its keys relative to itself, whatever the cwd. */
    write_file("sub/nested.conf",
               "[lianlian]\n" OID "public_key = ../pub.pem\nmerchant_private_key = ../priv.pem\n"
               "[database]\npath = db/payments.db\n",
               0644);
    if (config_load(path_in("sub/nested.conf"), &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.database_path, path_in("sub/db/payments.db"));
    assert_string_equal(c.merchant_private_key, path_in("sub/../priv.pem"));
    config_finish(&c);

    /* A relative configuration file name: still relative to its directory, made absolute. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    int rc = config_load("sub/nested.conf", &c, err, sizeof(err));
    assert_int_equal(chdir(cwd), 0);
    if (rc != 0)
        fail_msg("%s", err);
    assert_string_equal(c.file, "sub/nested.conf");
    assert_string_equal(c.database_path, path_in("sub/db/payments.db"));
    config_finish(&c);

    /* Errors name the file as it was given. */
    assert_int_equal(chdir(dir), 0);
    write_file("sub/bad.conf", "[lianlian]\n" OID "public_key = ../nope.pem\n", 0644);
    rc = config_load("sub/bad.conf", &c, err, sizeof(err));
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, -1);
    check_error(err, 3, "lianlian.public_key", "nope.pem", "sub/bad.conf");
}

static void test_missing_file(void **state)
{
    struct config c;
    char err[512] = "";

    assert_int_equal(config_load(path_in("no-such.conf"), &c, err, sizeof(err)), -1);
    check_error(err, 0, NULL, "No such file or directory", path_in("no-such.conf"));
    config_finish(&c);
}

static void test_no_key_material_in_errors(void **state)
{
    struct config c;
    char err[512] = "";

    /* A private key where the public key belongs, and the other way round. */
    assert_int_equal(load("[lianlian]\n" OID "public_key = priv.pem\n" PRIV, &c, err, sizeof(err)),
                     -1);
    check_error(err, 3, "lianlian.public_key", "priv.pem", conf_path);
    assert_null(strstr(err, "MII"));
    assert_null(strstr(err, "PRIVATE KEY"));

    write_file("pub600.pem", "", 0600);
    char cmd[3 * PATH_ROOM];
    snprintf(cmd, sizeof(cmd), "cat '%s' > '%s'", path_in("pub.pem"), path_in("pub600.pem"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(
        load("[lianlian]\n" OID PUB "merchant_private_key = pub600.pem\n", &c, err, sizeof(err)),
        -1);
    check_error(err, 4, "lianlian.merchant_private_key", "pub600.pem", conf_path);
    assert_null(strstr(err, "MII"));
}

static void test_embedded_string(void **state)
{
    struct config c;
    char err[512] = "";
    char text[2048];
    char cwd[PATH_MAX];

    snprintf(text, sizeof(text),
             "[server]\nlisten = 127.0.0.1:18080\n[lianlian]\n" OID
             "public_key = %s\nmerchant_private_key = %s\n[database]\npath = dev.db\n"
             "[log]\nlevel = debug\n",
             path_in("pub.pem"), path_in("priv.pem"));
    if (config_load_string(text, "(embedded)", &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.file, "(embedded)");
    assert_int_equal(c.listen_port, 18080);
    assert_int_equal(c.public_keys.n, 1);
    assert_non_null(c.merchant_key);
    /* Relative paths stay relative to the current directory. */
    assert_string_equal(c.database_path, "dev.db");
    assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
    config_finish(&c);

    /* Relative key files are found from the current directory. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    int rc = config_load_string(MINIMAL, "dev", &c, err, sizeof(err));
    assert_int_equal(chdir(cwd), 0);
    if (rc != 0)
        fail_msg("%s", err);
    assert_string_equal(c.merchant_private_key, "priv.pem");
    config_finish(&c);

    /* Errors use the name given. */
    assert_int_equal(
        config_load_string("[server]\nmax_body = abc\n", "(embedded)", &c, err, sizeof(err)), -1);
    check_error(err, 2, "server.max_body", "not a positive number of bytes: \"abc\"", "(embedded)");
    assert_int_equal(config_load_string("[lianlian]\n", "dev", &c, err, sizeof(err)), -1);
    check_error(err, 0, "lianlian.oid_partner", "required", "dev");
}

/* A file of the source tree (README.md, etc/...), found from the test vectors' folder. */
static char *source_file(const char *name)
{
    const char *vectors = getenv("LIANPAY_TEST_VECTORS");
    char path[PATH_ROOM], why[256];
    size_t len = 0;

    snprintf(path, sizeof(path), "%s/../../%s", vectors != NULL ? vectors : "tests/vectors", name);
    char *text = fileio_read(path, 1 << 20, 0, &len, why, sizeof(why));
    if (text == NULL)
        fail_msg("%s: %s", path, why);
    return text;
}

static bool config_section(const char *key)
{
    static const char *const sections[] = {"server.", "lianlian.", "database.", "reconcile.",
                                           "log.",    "admin.",    "submit."};
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (strncmp(key, sections[i], strlen(sections[i])) == 0)
            return true;
    }
    return false;
}

/* The defaults in the code are the ones the example file and the README's table give: the example
 * file's commented-out keys show their default, its set keys have none; each README row's
 * default is the code's, "unset" and "required" where the code has none. */
static void test_defaults_as_documented(void **state)
{
    char *text = source_file("etc/lianpay-notifyd.conf");
    char section[32] = "", key[96], value[160];
    int example_keys = 0, example_defaults = 0;

    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (sscanf(line, "[%31[a-z]]", section) == 1)
            continue;
        bool commented = line[0] == ';';
        char name[64];
        if (sscanf(line + (commented ? 1 : 0), "%63[a-z_] = %159[^\n]", name, value) != 2)
            continue;
        snprintf(key, sizeof(key), "%s.%s", section, name);
        const char *dflt = config_default(key);
        if (commented && dflt != NULL && strcmp(dflt, value) != 0)
            fail_msg("etc/lianpay-notifyd.conf: %s shows %s, the default is %s", key, value, dflt);
        if (!commented && dflt != NULL)
            fail_msg("etc/lianpay-notifyd.conf: %s is set, yet it has a default", key);
        example_keys++;
        example_defaults += dflt != NULL;
    }
    free(text);

    text = source_file("README.md");
    int readme_keys = 0, readme_defaults = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char keys[160], dflt_col[160];
        if (sscanf(line, "| %159[^|]| %159[^|]|", keys, dflt_col) != 2 || keys[0] != '`' ||
            !config_section(keys + 1))
            continue;
        const char *tick = strchr(dflt_col, '`');
        char shown[128] = "";
        if (tick != NULL)
            sscanf(tick + 1, "%127[^`]", shown);
        bool none = strncmp(dflt_col, "unset", 5) == 0 || strncmp(dflt_col, "required", 8) == 0 ||
                    strncmp(dflt_col, "system store", 12) == 0;
        /* "`server.tls_cert`, `server.tls_key`": every key of the row. */
        for (char *k = strchr(keys, '`'); k != NULL; k = strchr(k + 1, '`')) {
            char one[96];
            if (sscanf(k + 1, "%95[^`]", one) != 1)
                break;
            k = strchr(k + 1, '`');
            const char *dflt = config_default(one);
            if (tick != NULL && (dflt == NULL || strcmp(dflt, shown) != 0))
                fail_msg("README: %s shows %s, the default is %s", one, shown,
                         dflt ? dflt : "none");
            if (tick == NULL && none != (dflt == NULL))
                fail_msg("README: %s: \"%.40s\", the default is %s", one, dflt_col,
                         dflt ? dflt : "none");
            readme_keys++;
            readme_defaults += dflt != NULL;
            if (k == NULL)
                break;
        }
    }
    free(text);
    print_message("# etc/lianpay-notifyd.conf: %d keys, %d defaults; README: %d keys, %d "
                  "defaults\n",
                  example_keys, example_defaults, readme_keys, readme_defaults);
    /* Both name every key, and the same ones have defaults. */
    assert_int_equal(example_keys, readme_keys);
    assert_int_equal(example_defaults, readme_defaults);
    assert_null(config_default("server.no_such_key"));
    assert_null(config_default("lianlian.oid_partner"));
    assert_string_equal(config_default("reconcile.notify_window"), "36m");
}

static void test_finish_zeroed(void **state)
{
    struct config c;

    memset(&c, 0, sizeof(c));
    config_finish(&c);
    config_finish(&c);
    config_finish(NULL);
    assert_null(c.file);
}

/* Two listeners may share an address family, a port of 0 or an address, not both. */
static void test_listeners_apart(void **state)
{
    static const char *const good[] = {
        MINIMAL "[server]\nlisten = 127.0.0.1:0\n[admin]\nlisten = 127.0.0.1:0\n",
        MINIMAL "[server]\nlisten = 127.0.0.1:8080\n[admin]\nlisten = [::1]:8080\n",
        MINIMAL "[server]\nlisten = 127.0.0.1:8080\n[admin]\nlisten = 127.0.0.2:8080\n",
        MINIMAL "[server]\nlisten = 0.0.0.0:8080\n[admin]\nlisten = off\n",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct config c;
        char err[512] = "";
        if (load(good[i], &c, err, sizeof(err)) != 0)
            fail_msg("case %zu: %s", i, err);
        config_finish(&c);
    }
}

/* The configuration itself: whoever may rewrite it may name their own "LianLian" key in it. */
static void test_configuration_others_can_write(void **state)
{
    struct config c;
    char err[512] = "";

    write_file("test.conf", MINIMAL, 0666);
    assert_int_equal(config_load(conf_path, &c, err, sizeof(err)), -1);
    check_error(err, 0, NULL, "test.conf is writable by others (mode 0666); chmod go-w it",
                conf_path);
    write_file("test.conf", MINIMAL, 0600);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(config_load(conf_path, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "which others may write to (mode 0777): it could be replaced"));
    assert_int_equal(chmod(dir, 01777), 0); /* sticky, as /tmp: nobody else can replace it */
    if (config_load(conf_path, &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    config_finish(&c);
    assert_int_equal(chmod(dir, 0700), 0);
}

/* lianpayctl's verbs that do not sign, run by someone who may not read the daemon's keys. */
static void test_no_secrets(void **state)
{
    struct config c;
    char err[512] = "";
    char cmd[2 * PATH_ROOM];

    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path_in("priv.pem"), path_in("priv000.pem"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(chmod(path_in("priv000.pem"), 0), 0);
    write_file("tlskey000.pem", "placeholder key\n", 0);
    write_file("test.conf",
               "[lianlian]\n" OID PUB "merchant_private_key = priv000.pem\n"
               "[server]\ntls_cert = cert.pem\ntls_key = tlskey000.pem\n",
               0644);

    assert_int_equal(config_load(conf_path, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "priv000.pem: not readable by uid"));
    if (config_load_flags(conf_path, CONFIG_NO_SECRETS, &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_null(c.merchant_key);
    assert_string_equal(c.merchant_private_key, path_in("priv000.pem"));
    assert_string_equal(c.tls_key, path_in("tlskey000.pem"));
    assert_int_equal(c.public_keys.n, 1);
    config_finish(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_extension_keys),
        cmocka_unit_test(test_booleans_and_levels),
        cmocka_unit_test(test_bounds_accepted),
        cmocka_unit_test(test_reconcile_disabled_needs_no_private_key),
        cmocka_unit_test(test_submit),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_crlf_bom_comments),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_no_key_material_in_errors),
        cmocka_unit_test(test_embedded_string),
        cmocka_unit_test(test_defaults_as_documented),
        cmocka_unit_test(test_finish_zeroed),
        cmocka_unit_test(test_listeners_apart),
        cmocka_unit_test(test_configuration_others_can_write),
        cmocka_unit_test(test_no_secrets),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
