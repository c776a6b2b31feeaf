#ifndef LIANPAY_ANSWERQ_H
#define LIANPAY_ANSWERQ_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The answers waiting for one HTTP thread: a lock-free stack that the writer pushes a request
 * on once its transaction is durable, and that the thread takes whole. Only the push onto an
 * empty stack needs to wake the thread (resume that request's connection); every other request
 * pushed before the thread takes the stack is answered with it, so a batch of N answers costs
 * libmicrohttpd one wake-up instead of N.
 *
 * An item is embedded in the caller's request. Any thread may push; one thread at a time takes
 * (the stack's own HTTP thread). What the pusher wrote before answerq_push is visible to the
 * thread that takes the item.
 */
struct answerq_item {
    struct answerq_item *next;
    bool leader; /* set by answerq_take: pushed onto the empty stack (the one that was woken) */
};

/* The request holding item, from its member's name: ANSWERQ_ENTRY(it, struct request, item). */
#define ANSWERQ_ENTRY(item, type, member) ((type *)((char *)(item)-offsetof(type, member)))

struct answerq {
    _Atomic(struct answerq_item *) head;
};

/* Pushes item; true when the stack was empty: the caller wakes the taking thread (for it,
 * nothing else will). */
bool answerq_push(struct answerq *q, struct answerq_item *item);

/* Takes every item: the first pushed first (commit order), leader set on that one only and
 * next linking the rest. NULL when the stack is empty. */
struct answerq_item *answerq_take(struct answerq *q);

/* Whether items are waiting (a hint: another thread may push or take at any moment). */
bool answerq_busy(struct answerq *q);

#endif
