/*
 * Logging: one logfmt line per event on stderr (design.md, logs contract). When stderr is the
 * journal (JOURNAL_STREAM is set by systemd), each line starts with the syslog priority prefix
 * "<N>" so that journald records the right priority. Any thread may log: a line is built in a
 * local buffer and written with one write(2), which keeps lines whole.
 *
 * Values reach the log from outside (a refused message's no_order, an unsigned answer's
 * ret_code), so a line must stay one true line whatever they hold: every character a reader or a
 * terminal could take for the end of a line, a control or a reordering is escaped (next_piece,
 * also what lianpayctl prints with), an outsider's value is cut at LOG_OUTSIDE_MAX, and a line
 * whose values would not fit has its longest values cut so that every field, and the closing
 * quote, is still there.
 */
#include "log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
/* More fields than any line has; more are left out. */
#define LOG_FIELDS_MAX 32

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

/* ---- escaping ------------------------------------------------------------------------------ */

/* The escape of a character, NUL-terminated; esc[0] == '\0' when it is written as it is. */
struct piece {
    size_t in; /* input bytes it stands for */
    char esc[12];
};

/* The length of the UTF-8 sequence at s (at most len bytes) and its code point, or 0 when the
 * bytes are not a valid sequence: overlong forms, surrogates and values past U+10FFFF are not. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char b = s[0];
    size_t n;
    uint32_t v, min;

    if (b >= 0xc2 && b <= 0xdf) {
        n = 2, v = b & 0x1f, min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3, v = b & 0x0f, min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4, v = b & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/*
 * Characters that are written escaped although they are valid UTF-8, because a reader of the log
 * or a terminal would act on them or not show them: the C1 controls (U+0085 NEL ends a line for
 * some readers, U+009B is an 8-bit CSI for a terminal), the line and paragraph separators, the
 * bidirectional controls and marks that reorder what is shown, the invisible formatting and
 * filler characters that hide a difference, the tag characters and the non-characters.
 */
static const struct {
    uint32_t first, last;
} escaped_ranges[] = {
    {0x0080, 0x009f}, {0x00ad, 0x00ad}, {0x061c, 0x061c}, {0x115f, 0x1160},   {0x180e, 0x180e},
    {0x200b, 0x200f}, {0x2028, 0x202e}, {0x2060, 0x206f}, {0x3164, 0x3164},   {0xfeff, 0xfeff},
    {0xffa0, 0xffa0}, {0xfff9, 0xfffb}, {0xfffe, 0xffff}, {0x1d173, 0x1d17a}, {0xe0000, 0xe007f},
};

static bool escaped_code_point(uint32_t cp)
{
    for (size_t i = 0; i < sizeof(escaped_ranges) / sizeof(escaped_ranges[0]); i++) {
        if (cp >= escaped_ranges[i].first && cp <= escaped_ranges[i].last)
            return true;
    }
    return false;
}

/*
 * How the character at s (len > 0 bytes left) is written. The escapes are Go's (strconv): \n,
 * \xNN for other C0 controls, DEL and every byte that is not valid UTF-8, \uNNNN and \UNNNNNNNN
 * for the characters above. In a log value (in_log) '"' and '\\' are escaped too, and so is U+2026
 * "…", which then only ever appears as the mark of a value that was cut.
 */
static struct piece next_piece(const unsigned char *s, size_t len, bool in_log)
{
    struct piece pc = {.in = 1};
    uint32_t cp = s[0];

    if (cp >= 0x80) {
        pc.in = utf8_decode(s, len, &cp);
        if (pc.in == 0) {
            pc.in = 1;
            snprintf(pc.esc, sizeof(pc.esc), "\\x%02x", s[0]);
        } else if (escaped_code_point(cp) || (in_log && cp == 0x2026)) {
            snprintf(pc.esc, sizeof(pc.esc), cp > 0xffff ? "\\U%08x" : "\\u%04x", (unsigned)cp);
        }
    } else if (cp == '\n') {
        snprintf(pc.esc, sizeof(pc.esc), "\\n");
    } else if (cp < 0x20 || cp == 0x7f) {
        snprintf(pc.esc, sizeof(pc.esc), "\\x%02x", (unsigned)cp);
    } else if (in_log && (cp == '"' || cp == '\\')) {
        snprintf(pc.esc, sizeof(pc.esc), "\\%c", (char)cp);
    }
    return pc;
}

static size_t piece_len(const struct piece *pc)
{
    return pc->esc[0] != '\0' ? strlen(pc->esc) : pc->in;
}

int log_print_escaped(FILE *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;

    while (len > 0) {
        struct piece pc = next_piece(p, len, false);
        if (pc.esc[0] != '\0')
            fputs(pc.esc, out);
        else
            fwrite(p, 1, pc.in, out);
        p += pc.in;
        len -= pc.in;
    }
    return ferror(out) ? -1 : 0;
}

/* ---- lines ------------------------------------------------------------------------------------
 */

struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
    /* Keep room for the newline. Only a line with more fields than fit could get here, which
     * fit_fields rules out; should it ever happen, the line is cut, never split. */
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

/* Values are quoted when they hold a space, '=', '"', a backslash, a control character or any
 * byte past ASCII: a reader that splits on Unicode's spaces then splits the same way as one that
 * knows only ASCII's. */
static bool needs_quotes(const char *v)
{
    if (*v == '\0')
        return true;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p >= 0x7f)
            return true;
    }
    return false;
}

/* The mark that ends a value that was cut (U+2026; a value's own "…" is written \u2026). */
#define CUT_MARK "\xe2\x80\xa6"
/* The least room a value can be given: its quotes and the mark. */
#define VALUE_MIN_ROOM (2 + sizeof(CUT_MARK) - 1)

struct field {
    const char *key;
    const char *value;
    size_t len; /* as written in full, quotes included */
    bool quoted;
    size_t room; /* what it may take; less than len: it is cut */
};

static void measure(struct field *f)
{
    const unsigned char *p = (const unsigned char *)f->value;
    size_t left = strlen(f->value);

    f->quoted = needs_quotes(f->value);
    if (!f->quoted) {
        f->len = left;
        return;
    }
    f->len = 2;
    while (left > 0) {
        struct piece pc = next_piece(p, left, true);
        f->len += piece_len(&pc);
        p += pc.in;
        left -= pc.in;
    }
}

/* Writes a field's value in at most f->room bytes: whole, or cut between two characters and
 * ending with the mark (a cut value is always quoted). */
static void put_value(struct line *l, const struct field *f)
{
    const unsigned char *p = (const unsigned char *)f->value;
    size_t left = strlen(f->value);
    bool cut = f->len > f->room;
    size_t budget = cut ? f->room - VALUE_MIN_ROOM : SIZE_MAX;

    if (!f->quoted && !cut) {
        put(l, f->value, left);
        return;
    }
    put(l, "\"", 1);
    while (left > 0) {
        struct piece pc = next_piece(p, left, true);
        size_t n = piece_len(&pc);
        if (n > budget)
            break;
        budget -= n;
        if (pc.esc[0] != '\0')
            put_str(l, pc.esc);
        else
            put(l, (const char *)p, pc.in);
        p += pc.in;
        left -= pc.in;
    }
    if (cut)
        put_str(l, CUT_MARK);
    put(l, "\"", 1);
}

/* Outsiders' values of the line being built on this thread (log_outside). */
static _Thread_local const char *outside[LOG_OUTSIDE_PER_LINE];
static _Thread_local unsigned n_outside;

const char *log_outside(const char *v)
{
    if (v != NULL && n_outside < LOG_OUTSIDE_PER_LINE)
        outside[n_outside++] = v;
    return v;
}

static bool is_outside(const char *v)
{
    for (unsigned i = 0; i < n_outside; i++) {
        if (outside[i] == v)
            return true;
    }
    return false;
}

/* The room of fields whose values, written whole, would take more than avail bytes
 * together: the largest common limit under which they fit, so that the short values stay whole
 * and only the longest are cut. */
static void fit_fields(struct field *f, size_t n, size_t avail)
{
    size_t total = 0, lo = VALUE_MIN_ROOM, hi = VALUE_MIN_ROOM;

    for (size_t i = 0; i < n; i++) {
        total += f[i].room;
        if (f[i].room > hi)
            hi = f[i].room;
    }
    if (total <= avail)
        return;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2, sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += f[i].room < mid ? f[i].room : mid;
        if (sum <= avail)
            lo = mid;
        else
            hi = mid - 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (f[i].room > lo)
            f[i].room = lo;
    }
}

static void build(struct line *l, enum log_level level, const char *event, va_list ap)
{
    struct field fields[LOG_FIELDS_MAX], ev = {.value = event};
    size_t n = 0, fixed = 1; /* the newline */
    const char *key;

    l->len = 0;
    if (journal_prefix) {
        char prefix[8];
        snprintf(prefix, sizeof(prefix), "<%d>", (int)level);
        put_str(l, prefix);
    }
    put_str(l, "level=");
    put_str(l, log_level_name(level));
    put_str(l, " event=");
    measure(&ev);
    ev.room = ev.len;
    put_value(l, &ev);
    fixed += l->len;

    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        if (value == NULL || n == LOG_FIELDS_MAX)
            continue;
        struct field *f = &fields[n++];
        f->key = key;
        f->value = value;
        measure(f);
        f->room = f->len;
        if (is_outside(value) && f->room > LOG_OUTSIDE_MAX)
            f->room = LOG_OUTSIDE_MAX;
        fixed += 2 + strlen(key); /* " key=" */
    }
    fit_fields(fields, n, fixed < LOG_LINE_MAX ? LOG_LINE_MAX - fixed : 0);
    for (size_t i = 0; i < n; i++) {
        put(l, " ", 1);
        put_str(l, fields[i].key);
        put(l, "=", 1);
        put_value(l, &fields[i]);
    }
    l->buf[l->len++] = '\n';
}

void log_kvv(enum log_level level, const char *event, va_list ap)
{
    if ((int)level > atomic_load(&current_level)) {
        n_outside = 0;
        return;
    }
    struct line l;
    build(&l, level, event, ap);
    n_outside = 0;

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
