-- 0008: a query answer's memo (protocol.md: LianLian's failure reason, signed like the rest of
-- the answer), kept with the result it came with: set (or cleared) each time a result is
-- recorded, as info_order is. payresult.c refuses one over 255 characters or with a control
-- character; the CHECK is what SQL can say of it, as for the other text columns.
ALTER TABLE payments ADD COLUMN memo TEXT
    CONSTRAINT payments_memo_text CHECK (memo IS NULL
           OR (memo = CAST(memo AS TEXT) AND length(memo) <= 255 AND instr(memo, char(0)) = 0));
