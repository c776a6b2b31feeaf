/*
 * Connection accounting, accept-time refusals, request deadlines and raw request targets for a
 * libmicrohttpd listener (listener.h says what and why).
 *
 * libmicrohttpd calls us on its threads: the accept policy (before a connection exists), the
 * connection notifications (STARTED and CLOSED, balanced: every STARTED gets its CLOSED, and
 * CLOSED comes before the socket is closed), the URI log callback (each request line). Each
 * connection gets a struct conn as its socket context. One mutex guards the counts, the
 * per-address table and the deadline list; the deadline thread shuts sockets down under it,
 * so a socket it touches is always still open (CLOSED needs the mutex first). The request
 * target fields of a conn are only touched by the connection's own thread.
 *
 * Every deadline is the same length after the moment it is set, so the deadline list is kept
 * in the order they were set and the thread only ever looks at its head.
 */
#include "listener.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "log.h"
#include "netaddr.h"
#include "throttle.h"
#include "timeutil.h"

/* The request target kept for listener_path_is; longer ones are no configured path. */
#define TARGET_MAX 256
/* How often the deadline thread looks. */
#define TICK_MS 100
/* Slots kept in libmicrohttpd's limit beyond max_connections, besides one per thread: for the
 * probe, and for connections refused at STARTED but not yet closed. */
#define SPARE_SLOTS 4
/* File descriptors besides the connections: the database, the admin listener's, libcurl's. */
#define FD_MARGIN 128

struct addr_count {
    struct addr_count *next;
    uint8_t key[16];
    unsigned n;
};

struct conn {
    struct listener *l;
    struct conn *prev, *next; /* in the deadline list while armed */
    bool armed;
    bool counted; /* in the totals: not the probe, not refused */
    bool internal;
    int fd;
    int64_t deadline; /* monotonic ms */
    struct addr_count *addr;
    char peer[46];

    /* The current request's target as sent; the connection's thread only. */
    char target[TARGET_MAX];
    bool target_long;
    const char *target_end; /* where libmicrohttpd's copy of the target ended (a NUL) */
};

struct listener {
    struct listener_config cfg;
    struct throttle *throttle;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool quit;
    unsigned connections;
    struct conn *head, *tail; /* armed deadlines, oldest first */
    struct addr_count **buckets;
    size_t nbuckets; /* a power of two */
    uint64_t seed;

    atomic_bool stopping;
    atomic_ullong refused[LISTENER_REFUSAL_COUNT];
    _Atomic int64_t last_full;
};

/* ---- addresses --------------------------------------------------------------------------- */

/* The per-address key: IPv4 as IPv4-mapped IPv6, IPv6 cut to its /64 (what one client
 * holds). Returns -1 for anything else. */
static int addr_key(const struct sockaddr *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(key, a, memcmp(a, mapped, 12) == 0 ? 16 : 8);
        return 0;
    }
    return -1;
}

/* Keyed, so that a client cannot choose addresses that all land in one bucket. */
static size_t bucket_of(const struct listener *l, const uint8_t key[16])
{
    uint64_t h = l->seed;
    for (int i = 0; i < 16; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h ^= w;
        h *= 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    return (size_t)(h & (l->nbuckets - 1));
}

/* Under the lock. */
static struct addr_count *addr_find(struct listener *l, const uint8_t key[16])
{
    for (struct addr_count *a = l->buckets[bucket_of(l, key)]; a != NULL; a = a->next) {
        if (memcmp(a->key, key, 16) == 0)
            return a;
    }
    return NULL;
}

/* Under the lock; NULL when out of memory. */
static struct addr_count *addr_take(struct listener *l, const uint8_t key[16])
{
    struct addr_count *a = addr_find(l, key);
    if (a == NULL) {
        a = calloc(1, sizeof(*a));
        if (a == NULL)
            return NULL;
        memcpy(a->key, key, 16);
        size_t b = bucket_of(l, key);
        a->next = l->buckets[b];
        l->buckets[b] = a;
    }
    a->n++;
    return a;
}

/* Under the lock. */
static void addr_release(struct listener *l, struct addr_count *a)
{
    if (--a->n > 0)
        return;
    struct addr_count **p = &l->buckets[bucket_of(l, a->key)];
    while (*p != a)
        p = &(*p)->next;
    *p = a->next;
    free(a);
}

static bool is_exempt(const struct listener *l, const char *peer)
{
    return l->cfg.exempt != NULL && netaddr_list_contains(l->cfg.exempt, peer);
}

/* ---- deadlines (under the lock) ----------------------------------------------------------- */

static void disarm(struct listener *l, struct conn *c)
{
    if (!c->armed)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    c->armed = false;
}

static void arm(struct listener *l, struct conn *c)
{
    disarm(l, c);
    c->deadline = time_mono_ms() + l->cfg.request_timeout_ms;
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail != NULL)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    c->armed = true;
}

/* ---- refusals ---------------------------------------------------------------------------- */

static void refuse(struct listener *l, enum listener_refusal why, const char *peer)
{
    atomic_fetch_add(&l->refused[why], 1);
    if (why == LISTENER_FULL)
        atomic_store(&l->last_full, time_mono_ms());
    if (l->cfg.refused != NULL)
        l->cfg.refused(l->cfg.refused_cls, why, peer);
}

/* Under the lock: why a new connection from key may not be counted, or -1 when it may. */
static int over_limit(struct listener *l, const uint8_t key[16], bool exempt)
{
    if (l->connections >= l->cfg.max_connections)
        return LISTENER_FULL;
    if (!exempt && l->cfg.max_per_ip > 0) {
        const struct addr_count *a = addr_find(l, key);
        if (a != NULL && a->n >= l->cfg.max_per_ip)
            return LISTENER_PER_IP;
    }
    return -1;
}

/* ---- libmicrohttpd's callbacks ----------------------------------------------------------- */

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct listener *l = cls;
    uint8_t key[16];
    char peer[46] = "unknown";

    if (atomic_load(&l->stopping))
        return MHD_NO;
    if (addr->sa_family == AF_UNIX)
        return MHD_YES; /* listener_add_internal's (never from accept) */
    if (addr_key(addr, key) < 0)
        return MHD_NO;
    netaddr_format(addr, peer, sizeof(peer));
    bool exempt = is_exempt(l, peer);
    if (!exempt && l->cfg.allow != NULL && !netaddr_list_contains(l->cfg.allow, peer)) {
        refuse(l, LISTENER_NOT_ALLOWED, peer);
        return MHD_NO;
    }
    /* A first look, so that most refusals cost no allocation; started() decides. */
    pthread_mutex_lock(&l->lock);
    int why = over_limit(l, key, exempt);
    pthread_mutex_unlock(&l->lock);
    if (why >= 0) {
        refuse(l, (enum listener_refusal)why, peer);
        return MHD_NO;
    }
    return MHD_YES;
}

static int connection_fd(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci != NULL ? ci->connect_fd : -1;
}

static struct conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* Counts the new connection and starts its deadline, or shuts it down when it is over a
 * limit after all (accept_policy looked without reserving: threads accept in parallel). */
static void started(struct listener *l, struct MHD_Connection *conn, void **ctx)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
    struct conn *c = calloc(1, sizeof(*c));
    uint8_t key[16];
    int why = -1;

    if (c == NULL) {
        int fd = connection_fd(conn);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        return;
    }
    *ctx = c;
    c->l = l;
    c->fd = connection_fd(conn);
    snprintf(c->peer, sizeof(c->peer), "unknown");
    if (sa == NULL || sa->sa_family == AF_UNIX) {
        c->internal = sa != NULL;
        return;
    }
    netaddr_format(sa, c->peer, sizeof(c->peer));
    bool exempt = is_exempt(l, c->peer);
    bool keyed = addr_key(sa, key) == 0;
    pthread_mutex_lock(&l->lock);
    if (atomic_load(&l->stopping) || !keyed)
        why = LISTENER_REFUSAL_COUNT; /* closed without a word */
    else
        why = over_limit(l, key, exempt);
    if (why < 0 && !exempt && l->cfg.max_per_ip > 0) {
        c->addr = addr_take(l, key);
        if (c->addr == NULL)
            why = LISTENER_REFUSAL_COUNT;
    }
    if (why < 0) {
        c->counted = true;
        l->connections++;
        arm(l, c);
    } else if (c->fd >= 0) {
        shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&l->lock);
    if (why >= 0 && why < LISTENER_REFUSAL_COUNT)
        refuse(l, (enum listener_refusal)why, c->peer);
}

static void closed(struct listener *l, struct conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    disarm(l, c);
    if (c->counted)
        l->connections--;
    if (c->addr != NULL)
        addr_release(l, c->addr);
    pthread_mutex_unlock(&l->lock);
    free(c);
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **ctx,
                              enum MHD_ConnectionNotificationCode code)
{
    struct listener *l = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        started(l, conn, ctx);
    else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        closed(l, *ctx);
        *ctx = NULL;
    }
}

/* Called with the target as sent, before libmicrohttpd splits off the query and decodes it in
 * place. Returns the access handler's first *con_cls: NULL, as without this callback. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct conn *c = conn_of(conn);
    if (c == NULL)
        return NULL;
    size_t n = strlen(uri);
    c->target_end = uri + n;
    size_t path = strcspn(uri, "?");
    c->target_long = path >= sizeof(c->target);
    if (!c->target_long) {
        memcpy(c->target, uri, path);
        c->target[path] = '\0';
    }
    return NULL;
}

/* libmicrohttpd's messages: those that mean it is out of file descriptors or connection slots
 * are warnings (throttled); the rest is detail for debugging. */
__attribute__((format(printf, 2, 0))) static void library_log(void *cls, const char *fmt,
                                                              va_list ap)
{
    struct listener *l = cls;
    char buf[512];
    const char *kind = NULL;

    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (strstr(buf, "Too many open files") != NULL || strstr(buf, "resource limit") != NULL)
        kind = "fd_limit";
    else if (strstr(buf, "connection limit") != NULL)
        kind = "connection_limit";
    if (kind == NULL)
        log_kv(LOG_LEVEL_DEBUG, l->cfg.library_event, "message", buf, NULL);
    else if (throttle_allow(l->throttle, kind, "-"))
        log_kv(LOG_LEVEL_WARNING, l->cfg.library_event, "kind", kind, "message", buf, NULL);
}

/* ---- the deadline thread ------------------------------------------------------------------ */

static void *deadline_thread(void *arg)
{
    struct listener *l = arg;
    char peer[46], name[16];

    /* Named from inside: for itself, glibc needs no file under /proc (the unit's sandbox). */
    snprintf(name, sizeof(name), "%.6s-deadline", l->cfg.name);
    pthread_setname_np(pthread_self(), name);
    pthread_mutex_lock(&l->lock);
    while (!l->quit) {
        int64_t now = time_mono_ms();
        struct conn *c = l->head;
        if (c != NULL && c->deadline <= now) {
            disarm(l, c);
            if (c->fd >= 0)
                shutdown(c->fd, SHUT_RDWR);
            memcpy(peer, c->peer, sizeof(peer));
            pthread_mutex_unlock(&l->lock);
            refuse(l, LISTENER_TIMEOUT, peer);
            pthread_mutex_lock(&l->lock);
            continue;
        }
        pthread_mutex_unlock(&l->lock);
        throttle_flush(l->throttle);
        pthread_mutex_lock(&l->lock);
        if (l->quit)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&l->wake, &l->lock, &ts);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

/* ---- life cycle -------------------------------------------------------------------------- */

static size_t round_up_pow2(size_t n)
{
    size_t p = 64;
    while (p < n)
        p <<= 1;
    return p;
}

struct listener *listener_create(const struct listener_config *cfg, char *err, size_t errlen)
{
    struct listener *l = calloc(1, sizeof(*l));

    if (l == NULL)
        goto oom;
    l->cfg = *cfg;
    l->nbuckets = round_up_pow2((size_t)cfg->max_connections);
    l->buckets = calloc(l->nbuckets, sizeof(*l->buckets));
    l->throttle = throttle_create(cfg->reject_event);
    if (l->buckets == NULL || l->throttle == NULL)
        goto oom;
    if (getrandom(&l->seed, sizeof(l->seed), 0) != (ssize_t)sizeof(l->seed))
        l->seed = (uint64_t)time_mono_ms() * 0x9e3779b97f4a7c15ULL;
    pthread_mutex_init(&l->lock, NULL);
    time_cond_init(&l->wake);
    if (pthread_create(&l->thread, NULL, deadline_thread, l) != 0) {
        snprintf(err, errlen, "cannot start the %s deadline thread", cfg->name);
        listener_destroy(l);
        return NULL;
    }
    l->thread_started = true;
    return l;
oom:
    snprintf(err, errlen, "out of memory");
    if (l != NULL) {
        throttle_destroy(l->throttle);
        free(l->buckets);
        free(l);
    }
    return NULL;
}

void listener_destroy(struct listener *l)
{
    if (l == NULL)
        return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->lock);
        l->quit = true;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
    }
    for (size_t i = 0; i < l->nbuckets; i++) {
        while (l->buckets[i] != NULL) {
            struct addr_count *a = l->buckets[i];
            l->buckets[i] = a->next;
            free(a);
        }
    }
    free(l->buckets);
    throttle_destroy(l->throttle);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

MHD_AcceptPolicyCallback listener_accept_policy(void)
{
    return accept_policy;
}

int listener_options(struct listener *l, const struct MHD_OptionItem *more, size_t n_more,
                     struct MHD_OptionItem *out, size_t n_out)
{
    const struct MHD_OptionItem mine[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)library_log, l},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_connection, l},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_seen, l},
        {MHD_OPTION_CONNECTION_LIMIT, l->cfg.max_connections + l->cfg.threads + SPARE_SLOTS, NULL},
    };
    size_t k = sizeof(mine) / sizeof(mine[0]);
    if (k + n_more + 1 > n_out)
        return -1;
    memcpy(out, mine, sizeof(mine));
    memcpy(out + k, more, n_more * sizeof(*more));
    out[k + n_more] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 0;
}

void listener_stop_accepting(struct listener *l)
{
    atomic_store(&l->stopping, true);
}

int listener_add_internal(struct MHD_Daemon *mhd, int fd)
{
    struct sockaddr_un un;

    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    return MHD_add_connection(mhd, fd, (const struct sockaddr *)&un, sizeof(sa_family_t)) == MHD_YES
               ? 0
               : -1;
}

bool listener_is_internal(struct MHD_Connection *conn)
{
    const struct conn *c = conn_of(conn);
    return c != NULL && c->internal;
}

void listener_request_received(struct MHD_Connection *conn)
{
    struct conn *c = conn_of(conn);
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->l->lock);
    disarm(c->l, c);
    pthread_mutex_unlock(&c->l->lock);
}

void listener_request_done(struct MHD_Connection *conn)
{
    struct conn *c = conn_of(conn);
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->l->lock);
    if (c->counted)
        arm(c->l, c);
    pthread_mutex_unlock(&c->l->lock);
}

bool listener_path_is(struct MHD_Connection *conn, const char *version, const char *path)
{
    const struct conn *c = conn_of(conn);
    /* libmicrohttpd ends the target with a NUL where the space before the version was, so the
     * version starts right after the target's end, unless a NUL came earlier: then the target
     * as sent is longer than what a C string shows of it. */
    return c != NULL && c->target_end != NULL && c->target_end + 1 == version && !c->target_long &&
           strcmp(c->target, path) == 0;
}

/* RFC 9110 5.6.2: tchar. */
static bool is_token(const char *s)
{
    static const char specials[] = "!#$%&'*+-.^_`|~";
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        bool alnum =
            (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        if (!alnum && strchr(specials, ch) == NULL)
            return false;
    }
    return true;
}

static enum MHD_Result check_name(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    bool *ok = cls;
    if (!is_token(key)) {
        *ok = false;
        return MHD_NO;
    }
    return MHD_YES;
}

void listener_peer_address(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL || netaddr_format(ci->client_addr, out, len) < 0)
        snprintf(out, len, "unknown");
}

bool listener_headers_ok(struct MHD_Connection *conn, enum MHD_ValueKind kind)
{
    bool ok = true;
    MHD_get_connection_values(conn, kind, check_name, &ok);
    return ok;
}

bool listener_may_log(struct listener *l, const char *kind, const char *source)
{
    return throttle_allow(l->throttle, kind, source);
}

void listener_get_stats(struct listener *l, struct listener_stats *out)
{
    pthread_mutex_lock(&l->lock);
    out->connections = l->connections;
    pthread_mutex_unlock(&l->lock);
    out->max_connections = l->cfg.max_connections;
    for (int i = 0; i < LISTENER_REFUSAL_COUNT; i++)
        out->refused[i] = atomic_load(&l->refused[i]);
    out->last_full_ms = atomic_load(&l->last_full);
}

bool listener_saturated(struct listener *l, int64_t window_ms)
{
    struct listener_stats st;
    listener_get_stats(l, &st);
    return st.connections >= st.max_connections ||
           (st.last_full_ms != 0 && time_mono_ms() - st.last_full_ms < window_ms);
}

void listener_fit_fd_limit(unsigned connections)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)connections + FD_MARGIN;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        rl.rlim_cur = was;
    if (rl.rlim_cur < need)
        log_kv(LOG_LEVEL_WARNING, "fd_limit", "open_files", log_int((long long)rl.rlim_cur),
               "needed", log_int((long long)need), "advice",
               "raise LimitNOFILE= or lower server.max_connections: connections beyond the limit "
               "fail to be accepted",
               NULL);
}
