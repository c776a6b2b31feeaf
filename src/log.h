#ifndef LIANPAY_LOG_H
#define LIANPAY_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

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
 * a pair whose value is NULL is left out. Values are quoted when they need it (a space, '=', a
 * quote, a backslash, a control or any byte past ASCII), and inside the quotes '"', '\\', the
 * C0 and C1 controls, DEL, bytes that are not UTF-8, U+2028/U+2029, the bidirectional controls,
 * invisible formatting characters and U+2026 are escaped as Go does (\n, \xNN, \uNNNN). A value
 * that was cut ends with U+2026 "…" inside its quotes. The line is at most 4,096 bytes, always
 * ends with its newline and keeps every field: values that would not fit are cut, longest first.
 * The line is written with a single write(2), so lines from threads never interleave.
 */
void log_kv(enum log_level level, const char *event, ...) __attribute__((sentinel));
void log_kvv(enum log_level level, const char *event, va_list ap);

/*
 * Marks v as a value an outsider chose (a refused message's field, an unsigned answer's code), to
 * be used as an argument of the log_kv call being made on this thread: such a value takes at most
 * LOG_OUTSIDE_MAX bytes of the line, quotes included, and is cut with "…" beyond. Returns v (NULL
 * stays NULL). At most LOG_OUTSIDE_PER_LINE per line.
 */
#define LOG_OUTSIDE_MAX      128
#define LOG_OUTSIDE_PER_LINE 8
const char *log_outside(const char *v);

/* Writes s (len bytes, NULs included) to out as a terminal may show it: escaped as log values are
 * (above), except that quotes, backslashes and U+2026 stay as they are. For everything lianpayctl
 * prints that came from outside. Returns 0, or -1 when out has an error. */
int log_print_escaped(FILE *out, const char *s, size_t len);

/* Formats an integer into a thread-local ring of buffers, for use as a log_kv value. */
const char *log_int(long long v);

#endif
