/*
 * Logging: one logfmt line per event on stderr (design.md, logs contract). When stderr is the
 * journal (JOURNAL_STREAM is set by systemd), each line starts with the syslog priority prefix
 * "<N>" so that journald records the right priority. Any thread may log: a line is built in a
 * local buffer and written with one write(2), which keeps lines whole.
 */
#include "log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static atomic_int current_level = LOG_LEVEL_INFO;
static bool journal_prefix;

void log_init(void)
{
    journal_prefix = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&current_level);
}

static const struct {
    const char *name;
    enum log_level level;
} level_names[] = {
    {"error", LOG_LEVEL_ERROR},
    {"warning", LOG_LEVEL_WARNING},
    {"info", LOG_LEVEL_INFO},
    {"debug", LOG_LEVEL_DEBUG},
};

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i].name) == 0) {
            *out = level_names[i].level;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (level_names[i].level == level)
            return level_names[i].name;
    }
    return "info";
}

const char *log_int(long long v)
{
    static _Thread_local char ring[8][24];
    static _Thread_local unsigned next;
    char *buf = ring[next++ % 8];
    snprintf(buf, sizeof(ring[0]), "%lld", v);
    return buf;
}

struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
    /* Keep room for the newline; a line that would overflow is cut, never split. */
    size_t room = sizeof(l->buf) - 1 - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

static bool needs_quotes(const char *v)
{
    if (*v == '\0')
        return true;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7f)
            return true;
    }
    return false;
}

/* Values are quoted when they hold a space, '=', '"', a backslash or a control character;
 * control characters are escaped so that a hostile value cannot forge a second line. */
static void put_value(struct line *l, const char *v)
{
    if (!needs_quotes(v)) {
        put_str(l, v);
        return;
    }
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(l, esc, 2);
        } else if (*p == '\n') {
            put(l, "\\n", 2);
        } else if (*p < ' ' || *p == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", *p);
            put_str(l, esc);
        } else {
            put(l, (const char *)p, 1);
        }
    }
    put(l, "\"", 1);
}

void log_kvv(enum log_level level, const char *event, va_list ap)
{
    if ((int)level > atomic_load(&current_level))
        return;

    struct line l;
    l.len = 0;
    if (journal_prefix) {
        char prefix[8];
        snprintf(prefix, sizeof(prefix), "<%d>", (int)level);
        put_str(&l, prefix);
    }
    put_str(&l, "level=");
    put_str(&l, log_level_name(level));
    put_str(&l, " event=");
    put_value(&l, event);

    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        if (value == NULL)
            continue;
        put(&l, " ", 1);
        put_str(&l, key);
        put(&l, "=", 1);
        put_value(&l, value);
    }
    l.buf[l.len++] = '\n';

    /* stderr may be a pipe to journald: a short write is retried, an error is dropped (there is
     * nowhere left to report it). */
    size_t off = 0;
    while (off < l.len) {
        ssize_t n = write(STDERR_FILENO, l.buf + off, l.len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
}

void log_kv(enum log_level level, const char *event, ...)
{
    va_list ap;
    va_start(ap, event);
    log_kvv(level, event, ap);
    va_end(ap);
}
