/*
 * The daemon's life cycle. The main thread owns it: it starts the writer, the HTTP server, the
 * reconciler and the admin listener, then waits for signals (all threads block them; only this
 * one receives them through sigtimedwait). It never touches a request itself.
 *
 * Between signals the main thread is the daemon's supervisor. Every check interval (half the
 * systemd watchdog interval, or CHECK_MS without a watchdog) it asks whether the daemon really
 * works: the writer's heartbeat must be fresh and the notification listener must answer a real
 * request over loopback (httpd_probe). Only then does it send WATCHDOG=1, so a stuck writer or a
 * wedged HTTP thread pool stops the pings and systemd restarts the service. The verdict also
 * feeds /livez and STATUS=. A listener full of connections is not a wedged pool: the probe
 * does not compete with them (httpd_probe), so hostile clients cannot stop the pings; the
 * supervisor reports it as overload instead (a warning when it starts, a line when it ends;
 * /readyz says so meanwhile). Every log.summary_interval it logs a summary line and, when the
 * oldest pending order is older than log.pending_warning_after, a warning. Once a second it logs
 * the decisions people made with lianpayctl that are not logged yet (decision_log.c: one indexed
 * read on its own connection; the marks go to the writer without waiting for it), because this
 * loop runs whatever [reconcile] and [submit] say.
 *
 * One daemon per database: two would both chase the same orders (and query LianLian twice about
 * each). Start-up takes an fcntl write lock on DATABASE.lock beside the database file and holds it
 * until exit (the kernel drops it with the process, however it ends); a second daemon finds the
 * lock held and refuses to start, naming the holder's PID as the kernel reports it.
 *
 * Shutdown order matters for the promise "0000 means on disk": stop accepting connections, let
 * the reconciler finish its query and requests already received reach the writer (bounded
 * wait), stop the writer (it commits and answers everything queued) and close the database last
 * (SQLite checkpoints the WAL when the last connection closes), then stop the HTTP server.
 */
#include "service.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "decision_log.h"
#include "filecheck.h"
#include "httpd.h"
#include "keyring.h"
#include "listener.h"
#include "log.h"
#include "netaddr.h"
#include "reconcile.h"
#include "submit.h"
#include "store.h"
#include "timeutil.h"
#include "writer.h"

#include "lianpay-config.h"

/* How long requests already received may take to reach the writer at shutdown. */
#define DRAIN_TIMEOUT_MS 10000
/* Liveness checks without a systemd watchdog (for /livez and STATUS=). */
#define CHECK_MS 5000
/* The overdue-order check when log.summary_interval is off. */
#define OVERDUE_CHECK_S 300

struct service {
    struct config *cfg;
    const char *config_text;
    struct keyring *keys;
    struct writer *writer;
    struct httpd *httpd;
    struct reconciler *reconciler;
    struct submitter *submitter;
    struct decision_log *decisions;
    struct admin *admin;
    /* What each of them is told, from cfg (set_options): they keep pointers to these. */
    struct httpd_options httpd_opt;
    struct reconcile_options reconcile_opt;
    struct submit_options submit_opt;
    struct admin_options admin_opt;
    int lock_fd; /* the database's single-instance lock; -1: not taken */
    char addr[96];

    /* supervision (main thread only) */
    int64_t check_ms;      /* interval between liveness checks */
    bool watchdog;         /* WATCHDOG_USEC set: ping after each passing check */
    int64_t next_check;    /* monotonic ms */
    bool live;             /* last verdict */
    char why[160];         /* why not */
    bool saturated;        /* the notification listener, at the last check */
    uint64_t full_refused; /* its refusals for max_connections before this saturation */
    int64_t monitor_s;     /* summary / overdue check interval; 0: none */
    int64_t next_report;   /* monotonic ms */
    struct store *monitor;
    struct httpd_stats last_http;
    uint64_t last_queries;
    int64_t next_trim; /* monotonic ms */
};

/*
 * How often the heap's free pages are handed back to the kernel. Every request allocates and frees
 * on its HTTP thread, and each thread has its own glibc arena; an arena keeps the pages its
 * busiest moment touched, so the resident size creeps up by steps as rarer peaks come by
 * (bench/: +796 KiB in ten minutes at 5,000/s while the memory in use stayed flat). malloc_trim
 * releases the free pages of every arena, so that the resident size follows what is in use and
 * a real leak stands out. It runs on this thread, which never serves a request, taking each
 * arena's lock in turn.
 */
#define TRIM_INTERVAL_MS 60000

/* ---- reload ------------------------------------------------------------------------------ */

/* Re-reads the configuration file: LianLian's public keys, the log level and the TLS
 * certificate and key (server.tls_cert, server.tls_key). All or nothing: a reload that fails in
 * any of them changes none of them, says so in the log and in STATUS=, and the daemon goes on
 * with what it had. The unit's ExecReload= runs `lianpay-notifyd -t` first, so that
 * `systemctl reload` itself fails on a configuration that would fail here. READY=1 ends the
 * reload for systemd either way (RELOADING=1 was sent). */
static void reload(struct service *s)
{
    struct config next;
    char err[1024];
    int rc;

    sd_notify(0, "RELOADING=1\nSTATUS=reloading keys, log level and TLS certificate");
    memset(&next, 0, sizeof(next));
    if (s->config_text != NULL)
        rc = config_load_string(s->config_text, s->cfg->file, &next, err, sizeof(err));
    else
        rc = config_load(s->cfg->file, &next, err, sizeof(err));
    if (rc == 0)
        rc = httpd_reload_tls(s->httpd, next.tls_cert, next.tls_key, err, sizeof(err));
    if (rc < 0) {
        log_kv(LOG_LEVEL_ERROR, "reload", "status", "failed", "error", err, "keys", "unchanged",
               NULL);
        admin_count_reload(s->admin, false);
        sd_notifyf(0,
                   "READY=1\nSTATUS=reload failed, still running with the previous "
                   "configuration on %s: %s",
                   s->addr, err);
    } else {
        size_t n = next.public_keys.n;
        keyring_replace(s->keys, &next.public_keys);
        log_set_level(next.log_level);
        log_kv(LOG_LEVEL_INFO, "reload", "status", "ok", "public_keys", log_int((long long)n),
               "log_level", log_level_name(next.log_level), "tls",
               next.tls_cert != NULL ? "reloaded" : "off", NULL);
        admin_count_reload(s->admin, true);
        sd_notifyf(0, "READY=1\nSTATUS=%s on %s%s%s", s->live ? "serving" : "degraded", s->addr,
                   s->live ? "" : ": ", s->live ? "" : s->why);
    }
    config_finish(&next);
}

/* ---- supervision ------------------------------------------------------------------------- */

/* Is the daemon doing its job? The writer's loop turns, and an HTTP thread answers. */
static bool alive(struct service *s, char *why, size_t len)
{
    int64_t age = time_mono_ms() - writer_heartbeat(s->writer);
    if (age > WRITER_STALL_MS) {
        snprintf(why, len, "writer stalled for %lld s", (long long)(age / 1000));
        return false;
    }
    /* Half the interval at most, so that a slow answer still leaves time for the ping. */
    long timeout = (long)(s->check_ms / 2);
    if (timeout > 5000)
        timeout = 5000;
    if (timeout < 250)
        timeout = 250;
    if (httpd_probe(s->httpd, timeout) < 0) {
        snprintf(why, len, "notification listener did not answer within %ld ms", timeout);
        return false;
    }
    return true;
}

/* Overload of the notification listener: logged when it begins and when it ends. */
static void watch_overload(struct service *s)
{
    struct listener *l = httpd_listener(s->httpd);
    struct listener_stats st;
    bool saturated = listener_saturated(l, LISTENER_SATURATION_WINDOW_MS);

    if (saturated == s->saturated)
        return;
    listener_get_stats(l, &st);
    s->saturated = saturated;
    if (saturated) {
        log_kv(LOG_LEVEL_WARNING, "overload", "status", "saturated", "connections",
               log_int(st.connections), "max_connections", log_int(st.max_connections), "advice",
               "new connections are refused; see reject lines for their sources", NULL);
        sd_notifyf(0, "STATUS=overloaded: %u of %u connections in use on %s", st.connections,
                   st.max_connections, s->addr);
    } else {
        log_kv(LOG_LEVEL_INFO, "overload", "status", "cleared", "refused",
               log_int((long long)(st.refused[LISTENER_FULL] - s->full_refused)), "connections",
               log_int(st.connections), NULL);
        s->full_refused = st.refused[LISTENER_FULL];
        sd_notifyf(0, "STATUS=%s on %s%s%s", s->live ? "serving" : "degraded", s->addr,
                   s->live ? "" : ": ", s->live ? "" : s->why);
    }
}

/* Checks liveness; feeds the watchdog only when it passed and ping is set. */
static void supervise(struct service *s, bool ping)
{
    char why[sizeof(s->why)];
    bool live = alive(s, why, sizeof(why));

    /* A verdict older than three intervals means this loop itself stopped. */
    admin_set_live(s->admin, live, why, 3 * s->check_ms + 5000);
    if (live && ping && s->watchdog)
        sd_notify(0, "WATCHDOG=1");
    watch_overload(s);
    if (live == s->live && (live || strcmp(why, s->why) == 0))
        return;
    if (live) {
        log_kv(LOG_LEVEL_INFO, "liveness", "status", "ok", NULL);
        sd_notifyf(0, "STATUS=serving on %s", s->addr);
    } else {
        log_kv(LOG_LEVEL_ERROR, "liveness", "status", "failed", "reason", why, "watchdog",
               s->watchdog ? "not fed" : NULL, NULL);
        sd_notifyf(0, "STATUS=degraded: %s", why);
    }
    s->live = live;
    snprintf(s->why, sizeof(s->why), "%s", live ? "" : why);
}

/* The read connection of the summary and the overdue warning, unless it is open already. */
static void open_monitor(struct service *s)
{
    char err[512];

    if (s->monitor != NULL)
        return;
    s->monitor = store_open(s->cfg->database_path, STORE_READ, err, sizeof(err));
    if (s->monitor == NULL)
        log_kv(LOG_LEVEL_WARNING, "summary", "error", err, NULL);
}

/* The summary line and the overdue warning, every monitor_s seconds. */
static void report(struct service *s)
{
    struct httpd_stats h;
    struct reconcile_stats r;
    struct store_pending p;
    bool have_pending = false;

    httpd_get_stats(s->httpd, &h);
    memset(&r, 0, sizeof(r));
    if (s->reconciler != NULL)
        reconcile_get_stats(s->reconciler, &r);
    open_monitor(s);
    if (s->monitor != NULL) {
        have_pending = store_pending(s->monitor, time_now_ms(), &p) == 0;
        if (!have_pending)
            log_kv(LOG_LEVEL_WARNING, "summary", "error", store_errmsg(s->monitor), NULL);
    }
    if (s->cfg->summary_interval > 0)
        log_kv(LOG_LEVEL_INFO, "summary", "notifications",
               log_int((long long)(h.acknowledged - s->last_http.acknowledged)), "rejected",
               log_int((long long)(h.rejected - s->last_http.rejected)), "failed",
               log_int((long long)(h.failed - s->last_http.failed)), "queries",
               log_int((long long)(r.queries - s->last_queries)), "pending",
               have_pending ? log_int(p.count) : NULL, "oldest_pending_age",
               have_pending ? log_int(p.oldest_age_s) : NULL, "review",
               have_pending ? log_int(p.review) : NULL, NULL);
    s->last_http = h;
    s->last_queries = r.queries;
    if (have_pending && s->cfg->pending_warning_after > 0 && p.count > 0 &&
        p.oldest_age_s >= s->cfg->pending_warning_after)
        log_kv(LOG_LEVEL_WARNING, "pending_overdue", "pending", log_int(p.count),
               "oldest_pending_age", log_int(p.oldest_age_s), "oldest_no_order", p.oldest_no_order,
               "threshold", log_int(s->cfg->pending_warning_after), NULL);
}

static void supervision_init(struct service *s)
{
    uint64_t usec = 0;

    netaddr_join_hostport(s->cfg->listen_host, httpd_port(s->httpd), s->addr, sizeof(s->addr));

    s->watchdog = sd_watchdog_enabled(0, &usec) > 0 && usec > 0;
    s->check_ms = s->watchdog ? (int64_t)(usec / 2000) : CHECK_MS;
    if (s->check_ms < 100)
        s->check_ms = 100;
    s->live = true;
    /* The first check before READY=1, so that /livez holds from then on; the first ping
     * follows READY=1 at once. */
    supervise(s, false);
    s->next_check = time_mono_ms();
    s->monitor_s = s->cfg->summary_interval;
    if (s->monitor_s == 0 && s->cfg->pending_warning_after > 0)
        s->monitor_s = OVERDUE_CHECK_S;
    s->next_report = time_mono_ms() + s->monitor_s * 1000;
    /* Opened now rather than at the first report, so that what it holds is there from the start
     * (a report that finds it missing tries again). */
    if (s->monitor_s > 0)
        open_monitor(s);
    s->next_trim = time_mono_ms() + TRIM_INTERVAL_MS;
    httpd_get_stats(s->httpd, &s->last_http);
}

/* Runs what is due; returns how long the signal wait may last (ms). */
static int64_t tick(struct service *s)
{
    int64_t now = time_mono_ms();
    if (now >= s->next_check) {
        supervise(s, true);
        s->next_check = now + s->check_ms;
    }
    if (now >= s->next_trim) {
        malloc_trim(0);
        s->next_trim = now + TRIM_INTERVAL_MS;
    }
    if (s->monitor_s > 0 && now >= s->next_report) {
        report(s);
        s->next_report = now + s->monitor_s * 1000;
    }
    decision_log_poll(s->decisions); /* once a second at most; the wait below is <= 1 s */
    now = time_mono_ms();
    int64_t wait = s->next_check - now;
    if (s->monitor_s > 0 && s->next_report - now < wait)
        wait = s->next_report - now;
    return wait < 0 ? 0 : wait > 1000 ? 1000 : wait;
}

/* ---- start and stop ---------------------------------------------------------------------- */

/* Each module's options from the configuration, which they point into. */
static void set_options(struct service *s)
{
    const struct config *c = s->cfg;

    s->httpd_opt = (struct httpd_options){
        .listen = {"server.listen", c->listen, c->listen_host, c->listen_port},
        .notify_path = c->notify_path,
        .tls_cert = c->tls_cert,
        .tls_key = c->tls_key,
        .tls_priorities = c->tls_priorities,
        .max_body = c->max_body,
        .trusted_proxies = &c->trusted_proxies,
        .allow_from = c->allow_all ? NULL : &c->allow_from,
        .max_connections = c->max_connections,
        .max_connections_per_ip = c->max_connections_per_ip,
        .connection_timeout = c->connection_timeout,
        .request_timeout = c->request_timeout,
        .threads = c->threads,
        .oid_partner = c->oid_partner,
    };
    s->reconcile_opt = (struct reconcile_options){
        .database_path = c->database_path,
        .policy = {c->retry_interval, c->max_retry_interval, c->give_up_after},
        .max_rate = c->max_rate,
        .no_record_after = c->submit_no_record_after,
    };
    config_query_options(c, &s->reconcile_opt.query);
    s->submit_opt = (struct submit_options){
        .database_path = c->database_path,
        .payout =
            {
                .payment_url = c->submit_payment_url,
                .confirm_url = c->submit_confirm_url,
                .ca_file = c->ca_file,
                .merchant_key = c->merchant_key,
                .oid_partner = c->oid_partner,
                .platform = c->submit_platform,
                .api_version = c->submit_api_version,
                .notify_url = c->submit_notify_url,
                .connect_timeout_ms = c->connect_timeout_ms,
                .timeout_ms = c->submit_timeout_ms,
            },
        .max_rate = c->submit_max_rate,
        .notify_window_s = c->notify_window,
        .unknown_query_after = c->submit_unknown_query_after,
    };
    s->admin_opt = (struct admin_options){
        .listen = {"admin.listen", c->admin_listen, c->admin_host, c->admin_port},
        .max_connections = c->admin_max_connections,
        .max_connections_per_ip = c->admin_max_connections_per_ip,
        .request_timeout = c->request_timeout,
        .database_path = c->database_path,
        .tls_cert = c->tls_cert,
        .pending_warning_after = c->pending_warning_after,
        .reconciler_stall_ms = reconcile_stall_ms(&s->reconcile_opt),
        .submitter_stall_ms = submit_stall_ms(&s->submit_opt),
    };
}

/* SQLite creates a database 0644 (less the umask) and gives its -wal and -shm the database's
 * mode. Created here first, 0660 less the umask, it is group-writable under the unit (UMask=0007),
 * so that internal tools in the daemon's group can register payouts (and, in WAL mode, read).
 * In a directory with a default ACL (the package's: readers' r--) the file takes that instead of
 * the umask, and SQLite's -wal and -shm take it in turn.
 * The new file and its name are synced at once: a file this daemon creates does not wait for
 * SQLite to make it durable. */
static int create_database_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fsync(fd) < 0) {
        snprintf(err, errlen, "%s: cannot sync: %s", path, strerror(errno));
        (void)close(fd);
        return -1;
    }
    if (close(fd) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return store_sync_directory(path, err, errlen);
}

/* snprintf into a reason buffer, which may cut a long path short. */
__attribute__((format(printf, 3, 4))) static void reason(char *err, size_t errlen, const char *fmt,
                                                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The lock file of a database: beside the file the path leads to, so that two paths to one
 * database (a symbolic link, "..") find the same lock. */
static void lock_path(const char *db_path, char *out, size_t len)
{
    char real[PATH_MAX];
    snprintf(out, len, "%s.lock", realpath(db_path, real) != NULL ? real : db_path);
}

/* Who holds the lock on fd: the PID the kernel reports, or, when it cannot tell (the holder in
 * another PID namespace), what the holder wrote in the file. */
static long lock_holder(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    char text[24] = "";

    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0)
        return (long)fl.l_pid;
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    return strtol(text, NULL, 10);
}

/* Takes the database's single-instance lock and writes our PID into the lock file (for people:
 * the lock itself is what counts). Returns the fd, to be kept open, or -1 with a reason. */
static int lock_database(const char *db_path, char *err, size_t errlen)
{
    char path[PATH_MAX + 8], pid[24];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

    lock_path(db_path, path, sizeof(path));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
    if (fd < 0) {
        reason(err, errlen, "%s: cannot open the lock file: %s", path, strerror(errno));
        return -1;
    }
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        int e = errno;
        long holder = (e == EACCES || e == EAGAIN) ? lock_holder(fd) : 0;
        if (holder > 0)
            reason(err, errlen,
                   "%s is in use by another lianpay-notifyd, pid %ld (it holds %s): one daemon "
                   "per database",
                   db_path, holder, path);
        else
            reason(err, errlen, "%s: cannot lock %s: %s", db_path, path, strerror(e));
        close(fd);
        return -1;
    }
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        reason(err, errlen, "%s: cannot write the lock file: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int service_check(const struct config *cfg, char *err, size_t errlen)
{
    const char *db = cfg->database_path;
    char dir[PATH_MAX], why[PATH_MAX + 256];
    const char *slash = strrchr(db, '/');
    struct stat st;

    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == db ? 1 : (int)(slash - db), db);
    if (stat(dir, &st) < 0) {
        reason(err, errlen, "%s: database.path: the directory %s: %s", cfg->file, dir,
               errno == ENOENT ? "does not exist" : strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        reason(err, errlen, "%s: database.path: %s is not a directory", cfg->file, dir);
        return -1;
    }
    /* The WAL and the shared-memory file are made beside the database, and the lock file. */
    if (filecheck_access(dir, W_OK | X_OK, why, sizeof(why)) < 0) {
        reason(err, errlen, "%s: database.path: %s", cfg->file, why);
        return -1;
    }
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char file[PATH_MAX + 8];
        snprintf(file, sizeof(file), "%s%s", db, suffixes[i]);
        if (stat(file, &st) < 0 && errno == ENOENT)
            continue;
        if (filecheck_access(file, R_OK | W_OK, why, sizeof(why)) < 0) {
            reason(err, errlen, "%s: database.path: %s", cfg->file, why);
            return -1;
        }
        if (st.st_mode & S_IWOTH) {
            reason(err, errlen,
                   "%s: database.path: %s is writable by others (mode %04o); chmod o-w it",
                   cfg->file, file, (unsigned)(st.st_mode & 07777));
            return -1;
        }
    }
    return 0;
}

static int start(struct service *s, char *err, size_t errlen)
{
    /* libcurl's global state, before any thread that uses it exists (the reconciler, the
     * probe); query.c's own call then only counts a reference. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    if (create_database_file(s->cfg->database_path, err, errlen) < 0)
        return -1;
    s->lock_fd = lock_database(s->cfg->database_path, err, errlen);
    if (s->lock_fd < 0)
        return -1;
    struct store *st = store_open(s->cfg->database_path, STORE_WRITE, err, errlen);
    if (st == NULL)
        return -1;
    s->writer = writer_create(st, s->cfg->notify_window, err, errlen);
    if (s->writer == NULL) {
        store_close(st);
        return -1;
    }
    s->keys = keyring_create(&s->cfg->public_keys);
    if (s->keys == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    set_options(s);
    /* Whatever [submit] says: a payout left in flight by a crash is unknown from now on. A
     * failure is logged and left to the submit thread (or the next start), as for any storage
     * fault: the receiver must come up. */
    (void)submit_recover(&s->submit_opt, s->writer);
    /* Room for every listener's connections, before the first is accepted. */
    listener_fit_fd_limit(s->cfg->max_connections +
                          (s->cfg->admin_listen != NULL ? s->cfg->admin_max_connections : 0));
    s->httpd = httpd_create(&s->httpd_opt, s->keys, s->writer, err, errlen);
    if (s->httpd == NULL)
        return -1;
    if (s->cfg->reconcile_enabled) {
        s->reconciler = reconcile_start(&s->reconcile_opt, s->keys, s->writer, err, errlen);
        if (s->reconciler == NULL)
            return -1;
    }
    if (s->cfg->submit_enabled) {
        s->submitter = submit_start(&s->submit_opt, s->keys, s->writer, err, errlen);
        if (s->submitter == NULL)
            return -1;
    }
    s->decisions = decision_log_create(s->cfg->database_path, s->writer, err, errlen);
    if (s->decisions == NULL)
        return -1;
    if (s->cfg->admin_listen != NULL) {
        struct admin_sources src = {
            .httpd = s->httpd,
            .writer = s->writer,
            .reconciler = s->reconciler,
            .submitter = s->submitter,
            .keys = s->keys,
        };
        s->admin = admin_create(&s->admin_opt, &src, err, errlen);
        if (s->admin == NULL)
            return -1;
    }
    return 0;
}

/* Waits (bounded) until every request already received has been answered. */
static void drain(struct service *s, int64_t until)
{
    while (httpd_in_flight(s->httpd) > 0 && time_mono_ms() < until) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    unsigned left = httpd_in_flight(s->httpd);
    if (left > 0)
        log_kv(LOG_LEVEL_WARNING, "drain", "status", "timeout", "unanswered",
               log_int((long long)left), NULL);
}

static void stop(struct service *s)
{
    int64_t until = time_mono_ms() + DRAIN_TIMEOUT_MS;

    if (s->httpd != NULL)
        httpd_quiesce(s->httpd); /* no new connection from here on */
    admin_set_live(s->admin, false, "stopping", DRAIN_TIMEOUT_MS);
    reconcile_stop(s->reconciler); /* its query under way finishes or times out first */
    submit_stop(s->submitter);     /* its request under way too, and its answer is recorded */
    if (s->httpd != NULL)
        drain(s, until);
    admin_destroy(s->admin);
    store_close(s->monitor);
    decision_log_stop(s->decisions);
    /* Commits and answers what is queued; the writer's connection is the last one open, so
     * closing it checkpoints the WAL into the database file. */
    writer_stop(s->writer);
    decision_log_destroy(s->decisions); /* its mark, if queued, was answered */
    httpd_destroy(s->httpd);
    writer_destroy(s->writer);
    keyring_destroy(s->keys);
    curl_global_cleanup();
    /* Last: the database is closed and checkpointed, another daemon may have it now. */
    if (s->lock_fd >= 0)
        close(s->lock_fd);
}

static void announce(struct service *s)
{
    const struct config *cfg = s->cfg;
    char admin[96] = "off";

    if (s->admin != NULL)
        netaddr_join_hostport(cfg->admin_host, admin_port(s->admin), admin, sizeof(admin));
    log_kv(LOG_LEVEL_INFO, "ready", "version", LIANPAY_VERSION, "listen", s->addr, "tls",
           cfg->tls_cert ? "on" : "off", "notify_path", cfg->notify_path, "database",
           cfg->database_path, "public_keys", log_int((long long)keyring_count(s->keys)),
           "reconcile", cfg->reconcile_enabled ? cfg->query_url : "off", "admin", admin, "watchdog",
           s->watchdog ? log_int(s->check_ms * 2) : "off", NULL);
    /* Everything is open, migrated and bound, and an HTTP thread has answered: connections are
     * accepted from here on. */
    sd_notifyf(0, "READY=1\nSTATUS=%s on %s%s%s", s->live ? "serving" : "degraded", s->addr,
               s->live ? "" : ": ", s->live ? "" : s->why);
}

int service_run(struct config *cfg, const char *config_text)
{
    struct service s = {.cfg = cfg, .config_text = config_text, .lock_fd = -1};
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
        sd_notifyf(0, "STATUS=failed to start: %s", err);
        stop(&s);
        return 1;
    }
    supervision_init(&s);
    announce(&s);

    for (;;) {
        int64_t wait = tick(&s);
        struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGHUP) {
            reload(&s);
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_kv(LOG_LEVEL_INFO, "stopping", "signal", sig == SIGTERM ? "TERM" : "INT", NULL);
            break;
        } else if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            break;
        }
    }

    sd_notify(0, "STOPPING=1\nSTATUS=stopping: answering what was received");
    stop(&s);
    log_kv(LOG_LEVEL_INFO, "stopped", NULL);
    return 0;
}
