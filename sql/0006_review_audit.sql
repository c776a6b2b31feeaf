-- 0006: who resolved an order flagged for review, when, why it was flagged and what they wrote
-- (issue 14, item 2; lianpayctl review resolve).
--
-- review_resolutions is append-only (triggers refuse UPDATE and DELETE): it is the trail that
-- hand-written SQL on payments never left. lianpayctl writes the row and clears needs_review in
-- one transaction.
--
-- payments.chase_from: when the reconciler's chase of the order began, for its give-up clock;
-- NULL means registered_at (every order before this migration, and every order never resolved).
-- `review resolve --requery` sets it (and next_query_at) to now, so that an order whose result is
-- still unknown is chased again for a whole give_up_after before it can be flagged again, instead
-- of being rescheduled from registered_at, queried at once and flagged again at once.

CREATE TABLE review_resolutions (
    id INTEGER PRIMARY KEY,
    no_order TEXT NOT NULL REFERENCES payments (no_order)
        CONSTRAINT resolution_no_order_text CHECK (no_order = CAST(no_order AS TEXT)),
    resolved_at TEXT NOT NULL
        CONSTRAINT resolution_resolved_at_instant CHECK (
               strftime('%Y-%m-%dT%H:%M:%fZ', resolved_at, '+0 seconds') IS resolved_at),
    -- The user name of the caller's uid (getuid), and SUDO_USER when lianpayctl ran under sudo.
    resolved_by TEXT NOT NULL
        CONSTRAINT resolution_resolved_by_text CHECK (resolved_by = CAST(resolved_by AS TEXT)
               AND length(resolved_by) >= 1),
    sudo_user TEXT
        CONSTRAINT resolution_sudo_user_text CHECK (sudo_user IS NULL
               OR sudo_user = CAST(sudo_user AS TEXT)),
    -- payments.review_reason as it was when the person resolved it.
    review_reason TEXT
        CONSTRAINT resolution_reason_text CHECK (review_reason IS NULL
               OR review_reason = CAST(review_reason AS TEXT)),
    note TEXT NOT NULL
        CONSTRAINT resolution_note_text CHECK (note = CAST(note AS TEXT) AND length(note) >= 1),
    -- 1 when the order was sent back to the reconciler (--requery).
    requery INTEGER NOT NULL DEFAULT 0 CHECK (requery = 0 OR requery = 1),
    CONSTRAINT review_resolutions_text_without_nul CHECK (instr(no_order || resolved_by
               || ifnull(sudo_user, '') || ifnull(review_reason, '') || note, char(0)) = 0)
);

CREATE INDEX review_resolutions_no_order ON review_resolutions (no_order);

CREATE TRIGGER review_resolutions_no_update BEFORE UPDATE ON review_resolutions
BEGIN
    SELECT RAISE(ABORT, 'review_resolutions is append-only');
END;

CREATE TRIGGER review_resolutions_no_delete BEFORE DELETE ON review_resolutions
BEGIN
    SELECT RAISE(ABORT, 'review_resolutions is append-only');
END;

ALTER TABLE payments ADD COLUMN chase_from TEXT
    CONSTRAINT chase_from_instant CHECK (chase_from IS NULL
           OR strftime('%Y-%m-%dT%H:%M:%fZ', chase_from, '+0 seconds') IS chase_from);
