#ifndef LIANPAY_LOG_H
#define LIANPAY_LOG_H

#include <stdarg.h>

/* Severity, numbered as syslog priorities so that the journald prefix is the value itself. */
enum log_level {
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_WARNING = 4,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

/* Reads JOURNAL_STREAM once: when stderr is the journal, lines get a "<N>" priority prefix. */
void log_init(void);

/* Lines less severe than level are dropped. Thread-safe. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warning", "error". Returns 0, or -1 when s is none of them. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

/*
 * Writes one logfmt line to stderr: "level=L event=EVENT k1=v1 k2=v2 ...".
 * The variable part is pairs of (const char *key, const char *value) ended by a NULL key;
 * a pair whose value is NULL is left out. Values are quoted when they need it.
 * The line is written with a single write(2), so lines from threads never interleave.
 */
void log_kv(enum log_level level, const char *event, ...) __attribute__((sentinel));
void log_kvv(enum log_level level, const char *event, va_list ap);

/* Formats an integer into a thread-local ring of buffers, for use as a log_kv value. */
const char *log_int(long long v);

#endif
