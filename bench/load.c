/*
 * bench-load: an open-loop, constant-rate HTTP load generator (wrk, which is what Debian has,
 * only runs closed loops: each connection waits for its answer before sending again, so it
 * cannot hold a rate, and its latencies leave out the time a request would have waited).
 *
 * Request k is due at start + k / rate. Due requests go out on any idle keep-alive connection;
 * when none is idle they wait, and their latency is still counted from the time they were due
 * (no coordinated omission: a stalled server shows up in the percentiles). Bodies are read from
 * the chunk files in order, each sent once; running out ends the run with exhausted=1.
 *
 * Single thread, epoll, a timerfd for the schedule. Prints one line of key=value results.
 *
 * Usage: bench-load --port P --rate R --duration S [--connections C] [--path PATH] FILE...
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 1024
#define REQUEST_MAX     (17 * 1024)
#define RESPONSE_MAX    4096
#define DRAIN_NS        (10 * 1000000000LL)

struct options {
    unsigned port;
    const char *path;
    double rate;
    double duration;
    unsigned connections;
    char **files;
    int nfiles;
};

struct conn {
    int fd;
    bool busy;
    int64_t due; /* when the request in flight was due (ns) */
    char req[REQUEST_MAX];
    size_t req_len, req_sent;
    char resp[RESPONSE_MAX];
    size_t resp_len;
};

/* The bodies, one per line, across the files, each handed out once. */
struct bodies {
    char **data;
    size_t *size;
    int nfiles, file;
    size_t pos;
};

struct stats {
    uint64_t sent, ok, failed, errors, late;
    uint32_t *lat_us;
    size_t nlat, cap;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int bodies_open(struct bodies *b, char **files, int n)
{
    b->data = calloc((size_t)n, sizeof(*b->data));
    b->size = calloc((size_t)n, sizeof(*b->size));
    if (b->data == NULL || b->size == NULL)
        return -1;
    b->nfiles = n;
    for (int i = 0; i < n; i++) {
        struct stat sb;
        int fd = open(files[i], O_RDONLY);
        if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size == 0) {
            fprintf(stderr, "bench-load: %s: %s\n", files[i], fd < 0 ? strerror(errno) : "empty");
            return -1;
        }
        b->size[i] = (size_t)sb.st_size;
        b->data[i] = mmap(NULL, b->size[i], PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (b->data[i] == MAP_FAILED)
            return -1;
        (void)madvise(b->data[i], b->size[i], MADV_SEQUENTIAL);
    }
    return 0;
}

/* The next body (not NUL-terminated), or NULL when all were used. */
static const char *bodies_next(struct bodies *b, size_t *len)
{
    while (b->file < b->nfiles) {
        const char *d = b->data[b->file];
        size_t size = b->size[b->file];
        if (b->pos < size) {
            const char *nl = memchr(d + b->pos, '\n', size - b->pos);
            size_t end = nl != NULL ? (size_t)(nl - d) : size;
            const char *body = d + b->pos;
            *len = end - b->pos;
            b->pos = end + 1;
            if (*len > 0)
                return body;
            continue;
        }
        b->file++;
        b->pos = 0;
    }
    return NULL;
}

static int conn_open(int ep, struct conn *c, unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0) {
        fprintf(stderr, "bench-load: connect to port %u: %s\n", port, strerror(errno));
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        return -1;
    c->busy = false;
    c->resp_len = 0;
    return 0;
}

static void conn_close(int ep, struct conn *c)
{
    if (c->fd >= 0) {
        (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = false;
}

static void record(struct stats *s, int64_t due, bool ok)
{
    int64_t us = (now_ns() - due) / 1000;
    if (s->nlat == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1 << 16;
        uint32_t *p = realloc(s->lat_us, cap * sizeof(*p));
        if (p == NULL)
            return;
        s->lat_us = p;
        s->cap = cap;
    }
    s->lat_us[s->nlat++] = (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us);
    if (ok)
        s->ok++;
    else
        s->failed++;
}

static int flush_request(int ep, struct conn *c)
{
    while (c->req_sent < c->req_len) {
        ssize_t n = send(c->fd, c->req + c->req_sent, c->req_len - c->req_sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
            return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
        if (n <= 0)
            return -1;
        c->req_sent += (size_t)n;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int send_request(int ep, struct conn *c, const struct options *opt, const char *body,
                        size_t len, int64_t due)
{
    int n = snprintf(c->req, sizeof(c->req),
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                     "Content-Type: application/json;charset=utf-8\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     opt->path, opt->port, len);
    if (n < 0 || (size_t)n + len > sizeof(c->req))
        return -1;
    memcpy(c->req + n, body, len);
    c->req_len = (size_t)n + len;
    c->req_sent = 0;
    c->busy = true;
    c->due = due;
    c->resp_len = 0;
    return flush_request(ep, c);
}

/* Returns 1 when a whole response is in c->resp (status in *status), 0 when more is needed,
 * -1 when it is malformed. Sets *close_after for "Connection: close". */
static int parse_response(struct conn *c, int *status, bool *close_after)
{
    c->resp[c->resp_len < RESPONSE_MAX ? c->resp_len : RESPONSE_MAX - 1] = '\0';
    char *end = strstr(c->resp, "\r\n\r\n");
    if (end == NULL)
        return c->resp_len >= RESPONSE_MAX - 1 ? -1 : 0;
    if (sscanf(c->resp, "HTTP/1.%*d %d", status) != 1)
        return -1;
    size_t body = 0;
    *close_after = false;
    for (char *line = strstr(c->resp, "\r\n") + 2; line < end;) {
        char *eol = strstr(line, "\r\n");
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            body = strtoul(line + 15, NULL, 10);
        else if (strncasecmp(line, "Connection:", 11) == 0 && strstr(line, "close") != NULL &&
                 strstr(line, "close") < eol)
            *close_after = true;
        line = eol + 2;
    }
    size_t total = (size_t)(end + 4 - c->resp) + body;
    if (total >= RESPONSE_MAX)
        return -1;
    return c->resp_len >= total ? 1 : 0;
}

/* Reads what the server sent. Returns 1 when the connection became idle, 0 when still busy,
 * -1 when it failed (closed, error, malformed). */
static int on_readable(struct conn *c, struct stats *s)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->resp + c->resp_len, RESPONSE_MAX - 1 - c->resp_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0)
            return -1;
        c->resp_len += (size_t)n;
        if (c->resp_len >= RESPONSE_MAX - 1)
            break;
    }
    if (!c->busy)
        return -1; /* nothing was asked */
    int status = 0;
    bool close_after = false;
    int rc = parse_response(c, &status, &close_after);
    if (rc <= 0)
        return rc;
    record(s, c->due, status == 200);
    c->busy = false;
    return close_after ? -1 : 1;
}

struct run {
    const struct options *opt;
    int ep, tfd;
    struct conn *conns;
    struct bodies bodies;
    struct stats stats;
    int64_t start, end, interval;
    uint64_t next; /* index of the next request to schedule */
    bool exhausted;
};

static int arm_timer(struct run *r, int64_t at)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = at / 1000000000LL, .tv_nsec = at % 1000000000LL}};
    return timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Sends every due request that has an idle connection. */
static int dispatch(struct run *r)
{
    int64_t now = now_ns();
    unsigned c = 0;

    while (!r->exhausted) {
        int64_t due = r->start + (int64_t)r->next * r->interval;
        if (due > now || due >= r->end)
            break;
        while (c < r->opt->connections && (r->conns[c].busy || r->conns[c].fd < 0))
            c++;
        if (c == r->opt->connections)
            break; /* all busy: the request waits, its latency runs from `due` */
        size_t len = 0;
        const char *body = bodies_next(&r->bodies, &len);
        if (body == NULL) {
            r->exhausted = true;
            break;
        }
        if (now - due > 1000000)
            r->stats.late++;
        if (send_request(r->ep, &r->conns[c], r->opt, body, len, due) < 0) {
            r->stats.errors++;
            conn_close(r->ep, &r->conns[c]);
            if (conn_open(r->ep, &r->conns[c], r->opt->port) < 0)
                return -1;
        }
        r->stats.sent++;
        r->next++;
    }
    int64_t due = r->start + (int64_t)r->next * r->interval;
    return arm_timer(r, due > now ? due : now + 100000);
}

static unsigned in_flight(const struct run *r)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->opt->connections; i++)
        n += r->conns[i].busy;
    return n;
}

static int handle(struct run *r, struct epoll_event *ev)
{
    struct conn *c = ev->data.ptr;
    if (c == NULL) {
        uint64_t ticks;
        if (read(r->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
            return -1;
        return 0;
    }
    if ((ev->events & EPOLLOUT) && c->req_sent < c->req_len && flush_request(r->ep, c) < 0) {
        r->stats.errors++;
    } else if (!(ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        return 0;
    } else {
        int rc = on_readable(c, &r->stats);
        if (rc >= 0)
            return 0;
        if (c->busy)
            r->stats.errors++;
    }
    conn_close(r->ep, c);
    return conn_open(r->ep, c, r->opt->port);
}

static int loop(struct run *r)
{
    struct epoll_event evs[64];
    int64_t drain_until = r->end + DRAIN_NS;

    for (;;) {
        int64_t now = now_ns();
        if (now >= r->end && (in_flight(r) == 0 || now >= drain_until))
            break;
        if (r->exhausted && in_flight(r) == 0)
            break;
        if (now < r->end && dispatch(r) < 0)
            return -1;
        int n = epoll_wait(r->ep, evs, 64, 100);
        if (n < 0 && errno != EINTR)
            return -1;
        for (int i = 0; i < n; i++) {
            if (handle(r, &evs[i]) < 0)
                return -1;
        }
    }
    r->stats.errors += in_flight(r); /* never answered */
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_ms(const struct stats *s, double p)
{
    if (s->nlat == 0)
        return 0;
    size_t i = (size_t)(p * (double)(s->nlat - 1) + 0.5);
    return s->lat_us[i] / 1000.0;
}

static void report(struct run *r, int64_t elapsed)
{
    struct stats *s = &r->stats;
    qsort(s->lat_us, s->nlat, sizeof(*s->lat_us), cmp_u32);
    printf("target_rate=%.0f achieved_rate=%.1f sent=%" PRIu64 " ok=%" PRIu64 " failed=%" PRIu64
           " errors=%" PRIu64 " late=%" PRIu64 " exhausted=%d p50_ms=%.3f p90_ms=%.3f "
           "p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
           r->opt->rate, (double)s->ok * 1e9 / (double)elapsed, s->sent, s->ok, s->failed,
           s->errors, s->late, r->exhausted, percentile_ms(s, 0.50), percentile_ms(s, 0.90),
           percentile_ms(s, 0.99), percentile_ms(s, 0.999),
           s->nlat ? s->lat_us[s->nlat - 1] / 1000.0 : 0.0);
}

static int parse_args(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},     {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'}, {"connections", required_argument, NULL, 'c'},
        {"path", required_argument, NULL, 'P'},     {NULL, 0, NULL, 0},
    };
    int c;

    *opt = (struct options){.path = "/lianpay/notify", .connections = 64};
    while ((c = getopt_long(argc, argv, "p:r:d:c:P:", longopts, NULL)) != -1) {
        if (c == 'p')
            opt->port = (unsigned)strtoul(optarg, NULL, 10);
        else if (c == 'r')
            opt->rate = strtod(optarg, NULL);
        else if (c == 'd')
            opt->duration = strtod(optarg, NULL);
        else if (c == 'c')
            opt->connections = (unsigned)strtoul(optarg, NULL, 10);
        else if (c == 'P')
            opt->path = optarg;
        else
            return -1;
    }
    if (optind >= argc || opt->port == 0 || opt->port > 65535 || opt->rate <= 0 ||
        opt->duration <= 0 || opt->connections == 0 || opt->connections > MAX_CONNECTIONS)
        return -1;
    opt->files = argv + optind;
    opt->nfiles = argc - optind;
    return 0;
}

int main(int argc, char **argv)
{
    struct options opt;
    struct run r = {.opt = &opt};

    if (parse_args(argc, argv, &opt) < 0) {
        fprintf(stderr, "usage: bench-load --port P --rate R --duration S [--connections C] "
                        "[--path PATH] BODYFILE...\n");
        return 2;
    }
    r.conns = calloc(opt.connections, sizeof(*r.conns));
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    r.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (r.conns == NULL || r.ep < 0 || r.tfd < 0 || bodies_open(&r.bodies, opt.files, opt.nfiles))
        return 1;
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(r.ep, EPOLL_CTL_ADD, r.tfd, &tev) < 0)
        return 1;
    for (unsigned i = 0; i < opt.connections; i++) {
        r.conns[i].fd = -1;
        if (conn_open(r.ep, &r.conns[i], opt.port) < 0)
            return 1;
    }
    r.interval = (int64_t)(1e9 / opt.rate);
    r.start = now_ns();
    r.end = r.start + (int64_t)(opt.duration * 1e9);
    if (loop(&r) < 0) {
        perror("bench-load");
        return 1;
    }
    int64_t last = r.start + (int64_t)r.next * r.interval;
    report(&r, (last < r.end ? last : r.end) - r.start);
    return 0;
}
