/*
 * The daemon's life cycle. The main thread owns it: it starts the writer, the HTTP server and
 * the reconciler, then waits for signals (all threads block them; only this one receives them
 * through sigtimedwait). It never touches a request itself.
 *
 * Shutdown order matters for the promise "0000 means on disk": stop accepting connections, let
 * requests already received reach the writer (bounded wait), stop the writer (it commits and
 * answers everything queued), then stop the HTTP server and close the database (SQLite
 * checkpoints the WAL when the last connection closes).
 */
#include "service.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "httpd.h"
#include "keyring.h"
#include "log.h"
#include "reconcile.h"
#include "store.h"
#include "timeutil.h"
#include "writer.h"

#include "lianpay-config.h"

/* How long requests already received may take to reach the writer at shutdown. */
#define DRAIN_TIMEOUT_MS 10000

struct service {
    struct config *cfg;
    const char *config_text;
    struct keyring *keys;
    struct writer *writer;
    struct httpd *httpd;
    struct reconciler *reconciler;
};

static void reload(struct service *s)
{
    struct config next;
    char err[1024];
    int rc;

    memset(&next, 0, sizeof(next));
    if (s->config_text != NULL)
        rc = config_load_string(s->config_text, s->cfg->file, &next, err, sizeof(err));
    else
        rc = config_load(s->cfg->file, &next, err, sizeof(err));
    if (rc < 0) {
        log_kv(LOG_LEVEL_ERROR, "reload", "status", "failed", "error", err, "keys", "unchanged",
               NULL);
        config_finish(&next);
        return;
    }
    size_t n = next.public_keys.n;
    keyring_replace(s->keys, &next.public_keys);
    log_set_level(next.log_level);
    log_kv(LOG_LEVEL_INFO, "reload", "status", "ok", "public_keys", log_int((long long)n),
           "log_level", log_level_name(next.log_level), NULL);
    config_finish(&next);
}

static void drain(struct service *s)
{
    int64_t until = time_mono_ms() + DRAIN_TIMEOUT_MS;
    httpd_quiesce(s->httpd);
    /* Requests still receiving their body get the time to finish and reach the writer. */
    while (httpd_in_flight(s->httpd) > 0 && time_mono_ms() < until) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int start(struct service *s, char *err, size_t errlen)
{
    struct store *st = store_open(s->cfg->database_path, STORE_WRITE, err, errlen);
    if (st == NULL)
        return -1;
    s->writer = writer_create(st, s->cfg->notify_window);
    if (s->writer == NULL) {
        store_close(st);
        snprintf(err, errlen, "cannot start the writer thread");
        return -1;
    }
    s->keys = keyring_create(&s->cfg->public_keys);
    if (s->keys == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->httpd = httpd_create(s->cfg, s->keys, s->writer, err, errlen);
    if (s->httpd == NULL)
        return -1;
    if (s->cfg->reconcile_enabled) {
        s->reconciler = reconcile_start(s->cfg, s->keys, s->writer, err, errlen);
        if (s->reconciler == NULL)
            return -1;
    }
    return 0;
}

static void stop(struct service *s)
{
    reconcile_stop(s->reconciler);
    if (s->httpd != NULL)
        drain(s);
    writer_destroy(s->writer); /* answers every queued message, then closes the database */
    httpd_destroy(s->httpd);
    keyring_destroy(s->keys);
}

int service_run(struct config *cfg, const char *config_text)
{
    struct service s = {.cfg = cfg, .config_text = config_text};
    char err[1024];
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread started below */
    signal(SIGPIPE, SIG_IGN);

    if (start(&s, err, sizeof(err)) < 0) {
        log_kv(LOG_LEVEL_ERROR, "start", "status", "failed", "error", err, NULL);
        stop(&s);
        return 1;
    }

    char addr[96];
    snprintf(addr, sizeof(addr), "%s%s%s:%u", strchr(cfg->listen_host, ':') ? "[" : "",
             cfg->listen_host, strchr(cfg->listen_host, ':') ? "]" : "",
             (unsigned)httpd_port(s.httpd));
    log_kv(LOG_LEVEL_INFO, "ready", "version", LIANPAY_VERSION, "listen", addr, "tls",
           cfg->tls_cert ? "on" : "off", "notify_path", cfg->notify_path, "database",
           cfg->database_path, "public_keys", log_int((long long)keyring_count(s.keys)),
           "reconcile", cfg->reconcile_enabled ? cfg->query_url : "off", NULL);
    sd_notifyf(0, "READY=1\nSTATUS=listening on %s", addr);

    for (;;) {
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGHUP) {
            reload(&s);
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_kv(LOG_LEVEL_INFO, "stopping", "signal", sig == SIGTERM ? "TERM" : "INT", NULL);
            break;
        } else if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            break;
        }
    }

    sd_notify(0, "STOPPING=1");
    stop(&s);
    log_kv(LOG_LEVEL_INFO, "stopped", NULL);
    return 0;
}
