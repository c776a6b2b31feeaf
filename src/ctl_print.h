#ifndef LIANPAY_CTL_PRINT_H
#define LIANPAY_CTL_PRINT_H

#include <stdio.h>

struct store;
struct store_value;

/* Prints "lianpayctl: REASON" on stderr and returns 2, the exit status of unusable input. */
__attribute__((format(printf, 1, 2))) int ctl_fail(const char *fmt, ...);

/* A stored value escaped as the log escapes it, "-" for NULL. */
void ctl_print_value(FILE *out, struct store_value v);

/*
 * What lianpayctl prints for people. Prints an order's current row and its journal to out
 * (lianpayctl status), every stored value escaped as the log escapes. Returns 0, 1 when the
 * order is unknown (nothing printed), or -1 on a database error (store_errmsg) or when out
 * cannot be written.
 */
int ctl_print_status(struct store *st, const char *no_order, FILE *out);

/* The orders still chased (the pending_payments view), oldest first: a header line, then one
 * line per order, values separated by one space ("-" for NULL; the CHECKs keep spaces out of
 * every one, and each is escaped). Returns 0, or -1 as above. */
int ctl_print_pending(struct store *st, FILE *out);

#endif
