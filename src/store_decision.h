#ifndef LIANPAY_STORE_DECISION_H
#define LIANPAY_STORE_DECISION_H

#include <stdint.h>

struct store;

/*
 * The payout_decisions table (sql/0009): one row per person's decision made with lianpayctl,
 * appended in the decision's own transaction, and logged once by the daemon (decision_log.c),
 * which then sets logged_at through the writer.
 */

/* Who decides: the user name of getuid(), and SUDO_USER (NULL when not under sudo). */
struct store_person {
    const char *user;
    const char *sudo_user;
};

/* One decision (strings as stored; reason and note may be NULL). */
struct store_decision {
    const char *no_order;
    const char *decision; /* cancel confirm decline resubmit resolve */
    const char *decided_at;
    struct store_person by;
    const char *from_state, *to_state;
    const char *reason; /* why it waited for a person, as it was */
    const char *note;   /* what the person wrote */
};

/* Appends d inside the caller's transaction. Returns 0, or -1 (store_errmsg). */
int store_decision_append(struct store *st, const struct store_decision *d);

/* Calls row(ctx, id, d) for at most max decisions not logged yet, oldest first (d is valid
 * during the call). Returns how many, or -1. */
int store_decisions_unlogged(struct store *st, int max,
                             void (*row)(void *ctx, int64_t id, const struct store_decision *d),
                             void *ctx);

/* The writer's job: sets logged_at = now_iso on the rows ids[0..n) that have none yet; marked
 * says how many it set. */
struct store_decisions_logged {
    const int64_t *ids;
    int n;
    const char *now_iso;
    int marked;
};
int store_decisions_mark(struct store *st, struct store_decisions_logged *in);

#endif
