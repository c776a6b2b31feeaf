/* answerq: the HTTP threads' answer stacks (httpd.c's job_done and answer_queued). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "answerq.h"

struct item {
    struct answerq_item link;
    unsigned pusher, seq;
    atomic_int taken; /* times a take returned it */
};

static struct item *item_of(struct answerq_item *it)
{
    return ANSWERQ_ENTRY(it, struct item, link);
}

static void test_one_thread(void **state)
{
    (void)state;
    struct answerq q = {0};
    struct item items[5] = {0};

    assert_null(answerq_take(&q));
    assert_false(answerq_busy(&q));
    for (unsigned i = 0; i < 5; i++) {
        items[i].seq = i;
        /* only the push onto the empty stack asks for a wake-up */
        assert_int_equal(answerq_push(&q, &items[i].link), i == 0);
        assert_true(answerq_busy(&q));
    }
    struct answerq_item *list = answerq_take(&q);
    assert_false(answerq_busy(&q));
    assert_null(answerq_take(&q));
    unsigned n = 0;
    for (struct answerq_item *it = list; it != NULL; it = it->next, n++) {
        assert_int_equal(item_of(it)->seq, n); /* in push order */
        assert_int_equal(it->leader, n == 0);  /* the woken one, only */
    }
    assert_int_equal(n, 5);

    /* emptied: the next push wakes again, and is its batch's leader */
    assert_true(answerq_push(&q, &items[3].link));
    list = answerq_take(&q);
    assert_ptr_equal(list, &items[3].link);
    assert_true(list->leader);
    assert_null(list->next);
}

/* Several threads push while one takes, as the writer (or writers) and one HTTP thread: every
 * item is taken exactly once, each pusher's items in its own order, and every non-empty take
 * holds exactly one leader, the item whose push said "wake" — so the number of wake-ups equals
 * the number of batches, and no batch is left without one. */
#define PUSHERS 3
#define PER     20000

static struct answerq shared;
static struct item pool[PUSHERS][PER];
static atomic_uint wakes;
static atomic_int pushers_done;

static void *pusher(void *arg)
{
    unsigned p = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < PER; i++) {
        pool[p][i].pusher = p;
        pool[p][i].seq = i;
        if (answerq_push(&shared, &pool[p][i].link))
            atomic_fetch_add(&wakes, 1);
    }
    atomic_fetch_add(&pushers_done, 1);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    pthread_t t[PUSHERS];
    unsigned batches = 0, leaders = 0, total = 0;
    unsigned next_seq[PUSHERS] = {0};

    for (unsigned p = 0; p < PUSHERS; p++)
        assert_int_equal(pthread_create(&t[p], NULL, pusher, (void *)(uintptr_t)p), 0);
    for (;;) {
        int done = atomic_load(&pushers_done);
        struct answerq_item *list = answerq_take(&shared);
        if (list == NULL) {
            if (done == PUSHERS)
                break;
            continue;
        }
        batches++;
        for (struct answerq_item *it = list; it != NULL; it = it->next) {
            struct item *x = item_of(it);
            assert_int_equal(atomic_fetch_add(&x->taken, 1), 0);
            assert_int_equal(x->seq, next_seq[x->pusher]); /* each pusher's order kept */
            next_seq[x->pusher]++;
            leaders += it->leader;
            assert_int_equal(it->leader, it == list); /* the first of the batch, only */
            total++;
        }
    }
    for (unsigned p = 0; p < PUSHERS; p++)
        assert_int_equal(pthread_join(t[p], NULL), 0);
    assert_int_equal(total, PUSHERS * PER);
    assert_int_equal(leaders, batches);
    assert_int_equal(atomic_load(&wakes), batches);
    for (unsigned p = 0; p < PUSHERS; p++)
        assert_int_equal(next_seq[p], PER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
