-- 0005: backups and archiving (issue 14, item 3).
--
-- backups: one row per `lianpayctl backup` run on this database. ok = 1 rows have bytes and
-- finished_at; ok = 0 rows say why in error. /metrics reads
--   SELECT max(finished_at) FROM backups WHERE ok = 1
-- as the time of the last good backup: keep that meaning.
--
-- archive_permit and the new payment_events_no_delete: the journal stays append-only, with one
-- narrow exception for `lianpayctl archive`. A DELETE on payment_events passes only
--   * while archive_permit holds its (single) row, which archive inserts and deletes inside its
--     own transaction (a crash or a rollback takes it away with everything else), and
--   * for an event whose order is still in payments (events are deleted before their order),
--     is final (result_pay SUCCESS, FAILURE, CANCEL or CLOSED), is not flagged for review, was
--     finalised before the permit's cutoff, and has no payouts row (payouts and their attempts
--     are not archived: their own triggers refuse deletes of sent payouts).
-- So even a tool that inserts a permit cannot delete the journal of a pending, flagged or recent
-- order, and outside archive's transaction a plain DELETE is refused as before.
CREATE TABLE backups (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL
        CONSTRAINT backup_started_at_instant CHECK (
               strftime('%Y-%m-%dT%H:%M:%fZ', started_at, '+0 seconds') IS started_at),
    finished_at TEXT
        CONSTRAINT backup_finished_at_instant CHECK (finished_at IS NULL
               OR strftime('%Y-%m-%dT%H:%M:%fZ', finished_at, '+0 seconds') IS finished_at),
    path TEXT NOT NULL,
    bytes INTEGER CONSTRAINT backup_bytes CHECK (bytes IS NULL OR bytes >= 0),
    ok INTEGER NOT NULL CONSTRAINT backup_ok_value CHECK (ok = 0 OR ok = 1),
    error TEXT,
    CONSTRAINT backup_ok_complete CHECK (ok = 0
           OR (bytes IS NOT NULL AND finished_at IS NOT NULL AND error IS NULL)),
    CONSTRAINT backup_failure_says_why CHECK (ok = 1 OR error IS NOT NULL)
);

CREATE INDEX backups_finished ON backups (ok, finished_at);

CREATE TABLE archive_permit (
    id INTEGER PRIMARY KEY CONSTRAINT archive_permit_one_row CHECK (id = 1),
    before TEXT NOT NULL
        CONSTRAINT archive_permit_before_instant CHECK (
               strftime('%Y-%m-%dT%H:%M:%fZ', before, '+0 seconds') IS before)
);

DROP TRIGGER payment_events_no_delete;
CREATE TRIGGER payment_events_no_delete BEFORE DELETE ON payment_events
WHEN NOT EXISTS (
    SELECT 1 FROM payments p, archive_permit a
    WHERE p.no_order = OLD.no_order AND p.needs_review = 0 AND p.final_at IS NOT NULL
        AND p.final_at < a.before
        AND (p.result_pay = 'SUCCESS' OR p.result_pay = 'FAILURE' OR p.result_pay = 'CANCEL'
             OR p.result_pay = 'CLOSED')
        AND NOT EXISTS (SELECT 1 FROM payouts o WHERE o.no_order = p.no_order))
BEGIN
    SELECT RAISE(ABORT, 'payment_events is append-only');
END;
