#ifndef LIANPAY_CTL_PAYOUT_H
#define LIANPAY_CTL_PAYOUT_H

#include <stdio.h>

struct store;

/*
 * lianpayctl's payout verbs that need no daemon (design.md: pay, payouts, cancel) and the payout
 * part of status. Each takes its verb's argv (argv[0] the verb) and an open store, prints its
 * results on out and a one-line reason on stderr, and returns the exit status: 0 done, 1 a
 * refusal (a payout refused, a state the verb does not apply to), 2 unusable input or a failure.
 * Card numbers are printed masked, names masked too, everything stored escaped.
 */
int ctl_payout_pay(struct store *st, int argc, char **argv, FILE *out);
int ctl_payout_list(struct store *st, int argc, char **argv, FILE *out);
int ctl_payout_cancel(struct store *st, int argc, char **argv, FILE *out);
/* A person's decisions on a payout the daemon acts on (store_payout.h's STORE_DECIDE_*), recorded
 * in the row's reason with the user ("declined by alice"). decline and resubmit: 0 done, 1 not in
 * a state they apply to, 2 no such payout. confirm NO_ORDER [--timeout D] asks the daemon to send
 * the code and waits (default 60 s) for LianLian's answer: 0 accepted, 1 any other answer or a
 * refusal, 2 no such payout or no answer in time (the daemon stopped, [submit] off). */
int ctl_payout_confirm(struct store *st, int argc, char **argv, FILE *out);
int ctl_payout_decline(struct store *st, int argc, char **argv, FILE *out);
int ctl_payout_resubmit(struct store *st, int argc, char **argv, FILE *out);

/* Prints no_order's payout and its attempts (nothing when it has none). Returns 0, or -1. */
int ctl_payout_print(struct store *st, const char *no_order, FILE *out);

/* status --json: adds "payout" (its row, card and name masked, or null) and "attempts" (one
 * object per request sent, oldest first) to o. Returns 0, or -1 on a database error. */
struct cJSON;
int ctl_payout_json(struct store *st, const char *no_order, struct cJSON *o);

#endif
