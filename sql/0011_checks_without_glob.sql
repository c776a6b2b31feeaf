-- 0011: payments' "only digits" and no_order's "no & = or \"" CHECKs without GLOB.
--
-- The same conditions, cheaper for SQLite to evaluate on every row the writer writes
-- (bench/round5-writer.md): "x NOT GLOB '*[^0-9]*'" (no character but an ASCII digit) becomes
-- "ltrim(x, '0123456789') = ''" (nothing left once the leading ASCII digits are taken off), and
-- "no_order NOT GLOB '*[&="]*'" becomes three instr() tests. For oid_partner, dt_order,
-- oid_paybill and settle_date the two texts agree on every value, the empty string included,
-- but one: GLOB stops at a NUL byte and ltrim and instr do not, so the new text also refuses a
-- value with a NUL after its digits. payments_text_without_nul refuses every such value in
-- these columns already, so the rows the table allows are exactly the same (test_store feeds
-- the old and the new schema the same values and checks that). money_order keeps its GLOBs
-- (written with ltrim they cost more), and the timestamps their strftime round trip.
--
-- How: as sql/0002, the schema text is edited in place (SQLite's ALTER TABLE documentation,
-- "making other kinds of table schema changes"), which costs nothing however large the table
-- is and keeps every row as it is, a row an earlier tool wrote past the CHECKs included. RESET
-- makes this connection read the schema again; the empty table made and dropped at the end
-- changes the schema version, so that every other connection reads it again too.

PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(replace(replace(replace(replace(sql,
    'no_order NOT GLOB ''*[&="]*''',
    'instr(no_order, ''&'') = 0 AND instr(no_order, ''='') = 0
               AND instr(no_order, ''"'') = 0'),
    'oid_partner NOT GLOB ''*[^0-9]*''', 'ltrim(oid_partner, ''0123456789'') = '''''),
    'dt_order NOT GLOB ''*[^0-9]*''', 'ltrim(dt_order, ''0123456789'') = '''''),
    'oid_paybill NOT GLOB ''*[^0-9]*''', 'ltrim(oid_paybill, ''0123456789'') = '''''),
    'settle_date NOT GLOB ''*[^0-9]*''', 'ltrim(settle_date, ''0123456789'') = ''''')
WHERE type = 'table' AND name = 'payments';

PRAGMA writable_schema = RESET;

CREATE TABLE migration_0011_schema_changed (x);
DROP TABLE migration_0011_schema_changed;
