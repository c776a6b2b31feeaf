/*
 * Throttled refusal lines (throttle.h says what is counted and written).
 *
 * A fixed table: THROTTLE_SOURCES entries for (kind, source) pairs and THROTTLE_OTHERS for
 * (kind, "other"), the pairs that found the first part full. An entry lives for one window;
 * when it is over, the "more like this" line is written (by the next line of that pair, or by
 * throttle_flush) and the entry is free again. One mutex guards the table; lines are written
 * under it, which only orders refusal lines among themselves.
 */
#include "throttle.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

#define THROTTLE_SOURCES 64
#define THROTTLE_OTHERS  16
#define ENTRIES          (THROTTLE_SOURCES + THROTTLE_OTHERS)

struct entry {
    const char *kind; /* NULL: free */
    char source[48];
    int64_t start; /* monotonic ms */
    unsigned lines;
    unsigned long long more;
};

struct throttle {
    const char *event;
    pthread_mutex_t lock;
    struct entry e[ENTRIES];
    unsigned long long lost; /* counted in no entry: more kinds at once than THROTTLE_OTHERS */
    int64_t lost_since;
};

struct throttle *throttle_create(const char *event)
{
    struct throttle *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->event = event;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

/* Writes the entry's "more like this" line if it held lines back, and frees it. */
static void finish(struct throttle *t, struct entry *e)
{
    if (e->kind != NULL && e->more > 0)
        log_kv(LOG_LEVEL_WARNING, t->event, "kind", e->kind, "remote", e->source, "more_like_this",
               log_int((long long)e->more), "seconds", log_int(THROTTLE_WINDOW_MS / 1000), NULL);
    e->kind = NULL;
}

static bool over(const struct entry *e, int64_t now)
{
    return now - e->start >= THROTTLE_WINDOW_MS;
}

/* The entry of (kind, source) in e[from, to), or a free one made so; NULL when all are busy. */
static struct entry *entry_for(struct throttle *t, size_t from, size_t to, const char *kind,
                               const char *source, int64_t now)
{
    struct entry *spare = NULL;

    for (size_t i = from; i < to; i++) {
        struct entry *e = &t->e[i];
        if (e->kind != NULL && strcmp(e->kind, kind) == 0 && strcmp(e->source, source) == 0) {
            if (over(e, now)) {
                finish(t, e);
                spare = e;
                break;
            }
            return e;
        }
        if (spare == NULL && (e->kind == NULL || over(e, now)))
            spare = e;
    }
    if (spare == NULL)
        return NULL;
    finish(t, spare);
    spare->kind = kind;
    snprintf(spare->source, sizeof(spare->source), "%s", source);
    spare->start = now;
    spare->lines = 0;
    spare->more = 0;
    return spare;
}

bool throttle_allow(struct throttle *t, const char *kind, const char *source)
{
    int64_t now = time_mono_ms();
    bool allow = false;

    pthread_mutex_lock(&t->lock);
    struct entry *e = entry_for(t, 0, THROTTLE_SOURCES, kind, source ? source : "", now);
    if (e == NULL)
        e = entry_for(t, THROTTLE_SOURCES, ENTRIES, kind, "other", now);
    if (e == NULL) {
        if (t->lost == 0)
            t->lost_since = now;
        t->lost++;
    } else if (e->lines < THROTTLE_BURST) {
        e->lines++;
        allow = true;
    } else {
        e->more++;
    }
    pthread_mutex_unlock(&t->lock);
    return allow;
}

static void flush(struct throttle *t, bool all)
{
    int64_t now = time_mono_ms();

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < ENTRIES; i++) {
        if (t->e[i].kind != NULL && (all || over(&t->e[i], now)))
            finish(t, &t->e[i]);
    }
    if (t->lost > 0 && (all || now - t->lost_since >= THROTTLE_WINDOW_MS)) {
        log_kv(LOG_LEVEL_WARNING, t->event, "kind", "any", "remote", "other", "more_like_this",
               log_int((long long)t->lost), "seconds", log_int(THROTTLE_WINDOW_MS / 1000), NULL);
        t->lost = 0;
    }
    pthread_mutex_unlock(&t->lock);
}

void throttle_flush(struct throttle *t)
{
    flush(t, false);
}

void throttle_destroy(struct throttle *t)
{
    if (t == NULL)
        return;
    flush(t, true);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
