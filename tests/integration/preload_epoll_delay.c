/*
 * LD_PRELOAD for test_lifecycle's stop test: makes libmicrohttpd's shutdown race certain.
 *
 * In libmicrohttpd 0.9.75 MHD_quiesce_daemon(), on the thread that stops the daemon, removes
 * the listening socket from each pool thread's epoll set while that thread may be removing it
 * itself; the loser's epoll_ctl fails and libmicrohttpd aborts ("Failed to remove listen FD from
 * epoll set"). Under load that happens about once in a thousand stops. Delaying every
 * EPOLL_CTL_DEL made by the main thread (the daemon's only stopping thread) by 50 ms gives the
 * pool threads all the time they need to win: a daemon that stops that way then aborts at
 * nearly every stop, and one that does not is unaffected.
 */
#include <dlfcn.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

typedef int (*epoll_ctl_fn)(int, int, int, struct epoll_event *);

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    static epoll_ctl_fn real;
    if (real == NULL) {
        /* POSIX's way to turn dlsym's object pointer into a function pointer. */
        void *sym = dlsym(RTLD_NEXT, "epoll_ctl");
        memcpy(&real, &sym, sizeof(real));
    }
    if (op == EPOLL_CTL_DEL && gettid() == getpid()) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return real(epfd, op, fd, event);
}
