#ifndef LIANPAY_LOG_H
#define LIANPAY_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

/* Severity, numbered as syslog priorities so that the journal's PRIORITY= is the value itself. */
enum log_level {
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_WARNING = 4,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

/*
 * Decides once where lines go. When stderr is the journal (log_journal_stream_is: JOURNAL_STREAM
 * names stderr's device and inode), each line is sent to the journal through libsystemd with
 * structured fields (log_journal_build); when the journal's socket is missing or does not take
 * the entry, the line is written to stderr after its "<N>" priority prefix. Otherwise lines go to
 * stderr and start with "ts=" (RFC 3339, UTC, ms).
 */
void log_init(void);

/* Whether fd is the stream JOURNAL_STREAM names, as systemd.exec(5) says to tell: the variable
 * holds "DEVICE:INODE" (decimal) and both equal fstat(fd)'s st_dev and st_ino. False when
 * journal_stream is NULL or malformed, or fd cannot be examined. */
bool log_journal_stream_is(const char *journal_stream, int fd);

/* Lines less severe than level are dropped. Thread-safe. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warning", "error". Returns 0, or -1 when s is none of them. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

/*
 * Writes one logfmt line: "ts=T level=L event=EVENT k1=v1 k2=v2 ..." (no "ts=" on the journal,
 * which records the time itself).
 * The variable part is pairs of (const char *key, const char *value) ended by a NULL key;
 * a pair whose value is NULL is left out. Values are quoted when they need it (a space, '=', a
 * quote, a backslash, a control or any byte past ASCII), and inside the quotes '"', '\\', the
 * C0 and C1 controls, DEL, bytes that are not UTF-8, U+2028/U+2029, the bidirectional controls,
 * invisible formatting characters and U+2026 are escaped as Go does (\n, \xNN, \uNNNN). A value
 * that was cut ends with U+2026 "…" inside its quotes. The line is at most 4,096 bytes, always
 * ends with its newline and keeps every field: values that would not fit are cut, longest first.
 * The line is written with a single write(2) (or sent with a single sd_journal_sendv), so
 * lines from threads never interleave.
 */
void log_kv(enum log_level level, const char *event, ...) __attribute__((sentinel));
void log_kvv(enum log_level level, const char *event, va_list ap);

/*
 * Between log_batch_begin and log_batch_end (on the same thread; they nest), the lines this thread
 * writes to stderr are kept in a buffer of the thread's and written by log_batch_end with one
 * write(2), whole lines in the order they were made (a batch larger than the buffer is written
 * in several, each of whole lines). Lines sent to the journal are sent at once, one entry each.
 * For a caller that makes many lines in a row and must have them all written before it goes on
 * (httpd.c: the lines of a writer batch, written before their answers go out).
 */
void log_batch_begin(void);
void log_batch_end(void);

/* The journal entry of one line: MESSAGE= the line (without "ts=" or its newline), PRIORITY=,
 * MESSAGE_ID= (log_message_id; left out for an event without one), EVENT=, NO_ORDER= and
 * OUTCOME= (the values of no_order= and outcome= as the line writes them, without their quotes;
 * left out when the line has none) and SYSLOG_IDENTIFIER=. */
#define LOG_LINE_MAX       4096
#define LOG_JOURNAL_FIELDS 7
struct log_journal_entry {
    struct iovec iov[LOG_JOURNAL_FIELDS];
    int n;
    char text[2 * LOG_LINE_MAX + 256]; /* what iov points into */
};

/* Builds into *e the journal entry log_kv would send for these arguments (on the journal or not).
 * Returns e->n. For the tests; log_kv sends the same through sd_journal_sendv. */
int log_journal_build(struct log_journal_entry *e, enum log_level level, const char *event, ...)
    __attribute__((sentinel));

/* The journal's MESSAGE_ID (32 hex digits, fixed once per event name; the man page lists them)
 * of event, or NULL when it has none. */
const char *log_message_id(const char *event);

/*
 * Marks v as a value an outsider chose (a refused message's field, an unsigned answer's code), to
 * be used as an argument of the log_kv call being made on this thread: such a value takes at most
 * LOG_OUTSIDE_MAX bytes of the line, quotes included, and is cut with "…" beyond. Returns v (NULL
 * stays NULL). At most LOG_OUTSIDE_PER_LINE per line.
 */
#define LOG_OUTSIDE_MAX      128
#define LOG_OUTSIDE_PER_LINE 8
const char *log_outside(const char *v);

/* The length of the multi-byte UTF-8 sequence at s (at most len bytes, s[0] >= 0x80) and its
 * code point, or 0 when the bytes are not a valid sequence: overlong forms, surrogates and values
 * past U+10FFFF are not. */
size_t log_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* Writes s (len bytes, NULs included) to out as a terminal may show it: escaped as log values are
 * (above), except that quotes, backslashes and U+2026 stay as they are. For everything lianpayctl
 * prints that came from outside. Returns 0, or -1 when out has an error. */
int log_print_escaped(FILE *out, const char *s, size_t len);

/* Formats an integer into a thread-local ring of buffers, for use as a log_kv value. */
const char *log_int(long long v);

#endif
