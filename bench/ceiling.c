/*
 * bench-ceiling: the benchmark's ceiling. A libmicrohttpd responder with the daemon's thread
 * model (internal thread pool of one thread per CPU, epoll) that reads each POST body into a
 * buffer, as the daemon does, and answers LianLian's acknowledgement without looking at it: no
 * parsing, no signature check, no database. What the daemon achieves is compared with this, on
 * the same machine, with the same bodies and connections, in the same run.
 *
 * Usage: bench-ceiling [PORT]  (0 or nothing: any free port). Prints "port=N" once listening,
 * serves until SIGTERM or SIGINT.
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACK_BODY     "{\"ret_code\":\"0000\",\"ret_msg\":\"交易成功\"}"
#define MAX_BODY     16384
#define CONTENT_TYPE "application/json;charset=utf-8"

struct request {
    char *body;
    size_t len;
};

static struct MHD_Response *ack;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct request *req = *con_cls;

    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        if (req == NULL)
            return MHD_NO;
        *con_cls = req;
        return MHD_YES;
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
    return MHD_queue_response(conn, MHD_HTTP_OK, ack);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct request *req = *con_cls;

    if (req == NULL)
        return;
    free(req->body);
    free(req);
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    unsigned port = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 0;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    ack =
        MHD_create_response_from_buffer(strlen(ACK_BODY), (void *)ACK_BODY, MHD_RESPMEM_PERSISTENT);
    if (ack == NULL ||
        MHD_add_response_header(ack, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE) != MHD_YES)
        return 1;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, answer, NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(threads > 0 ? threads : 1),
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)32 * 1024, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "bench-ceiling: cannot listen on port %u\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("port=%u\n", di != NULL ? (unsigned)di->port : port);
    fflush(stdout);
    while (sigwait(&set, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    MHD_destroy_response(ack);
    return 0;
}
