/*
 * The trail of people's decisions (store_decision.h, sql/0009): lianpayctl appends a row in the
 * transaction of the decision, the daemon's main thread reads the rows not logged yet on its
 * own read connection, and the writer marks them logged. The table's triggers keep every row as
 * it was written but for that one mark.
 */
#include "store_decision.h"

#include "store_private.h"

int store_decision_append(struct store *st, const struct store_decision *d)
{
    static const char sql[] =
        "INSERT INTO payout_decisions (no_order, decision, decided_at, by_user, sudo_user, "
        "from_state, to_state, reason, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    const char *const values[] = {d->no_order, d->decision,     d->decided_at,
                                  d->by.user,  d->by.sudo_user, d->from_state,
                                  d->to_state, d->reason,       d->note};
    sqlite3_stmt *s = NULL;
    int ret = -1;

    if (prepare_once(st, sql, &s) < 0)
        goto out;
    for (int i = 0; i < (int)(sizeof(values) / sizeof(values[0])); i++)
        if (bind_opt(st, s, i + 1, values[i]) < 0)
            goto out;
    ret = step_done(st, s);
out:
    (void)sqlite3_finalize(s);
    return ret;
}

static const char *text(sqlite3_stmt *s, int col)
{
    return (const char *)sqlite3_column_text(s, col);
}

int store_decisions_unlogged(struct store *st, int max,
                             void (*row)(void *ctx, int64_t id, const struct store_decision *d),
                             void *ctx)
{
    static const char sql[] =
        "SELECT id, no_order, decision, decided_at, by_user, sudo_user, from_state, to_state, "
        "reason, note FROM payout_decisions INDEXED BY payout_decisions_unlogged "
        "WHERE logged_at IS NULL ORDER BY id LIMIT ?1";
    sqlite3_stmt *s = NULL;
    int n = 0, r;

    if (prepare_once(st, sql, &s) < 0 || bind_int(st, s, 1, max) < 0) {
        n = -1;
        goto out;
    }
    while ((r = step_row(st, s)) == 1) {
        struct store_decision d = {
            .no_order = text(s, 1),
            .decision = text(s, 2),
            .decided_at = text(s, 3),
            .by = {text(s, 4), text(s, 5)},
            .from_state = text(s, 6),
            .to_state = text(s, 7),
            .reason = text(s, 8),
            .note = text(s, 9),
        };
        row(ctx, sqlite3_column_int64(s, 0), &d);
        n++;
    }
    if (r < 0)
        n = -1;
out:
    (void)sqlite3_finalize(s);
    return n;
}

int store_decisions_mark(struct store *st, struct store_decisions_logged *in)
{
    static const char sql[] =
        "UPDATE payout_decisions SET logged_at = ?2 WHERE id = ?1 AND logged_at IS NULL";
    sqlite3_stmt *s = NULL;
    int ret = -1;

    in->marked = 0;
    if (prepare_once(st, sql, &s) < 0)
        goto out;
    for (int i = 0; i < in->n; i++) {
        if (bind_int(st, s, 1, in->ids[i]) < 0 || bind_text(st, s, 2, in->now_iso) < 0 ||
            step_done(st, s) < 0)
            goto out;
        in->marked += sqlite3_changes(st->db);
        sqlite3_reset(s);
    }
    ret = 0;
out:
    (void)sqlite3_finalize(s);
    return ret;
}
