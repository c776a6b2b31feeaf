/*
 * The submit thread's reads and writes of payouts (store_submit.h). sql/0004 holds the rules;
 * each write names the state it expects, so that a payout a person cancelled meanwhile is left
 * alone and nothing is sent for it.
 */
#include "store_submit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt.h"
#include "store_private.h"

#define PAYOUT_FIELDS                                                                              \
    "no_order, dt_order, money_order, card_no, acct_name, bank_name, info_order, flag_card, "      \
    "memo, prcptcd, bank_code, city_code, brabank_name"

_Static_assert(sizeof(struct payout_request) == 13 * sizeof(const char *),
               "payout_request is the 13 fields of PAYOUT_FIELDS, in that order");

int store_submit_next(struct store *st, struct store_submit_payout *out)
{
    static const char sql[] = "SELECT " PAYOUT_FIELDS " FROM payouts INDEXED BY payouts_state "
                              "WHERE state = 'queued' ORDER BY queued_at, no_order LIMIT 1";
    sqlite3_stmt *s = NULL;
    int row = -1;

    memset(out, 0, sizeof(*out));
    if (prepare_once(st, sql, &s) < 0 || (row = step_row(st, s)) <= 0)
        goto out;
    const char **req = (const char **)&out->req;
    for (int i = 0; i < 13; i++) {
        const char *v = (const char *)sqlite3_column_text(s, i);
        if (v != NULL && (out->field[i] = strdup(v)) == NULL) {
            store_set_errorf(st, SQLITE_NOMEM, "out of memory");
            store_submit_payout_finish(out);
            row = -1;
            goto out;
        }
        req[i] = out->field[i];
    }
out:
    (void)sqlite3_finalize(s);
    return row;
}

void store_submit_payout_finish(struct store_submit_payout *p)
{
    for (int i = 0; i < 13; i++)
        free(p->field[i]);
    memset(p, 0, sizeof(*p));
}

/* Runs sql with the texts binds[0..n) as ?1.., and sets s->changed. */
static int run(struct store *st, const char *sql, const char *const *binds, int n,
               struct store_submit_step *step)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;

    if (prepare_once(st, sql, &s) < 0)
        goto out;
    for (int i = 0; i < n; i++)
        if (bind_text(st, s, i + 1, binds[i]) < 0)
            goto out;
    if (step_done(st, s) < 0)
        goto out;
    step->changed = sqlite3_changes(st->db);
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

int store_submit_refuse(struct store *st, struct store_submit_step *s)
{
    static const char sql[] = "UPDATE payouts SET state = 'refused', ret_code = NULL, "
                              "reason = ?3, updated_at = ?2 WHERE no_order = ?1 "
                              "AND state = 'queued'";
    const char *const b[] = {s->no_order, s->now_iso, s->reason};
    return run(st, sql, b, 3, s);
}

/* The payments row of a payout that was just sent, ?1 no_order and ?2 sent_at: it is chased
 * from sent_at (design.md), not from when it was queued, with the backoff from its start; and a
 * give-up of an earlier chase (the payout was resubmitted since) is resolved, with its audit row
 * as lianpayctl review resolve would write it, so that the order is chased again at all. */
static const char *const sent_again_sql[] = {
    "INSERT INTO review_resolutions (no_order, resolved_at, resolved_by, review_reason, note, "
    "requery) SELECT no_order, ?2, 'lianpay-notifyd', review_reason, "
    "'resubmitted payout sent again', 1 FROM payments WHERE no_order = ?1 AND needs_review = 1 "
    "AND substr(review_reason, 1, length('" ATTEMPT_GIVE_UP_PREFIX "')) = '" ATTEMPT_GIVE_UP_PREFIX
    "'",
    "UPDATE payments SET updated_at = ?2, review_reason = NULL, needs_review = 0 "
    "WHERE no_order = ?1 AND needs_review = 1 "
    "AND substr(review_reason, 1, length('" ATTEMPT_GIVE_UP_PREFIX "')) = '" ATTEMPT_GIVE_UP_PREFIX
    "'",
    "UPDATE payments SET chase_from = ?2, query_count = 0 WHERE no_order = ?1",
};

/*
 * The attempts row of a request about to leave, written in the same transaction as "sending" or
 * "confirming": a request the daemon was killed during is in the journal too (class unknown, no
 * answer, answered_at NULL), and its answer, when it comes, is recorded on this row (the
 * append-only trigger allows that once). Returns 0, or -1.
 */
static int attempt_ahead(struct store *st, struct store_submit_step *s)
{
    static const char sql[] = "INSERT INTO payout_attempts (no_order, call, class, signed, "
                              "request, sent_at) VALUES (?1, ?2, 'unknown', 0, ?3, ?4)";
    struct store_submit_step ignored;

    if (s->changed == 0 || s->request == NULL || s->call == NULL)
        return 0;
    const char *const b[] = {s->no_order, s->call, s->request, s->now_iso};
    return run(st, sql, b, 4, &ignored);
}

int store_submit_sending(struct store *st, struct store_submit_step *s)
{
    static const char sql[] = "UPDATE payouts SET state = 'sending', sent_at = ?2, "
                              "attempts = attempts + 1, updated_at = ?2 "
                              "WHERE no_order = ?1 AND state = 'queued'";
    const char *const b[] = {s->no_order, s->now_iso};
    struct store_submit_step ignored;

    if (run(st, sql, b, 2, s) < 0 || attempt_ahead(st, s) < 0)
        return -1;
    for (size_t i = 0; s->changed > 0 && i < sizeof(sent_again_sql) / sizeof(sent_again_sql[0]);
         i++)
        if (run(st, sent_again_sql[i], b, 2, &ignored) < 0)
            return -1;
    return 0;
}

/* The answer as payout_attempts keeps it: each NUL byte written as the two characters "\0"
 * (sql/0004 refuses a NUL in a text column; a C string would end at it). malloc'd, *n its length;
 * NULL when there is no answer or no memory (*oom says which). */
static char *visible_nul(const char *answer, size_t len, size_t *n, bool *oom)
{
    size_t nuls = 0;
    *n = 0;
    *oom = false;
    if (answer == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        nuls += answer[i] == '\0';
    char *out = malloc(len + nuls + 1), *o = out;
    if (out == NULL) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        if (answer[i] == '\0') {
            *o++ = '\\';
            *o++ = '0';
        } else {
            *o++ = answer[i];
        }
    }
    *o = '\0';
    *n = len + nuls;
    return out;
}

/* store_submit_answer's three statements, the answer (answer, n) stored as it is given. */
static int record_answer(struct store *st, struct store_submit_step *s, const char *reason,
                         const char *ret_msg, const char *answer, size_t n)
{
    static const char upd[] =
        "UPDATE payouts SET state = ?2, ret_code = ?3, ret_msg = ?4, oid_paybill = ?5, "
        "confirm_code = ?6, confirm_expires_at = ?7, confirm_tries = ?8, sent_at = ?9, "
        "answered_at = ?10, reason = ?11, updated_at = ?10, "
        "confirm_requested_at = NULL "
        "WHERE no_order = ?1 AND (state = 'sending' OR state = 'confirming')";
    /* The row written before the request left (attempt_ahead), or, for a request sent by a
     * daemon that wrote none (an older version), a new one. */
    static const char fill[] = "UPDATE payout_attempts SET class = ?3, ret_code = ?4, signed = ?5, "
                               "answer = ?6, answered_at = ?9 WHERE id = (SELECT max(id) FROM "
                               "payout_attempts WHERE no_order = ?1 AND call = ?2 "
                               "AND answered_at IS NULL AND request = ?7)";
    static const char ins[] = "INSERT INTO payout_attempts (no_order, call, class, ret_code, "
                              "signed, answer, request, sent_at, answered_at) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    static const char sched[] = "UPDATE payments SET next_query_at = ?2 "
                                "WHERE no_order = ?1 AND payout_held = 0 AND " SQL_NOT_FINAL;
    sqlite3_stmt *q = NULL;
    int ret = -1;

    if (prepare_once(st, upd, &q) < 0 || bind_text(st, q, 1, s->no_order) < 0 ||
        bind_text(st, q, 2, s->state) < 0 || bind_opt(st, q, 3, s->ret_code) < 0 ||
        bind_opt(st, q, 4, ret_msg) < 0 || bind_opt(st, q, 5, s->oid_paybill) < 0 ||
        bind_opt(st, q, 6, s->confirm_code) < 0 || bind_opt(st, q, 7, s->confirm_expires_at) < 0 ||
        bind_int(st, q, 8, s->confirm_tries) < 0 || bind_text(st, q, 9, s->sent_at) < 0 ||
        bind_text(st, q, 10, s->answered_at) < 0 || bind_opt(st, q, 11, reason) < 0 ||
        step_done(st, q) < 0)
        goto out;
    s->changed = sqlite3_changes(st->db);
    (void)sqlite3_finalize(q);
    q = NULL;
    if (s->changed == 0) {
        ret = 0;
        goto out;
    }
    for (int pass = 0; pass < 2; pass++) {
        if (prepare_once(st, pass == 0 ? fill : ins, &q) < 0 ||
            bind_text(st, q, 1, s->no_order) < 0 || bind_text(st, q, 2, s->call) < 0 ||
            bind_text(st, q, 3, s->attempt_class != NULL ? s->attempt_class : s->state) < 0 ||
            bind_opt(st, q, 4, s->ret_code) < 0 || bind_int(st, q, 5, s->signed_ok ? 1 : 0) < 0 ||
            check_bind(st, answer != NULL
                               ? sqlite3_bind_text(q, 6, answer, (int)n, SQLITE_TRANSIENT)
                               : sqlite3_bind_null(q, 6)) < 0 ||
            bind_text(st, q, 7, s->request) < 0 ||
            (pass == 1 && bind_text(st, q, 8, s->sent_at) < 0) ||
            bind_text(st, q, 9, s->answered_at) < 0 || step_done(st, q) < 0)
            goto out;
        int filled = sqlite3_changes(st->db);
        (void)sqlite3_finalize(q);
        q = NULL;
        if (filled > 0)
            break;
    }
    if (s->next_query_at != NULL) {
        const char *const b[] = {s->no_order, s->next_query_at};
        int changed = s->changed;
        if (run(st, sched, b, 2, s) < 0)
            goto out;
        s->changed = changed;
    }
    ret = 0;
out:
    (void)sqlite3_finalize(q);
    return ret;
}

/*
 * An answer that cannot be stored as it is (a CHECK of sql/0004 refuses something in it) must not
 * leave the payout "sending" with the submit thread retrying it for ever, nothing else sent: the
 * attempt is then recorded without what came from LianLian's side (the body, ret_msg), the reason
 * saying why. Only an error of the statement's own (STORE_ERR_SQL) is worth that; a storage fault
 * would fail the second try too and is passed up, to be retried after a pause.
 */
int store_submit_answer(struct store *st, struct store_submit_step *s)
{
    size_t n;
    bool oom;
    char *answer = visible_nul(s->answer, s->answer_len, &n, &oom);
    char reason[512];
    int ret = -1;

    if (oom) {
        store_set_errorf(st, SQLITE_NOMEM, "out of memory");
        return -1;
    }
    if (store_exec(st, "SAVEPOINT payout_answer") < 0)
        goto out;
    if (record_answer(st, s, s->reason, s->ret_msg, answer, n) == 0) {
        ret = store_exec(st, "RELEASE payout_answer");
        goto out;
    }
    if (store_err(st) != STORE_ERR_SQL)
        goto out; /* the writer rolls the whole transaction back */
    snprintf(reason, sizeof(reason), "%s%sthe answer could not be stored (%.160s): kept without it",
             s->reason != NULL ? s->reason : "", s->reason != NULL ? "; " : "", store_errmsg(st));
    if (store_exec(st, "ROLLBACK TO payout_answer") < 0 ||
        record_answer(st, s, reason, NULL, NULL, 0) < 0)
        goto out;
    ret = store_exec(st, "RELEASE payout_answer");
out:
    free(answer);
    return ret;
}

int store_submit_next_confirm(struct store *st, struct store_submit_confirm *out)
{
    static const char sql[] = "SELECT no_order, confirm_code, confirm_expires_at, confirm_tries, "
                              "card_no, reason FROM payouts INDEXED BY payouts_state "
                              "WHERE state = 'review' AND confirm_requested_at IS NOT NULL "
                              "AND confirm_code IS NOT NULL AND confirm_expires_at IS NOT NULL "
                              "ORDER BY confirm_requested_at, no_order LIMIT 1";
    sqlite3_stmt *s = NULL;
    int row = -1;

    memset(out, 0, sizeof(*out));
    if (prepare_once(st, sql, &s) < 0 || (row = step_row(st, s)) <= 0)
        goto out;
    column_copy(s, 0, out->no_order, sizeof(out->no_order));
    column_copy(s, 1, out->confirm_code, sizeof(out->confirm_code));
    column_copy(s, 2, out->confirm_expires_at, sizeof(out->confirm_expires_at));
    out->confirm_tries = sqlite3_column_int(s, 3);
    column_copy(s, 4, out->card_no, sizeof(out->card_no));
    column_copy(s, 5, out->reason, sizeof(out->reason));
out:
    (void)sqlite3_finalize(s);
    return row;
}

int store_submit_confirming(struct store *st, struct store_submit_step *s)
{
    /* A person asked (confirm_requested_at) and the code has not lapsed: nothing else sends. */
    static const char sql[] = "UPDATE payouts SET state = 'confirming', "
                              "attempts = attempts + 1, updated_at = ?2 "
                              "WHERE no_order = ?1 AND state = 'review' "
                              "AND confirm_requested_at IS NOT NULL AND confirm_expires_at > ?2";
    const char *const b[] = {s->no_order, s->now_iso};
    if (run(st, sql, b, 2, s) < 0 || attempt_ahead(st, s) < 0)
        return -1;
    return 0;
}

void store_submit_step_finish(struct store_submit_step *s)
{
    free(s->changes);
    s->changes = NULL;
    s->n_changes = 0;
}

/* The payouts sql (binding ?1 to s->now_iso when it has a parameter) selects, with their states,
 * into s->changes as their from. Returns 0, or -1. */
static int changes_before(struct store *st, const char *sql, struct store_submit_step *s)
{
    sqlite3_stmt *q = NULL;
    int ret = -1, row, cap = 0;

    store_submit_step_finish(s);
    if (prepare_once(st, sql, &q) < 0 ||
        (sqlite3_bind_parameter_count(q) > 0 && bind_text(st, q, 1, s->now_iso) < 0))
        goto out;
    while ((row = step_row(st, q)) == 1) {
        if (s->n_changes == cap) {
            int more = cap > 0 ? cap * 2 : 8;
            struct store_submit_change *c = realloc(s->changes, (size_t)more * sizeof(*c));
            if (c == NULL) {
                store_set_errorf(st, SQLITE_NOMEM, "out of memory");
                goto out;
            }
            s->changes = c;
            cap = more;
        }
        struct store_submit_change *c = &s->changes[s->n_changes++];
        memset(c, 0, sizeof(*c));
        column_copy(q, 0, c->no_order, sizeof(c->no_order));
        column_copy(q, 1, c->from, sizeof(c->from));
    }
    ret = row < 0 ? -1 : 0;
out:
    (void)sqlite3_finalize(q);
    return ret;
}

/* Each of s->changes' state and reason now, as their to. Returns 0, or -1. */
static int changes_after(struct store *st, struct store_submit_step *s)
{
    static const char sql[] = "SELECT state, reason FROM payouts WHERE no_order = ?1";
    sqlite3_stmt *q = NULL;
    int ret = -1;

    if (prepare_once(st, sql, &q) < 0)
        goto out;
    for (int i = 0; i < s->n_changes; i++) {
        struct store_submit_change *c = &s->changes[i];
        if (sqlite3_reset(q) != SQLITE_OK || bind_text(st, q, 1, c->no_order) < 0 ||
            step_row(st, q) != 1) {
            store_set_errorf(st, SQLITE_ERROR, "payout %s vanished in its sweep", c->no_order);
            goto out;
        }
        column_copy(q, 0, c->to, sizeof(c->to));
        column_copy(q, 1, c->reason, sizeof(c->reason));
    }
    ret = 0;
out:
    (void)sqlite3_finalize(q);
    return ret;
}

int store_submit_recover(struct store *st, struct store_submit_step *s)
{
    static const char which[] = "SELECT no_order, state FROM payouts "
                                "WHERE state = 'sending' OR state = 'confirming'";
    /* The payments rows first, while the payouts still say which ones were in flight (their
     * payout_held is already 0: sending and confirming are not held). */
    static const char sched[] =
        "UPDATE payments SET next_query_at = ?2 WHERE payout_held = 0 AND " SQL_NOT_FINAL
        " AND no_order IN (SELECT no_order FROM payouts "
        "WHERE state = 'sending' OR state = 'confirming')";
    static const char upd[] = "UPDATE payouts SET state = 'unknown', reason = ?3, updated_at = ?1 "
                              "WHERE state = 'sending' OR state = 'confirming'";
    const char *const b1[] = {s->now_iso, s->next_query_at};
    const char *const b2[] = {s->now_iso, s->now_iso, s->reason};
    if (changes_before(st, which, s) < 0 || run(st, sched, b1, 2, s) < 0 ||
        run(st, upd, b2, 3, s) < 0)
        return -1;
    return changes_after(st, s);
}

int store_submit_expire(struct store *st, struct store_submit_step *s)
{
    static const char which[] = "SELECT no_order, state FROM payouts INDEXED BY payouts_state "
                                "WHERE state = 'review' AND confirm_expires_at <= ?1";
    static const char sql[] = "UPDATE payouts SET state = 'closed', reason = ?2, updated_at = ?1 "
                              "WHERE state = 'review' AND confirm_expires_at <= ?1";
    const char *const b[] = {s->now_iso, s->reason};
    if (changes_before(st, which, s) < 0 || run(st, sql, b, 2, s) < 0)
        return -1;
    return changes_after(st, s);
}

const char *const store_payout_state_names[STORE_PAYOUT_STATES] = {
    "queued",  "sending", "accepted", "review",   "confirming",
    "refused", "unknown", "closed",   "cancelled"};

/* The first column of sql's first row (?1, if it has one: now_ms) as a count, 0 when NULL or
 * negative. */
static int gauge(struct store *st, const char *sql, int64_t now_ms, int64_t *v)
{
    sqlite3_stmt *s = NULL;
    int ret = -1, row;

    *v = 0;
    if (prepare_once(st, sql, &s) < 0 ||
        (sqlite3_bind_parameter_count(s) > 0 && bind_int(st, s, 1, now_ms) < 0) ||
        (row = step_row(st, s)) < 0)
        goto out;
    if (row == 1 && sqlite3_column_int64(s, 0) > 0)
        *v = sqlite3_column_int64(s, 0);
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}

int store_submit_counts(struct store *st, int64_t now_ms, uint64_t counts[STORE_PAYOUT_STATES],
                        struct store_payout_gauges *g)
{
    static const char by_state[] = "SELECT state, count(*) FROM payouts GROUP BY state";
    static const char oldest[] = "SELECT CAST(?1 / 1000 - strftime('%s', queued_at) AS INTEGER) "
                                 "FROM payouts INDEXED BY payouts_state WHERE state = 'queued' "
                                 "ORDER BY queued_at LIMIT 1";
    static const char unknown[] =
        "SELECT max(CAST(?1 / 1000 - strftime('%s', coalesce(sent_at, queued_at)) AS INTEGER)) "
        "FROM payouts INDEXED BY payouts_state WHERE state = 'unknown'";
    static const char person[] = "SELECT count(*) FROM payouts_for_a_person";
    sqlite3_stmt *s = NULL;
    int ret = -1, row;
    int64_t n = 0;

    memset(counts, 0, STORE_PAYOUT_STATES * sizeof(counts[0]));
    memset(g, 0, sizeof(*g));
    if (prepare_once(st, by_state, &s) < 0)
        goto out;
    while ((row = step_row(st, s)) == 1) {
        const char *state = (const char *)sqlite3_column_text(s, 0);
        for (int i = 0; state != NULL && i < STORE_PAYOUT_STATES; i++)
            if (strcmp(state, store_payout_state_names[i]) == 0)
                counts[i] = (uint64_t)sqlite3_column_int64(s, 1);
    }
    if (row < 0 || gauge(st, oldest, now_ms, &g->oldest_queued_age_s) < 0 ||
        gauge(st, unknown, now_ms, &g->oldest_unknown_age_s) < 0 ||
        gauge(st, person, now_ms, &n) < 0)
        goto out;
    g->for_a_person = (uint64_t)n;
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}
