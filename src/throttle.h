#ifndef LIANPAY_THROTTLE_H
#define LIANPAY_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A limit on log lines about refusals, so that a flood of them cannot drown the lines that
 * matter (journald drops a service's lines past its rate limit, whatever they are). Lines are
 * counted per kind (a fixed label such as "bad_signature") and source address: the first
 * THROTTLE_BURST of a window of THROTTLE_WINDOW_MS are written, the rest are counted, and once
 * the window is over one warning says how many more there were:
 *
 *   level=warning event=EVENT kind=bad_signature remote=198.51.100.7 more_like_this=1995
 *   seconds=10
 *
 * Sources beyond THROTTLE_SOURCES at once share one entry per kind (remote=other), so the
 * number of lines is bounded however many addresses send. Thread-safe.
 */
#define THROTTLE_WINDOW_MS 10000
#define THROTTLE_BURST     5

struct throttle;

/* event names the "more like this" lines. Returns NULL when out of memory. */
struct throttle *throttle_create(const char *event);

/* True when a line of this kind from this source may be written now; otherwise it is counted
 * for the "more like this" line. kind must be a string that outlives the throttle (a label). */
bool throttle_allow(struct throttle *t, const char *kind, const char *source);

/* Writes the "more like this" lines of windows that are over. Call every second or so. */
void throttle_flush(struct throttle *t);

/* Flushes what is counted, then frees. NULL is accepted. */
void throttle_destroy(struct throttle *t);

#endif
