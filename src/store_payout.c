/*
 * The payouts lianpayctl queues, cancels and shows (store_payout.h). sql/0004 holds the rules
 * (formats, the 50,000-yuan rule, a no_order payments knows, registering the order): this file
 * only writes and reads rows and tells a refusal from a failure. Any thread, one connection.
 */
#include "store_payout.h"

#include <stdio.h>
#include <string.h>

#include "payout.h"
#include "store_decision.h"
#include "store_private.h"

int store_payout_queue(struct store *st, const struct payout_request *r,
                       enum store_payout_result *res, char *why, size_t len)
{
    sqlite3_stmt *s = store_prepared(st, Q_PAYOUT_INSERT);
    const char *const values[] = {r->no_order,    r->dt_order,  r->money_order, r->card_no,
                                  r->acct_name,   r->bank_name, r->info_order,  r->flag_card,
                                  r->memo,        r->prcptcd,   r->bank_code,   r->city_code,
                                  r->brabank_name};
    int ret = -1, rc;

    if (s == NULL)
        goto out;
    for (int i = 0; i < (int)(sizeof(values) / sizeof(values[0])); i++)
        if (bind_opt(st, s, i + 1, values[i]) < 0)
            goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        *res = STORE_PAYOUT_DONE;
        ret = 0;
    } else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        /* The statement was undone; the transaction goes on. */
        snprintf(why, len, "%s", sqlite3_errmsg(st->db));
        *res = STORE_PAYOUT_REFUSED;
        ret = 0;
    } else {
        store_set_error(st, rc);
    }
out:
    release(s);
    return ret;
}

/* The UPDATE of each decision: ?1 no_order, ?2 now, ?3 the reason (NULL keeps it). Each names
 * the state it applies to, so that a refusal changes nothing. */
static const char *const decision_sql[] = {
    /* Queued: nothing was sent. Refused: LianLian's signed answer (or our own check) says nothing
     * was created; a person gives up on it instead of resubmitting. */
    [STORE_DECIDE_CANCEL] = "UPDATE payouts SET state = 'cancelled', updated_at = ?2, "
                            "reason = ifnull(?3, reason) WHERE no_order = ?1 AND (state = 'queued' "
                            "OR state = 'refused')",
    /* A person asks the submit thread to send the code; asking again keeps the first time. */
    [STORE_DECIDE_CONFIRM] =
        "UPDATE payouts SET confirm_requested_at = ifnull(confirm_requested_at, ?2), "
        "reason = ifnull(?3, reason), updated_at = ?2 WHERE no_order = ?1 AND state = 'review' "
        "AND confirm_expires_at > ?2",
    [STORE_DECIDE_DECLINE] = "UPDATE payouts SET state = 'closed', reason = ifnull(?3, reason), "
                             "updated_at = ?2 WHERE no_order = ?1 AND state = 'review' "
                             "AND confirm_requested_at IS NULL",
    /* The same fields again; what the last answer said goes, the attempts and journal stay. */
    [STORE_DECIDE_RESUBMIT] =
        "UPDATE payouts SET state = 'queued', ret_code = NULL, ret_msg = NULL, oid_paybill = NULL, "
        "confirm_code = NULL, confirm_expires_at = NULL, confirm_tries = 0, "
        "confirm_requested_at = NULL, no_record_since = NULL, reason = ifnull(?3, reason), "
        "updated_at = ?2 WHERE no_order = ?1 AND (state = 'refused' OR (state = 'unknown' "
        "AND substr(reason, 1, length('" STORE_NO_RECORD_PREFIX "')) = '" STORE_NO_RECORD_PREFIX
        "'))",
};

const char *store_payout_decision_name(enum store_payout_decision d)
{
    static const char *const names[] = {
        [STORE_DECIDE_CANCEL] = "cancel",
        [STORE_DECIDE_CONFIRM] = "confirm",
        [STORE_DECIDE_DECLINE] = "decline",
        [STORE_DECIDE_RESUBMIT] = "resubmit",
    };
    return (unsigned)d < sizeof(names) / sizeof(names[0]) ? names[d] : "?";
}

/* The decision's row in payout_decisions: from the state (and reason) before to the one after. */
static int append_decision(struct store *st, enum store_payout_decision d,
                           const struct store_person *by, const char *no_order, const char *now_iso,
                           const struct store_payout_brief *before,
                           const struct store_payout_brief *after)
{
    struct store_decision row = {
        .no_order = no_order,
        .decision = store_payout_decision_name(d),
        .decided_at = now_iso,
        .by = *by,
        .from_state = before->state,
        .to_state = after->state,
        .reason = before->reason,
    };
    return store_decision_append(st, &row);
}

int store_payout_decide(struct store *st, enum store_payout_decision d,
                        const struct store_person *by, const char *no_order, const char *now_iso,
                        const char *reason, enum store_payout_result *res,
                        struct store_payout_brief *b)
{
    struct store_payout_brief before;
    sqlite3_stmt *s = NULL;
    int row;

    memset(b, 0, sizeof(*b));
    if (store_begin(st) < 0)
        return -1;
    if ((row = store_payout_brief(st, no_order, &before)) < 0)
        goto fail;
    if (prepare_once(st, decision_sql[d], &s) < 0 || bind_text(st, s, 1, no_order) < 0 ||
        bind_text(st, s, 2, now_iso) < 0 || bind_opt(st, s, 3, reason) < 0 || step_done(st, s) < 0)
        goto fail;
    *res = sqlite3_changes(st->db) == 1 ? STORE_PAYOUT_DONE : STORE_PAYOUT_STATE;
    (void)sqlite3_finalize(s);
    s = NULL;
    if ((row = store_payout_brief(st, no_order, b)) < 0)
        goto fail;
    if (row == 0)
        *res = STORE_PAYOUT_UNKNOWN;
    if (*res == STORE_PAYOUT_DONE && append_decision(st, d, by, no_order, now_iso, &before, b) < 0)
        goto fail;
    if (store_commit(st) < 0)
        goto fail;
    return 0;
fail:
    (void)sqlite3_finalize(s);
    (void)store_rollback(st);
    return -1;
}

int store_payout_brief(struct store *st, const char *no_order, struct store_payout_brief *b)
{
    static const char sql[] =
        "SELECT state, confirm_requested_at IS NOT NULL, confirm_expires_at, confirm_tries, "
        "ret_code, ret_msg, oid_paybill, reason, attempts FROM payouts WHERE no_order = ?1";
    sqlite3_stmt *s = NULL;
    int row = -1;

    memset(b, 0, sizeof(*b));
    if (prepare_once(st, sql, &s) < 0 || bind_text(st, s, 1, no_order) < 0 ||
        (row = step_row(st, s)) <= 0)
        goto out;
    column_copy(s, 0, b->state, sizeof(b->state));
    b->confirm_requested = sqlite3_column_int(s, 1);
    column_copy(s, 2, b->confirm_expires_at, sizeof(b->confirm_expires_at));
    b->confirm_tries = sqlite3_column_int(s, 3);
    column_copy(s, 4, b->ret_code, sizeof(b->ret_code));
    column_copy(s, 5, b->ret_msg, sizeof(b->ret_msg));
    column_copy(s, 6, b->oid_paybill, sizeof(b->oid_paybill));
    column_copy(s, 7, b->reason, sizeof(b->reason));
    b->attempts = sqlite3_column_int(s, 8);
out:
    (void)sqlite3_finalize(s);
    return row;
}

int store_payout_cancel(struct store *st, const struct store_person *by, const char *no_order,
                        const char *now_iso, enum store_payout_result *res, char *why, size_t len)
{
    struct store_payout_brief b;
    if (store_payout_decide(st, STORE_DECIDE_CANCEL, by, no_order, now_iso, NULL, res, &b) < 0)
        return -1;
    snprintf(why, len, "%s", b.state);
    return 0;
}

int store_payout_list(struct store *st, const char *state,
                      void (*line)(void *ctx, const struct store_payout_line *l), void *ctx)
{
    /* payouts_state serves both. */
    static const char all[] = "SELECT no_order, state, money_order, queued_at, reason, card_no "
                              "FROM payouts ORDER BY queued_at, no_order";
    static const char one[] = "SELECT no_order, state, money_order, queued_at, reason, card_no "
                              "FROM payouts WHERE state = ?1 ORDER BY queued_at, no_order";
    sqlite3_stmt *s = NULL;
    int ret = -1, row;

    if (prepare_once(st, state == NULL ? all : one, &s) < 0)
        goto out;
    if (state != NULL && bind_text(st, s, 1, state) < 0)
        goto out;
    while ((row = step_row(st, s)) == 1) {
        struct store_payout_line l = {
            .no_order = column_value(s, 0),
            .state = column_value(s, 1),
            .money_order = column_value(s, 2),
            .queued_at = column_value(s, 3),
            .reason = column_value(s, 4),
            .card_no = column_value(s, 5),
        };
        line(ctx, &l);
    }
    ret = row < 0 ? -1 : 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

int store_payout_columns(struct store *st, const char *no_order,
                         void (*column)(void *ctx, int row, const char *name,
                                        struct store_value value),
                         void *ctx)
{
    return store_rows_columns(st, "SELECT * FROM payouts WHERE no_order = ?1", no_order, column,
                              ctx);
}

int store_payout_attempts(struct store *st, const char *no_order,
                          void (*column)(void *ctx, int row, const char *name,
                                         struct store_value value),
                          void *ctx)
{
    return store_rows_columns(st, "SELECT * FROM payout_attempts WHERE no_order = ?1 ORDER BY id",
                              no_order, column, ctx);
}
