-- 0004: the outbound half (design.md, "Payout submission"): payouts to send, the journal of what
-- was sent, the views a person reads, and the payments rows they register.
--
-- Queuing a payout is one INSERT (design.md's shape; defaults fill the rest):
--   INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name, flag_card,
--                       info_order, memo) VALUES (...);
-- payouts_registers (AFTER INSERT) then registers the order in payments, so that every view
-- and the reconciler know it; payouts_not_known (BEFORE INSERT) refuses a no_order payments
-- already knows: it was registered, notified or sent before, and LianLian would refuse it (1002)
-- or, worse, a new order would be paid twice.
--
-- Columns beyond design.md's lists:
--  * payouts: amount_fen (the yuan of money_order in fen, filled by payouts_amount_fen as
--    payments_amount_fen does), confirm_requested_at (when a person asked, with lianpayctl
--    confirm, to send the confirm code; the submit thread acts on it), no_record_since (when a
--    query first answered 8901 for an unknown payout; NULL otherwise, the submit thread sets
--    it), and the optional request fields of protocol.md by their names (bank_name, prcptcd,
--    bank_code, city_code, brabank_name).
--  * payments.payout_held (0/1): 1 while the order's payout has not been sent (queued) or
--    LianLian's signed answer says it created nothing (review, refused, closed) or a person
--    cancelled it. A held order is not chased: the reconciler would only learn "no record"
--    (8901) about an order that was never sent. Kept by triggers on payouts.state, so neither
--    the submit thread nor a tool can forget it; a held order has no next_query_at (CHECK), so
--    the payments_due index needs no change, and payments_unscheduled and payments_pending
--    leave held orders out.
--  * Views: payouts_in_flight, payouts_for_a_person (new); pending_payments gains nothing and
--    leaves held orders out; review_queue gains payout_state and payout_reason at the end and
--    lists the payouts waiting for a person too.
--
-- Text columns refuse a BLOB and a NUL, and timestamps are real instants, as in sql/0003. The
-- CHECKs are what SQL can say of protocol.md's formats; the rest (memo characters LianLian
-- strips, company payouts' branch details) is payout_check.c's, before anything is sent.

CREATE TABLE payouts (
    no_order TEXT NOT NULL PRIMARY KEY
        CONSTRAINT payout_no_order_format CHECK (no_order = CAST(no_order AS TEXT)
               AND length(no_order) BETWEEN 1 AND 32
               AND no_order NOT GLOB '*[^!-~]*' AND no_order NOT GLOB '*[&="]*'),
    dt_order TEXT NOT NULL
        CONSTRAINT payout_dt_order_format CHECK (dt_order = CAST(dt_order AS TEXT)
               AND length(dt_order) = 14 AND dt_order NOT GLOB '*[^0-9]*'
               AND substr(dt_order, 5, 2) BETWEEN '01' AND '12'
               AND substr(dt_order, 7, 2) BETWEEN '01' AND '31'
               AND substr(dt_order, 9, 2) <= '23' AND substr(dt_order, 11, 2) <= '59'
               AND substr(dt_order, 13, 2) <= '59'),
    money_order TEXT NOT NULL
        CONSTRAINT payout_money_order_format CHECK (money_order = CAST(money_order AS TEXT)
               AND money_order GLOB '[0-9]*'
               AND money_order NOT GLOB '*[^0-9.]*'
               AND money_order NOT GLOB '*.*.*'
               AND money_order NOT GLOB '0[0-9]*'
               AND ((money_order NOT GLOB '*.*' AND length(money_order) <= 12)
                    OR (money_order GLOB '*.[0-9]' AND length(money_order) <= 14)
                    OR (money_order GLOB '*.[0-9][0-9]' AND length(money_order) <= 15))),
    -- Filled by payouts_amount_fen when an INSERT leaves it out; "0.00" is refused here.
    amount_fen INTEGER
        CONSTRAINT payout_amount_fen_positive CHECK (amount_fen IS NULL
               OR (typeof(amount_fen) = 'integer' AND amount_fen > 0)),
    card_no TEXT NOT NULL
        CONSTRAINT card_no_format CHECK (card_no = CAST(card_no AS TEXT)
               AND length(card_no) BETWEEN 1 AND 32 AND card_no NOT GLOB '*[^0-9]*'),
    acct_name TEXT NOT NULL
        CONSTRAINT acct_name_text CHECK (acct_name = CAST(acct_name AS TEXT)
               AND length(acct_name) >= 1),
    bank_name TEXT
        CONSTRAINT bank_name_text CHECK (bank_name IS NULL
               OR bank_name = CAST(bank_name AS TEXT)),
    info_order TEXT
        CONSTRAINT payout_info_order_format CHECK (info_order IS NULL
               OR (info_order = CAST(info_order AS TEXT) AND length(info_order) <= 255)),
    flag_card TEXT NOT NULL DEFAULT '0'
        CONSTRAINT flag_card_value CHECK (flag_card = '0' OR flag_card = '1'),
    -- length() counts characters (code points) of TEXT, as LianLian counts them.
    memo TEXT
        CONSTRAINT memo_format CHECK (memo IS NULL
               OR (memo = CAST(memo AS TEXT) AND length(memo) <= 24)),
    prcptcd TEXT
        CONSTRAINT prcptcd_format CHECK (prcptcd IS NULL
               OR (prcptcd = CAST(prcptcd AS TEXT) AND length(prcptcd) BETWEEN 1 AND 12
                   AND prcptcd NOT GLOB '*[^0-9]*')),
    bank_code TEXT
        CONSTRAINT bank_code_format CHECK (bank_code IS NULL
               OR (bank_code = CAST(bank_code AS TEXT) AND length(bank_code) = 8
                   AND bank_code NOT GLOB '*[^0-9]*')),
    city_code TEXT
        CONSTRAINT city_code_format CHECK (city_code IS NULL
               OR (city_code = CAST(city_code AS TEXT) AND length(city_code) BETWEEN 1 AND 12
                   AND city_code NOT GLOB '*[^0-9]*')),
    brabank_name TEXT
        CONSTRAINT brabank_name_text CHECK (brabank_name IS NULL
               OR (brabank_name = CAST(brabank_name AS TEXT) AND length(brabank_name) >= 1)),
    state TEXT NOT NULL DEFAULT 'queued'
        CONSTRAINT payout_state_value CHECK (state = 'queued' OR state = 'sending'
               OR state = 'accepted' OR state = 'review' OR state = 'confirming'
               OR state = 'refused' OR state = 'unknown' OR state = 'closed'
               OR state = 'cancelled'),
    ret_code TEXT
        CONSTRAINT payout_ret_code_text CHECK (ret_code IS NULL
               OR (ret_code = CAST(ret_code AS TEXT) AND length(ret_code) BETWEEN 1 AND 15)),
    ret_msg TEXT
        CONSTRAINT payout_ret_msg_text CHECK (ret_msg IS NULL OR ret_msg = CAST(ret_msg AS TEXT)),
    oid_paybill TEXT
        CONSTRAINT payout_oid_paybill_format CHECK (oid_paybill IS NULL
               OR (oid_paybill = CAST(oid_paybill AS TEXT)
                   AND length(oid_paybill) BETWEEN 1 AND 32 AND oid_paybill NOT GLOB '*[^0-9]*')),
    confirm_code TEXT
        CONSTRAINT confirm_code_format CHECK (confirm_code IS NULL
               OR (confirm_code = CAST(confirm_code AS TEXT) AND length(confirm_code) = 6
                   AND confirm_code NOT GLOB '*[^0-9]*')),
    confirm_expires_at TEXT
        CONSTRAINT confirm_expires_at_instant CHECK (confirm_expires_at IS NULL
               OR strftime('%Y-%m-%dT%H:%M:%fZ', confirm_expires_at, '+0 seconds')
                  IS confirm_expires_at),
    confirm_tries INTEGER NOT NULL DEFAULT 0
        CONSTRAINT confirm_tries_range CHECK (typeof(confirm_tries) = 'integer'
               AND confirm_tries BETWEEN 0 AND 2147483647),
    confirm_requested_at TEXT
        CONSTRAINT confirm_requested_at_instant CHECK (confirm_requested_at IS NULL
               OR strftime('%Y-%m-%dT%H:%M:%fZ', confirm_requested_at, '+0 seconds')
                  IS confirm_requested_at),
    queued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        CONSTRAINT queued_at_instant CHECK (
               strftime('%Y-%m-%dT%H:%M:%fZ', queued_at, '+0 seconds') IS queued_at),
    sent_at TEXT
        CONSTRAINT sent_at_instant CHECK (sent_at IS NULL
               OR strftime('%Y-%m-%dT%H:%M:%fZ', sent_at, '+0 seconds') IS sent_at),
    answered_at TEXT
        CONSTRAINT answered_at_instant CHECK (answered_at IS NULL
               OR strftime('%Y-%m-%dT%H:%M:%fZ', answered_at, '+0 seconds') IS answered_at),
    attempts INTEGER NOT NULL DEFAULT 0
        CONSTRAINT attempts_range CHECK (typeof(attempts) = 'integer'
               AND attempts BETWEEN 0 AND 2147483647),
    reason TEXT
        CONSTRAINT payout_reason_text CHECK (reason IS NULL
               OR (reason = CAST(reason AS TEXT) AND instr(reason, char(0)) = 0)),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        CONSTRAINT payout_updated_at_instant CHECK (
               strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, '+0 seconds') IS updated_at),
    no_record_since TEXT
        CONSTRAINT no_record_since_instant CHECK (no_record_since IS NULL
               OR strftime('%Y-%m-%dT%H:%M:%fZ', no_record_since, '+0 seconds')
                  IS no_record_since),
    -- protocol.md: info_order and memo are required from 50,000 yuan. Read from money_order's
    -- yuan (its CHECK vouches for the digits): amount_fen is still NULL when the INSERT is
    -- checked. ifnull: a NULL memo must fail the CHECK, not make it unknown (which passes).
    CONSTRAINT large_payout_needs_info_order_and_memo CHECK (
               CAST(substr(money_order, 1, instr(money_order || '.', '.') - 1) AS INTEGER) < 50000
               OR (ifnull(length(info_order), 0) >= 1 AND ifnull(length(memo), 0) >= 1)),
    CONSTRAINT company_payout_needs_bank_code CHECK (flag_card = '0' OR bank_code IS NOT NULL),
    CONSTRAINT payouts_text_without_nul CHECK (instr(no_order || dt_order || money_order
               || card_no || acct_name || ifnull(bank_name, '') || ifnull(info_order, '')
               || ifnull(memo, '') || ifnull(prcptcd, '') || ifnull(bank_code, '')
               || ifnull(city_code, '') || ifnull(brabank_name, '') || ifnull(ret_code, '')
               || ifnull(ret_msg, '') || ifnull(oid_paybill, '') || ifnull(confirm_code, ''),
               char(0)) = 0)
);

-- The submit thread's queue, the views' selections and lianpayctl payouts --state.
CREATE INDEX payouts_state ON payouts (state, queued_at);

CREATE TABLE payout_attempts (
    id INTEGER PRIMARY KEY,
    no_order TEXT NOT NULL REFERENCES payouts (no_order)
        CONSTRAINT attempt_no_order_text CHECK (no_order = CAST(no_order AS TEXT)),
    call TEXT NOT NULL CHECK (call = 'apply' OR call = 'confirm'),
    class TEXT NOT NULL
        CHECK (class = 'accepted' OR class = 'review' OR class = 'refused' OR class = 'closed'
               OR class = 'unknown'),
    ret_code TEXT
        CONSTRAINT attempt_ret_code_text CHECK (ret_code IS NULL
               OR ret_code = CAST(ret_code AS TEXT)),
    signed INTEGER NOT NULL DEFAULT 0 CHECK (signed = 0 OR signed = 1),
    -- As received; NULL when nothing came (timeout, network error).
    answer TEXT
        CONSTRAINT attempt_answer_text CHECK (answer IS NULL OR answer = CAST(answer AS TEXT)),
    -- The signed request with card_no and acct_name masked (payout.c's journal_json).
    request TEXT NOT NULL
        CONSTRAINT attempt_request_text CHECK (request = CAST(request AS TEXT)),
    sent_at TEXT NOT NULL
        CONSTRAINT attempt_sent_at_instant CHECK (
               strftime('%Y-%m-%dT%H:%M:%fZ', sent_at, '+0 seconds') IS sent_at),
    answered_at TEXT
        CONSTRAINT attempt_answered_at_instant CHECK (answered_at IS NULL
               OR strftime('%Y-%m-%dT%H:%M:%fZ', answered_at, '+0 seconds') IS answered_at),
    CONSTRAINT payout_attempts_text_without_nul CHECK (instr(no_order || ifnull(ret_code, '')
               || ifnull(answer, '') || request, char(0)) = 0)
);

CREATE INDEX payout_attempts_no_order ON payout_attempts (no_order);

CREATE TRIGGER payout_attempts_no_delete BEFORE DELETE ON payout_attempts
BEGIN
    SELECT RAISE(ABORT, 'payout_attempts is append-only');
END;

-- The answer may be recorded once on a row written before the request left.
CREATE TRIGGER payout_attempts_no_update BEFORE UPDATE ON payout_attempts
WHEN NEW.id IS NOT OLD.id
    OR NEW.no_order IS NOT OLD.no_order
    OR NEW.call IS NOT OLD.call
    OR NEW.request IS NOT OLD.request
    OR NEW.sent_at IS NOT OLD.sent_at
    OR OLD.answered_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'payout_attempts is append-only');
END;

-- A held order has no query time: the due index cannot serve it.
ALTER TABLE payments ADD COLUMN payout_held INTEGER NOT NULL DEFAULT 0
    CONSTRAINT payout_held_value CHECK ((payout_held = 0 OR payout_held = 1)
           AND (payout_held = 0 OR next_query_at IS NULL));

CREATE TRIGGER payouts_not_known BEFORE INSERT ON payouts
WHEN EXISTS (SELECT 1 FROM payments WHERE no_order = NEW.no_order)
BEGIN
    SELECT RAISE(ABORT, 'no_order is already known in payments: registered, notified or sent before');
END;

CREATE TRIGGER payouts_amount_fen AFTER INSERT ON payouts
WHEN NEW.amount_fen IS NULL
BEGIN
    UPDATE payouts
    SET amount_fen =
        CAST(substr(NEW.money_order, 1, instr(NEW.money_order || '.', '.') - 1) AS INTEGER) * 100
        + CAST(substr(substr(NEW.money_order, instr(NEW.money_order || '.', '.') + 1) || '00',
                      1, 2) AS INTEGER)
    WHERE no_order = NEW.no_order;
END;

-- The payments row's amount_fen comes from payments_amount_fen, so the order in which this and
-- payouts_amount_fen run does not matter. A row inserted already sent (a tool restoring one)
-- is chased; any other is held.
CREATE TRIGGER payouts_registers AFTER INSERT ON payouts
BEGIN
    INSERT INTO payments (no_order, money_order, dt_order, registered_at, updated_at,
                          payout_held)
    VALUES (NEW.no_order, NEW.money_order, NEW.dt_order, NEW.queued_at, NEW.queued_at,
            CASE WHEN NEW.state = 'sending' OR NEW.state = 'confirming' OR NEW.state = 'accepted'
                      OR NEW.state = 'unknown' THEN 0 ELSE 1 END);
END;

-- A payout whose state says nothing was created (or nothing yet) holds its payments row; one
-- sent, or whose fate is unknown, is chased. The submit thread sets next_query_at when it
-- records a send (from sent_at, design.md); unset, store_schedule_new schedules it.
CREATE TRIGGER payouts_hold AFTER UPDATE OF state ON payouts
WHEN NEW.state IS NOT OLD.state
BEGIN
    UPDATE payments
    SET payout_held = CASE WHEN NEW.state = 'sending' OR NEW.state = 'confirming'
                                OR NEW.state = 'accepted' OR NEW.state = 'unknown'
                           THEN 0 ELSE 1 END,
        next_query_at = CASE WHEN NEW.state = 'sending' OR NEW.state = 'confirming'
                                  OR NEW.state = 'accepted' OR NEW.state = 'unknown'
                             THEN next_query_at END
    WHERE no_order = NEW.no_order;
END;

CREATE TRIGGER payouts_no_delete BEFORE DELETE ON payouts
WHEN OLD.state IS NOT 'cancelled' AND OLD.state IS NOT 'queued'
BEGIN
    SELECT RAISE(ABORT, 'payouts: only a queued or cancelled payout may be deleted (it was sent)');
END;

DROP INDEX payments_unscheduled;
CREATE INDEX payments_unscheduled ON payments (next_query_at, registered_at)
WHERE next_query_at IS NULL AND registered_at IS NOT NULL AND needs_review = 0
    AND payout_held = 0
    AND (result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK'
         OR result_pay = 'WAITING' OR result_pay = 'PROCESSING');

DROP VIEW pending_payments;
DROP INDEX payments_pending;
CREATE INDEX payments_pending ON payments (registered_at)
WHERE registered_at IS NOT NULL AND needs_review = 0 AND payout_held = 0
    AND (result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK'
         OR result_pay = 'WAITING' OR result_pay = 'PROCESSING');

CREATE VIEW pending_payments AS
SELECT no_order, money_order, amount_fen, dt_order, result_pay, source, registered_at,
       CAST(strftime('%s', 'now') AS INTEGER) - CAST(strftime('%s', registered_at) AS INTEGER)
           AS age_seconds,
       notify_count, query_count, next_query_at
FROM payments
WHERE registered_at IS NOT NULL AND needs_review = 0 AND payout_held = 0
    AND (result_pay IS NULL OR result_pay = 'APPLY' OR result_pay = 'CHECK'
         OR result_pay = 'WAITING' OR result_pay = 'PROCESSING')
ORDER BY registered_at;

-- Queued and in-flight payouts, and accepted ones whose result is not final yet, oldest first.
CREATE VIEW payouts_in_flight AS
SELECT o.no_order, o.state, o.money_order, o.amount_fen, o.queued_at, o.sent_at,
       CAST(strftime('%s', 'now') AS INTEGER) - CAST(strftime('%s', o.queued_at) AS INTEGER)
           AS age_seconds,
       o.attempts, o.ret_code, o.oid_paybill, p.result_pay, p.next_query_at
FROM payouts AS o JOIN payments AS p ON p.no_order = o.no_order
WHERE o.state = 'queued' OR o.state = 'sending' OR o.state = 'confirming'
    OR o.state = 'unknown'
    OR (o.state = 'accepted' AND (p.result_pay IS NULL OR p.result_pay = 'APPLY'
        OR p.result_pay = 'CHECK' OR p.result_pay = 'WAITING' OR p.result_pay = 'PROCESSING'))
ORDER BY o.queued_at;

-- What a person must decide: review (confirm or let lapse; seconds_left on the code), refused
-- (fix and resubmit), unknown with a reason (the submit thread sets one when 8901 persists).
CREATE VIEW payouts_for_a_person AS
SELECT no_order, state, money_order, amount_fen, ret_code, ret_msg, reason,
       CASE WHEN state = 'review' AND confirm_expires_at IS NOT NULL
            THEN max(0, CAST(strftime('%s', confirm_expires_at) AS INTEGER)
                        - CAST(strftime('%s', 'now') AS INTEGER)) END AS seconds_left,
       confirm_tries, queued_at, sent_at, answered_at, updated_at, no_record_since
FROM payouts
WHERE state = 'review' OR state = 'refused' OR (state = 'unknown' AND reason IS NOT NULL)
ORDER BY updated_at;

DROP VIEW review_queue;
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
