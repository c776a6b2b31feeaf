/* log: one logfmt line per event, quoting that a hostile value cannot break, journald prefix. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_line),   cmocka_unit_test(test_quoting_keeps_one_line),
        cmocka_unit_test(test_level_filter), cmocka_unit_test(test_journal_prefix),
        cmocka_unit_test(test_level_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
