#!/usr/bin/env python3
"""Makes a large payments database for measuring backup and archive (README: backups):
N orders, all final, each with one journal row of a realistic notification's size, written with
plain SQL in one transaction. Not part of the suite (a million rows take a minute).

    tools/bigdb.py DB [N]        (N defaults to 1,000,000)
    lianpayctl --dev DIR backup … / archive …   then measure with time(1)
"""
import glob
import os
import sqlite3
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit('usage: bigdb.py DB [N]')
    path, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 1000000
    if os.path.exists(path):
        sys.exit('bigdb.py: %s exists' % path)
    c = sqlite3.connect(path, isolation_level=None)
    c.execute('PRAGMA journal_mode=WAL')
    sql_dir = os.path.join(os.path.dirname(__file__), '..', 'sql')
    for number, f in enumerate(sorted(glob.glob(os.path.join(sql_dir, '0*.sql'))), 1):
        c.execute('CREATE TEMP TABLE migration_refusals (what TEXT NOT NULL)')
        with open(f, encoding='utf-8') as fh:
            c.executescript('BEGIN;' + fh.read() + ';PRAGMA user_version = %d; COMMIT;' % number)
        c.execute('DROP TABLE temp.migration_refusals')
    # A notification's body as LianLian sends it is about 700 bytes with its RSA signature.
    sign = 'S' * 344
    c.execute('BEGIN')
    c.execute("""
        WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < ?1)
        INSERT INTO payments(no_order, oid_partner, money_order, dt_order, oid_paybill,
                             result_pay, settle_date, source, registered_at, first_notified_at,
                             updated_at, final_at, notify_count)
        SELECT printf('B%015d', k), '201801030001351894', printf('%d.%02d', k % 5000 + 1, k % 100),
               '20250101083000', printf('2025%012d', k), 'SUCCESS', '20250101', 'notify',
               '2025-01-01T08:30:00.000Z', '2025-01-01T08:31:00.000Z',
               '2025-01-01T08:31:00.000Z', '2025-01-01T08:31:00.000Z', 1
        FROM i""", (n,))
    c.execute("""
        INSERT INTO payment_events(no_order, source, result_pay, money_order, oid_paybill,
                                   settle_date, outcome, body, received_at, remote_addr,
                                   signed_sha256)
        SELECT no_order, 'notify', 'SUCCESS', money_order, oid_paybill, settle_date, 'applied',
               '{"no_order":"' || no_order || '","oid_partner":"201801030001351894",'
               || '"dt_order":"20250101083000","money_order":"' || money_order || '",'
               || '"oid_paybill":"' || oid_paybill || '","result_pay":"SUCCESS",'
               || '"settle_date":"20250101","info_order":"commission","sign_type":"RSA",'
               || '"sign":"' || ?1 || '"}',
               '2025-01-01T08:31:00.000Z', '203.0.113.7', randomblob(32)
        FROM payments""", (sign,))
    c.execute('COMMIT')
    c.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    c.close()


if __name__ == '__main__':
    main()
