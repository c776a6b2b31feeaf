/* money: exact yuan text to integer fen, and back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "money.h"

static void assert_fen(const char *text, int64_t expected)
{
    int64_t fen = -12345;

    if (money_parse_fen(text, &fen) < 0)
        fail_msg("\"%s\" refused", text);
    if (fen != expected)
        fail_msg("\"%s\" gave %lld fen, expected %lld", text, (long long)fen, (long long)expected);
}

static void assert_bad(const char *text)
{
    int64_t fen = -12345;

    if (money_parse_fen(text, &fen) == 0)
        fail_msg("\"%s\" accepted as %lld fen", text ? text : "(null)", (long long)fen);
    assert_int_equal(fen, -12345);
}

static void test_valid(void **state)
{
    assert_fen("0.01", 1);
    assert_fen("49.65", 4965);
    assert_fen("100", 10000);
    assert_fen("100.5", 10050);
    assert_fen("0", 0);
    assert_fen("0.0", 0);
    assert_fen("0.29", 29);
    assert_fen("0.1", 10);
    assert_fen("1.00", 100);
    assert_fen("200.10", 20010);
    assert_fen("999999999999.99", 99999999999999);
}

static void test_invalid(void **state)
{
    static const char *const bad[] = {
        "",     "00.1", "01",  "1.234", "-1",     "1e2",           " 1",
        "1 ",   "1.",   ".5",  "+1",    "1,00",   "1.2.",          "0x10",
        "1..2", "-0",   "１",  "1.0\n", "\t1.00", "1000000000000", "1000000000000.00",
        "0001", "NaN",  "inf", "1.-1",  "1.+1",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_bad(bad[i]);
    assert_bad(NULL);
}

static void assert_format(int64_t fen, const char *expected)
{
    char buf[24];

    memset(buf, 'x', sizeof(buf));
    money_format(fen, buf);
    assert_string_equal(buf, expected);
}

static void test_format(void **state)
{
    assert_format(0, "0.00");
    assert_format(1, "0.01");
    assert_format(4965, "49.65");
    assert_format(10050, "100.50");
    assert_format(99999999999999, "999999999999.99");
    assert_format(-1, "-0.01");
    assert_format(INT64_MIN, "-92233720368547758.08");
    assert_format(INT64_MAX, "92233720368547758.07");
}

/* Every amount LianLian can send survives format then parse. */
static void test_round_trip(void **state)
{
    static const int64_t samples[] = {1, 9, 10, 99, 100, 101, 4965, 123456789, 99999999999999};

    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char buf[24];
        int64_t fen = 0;
        money_format(samples[i], buf);
        assert_int_equal(money_parse_fen(buf, &fen), 0);
        assert_int_equal(fen, samples[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
