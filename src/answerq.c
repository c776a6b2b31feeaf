#include "answerq.h"

#include <stdatomic.h>
#include <stddef.h>

bool answerq_push(struct answerq *q, struct answerq_item *item)
{
    struct answerq_item *old = atomic_load_explicit(&q->head, memory_order_relaxed);
    do
        item->next = old;
    while (!atomic_compare_exchange_weak_explicit(&q->head, &old, item, memory_order_release,
                                                  memory_order_relaxed));
    return old == NULL;
}

struct answerq_item *answerq_take(struct answerq *q)
{
    struct answerq_item *taken = atomic_exchange_explicit(&q->head, NULL, memory_order_acquire);
    struct answerq_item *list = NULL;

    while (taken != NULL) { /* newest first: reversed into push order */
        struct answerq_item *next = taken->next;
        taken->leader = next == NULL;
        taken->next = list;
        list = taken;
        taken = next;
    }
    return list;
}

bool answerq_busy(struct answerq *q)
{
    return atomic_load_explicit(&q->head, memory_order_acquire) != NULL;
}
