#ifndef LIANPAY_STORE_H
#define LIANPAY_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "payresult.h"
#include "state.h"
#include "timeutil.h"
#include "verdict.h"

struct attempt_action;

/*
 * The SQLite file (design.md, database contract). One struct store is one connection and is used
 * by one thread at a time. The daemon has exactly one writable connection (the writer thread's);
 * the reconciler and lianpayctl's readers open their own.
 */
struct store;

enum store_mode {
    STORE_READ,  /* read-only connection; the schema must already be current */
    STORE_WRITE, /* creates the file if needed, applies migrations, WAL, synchronous=FULL (the
                  * daemon's writer then switches to NORMAL: store_defer_sync) */
};

/* Opens the database. Returns the store, or NULL with a one-line reason in err. */
struct store *store_open(const char *path, enum store_mode mode, char *err, size_t errlen);
void store_close(struct store *st);

/* fsyncs the directory holding the file path, so that names created or removed in it survive a
 * power cut. Returns 0, or -1 with a reason in err (unless err is NULL). */
int store_sync_directory(const char *path, char *err, size_t errlen);

/*
 * The writer's deferred sync (writer.c, DESIGN): switches st, the daemon's writable connection,
 * to synchronous=NORMAL (COMMIT writes the WAL frames and does not sync them) and returns a
 * descriptor of its -wal for store_wal_sync, opened before the switch so that it covers every
 * commit made in the new mode. Returns NULL with a one-line reason in err. Other connections
 * (lianpayctl's) stay synchronous=FULL.
 */
struct store_wal;
struct store_wal *store_defer_sync(struct store *st, char *err, size_t errlen);
/* fdatasyncs the -wal: every commit that returned before this call began is then durable (WAL
 * recovery keeps a prefix of the commits). Fails, with a reason in err, when fdatasync fails or
 * the path no longer names the file that was synced. Returns 0 or -1. */
int store_wal_sync(struct store_wal *wal, char *err, size_t errlen);
void store_wal_close(struct store_wal *wal);

/* The schema version this build creates (the highest migration number). */
int store_schema_version(void);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Return 0, or -1 (reason via store_errmsg). */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);
/* A write that must reach the file: PRAGMA user_version rewritten with its own value in a
 * transaction of its own, which puts page 1 through the WAL (and its fsync on a connection still
 * synchronous=FULL; the writer's, deferred, leaves that to its sync thread). For the writer, to
 * learn that a storage fault is over. Returns 0 when it committed, or -1 (rolled back). */
int store_probe_write(struct store *st);
/* Rows this connection has inserted, updated or deleted since it was opened. */
int64_t store_changes(struct store *st);
/* The last SQLite error of this connection. Valid until the next call on st. */
const char *store_errmsg(struct store *st);

/* The kinds of storage failure: the writer tells its own errors from the disk's by them, and the
 * log line names them (kind=..., README: failure model). */
enum store_err {
    STORE_ERR_BUSY,     /* "busy": another connection held the lock past the busy timeout */
    STORE_ERR_FULL,     /* "full": the disk or a quota is full */
    STORE_ERR_READONLY, /* "readonly": the files cannot be written (remount, chattr +i, mode) */
    STORE_ERR_IOERR,    /* "ioerr": a read or write failed */
    STORE_ERR_SQL,      /* "sql": anything else (a constraint, the schema, a misuse): the
                         * statement's own fault, which the disk would not fix */
    STORE_ERR_COUNT
};
/* The kind of the last failure on st (STORE_ERR_SQL when there was none). */
enum store_err store_err(struct store *st);
/* "busy", "full", "readonly", "ioerr" or "sql", as the log lines write the kind. */
const char *store_err_name(enum store_err kind);
/* store_err_name(store_err(st)), for the log line. */
const char *store_errkind(struct store *st);

/* Where notify_count, query_count and seen_count stop counting (sql/0003 allows no more). */
#define STORE_COUNT_MAX 2147483647

/* An authentic, validated result to record. */
struct store_input {
    const struct payresult *r; /* its signed_sha256 must be set: it is the journal's key */
    enum payresult_source source;
    const char *body; /* the message as received (journalled as is) */
    size_t body_len;
    const char *remote_addr; /* client address after trusted-proxy handling; "" for queries */
    const char *received_at; /* ISO-8601 UTC ms */
};

/* What store_apply did. */
struct store_applied {
    enum outcome outcome;     /* per the state machine, or OUTCOME_MISMATCH */
    enum result_pay previous; /* result_pay before this message */
    int redelivery;           /* 1: the same signed content as a journalled message (or, for
                               * rows from before sql/0003, the same bytes): seen_count++ */
    int flagged;              /* 1: this message set needs_review */
    char review_reason[VERDICT_REASON_LEN]; /* when flagged */
    int payout_accepted;    /* 1: the order's payout was unknown and this signed result made it
                             * accepted (store_payout_known) */
    int payout_no_record;   /* 1: an 8901 made the order's unknown payout wait for a person */
    char payout_reason[96]; /* the reason written with payout_accepted */
};

/* Logs what a committed store_apply or store_query_outcome did to the order's payout (one
 * event=payout line per change; nothing when it did nothing). */
void store_log_payout_change(const char *no_order, const struct store_applied *a);

/*
 * Records one result inside the caller's transaction (design.md): creates the payments row if the
 * order is unknown, applies the state machine, checks amount_fen and dt_order against what is
 * stored (a difference is OUTCOME_MISMATCH: needs_review=1 with a reason, result_pay unchanged),
 * counts notify_count (source notify), journals the message in payment_events (or increments
 * seen_count of the one with the same signed content, whose body stays the first one received),
 * clears next_query_at once the result is final.
 * Returns 0, or -1 on an SQL error (the caller rolls the whole batch back).
 */
int store_apply(struct store *st, const struct store_input *in, struct store_applied *out);

/* Result of store_register. */
enum store_register_result {
    STORE_REGISTERED, /* new order */
    STORE_ALREADY,    /* registered before with the same amount and dt_order: nothing changed */
    STORE_MERGED,     /* order was known from a notification; now registered, amounts agree */
    STORE_MERGED_MISMATCH, /* known, but amount or dt_order differs: flagged for review */
};

/*
 * Registers a submitted payout so that it is chased if no result arrives (lianpayctl register).
 * Every value must have the format a notification's has (payresult_valid_no_order,
 * payresult_money_fen, payresult_valid_dt_order). next_query_at becomes now + notify_window.
 * Runs its own short transaction. Returns 0 with *res set, or -1 with a reason in err.
 */
int store_register(struct store *st, const char *no_order, const char *money_order,
                   const char *dt_order, int64_t now_ms, int64_t notify_window_s,
                   enum store_register_result *res, char *err, size_t errlen);
/*
 * The same inside the caller's transaction, for many registrations in one (lianpayctl register
 * --file). Returns 0 with *res set; -2 when this order is refused (a value of the wrong format,
 * or it contradicts an earlier registration; the reason in err, nothing written: the caller may
 * go on with the next); -1 on an SQL error (reason in err; the caller rolls back).
 */
int store_register_in(struct store *st, const char *no_order, const char *money_order,
                      const char *dt_order, int64_t now_ms, int64_t notify_window_s,
                      enum store_register_result *res, char *err, size_t errlen);

/*
 * Gives next_query_at = registered_at + notify_window to orders inserted with plain SQL (they
 * arrive with next_query_at NULL); one for which SQLite cannot compute that time is flagged for
 * review instead. Inside the caller's transaction. Returns the number of rows changed, or -1.
 */
int store_schedule_new(struct store *st, int64_t notify_window_s);

/* True (1) when some order waits for store_schedule_new, 0 when none, -1 on error. Cheap. */
int store_has_unscheduled(struct store *st);

/* How many due orders the reconciler takes at a time. */
#define STORE_DUE_BATCH 32

/* An order the reconciler must query now. */
struct store_due {
    char no_order[33];
    /* When the chase began, for give_up_after: payments.chase_from when a person restarted it
     * (lianpayctl review resolve --requery), else registered_at. */
    char registered_at[TIME_ISO_LEN];
    int64_t query_count; /* 0..STORE_COUNT_MAX */
    /* NULL, or why the row cannot be queried as it is stored (a static sentence): its no_order
     * is not text, holds a NUL byte or is no order number, or its registered_at is no
     * timestamp. no_order and registered_at above are then only a rendering for the log; the
     * row must be flagged with store_flag_unqueryable, never queried. */
    const char *unqueryable;
    int64_t rowid; /* for people: SELECT * FROM payments WHERE rowid = ... */
};

/*
 * Up to max orders that are due at now_ms: registered, result_pay NULL or pending, needs_review =
 * 0, next_query_at <= now. Oldest next_query_at first. Served by a partial index, so it stays fast
 * with millions of rows. The values are read with their length, so that a value that does not
 * survive as a C string is reported (unqueryable) rather than cut short. Returns the number found
 * (0..max), or -1.
 */
int store_due(struct store *st, int64_t now_ms, struct store_due *out, int max);

/*
 * Flags for review, with the reason, the unqueryable orders among the first max that store_due
 * would return at now_ms, so that they no longer take places in every due batch. Inside the
 * caller's transaction. Returns the number flagged, or -1.
 */
int store_flag_unqueryable(struct store *st, int64_t now_ms, int max);

/* A query attempt's outcome to carry out, as attempt_after_query decided it. */
struct store_query_outcome {
    const char *no_order;             /* the order queried */
    const struct store_input *answer; /* the verified answer (source query); used when
                                       * action->record, may be NULL otherwise */
    const struct attempt_action *action;
    int no_record;             /* 1: LianLian answered 8901 (signed or not) */
    const char *received_at;   /* when the answer came (ISO), for no_record */
    int64_t no_record_after_s; /* submit.no_record_after: an unknown payout 8901 this long
                                * after sent_at needs a person */
};

/*
 * Carries out a query attempt's action inside the caller's transaction, in this order: records
 * the answer (store_apply, when action->record; *out says what it did, zeroed otherwise), then
 * reschedules (store_reschedule at action->retry_at_ms) or gives up (store_flag_review with
 * action->reason). query_count counts the attempt once: store_apply counts an answer that
 * settles the order, the reschedule every other one; an attempt that gives up is not counted.
 * Returns 0, or -1 (the caller rolls back: nothing of it is kept).
 */
int store_query_outcome(struct store *st, const struct store_query_outcome *in,
                        struct store_applied *out);

/*
 * After a query attempt that did not make the order final (pending answer, 8901, network error,
 * unsigned answer, ...): query_count++, next_query_at = next_ms. Inside the caller's transaction.
 * Returns 0, or -1.
 */
int store_reschedule(struct store *st, const char *no_order, int64_t next_ms);

/* Flags an order for review (needs_review = 1, review_reason, next_query_at NULL): the reconciler
 * gave up on it. Inside the caller's transaction. Returns 0, or -1. */
int store_flag_review(struct store *st, const char *no_order, const char *reason);

/* A value as stored, for people: its text and length in bytes (which may hold a NUL written
 * past the CHECKs), text NULL for SQL NULL. Valid during the callback only. */
struct store_value {
    const char *text;
    size_t len;
};

/* Calls column(ctx, name, value) for each column of no_order's payments row, in the table's
 * order (lianpayctl status). Returns 0, 1 when the order is unknown, or -1. */
int store_order_columns(struct store *st, const char *no_order,
                        void (*column)(void *ctx, const char *name, struct store_value value),
                        void *ctx);

/* One message of an order's journal, as stored. */
struct store_event {
    struct store_value received_at, source, result_pay, outcome, remote_addr;
    int64_t seen_count;
};

/* Calls event(ctx, ev) for each journalled message of no_order, oldest first. Returns 0, or -1. */
int store_order_events(struct store *st, const char *no_order,
                       void (*event)(void *ctx, const struct store_event *ev), void *ctx);

/* The orders still being chased, for /metrics and the periodic summary. */
struct store_pending {
    int64_t count; /* rows of the pending_payments view */
    /* Seconds since the oldest of them was registered; 0 when none. Only real instants count:
     * a row whose registered_at is not one (written past the CHECKs) cannot hide the others. */
    int64_t oldest_age_s;
    char oldest_no_order[33]; /* "" when none */
    int64_t review;           /* rows of the review_queue view */
    int64_t due;              /* due for a query now (as store_due sees them) but not yet asked: the
                               * reconciler's backlog */
};

/* Fills *out at now_ms from the partial indexes (cheap with millions of final orders). Read-only;
 * runs on any connection. Returns 0, or -1. */
int store_pending(struct store *st, int64_t now_ms, struct store_pending *out);

/* The received_at of the latest journalled message from source (notify or query), by arrival.
 * Returns 1 with *ms set, 0 when there is none, or -1. Read-only. */
int store_last_event(struct store *st, enum payresult_source source, int64_t *ms);

/* The finished_at of the latest good backup (lianpayctl backup's table backups, ok = 1). Returns
 * 1 with *ms set (0 when no backup succeeded yet), 0 when the table does not exist (this
 * database was never backed up by lianpayctl), or -1. Read-only. */
int store_last_backup(struct store *st, int64_t *ms);

/* Calls row(ctx, cols) for each row of the pending_payments view, oldest registration first
 * (lianpayctl pending), with these STORE_PENDING_COLUMNS columns in this order, as stored (text
 * NULL for SQL NULL): no_order, money_order, result_pay, age_seconds, query_count,
 * next_query_at. Returns 0, or -1. */
#define STORE_PENDING_COLUMNS 6
int store_pending_rows(struct store *st, void (*row)(void *ctx, const struct store_value *cols),
                       void *ctx);

#endif
