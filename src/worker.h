#ifndef LIANPAY_WORKER_H
#define LIANPAY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct writer;
struct writer_job;

/*
 * What the reconcile and submit threads share: a stop request that wakes their sleeps, the
 * writer job each hands over and waits for, a heartbeat for the watchdog, and the rate limit of
 * their requests to LianLian.
 */
struct worker {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* stop requests and writer completions */
    bool stopping;
    bool job_done;
    atomic_llong heartbeat; /* monotonic ms of the loop's last turn */
    int64_t next_slot;      /* monotonic ms before which no request may start */
    int max_rate;           /* requests per second, >= 1 */
};

void worker_init(struct worker *w, int max_rate);
void worker_finish(struct worker *w);
/* Sleeps until the monotonic time `until` or a stop request. Returns true when stopping. */
bool worker_sleep_until(struct worker *w, int64_t until);
/* Waits for the next request slot (max_rate a second). Returns true when stopping. */
bool worker_rate_wait(struct worker *w);
/* Hands job to the writer and waits for it. Returns the job's status (0 committed), -1 when the
 * writer refused it. */
int worker_write(struct worker *w, struct writer *wr, struct writer_job *job);
/* Asks the thread to stop: its sleeps return true from now on. */
void worker_stop(struct worker *w);

#endif
