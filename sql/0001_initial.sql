-- 0001: the initial schema (design.md, "Database (contract)").
--
-- Internal tools read this file concurrently with the daemon (WAL mode). Besides the two tables
-- they may use these views, which are part of the contract too:
--
--   pending_payments  registered orders with no final result that are not waiting for a person:
--                     what the daemon is still chasing, with age_seconds since registration.
--   review_queue      orders a person must look at (needs_review = 1) and why (review_reason).
--   daily_totals      per UTC day of final_at and per final result_pay: how many orders and how
--                     much money, as integer fen (amount_fen) and as yuan text (amount_yuan).
--
-- Timestamps are TEXT, ISO-8601 UTC with milliseconds ('2026-11-22T08:30:00.123Z', what
-- strftime('%Y-%m-%dT%H:%M:%fZ','now') gives): the CHECKs insist on that form because the daemon
-- compares them as strings. Money is never a floating-point number, not even in a view.
--
-- Registering an order with plain SQL:
--   INSERT INTO payments(no_order, money_order, dt_order) VALUES ('A1', '49.65', '20261122083000');
-- registered_at defaults to now, a trigger fills amount_fen, and the daemon schedules its query.
--
-- PRAGMA user_version is set by the migration runner, in the same transaction.

CREATE TABLE payments (
    no_order TEXT NOT NULL PRIMARY KEY
        CHECK (length(no_order) BETWEEN 1 AND 32 AND no_order NOT GLOB '*[^!-~]*'),
    oid_partner TEXT
        CHECK (oid_partner IS NULL OR (length(oid_partner) = 18
                                       AND oid_partner NOT GLOB '*[^0-9]*')),
    -- Yuan exactly as written (by LianLian or at registration): digits, no leading zero but
    -- "0.xx", at most 12 integer digits and 2 decimals, as money_parse_fen accepts.
    money_order TEXT NOT NULL
        CONSTRAINT money_order_format CHECK (money_order GLOB '[0-9]*'
               AND money_order NOT GLOB '*[^0-9.]*'
               AND money_order NOT GLOB '*.*.*'
               AND money_order NOT GLOB '0[0-9]*'
               AND ((money_order NOT GLOB '*.*' AND length(money_order) <= 12)
                    OR (money_order GLOB '*.[0-9]' AND length(money_order) <= 14)
                    OR (money_order GLOB '*.[0-9][0-9]' AND length(money_order) <= 15))),
    -- Filled by payments_amount_fen when an INSERT leaves it out.
    amount_fen INTEGER
        CONSTRAINT amount_fen_positive CHECK (amount_fen IS NULL OR (typeof(amount_fen) = 'integer' AND amount_fen > 0)),
    dt_order TEXT
        CHECK (dt_order IS NULL OR (length(dt_order) = 14 AND dt_order NOT GLOB '*[^0-9]*')),
    oid_paybill TEXT
        CHECK (oid_paybill IS NULL OR (length(oid_paybill) BETWEEN 1 AND 32
                                       AND oid_paybill NOT GLOB '*[^0-9]*')),
    result_pay TEXT
        CHECK (result_pay IS NULL OR result_pay IN ('APPLY', 'CHECK', 'WAITING', 'PROCESSING',
                                                    'SUCCESS', 'FAILURE', 'CANCEL', 'CLOSED')),
    settle_date TEXT
        CHECK (settle_date IS NULL OR (length(settle_date) = 8
                                       AND settle_date NOT GLOB '*[^0-9]*')),
    info_order TEXT,
    source TEXT
        CHECK (source IS NULL OR source IN ('notify', 'query')),
    -- NULL for an order LianLian notified before anyone registered it.
    registered_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        CONSTRAINT registered_at_format CHECK (registered_at IS NULL OR registered_at GLOB
               '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z'),
    first_notified_at TEXT
        CONSTRAINT first_notified_at_format CHECK (first_notified_at IS NULL OR first_notified_at GLOB
               '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z'),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        CONSTRAINT updated_at_format CHECK (updated_at GLOB
               '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z'),
    final_at TEXT
        CONSTRAINT final_at_format CHECK (final_at IS NULL OR final_at GLOB
               '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z'),
    notify_count INTEGER NOT NULL DEFAULT 0 CHECK (notify_count >= 0),
    query_count INTEGER NOT NULL DEFAULT 0 CHECK (query_count >= 0),
    -- When the reconciler queries next; NULL once the result is final or nobody will ask again.
    next_query_at TEXT
        CONSTRAINT next_query_at_format CHECK (next_query_at IS NULL OR next_query_at GLOB
               '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z'),
    needs_review INTEGER NOT NULL DEFAULT 0 CHECK (needs_review IN (0, 1)),
    review_reason TEXT
);

-- amount_fen from money_order with integer string arithmetic: yuan * 100 + the decimals padded
-- to two digits. The CHECK on money_order has already vouched for the digits.
CREATE TRIGGER payments_amount_fen AFTER INSERT ON payments
WHEN NEW.amount_fen IS NULL
BEGIN
    UPDATE payments
    SET amount_fen =
        CAST(substr(NEW.money_order, 1, instr(NEW.money_order || '.', '.') - 1) AS INTEGER) * 100
        + CAST(substr(substr(NEW.money_order, instr(NEW.money_order || '.', '.') + 1) || '00',
                      1, 2) AS INTEGER)
    WHERE no_order = NEW.no_order;
END;

-- One row per distinct authentic message, never rewritten: an identical redelivery only
-- increments seen_count.
CREATE TABLE payment_events (
    id INTEGER PRIMARY KEY,
    no_order TEXT NOT NULL REFERENCES payments (no_order),
    source TEXT NOT NULL CHECK (source IN ('notify', 'query')),
    result_pay TEXT NOT NULL
        CHECK (result_pay IN ('APPLY', 'CHECK', 'WAITING', 'PROCESSING',
                              'SUCCESS', 'FAILURE', 'CANCEL', 'CLOSED')),
    money_order TEXT NOT NULL,
    oid_paybill TEXT,
    settle_date TEXT,
    info_order TEXT,
    outcome TEXT NOT NULL
        CHECK (outcome IN ('applied', 'duplicate', 'stale', 'conflict', 'mismatch')),
    body TEXT NOT NULL,
    received_at TEXT NOT NULL
        CONSTRAINT received_at_format CHECK (received_at GLOB
               '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z'),
    remote_addr TEXT,
    seen_count INTEGER NOT NULL DEFAULT 1 CHECK (seen_count >= 1)
);

CREATE TRIGGER payment_events_no_delete BEFORE DELETE ON payment_events
BEGIN
    SELECT RAISE(ABORT, 'payment_events is append-only');
END;

CREATE TRIGGER payment_events_no_update BEFORE UPDATE ON payment_events
WHEN NEW.id IS NOT OLD.id
    OR NEW.no_order IS NOT OLD.no_order
    OR NEW.source IS NOT OLD.source
    OR NEW.result_pay IS NOT OLD.result_pay
    OR NEW.money_order IS NOT OLD.money_order
    OR NEW.oid_paybill IS NOT OLD.oid_paybill
    OR NEW.settle_date IS NOT OLD.settle_date
    OR NEW.info_order IS NOT OLD.info_order
    OR NEW.outcome IS NOT OLD.outcome
    OR NEW.body IS NOT OLD.body
    OR NEW.received_at IS NOT OLD.received_at
    OR NEW.remote_addr IS NOT OLD.remote_addr
    OR NEW.seen_count < OLD.seen_count
BEGIN
    SELECT RAISE(ABORT, 'payment_events is append-only: only seen_count may grow');
END;

-- An order's history, and the redelivery check (same no_order, source and body).
CREATE INDEX payment_events_no_order ON payment_events (no_order);

-- The reconciler's due selection: only orders it may still query are in this index, so it stays
-- small however many final orders accumulate.
CREATE INDEX payments_due ON payments (next_query_at)
WHERE needs_review = 0 AND next_query_at IS NOT NULL;

-- Orders registered with plain SQL that the daemon has not scheduled yet: normally empty. Its
-- key starts with next_query_at (always NULL here) so that "next_query_at IS NULL" is an equality
-- the planner prefers to the wider payments_pending below.
CREATE INDEX payments_unscheduled ON payments (next_query_at, registered_at)
WHERE next_query_at IS NULL AND registered_at IS NOT NULL AND needs_review = 0
    AND (result_pay IS NULL OR result_pay IN ('APPLY', 'CHECK', 'WAITING', 'PROCESSING'));

-- What the views for people ask, so that they do not read the whole history: the orders still
-- being chased, and the review queue.
CREATE INDEX payments_pending ON payments (registered_at)
WHERE registered_at IS NOT NULL AND needs_review = 0
    AND (result_pay IS NULL OR result_pay IN ('APPLY', 'CHECK', 'WAITING', 'PROCESSING'));

CREATE INDEX payments_review ON payments (updated_at) WHERE needs_review = 1;

CREATE VIEW pending_payments AS
SELECT no_order, money_order, amount_fen, dt_order, result_pay, source, registered_at,
       CAST(strftime('%s', 'now') AS INTEGER) - CAST(strftime('%s', registered_at) AS INTEGER)
           AS age_seconds,
       notify_count, query_count, next_query_at
FROM payments
WHERE registered_at IS NOT NULL AND needs_review = 0
    AND (result_pay IS NULL OR result_pay IN ('APPLY', 'CHECK', 'WAITING', 'PROCESSING'))
ORDER BY registered_at;

CREATE VIEW review_queue AS
SELECT no_order, review_reason, result_pay, source, money_order, amount_fen, dt_order,
       registered_at, first_notified_at, updated_at, notify_count, query_count
FROM payments
WHERE needs_review = 1
ORDER BY updated_at;

CREATE VIEW daily_totals AS
SELECT day, result_pay, count, amount_fen,
       printf('%d.%02d', amount_fen / 100, amount_fen % 100) AS amount_yuan
FROM (SELECT substr(final_at, 1, 10) AS day, result_pay, count(*) AS count,
             coalesce(sum(amount_fen), 0) AS amount_fen
      FROM payments
      WHERE final_at IS NOT NULL AND result_pay IN ('SUCCESS', 'FAILURE', 'CANCEL', 'CLOSED')
      GROUP BY day, result_pay)
ORDER BY day, result_pay;
