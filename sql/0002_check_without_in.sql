-- 0002: the same constraints, written so that SQLite checks them without building a table.
--
-- SQLite (3.40, Debian 12) codes "x IN (list of more than two values)" by building an ephemeral
-- table from the list. In a SELECT that happens once per statement; in a CHECK constraint or a
-- partial index's WHERE it happens for every row written. Those tables were 37 % of the writer
-- thread's time (bench/README.md, "Where the time goes"). This migration writes the same
-- conditions as chains of "=" joined by OR, which SQLite evaluates in place. Nothing about which
-- rows are allowed or indexed changes.
--
-- Tables: only the text of their CHECK constraints changes, not how rows are stored, so the
-- schema text is edited in place (the procedure in SQLite's ALTER TABLE documentation, "making
-- other kinds of table schema changes"), which costs nothing however large the tables are.
-- Every row already satisfies the new text: it is equivalent to the old one. RESET turns schema
-- writing off again and makes this connection re-read the schema. The DROP and CREATE below
-- then change the schema version, so every other connection re-reads it too.
--
-- Indexes and views: rebuilt. A partial index is only used for a query whose WHERE repeats the
-- index's; the daemon's queries (store.c, SQL_NOT_FINAL) and pending_payments use the new text.

PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql,
    'result_pay IN (''APPLY'', ''CHECK'', ''WAITING'', ''PROCESSING'',
                                                    ''SUCCESS'', ''FAILURE'', ''CANCEL'', ''CLOSED'')',
    'result_pay = ''APPLY'' OR result_pay = ''CHECK''
                                       OR result_pay = ''WAITING'' OR result_pay = ''PROCESSING''
                                       OR result_pay = ''SUCCESS'' OR result_pay = ''FAILURE''
                                       OR result_pay = ''CANCEL'' OR result_pay = ''CLOSED''')
WHERE type = 'table' AND name = 'payments';

UPDATE sqlite_schema
SET sql = replace(replace(sql,
    'result_pay IN (''APPLY'', ''CHECK'', ''WAITING'', ''PROCESSING'',
                              ''SUCCESS'', ''FAILURE'', ''CANCEL'', ''CLOSED'')',
    'result_pay = ''APPLY'' OR result_pay = ''CHECK''
               OR result_pay = ''WAITING'' OR result_pay = ''PROCESSING''
               OR result_pay = ''SUCCESS'' OR result_pay = ''FAILURE''
               OR result_pay = ''CANCEL'' OR result_pay = ''CLOSED'''),
    'outcome IN (''applied'', ''duplicate'', ''stale'', ''conflict'', ''mismatch'')',
    'outcome = ''applied'' OR outcome = ''duplicate'' OR outcome = ''stale''
               OR outcome = ''conflict'' OR outcome = ''mismatch''')
WHERE type = 'table' AND name = 'payment_events';

PRAGMA writable_schema = RESET;

DROP INDEX payments_unscheduled;
CREATE INDEX payments_unscheduled ON payments (next_query_at, registered_at)
WHERE next_query_at IS NULL AND registered_at IS NOT NULL AND needs_review = 0
    AND (result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK'
         OR result_pay = 'WAITING' OR result_pay = 'PROCESSING');

DROP INDEX payments_pending;
CREATE INDEX payments_pending ON payments (registered_at)
WHERE registered_at IS NOT NULL AND needs_review = 0
    AND (result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK'
         OR result_pay = 'WAITING' OR result_pay = 'PROCESSING');

DROP VIEW pending_payments;
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
