/* log: one logfmt line per event, quoting and escaping that a hostile value cannot break, cut
 * values that keep the line whole, journald prefix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Runs fn with stderr redirected to a temporary file and returns what was written. */
static char *capture(void (*fn)(void))
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

static void test_journal_prefix(void **state)
{
    setenv("JOURNAL_STREAM", "8:1234", 1);
    log_init();
    char *out = capture(emit_hostile);
    assert_true(strncmp(out, "<4>level=warning ", 17) == 0);
    unsetenv("JOURNAL_STREAM");
    log_init();
    assert_true(strncmp(capture(emit_plain), "level=info ", 11) == 0);
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
    const char *out = capture(emit_too_long);
    printf("# three values of 3,000, 4,000 (escaped) and 40 bytes: line of %zu bytes\n",
           strlen(out));
    assert_true(strlen(out) <= 4096);
    assert_int_equal(logfmt_pairs(out), 7);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_line),
        cmocka_unit_test(test_quoting_keeps_one_line),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_journal_prefix),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_unicode_line_breaks_and_controls_are_escaped),
        cmocka_unit_test(test_outsiders_value_is_cut_and_the_fixed_fields_stay),
        cmocka_unit_test(test_outside_mark_lasts_one_line),
        cmocka_unit_test(test_a_line_too_long_keeps_every_field),
        cmocka_unit_test(test_print_escaped_for_a_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
