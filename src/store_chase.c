/*
 * The reconciler's queries: which orders are due to be queried (store_due), scheduling the new
 * ones (store_schedule_new), and what a query attempt leaves behind (store_query_outcome: the
 * answer recorded, then store_reschedule or store_flag_review), with the rows that cannot be
 * queried as stored sent to a person (store_flag_unqueryable). Runs on the reconciler's thread
 * (reads) and the writer's (writes).
 */
#include "store.h"

#include <inttypes.h>
#include <string.h>

#include "attempt.h"
#include "store_private.h"

int store_schedule_new(struct store *st, int64_t notify_window_s)
{
    sqlite3_stmt *s = store_prepared(st, Q_SCHEDULE_NEW);
    char modifier[48];
    int ret = -1;

    snprintf(modifier, sizeof(modifier), "%+" PRId64 " seconds", notify_window_s);
    if (s == NULL || bind_text(st, s, 1, modifier) < 0 || step_done(st, s) < 0)
        goto out;
    ret = sqlite3_changes(st->db);
out:
    release(s);
    return ret;
}

int store_has_unscheduled(struct store *st)
{
    sqlite3_stmt *s = store_prepared(st, Q_HAS_UNSCHEDULED);
    int ret = -1;

    if (s == NULL || step_row(st, s) != 1)
        goto out;
    ret = sqlite3_column_int(s, 0) != 0;
out:
    release(s);
    return ret;
}

/* A value as SQLite holds it: its storage class, and its text with the length in bytes. */
struct raw_value {
    int type;
    const unsigned char *text;
    int bytes;
};

/* The value as a C string when that is all of it: TEXT without a NUL byte inside. */
static const char *exact_text(const struct raw_value *v)
{
    if (v->type != SQLITE_TEXT || v->text == NULL ||
        strlen((const char *)v->text) != (size_t)v->bytes)
        return NULL;
    return (const char *)v->text;
}

/*
 * Why the reconciler cannot query an order as stored, or NULL. It must ask LianLian about the
 * stored value and nothing else: a no_order cut at a NUL byte is another order (and its
 * reschedule would match no row), a BLOB's bytes are not what a tool meant. The CHECKs of
 * sql/0003 refuse such values; this is for rows written past them. One definition for store_due
 * (C) and Q_FLAG_UNQUERYABLE (SQL, through store_sql_unqueryable), so both judge a row alike.
 */
static const char *due_problem(const struct raw_value *no_order, const struct raw_value *registered)
{
    const char *v = exact_text(no_order);
    int64_t ms = 0;

    if (no_order->type != SQLITE_TEXT)
        return "no_order is not text";
    if (v == NULL)
        return "no_order holds a NUL byte";
    if (!payresult_valid_no_order(v))
        return "no_order is not an order number LianLian accepts";
    v = exact_text(registered);
    if (v == NULL || strlen(v) >= TIME_ISO_LEN || time_parse_iso(v, &ms) < 0)
        return "registered_at is not a timestamp";
    return NULL;
}

static struct raw_value column_raw(sqlite3_stmt *s, int col)
{
    struct raw_value v;

    v.type = sqlite3_column_type(s, col); /* before the conversion to text */
    v.text = sqlite3_column_text(s, col);
    v.bytes = sqlite3_column_bytes(s, col);
    return v;
}

/* lianpay_unqueryable(no_order, registered_at): due_problem() for SQL. */
void store_sql_unqueryable(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct raw_value v[2];
    const char *why;

    for (int i = 0; i < 2 && i < argc; i++) {
        v[i].type = sqlite3_value_type(argv[i]);
        v[i].text = sqlite3_value_text(argv[i]);
        v[i].bytes = sqlite3_value_bytes(argv[i]);
    }
    why = argc == 2 ? due_problem(&v[0], &v[1]) : "wrong use";
    if (why != NULL)
        sqlite3_result_text(ctx, why, -1, SQLITE_STATIC);
    else
        sqlite3_result_null(ctx);
}

static void read_due(sqlite3_stmt *s, struct store_due *d)
{
    struct raw_value no_order = column_raw(s, 0), registered = column_raw(s, 1);
    int64_t count = sqlite3_column_int64(s, 2);

    d->unqueryable = due_problem(&no_order, &registered);
    column_copy(s, 0, d->no_order, sizeof(d->no_order));
    column_copy(s, 1, d->registered_at, sizeof(d->registered_at));
    /* The reconciler adds one to it. */
    d->query_count = count < 0 ? 0 : count > STORE_COUNT_MAX ? STORE_COUNT_MAX : count;
    d->rowid = sqlite3_column_int64(s, 3);
}

int store_due(struct store *st, int64_t now_ms, struct store_due *out, int max)
{
    sqlite3_stmt *s = store_prepared(st, Q_DUE);
    char now[TIME_ISO_LEN];
    int n = 0, row = 0;

    if (s == NULL)
        return -1;
    time_iso(now_ms, now);
    if (bind_text(st, s, 1, now) || bind_int(st, s, 2, max > 0 ? max : 0)) {
        n = -1;
        goto out;
    }
    while (n < max && (row = step_row(st, s)) == 1)
        read_due(s, &out[n++]);
    if (row < 0)
        n = -1;
out:
    release(s);
    return n;
}

int store_flag_unqueryable(struct store *st, int64_t now_ms, int max)
{
    sqlite3_stmt *s = store_prepared(st, Q_FLAG_UNQUERYABLE);
    char now[TIME_ISO_LEN];
    int ret = -1;

    time_iso(now_ms, now);
    if (s == NULL || bind_text(st, s, 1, now) || bind_int(st, s, 2, max > 0 ? max : 0) ||
        step_done(st, s) < 0)
        goto out;
    ret = sqlite3_changes(st->db);
out:
    release(s);
    return ret;
}

/* Updates one order by no_order (?1) and a text (?2). An order that vanished (deleted by hand)
 * is not worth failing the writer's whole batch for. */
static int update_order(struct store *st, enum query q, const char *no_order, const char *text)
{
    sqlite3_stmt *s = store_prepared(st, q);
    int ret = -1;

    if (s == NULL || bind_text(st, s, 1, no_order) || bind_text(st, s, 2, text))
        goto out;
    ret = step_done(st, s);
out:
    release(s);
    return ret;
}

int store_reschedule(struct store *st, const char *no_order, int64_t next_ms)
{
    char next[TIME_ISO_LEN];

    time_iso(next_ms, next);
    return update_order(st, Q_RESCHEDULE, no_order, next);
}

int store_flag_review(struct store *st, const char *no_order, const char *reason)
{
    return update_order(st, Q_FLAG_REVIEW, no_order, reason);
}

/*
 * 8901 about an order whose payout is unknown: LianLian has no record of it (yet). The payout
 * keeps being queried at the reconciler's backoff (a late record is still possible, and then
 * payout_known makes it accepted), but once sent_at is submit.no_record_after old a person is
 * asked (payouts_for_a_person, review_queue): lianpayctl resubmit sends it again. Measured from
 * sent_at, not from the first 8901: LianLian has had the request that long, and the first query
 * comes only unknown_query_after later. A payout in any other state is left alone.
 */
static int payout_no_record(struct store *st, const struct store_query_outcome *in,
                            struct store_applied *out)
{
    if (in->received_at == NULL) {
        store_set_errorf(st, SQLITE_MISUSE, "store_query_outcome: 8901 without received_at");
        return -1;
    }
    if (update_order(st, Q_PAYOUT_NO_RECORD, in->no_order, in->received_at) < 0)
        return -1;
    sqlite3_stmt *s = store_prepared(st, Q_PAYOUT_ASK);
    int ret = -1;

    if (s == NULL || bind_text(st, s, 1, in->no_order) < 0 ||
        bind_text(st, s, 2, in->received_at) < 0 || bind_int(st, s, 3, in->no_record_after_s) < 0 ||
        step_done(st, s) < 0)
        goto out;
    out->payout_no_record = sqlite3_changes(st->db) > 0;
    ret = 0;
out:
    release(s);
    return ret;
}

int store_query_outcome(struct store *st, const struct store_query_outcome *in,
                        struct store_applied *out)
{
    const struct attempt_action *act = in->action;

    memset(out, 0, sizeof(*out));
    if (act->record && in->answer == NULL) {
        store_set_errorf(st, SQLITE_MISUSE, "store_query_outcome: no answer to record");
        return -1;
    }
    if (act->record && store_apply(st, in->answer, out) < 0)
        return -1;
    if (in->no_record && payout_no_record(st, in, out) < 0)
        return -1;
    switch (act->next) {
    case ATTEMPT_DONE:
        return 0;
    case ATTEMPT_RETRY:
        return store_reschedule(st, in->no_order, act->retry_at_ms);
    case ATTEMPT_GIVE_UP:
        return store_flag_review(st, in->no_order, act->reason);
    }
    store_set_errorf(st, SQLITE_MISUSE, "store_query_outcome: unknown action");
    return -1;
}
