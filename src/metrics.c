/*
 * Histograms and the Prometheus text format. Observations come from the writer thread (and any
 * other), rendering from the admin thread: every field is an atomic, so neither side locks. A
 * rendering may see an observation in its bucket but not yet in the sum; Prometheus tolerates
 * that, and _count is computed from the buckets so that it always equals the +Inf bucket.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, size_t n)
{
    if (n > METRICS_MAX_BOUNDS)
        n = METRICS_MAX_BOUNDS;
    h->nbounds = n;
    for (size_t i = 0; i < n; i++)
        h->bounds[i] = bounds[i];
    for (size_t i = 0; i <= METRICS_MAX_BOUNDS; i++)
        atomic_init(&h->buckets[i], 0);
    atomic_init(&h->sum_micro, 0);
}

void metrics_histogram_observe(struct metrics_histogram *h, double v)
{
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    if (v > 0)
        atomic_fetch_add_explicit(&h->sum_micro, (unsigned long long)(v * 1e6 + 0.5),
                                  memory_order_relaxed);
}

uint64_t metrics_histogram_count(const struct metrics_histogram *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= h->nbounds; i++)
        n += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    return n;
}

/* ---- text -------------------------------------------------------------------------------- */

void metrics_text_init(struct metrics_text *t)
{
    memset(t, 0, sizeof(*t));
}

void metrics_text_finish(struct metrics_text *t)
{
    free(t->data);
    memset(t, 0, sizeof(*t));
}

__attribute__((format(printf, 2, 3))) static void append(struct metrics_text *t, const char *fmt,
                                                         ...)
{
    va_list ap;

    if (t->failed)
        return;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        int n = vsnprintf(t->data ? t->data + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(t->data, cap);
        if (p == NULL) {
            t->failed = true;
            return;
        }
        t->data = p;
        t->cap = cap;
    }
}

void metrics_family(struct metrics_text *t, const char *name, const char *type, const char *help)
{
    append(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample_u64(struct metrics_text *t, const char *name, const char *labels, uint64_t v)
{
    if (labels != NULL)
        append(t, "%s{%s} %" PRIu64 "\n", name, labels, v);
    else
        append(t, "%s %" PRIu64 "\n", name, v);
}

void metrics_sample(struct metrics_text *t, const char *name, const char *labels, double v)
{
    /* %.17g round-trips a double; Prometheus parses it as Go's ParseFloat does. */
    if (labels != NULL)
        append(t, "%s{%s} %.17g\n", name, labels, v);
    else
        append(t, "%s %.17g\n", name, v);
}

void metrics_gauge_u64(struct metrics_text *t, const char *name, const char *help, uint64_t v)
{
    metrics_family(t, name, "gauge", help);
    metrics_sample_u64(t, name, NULL, v);
}

void metrics_gauge(struct metrics_text *t, const char *name, const char *help, double v)
{
    metrics_family(t, name, "gauge", help);
    metrics_sample(t, name, NULL, v);
}

void metrics_histogram_render(struct metrics_text *t, const char *name, const char *help,
                              const struct metrics_histogram *h)
{
    uint64_t cumulative = 0;

    metrics_family(t, name, "histogram", help);
    for (size_t i = 0; i < h->nbounds; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        append(t, "%s_bucket{le=\"%.9g\"} %" PRIu64 "\n", name, h->bounds[i], cumulative);
    }
    cumulative += atomic_load_explicit(&h->buckets[h->nbounds], memory_order_relaxed);
    append(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
    append(t, "%s_sum %.9g\n", name,
           (double)atomic_load_explicit(&h->sum_micro, memory_order_relaxed) / 1e6);
    append(t, "%s_count %" PRIu64 "\n", name, cumulative);
}
