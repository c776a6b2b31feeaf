/*
 * The configuration file (design.md, configuration contract): read with inih, every value checked
 * and every key file loaded before the daemon starts, so that a mistake is reported once, at
 * start-up or under -t, as "FILE:LINE: section.key: reason".
 *
 * Debian's inih gives the handler no line number and splits lines longer than its buffer
 * silently. So the text is read into memory and handed to inih line by line through our own
 * reader, which counts lines, refuses over-long ones, refuses unknown sections (even empty ones,
 * which never reach the handler) and refuses indented lines that inih would glue onto the
 * previous value. The handler checks each value as it comes, so errors are met in file order.
 * The defaults are written in the key table as they would be in a file and go through the same
 * setters first, so that a default is checked like a value and design.md's table has one copy.
 *
 * Relative paths in a file are taken relative to the file's directory, so that a configuration
 * and its keys can be moved together; in a string configuration, relative to the current
 * directory. Called before threads start: not thread-safe, and it need not be.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <ini.h>
#include <openssl/evp.h>

#include "filecheck.h"
#include "fileio.h"
#include "payresult.h"
#include "query.h"
#include "timeutil.h"

/* Debian's libinih is built with INI_MAX_LINE 200: 199 bytes and the terminating NUL. */
#define CONFIG_MAX_LINE 199
/* A configuration is a few kilobytes; anything this large is the wrong file. */
#define CONFIG_MAX_SIZE       (1024 * 1024)
#define MAX_BODY_MIN          256
#define MAX_BODY_MAX          10485760
#define MAX_RATE_MAX          1000
#define SUBMIT_NOTIFY_URL_MAX 64

enum key_id {
    K_LISTEN,
    K_NOTIFY_PATH,
    K_TLS_CERT,
    K_TLS_KEY,
    K_MAX_BODY,
    K_TRUSTED_PROXIES,
    K_ALLOW_FROM,
    K_OID_PARTNER,
    K_PUBLIC_KEY,
    K_MERCHANT_PRIVATE_KEY,
    K_QUERY_URL,
    K_CA_FILE,
    K_DATABASE_PATH,
    K_RECONCILE_ENABLED,
    K_NOTIFY_WINDOW,
    K_RETRY_INTERVAL,
    K_MAX_RETRY_INTERVAL,
    K_GIVE_UP_AFTER,
    K_MAX_RATE,
    K_LOG_LEVEL,
    /* Beyond design.md's table: limits, the admin listener, monitoring. */
    K_MAX_CONNECTIONS,
    K_MAX_CONNECTIONS_PER_IP,
    K_CONNECTION_TIMEOUT,
    K_THREADS,
    K_ADMIN_LISTEN,
    K_SUMMARY_INTERVAL,
    K_PENDING_WARNING_AFTER,
    K_QUERY_TIMEOUT,
    K_CONNECT_TIMEOUT,
    /* Issue 11: hostile clients. */
    K_REQUEST_TIMEOUT,
    K_TLS_PRIORITIES,
    K_ADMIN_MAX_CONNECTIONS,
    K_ADMIN_MAX_CONNECTIONS_PER_IP,
    /* Issue 13: the submit thread (design.md, "Payout submission"). */
    K_SUBMIT_ENABLED,
    K_SUBMIT_NOTIFY_URL,
    K_SUBMIT_PAYMENT_URL,
    K_SUBMIT_CONFIRM_URL,
    K_SUBMIT_MAX_RATE,
    K_SUBMIT_TIMEOUT,
    K_SUBMIT_UNKNOWN_QUERY_AFTER,
    K_SUBMIT_NO_RECORD_AFTER,
    K_SUBMIT_PLATFORM,
    K_SUBMIT_API_VERSION,
    K_COUNT
};

struct parse_ctx {
    struct config *cfg;
    const char *name;     /* the file name, or the string's name, for messages */
    const char *base_dir; /* NULL: relative paths stay relative to the current directory */
    unsigned flags;       /* CONFIG_NO_SECRETS */

    /* reader state */
    const char *text;
    size_t len;
    size_t pos;
    int lineno;
    bool key_since_section; /* inih's "prev_name": an indented line now continues a value */
    int last_key_line;

    int lines[K_COUNT]; /* where each key was set; 0: not set */
    enum key_id cur;    /* the key being set, for messages */

    char *err;
    size_t errlen;
    int err_line; /* 0: no error yet */
};

typedef int (*setter_fn)(struct parse_ctx *p, const char *value);

struct key_def {
    const char *section;
    const char *name;
    setter_fn set;
    const char *dflt; /* as written in a file, set through set before the file; NULL: none */
};

static const char *const sections[] = {"server", "lianlian", "database", "reconcile",
                                       "log",    "admin",    "submit"};

/* ---- messages ---- */

static void verror(struct parse_ctx *p, int line, const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Records the first error only: inih keeps calling us after one. */
static void verror(struct parse_ctx *p, int line, const char *key, const char *fmt, va_list ap)
{
    char reason[512];
    char where[32] = "";

    if (p->err_line != 0)
        return;
    p->err_line = line > 0 ? line : -1;
    if (p->err == NULL || p->errlen == 0)
        return;
    vsnprintf(reason, sizeof(reason), fmt, ap);
    if (line > 0)
        snprintf(where, sizeof(where), ":%d", line);
    if (key != NULL)
        snprintf(p->err, p->errlen, "%s%s: %s: %s", p->name, where, key, reason);
    else
        snprintf(p->err, p->errlen, "%s%s: %s", p->name, where, reason);
}

static void at_error(struct parse_ctx *p, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int key_error(struct parse_ctx *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int key_error_at(struct parse_ctx *p, enum key_id k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Defined below, after the setters it names. */
static const struct key_def keys[K_COUNT];

static void full_key_name(enum key_id k, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%s", keys[k].section, keys[k].name);
}

static void at_error(struct parse_ctx *p, int line, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(p, line, key, fmt, ap);
    va_end(ap);
}

/* For the key being parsed, on the current line. Returns -1 for the caller to pass on. */
static int key_error(struct parse_ctx *p, const char *fmt, ...)
{
    char key[64];
    va_list ap;

    full_key_name(p->cur, key, sizeof(key));
    va_start(ap, fmt);
    verror(p, p->lineno, key, fmt, ap);
    va_end(ap);
    return -1;
}

/* For checks made after parsing: the line where key k was set, or no line when it was not. */
static int key_error_at(struct parse_ctx *p, enum key_id k, const char *fmt, ...)
{
    char key[64];
    va_list ap;

    full_key_name(k, key, sizeof(key));
    va_start(ap, fmt);
    verror(p, p->lines[k], key, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- value helpers ---- */

/* Digits only (no sign, no spaces, no suffix), at most max. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (max - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int replace_string(struct parse_ctx *p, char **slot, const char *value)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return key_error(p, "out of memory");
    free(*slot);
    *slot = copy;
    return 0;
}

/* A malloc'd path: absolute, or relative to the configuration file's directory. */
static char *resolve_path(const struct parse_ctx *p, const char *path)
{
    if (path[0] == '/' || p->base_dir == NULL)
        return strdup(path);
    size_t n = strlen(p->base_dir) + 1 + strlen(path) + 1;
    char *full = malloc(n);
    if (full != NULL)
        snprintf(full, n, "%s/%s", p->base_dir, path);
    return full;
}

/* A file the daemon reads and believes: nobody but its owner may change it, and the user running
 * this must be able to read it by its mode (filecheck.h). */
static int check_trusted_file(struct parse_ctx *p, const char *path)
{
    char why[PATH_MAX + 256];

    if (filecheck_not_writable_by_others(path, why, sizeof(why)) < 0 ||
        filecheck_access(path, R_OK, why, sizeof(why)) < 0)
        return key_error(p, "%s", why);
    return 0;
}

/* The resolved path of a value that names a file (malloc'd), or NULL after an error. */
static char *file_value(struct parse_ctx *p, const char *value)
{
    if (value[0] == '\0') {
        key_error(p, "empty file name");
        return NULL;
    }
    char *path = resolve_path(p, value);
    if (path == NULL)
        key_error(p, "out of memory");
    return path;
}

/* Sets *slot to the resolved path after checking that it can be opened for reading and that it
 * can be trusted. */
static int set_readable_path(struct parse_ctx *p, char **slot, const char *value)
{
    char *path = file_value(p, value);
    if (path == NULL)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        key_error(p, "cannot open \"%s\": %s", path, strerror(e));
        free(path);
        return -1;
    }
    close(fd);
    if (check_trusted_file(p, path) < 0) {
        free(path);
        return -1;
    }
    free(*slot);
    *slot = path;
    return 0;
}

/* Sets *slot to the resolved path, the file neither opened nor checked: the database (service.c
 * checks it) and, under CONFIG_NO_SECRETS, the files only the daemon's user may read. */
static int set_path(struct parse_ctx *p, char **slot, const char *value)
{
    char *path = file_value(p, value);
    if (path == NULL)
        return -1;
    free(*slot);
    *slot = path;
    return 0;
}

static int parse_duration(struct parse_ctx *p, const char *value, int64_t *out)
{
    int64_t secs;
    if (time_parse_duration(value, &secs) < 0)
        return key_error(p, "not a duration (a whole number with s, m, h or d): \"%s\"", value);
    if (secs <= 0)
        return key_error(p, "must be greater than zero: \"%s\"", value);
    *out = secs;
    return 0;
}

/* ---- [server] ---- */

/* "ADDRESS:PORT" with an IP address (IPv6 in brackets) into host and port. */
static int parse_listen(struct parse_ctx *p, const char *v, char *host, size_t hostlen,
                        uint16_t *port)
{
    unsigned char buf[16];

    if (netaddr_split_hostport(v, host, hostlen, port) < 0)
        return key_error(p, "not ADDRESS:PORT (IPv6 in brackets, port 0-65535): \"%s\"", v);
    if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
        return key_error(p, "not an IP address: \"%s\"", host);
    return 0;
}

static int set_listen(struct parse_ctx *p, const char *v)
{
    struct config *c = p->cfg;
    char host[sizeof(c->listen_host)];
    uint16_t port;

    if (parse_listen(p, v, host, sizeof(host), &port) < 0 || replace_string(p, &c->listen, v) < 0)
        return -1;
    memcpy(c->listen_host, host, sizeof(host));
    c->listen_port = port;
    return 0;
}

static int set_notify_path(struct parse_ctx *p, const char *v)
{
    if (v[0] != '/')
        return key_error(p, "must start with '/': \"%s\"", v);
    for (const char *s = v; *s != '\0'; s++) {
        if (*s == '?' || *s == '#')
            return key_error(p, "a path only, without '?' or '#': \"%s\"", v);
        if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
            return key_error(p, "must not contain spaces: \"%s\"", v);
    }
    return replace_string(p, &p->cfg->notify_path, v);
}

static int set_tls_cert(struct parse_ctx *p, const char *v)
{
    return set_readable_path(p, &p->cfg->tls_cert, v);
}

/* A private key file: whoever can read it can act as us. */
static int check_private_mode(struct parse_ctx *p, const char *path, const struct stat *st)
{
    if ((st->st_mode & 077) == 0)
        return 0;
    return key_error(p, "%s is %s by others (mode %04o); chmod 600 it", path,
                     (st->st_mode & 044) != 0 ? "readable" : "accessible",
                     (unsigned)(st->st_mode & 07777));
}

static int set_tls_key(struct parse_ctx *p, const char *v)
{
    struct stat st;

    if (p->flags & CONFIG_NO_SECRETS)
        return set_path(p, &p->cfg->tls_key, v);
    if (set_readable_path(p, &p->cfg->tls_key, v) < 0)
        return -1;
    /* The listener's certificate key: with it, anyone can pose as this endpoint. */
    if (stat(p->cfg->tls_key, &st) < 0)
        return key_error(p, "cannot open \"%s\": %s", p->cfg->tls_key, strerror(errno));
    return check_private_mode(p, p->cfg->tls_key, &st);
}

static int set_tls_priorities(struct parse_ctx *p, const char *v)
{
    /* GnuTLS checks the string itself when the listener starts (and -t does not start it):
     * here only what cannot be part of one. */
    if (v[0] == '\0' || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789:+-!%@._=") != strlen(v))
        return key_error(p, "not a GnuTLS priority string: \"%s\"", v);
    return replace_string(p, &p->cfg->tls_priorities, v);
}

static int set_max_body(struct parse_ctx *p, const char *v)
{
    uint64_t n;
    if (parse_uint(v, UINT64_MAX, &n) < 0 || n == 0)
        return key_error(p, "not a positive number of bytes: \"%s\"", v);
    if (n < MAX_BODY_MIN || n > MAX_BODY_MAX)
        return key_error(p, "must be between %d and %d bytes: \"%s\"", MAX_BODY_MIN, MAX_BODY_MAX,
                         v);
    p->cfg->max_body = (size_t)n;
    return 0;
}

/* A whole number in [min, max] into *out; what names the unit for the message. */
static int set_count(struct parse_ctx *p, const char *v, uint64_t min, uint64_t max,
                     const char *what, unsigned *out)
{
    uint64_t n;
    if (parse_uint(v, UINT64_MAX, &n) < 0 || n < min || n > max)
        return key_error(p, "not a number of %s from %llu to %llu: \"%s\"", what,
                         (unsigned long long)min, (unsigned long long)max, v);
    *out = (unsigned)n;
    return 0;
}

static int set_max_connections(struct parse_ctx *p, const char *v)
{
    return set_count(p, v, 1, 100000, "connections", &p->cfg->max_connections);
}

static int set_max_connections_per_ip(struct parse_ctx *p, const char *v)
{
    return set_count(p, v, 0, 100000, "connections (0: no limit)", &p->cfg->max_connections_per_ip);
}

/* A duration of at most max seconds (max_text: the same in the file's words) into *out. */
static int set_seconds(struct parse_ctx *p, const char *v, int64_t max, const char *max_text,
                       unsigned *out)
{
    int64_t secs = 0;
    if (parse_duration(p, v, &secs) < 0)
        return -1;
    if (secs > max)
        return key_error(p, "at most %s: \"%s\"", max_text, v);
    *out = (unsigned)secs;
    return 0;
}

static int set_connection_timeout(struct parse_ctx *p, const char *v)
{
    return set_seconds(p, v, 3600, "1h", &p->cfg->connection_timeout);
}

static int set_request_timeout(struct parse_ctx *p, const char *v)
{
    return set_seconds(p, v, 3600, "1h", &p->cfg->request_timeout);
}

static int set_threads(struct parse_ctx *p, const char *v)
{
    return set_count(p, v, 0, 256, "threads (0: one per CPU)", &p->cfg->threads);
}

static int set_list(struct parse_ctx *p, struct netaddr_list *slot, const char *v)
{
    struct netaddr_list l;
    char bad[80];

    if (netaddr_parse_list(v, &l, bad, sizeof(bad)) < 0)
        return key_error(p, "not an IP address or CIDR (host bits must be zero): \"%s\"", bad);
    netaddr_list_finish(slot);
    *slot = l;
    return 0;
}

static int set_trusted_proxies(struct parse_ctx *p, const char *v)
{
    return set_list(p, &p->cfg->trusted_proxies, v);
}

static int set_allow_from(struct parse_ctx *p, const char *v)
{
    /* An empty allow list would refuse LianLian itself: surely not what was meant. */
    if (v[0] == '\0')
        return key_error(p, "empty (leave it unset to allow every source)");
    return set_list(p, &p->cfg->allow_from, v);
}

/* ---- [lianlian] ---- */

_Static_assert(sizeof(((struct config *)0)->oid_partner) ==
                   sizeof(((struct payresult *)0)->oid_partner),
               "oid_partner holds what payresult_valid_oid_partner accepts");

static int set_oid_partner(struct parse_ctx *p, const char *v)
{
    if (!payresult_valid_oid_partner(v))
        return key_error(p, "not an 18-digit merchant number: \"%s\"", v);
    memcpy(p->cfg->oid_partner, v, strlen(v) + 1);
    return 0;
}

/* Joins the words of v, each resolved, with single spaces. */
static char *resolve_path_list(const struct parse_ctx *p, const char *v)
{
    size_t cap = 1;
    char *out = NULL;
    char *copy = strdup(v);
    char *save = NULL;

    if (copy == NULL)
        return NULL;
    out = calloc(1, 1);
    for (char *w = strtok_r(copy, " \t", &save); w != NULL && out != NULL;
         w = strtok_r(NULL, " \t", &save)) {
        char *path = resolve_path(p, w);
        char *grown = path != NULL ? realloc(out, cap + strlen(path) + 1) : NULL;
        if (grown == NULL) {
            free(path);
            free(out);
            out = NULL;
            break;
        }
        out = grown;
        if (out[0] != '\0')
            strcat(out, " ");
        strcat(out, path);
        cap += strlen(path) + 1;
        free(path);
    }
    free(copy);
    return out;
}

/* check_trusted_file for each file of a list made by resolve_path_list. */
static int check_each_file(struct parse_ctx *p, const char *paths)
{
    char *copy = strdup(paths), *save = NULL;
    int rc = copy != NULL ? 0 : key_error(p, "out of memory");

    for (char *w = copy ? strtok_r(copy, " ", &save) : NULL; w != NULL && rc == 0;
         w = strtok_r(NULL, " ", &save))
        rc = check_trusted_file(p, w);
    free(copy);
    return rc;
}

static int set_public_key(struct parse_ctx *p, const char *v)
{
    struct config *c = p->cfg;
    struct keyset ks = {0};
    char reason[256] = "";
    int rc = -1;
    char *paths = resolve_path_list(p, v);

    if (paths == NULL) {
        key_error(p, "out of memory");
        goto out;
    }
    if (paths[0] == '\0') {
        key_error(p, "no key file given");
        goto out;
    }
    if (check_each_file(p, paths) < 0)
        goto out;
    if (keys_load_set(paths, &ks, reason, sizeof(reason)) < 0) {
        key_error(p, "%s", reason);
        goto out;
    }
    if (replace_string(p, &c->public_key, v) < 0) {
        keys_set_finish(&ks);
        goto out;
    }
    keys_set_finish(&c->public_keys);
    c->public_keys = ks;
    rc = 0;
out:
    free(paths);
    return rc;
}

static int set_merchant_private_key(struct parse_ctx *p, const char *v)
{
    struct config *c = p->cfg;
    struct stat st;
    char reason[PATH_MAX + 256] = "";
    EVP_PKEY *key = NULL;
    char *path = NULL;
    int rc = -1;

    if (p->flags & CONFIG_NO_SECRETS)
        return set_path(p, &c->merchant_private_key, v);
    path = file_value(p, v);
    if (path == NULL)
        return -1;
    if (stat(path, &st) < 0) {
        int e = errno;
        key_error(p, "cannot open \"%s\": %s", path, strerror(e));
        goto out;
    }
    /* Our signing key: whoever can read it can ask LianLian about our payouts as us; its owner
     * can read it whatever its mode, so that must be the daemon's user (the unit says so). */
    if (check_private_mode(p, path, &st) < 0)
        goto out;
    if (filecheck_owned_by_me(path, reason, sizeof(reason)) < 0 ||
        filecheck_not_writable_by_others(path, reason, sizeof(reason)) < 0 ||
        filecheck_access(path, R_OK, reason, sizeof(reason)) < 0) {
        key_error(p, "%s", reason);
        goto out;
    }
    key = keys_load_private(path, reason, sizeof(reason));
    if (key == NULL) {
        key_error(p, "%s", reason);
        goto out;
    }
    EVP_PKEY_free(c->merchant_key);
    c->merchant_key = key;
    free(c->merchant_private_key);
    c->merchant_private_key = path;
    path = NULL;
    rc = 0;
out:
    free(path);
    return rc;
}

/* An http(s) URL into *slot. */
static int set_url(struct parse_ctx *p, char **slot, const char *v)
{
    if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
        return key_error(p, "must start with https:// or http://: \"%s\"", v);
    return replace_string(p, slot, v);
}

static int set_query_url(struct parse_ctx *p, const char *v)
{
    return set_url(p, &p->cfg->query_url, v);
}

static int set_ca_file(struct parse_ctx *p, const char *v)
{
    return set_readable_path(p, &p->cfg->ca_file, v);
}

/* ---- [database] ---- */

static int set_database_path(struct parse_ctx *p, const char *v)
{
    return set_path(p, &p->cfg->database_path, v);
}

/* ---- [reconcile] ---- */

static int parse_bool(struct parse_ctx *p, const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return key_error(p, "not a boolean (true/false, yes/no, on/off, 1/0): \"%s\"", v);
}

static int set_reconcile_enabled(struct parse_ctx *p, const char *v)
{
    return parse_bool(p, v, &p->cfg->reconcile_enabled);
}

static int set_notify_window(struct parse_ctx *p, const char *v)
{
    return parse_duration(p, v, &p->cfg->notify_window);
}

static int set_retry_interval(struct parse_ctx *p, const char *v)
{
    return parse_duration(p, v, &p->cfg->retry_interval);
}

static int set_max_retry_interval(struct parse_ctx *p, const char *v)
{
    return parse_duration(p, v, &p->cfg->max_retry_interval);
}

static int set_give_up_after(struct parse_ctx *p, const char *v)
{
    return parse_duration(p, v, &p->cfg->give_up_after);
}

/* A rate of 1 to MAX_RATE_MAX per second (what: "queries", "requests") into *out. */
static int set_rate(struct parse_ctx *p, const char *v, const char *what, int *out)
{
    uint64_t n;
    if (parse_uint(v, UINT64_MAX, &n) < 0 || n < 1 || n > MAX_RATE_MAX)
        return key_error(p, "not a number of %s per second from 1 to %d: \"%s\"", what,
                         MAX_RATE_MAX, v);
    *out = (int)n;
    return 0;
}

static int set_max_rate(struct parse_ctx *p, const char *v)
{
    return set_rate(p, v, "queries", &p->cfg->max_rate);
}

/* ---- [log] ---- */

static int set_log_level(struct parse_ctx *p, const char *v)
{
    if (log_level_parse(v, &p->cfg->log_level) < 0)
        return key_error(p, "not one of debug, info, warning, error: \"%s\"", v);
    return 0;
}

static int set_timeout_ms(struct parse_ctx *p, const char *v, long *out)
{
    unsigned secs = 0;
    if (set_seconds(p, v, 300, "5m", &secs) < 0)
        return -1;
    *out = (long)secs * 1000;
    return 0;
}

static int set_query_timeout(struct parse_ctx *p, const char *v)
{
    return set_timeout_ms(p, v, &p->cfg->query_timeout_ms);
}

static int set_connect_timeout(struct parse_ctx *p, const char *v)
{
    return set_timeout_ms(p, v, &p->cfg->connect_timeout_ms);
}

/* ---- [admin] and monitoring ---- */

static int set_admin_max_connections(struct parse_ctx *p, const char *v)
{
    return set_count(p, v, 1, 10000, "connections", &p->cfg->admin_max_connections);
}

static int set_admin_max_connections_per_ip(struct parse_ctx *p, const char *v)
{
    return set_count(p, v, 0, 10000, "connections (0: no limit)",
                     &p->cfg->admin_max_connections_per_ip);
}

static int set_admin_listen(struct parse_ctx *p, const char *v)
{
    struct config *c = p->cfg;
    char host[sizeof(c->admin_host)];
    uint16_t port;

    if (strcmp(v, "off") == 0) {
        free(c->admin_listen);
        c->admin_listen = NULL;
        return 0;
    }
    if (parse_listen(p, v, host, sizeof(host), &port) < 0 ||
        replace_string(p, &c->admin_listen, v) < 0)
        return -1;
    memcpy(c->admin_host, host, sizeof(host));
    c->admin_port = port;
    return 0;
}

/* A duration that may also be 0 ("off"). */
static int parse_duration_or_off(struct parse_ctx *p, const char *v, int64_t *out)
{
    if (strcmp(v, "0") == 0 || strcmp(v, "off") == 0) {
        *out = 0;
        return 0;
    }
    return parse_duration(p, v, out);
}

static int set_summary_interval(struct parse_ctx *p, const char *v)
{
    return parse_duration_or_off(p, v, &p->cfg->summary_interval);
}

static int set_pending_warning_after(struct parse_ctx *p, const char *v)
{
    return parse_duration_or_off(p, v, &p->cfg->pending_warning_after);
}

/* ---- [submit] ---- */

static int set_submit_enabled(struct parse_ctx *p, const char *v)
{
    return parse_bool(p, v, &p->cfg->submit_enabled);
}

static int set_submit_notify_url(struct parse_ctx *p, const char *v)
{
    /* protocol.md: notify_url is at most 64 characters in payment.htm's request. */
    if (strlen(v) > SUBMIT_NOTIFY_URL_MAX)
        return key_error(p, "longer than %d characters (LianLian's limit): \"%s\"",
                         SUBMIT_NOTIFY_URL_MAX, v);
    return set_url(p, &p->cfg->submit_notify_url, v);
}

static int set_submit_payment_url(struct parse_ctx *p, const char *v)
{
    return set_url(p, &p->cfg->submit_payment_url, v);
}

static int set_submit_confirm_url(struct parse_ctx *p, const char *v)
{
    return set_url(p, &p->cfg->submit_confirm_url, v);
}

static int set_submit_max_rate(struct parse_ctx *p, const char *v)
{
    return set_rate(p, v, "requests", &p->cfg->submit_max_rate);
}

static int set_submit_timeout(struct parse_ctx *p, const char *v)
{
    return set_timeout_ms(p, v, &p->cfg->submit_timeout_ms);
}

static int set_submit_unknown_query_after(struct parse_ctx *p, const char *v)
{
    return parse_duration(p, v, &p->cfg->submit_unknown_query_after);
}

static int set_submit_no_record_after(struct parse_ctx *p, const char *v)
{
    return parse_duration(p, v, &p->cfg->submit_no_record_after);
}

/* protocol.md: platform is at most 32 characters, api_version "1.0" (letters, digits, dots). */
static int set_token(struct parse_ctx *p, char **slot, const char *v, size_t max)
{
    if (v[0] == '\0' || strlen(v) > max)
        return key_error(p, "not 1 to %zu characters: \"%s\"", max, v);
    for (const char *c = v; *c != '\0'; c++) {
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-')
            return key_error(p, "only letters, digits, '.', '_' and '-': \"%s\"", v);
    }
    return replace_string(p, slot, v);
}

static int set_submit_platform(struct parse_ctx *p, const char *v)
{
    return set_token(p, &p->cfg->submit_platform, v, 32);
}

static int set_submit_api_version(struct parse_ctx *p, const char *v)
{
    return set_token(p, &p->cfg->submit_api_version, v, 8);
}

/* In the order of design.md's table, which is also the example file's order, with its defaults:
 * each one goes through its key's setter before the file is read, checked like a value. */
static const struct key_def keys[K_COUNT] = {
    [K_LISTEN] = {"server", "listen", set_listen, "127.0.0.1:8080"},
    [K_NOTIFY_PATH] = {"server", "notify_path", set_notify_path, "/lianpay/notify"},
    [K_TLS_CERT] = {"server", "tls_cert", set_tls_cert, NULL},
    [K_TLS_KEY] = {"server", "tls_key", set_tls_key, NULL},
    [K_MAX_BODY] = {"server", "max_body", set_max_body, "16384"},
    [K_TRUSTED_PROXIES] = {"server", "trusted_proxies", set_trusted_proxies, "127.0.0.1 ::1"},
    [K_ALLOW_FROM] = {"server", "allow_from", set_allow_from, NULL}, /* unset: every source */
    [K_OID_PARTNER] = {"lianlian", "oid_partner", set_oid_partner, NULL},
    [K_PUBLIC_KEY] = {"lianlian", "public_key", set_public_key, NULL},
    [K_MERCHANT_PRIVATE_KEY] = {"lianlian", "merchant_private_key", set_merchant_private_key, NULL},
    [K_QUERY_URL] = {"lianlian", "query_url", set_query_url, CONFIG_DEFAULT_QUERY_URL},
    [K_CA_FILE] = {"lianlian", "ca_file", set_ca_file, NULL}, /* unset: the system store */
    [K_DATABASE_PATH] = {"database", "path", set_database_path,
                         "/var/lib/lianpay-notifyd/payments.db"},
    [K_RECONCILE_ENABLED] = {"reconcile", "enabled", set_reconcile_enabled, "true"},
    [K_NOTIFY_WINDOW] = {"reconcile", "notify_window", set_notify_window, "36m"},
    [K_RETRY_INTERVAL] = {"reconcile", "retry_interval", set_retry_interval, "10m"},
    [K_MAX_RETRY_INTERVAL] = {"reconcile", "max_retry_interval", set_max_retry_interval, "2h"},
    [K_GIVE_UP_AFTER] = {"reconcile", "give_up_after", set_give_up_after, "7d"},
    [K_MAX_RATE] = {"reconcile", "max_rate", set_max_rate, "5"},
    [K_LOG_LEVEL] = {"log", "level", set_log_level, "info"},
    [K_MAX_CONNECTIONS] = {"server", "max_connections", set_max_connections, "1000"},
    [K_MAX_CONNECTIONS_PER_IP] = {"server", "max_connections_per_ip", set_max_connections_per_ip,
                                  "64"},
    [K_CONNECTION_TIMEOUT] = {"server", "connection_timeout", set_connection_timeout, "15s"},
    [K_THREADS] = {"server", "threads", set_threads, "0"},
    [K_ADMIN_LISTEN] = {"admin", "listen", set_admin_listen, "127.0.0.1:8479"},
    [K_SUMMARY_INTERVAL] = {"log", "summary_interval", set_summary_interval, "5m"},
    [K_PENDING_WARNING_AFTER] = {"log", "pending_warning_after", set_pending_warning_after, "1h"},
    [K_QUERY_TIMEOUT] = {"lianlian", "query_timeout", set_query_timeout, "15s"},
    [K_CONNECT_TIMEOUT] = {"lianlian", "connect_timeout", set_connect_timeout, "5s"},
    [K_REQUEST_TIMEOUT] = {"server", "request_timeout", set_request_timeout, "10s"},
    [K_TLS_PRIORITIES] = {"server", "tls_priorities", set_tls_priorities,
                          CONFIG_DEFAULT_TLS_PRIORITIES},
    [K_ADMIN_MAX_CONNECTIONS] = {"admin", "max_connections", set_admin_max_connections, "64"},
    [K_ADMIN_MAX_CONNECTIONS_PER_IP] = {"admin", "max_connections_per_ip",
                                        set_admin_max_connections_per_ip, "8"},
    [K_SUBMIT_ENABLED] = {"submit", "enabled", set_submit_enabled, "false"},
    [K_SUBMIT_NOTIFY_URL] = {"submit", "notify_url", set_submit_notify_url, NULL},
    [K_SUBMIT_PAYMENT_URL] = {"submit", "payment_url", set_submit_payment_url,
                              CONFIG_DEFAULT_PAYMENT_URL},
    [K_SUBMIT_CONFIRM_URL] = {"submit", "confirm_url", set_submit_confirm_url,
                              CONFIG_DEFAULT_CONFIRM_URL},
    [K_SUBMIT_MAX_RATE] = {"submit", "max_rate", set_submit_max_rate, "5"},
    [K_SUBMIT_TIMEOUT] = {"submit", "timeout", set_submit_timeout, "30s"},
    [K_SUBMIT_UNKNOWN_QUERY_AFTER] = {"submit", "unknown_query_after",
                                      set_submit_unknown_query_after, "1m"},
    [K_SUBMIT_NO_RECORD_AFTER] = {"submit", "no_record_after", set_submit_no_record_after, "30m"},
    [K_SUBMIT_PLATFORM] = {"submit", "platform", set_submit_platform, NULL},
    [K_SUBMIT_API_VERSION] = {"submit", "api_version", set_submit_api_version, "1.0"},
};

/* ---- parsing ---- */

static bool known_section(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (strlen(sections[i]) == n && memcmp(sections[i], s, n) == 0)
            return true;
    }
    return false;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *p = user;
    char key[128];

    if (p->err_line != 0)
        return 0;
    snprintf(key, sizeof(key), "%s.%s", section, name);
    if (section[0] == '\0') {
        at_error(p, p->lineno, name, "outside of any [section]");
        return 0;
    }
    if (!known_section(section, strlen(section))) {
        at_error(p, p->lineno, key, "unknown section [%s]", section);
        return 0;
    }
    for (int k = 0; k < K_COUNT; k++) {
        if (strcmp(keys[k].section, section) != 0 || strcmp(keys[k].name, name) != 0)
            continue;
        p->cur = (enum key_id)k;
        if (p->lines[k] != 0) {
            key_error(p, "given twice (first on line %d)", p->lines[k]);
            return 0;
        }
        p->lines[k] = p->lineno;
        return keys[k].set(p, value) == 0;
    }
    at_error(p, p->lineno, key, "unknown key");
    return 0;
}

/* What inih would make of the line, ahead of it: see the comment at the top. */
static void check_line(struct parse_ctx *p, const char *line)
{
    const char *s = line;

    if (p->lineno == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    bool indented = isspace((unsigned char)*s);
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0' || *s == ';' || *s == '#')
        return;
    if (indented && p->key_since_section) {
        at_error(p, p->lineno, NULL,
                 "indented line would continue the value of line %d; remove the indentation",
                 p->last_key_line);
        return;
    }
    if (*s == '[') {
        const char *end = strchr(s + 1, ']');
        p->key_since_section = false;
        /* Without ']' it is inih's syntax error, reported as such. */
        if (end != NULL && !known_section(s + 1, (size_t)(end - s - 1)))
            at_error(p, p->lineno, NULL, "unknown section [%.*s]", (int)(end - s - 1), s + 1);
        return;
    }
    p->key_since_section = true;
    p->last_key_line = p->lineno;
}

/* inih's reader, fgets-like: one line of the in-memory text per call. */
static char *reader(char *str, int num, void *stream)
{
    struct parse_ctx *p = stream;
    size_t max = CONFIG_MAX_LINE;

    if (p->err_line != 0 || p->pos >= p->len || num < 1)
        return NULL;
    const char *s = p->text + p->pos;
    size_t rest = p->len - p->pos;
    const char *nl = memchr(s, '\n', rest);
    size_t n = nl != NULL ? (size_t)(nl - s) : rest;
    p->pos += n + (nl != NULL ? 1 : 0);
    p->lineno++;
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if ((size_t)num - 1 < max)
        max = (size_t)num - 1;
    str[0] = '\0';
    if (n > max) {
        at_error(p, p->lineno, NULL, "line too long (max %zu bytes)", max);
        return str;
    }
    if (memchr(s, '\0', n) != NULL) {
        at_error(p, p->lineno, NULL, "NUL byte in line");
        return str;
    }
    memcpy(str, s, n);
    str[n] = '\0';
    check_line(p, str);
    return str;
}

/* Every key's default through its setter, as if the file said it (on no line). */
static int set_defaults(struct parse_ctx *p)
{
    for (int k = 0; k < K_COUNT; k++) {
        p->cur = (enum key_id)k;
        if (keys[k].dflt != NULL && keys[k].set(p, keys[k].dflt) < 0)
            return -1;
    }
    return 0;
}

/* Would binding both listeners fail: the same port, on the same address or on the wildcard
 * address of the other's family? (Port 0 asks for a free port each time: never the same.) */
static bool listeners_clash(const char *h1, uint16_t p1, const char *h2, uint16_t p2)
{
    unsigned char a[16] = {0}, b[16] = {0}, any[16] = {0};
    int fa = inet_pton(AF_INET, h1, a) == 1 ? AF_INET : AF_INET6;
    int fb = inet_pton(AF_INET, h2, b) == 1 ? AF_INET : AF_INET6;

    if (p1 == 0 || p1 != p2 || fa != fb)
        return false;
    if (fa == AF_INET6 && (inet_pton(AF_INET6, h1, a) != 1 || inet_pton(AF_INET6, h2, b) != 1))
        return false;
    return memcmp(a, b, sizeof(a)) == 0 || memcmp(a, any, sizeof(a)) == 0 ||
           memcmp(b, any, sizeof(b)) == 0;
}

/* What only the whole file can tell: missing keys and keys that depend on each other. */
static int check_whole(struct parse_ctx *p)
{
    const struct config *c = p->cfg;

    if (p->lines[K_OID_PARTNER] == 0)
        return key_error_at(p, K_OID_PARTNER, "required");
    if (p->lines[K_PUBLIC_KEY] == 0)
        return key_error_at(p, K_PUBLIC_KEY, "required");
    if (c->reconcile_enabled && c->merchant_private_key == NULL)
        return key_error_at(p, K_MERCHANT_PRIVATE_KEY, "required when reconcile.enabled is true");
    if (c->submit_enabled && c->submit_notify_url == NULL)
        return key_error_at(p, K_SUBMIT_ENABLED, "submit.notify_url is required when enabled");
    if (c->submit_enabled && c->merchant_private_key == NULL)
        return key_error_at(p, K_MERCHANT_PRIVATE_KEY, "required when submit.enabled is true");
    /* An unknown payout (a timeout, 9999, an unsigned answer) is never sent again: only the
     * reconciler's queries resolve it, so without them it would stay unknown for ever. */
    if (c->submit_enabled && !c->reconcile_enabled)
        return key_error_at(p, K_RECONCILE_ENABLED,
                            "false while submit.enabled is true: unknown payouts are resolved "
                            "only by the reconciler's queries and would stay unknown for ever "
                            "(set reconcile.enabled = true, or submit.enabled = false)");
    if (c->tls_cert != NULL && c->tls_key == NULL)
        return key_error_at(p, K_TLS_CERT, "set without server.tls_key (set both or neither)");
    if (c->tls_key != NULL && c->tls_cert == NULL)
        return key_error_at(p, K_TLS_KEY, "set without server.tls_cert (set both or neither)");
    if (c->admin_listen != NULL &&
        listeners_clash(c->listen_host, c->listen_port, c->admin_host, c->admin_port))
        return key_error_at(p, p->lines[K_ADMIN_LISTEN] != 0 ? K_ADMIN_LISTEN : K_LISTEN,
                            "the same address and port as %s (%s and %s): give each its own port",
                            p->lines[K_ADMIN_LISTEN] != 0 ? "server.listen" : "admin.listen",
                            c->listen, c->admin_listen);
    /* Blame the key that was written: a lone retry_interval of 3h is the one to fix. */
    if (c->max_retry_interval < c->retry_interval && p->lines[K_MAX_RETRY_INTERVAL] != 0)
        return key_error_at(p, K_MAX_RETRY_INTERVAL,
                            "shorter than reconcile.retry_interval (%llds < %llds)",
                            (long long)c->max_retry_interval, (long long)c->retry_interval);
    if (c->max_retry_interval < c->retry_interval)
        return key_error_at(p, K_RETRY_INTERVAL,
                            "longer than reconcile.max_retry_interval (%llds > %llds)",
                            (long long)c->retry_interval, (long long)c->max_retry_interval);
    return 0;
}

static int load_text(struct parse_ctx *p, const char *text, size_t len)
{
    if (set_defaults(p) < 0)
        return -1;
    p->text = text;
    p->len = len;
    int rc = ini_parse_stream(reader, p, handler, p);
    /* inih returns the first line it found wrong: ours, or one it could not parse at all. */
    if (rc > 0 && (p->err_line == 0 || rc < p->err_line)) {
        p->err_line = 0;
        at_error(p, rc, NULL, "expected \"key = value\" or \"[section]\"");
    } else if (rc < 0 && p->err_line == 0) {
        at_error(p, 0, NULL, "out of memory");
    }
    if (p->err_line != 0)
        return -1;
    /* Unset, allow_from allows every source (set, it cannot be empty). */
    p->cfg->allow_all = p->lines[K_ALLOW_FROM] == 0;
    return check_whole(p);
}

/* The directory of file, absolute, malloc'd; the file itself is not resolved through symlinks,
 * so that keys beside a linked configuration are found beside the link. */
static char *config_dir(const char *file)
{
    const char *slash = strrchr(file, '/');
    size_t n = slash == NULL ? 0 : (size_t)(slash - file);
    char cwd[PATH_MAX];

    if (slash == file)
        return strdup("/");
    if (slash != NULL && file[0] == '/')
        return strndup(file, n);
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return NULL;
    size_t len = strlen(cwd) + 1 + n + 1;
    char *dir = malloc(len);
    if (dir == NULL)
        return NULL;
    if (slash == NULL)
        snprintf(dir, len, "%s", cwd);
    else
        snprintf(dir, len, "%s/%.*s", cwd, (int)n, file);
    return dir;
}

/* The file's text, or NULL with a reason for "FILE: reason". */
static char *read_config_file(const char *file, size_t *len, char *why, size_t whylen)
{
    char *text = fileio_read(file, CONFIG_MAX_SIZE, 0, len, why, whylen);

    if (text == NULL && errno == EFBIG)
        snprintf(why, whylen, "larger than %d bytes: not a configuration file", CONFIG_MAX_SIZE);
    return text;
}

int config_load(const char *file, struct config *cfg, char *err, size_t errlen)
{
    return config_load_flags(file, 0, cfg, err, errlen);
}

int config_load_flags(const char *file, unsigned flags, struct config *cfg, char *err,
                      size_t errlen)
{
    struct parse_ctx p = {.cfg = cfg, .name = file, .flags = flags, .err = err, .errlen = errlen};
    char why[256];
    char *text = NULL;
    char *dir = NULL;
    size_t len = 0;
    int rc = -1;

    memset(cfg, 0, sizeof(*cfg));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    text = read_config_file(file, &len, why, sizeof(why));
    if (text == NULL) {
        at_error(&p, 0, NULL, "%s", why);
        goto out;
    }
    /* Whoever may rewrite the configuration may name their own "LianLian" key in it. */
    if (filecheck_not_writable_by_others(file, why, sizeof(why)) < 0 ||
        filecheck_access(file, R_OK, why, sizeof(why)) < 0) {
        at_error(&p, 0, NULL, "%s", why);
        goto out;
    }
    dir = config_dir(file);
    cfg->file = strdup(file);
    if (dir == NULL || cfg->file == NULL) {
        at_error(&p, 0, NULL, "out of memory");
        goto out;
    }
    p.base_dir = dir;
    rc = load_text(&p, text, len);
out:
    if (rc < 0)
        config_finish(cfg);
    free(dir);
    free(text);
    return rc;
}

int config_load_string(const char *text, const char *name, struct config *cfg, char *err,
                       size_t errlen)
{
    return config_load_string_flags(text, name, 0, cfg, err, errlen);
}

int config_load_string_flags(const char *text, const char *name, unsigned flags, struct config *cfg,
                             char *err, size_t errlen)
{
    struct parse_ctx p = {.cfg = cfg, .flags = flags, .err = err, .errlen = errlen};
    int rc = -1;

    p.name = name != NULL ? name : "(embedded)";
    memset(cfg, 0, sizeof(*cfg));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    cfg->file = strdup(p.name);
    if (cfg->file == NULL) {
        at_error(&p, 0, NULL, "out of memory");
        goto out;
    }
    rc = load_text(&p, text, strlen(text));
out:
    if (rc < 0)
        config_finish(cfg);
    return rc;
}

void config_finish(struct config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->file);
    free(cfg->listen);
    free(cfg->notify_path);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->tls_priorities);
    netaddr_list_finish(&cfg->trusted_proxies);
    netaddr_list_finish(&cfg->allow_from);
    free(cfg->public_key);
    keys_set_finish(&cfg->public_keys);
    free(cfg->merchant_private_key);
    EVP_PKEY_free(cfg->merchant_key);
    free(cfg->query_url);
    free(cfg->ca_file);
    free(cfg->database_path);
    free(cfg->admin_listen);
    free(cfg->submit_notify_url);
    free(cfg->submit_payment_url);
    free(cfg->submit_confirm_url);
    free(cfg->submit_platform);
    free(cfg->submit_api_version);
    memset(cfg, 0, sizeof(*cfg));
}

const char *config_default(const char *key)
{
    char name[64];

    for (int k = 0; k < K_COUNT; k++) {
        full_key_name((enum key_id)k, name, sizeof(name));
        if (strcmp(name, key) == 0)
            return keys[k].dflt;
    }
    return NULL;
}

void config_query_options(const struct config *cfg, struct query_options *out)
{
    *out = (struct query_options){
        .url = cfg->query_url,
        .ca_file = cfg->ca_file,
        .merchant_key = cfg->merchant_key,
        .oid_partner = cfg->oid_partner,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .timeout_ms = cfg->query_timeout_ms,
    };
}
