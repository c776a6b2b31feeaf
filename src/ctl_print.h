#ifndef LIANPAY_CTL_PRINT_H
#define LIANPAY_CTL_PRINT_H

#include <stdio.h>

struct store;

/*
 * What lianpayctl prints for people. Prints an order's current row and its journal to out
 * (lianpayctl status), every stored value escaped as the log escapes. Returns 0, 1 when the
 * order is unknown (nothing printed), or -1 on a database error (store_errmsg) or when out
 * cannot be written.
 */
int ctl_print_status(struct store *st, const char *no_order, FILE *out);

#endif
