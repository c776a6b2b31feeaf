/* log: one logfmt line per event, quoting and escaping that a hostile value cannot break, cut
 * values that keep the line whole, ts= first, the journal told from an inherited JOURNAL_STREAM,
 * the journal's structured fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

/* Runs fn with stderr redirected to a temporary file and returns what was written. */
static char *capture_raw(void (*fn)(void))
{
    static char out[8192];
    char path[] = "/tmp/lianpay-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
    close(fd);
    unlink(path);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

/* "ts=" and a timestamp as time_iso writes it ("2026-12-02T08:30:00.123Z"), then a space:
 * returns the time in ms since the epoch, or -1. */
static int64_t ts_field(const char *line)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    char ts[TIME_ISO_LEN];
    int64_t ms;

    if (strncmp(line, "ts=", 3) != 0)
        return -1;
    for (size_t i = 0; i < TIME_ISO_LEN - 1; i++) {
        char c = line[3 + i];
        if (shape[i] == 'd' ? c < '0' || c > '9' : c != shape[i])
            return -1;
    }
    if (line[3 + TIME_ISO_LEN - 1] != ' ')
        return -1;
    memcpy(ts, line + 3, TIME_ISO_LEN - 1);
    ts[TIME_ISO_LEN - 1] = '\0';
    return time_parse_iso(ts, &ms) == 0 ? ms : -1;
}

#define TS_FIELD_LEN (3 + TIME_ISO_LEN - 1 + 1)

/* As capture_raw, with the ts= field that starts each log line taken out (the tests below are
 * about what follows it; test_ts_first_on_every_line about the field). */
static char *capture(void (*fn)(void))
{
    char *out = capture_raw(fn), *w = out;
    for (const char *r = out; *r != '\0';) {
        if (ts_field(r) >= 0)
            r += TS_FIELD_LEN;
        const char *nl = strchr(r, '\n');
        size_t n = nl != NULL ? (size_t)(nl - r) + 1 : strlen(r);
        memmove(w, r, n);
        w += n;
        r += n;
    }
    *w = '\0';
    return out;
}

static void emit_plain(void)
{
    log_kv(LOG_LEVEL_INFO, "notify", "no_order", "A1", "outcome", "applied", "skipped", NULL,
           "count", log_int(42), NULL);
}

static void emit_hostile(void)
{
    log_kv(LOG_LEVEL_WARNING, "reject", "reason", "bad \"sig\"\nlevel=error event=forged", "empty",
           "", "eq", "a=b", NULL);
}

static void emit_debug(void)
{
    log_kv(LOG_LEVEL_DEBUG, "noise", "k", "v", NULL);
}

static void test_plain_line(void **state)
{
    log_set_level(LOG_LEVEL_INFO);
    assert_string_equal(capture(emit_plain),
                        "level=info event=notify no_order=A1 outcome=applied count=42\n");
}

static void test_quoting_keeps_one_line(void **state)
{
    log_set_level(LOG_LEVEL_INFO);
    char *out = capture(emit_hostile);
    assert_string_equal(out, "level=warning event=reject reason=\"bad \\\"sig\\\"\\nlevel=error "
                             "event=forged\" empty=\"\" eq=\"a=b\"\n");
    assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1);
}

static void test_level_filter(void **state)
{
    log_set_level(LOG_LEVEL_INFO);
    assert_string_equal(capture(emit_debug), "");
    log_set_level(LOG_LEVEL_DEBUG);
    assert_string_equal(capture(emit_debug), "level=debug event=noise k=v\n");
    log_set_level(LOG_LEVEL_INFO);
}

static void emit_two(void)
{
    emit_plain();
    emit_hostile();
}

static void test_ts_first_on_every_line(void **state)
{
    log_set_level(LOG_LEVEL_INFO);
    int64_t before = time_now_ms();
    char *out = capture_raw(emit_two);
    int64_t after = time_now_ms();
    char *second = strchr(out, '\n') + 1;
    int64_t t1 = ts_field(out), t2 = ts_field(second);
    if (t1 < 0 || t2 < 0)
        fail_msg("no ts= first: %s", out);
    *second = '\0';
    assert_true(before <= t1 && t1 <= t2 && t2 <= after);
    assert_string_equal(out + TS_FIELD_LEN - 1, " level=info event=notify no_order=A1 "
                                                "outcome=applied count=42\n");
}

/* A file whose device and inode are not stderr's: what a shell started from a unit passes on. */
static char other_stream[64];

static void stream_of(int fd, char *buf, size_t size)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    snprintf(buf, size, "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
}

static void test_journal_stream_must_match_the_fd(void **state)
{
    char path[] = "/tmp/lianpay-log-XXXXXX", good[64], bad[96];
    int fd = mkstemp(path), sv[2];
    struct stat st;

    assert_true(fd >= 0);
    unlink(path);
    stream_of(fd, good, sizeof(good));
    assert_true(log_journal_stream_is(good, fd));
    assert_int_equal(fstat(fd, &st), 0);
    snprintf(bad, sizeof(bad), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino + 1);
    assert_false(log_journal_stream_is(bad, fd)); /* another inode */
    snprintf(bad, sizeof(bad), "%ju:%ju", (uintmax_t)st.st_dev + 1, (uintmax_t)st.st_ino);
    assert_false(log_journal_stream_is(bad, fd)); /* another device */
    snprintf(bad, sizeof(bad), "%s ", good);
    assert_false(log_journal_stream_is(bad, fd));
    snprintf(bad, sizeof(bad), "%sx", good);
    assert_false(log_journal_stream_is(bad, fd));
    snprintf(bad, sizeof(bad), "%s:1", good);
    assert_false(log_journal_stream_is(bad, fd));
    static const char *const malformed[] = {
        "", "8", "8:", ":1", "-8:1", "8:-1", "x:1", " 8:1", "99999999999999999999999:1"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        assert_false(log_journal_stream_is(malformed[i], fd));
    assert_false(log_journal_stream_is(NULL, fd));
    assert_false(log_journal_stream_is(good, -1));

    /* journald's end of the stream is a socket: the same rule. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    stream_of(sv[0], good, sizeof(good));
    assert_true(log_journal_stream_is(good, sv[0]));
    assert_false(log_journal_stream_is(good, sv[1]));
    assert_false(log_journal_stream_is(good, fd));
    close(sv[0]);
    close(sv[1]);
    close(fd);
}

static void init_then_emit(void)
{
    log_init();
    emit_hostile();
}

static void init_on_stderr_then_emit(void)
{
    char stream[64];
    stream_of(STDERR_FILENO, stream, sizeof(stream));
    setenv("JOURNAL_STREAM", stream, 1);
    init_then_emit();
}

static void test_inherited_journal_stream_is_not_believed(void **state)
{
    char path[] = "/tmp/lianpay-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    stream_of(fd, other_stream, sizeof(other_stream));
    setenv("JOURNAL_STREAM", other_stream, 1);
    log_set_level(LOG_LEVEL_INFO);
    char *out = capture_raw(init_then_emit);
    close(fd);
    if (ts_field(out) < 0)
        fail_msg("not a plain line: %s", out);
    assert_true(strncmp(out + TS_FIELD_LEN, "level=warning event=reject ", 27) == 0);
    assert_null(strchr(out, '<'));
    unsetenv("JOURNAL_STREAM");
    log_init();
}

static void test_journal_stream_on_stderr_is_the_journal(void **state)
{
    /* No journald here (it would take the entry): libsystemd cannot send, and the line falls back
     * to stderr with the priority prefix journald reads, and without ts=. */
    if (access("/run/systemd/journal/socket", F_OK) == 0) {
        printf("# journald is running: the fallback path is not taken, not checked\n");
        unsetenv("JOURNAL_STREAM");
        return;
    }
    log_set_level(LOG_LEVEL_INFO);
    char *out = capture_raw(init_on_stderr_then_emit);
    unsetenv("JOURNAL_STREAM");
    log_init();
    assert_string_equal(out, "<4>level=warning event=reject reason=\"bad \\\"sig\\\"\\nlevel=error "
                             "event=forged\" empty=\"\" eq=\"a=b\"\n");
}

/* The fields of an entry, as "K=V" strings. */
static const char *entry_field(const struct log_journal_entry *e, int i)
{
    static char buf[2 * LOG_LINE_MAX];
    assert_true(i < e->n);
    assert_null(memchr(e->iov[i].iov_base, '\n', e->iov[i].iov_len));
    snprintf(buf, sizeof(buf), "%.*s", (int)e->iov[i].iov_len, (const char *)e->iov[i].iov_base);
    return buf;
}

static void emit_notify(void)
{
    log_kv(LOG_LEVEL_WARNING, "notify", "status", "200", "no_order", "P2026120200012", "result_pay",
           "SUCCESS", "outcome", "conflict", "review", "a \"b\"\nc", NULL);
}

static void test_journal_entry_fields(void **state)
{
    struct log_journal_entry e;
    log_set_level(LOG_LEVEL_INFO);
    assert_int_equal(log_journal_build(&e, LOG_LEVEL_WARNING, "notify", "status", "200", "no_order",
                                       "P2026120200012", "result_pay", "SUCCESS", "outcome",
                                       "conflict", "review", "a \"b\"\nc", NULL),
                     7);
    /* MESSAGE= is the very line stderr gets, without ts= and the newline. */
    char message[8192 + 16]; /* "MESSAGE=" and whatever capture_raw's buffer holds */
    snprintf(message, sizeof(message), "MESSAGE=%s", capture(emit_notify));
    message[strlen(message) - 1] = '\0';
    assert_string_equal(entry_field(&e, 0), message);
    assert_string_equal(entry_field(&e, 0),
                        "MESSAGE=level=warning event=notify status=200 no_order=P2026120200012 "
                        "result_pay=SUCCESS outcome=conflict review=\"a \\\"b\\\"\\nc\"");
    assert_string_equal(entry_field(&e, 1), "PRIORITY=4");
    assert_string_equal(entry_field(&e, 2), "MESSAGE_ID=c601e16f3f95454aa670832e90500b9c");
    assert_string_equal(entry_field(&e, 3), "EVENT=notify");
    assert_string_equal(entry_field(&e, 4), "NO_ORDER=P2026120200012");
    assert_string_equal(entry_field(&e, 5), "OUTCOME=conflict");
    assert_string_equal(entry_field(&e, 6), "SYSLOG_IDENTIFIER=test_log");

    /* An outsider's order number: escaped and cut as in the line, without the quotes. */
    static char hostile[400];
    memset(hostile, 'Z', sizeof(hostile) - 1);
    memcpy(hostile, "X\nlevel=info\xe2\x80\xa8", 15);
    assert_int_equal(log_journal_build(&e, LOG_LEVEL_DEBUG, "unqueryable", "no_order",
                                       log_outside(hostile), "action", "flagged", NULL),
                     6);
    const char *no = entry_field(&e, 4);
    static const char want[] = "NO_ORDER=X\\nlevel=info\\u2028ZZZ";
    if (strncmp(no, want, sizeof(want) - 1) != 0)
        fail_msg("%s", no);
    assert_int_equal(strlen(no), strlen("NO_ORDER=") + LOG_OUTSIDE_MAX - 2);
    assert_string_equal(no + strlen(no) - 4, "Z\xe2\x80\xa6");
    assert_string_equal(entry_field(&e, 1), "PRIORITY=7");
    assert_string_equal(entry_field(&e, 3), "EVENT=unqueryable");

    /* No MESSAGE_ID for an event without one, no NO_ORDER= or OUTCOME= for a line without. */
    assert_int_equal(log_journal_build(&e, LOG_LEVEL_ERROR, "not_an_event", "claimed_no_order",
                                       "P1", "outcomes", "x", NULL),
                     4);
    assert_string_equal(entry_field(&e, 1), "PRIORITY=3");
    assert_string_equal(entry_field(&e, 2), "EVENT=not_an_event");
    assert_string_equal(entry_field(&e, 3), "SYSLOG_IDENTIFIER=test_log");
}

static void test_message_ids(void **state)
{
    static const char *const events[] = {"admin_http_library",
                                         "admin_reject",
                                         "admin_reject_suppressed",
                                         "development",
                                         "drain",
                                         "fd_limit",
                                         "http_library",
                                         "liveness",
                                         "metrics",
                                         "notify",
                                         "overload",
                                         "pending_overdue",
                                         "query",
                                         "ready",
                                         "reject",
                                         "reject_suppressed",
                                         "reload",
                                         "sim_query",
                                         "sim_script",
                                         "start",
                                         "stopped",
                                         "stopping",
                                         "storage_error",
                                         "storage_ok",
                                         "summary",
                                         "unqueryable"};
    size_t n = sizeof(events) / sizeof(events[0]);
    for (size_t i = 0; i < n; i++) {
        const char *id = log_message_id(events[i]);
        if (id == NULL)
            fail_msg("no MESSAGE_ID for %s", events[i]);
        assert_int_equal(strlen(id), 32);
        assert_int_equal(strspn(id, "0123456789abcdef"), 32);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(id, log_message_id(events[j]));
    }
    assert_null(log_message_id("notif"));
    assert_null(log_message_id(""));
}

static void test_level_names(void **state)
{
    enum log_level l;
    assert_int_equal(log_level_parse("warning", &l), 0);
    assert_int_equal(l, LOG_LEVEL_WARNING);
    assert_string_equal(log_level_name(LOG_LEVEL_DEBUG), "debug");
    assert_int_equal(log_level_parse("WARN", &l), -1);
    assert_int_equal(log_level_parse("", &l), -1);
}

/* ---- hostile values (issue 11, item 8) ---------------------------------------------------- */

/* What a strict logfmt reader does with a line: key=value pairs separated by one space, values
 * bare (no space, '=', '"', control or byte past ASCII) or quoted with Go's escapes, nothing
 * raw below U+0020, no raw C1 control, U+2028 or U+2029 anywhere, one newline at the end.
 * Returns the number of pairs (level and event included), or -1. */
static int logfmt_pairs(const char *line)
{
    const unsigned char *p = (const unsigned char *)line;
    int pairs = 0;

    for (;;) {
        const unsigned char *k = p;
        while (*p > ' ' && *p != '=' && *p != '"' && *p < 0x7f)
            p++;
        if (p == k || *p++ != '=')
            return -1;
        if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (*p < ' ' || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) ||
                    (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)))
                    return -1;
                if (*p == '\\' && *++p < ' ')
                    return -1;
            }
            p++;
        } else {
            const unsigned char *v = p;
            while (*p > ' ' && *p != '=' && *p != '"' && *p < 0x7f)
                p++;
            if (p == v)
                return -1;
        }
        pairs++;
        if (*p == '\n')
            return p[1] == '\0' ? pairs : -1;
        if (*p++ != ' ')
            return -1;
    }
}

static const char *hostile_value;

static void emit_reject(void)
{
    log_kv(LOG_LEVEL_WARNING, "reject", "status", "400", "reason", "bad signature",
           "claimed_no_order", log_outside(hostile_value), "bytes", "5000", "body_sha256",
           "0123456789abcdef", NULL);
}

/* The value of key in line, as written (between its quotes when quoted), in a static buffer. */
static const char *written_value(const char *line, const char *key)
{
    static char buf[8192];
    char pattern[64];
    snprintf(pattern, sizeof(pattern), " %s=", key);
    const char *v = strstr(line, pattern);
    assert_non_null(v);
    v += strlen(pattern);
    const char *end;
    if (*v == '"') {
        end = ++v;
        while (*end != '"')
            end += *end == '\\' ? 2 : 1;
    } else {
        end = v + strcspn(v, " \n");
    }
    snprintf(buf, sizeof(buf), "%.*s", (int)(end - v), v);
    return buf;
}

static void test_unicode_line_breaks_and_controls_are_escaped(void **state)
{
    /* Each would let a reader that splits on it, or a terminal, see a forged record. */
    static const struct {
        const char *raw, *written;
    } cases[] = {
        {"A\xe2\x80\xa8level=info event=notify status=200", "A\\u2028level=info event=notify "
                                                            "status=200"},
        {"A\xe2\x80\xa9x", "A\\u2029x"},
        {"A\xc2\x85x", "A\\u0085x"}, /* NEL */
        {"A\xc2\x9b"
         "31mSUCCESS",
         "A\\u009b31mSUCCESS"},                                              /* 8-bit CSI */
        {"A\xc2\x80\xc2\x9fx", "A\\u0080\\u009fx"},                          /* C1, both ends */
        {"A\xe2\x80\xaex\xe2\x80\xaa", "A\\u202ex\\u202a"},                  /* RLO, LRE */
        {"A\xe2\x81\xa6x\xe2\x81\xa9", "A\\u2066x\\u2069"},                  /* LRI, PDI */
        {"A\xe2\x80\x8f\xe2\x80\x8b\xef\xbb\xbf", "A\\u200f\\u200b\\ufeff"}, /* RLM, ZWSP, BOM */
        {"A\xf3\xa0\x80\x81x", "A\\U000e0001x"},                             /* a tag character */
        {"A\x1b[31m\rx\x7f", "A\\x1b[31m\\x0dx\\x7f"},
        {"A\xff\xfe", "A\\xff\\xfe"},                             /* not UTF-8 */
        {"A\xc0\xaf", "A\\xc0\\xaf"},                             /* overlong '/' */
        {"A\xed\xa0\x80", "A\\xed\\xa0\\x80"},                    /* a surrogate */
        {"A\xe2\x80", "A\\xe2\\x80"},                             /* cut short */
        {"A\xe2\x80\xa6", "A\\u2026"},                            /* the cut mark itself */
        {"\xe4\xba\xa4\xe6\x98\x93", "\xe4\xba\xa4\xe6\x98\x93"}, /* Chinese stays */
        {"a\xe3\x80\x80"
         "b",
         "a\xe3\x80\x80"
         "b"}, /* an ideographic space: kept, but quoted */
    };
    log_set_level(LOG_LEVEL_INFO);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hostile_value = cases[i].raw;
        const char *out = capture(emit_reject);
        if (logfmt_pairs(out) != 7)
            fail_msg("case %zu: not 7 logfmt pairs: %s", i, out);
        assert_non_null(strstr(out, " claimed_no_order=\""));
        assert_string_equal(written_value(out, "claimed_no_order"), cases[i].written);
        assert_non_null(strstr(out, " bytes=5000 body_sha256=0123456789abcdef\n"));
    }
}

static void test_outsiders_value_is_cut_and_the_fixed_fields_stay(void **state)
{
    static char big[5001];
    memset(big, 'A', 5000);
    hostile_value = big;
    log_set_level(LOG_LEVEL_INFO);
    const char *out = capture(emit_reject);
    printf("# 5,000-byte claimed_no_order: line of %zu bytes\n", strlen(out));
    assert_int_equal(logfmt_pairs(out), 7);
    const char *v = strstr(out, "claimed_no_order=") + strlen("claimed_no_order=");
    const char *end = strstr(v, " bytes=");
    assert_int_equal(end - v, LOG_OUTSIDE_MAX);
    assert_memory_equal(end - 4, "\xe2\x80\xa6\"", 4);
    assert_non_null(strstr(out, " bytes=5000 body_sha256=0123456789abcdef\n"));

    /* Cut between characters and escapes, never inside one. */
    static char wide[3 * 300 + 1], seps[3 * 300 + 1];
    for (int i = 0; i < 300; i++) {
        memcpy(wide + 3 * i, "\xe4\xba\xa4", 3);
        memcpy(seps + 3 * i, "\xe2\x80\xa8", 3);
    }
    hostile_value = wide;
    out = capture(emit_reject);
    assert_int_equal(logfmt_pairs(out), 7);
    const char *w = written_value(out, "claimed_no_order");
    assert_int_equal(strlen(w) % 3, 0);
    assert_string_equal(w + strlen(w) - 6, "\xe4\xba\xa4\xe2\x80\xa6");
    hostile_value = seps;
    out = capture(emit_reject);
    w = written_value(out, "claimed_no_order");
    assert_int_equal((strlen(w) - 3) % 6, 0);
    assert_string_equal(w + strlen(w) - 9, "\\u2028\xe2\x80\xa6");
    assert_true(strlen(w) + 2 <= LOG_OUTSIDE_MAX);
}

static void emit_marked_then_plain(void)
{
    log_kv(LOG_LEVEL_INFO, "a", "v", log_outside(hostile_value), NULL);
    log_kv(LOG_LEVEL_DEBUG, "filtered", "v", log_outside("x"), NULL);
    log_kv(LOG_LEVEL_INFO, "b", "v", hostile_value, NULL);
}

static void test_outside_mark_lasts_one_line(void **state)
{
    static char value[301];
    memset(value, 'B', 300);
    hostile_value = value;
    log_set_level(LOG_LEVEL_INFO);
    const char *out = capture(emit_marked_then_plain);
    const char *second = strstr(out, "level=info event=b ");
    assert_non_null(second);
    assert_int_equal(second - out, strlen("level=info event=a v=\"") + 123 + 3 + 2);
    assert_int_equal(strlen(second), strlen("level=info event=b v=") + 300 + 1);
}

static const char *long_values[3];

static void emit_too_long(void)
{
    log_kv(LOG_LEVEL_ERROR, "start", "status", "failed", "error", long_values[0], "path",
           long_values[1], "note", long_values[2], "bytes", "17", NULL);
}

static void test_a_line_too_long_keeps_every_field(void **state)
{
    static char a[3001], b[2001], c[41];
    memset(a, 'a', 3000);
    memset(b, '\n', 2000); /* 4,000 bytes escaped */
    memset(c, 'c', 40);
    long_values[0] = a;
    long_values[1] = b;
    long_values[2] = c;
    log_set_level(LOG_LEVEL_INFO);
    const char *out = capture_raw(emit_too_long);
    printf("# three values of 3,000, 4,000 (escaped) and 40 bytes: line of %zu bytes\n",
           strlen(out));
    assert_true(strlen(out) <= 4096);
    assert_int_equal(logfmt_pairs(out), 8); /* ts= too */
    assert_non_null(strstr(out, " note=cccccccccccccccccccccccccccccccccccccccc bytes=17\n"));
    assert_memory_equal(strstr(out, " path=") - 4, "\xe2\x80\xa6\"", 4);
    assert_memory_equal(strstr(out, " note=") - 4, "\xe2\x80\xa6\"", 4);
}

static void print_hostile(void)
{
    static const char s[] = "ok \"q\" \\ \x1b[32mSUCCESS\x1b[0m\r\n\xc2\x9b\xe2\x80\xae\0end";
    log_print_escaped(stderr, s, sizeof(s) - 1);
}

static void test_print_escaped_for_a_terminal(void **state)
{
    assert_string_equal(capture(print_hostile), "ok \"q\" \\ \\x1b[32mSUCCESS\\x1b[0m\\x0d\\n"
                                                "\\u009b\\u202e\\x00end");
}

/* ---- batches ---------------------------------------------------------------------------- */

/* Bytes stderr holds now (it is a regular file while captured). */
static off_t stderr_size(void)
{
    struct stat st;
    assert_int_equal(fstat(STDERR_FILENO, &st), 0);
    return st.st_size;
}

static off_t size_inside_batch, size_after_inner_end;

static void emit_batch(void)
{
    log_batch_begin();
    log_batch_begin(); /* nested: only the outer end writes */
    log_kv(LOG_LEVEL_INFO, "notify", "no_order", "A1", NULL);
    log_kv(LOG_LEVEL_WARNING, "notify", "no_order", "A2", NULL);
    size_inside_batch = stderr_size();
    log_batch_end();
    size_after_inner_end = stderr_size();
    log_kv(LOG_LEVEL_INFO, "payout", "no_order", "A2", NULL);
    log_batch_end();
}

static void test_batch_lines_are_written_at_its_end(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_INFO);
    assert_string_equal(capture(emit_batch), "level=info event=notify no_order=A1\n"
                                             "level=warning event=notify no_order=A2\n"
                                             "level=info event=payout no_order=A2\n");
    assert_int_equal(size_inside_batch, 0);
    assert_int_equal(size_after_inner_end, 0);
}

static void emit_unbatched_after_batch(void)
{
    log_batch_begin();
    log_batch_end();
    log_batch_end(); /* one end too many is ignored: the next line is not held */
    log_kv(LOG_LEVEL_INFO, "notify", "no_order", "B1", NULL);
    size_inside_batch = stderr_size();
}

static void test_after_a_batch_lines_are_written_at_once(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_INFO);
    assert_string_equal(capture(emit_unbatched_after_batch),
                        "level=info event=notify no_order=B1\n");
    assert_true(size_inside_batch > 0);
}

#define BIG_BATCH 400
static char big_out[BIG_BATCH * 256];
static bool flushed_whole_lines;
static off_t flushed_before_end;

static void emit_big_batch(void)
{
    char no_order[32], pad[160];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    flushed_whole_lines = true;
    log_batch_begin();
    for (int i = 0; i < BIG_BATCH; i++) {
        snprintf(no_order, sizeof(no_order), "N%04d", i);
        log_kv(LOG_LEVEL_INFO, "notify", "no_order", no_order, "pad", pad, NULL);
        off_t n = stderr_size();
        char last;
        if (n > 0 && (pread(STDERR_FILENO, &last, 1, n - 1) != 1 || last != '\n'))
            flushed_whole_lines = false;
    }
    flushed_before_end = stderr_size();
    log_batch_end();
    ssize_t n = pread(STDERR_FILENO, big_out, sizeof(big_out) - 1, 0);
    big_out[n > 0 ? n : 0] = '\0';
}

/* A batch larger than the thread's buffer is written in pieces of whole lines, in order. */
static void test_big_batch_is_written_in_whole_lines(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_INFO);
    capture_raw(emit_big_batch);
    assert_true(flushed_whole_lines);
    assert_true(flushed_before_end > 0);
    const char *p = big_out;
    for (int i = 0; i < BIG_BATCH; i++) {
        char want[64];
        snprintf(want, sizeof(want), "level=info event=notify no_order=N%04d pad=", i);
        const char *at = strstr(p, "level=");
        assert_non_null(at);
        assert_memory_equal(at, want, strlen(want));
        p = strchr(at, '\n');
        assert_non_null(p);
    }
    assert_null(strstr(p, "level="));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_line),
        cmocka_unit_test(test_quoting_keeps_one_line),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_ts_first_on_every_line),
        cmocka_unit_test(test_journal_stream_must_match_the_fd),
        cmocka_unit_test(test_inherited_journal_stream_is_not_believed),
        cmocka_unit_test(test_journal_stream_on_stderr_is_the_journal),
        cmocka_unit_test(test_journal_entry_fields),
        cmocka_unit_test(test_message_ids),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_unicode_line_breaks_and_controls_are_escaped),
        cmocka_unit_test(test_outsiders_value_is_cut_and_the_fixed_fields_stay),
        cmocka_unit_test(test_outside_mark_lasts_one_line),
        cmocka_unit_test(test_a_line_too_long_keeps_every_field),
        cmocka_unit_test(test_print_escaped_for_a_terminal),
        cmocka_unit_test(test_batch_lines_are_written_at_its_end),
        cmocka_unit_test(test_after_a_batch_lines_are_written_at_once),
        cmocka_unit_test(test_big_batch_is_written_in_whole_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
