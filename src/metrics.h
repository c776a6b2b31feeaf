#ifndef LIANPAY_METRICS_H
#define LIANPAY_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Histograms that any thread updates with atomics, and the Prometheus text exposition format
 * (version 0.0.4) the admin listener serves. Counters are plain atomics in the module that owns
 * them; this file only knows how to print them.
 */

#define METRICS_MAX_BOUNDS 16

/* Non-cumulative buckets (the last one is +Inf); cumulated when rendered. */
struct metrics_histogram {
    size_t nbounds;
    double bounds[METRICS_MAX_BOUNDS]; /* upper bounds, ascending, in the rendered unit */
    atomic_ullong buckets[METRICS_MAX_BOUNDS + 1];
    atomic_ullong sum_micro; /* sum of observations, in millionths of the unit */
};

/* Sets the bucket bounds (at most METRICS_MAX_BOUNDS, ascending) and zeroes the counts. */
void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, size_t n);

/* Records one observation. Lock-free; safe from any thread. */
void metrics_histogram_observe(struct metrics_histogram *h, double v);

/* The number of observations so far (the sum of the buckets). */
uint64_t metrics_histogram_count(const struct metrics_histogram *h);

/* A growing text buffer for one exposition. After an allocation failure every append is a
 * no-op and failed is set: the caller answers 500 rather than a truncated page. */
struct metrics_text {
    char *data;
    size_t len, cap;
    bool failed;
};

void metrics_text_init(struct metrics_text *t);
void metrics_text_finish(struct metrics_text *t);

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void metrics_family(struct metrics_text *t, const char *name, const char *type, const char *help);

/* One sample: "name{labels} value". labels is the inside of the braces (`reason="x"`) or NULL.
 * Label values are the program's own fixed words, never data from a request. */
void metrics_sample_u64(struct metrics_text *t, const char *name, const char *labels, uint64_t v);
void metrics_sample(struct metrics_text *t, const char *name, const char *labels, double v);

/* A family of one unlabelled gauge sample: HELP, TYPE and the value. */
void metrics_gauge_u64(struct metrics_text *t, const char *name, const char *help, uint64_t v);
void metrics_gauge(struct metrics_text *t, const char *name, const char *help, double v);

/* A whole histogram family: HELP, TYPE, cumulative _bucket lines with le, _sum and _count. */
void metrics_histogram_render(struct metrics_text *t, const char *name, const char *help,
                              const struct metrics_histogram *h);

#endif
