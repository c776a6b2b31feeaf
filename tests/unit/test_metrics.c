/* metrics: histogram buckets and the Prometheus text format. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const double bounds[] = {0.01, 0.1, 1};

static void test_histogram_renders_cumulative_buckets(void **state)
{
    struct metrics_histogram h;
    struct metrics_text t;

    metrics_histogram_init(&h, bounds, 3);
    metrics_histogram_observe(&h, 0.005); /* le 0.01 */
    metrics_histogram_observe(&h, 0.01);  /* le 0.01: bounds are inclusive */
    metrics_histogram_observe(&h, 0.5);   /* le 1 */
    metrics_histogram_observe(&h, 7);     /* +Inf */
    assert_int_equal(metrics_histogram_count(&h), 4);

    metrics_text_init(&t);
    metrics_histogram_render(&t, "x_seconds", "Help text.", &h);
    assert_false(t.failed);
    assert_string_equal(t.data, "# HELP x_seconds Help text.\n"
                                "# TYPE x_seconds histogram\n"
                                "x_seconds_bucket{le=\"0.01\"} 2\n"
                                "x_seconds_bucket{le=\"0.1\"} 2\n"
                                "x_seconds_bucket{le=\"1\"} 3\n"
                                "x_seconds_bucket{le=\"+Inf\"} 4\n"
                                "x_seconds_sum 7.515\n"
                                "x_seconds_count 4\n");
    metrics_text_finish(&t);
}

static void test_samples(void **state)
{
    struct metrics_text t;

    metrics_text_init(&t);
    metrics_family(&t, "a_total", "counter", "As.");
    metrics_sample_u64(&t, "a_total", "reason=\"bad_signature\"", 18446744073709551615u);
    metrics_sample_u64(&t, "b", NULL, 0);
    metrics_sample(&t, "c_seconds", NULL, 0.25);
    assert_false(t.failed);
    assert_string_equal(t.data, "# HELP a_total As.\n# TYPE a_total counter\n"
                                "a_total{reason=\"bad_signature\"} 18446744073709551615\n"
                                "b 0\n"
                                "c_seconds 0.25\n");
    assert_int_equal(t.len, strlen(t.data));
    metrics_text_finish(&t);
}

static void test_gauges_announce_their_family(void **state)
{
    struct metrics_text t;

    metrics_text_init(&t);
    metrics_gauge_u64(&t, "x_bytes", "Xs.", 4096);
    metrics_gauge(&t, "y_timestamp_seconds", "When.", 1796007600.5);
    assert_false(t.failed);
    assert_string_equal(t.data, "# HELP x_bytes Xs.\n# TYPE x_bytes gauge\nx_bytes 4096\n"
                                "# HELP y_timestamp_seconds When.\n"
                                "# TYPE y_timestamp_seconds gauge\n"
                                "y_timestamp_seconds 1796007600.5\n");
    metrics_text_finish(&t);
}

static void test_text_grows_past_its_first_allocation(void **state)
{
    struct metrics_text t;
    char name[32];

    metrics_text_init(&t);
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        metrics_sample_u64(&t, name, NULL, (uint64_t)i);
    }
    assert_false(t.failed);
    assert_true(t.len > 4096);
    assert_non_null(strstr(t.data, "\nm1999 1999\n"));
    assert_int_equal(t.data[t.len], '\0');
    metrics_text_finish(&t);
}

static void test_too_many_bounds_are_cut(void **state)
{
    double many[METRICS_MAX_BOUNDS + 4];
    struct metrics_histogram h;

    for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
        many[i] = (double)(i + 1);
    metrics_histogram_init(&h, many, sizeof(many) / sizeof(many[0]));
    assert_int_equal(h.nbounds, METRICS_MAX_BOUNDS);
    metrics_histogram_observe(&h, 1000);
    assert_int_equal(metrics_histogram_count(&h), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_renders_cumulative_buckets),
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_gauges_announce_their_family),
        cmocka_unit_test(test_text_grows_past_its_first_allocation),
        cmocka_unit_test(test_too_many_bounds_are_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
