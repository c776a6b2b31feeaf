/*
 * bench-logline: the cost of one log line, as the daemon writes one per notification (issue 14,
 * item 6; issue 16 counts the system calls per message). Writes N copies of a notify line to
 * stderr and prints the CPU and wall time per line. Run it with stderr on a file or /dev/null:
 *
 *     bench-logline 200000 2>/dev/null
 *
 * Under systemd (stderr the journal stream) it measures the journal path instead. With "build" as
 * second argument it measures building the journal's entry (log_journal_build), which is what the
 * journal path adds before its one sendmsg; that needs no journal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/log.h"

static double seconds(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (n <= 0) {
        fprintf(stdout, "usage: bench-logline [LINES [build]]\n");
        return 2;
    }
    int build = argc > 2 && strcmp(argv[2], "build") == 0;
    static struct log_journal_entry e;
    log_init();
    double wall = seconds(CLOCK_MONOTONIC), cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < n; i++) {
        if (build)
            log_journal_build(&e, LOG_LEVEL_INFO, "notify", "status", "200", "no_order",
                              "P20261202000123", "result_pay", "SUCCESS", "money_order", "49.65",
                              "outcome", "applied", "previous", "none", "remote", "127.0.0.1",
                              NULL);
        else
            log_kv(LOG_LEVEL_INFO, "notify", "status", "200", "no_order", "P20261202000123",
                   "result_pay", "SUCCESS", "money_order", "49.65", "outcome", "applied",
                   "previous", "none", "remote", "127.0.0.1", NULL);
    }
    wall = seconds(CLOCK_MONOTONIC) - wall;
    cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    fprintf(stdout, "%ld lines: %.0f ns CPU, %.0f ns wall per line\n", n, cpu * 1e9 / (double)n,
            wall * 1e9 / (double)n);
    return 0;
}
