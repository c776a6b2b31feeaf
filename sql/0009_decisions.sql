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
