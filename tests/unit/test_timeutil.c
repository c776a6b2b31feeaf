/* timeutil: ISO-8601 timestamps (they sort as strings in the database) and durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"

static void test_iso_format(void **state)
{
    char buf[TIME_ISO_LEN];

    time_iso(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    time_iso(1795336200123LL, buf); /* 2026-11-22T08:30:00.123Z */
    assert_string_equal(buf, "2026-11-22T08:30:00.123Z");
    time_iso(951782400999LL, buf); /* leap day 2000 */
    assert_string_equal(buf, "2000-02-29T00:00:00.999Z");
    assert_int_equal(strlen(buf), TIME_ISO_LEN - 1);
}

static void test_iso_round_trip_and_order(void **state)
{
    char a[TIME_ISO_LEN], b[TIME_ISO_LEN];
    int64_t back = 0;

    for (int64_t ms = 1700000000000LL; ms < 1700000000000LL + 86400000LL * 400;
         ms += 86400000LL * 7 + 12345) {
        time_iso(ms, a);
        assert_int_equal(time_parse_iso(a, &back), 0);
        assert_int_equal(back, ms);
        time_iso(ms + 1, b);
        assert_true(strcmp(a, b) < 0); /* string order is time order */
    }
}

/* The cached form writes what time_iso writes, whatever the order of the calls: within a second,
 * across one, backwards, before the epoch. */
static void test_iso_cached_is_time_iso(void **state)
{
    (void)state;
    const int64_t ms[] = {1764664200123,
                          1764664200999,
                          1764664201000,
                          1764664201007,
                          1764664200500,
                          1764664200500,
                          0,
                          999,
                          -1,
                          -1000,
                          -1001,
                          4102444799999,
                          4102444800000,
                          1764664201090};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        char want[TIME_ISO_LEN], got[TIME_ISO_LEN];
        time_iso(ms[i], want);
        memset(got, 'x', sizeof(got));
        time_iso_cached(ms[i], got);
        assert_string_equal(got, want);
    }
}

static void test_iso_parse(void **state)
{
    int64_t ms = 0;

    assert_int_equal(time_parse_iso("2026-11-22T08:30:00Z", &ms), 0);
    assert_int_equal(ms, 1795336200000LL);
    assert_int_equal(time_parse_iso("2026-11-22T08:30:00.5Z", &ms), -1);
    assert_int_equal(time_parse_iso("2026-11-22 08:30:00.000Z", &ms), -1);
    assert_int_equal(time_parse_iso("2026-11-22T08:30:00.000", &ms), -1);
    assert_int_equal(time_parse_iso("2026-13-22T08:30:00.000Z", &ms), -1);
    assert_int_equal(time_parse_iso("2026-11-22T24:30:00.000Z", &ms), -1);
    assert_int_equal(time_parse_iso("", &ms), -1);
    assert_int_equal(time_parse_iso("2026-11-22T08:30:00.000Zx", &ms), -1);
}

static void test_durations(void **state)
{
    int64_t s = -1;

    assert_int_equal(time_parse_duration("36m", &s), 0);
    assert_int_equal(s, 2160);
    assert_int_equal(time_parse_duration("10", &s), 0);
    assert_int_equal(s, 10);
    assert_int_equal(time_parse_duration("15s", &s), 0);
    assert_int_equal(s, 15);
    assert_int_equal(time_parse_duration("2h", &s), 0);
    assert_int_equal(s, 7200);
    assert_int_equal(time_parse_duration("7d", &s), 0);
    assert_int_equal(s, 604800);
    assert_int_equal(time_parse_duration("0", &s), 0);
    assert_int_equal(s, 0);

    s = 99;
    assert_int_equal(time_parse_duration("", &s), -1);
    assert_int_equal(time_parse_duration("m", &s), -1);
    assert_int_equal(time_parse_duration("-1s", &s), -1);
    assert_int_equal(time_parse_duration("1.5h", &s), -1);
    assert_int_equal(time_parse_duration("1w", &s), -1);
    assert_int_equal(time_parse_duration("1mm", &s), -1);
    assert_int_equal(time_parse_duration(" 1m", &s), -1);
    assert_int_equal(time_parse_duration("99999999999999999999d", &s), -1);
    assert_int_equal(s, 99);
}

static void test_clocks(void **state)
{
    int64_t a = time_mono_ms(), b = time_mono_ms();
    assert_true(b >= a);
    assert_true(time_now_ms() > 1700000000000LL);
}

/* A deadline taken from the monotonic clock is kept: on a condition variable left on the
 * wall clock, a monotonic deadline (time since boot) lies decades in the past and the wait
 * returns at once. */
static void test_cond_waits_on_the_monotonic_clock(void **state)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond;
    struct timespec until;

    assert_int_equal(time_cond_init(&cond), 0);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 300 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int64_t t0 = time_mono_ms();
    pthread_mutex_lock(&lock);
    int rc = 0;
    while (rc == 0)
        rc = pthread_cond_timedwait(&cond, &lock, &until);
    pthread_mutex_unlock(&lock);
    int64_t waited = time_mono_ms() - t0;
    printf("# a 300 ms monotonic deadline: waited %lld ms\n", (long long)waited);
    assert_int_equal(rc, ETIMEDOUT);
    assert_true(waited >= 250);
    pthread_cond_destroy(&cond);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso_format),
        cmocka_unit_test(test_iso_round_trip_and_order),
        cmocka_unit_test(test_iso_parse),
        cmocka_unit_test(test_iso_cached_is_time_iso),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_cond_waits_on_the_monotonic_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
