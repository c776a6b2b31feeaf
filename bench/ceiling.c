/*
 * bench-ceiling: the benchmark's ceiling. A libmicrohttpd responder with the daemon's thread
 * model (internal thread pool of one thread per CPU, epoll) that reads each POST body into a
 * buffer, as the daemon does, and answers LianLian's acknowledgement without looking at it: no
 * parsing, no signature check, no database. What the daemon achieves is compared with this, on
 * the same machine, with the same bodies and connections, in the same run.
 *
 * Usage: bench-ceiling [--suspend | --block] [--verify KEYFILE] [--log] [PORT]
 * (PORT 0 or nothing: any free port). Prints "port=N" once listening, serves until SIGTERM or
 * SIGINT. Without options it is the plain ceiling above. The options add, one at a time, what the
 * daemon does besides (issue 16's ladder, bench/run --ladder), each the way src/httpd.c does it:
 *
 *   --suspend  the connection is suspended once the body is in and the request handed to another
 *              thread (a mutex-protected queue and a condition variable, as writer_submit); that
 *              thread takes the whole queue at once and, as httpd.c's job_done, pushes each
 *              request on its HTTP thread's answer stack, resuming only the first of each stack;
 *              the resumed HTTP thread takes its stack whole, resumes the others and answers.
 *              libmicrohttpd is started with the daemon's MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC.
 *              No database: the other thread answers at once.
 *   --block    instead of --suspend (bench/round5-block.md): libmicrohttpd with a thread per
 *              connection (MHD_USE_THREAD_PER_CONNECTION, poll(); 0.9.75 refuses epoll and a
 *              thread pool with it), no suspend, no resume: once the body is in, the connection's
 *              thread hands the request to the same other thread through the same queue and
 *              waits on the request's futex until that thread has marked it answered (one wake
 *              per request, the whole queue taken at once), then answers.
 *   --verify   before suspending (on the HTTP thread, as the daemon): msg_parse, keyring_verify
 *              against KEYFILE (LianLian's public key) and payresult_from_msg; a body that fails
 *              is answered 400 (the runner counts those as failed).
 *   --log      one "notify" logfmt line per request to stderr with log_kv, the daemon's fields;
 *              with --suspend the lines of one stack are written together (log_batch_begin/end)
 *              before their answers go out, as httpd.c's answer_queued; with --block each
 *              connection's thread writes its own line once woken, before its answer. Point
 *              stderr at a file.
 *
 * With --suspend or --block it prints "handed_over=N turns=M" at exit (M: the other thread's
 * turns, N / M the mean batch).
 */
#include <linux/futex.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench/orders.h"
#include "src/answerq.h"
#include "src/keyring.h"
#include "src/keys.h"
#include "src/listener.h"
#include "src/log.h"
#include "src/msg.h"
#include "src/payresult.h"
#include "src/state.h"

#define ACK_BODY     "{\"ret_code\":\"0000\",\"ret_msg\":\"交易成功\"}"
#define BAD_BODY     "{\"ret_code\":\"9999\",\"ret_msg\":\"refused\"}"
#define MAX_BODY     16384
#define CONTENT_TYPE "application/json;charset=utf-8"

struct request {
    char *body;
    size_t len;
    /* The rest is allocated only with an option (steps): the plain ceiling's request stays the
     * two members above, as it always was. */
    struct MHD_Connection *conn; /* --suspend */
    struct answerq *queue;       /* its HTTP thread's answer stack */
    struct answerq_item item;    /* on it */
    struct request *next;        /* on the handover queue */
    atomic_bool answered;        /* the other thread is done with it */
    atomic_int done; /* --block: 1 once answered, the futex its connection's thread waits on */
    bool logged;
    bool verified; /* --verify: result is filled */
    struct payresult result;
    char client[46];
};

static struct MHD_Response *ack, *bad;
static bool opt_suspend, opt_block, opt_log, steps; /* steps: any option */
static struct keyring *keys;

/* The handover to the other thread (writer_submit's queue). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct request *head, *tail;
static bool stopping;
static atomic_int suspended;             /* connections suspended and not resumed yet */
static unsigned long handed_over, turns; /* the other thread's only */

static void log_request(struct request *req)
{
    const struct payresult *r = &req->result;
    req->logged = true;
    if (req->verified)
        log_kv(LOG_LEVEL_INFO, "notify", "status", "200", "no_order", r->no_order, "result_pay",
               state_result_name(r->result_pay), "money_order", r->money_order, "outcome",
               "applied", "previous", "none", "remote", req->client, NULL);
    else
        log_kv(LOG_LEVEL_INFO, "notify", "status", "200", "no_order", "unknown", "result_pay",
               "SUCCESS", "money_order", "0.00", "outcome", "applied", "previous", "none", "remote",
               req->client, NULL);
}

/* --block: a futex per request rather than a mutex and a condition variable (measured: 4.1
 * futex calls per message with them, the waiter woken into the mutex the other thread still
 * held). The wake may reach memory already freed, when the waiter saw done without sleeping:
 * the kernel only compares addresses, and another waiter woken there by mistake looks again. */
static void answer_waiter(struct request *req)
{
    atomic_store(&req->done, 1);
    syscall(SYS_futex, &req->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void wait_answered(struct request *req)
{
    while (atomic_load(&req->done) == 0)
        syscall(SYS_futex, &req->done, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

/* The other thread: takes everything queued at once, and for each request does what httpd.c's
 * job_done does after a commit. */
static void *resumer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (head == NULL && !stopping)
            pthread_cond_wait(&wake, &lock);
        if (head == NULL && stopping)
            break;
        struct request *batch = head;
        head = tail = NULL;
        pthread_mutex_unlock(&lock);
        turns++;
        for (struct request *req = batch, *next; req != NULL; req = next) {
            next = req->next;
            handed_over++;
            if (opt_block) {
                answer_waiter(req);
                continue;
            }
            atomic_store(&req->answered, true);
            if (answerq_push(req->queue, &req->item)) {
                atomic_fetch_sub(&suspended, 1);
                MHD_resume_connection(req->conn);
            }
        }
        pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

static struct answerq *this_thread_queue(void)
{
    static _Thread_local struct answerq q;
    return &q;
}

static struct request *request_of(struct answerq_item *item)
{
    return ANSWERQ_ENTRY(item, struct request, item);
}

/* httpd.c's answer_queued: the whole stack, lines first, then the others resumed. */
static void answer_queued(struct answerq *q)
{
    struct answerq_item *list = answerq_take(q);

    if (opt_log) {
        log_batch_begin();
        for (struct answerq_item *it = list; it != NULL; it = it->next) {
            if (!request_of(it)->logged)
                log_request(request_of(it));
        }
        log_batch_end();
    }
    for (struct answerq_item *it = list, *next; it != NULL; it = next) {
        next = it->next;
        if (!it->leader) {
            atomic_fetch_sub(&suspended, 1);
            MHD_resume_connection(request_of(it)->conn);
        }
    }
}

/* --verify: what httpd.c's process does before it hands the message over. */
static bool verify(struct request *req)
{
    struct msg m = {0};
    const char *why = NULL;
    bool ok = false;

    if (msg_parse(req->body, req->len, &m, &why) < 0)
        return false;
    if (keyring_verify(keys, &m) >= 0 &&
        payresult_from_msg(&m, PAYRESULT_NOTIFY, BENCH_OID_PARTNER, &req->result, &why) ==
            PAYRESULT_ACCEPTED)
        ok = req->verified = true;
    msg_finish(&m);
    return ok;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct request *req = *con_cls;

    if (req == NULL) {
        req = calloc(1, steps ? sizeof(*req) : offsetof(struct request, conn));
        if (req == NULL)
            return MHD_NO;
        *con_cls = req;
        if (opt_log)
            listener_peer_address(conn, req->client, sizeof(req->client));
        return MHD_YES;
    }
    if (opt_suspend && atomic_load(&req->answered)) {
        answer_queued(req->queue);
        return MHD_queue_response(conn, MHD_HTTP_OK, ack);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (req->body == NULL && (req->body = malloc(MAX_BODY + 1)) == NULL)
            return MHD_NO;
        if (n > MAX_BODY - req->len)
            n = MAX_BODY - req->len;
        memcpy(req->body + req->len, upload_data, n);
        req->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (keys != NULL && !verify(req))
        return MHD_queue_response(conn, MHD_HTTP_BAD_REQUEST, bad);
    if (!opt_suspend && !opt_block) {
        if (opt_log)
            log_request(req);
        return MHD_queue_response(conn, MHD_HTTP_OK, ack);
    }
    /* Suspend before handing over: the other thread may resume before we return. Once stopping,
     * nothing is suspended any more (libmicrohttpd must not be stopped with a suspended
     * connection) nor waits (the other thread is gone), as writer_submit refuses jobs then. */
    pthread_mutex_lock(&lock);
    if (stopping) {
        pthread_mutex_unlock(&lock);
        return MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, bad);
    }
    req->next = NULL;
    if (opt_suspend) {
        req->conn = conn;
        req->queue = this_thread_queue();
        atomic_fetch_add(&suspended, 1);
        MHD_suspend_connection(conn);
    }
    if (tail != NULL)
        tail->next = req;
    else
        head = req;
    tail = req;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    if (opt_suspend)
        return MHD_YES;
    wait_answered(req);
    if (opt_log)
        log_request(req);
    return MHD_queue_response(conn, MHD_HTTP_OK, ack);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct request *req = *con_cls;

    if (req == NULL)
        return;
    /* A client that left once resumed, before its answer: the others on its stack are still
     * suspended, and only this takes them (httpd.c's completed does the same). */
    if (opt_suspend && req->queue != NULL)
        answer_queued(req->queue);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

/* body: a string literal (its type is char[], libmicrohttpd's parameter is not const). */
static struct MHD_Response *response(char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_PERSISTENT);
    if (r != NULL &&
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE) != MHD_YES) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: bench-ceiling [--suspend | --block] [--verify KEYFILE] [--log] [PORT]\n");
    return 2;
}

int main(int argc, char **argv)
{
    unsigned port = 0;
    const char *keyfile = NULL;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    pthread_t resumer;
    sigset_t set;
    int sig = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--suspend") == 0)
            opt_suspend = true;
        else if (strcmp(argv[i], "--block") == 0)
            opt_block = true;
        else if (strcmp(argv[i], "--log") == 0)
            opt_log = true;
        else if (strcmp(argv[i], "--verify") == 0 && i + 1 < argc)
            keyfile = argv[++i];
        else if (argv[i][0] >= '0' && argv[i][0] <= '9')
            port = (unsigned)strtoul(argv[i], NULL, 10);
        else
            return usage();
    }
    if (opt_suspend && opt_block)
        return usage();
    if (keyfile != NULL) {
        struct keyset ks = {0};
        char err[256];
        if (keys_load_set(keyfile, &ks, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench-ceiling: %s\n", err);
            return 1;
        }
        keys = keyring_create(&ks);
        if (keys == NULL)
            return 1;
    }
    if (opt_log)
        log_init();
    steps = opt_suspend || opt_block || opt_log || keys != NULL;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    ack = response(ACK_BODY);
    bad = response(BAD_BODY);
    if (ack == NULL || bad == NULL)
        return 1;
    if (opt_suspend)
        flags |= MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    if (opt_block) /* libmicrohttpd 0.9.75: no epoll, no thread pool with a thread per connection */
        flags = (flags & ~(unsigned)MHD_USE_EPOLL) | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    if ((opt_suspend || opt_block) && pthread_create(&resumer, NULL, resumer_main, NULL) != 0)
        return 1;
    /* libmicrohttpd warns of a pool size with a thread per connection, even of 1; the item
     * that may be MHD_OPTION_END (which ends the array) is the last */
    const struct MHD_OptionItem options[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL},
        {opt_block ? MHD_OPTION_END : MHD_OPTION_THREAD_POOL_SIZE, threads > 0 ? threads : 1, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, answer, NULL,
                                            MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "bench-ceiling: cannot listen on port %u\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("port=%u\n", di != NULL ? (unsigned)di->port : port);
    fflush(stdout);
    while (sigwait(&set, &sig) != 0)
        ;
    if (opt_suspend || opt_block) {
        /* libmicrohttpd must not be stopped with a connection suspended, nor (--block) with a
         * connection's thread waiting for the other thread: that thread answers or resumes what
         * it holds, and no request is handed over after (2 s at most). */
        pthread_mutex_lock(&lock);
        stopping = true;
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&lock);
        pthread_join(resumer, NULL);
        printf("handed_over=%lu turns=%lu\n", handed_over, turns);
        fflush(stdout);
    }
    if (opt_suspend) {
        for (int i = 0; i < 200 && atomic_load(&suspended) > 0; i++)
            nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        /* and the HTTP threads take the resumed connections back (their next turn) */
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    MHD_stop_daemon(d);
    MHD_destroy_response(ack);
    MHD_destroy_response(bad);
    if (keys != NULL)
        keyring_destroy(keys);
    return 0;
}
