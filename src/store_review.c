/*
 * The review queue as lianpayctl review shows and resolves it: the review_queue view's rows, and
 * a person's resolution recorded in the append-only review_resolutions table (sql/0006) in the
 * same transaction that clears needs_review, with its row in payout_decisions (sql/0009) for the
 * daemon's log. Single-threaded: lianpayctl's own connection.
 */
#include "store_review.h"

#include <string.h>

#include "store_private.h"
#include "timeutil.h"

int store_review_rows(struct store *st, void (*row)(void *ctx, const struct store_value *cols),
                      void *ctx)
{
    return store_select_rows(
        st,
        "SELECT q.no_order, q.updated_at, CAST(p.needs_review AS TEXT), q.result_pay, "
        "q.money_order, q.payout_state, q.review_reason FROM review_queue AS q "
        "JOIN payments AS p ON p.no_order = q.no_order",
        STORE_REVIEW_COLUMNS, row, ctx);
}

/* What the order is now: whether it was found, flagged, final, held, and its payout's state. */
struct review_order {
    bool found, flagged, not_final, held;
    char payout_state[16];
};

static int read_order(struct store *st, const char *no_order, struct review_order *o)
{
    static const char sql[] =
        "SELECT needs_review, " SQL_NOT_FINAL ", payout_held, "
        "(SELECT state FROM payouts WHERE no_order = ?1) FROM payments WHERE no_order = ?1";
    sqlite3_stmt *s = NULL;
    int ret = -1, r;

    memset(o, 0, sizeof(*o));
    if (prepare_once(st, sql, &s) < 0 || bind_text(st, s, 1, no_order) < 0)
        goto out;
    r = step_row(st, s);
    if (r < 0)
        goto out;
    if (r == 1) {
        const unsigned char *state = sqlite3_column_text(s, 3);
        o->found = true;
        o->flagged = sqlite3_column_int(s, 0) != 0;
        o->not_final = sqlite3_column_int(s, 1) != 0;
        o->held = sqlite3_column_int(s, 2) != 0;
        snprintf(o->payout_state, sizeof(o->payout_state), "%s", state ? (const char *)state : "");
    }
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

/* Why in may not resolve o, or NULL when it may. */
static const char *refusal(const struct store_resolution *in, const struct review_order *o)
{
    bool chased = o->not_final && !o->held;

    if (!o->flagged)
        return o->payout_state[0] != '\0'
                   ? "not flagged for review; its payout waits for a person: lianpayctl payouts "
                     "shows its state (confirm, decline, resubmit or cancel decide it)"
                   : "not flagged for review";
    if (chased && !in->requery)
        return "its result is still unknown: resolving it would have it queried and flagged "
               "again at once; pass --requery to chase it again from now (a fresh "
               "give_up_after), or record its result first (lianpayctl query --apply)";
    if (!chased && in->requery)
        return "--requery: the order is not chased (its result is final or its payout has not "
               "been sent); resolve it without --requery";
    return NULL;
}

static int record(struct store *st, const struct store_resolution *in)
{
    static const char insert[] =
        "INSERT INTO review_resolutions (no_order, resolved_at, resolved_by, sudo_user, "
        "review_reason, note, requery) SELECT no_order, ?2, ?3, ?4, review_reason, ?5, ?6 "
        "FROM payments WHERE no_order = ?1";
    /* Before clear: the reason the order had. */
    static const char decision[] =
        "INSERT INTO payout_decisions (no_order, decision, decided_at, by_user, sudo_user, "
        "from_state, to_state, reason, note) SELECT no_order, 'resolve', ?2, ?3, ?4, 'flagged', "
        "CASE WHEN ?6 THEN 'requeried' ELSE 'resolved' END, review_reason, ?5 "
        "FROM payments WHERE no_order = ?1";
    static const char clear[] =
        "UPDATE payments SET needs_review = 0, review_reason = NULL, updated_at = ?2, "
        "next_query_at = CASE WHEN ?3 THEN ?2 ELSE next_query_at END, "
        "chase_from = CASE WHEN ?3 THEN ?2 ELSE chase_from END WHERE no_order = ?1";
    char now[TIME_ISO_LEN];
    sqlite3_stmt *s = NULL;
    int ret = -1;

    time_iso(in->now_ms, now);
    for (int i = 0; i < 2; i++) {
        if (prepare_once(st, i == 0 ? insert : decision, &s) < 0 ||
            bind_text(st, s, 1, in->no_order) || bind_text(st, s, 2, now) ||
            bind_text(st, s, 3, in->resolved_by) || bind_text(st, s, 4, in->sudo_user) ||
            bind_text(st, s, 5, in->note) || bind_int(st, s, 6, in->requery) ||
            step_done(st, s) < 0)
            goto out;
        (void)sqlite3_finalize(s);
        s = NULL;
    }
    if (prepare_once(st, clear, &s) < 0 || bind_text(st, s, 1, in->no_order) ||
        bind_text(st, s, 2, now) || bind_int(st, s, 3, in->requery) || step_done(st, s) < 0)
        goto out;
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

int store_review_resolve(struct store *st, const struct store_resolution *in,
                         enum store_resolve_result *res, char *why, size_t whylen)
{
    struct review_order o;
    const char *no;

    why[0] = '\0';
    if (store_begin(st) < 0)
        return -1;
    if (read_order(st, in->no_order, &o) < 0)
        goto fail;
    if (!o.found) {
        *res = STORE_RESOLVE_UNKNOWN;
        return store_rollback(st);
    }
    if ((no = refusal(in, &o)) != NULL) {
        *res = STORE_RESOLVE_REFUSED;
        snprintf(why, whylen, "%s", no);
        return store_rollback(st);
    }
    if (record(st, in) < 0 || store_commit(st) < 0)
        goto fail;
    *res = STORE_RESOLVED;
    return 0;
fail:
    (void)store_rollback(st);
    return -1;
}
