-- 0003: every value is exactly what its column says, and the journal knows a message by what
-- LianLian signed.
--
-- What changes (design.md's tables keep their columns and meanings; one column is added):
--
--  * Text columns hold text, all of it. length() and GLOB stop at a NUL byte, so 'A' || char(0)
--    || 'anything' passed the old CHECKs, and the daemon read it back cut short (it then asked
--    LianLian about order 'A'). Every TEXT column a tool can write now refuses a BLOB
--    (x = CAST(x AS TEXT): a BLOB never equals text; cheaper than typeof()) and a NUL (one
--    instr(..., char(0)) per table over all its text columns); where a column only allows a
--    list of words (result_pay, source, outcome), comparing with them already refuses both.
--  * The formats are those of the C code (payresult.c: one definition of each field, the same
--    for notifications, query answers and lianpayctl register; test_store checks that the C
--    functions and these CHECKs accept the same values): no_order without space, &, = or ",
--    dt_order with month 01-12, day 01-31, hour 00-23, minutes and seconds 00-59.
--  * Timestamps are real instants: SQLite's date functions must give the value back unchanged.
--    The '+0 seconds' modifier makes strftime compute the instant (without a modifier it echoes
--    the fields it parsed, February 31 and 24:00 included); month or day 00, hour 24, second 60
--    and February 30 are refused. That round trip also checks the form, so the old GLOB goes.
--  * Counters are integers from 0 to 2147483647 (the daemon stops counting there) and never
--    REAL: 9223372036854775807 + 1 was stored as 9.22337203685478e+18.
--  * payment_events.signed_sha256 (added): SHA-256 of the string to sign, a NUL and the
--    signature. A message's unsigned parts (white space, member order, \u escapes, a number
--    written as a string, "" or null members) can be varied endlessly; what was signed cannot.
--    A delivery with the same signed content as a journalled message increments its seen_count
--    like a byte-identical one, and the first body stays as it was received. NULL for the rows
--    journalled before this migration: those are still recognised by their body.
--
-- How: SQLite cannot change a table's CHECK constraints, so both tables are rebuilt the way its
-- ALTER TABLE documentation describes ("making other kinds of table schema changes"): new table,
-- copy, drop, rename, then the indexes, triggers and views again, with foreign keys off and
-- PRAGMA foreign_key_check before the commit (store.c's migration runner does both). The CHECKs
-- keep sql/0002's form: no IN list of more than two values.
--
-- Rows that break the new constraints are not dropped or changed: the migration is refused, the
-- whole transaction rolls back, and the daemon names the rows (the first ones, and how many).
-- A payments journal must not lose or rewrite a row by itself; a person corrects or deletes
-- those rows (README, "Upgrading the database") and starts the daemon again. How: each copy
-- skips the rows its CHECKs refuse (INSERT OR IGNORE), the rows that did not arrive are listed
-- in temp.migration_refusals (made by the runner), and copying them again without OR IGNORE
-- fails with the name of the constraint the first one breaks.
--
-- Cost: both tables are written again, once: about as long as the daemon takes to write them,
-- and as much free space as the database takes.

DROP VIEW pending_payments;
DROP VIEW review_queue;
DROP VIEW daily_totals;

CREATE TABLE payments_0003 (
    no_order TEXT NOT NULL PRIMARY KEY
        CONSTRAINT no_order_format CHECK (no_order = CAST(no_order AS TEXT)
               AND length(no_order) BETWEEN 1 AND 32
               AND no_order NOT GLOB '*[^!-~]*' AND no_order NOT GLOB '*[&="]*'),
    oid_partner TEXT
        CONSTRAINT oid_partner_format CHECK (oid_partner IS NULL
               OR (oid_partner = CAST(oid_partner AS TEXT)
                   AND length(oid_partner) = 18 AND oid_partner NOT GLOB '*[^0-9]*')),
    -- Yuan exactly as written (by LianLian or at registration): digits, no leading zero but
    -- "0.xx", at most 12 integer digits and 2 decimals, as money_parse_fen accepts.
    money_order TEXT NOT NULL
        CONSTRAINT money_order_format CHECK (money_order = CAST(money_order AS TEXT)
               AND money_order GLOB '[0-9]*'
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
        CONSTRAINT dt_order_format CHECK (dt_order IS NULL
               OR (dt_order = CAST(dt_order AS TEXT)
                   AND length(dt_order) = 14 AND dt_order NOT GLOB '*[^0-9]*'
                   AND substr(dt_order, 5, 2) BETWEEN '01' AND '12'
                   AND substr(dt_order, 7, 2) BETWEEN '01' AND '31'
                   AND substr(dt_order, 9, 2) <= '23' AND substr(dt_order, 11, 2) <= '59'
                   AND substr(dt_order, 13, 2) <= '59')),
    oid_paybill TEXT
        CONSTRAINT oid_paybill_format CHECK (oid_paybill IS NULL
               OR (oid_paybill = CAST(oid_paybill AS TEXT)
                   AND length(oid_paybill) BETWEEN 1 AND 32 AND oid_paybill NOT GLOB '*[^0-9]*')),
    result_pay TEXT
        CHECK (result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK'
                                       OR result_pay = 'WAITING' OR result_pay = 'PROCESSING'
                                       OR result_pay = 'SUCCESS' OR result_pay = 'FAILURE'
                                       OR result_pay = 'CANCEL' OR result_pay = 'CLOSED'),
    settle_date TEXT
        CONSTRAINT settle_date_format CHECK (settle_date IS NULL
               OR (settle_date = CAST(settle_date AS TEXT)
                   AND length(settle_date) = 8 AND settle_date NOT GLOB '*[^0-9]*')),
    info_order TEXT
        CONSTRAINT info_order_text CHECK (info_order IS NULL
               OR (info_order = CAST(info_order AS TEXT))),
    source TEXT
        CHECK (source IS NULL OR source = 'notify' OR source = 'query'),
    -- NULL for an order LianLian notified before anyone registered it.
    registered_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        CONSTRAINT registered_at_instant CHECK (registered_at IS NULL
               OR strftime('%Y-%m-%dT%H:%M:%fZ', registered_at, '+0 seconds') IS registered_at),
    -- first_notified_at and final_at are mostly written with updated_at, and the same value:
    -- then updated_at's CHECK has vouched for it, and the round trip (half a microsecond of
    -- the writer's time each, bench-apply) is not made again.
    first_notified_at TEXT
        CONSTRAINT first_notified_at_instant CHECK (first_notified_at IS NULL
               OR first_notified_at = updated_at
               OR strftime('%Y-%m-%dT%H:%M:%fZ', first_notified_at, '+0 seconds')
                  IS first_notified_at),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        CONSTRAINT updated_at_instant CHECK (
               strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, '+0 seconds') IS updated_at),
    final_at TEXT
        CONSTRAINT final_at_instant CHECK (final_at IS NULL OR final_at = updated_at
               OR strftime('%Y-%m-%dT%H:%M:%fZ', final_at, '+0 seconds') IS final_at),
    notify_count INTEGER NOT NULL DEFAULT 0
        CONSTRAINT notify_count_range CHECK (typeof(notify_count) = 'integer'
               AND notify_count BETWEEN 0 AND 2147483647),
    query_count INTEGER NOT NULL DEFAULT 0
        CONSTRAINT query_count_range CHECK (typeof(query_count) = 'integer'
               AND query_count BETWEEN 0 AND 2147483647),
    -- When the reconciler queries next; NULL once the result is final or nobody will ask again.
    next_query_at TEXT
        CONSTRAINT next_query_at_instant CHECK (next_query_at IS NULL
               OR strftime('%Y-%m-%dT%H:%M:%fZ', next_query_at, '+0 seconds') IS next_query_at),
    needs_review INTEGER NOT NULL DEFAULT 0 CHECK (needs_review = 0 OR needs_review = 1),
    -- Checked by itself, so that flagging a row with a bad value in another column (written past
    -- these CHECKs) is not refused because of that value.
    review_reason TEXT
        CONSTRAINT review_reason_text CHECK (review_reason IS NULL
               OR (review_reason = CAST(review_reason AS TEXT)
                   AND instr(review_reason, char(0)) = 0)),
    -- No NUL byte in the other text columns, with one instr() for all of them: one per column
    -- cost the writer 2 us a message (bench-apply). The timestamps need none (their round trip
    -- through strftime gives back no NUL), nor the columns that allow a list of words.
    CONSTRAINT payments_text_without_nul CHECK (instr(no_order || ifnull(oid_partner, '')
               || money_order || ifnull(dt_order, '') || ifnull(oid_paybill, '')
               || ifnull(settle_date, '') || ifnull(info_order, ''), char(0)) = 0)
);

INSERT OR IGNORE INTO payments_0003 (rowid, no_order, oid_partner, money_order, amount_fen,
    dt_order, oid_paybill, result_pay, settle_date, info_order, source, registered_at,
    first_notified_at, updated_at, final_at, notify_count, query_count, next_query_at,
    needs_review, review_reason)
SELECT rowid, no_order, oid_partner, money_order, amount_fen, dt_order, oid_paybill, result_pay,
       settle_date, info_order, source, registered_at, first_notified_at, updated_at, final_at,
       notify_count, query_count, next_query_at, needs_review, review_reason
FROM payments;

-- A value shown in the refusal: as SQL text when it is plain printable text, else as the bytes
-- it holds (X'41004242'), cut at 40.
INSERT INTO temp.migration_refusals (what)
SELECT 'payments no_order '
       || CASE WHEN typeof(no_order) = 'text' AND instr(no_order, char(0)) = 0
                    AND no_order NOT GLOB '*[^ -~]*'
               THEN quote(substr(no_order, 1, 40))
               ELSE quote(substr(CAST(no_order AS BLOB), 1, 40)) END
       || ' (rowid ' || rowid || ')'
FROM payments AS p
WHERE NOT EXISTS (SELECT 1 FROM payments_0003 AS n WHERE n.rowid = p.rowid)
ORDER BY rowid;

CREATE TABLE payment_events_0003 (
    id INTEGER PRIMARY KEY,
    no_order TEXT NOT NULL REFERENCES payments (no_order)
        CONSTRAINT event_no_order_text CHECK (no_order = CAST(no_order AS TEXT)),
    source TEXT NOT NULL CHECK (source = 'notify' OR source = 'query'),
    result_pay TEXT NOT NULL
        CHECK (result_pay = 'APPLY' OR result_pay = 'CHECK'
               OR result_pay = 'WAITING' OR result_pay = 'PROCESSING'
               OR result_pay = 'SUCCESS' OR result_pay = 'FAILURE'
               OR result_pay = 'CANCEL' OR result_pay = 'CLOSED'),
    money_order TEXT NOT NULL
        CONSTRAINT event_money_order_text CHECK (money_order = CAST(money_order AS TEXT)),
    oid_paybill TEXT
        CONSTRAINT event_oid_paybill_text CHECK (oid_paybill IS NULL
               OR (oid_paybill = CAST(oid_paybill AS TEXT))),
    settle_date TEXT
        CONSTRAINT event_settle_date_text CHECK (settle_date IS NULL
               OR (settle_date = CAST(settle_date AS TEXT))),
    info_order TEXT
        CONSTRAINT event_info_order_text CHECK (info_order IS NULL
               OR (info_order = CAST(info_order AS TEXT))),
    outcome TEXT NOT NULL
        CHECK (outcome = 'applied' OR outcome = 'duplicate' OR outcome = 'stale'
               OR outcome = 'conflict' OR outcome = 'mismatch'),
    body TEXT NOT NULL
        CONSTRAINT body_text CHECK (body = CAST(body AS TEXT)),
    received_at TEXT NOT NULL
        CONSTRAINT received_at_instant CHECK (
               strftime('%Y-%m-%dT%H:%M:%fZ', received_at, '+0 seconds') IS received_at),
    remote_addr TEXT
        CONSTRAINT remote_addr_text CHECK (remote_addr IS NULL
               OR (remote_addr = CAST(remote_addr AS TEXT))),
    seen_count INTEGER NOT NULL DEFAULT 1
        CONSTRAINT seen_count_range CHECK (typeof(seen_count) = 'integer'
               AND seen_count BETWEEN 1 AND 2147483647),
    -- NULL only for the rows journalled before this migration.
    signed_sha256 BLOB
        CONSTRAINT signed_sha256_digest CHECK (signed_sha256 IS NULL
               OR (typeof(signed_sha256) = 'blob' AND length(signed_sha256) = 32)),
    CONSTRAINT payment_events_text_without_nul CHECK (instr(no_order || money_order
               || ifnull(oid_paybill, '') || ifnull(settle_date, '') || ifnull(info_order, '')
               || body || ifnull(remote_addr, ''), char(0)) = 0)
);

INSERT OR IGNORE INTO payment_events_0003 (id, no_order, source, result_pay, money_order,
    oid_paybill, settle_date, info_order, outcome, body, received_at, remote_addr, seen_count)
SELECT id, no_order, source, result_pay, money_order, oid_paybill, settle_date, info_order,
       outcome, body, received_at, remote_addr, seen_count
FROM payment_events;

INSERT INTO temp.migration_refusals (what)
SELECT 'payment_events id ' || id || ' (no_order '
       || CASE WHEN typeof(no_order) = 'text' AND instr(no_order, char(0)) = 0
                    AND no_order NOT GLOB '*[^ -~]*'
               THEN quote(substr(no_order, 1, 40))
               ELSE quote(substr(CAST(no_order AS BLOB), 1, 40)) END
       || ')'
FROM payment_events AS e
WHERE NOT EXISTS (SELECT 1 FROM payment_events_0003 AS n WHERE n.id = e.id)
ORDER BY id;

-- Copying the refused rows again, without OR IGNORE, stops the migration here with the name of
-- the first broken constraint. Nothing is copied when there are none.
INSERT INTO payments_0003 (rowid, no_order, oid_partner, money_order, amount_fen, dt_order,
    oid_paybill, result_pay, settle_date, info_order, source, registered_at, first_notified_at,
    updated_at, final_at, notify_count, query_count, next_query_at, needs_review, review_reason)
SELECT rowid, no_order, oid_partner, money_order, amount_fen, dt_order, oid_paybill, result_pay,
       settle_date, info_order, source, registered_at, first_notified_at, updated_at, final_at,
       notify_count, query_count, next_query_at, needs_review, review_reason
FROM payments AS p
WHERE NOT EXISTS (SELECT 1 FROM payments_0003 AS n WHERE n.rowid = p.rowid);

INSERT INTO payment_events_0003 (id, no_order, source, result_pay, money_order, oid_paybill,
    settle_date, info_order, outcome, body, received_at, remote_addr, seen_count)
SELECT id, no_order, source, result_pay, money_order, oid_paybill, settle_date, info_order,
       outcome, body, received_at, remote_addr, seen_count
FROM payment_events AS e
WHERE NOT EXISTS (SELECT 1 FROM payment_events_0003 AS n WHERE n.id = e.id);

DROP TABLE payment_events;
DROP TABLE payments;
ALTER TABLE payments_0003 RENAME TO payments;
ALTER TABLE payment_events_0003 RENAME TO payment_events;

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

-- One row per distinct authentic message (by what LianLian signed), never rewritten: a
-- redelivery only increments seen_count.
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
    OR NEW.signed_sha256 IS NOT OLD.signed_sha256
    OR NEW.seen_count < OLD.seen_count
BEGIN
    SELECT RAISE(ABORT, 'payment_events is append-only: only seen_count may grow');
END;

-- An order's history, and the redelivery check (same no_order, source and signed content).
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
    AND (result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK'
         OR result_pay = 'WAITING' OR result_pay = 'PROCESSING');

-- What the views for people ask, so that they do not read the whole history: the orders still
-- being chased, and the review queue.
CREATE INDEX payments_pending ON payments (registered_at)
WHERE registered_at IS NOT NULL AND needs_review = 0
    AND (result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK'
         OR result_pay = 'WAITING' OR result_pay = 'PROCESSING');

CREATE INDEX payments_review ON payments (updated_at) WHERE needs_review = 1;

CREATE VIEW pending_payments AS
SELECT no_order, money_order, amount_fen, dt_order, result_pay, source, registered_at,
       CAST(strftime('%s', 'now') AS INTEGER) - CAST(strftime('%s', registered_at) AS INTEGER)
           AS age_seconds,
       notify_count, query_count, next_query_at
FROM payments
WHERE registered_at IS NOT NULL AND needs_review = 0
    AND (result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK'
         OR result_pay = 'WAITING' OR result_pay = 'PROCESSING')
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
