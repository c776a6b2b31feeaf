#ifndef LIANPAY_CTL_REVIEW_H
#define LIANPAY_CTL_REVIEW_H

#include <stdio.h>

struct store;

/* lianpayctl review list: the review_queue view, oldest first, one line (or JSON object) per
 * order. argv[0] is "list". Returns the exit status (0, or 2 after saying why). */
int ctl_review_list(struct store *st, int argc, char **argv, FILE *out);

/* lianpayctl review resolve NO_ORDER --note TEXT [--requery]: argv[0] is "resolve". Returns the
 * exit status: 0 resolved, 1 refused (not in review, --requery missing or out of place), 2 an
 * unknown order, an empty note, bad usage or a database failure (the reason on stderr). */
int ctl_review_resolve(struct store *st, int argc, char **argv, FILE *out);

/* The person running lianpayctl: getuid()'s user name (or "uid N" in buf), and SUDO_USER into
 * *sudo_user (NULL when not under sudo). The name points into getpwuid's storage or buf. */
const char *ctl_review_user(char *buf, size_t len, const char **sudo_user);

#endif
