#ifndef LIANPAY_STORE_SUBMIT_H
#define LIANPAY_STORE_SUBMIT_H

#include <stddef.h>
#include <stdint.h>

#include "payout.h"
#include "store.h"

/*
 * The submit thread's reads and writes of the payouts table (sql/0004). The reads work on any
 * connection (the thread's own read connection); the writes run inside the writer's transaction
 * (writer.h's WRITER_PAYOUT_* kinds). The payout_held triggers keep payments.payout_held; these
 * functions only schedule the payments row's next query where an answer says so.
 */

/* A payout to send, as stored (every string malloc'd, NULL for SQL NULL; free with
 * store_submit_payout_finish). req's pointers point into the strings. */
struct store_submit_payout {
    char *field[13]; /* in payout_request's order: no_order, dt_order, money_order, ... */
    struct payout_request req;
};

/* The oldest queued payout into *out. Returns 1 when there is one, 0 when none, -1 on error. */
int store_submit_next(struct store *st, struct store_submit_payout *out);
void store_submit_payout_finish(struct store_submit_payout *p);

/* A review payout a person asked to confirm (lianpayctl confirm set confirm_requested_at). */
struct store_submit_confirm {
    char no_order[64];
    char confirm_code[8];
    char confirm_expires_at[32];
    int confirm_tries;
    char card_no[64]; /* for the masked card of the log line only */
    char reason[256]; /* the person's decision as lianpayctl recorded it ("confirm requested by
                       * alice"), for the log line and the row after a final answer */
};

/* The payout asked to be confirmed longest ago into *out. Returns 1, 0 when none, -1 on error. */
int store_submit_next_confirm(struct store *st, struct store_submit_confirm *out);

/* A payout a sweep (recovery, expiry) changed, for its log line. */
struct store_submit_change {
    char no_order[33]; /* sql/0004's format: at most 32 printable ASCII characters */
    char from[16], to[16];
    char reason[256]; /* the row's reason after the step (a trigger may have set another) */
};

/* One step of a payout, the input of a writer job (all strings borrowed). */
struct store_submit_step {
    const char *no_order;
    const char *now_iso; /* updated_at */
    /* WRITER_PAYOUT_REFUSE: the reason (payout_check's sentence); ret_code stays NULL. */
    const char *reason;
    /* WRITER_PAYOUT_ANSWER: what the answer says. */
    const char *call;          /* "apply" | "confirm" */
    const char *state;         /* the payout's new state, and the attempt's class... */
    const char *attempt_class; /* ...unless this is not NULL (a refused confirm: back to review) */
    const char *ret_code, *ret_msg, *oid_paybill, *confirm_code, *confirm_expires_at;
    int confirm_tries;
    int signed_ok;
    const char *sent_at, *answered_at;
    const char *answer; /* the body as received, NULL when none */
    size_t answer_len;
    const char *request;       /* payout.c's journal_json */
    const char *next_query_at; /* the payments row's next query, NULL to leave it */
    /* Out: rows the step changed (0: the payout was not in the state the step expects). */
    int changed;
    /* Out, store_submit_recover and store_submit_expire: the payouts changed (malloc'd, NULL
     * when none; each run of the step replaces it; free with store_submit_step_finish). */
    struct store_submit_change *changes;
    int n_changes;
};

void store_submit_step_finish(struct store_submit_step *s);

/* queued -> refused, with reason and ret_code NULL. Returns 0, or -1 on an SQL error. */
int store_submit_refuse(struct store *st, struct store_submit_step *s);
/* queued -> sending (write-ahead: committed before the request leaves); s->changed 0 when the
 * payout is no longer queued (cancelled meanwhile). The payments row is then chased from
 * s->now_iso (sent_at: chase_from, query_count 0), and a give-up flag an earlier chase of the
 * order set is cleared with a review_resolutions row by 'lianpay-notifyd'. Returns 0, or -1. */
int store_submit_sending(struct store *st, struct store_submit_step *s);
/* review -> confirming (write-ahead) when a confirm is requested and the code has not lapsed at
 * s->now_iso; s->changed 0 otherwise (declined, expired meanwhile: nothing is sent). Returns 0,
 * or -1. */
int store_submit_confirming(struct store *st, struct store_submit_step *s);
/* sending or confirming -> s->state with the answer's fields, attempts + 1, one payout_attempts
 * row, and the payments row's next query; confirm_requested_at is cleared. The answer is stored
 * with each NUL byte as the two characters "\0"; one a CHECK refuses anyway is recorded without
 * its body and ret_msg, the reason saying why, so that an answer never keeps a payout in flight.
 * Returns 0, or -1 (a storage fault, or no memory). */
int store_submit_answer(struct store *st, struct store_submit_step *s);
/* At start-up: every payout in sending or confirming becomes unknown with reason (accepted, by
 * sql/0007's trigger, when a signed result is already stored), its payments row queried at
 * next_query_at. s->changed: how many; s->changes: which. Returns 0, or -1. */
int store_submit_recover(struct store *st, struct store_submit_step *s);

/* review -> closed for every payout whose confirm_expires_at is not after s->now_iso, with
 * s->reason. s->changed: how many; s->changes: which. Returns 0, or -1. */
int store_submit_expire(struct store *st, struct store_submit_step *s);

/* The payout states, in sql/0004's order (the label of store_submit_counts' counts). */
#define STORE_PAYOUT_STATES 9
extern const char *const store_payout_state_names[STORE_PAYOUT_STATES];

/* What the payout gauges show, at one instant. */
struct store_payout_gauges {
    int64_t oldest_queued_age_s;  /* seconds since the oldest queued payout was queued; 0: none */
    int64_t oldest_unknown_age_s; /* seconds since the oldest unknown payout was sent (queued,
                                   * when it has no sent_at); 0: none */
    uint64_t for_a_person;        /* rows of payouts_for_a_person */
};

/* Payouts by state into counts[STORE_PAYOUT_STATES], and the gauges *g at now_ms. Returns 0, or
 * -1. */
int store_submit_counts(struct store *st, int64_t now_ms, uint64_t counts[STORE_PAYOUT_STATES],
                        struct store_payout_gauges *g);

#endif
