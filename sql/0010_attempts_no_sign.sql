-- 0010: the attempts journal keeps no request signature.
--
-- payout_attempts.request is the request as sent with card_no and acct_name masked, but until
-- now it also held the request's sign: an RSA signature over the plain card number and name.
-- With the merchant's public key and the masked copy, a reader could test guessed card numbers
-- offline (the six hidden digits are 10^6 candidates, about 10^5 after Luhn) until one verifies.
-- payout.c now writes "withheld" in its place; this migration does the same to the rows written
-- before. The append-only trigger is lifted for this one statement and put back as it was.
-- Rows whose request is not a JSON object with a sign are left as they are.

DROP TRIGGER payout_attempts_no_update;

UPDATE payout_attempts SET request = json_set(request, '$.sign', 'withheld')
WHERE json_valid(request) AND json_type(request) = 'object'
    AND json_type(request, '$.sign') IS NOT NULL;

-- As sql/0004 made it.
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
