-- 0007: a payout that becomes unknown for an order LianLian has already told us about.
--
-- store_apply (store_apply.c) makes an unknown payout accepted when a signed result for its
-- order arrives. A result can also arrive first: LianLian notifies while our payment.htm request
-- is still in flight ('sending'), and the request then times out. The submit thread records
-- 'unknown', but the signed notification already proved LianLian created it: this trigger makes
-- it accepted in the same statement's transaction, with the oid_paybill and a reason naming the
-- result and where it came from. payments.result_pay is only ever set from a verified message;
-- a row flagged for review (its amount or date disagree) proves nothing and stays unknown.
CREATE TRIGGER payouts_unknown_but_known AFTER UPDATE OF state ON payouts
WHEN NEW.state = 'unknown'
    AND EXISTS (SELECT 1 FROM payments WHERE no_order = NEW.no_order
                AND result_pay IS NOT NULL AND needs_review = 0)
BEGIN
    UPDATE payouts
    SET state = 'accepted',
        oid_paybill = coalesce((SELECT oid_paybill FROM payments WHERE no_order = NEW.no_order),
                               oid_paybill),
        reason = (SELECT 'LianLian knows it: ' || result_pay || ' by ' || ifnull(source, 'notify')
                  FROM payments WHERE no_order = NEW.no_order),
        no_record_since = NULL
    WHERE no_order = NEW.no_order;
END;
