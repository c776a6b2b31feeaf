-- 0011: the CHECKs of payments and payment_events that the writer evaluates on every row,
-- written so that SQLite 3.40 evaluates them with fewer instructions; the same conditions.
--
--  * "x NOT GLOB '*[^0-9]*'" (no character but an ASCII digit: oid_partner, dt_order,
--    oid_paybill, settle_date) becomes "ltrim(x, '0123456789') = ''" (nothing left once the
--    leading ASCII digits are taken off), and no_order's "NOT GLOB '*[&="]*'" three instr().
--  * The "no NUL byte" CHECKs over a table's text columns (payments_text_without_nul,
--    payment_events_text_without_nul), "instr(E, char(0)) = 0" with E the columns joined,
--    become "printf('%s', E) = E": %s copies E up to its first NUL, so the two are equal
--    exactly when E has none. instr compared E byte by byte (a call to memcmp for each).
--
-- GLOB and %s stop at a NUL byte where ltrim, instr and "=" do not, so for a value with a NUL
-- after its digits the new digit CHECKs say no where the old said yes; the NUL CHECKs refuse
-- every such row anyway, with the old text and the new, so both tables allow exactly the same
-- rows (test_store feeds sql/0010's schema and this one the same good and bad values, NUL
-- bytes, non-ASCII digits, signs, spaces, lengths, each forbidden character, as text and as
-- BLOB, and checks that). money_order keeps its GLOBs (written with ltrim they cost more), the
-- timestamps their strftime round trip. Measured in bench/round5-writer.md.
--
-- How: as sql/0002, the schema text is edited in place (SQLite's ALTER TABLE documentation,
-- "making other kinds of table schema changes"): it costs nothing however large the tables
-- are, and keeps every row as it is, one an earlier tool wrote past the CHECKs included. RESET
-- makes this connection read the schema again; the empty table made and dropped at the end
-- changes the schema version, so that every other connection reads it again too.

PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(replace(replace(replace(replace(replace(sql,
    'no_order NOT GLOB ''*[&="]*''',
    'instr(no_order, ''&'') = 0 AND instr(no_order, ''='') = 0
               AND instr(no_order, ''"'') = 0'),
    'oid_partner NOT GLOB ''*[^0-9]*''', 'ltrim(oid_partner, ''0123456789'') = '''''),
    'dt_order NOT GLOB ''*[^0-9]*''', 'ltrim(dt_order, ''0123456789'') = '''''),
    'oid_paybill NOT GLOB ''*[^0-9]*''', 'ltrim(oid_paybill, ''0123456789'') = '''''),
    'settle_date NOT GLOB ''*[^0-9]*''', 'ltrim(settle_date, ''0123456789'') = '''''),
    'instr(no_order || ifnull(oid_partner, '''')
               || money_order || ifnull(dt_order, '''') || ifnull(oid_paybill, '''')
               || ifnull(settle_date, '''') || ifnull(info_order, ''''), char(0)) = 0',
    'printf(''%s'', no_order || ifnull(oid_partner, '''')
               || money_order || ifnull(dt_order, '''') || ifnull(oid_paybill, '''')
               || ifnull(settle_date, '''') || ifnull(info_order, '''')) = no_order
               || ifnull(oid_partner, '''') || money_order || ifnull(dt_order, '''')
               || ifnull(oid_paybill, '''') || ifnull(settle_date, '''') || ifnull(info_order, '''')')
WHERE type = 'table' AND name = 'payments';

UPDATE sqlite_schema
SET sql = replace(sql,
    'instr(no_order || money_order
               || ifnull(oid_paybill, '''') || ifnull(settle_date, '''') || ifnull(info_order, '''')
               || body || ifnull(remote_addr, ''''), char(0)) = 0',
    'printf(''%s'', no_order || money_order
               || ifnull(oid_paybill, '''') || ifnull(settle_date, '''') || ifnull(info_order, '''')
               || body || ifnull(remote_addr, '''')) = no_order || money_order
               || ifnull(oid_paybill, '''') || ifnull(settle_date, '''') || ifnull(info_order, '''')
               || body || ifnull(remote_addr, '''')')
WHERE type = 'table' AND name = 'payment_events';

PRAGMA writable_schema = RESET;

CREATE TABLE migration_0011_schema_changed (x);
DROP TABLE migration_0011_schema_changed;
