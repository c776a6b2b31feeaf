#ifndef LIANPAY_DECISION_LOG_H
#define LIANPAY_DECISION_LOG_H

#include <stddef.h>

struct writer;

/*
 * The daemon's log of people's decisions (sql/0009's payout_decisions, written by lianpayctl):
 * one event=decision line each, then the row is marked logged through the writer. Driven by the
 * main thread (service.c's tick), which loops whether or not [reconcile] and [submit] run.
 */
struct decision_log;

/* Opens its own read connection to database_path; w must outlive it. Returns NULL with a
 * reason in err. */
struct decision_log *decision_log_create(const char *database_path, struct writer *w, char *err,
                                         size_t errlen);

/* At most once a second (more often returns at once): logs the decisions not logged yet and
 * hands their marks to the writer. Never waits for the writer. */
void decision_log_poll(struct decision_log *d);

/* Closes the read connection (before the writer stops: its connection should be the last). */
void decision_log_stop(struct decision_log *d);

/* Frees it; after writer_stop(), which answers a mark still queued. NULL is ignored. */
void decision_log_destroy(struct decision_log *d);

#endif
