#!/usr/bin/env python3
"""The journal and the database hold exactly what they say (issue 11, items 3 to 7).

- A message is the same message when what LianLian signed is the same: variant bodies of one
  authentic notification (white space, member order, \\u escapes, a number written as a string,
  extra "" and null members) are one journal row whose seen_count grows, not one row each.
- No TEXT column takes a NUL byte or a BLOB; a row written past the CHECKs anyway (PRAGMA
  ignore_check_constraints, as a careless tool could) is never queried as a cut-short order
  number, and such rows cannot keep the legitimate orders from being queried.
- Timestamps are real instants, and a row that is not one cannot blind the monitoring of the
  others (lianpay_oldest_pending_age_seconds, the pending_overdue warning).
- lianpayctl register checks dt_order as notifications do.
- query_count cannot be set past 2147483647, and the daemon stops counting there.
- An old database whose rows break these rules is not migrated: the daemon names the rows.
"""
import glob
import http.client
import json
import os
import random
import re
import sqlite3
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import (CTL, Daemon, ReconcileEnv, TempDir, eq, keypair, notification,  # noqa: E402
                     ok, run, sh, sign, test, wait_for)

ACK = {'ret_code': '0000', 'ret_msg': '交易成功'}
SQL_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'sql')


def unchecked(d, sql, *args):
    """Writes past the schema's CHECKs, as a tool with ignore_check_constraints could."""
    c = sqlite3.connect(d.db_path, timeout=10)
    try:
        c.execute('PRAGMA ignore_check_constraints = ON')
        c.execute(sql, args)
        c.commit()
    finally:
        c.close()


def refused_by_schema(d, sql, *args):
    try:
        with d.db() as c:
            c.execute(sql, args)
    except sqlite3.IntegrityError as err:
        ok('CHECK constraint failed' in str(err), str(err))
        return
    raise AssertionError('accepted: %s %r' % (sql, args))


def db_bytes(d):
    with d.db() as c:
        c.execute('PRAGMA wal_checkpoint(TRUNCATE)')
        return c.execute('PRAGMA page_count').fetchone()[0] * \
            c.execute('PRAGMA page_size').fetchone()[0]


def gauge(d, name):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % d.admin_port, timeout=10) as r:
        text = r.read().decode('utf-8')
    m = re.search(r'^%s (\S+)$' % name, text, re.M)
    ok(m, '%s in /metrics' % name)
    return float(m.group(1))


# ---- item 3: one message, many bodies ---------------------------------------------------

def variants(signed, n):
    """n distinct bodies of the message signed, all with the same signed content."""
    fields = json.loads(signed)
    rnd = random.Random(11)
    out = []
    for i in range(n):
        f = dict(fields)
        f['pad%d' % i] = '' if i % 2 else None  # neither is signed
        if i % 3 == 0:
            f['money_order'] = float(f['money_order'])  # a number: signed as its text
        keys = list(f)
        rnd.shuffle(keys)
        seps = [(',', ':'), (', ', ': '), (',\n  ', ' : ')][i % 3]
        text = json.dumps({k: f[k] for k in keys}, ensure_ascii=bool(i % 5 == 0),
                          separators=seps)
        if i % 7 == 0:
            text = text.replace('"RSA"', '"\\u0052SA"')
        out.append(text.replace('49.65,', '49.65 ,') if i % 4 == 0 else text)
    return out


@test
def variant_bodies_of_one_message_are_one_journal_row():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    d = Daemon(tmp, ll_pub, sections={'log': {'level': 'info'}})
    signed = sign(notification('VAR-1', info_order='代付 VAR-1'), ll_priv)
    n = 2881
    bodies = [signed] + variants(signed, n - 1)
    eq(len(set(bodies)), n, 'distinct bodies')
    eq(d.post(signed), (200, ACK), 'first delivery')
    size0 = db_bytes(d)
    conn = http.client.HTTPConnection('127.0.0.1', d.port, timeout=10)
    t0 = time.monotonic()
    for body in bodies[1:]:
        conn.request('POST', '/lianpay/notify', body=body.encode('utf-8'),
                     headers={'Content-Type': 'text/json;charset=utf-8'})
        resp = conn.getresponse()
        eq((resp.status, json.loads(resp.read())), (200, ACK), 'variant answer')
    took = time.monotonic() - t0
    conn.close()
    evs = d.events('VAR-1')
    eq(len(evs), 1, 'journal rows for one message')
    eq(evs[0]['seen_count'], n, 'seen_count')
    eq(evs[0]['body'], signed, 'the first body, as received')
    eq(d.row('VAR-1')['notify_count'], n, 'notify_count')
    eq(sum('redelivery=1' in l for l in d.log_lines('notify')), n - 1, 'redeliveries logged')
    grown = db_bytes(d) - size0
    # What LianLian signed differently is another message (a refund here).
    eq(d.post(sign(notification('VAR-1', 'CANCEL'), ll_priv)), (200, ACK), 'another message')
    eq(len(d.events('VAR-1')), 2, 'its own row')
    t1 = time.monotonic()
    for i in range(50):
        eq(d.post(sign(notification('AFTER-%d' % i), ll_priv))[0], 200, 'other notifications')
    print('# %d variant bodies of one message: 1 row, seen_count %d, database grew %d KiB; '
          '%.0f variants/s; 50 new notifications afterwards in %.2f s (signing included)'
          % (n, evs[0]['seen_count'], grown // 1024, (n - 1) / took, time.monotonic() - t1))
    ok(grown < 256 * 1024, 'the database did not grow with the variants: %d bytes' % grown)


# ---- item 4: NUL bytes and BLOBs --------------------------------------------------------

def success(money='1.00'):
    return {'result_pay': 'SUCCESS', 'money_order': money, 'dt_order': '20261122083000',
            'oid_paybill': '2026112200099999', 'settle_date': '20261122'}


@test
def nul_and_blob_are_refused_by_the_schema():
    tmp = TempDir()
    _, pub = keypair(tmp, 'll')
    d = Daemon(tmp, pub)
    ins = 'INSERT INTO payments(no_order, money_order, dt_order) VALUES (?, ?, ?)'
    refused_by_schema(d, ins, 'NUL\x00-1', '1.00', '20261122083000')
    refused_by_schema(d, ins, b'BLOB-1', '1.00', '20261122083000')
    refused_by_schema(d, ins, 'OK-1', '1.00\x00', '20261122083000')
    refused_by_schema(d, ins, 'OK-1', '1.00', '20261122083000\x00')
    refused_by_schema(d, ins, 'OK-1', b'1.00', '20261122083000')
    with d.db() as c:
        c.execute(ins, ('OK-1', '1.00', '20261122083000'))
    refused_by_schema(d, "UPDATE payments SET review_reason = ? WHERE no_order = 'OK-1'",
                      'a\x00b')
    refused_by_schema(d, "UPDATE payments SET info_order = ? WHERE no_order = 'OK-1'", b'x')
    with d.db() as c:
        eq(c.execute('SELECT count(*) FROM payments').fetchone()[0], 1, 'rows')


@test
def rows_with_a_nul_are_never_queried_and_do_not_starve_the_others():
    e = ReconcileEnv({'GOOD-1': [success()]}, {'notify_window': '1h'})
    for i in range(40):
        unchecked(e.d, "INSERT INTO payments(no_order, money_order, registered_at, next_query_at) "
                       "VALUES (?, '1.00', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hours'), "
                       "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?))",
                  'BAD\x00%02d' % i, '-%d minutes' % (50 - i))
    unchecked(e.d, "INSERT INTO payments(no_order, money_order, registered_at, next_query_at) "
                   "VALUES (?, '1.00', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hours'), "
                   "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-5 minutes'))", b'BLOB-1')
    e.register('GOOD-1')
    with e.d.db() as c:  # due after all of the bad rows
        c.execute("UPDATE payments SET next_query_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', "
                  "'-1 minutes') WHERE no_order = 'GOOD-1'")
    t0 = time.monotonic()
    row = wait_for(lambda: (lambda r: r if r['result_pay'] == 'SUCCESS' else None)(
        e.d.row('GOOD-1')), 'GOOD-1 queried and recorded', timeout=30)
    print('# 41 unqueryable rows due first: the legitimate order recorded after %.1f s'
          % (time.monotonic() - t0))
    eq((row['source'], row['needs_review']), ('query', 0), 'GOOD-1')
    ok(not e.sim.queries('BAD'), 'never asked about a cut-short order: %r' % e.sim.queries('BAD'))
    eq(len(e.sim.queries()), 1, 'LianLian was asked about GOOD-1 only: %r' % e.sim.queries())
    with e.d.db() as c:
        flagged = c.execute("SELECT review_reason, count(*) FROM payments WHERE needs_review = 1 "
                            "AND next_query_at IS NULL GROUP BY review_reason "
                            "ORDER BY review_reason").fetchall()
    eq([tuple(r) for r in flagged],
       [('cannot be queried: no_order holds a NUL byte', 40),
        ('cannot be queried: no_order is not text', 1)], 'flagged for review')
    lines = e.d.log_lines('unqueryable')
    eq(len(lines), 41, 'one line per row')
    ok(all(l.startswith('level=warning event=unqueryable no_order=') and 'action=flagged' in l
           and ' rowid=' in l for l in lines), lines[0])


# ---- item 5: timestamps -----------------------------------------------------------------

@test
def impossible_timestamps_are_refused_and_cannot_blind_monitoring():
    tmp = TempDir()
    _, pub = keypair(tmp, 'll')
    d = Daemon(tmp, pub, sections={'log': {'summary_interval': '2s',
                                           'pending_warning_after': '1h'}})
    ins = 'INSERT INTO payments(no_order, money_order, registered_at) VALUES (?, ?, ?)'
    for bad in ('2026-00-10T08:30:00.000Z', '2026-11-00T08:30:00.000Z',
                '2026-11-22T24:00:00.000Z', '2026-02-30T08:30:00.000Z',
                '2026-11-22T08:30:60.000Z'):
        refused_by_schema(d, ins, 'TS-1', '1.00', bad)
    # One such row anyway, sorting before every real one, and a real order two hours old.
    unchecked(d, ins, 'ZERO-1', '1.00', '2026-00-00T00:00:00.000Z')
    with d.db() as c:
        c.execute("INSERT INTO payments(no_order, money_order, registered_at) VALUES "
                  "('OLD-1', '1.00', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours'))")
    d.wait_log(r'event=pending_overdue .*oldest_no_order=OLD-1', timeout=15)
    w = d.log_lines('pending_overdue')[-1]
    age = int(re.search(r'oldest_pending_age=(\d+)', w).group(1))
    ok(7190 <= age <= 7300, 'overdue warning age %d: %s' % (age, w))
    ok('pending=2' in w, w)
    time.sleep(2.5)  # past the pending gauges' cache
    g = gauge(d, 'lianpay_oldest_pending_age_seconds')
    ok(7190 <= g <= 7300, 'lianpay_oldest_pending_age_seconds %r' % g)
    print('# a registered_at of 2026-00-00 beside a real order 2 h old: gauge %d s, warning '
          'names OLD-1 at %d s' % (g, age))


# ---- item 6: one definition of each field format ----------------------------------------

@test
def register_refuses_a_dt_order_no_notification_could_carry():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'll')
    d = Daemon(tmp, ll_pub)
    for dt in ('20261322083000', '20261122993000', '20261100083000'):
        r = sh([CTL, '-c', d.config, 'register', 'DT-1', '1.00', dt], check=False)
        ok(r.returncode != 0, 'register %s exited %d' % (dt, r.returncode))
        ok("dt_order '%s' is not a date and time" % dt in r.stderr, r.stderr)
        # and a notification carrying it is refused for the same reason
        status, answer = d.post(sign(notification('DT-N', dt=dt), ll_priv))
        eq((status, answer['ret_msg']), (400, 'bad dt_order'), 'notification with ' + dt)
    eq(d.row('DT-1'), None, 'nothing registered')
    sh([CTL, '-c', d.config, 'register', 'DT-1', '1.00', '20261231235959'])
    eq(d.row('DT-1')['dt_order'], '20261231235959', 'a real one is')


# ---- item 7: query_count ----------------------------------------------------------------

@test
def query_count_at_its_largest_stays_an_integer():
    e = ReconcileEnv({'QC-1': [{'ret_code': '8901', 'ret_msg': '没有记录', 'sign': 'none'}]})
    refused_by_schema(e.d, "INSERT INTO payments(no_order, money_order, query_count) "
                           "VALUES ('QC-0', '1.00', 9223372036854775807)")
    refused_by_schema(e.d, "INSERT INTO payments(no_order, money_order, query_count) "
                           "VALUES ('QC-0', '1.00', 1.5)")
    e.register('QC-1')
    with e.d.db() as c:
        c.execute("UPDATE payments SET query_count = 2147483647, next_query_at = "
                  "strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE no_order = 'QC-1'")
    e.d.wait_log(r'event=query no_order=QC-1 .*attempt=2147483648', timeout=15)
    e.d.wait_log(r'event=query no_order=QC-1 .*action=rescheduled', timeout=15)
    with e.d.db() as c:
        qc = c.execute("SELECT query_count, typeof(query_count) FROM payments "
                       "WHERE no_order = 'QC-1'").fetchone()
    eq(tuple(qc), (2147483647, 'integer'), 'query_count after the query')
    ok(e.d.proc.poll() is None, 'daemon running')


# ---- the migration ----------------------------------------------------------------------

def schema_2_database(path):
    c = sqlite3.connect(path)
    c.execute('PRAGMA journal_mode=WAL')
    for name in ('0001_initial.sql', '0002_check_without_in.sql'):
        with open(os.path.join(SQL_DIR, name), encoding='utf-8') as f:
            c.executescript(f.read())
    c.execute('PRAGMA user_version = 2')
    return c


@test
def an_old_database_with_bad_rows_is_not_migrated_and_they_are_named():
    tmp = TempDir()
    _, pub = keypair(tmp, 'll')
    d = Daemon(tmp, pub, start=False)
    c = schema_2_database(d.db_path)
    with c:
        c.execute("INSERT INTO payments(no_order, money_order, dt_order) VALUES "
                  "('KEEP-1', '1.00', '20261122083000'), ('BADDT-1', '1.00', '20261399000000')")
        c.execute("INSERT INTO payments(no_order, money_order, registered_at) VALUES "
                  "(?, '1.00', '2026-11-22T08:30:00.000Z'), "
                  "('BADTS-1', '1.00', '2026-11-22T24:00:00.000Z')", ('NUL\x00X',))
    c.close()
    try:
        d.start()
        raise AssertionError('started on a database with rows that break schema 3')
    except AssertionError as err:
        text = str(err)
    for want in ('migration 0003_exact_values.sql refused: 3 rows break its constraints',
                 "payments no_order 'BADDT-1'", "payments no_order X'4E554C0058'",
                 "payments no_order 'BADTS-1'", 'README: upgrading the database'):
        ok(want in text, '%r in the start-up error:\n%s' % (want, text))
    d.stop()
    with d.db() as c:
        eq(c.execute('PRAGMA user_version').fetchone()[0], 2, 'not migrated')
        eq(c.execute('SELECT count(*) FROM payments').fetchone()[0], 4, 'every row kept')
        c.execute("UPDATE payments SET dt_order = '20261130000000' WHERE no_order = 'BADDT-1'")
        c.execute("UPDATE payments SET registered_at = '2026-11-23T00:00:00.000Z' "
                  "WHERE no_order = 'BADTS-1'")
        c.execute("DELETE FROM payments WHERE instr(no_order, char(0)) > 0")
    d.start()
    with d.db() as c:
        eq(c.execute('PRAGMA user_version').fetchone()[0], len(glob.glob(os.path.join(
            os.path.dirname(__file__), '..', '..', 'sql', '0*.sql'))), 'migrated to the last one')
        eq([r[0] for r in c.execute('SELECT no_order FROM payments ORDER BY no_order')],
           ['BADDT-1', 'BADTS-1', 'KEEP-1'], 'rows after the migration')


if __name__ == '__main__':
    run()
