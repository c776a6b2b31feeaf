-- 0009: who needs a person, and a trail of what people decided.
--
-- payouts_for_a_person (sql/0004) listed every unknown payout with a reason. The submit thread
-- and the crash recovery give unknown payouts reasons too ("unsigned answer: ...", "the daemon
-- stopped while it was being sent ..."): those are being queried by the daemon and need nobody
-- yet. A person is needed for a payout in review (confirm or let the code lapse), a refused one
-- (every refusal in protocol.md's table says "fix the cause" or "resubmit": only a person can),
-- and an unknown one whose reason starts "no record:" (store_payout.h's STORE_NO_RECORD_PREFIX:
-- 8901 past submit.no_record_after, which lianpayctl resubmit recognises). The view keeps its
-- columns; review_queue, which reads it, is recreated as it was.
--
-- payout_decisions: one row per person's decision made with lianpayctl (cancel, confirm,
-- decline, resubmit on a payout; resolve of an order in review), written in the same
-- transaction as the decision itself, so that the daemon can log each one once
-- (event=decision): it reads the rows whose logged_at is NULL, logs them and then sets
-- logged_at through its writer. A decision made while the daemon is stopped is logged when it
-- starts. Append-only: UPDATE may only set logged_at, once, and nothing else; DELETE is refused.
-- No foreign key to payments: archive moves old orders out of payments, and this trail stays.

DROP VIEW review_queue;
DROP VIEW payouts_for_a_person;

CREATE VIEW payouts_for_a_person AS
SELECT no_order, state, money_order, amount_fen, ret_code, ret_msg, reason,
       CASE WHEN state = 'review' AND confirm_expires_at IS NOT NULL
            THEN max(0, CAST(strftime('%s', confirm_expires_at) AS INTEGER)
                        - CAST(strftime('%s', 'now') AS INTEGER)) END AS seconds_left,
       confirm_tries, queued_at, sent_at, answered_at, updated_at, no_record_since
FROM payouts
WHERE state = 'review' OR state = 'refused'
    OR (state = 'unknown' AND substr(reason, 1, 10) = 'no record:')
ORDER BY updated_at;

CREATE VIEW review_queue AS
SELECT no_order, review_reason, result_pay, source, money_order, amount_fen, dt_order,
       registered_at, first_notified_at, updated_at, notify_count, query_count,
       payout_state, payout_reason
FROM (SELECT p.no_order, p.review_reason, p.result_pay, p.source, p.money_order, p.amount_fen,
             p.dt_order, p.registered_at, p.first_notified_at, p.updated_at, p.notify_count,
             p.query_count, o.state AS payout_state, o.reason AS payout_reason
      FROM payments AS p LEFT JOIN payouts AS o ON o.no_order = p.no_order
      WHERE p.needs_review = 1
      UNION ALL
      SELECT p.no_order, coalesce(f.reason, 'payout ' || f.state || CASE WHEN f.ret_code IS NULL
                                  THEN '' ELSE ' (' || f.ret_code || ')' END),
             p.result_pay, p.source, p.money_order, p.amount_fen, p.dt_order, p.registered_at,
             p.first_notified_at, f.updated_at, p.notify_count, p.query_count, f.state, f.reason
      FROM payouts_for_a_person AS f JOIN payments AS p ON p.no_order = f.no_order
      WHERE p.needs_review = 0)
ORDER BY updated_at;

CREATE TABLE payout_decisions (
    id INTEGER PRIMARY KEY,
    no_order TEXT NOT NULL
        CONSTRAINT decision_no_order_text CHECK (no_order = CAST(no_order AS TEXT)
               AND length(no_order) BETWEEN 1 AND 64),
    decision TEXT NOT NULL
        CONSTRAINT decision_verb CHECK (decision = 'cancel' OR decision = 'confirm'
               OR decision = 'decline' OR decision = 'resubmit' OR decision = 'resolve'),
    decided_at TEXT NOT NULL
        CONSTRAINT decision_decided_at_instant CHECK (
               strftime('%Y-%m-%dT%H:%M:%fZ', decided_at, '+0 seconds') IS decided_at),
    -- The user name of lianpayctl's uid (getuid), and SUDO_USER under sudo, as in
    -- review_resolutions.
    by_user TEXT NOT NULL
        CONSTRAINT decision_by_user_text CHECK (by_user = CAST(by_user AS TEXT)
               AND length(by_user) >= 1),
    sudo_user TEXT
        CONSTRAINT decision_sudo_user_text CHECK (sudo_user IS NULL
               OR sudo_user = CAST(sudo_user AS TEXT)),
    -- The payout's state before and after (a confirm stays 'review' until the daemon sends
    -- it); for resolve, 'flagged' before and 'resolved' ('requeried' with --requery) after.
    from_state TEXT NOT NULL
        CONSTRAINT decision_from_text CHECK (from_state = CAST(from_state AS TEXT)),
    to_state TEXT NOT NULL
        CONSTRAINT decision_to_text CHECK (to_state = CAST(to_state AS TEXT)),
    -- Why it waited for a person, as it was (payouts.reason, payments.review_reason).
    reason TEXT
        CONSTRAINT decision_reason_text CHECK (reason IS NULL OR reason = CAST(reason AS TEXT)),
    -- What the person wrote (review resolve --note).
    note TEXT
        CONSTRAINT decision_note_text CHECK (note IS NULL OR note = CAST(note AS TEXT)),
    -- When the daemon logged it; NULL until then.
    logged_at TEXT
        CONSTRAINT decision_logged_at_instant CHECK (logged_at IS NULL
               OR strftime('%Y-%m-%dT%H:%M:%fZ', logged_at, '+0 seconds') IS logged_at),
    CONSTRAINT payout_decisions_text_without_nul CHECK (instr(no_order || decision || by_user
               || ifnull(sudo_user, '') || from_state || to_state || ifnull(reason, '')
               || ifnull(note, ''), char(0)) = 0)
);

CREATE INDEX payout_decisions_no_order ON payout_decisions (no_order);
-- The daemon's "not logged yet", oldest first.
CREATE INDEX payout_decisions_unlogged ON payout_decisions (id) WHERE logged_at IS NULL;

CREATE TRIGGER payout_decisions_logged_once BEFORE INSERT ON payout_decisions
WHEN NEW.logged_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'payout_decisions: a decision is logged by the daemon, not inserted logged');
END;

CREATE TRIGGER payout_decisions_no_update BEFORE UPDATE ON payout_decisions
WHEN NOT (OLD.logged_at IS NULL AND NEW.logged_at IS NOT NULL
          AND NEW.id IS OLD.id AND NEW.no_order IS OLD.no_order
          AND NEW.decision IS OLD.decision AND NEW.decided_at IS OLD.decided_at
          AND NEW.by_user IS OLD.by_user AND NEW.sudo_user IS OLD.sudo_user
          AND NEW.from_state IS OLD.from_state AND NEW.to_state IS OLD.to_state
          AND NEW.reason IS OLD.reason AND NEW.note IS OLD.note)
BEGIN
    SELECT RAISE(ABORT, 'payout_decisions is append-only (only logged_at may be set, once)');
END;

CREATE TRIGGER payout_decisions_no_delete BEFORE DELETE ON payout_decisions
BEGIN
    SELECT RAISE(ABORT, 'payout_decisions is append-only');
END;
