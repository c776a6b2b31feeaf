/* The reconcile and submit threads' shared waiting (worker.h). */
#include "worker.h"

#include <time.h>

#include "timeutil.h"
#include "writer.h"

void worker_init(struct worker *w, int max_rate)
{
    pthread_mutex_init(&w->lock, NULL);
    time_cond_init(&w->wake);
    w->stopping = false;
    w->job_done = false;
    w->next_slot = 0;
    w->max_rate = max_rate > 0 ? max_rate : 1;
    atomic_store(&w->heartbeat, time_mono_ms());
}

void worker_finish(struct worker *w)
{
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
}

bool worker_sleep_until(struct worker *w, int64_t until)
{
    pthread_mutex_lock(&w->lock);
    while (!w->stopping && time_mono_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t left = until - time_mono_ms();
        if (left > 1000)
            left = 1000;
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        atomic_store(&w->heartbeat, time_mono_ms());
    }
    bool stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    return stopping;
}

bool worker_rate_wait(struct worker *w)
{
    int64_t now = time_mono_ms();
    if (w->next_slot < now)
        w->next_slot = now;
    int64_t slot = w->next_slot;
    w->next_slot += 1000 / w->max_rate;
    return worker_sleep_until(w, slot);
}

static void job_finished(struct writer_job *job)
{
    struct worker *w = job->ctx;
    pthread_mutex_lock(&w->lock);
    w->job_done = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

int worker_write(struct worker *w, struct writer *wr, struct writer_job *job)
{
    job->done = job_finished;
    job->ctx = w;
    w->job_done = false;
    if (writer_submit(wr, job) < 0)
        return -1;
    pthread_mutex_lock(&w->lock);
    while (!w->job_done)
        pthread_cond_wait(&w->wake, &w->lock);
    pthread_mutex_unlock(&w->lock);
    return job->status;
}

void worker_stop(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}
