#ifndef LIANPAY_TIMEUTIL_H
#define LIANPAY_TIMEUTIL_H

#include <pthread.h>
#include <stdint.h>

/* Length of an ISO-8601 UTC timestamp with milliseconds, "2026-11-22T08:30:00.123Z", plus NUL. */
#define TIME_ISO_LEN 25

/* Wall-clock time in milliseconds since the epoch. */
int64_t time_now_ms(void);
/* Monotonic clock in milliseconds, for timeouts and rates. */
int64_t time_mono_ms(void);

/* Initialises *cond so that pthread_cond_timedwait's deadlines are on the monotonic clock
 * (time_mono_ms, clock_gettime(CLOCK_MONOTONIC)): a wall-clock step then neither cuts a wait short
 * nor stretches it. Destroy with pthread_cond_destroy. Returns 0, or an error number. */
int time_cond_init(pthread_cond_t *cond);

/* Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into buf[TIME_ISO_LEN]. */
void time_iso(int64_t ms, char *buf);

/* The same string, with the date and time formatted once a second per thread and only the
 * milliseconds per call (gmtime_r and snprintf are most of time_iso's cost): for what formats
 * the time of every request or line. */
void time_iso_cached(int64_t ms, char *buf);

/* Parses the format above (also without milliseconds). Returns 0, or -1. */
int time_parse_iso(const char *s, int64_t *ms);

/* Parses a duration: a whole number with an optional s/m/h/d suffix (no suffix = seconds).
 * Returns 0 with *seconds set, or -1 (empty, negative, overflow, unknown suffix). */
int time_parse_duration(const char *s, int64_t *seconds);

#endif
