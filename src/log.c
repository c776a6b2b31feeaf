/*
 * Logging: one logfmt line per event (design.md, logs contract). Where lines go is decided once,
 * by log_init, as systemd.exec(5) says: when JOURNAL_STREAM names the device and inode of stderr,
 * stderr is the journal, and each line is sent through libsystemd's native protocol with
 * structured fields beside it (NO_ORDER=, EVENT=, OUTCOME=, MESSAGE_ID=), so that
 * "journalctl NO_ORDER=..." finds an order's history; the journal stamps the time. Otherwise
 * (a file, a pipe, a terminal, or a shell that merely inherited JOURNAL_STREAM) each line goes to
 * stderr and starts with ts=, the time in RFC 3339 UTC with milliseconds. Any thread may log: a
 * line is built in a local buffer and written with one write(2) or one sd_journal_sendv, which
 * keeps lines whole; between log_batch_begin and log_batch_end a thread's lines to stderr are
 * kept and written together, whole lines in one write(2).
 *
 * Values reach the log from outside (a refused message's no_order, an unsigned answer's
 * ret_code), so a line must stay one true line whatever they hold: every character a reader or a
 * terminal could take for the end of a line, a control or a reordering is escaped (next_piece,
 * also what lianpayctl prints with), an outsider's value is cut at LOG_OUTSIDE_MAX, and a line
 * whose values would not fit has its longest values cut so that every field, and the closing
 * quote, is still there. The journal's fields hold the values as the line writes them.
 */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "timeutil.h"

/* More fields than any line has; more are left out. */
#define LOG_FIELDS_MAX 32

/* Where the journal's native protocol listens (systemd's "Native Journal Protocol"). */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static atomic_int current_level = LOG_LEVEL_INFO;
/* stderr is the journal's stream; to_journal: its native socket is there too. */
static bool on_journal_stream, to_journal;

bool log_journal_stream_is(const char *journal_stream, int fd)
{
    uintmax_t dev, ino;
    char *end;
    struct stat st;

    if (journal_stream == NULL || *journal_stream < '0' || *journal_stream > '9')
        return false;
    errno = 0;
    dev = strtoumax(journal_stream, &end, 10);
    if (errno != 0 || *end != ':' || end[1] < '0' || end[1] > '9')
        return false;
    ino = strtoumax(end + 1, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    if (fstat(fd, &st) != 0)
        return false;
    return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void log_init(void)
{
    struct stat st;

    on_journal_stream = log_journal_stream_is(getenv("JOURNAL_STREAM"), STDERR_FILENO);
    /* sd_journal_sendv reports success when the socket is missing (a sandbox that hides /run):
     * then the lines would be lost, so they go to the stream, as before the native protocol. */
    to_journal = on_journal_stream && stat(JOURNAL_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode);
}

/*
 * MESSAGE_ID of each event, generated once (uuid4) and never changed: a tool may match on them.
 * Sorted by name (bsearch); the man page lists them, and tests/integration/test_logformat.py
 * checks that every event the code logs is here.
 */
static const struct message_id {
    const char *event;
    const char *id;
} message_ids[] = {
    {"admin_http_library", "65c66804c20b4126a924f4976a198b58"},
    {"admin_reject", "d6ef7e4b2e3d45bf9fce12012f94612e"},
    {"admin_reject_suppressed", "72e67d7a71c04053b7d334efd3560c14"},
    {"decision", "4dd6ee4320ab4f83b3608eec405f379e"},
    {"development", "01c4d66b061643a9a7019780a87ceb4f"},
    {"drain", "cdafc1827f0f4ce1998b3e7bf466e62c"},
    {"fd_limit", "88f0a907b7cc476a89889c4a4d3a8593"},
    {"http_library", "3593eec403654ccb97b4873f003fa163"},
    {"liveness", "84357125858749eba499bfb97856d8ac"},
    {"metrics", "7d4e80f8f2ef427e8da9c1bcc3bdd624"},
    {"notify", "c601e16f3f95454aa670832e90500b9c"},
    {"overload", "90e2d7c7d25b44a4b2d73251d3e7204c"},
    {"payout", "a35a8361cf3045278f42e402758adaca"},
    {"pending_overdue", "0069ab1ea9f640bf9a1f84b3a6885832"},
    {"query", "b81b4940d5c84f23bcac56e97a3e0d75"},
    {"ready", "9d25b27a36de45b59f09d18ed79e2440"},
    {"reject", "dd38be841de9477f8f47768a8e0a8a08"},
    {"reject_suppressed", "85c86b5e9bf8440cb0369e4f6f9986ef"},
    {"reload", "02869247314a42d0af1f18328e6e07c7"},
    {"sim_notified", "fdb9eb65dff045b38cda0b67ac204d9b"},
    {"sim_notify", "13d9302002784028870f4ea9ca7ba0e3"},
    {"sim_query", "eea7d6c767cb4d9daabc3954e54df6fc"},
    {"sim_script", "4fb56cd1f8074193b1aac2164e124bfe"},
    {"start", "ac1d6b31856047ecaa6654cd43b7ed2f"},
    {"stopped", "3a229591394f4f9d9999430547563cdc"},
    {"stopping", "53289b6b64f842e680fca31bef91056d"},
    {"storage_error", "d15176d2396e465eb689e543c07eae7f"},
    {"storage_ok", "f8d0eeede16049da8a45d824c5ebcf34"},
    {"submit", "c5b27dab507046658c4ed94d19e6de75"},
    {"summary", "3b63139cd9c24d1c8209ea68fa0b9824"},
    {"unqueryable", "f08ac6947d21423798015d7e0a941c55"},
};

static int message_id_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct message_id *)elem)->event);
}

const char *log_message_id(const char *event)
{
    const struct message_id *m =
        bsearch(event, message_ids, sizeof(message_ids) / sizeof(message_ids[0]),
                sizeof(message_ids[0]), message_id_cmp);
    return m != NULL ? m->id : NULL;
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

size_t log_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
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
        pc.in = log_utf8_decode(s, len, &cp);
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

/* Where a value stands in the line, without its quotes. */
struct span {
    size_t off, len;
    bool set;
};

/* The keys whose values the journal also gets as fields of their own. */
static const struct {
    const char *key, *field;
} journal_keys[] = {{"no_order", "NO_ORDER="}, {"outcome", "OUTCOME="}};
#define JOURNAL_KEYS (sizeof(journal_keys) / sizeof(journal_keys[0]))

struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    struct span event, keys[JOURNAL_KEYS];
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
static void put_value(struct line *l, const struct field *f, struct span *at)
{
    size_t start = l->len;
    const unsigned char *p = (const unsigned char *)f->value;
    size_t left = strlen(f->value);
    bool cut = f->len > f->room;
    size_t budget = cut ? f->room - VALUE_MIN_ROOM : SIZE_MAX;

    if (!f->quoted && !cut) {
        put(l, f->value, left);
        if (at != NULL && !at->set)
            *at = (struct span){.off = start, .len = l->len - start, .set = true};
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
    if (at != NULL && !at->set)
        *at = (struct span){.off = start + 1, .len = l->len - start - 1, .set = true};
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

static struct span *journal_key(struct line *l, const char *key)
{
    for (size_t i = 0; i < JOURNAL_KEYS; i++) {
        if (strcmp(key, journal_keys[i].key) == 0)
            return &l->keys[i];
    }
    return NULL;
}

/* "ts=2026-12-02T08:30:00.123Z ": the date and time are formatted once a second per thread, only
 * the milliseconds per line (gmtime_r and snprintf were a third of a line's cost). */
static void put_ts(struct line *l)
{
    char ts[TIME_ISO_LEN];

    time_iso_cached(time_now_ms(), ts);
    put(l, "ts=", 3);
    put(l, ts, TIME_ISO_LEN - 1);
    put(l, " ", 1);
}

/* Builds the line; with_ts: it starts with the time (it does unless it goes to the journal). */
static void build(struct line *l, enum log_level level, const char *event, va_list ap, bool with_ts)
{
    struct field fields[LOG_FIELDS_MAX], ev = {.value = event};
    size_t n = 0, fixed = 1; /* the newline */
    const char *key;

    l->len = 0;
    l->event.set = false;
    for (size_t i = 0; i < JOURNAL_KEYS; i++)
        l->keys[i].set = false;
    if (with_ts)
        put_ts(l);
    put_str(l, "level=");
    put_str(l, log_level_name(level));
    put_str(l, " event=");
    measure(&ev);
    ev.room = ev.len;
    put_value(l, &ev, &l->event);
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
        put_value(l, &fields[i], journal_key(l, fields[i].key));
    }
    l->buf[l->len++] = '\n';
}

/* Appends the field "name" + value (len bytes) to e. */
static void add_field(struct log_journal_entry *e, size_t *used, const char *name,
                      const char *value, size_t len)
{
    size_t name_len = strlen(name);
    char *at = e->text + *used;

    if (e->n == LOG_JOURNAL_FIELDS || name_len + len > sizeof(e->text) - *used)
        return;
    memcpy(at, name, name_len);
    memcpy(at + name_len, value, len);
    e->iov[e->n++] = (struct iovec){.iov_base = at, .iov_len = name_len + len};
    *used += name_len + len;
}

static void add_span(struct log_journal_entry *e, size_t *used, const char *name,
                     const struct line *l, const struct span *sp)
{
    if (sp->set)
        add_field(e, used, name, l->buf + sp->off, sp->len);
}

static void journal_entry(struct log_journal_entry *e, const struct line *l, enum log_level level,
                          const char *event)
{
    size_t used = 0;
    char priority[2] = {(char)('0' + (int)level), '\0'};
    const char *id = log_message_id(event);

    e->n = 0;
    add_field(e, &used, "MESSAGE=", l->buf, l->len - 1); /* without the newline */
    add_field(e, &used, "PRIORITY=", priority, 1);
    if (id != NULL)
        add_field(e, &used, "MESSAGE_ID=", id, strlen(id));
    add_span(e, &used, "EVENT=", l, &l->event);
    for (size_t i = 0; i < JOURNAL_KEYS; i++)
        add_span(e, &used, journal_keys[i].field, l, &l->keys[i]);
    add_field(e, &used, "SYSLOG_IDENTIFIER=", program_invocation_short_name,
              strlen(program_invocation_short_name));
}

int log_journal_build(struct log_journal_entry *e, enum log_level level, const char *event, ...)
{
    struct line l;
    va_list ap;

    va_start(ap, event);
    build(&l, level, event, ap, false);
    va_end(ap);
    n_outside = 0;
    journal_entry(e, &l, level, event);
    return e->n;
}

/* stderr may be a pipe: a short write is retried, an error is dropped (there is nowhere left to
 * report it). */
static void write_stderr(const char *s, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(STDERR_FILENO, s + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
}

/* On the journal's stream without its socket, or when the journal did not take the entry
 * (journald restarting): the line goes to stderr, the journal's stream, after the priority prefix
 * journald reads there. */
static void write_prefixed(const struct line *l, enum log_level level)
{
    char out[4 + LOG_LINE_MAX];
    int n = snprintf(out, sizeof(out), "<%d>", (int)level);
    memcpy(out + n, l->buf, l->len);
    write_stderr(out, (size_t)n + l->len);
}

/* The lines of this thread's open batch (log_batch_begin), written together by log_batch_end.
 * Lines are appended whole; one that would not fit flushes the ones before it. */
#define BATCH_BYTES (16 * 1024)
static _Thread_local struct {
    char buf[BATCH_BYTES];
    size_t len;
    unsigned depth; /* log_batch_begin calls not yet ended */
} batch;

static void batch_flush(void)
{
    write_stderr(batch.buf, batch.len);
    batch.len = 0;
}

/* Writes the line, or keeps it in the open batch; prefix: the "<N>" journald reads on its
 * stream. */
static void emit(const struct line *l, enum log_level level, bool prefix)
{
    char pre[8];
    size_t pn = prefix ? (size_t)snprintf(pre, sizeof(pre), "<%d>", (int)level) : 0;

    if (batch.depth == 0) {
        if (prefix)
            write_prefixed(l, level);
        else
            write_stderr(l->buf, l->len);
        return;
    }
    if (batch.len + pn + l->len > sizeof(batch.buf))
        batch_flush();
    memcpy(batch.buf + batch.len, pre, pn);
    memcpy(batch.buf + batch.len + pn, l->buf, l->len);
    batch.len += pn + l->len;
}

void log_batch_begin(void)
{
    batch.depth++;
}

void log_batch_end(void)
{
    if (batch.depth > 0 && --batch.depth == 0 && batch.len > 0)
        batch_flush();
}

void log_kvv(enum log_level level, const char *event, va_list ap)
{
    if ((int)level > atomic_load(&current_level)) {
        n_outside = 0;
        return;
    }
    struct line l;
    build(&l, level, event, ap, !on_journal_stream);
    n_outside = 0;

    /* On the journal each line stays an entry of its own, batch or not. */
    if (to_journal) {
        struct log_journal_entry e;
        journal_entry(&e, &l, level, event);
        if (sd_journal_sendv(e.iov, e.n) == 0)
            return;
    }
    emit(&l, level, on_journal_stream);
}

void log_kv(enum log_level level, const char *event, ...)
{
    va_list ap;
    va_start(ap, event);
    log_kvv(level, event, ap);
    va_end(ap);
}
