#!/usr/bin/env python3
"""Backups, restore and archive (issue 14, item 3): lianpayctl backup's copy is consistent,
checked and recorded while the daemon runs; a restore loses the results acknowledged after the
backup and the reconciler's queries bring every registered one back; lianpayctl archive moves
final orders with their journal through the one path the append-only trigger allows."""
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BUILD, CTL, Env, ReconcileEnv, Skip, eq, notification, ok, run, sh, test,  # noqa: E402
                     wait_for)

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')


def ctl(d, *args):
    return subprocess.run([CTL, '-c', d.config] + list(args), capture_output=True, text=True)


def table(path, sql):
    c = sqlite3.connect('file:%s?mode=ro' % path, uri=True)
    try:
        return c.execute(sql).fetchall()
    finally:
        c.close()


@test
def backup_while_notifications_arrive_is_consistent_checked_and_recorded():
    e = Env()
    for i in range(50):
        eq(e.send(notification('B-%d' % i))[0], 200, 'notified')
    stop = threading.Event()

    def writer():  # the daemon keeps committing during the copy
        i = 0
        while not stop.is_set():
            e.send(notification('W-%d' % i))
            i += 1
    t = threading.Thread(target=writer)
    t.start()
    try:
        target = e.tmp.file('payments-backup.db')
        r = ctl(e.d, 'backup', target)
    finally:
        stop.set()
        t.join()
    eq(r.returncode, 0, r.stderr)
    m = re.fullmatch(r'backup path=(\S+) bytes=(\d+) seconds=\d+\.\d{3}\n', r.stdout)
    ok(m and m.group(1) == target, r.stdout)
    eq(int(m.group(2)), os.path.getsize(target), 'bytes printed')
    ok(not os.path.exists(target + '.tmp'), 'no .tmp left')
    ok(not os.path.exists(target + '-wal'), 'one self-contained file')
    with open(target, 'rb') as f:
        header = f.read(20)
    eq(header[18:20], b'\x01\x01', 'not in WAL mode: a restore needs no -wal beside it')
    eq(table(target, 'PRAGMA integrity_check'), [('ok',)], 'integrity')
    # A consistent snapshot: every order in the copy has its journal row, and the reverse.
    eq(table(target, 'SELECT count(*) FROM payments p WHERE NOT EXISTS (SELECT 1 FROM '
                     'payment_events e WHERE e.no_order = p.no_order)'), [(0,)], 'orders journalled')
    n = table(target, 'SELECT count(*) FROM payments')[0][0]
    ok(n >= 50, 'the copy holds what was acknowledged before it (%d)' % n)
    with e.d.db() as c:
        rows = c.execute('SELECT ok, bytes, path, error, started_at <= finished_at FROM backups'
                         ).fetchall()
        eq([tuple(x) for x in rows], [(1, int(m.group(2)), target, None, 1)], 'backups row')
        last = c.execute('SELECT max(finished_at) FROM backups WHERE ok = 1').fetchone()[0]
        ok(last is not None, 'the metric query sees it')


@test
def failed_backup_says_why_records_it_and_leaves_no_file():
    e = Env()
    eq(e.send(notification('F-1'))[0], 200, 'notified')
    target = os.path.join(e.tmp.path, 'missing-dir', 'b.db')
    r = ctl(e.d, 'backup', target)
    eq(r.returncode, 2, 'exit 2')
    eq(r.stdout, '', 'nothing on stdout')
    ok(r.stderr.startswith('lianpayctl: backup: ') and r.stderr.count('\n') == 1, r.stderr)
    ok(not os.path.exists(target) and not os.path.exists(target + '.tmp'), 'no file')
    with e.d.db() as c:
        rows = c.execute('SELECT ok, bytes, error IS NOT NULL FROM backups').fetchall()
    eq([tuple(x) for x in rows], [(0, None, 1)], 'ok=0 with the error')
    eq(ctl(e.d, 'backup').returncode, 2, 'usage')
    for verb in (['backup'], ['archive', '--before', '2999-01-01']):
        r = ctl(e.d, *verb, e.d.db_path)
        ok(r.returncode == 2 and 'is the database itself' in r.stderr, '%s: %s' % (verb, r.stderr))
    eq(e.d.row('F-1')['result_pay'], 'SUCCESS', 'the database is untouched')


def answer(result, money):
    a = {'result_pay': result, 'money_order': money, 'dt_order': '20261122083000',
         'oid_paybill': '2026112200088888'}
    if result == 'SUCCESS':
        a['settle_date'] = '20261122'
    return a


@test
def restore_loses_acknowledged_results_and_the_reconciler_brings_them_back():
    # Queried notify_window after registration: the results below are acknowledged well before.
    e = ReconcileEnv(reconcile={'notify_window': '10s'})
    results = {'R-%d' % i: ('SUCCESS', 'FAILURE', 'CANCEL')[i % 3] for i in range(6)}
    for no in results:
        e.register(no, money='2.00')
    backup = e.tmp.file('backup.db')
    eq(ctl(e.d, 'backup', backup).returncode, 0, 'backup')
    for no, res in results.items():
        eq(e.send(notification(no, 'SUCCESS' if res == 'CANCEL' else res, money='2.00'))[0], 200,
           'acknowledged')
    eq(e.send(notification('U-1', money='2.00'))[0], 200, 'notified but never registered')
    eq(e.d.stop(), 0, 'stopped')
    # the runbook: copy the backup over the database, remove -wal and -shm, start
    shutil.copyfile(backup, e.d.db_path)
    for ext in ('-wal', '-shm'):
        if os.path.exists(e.d.db_path + ext):
            os.unlink(e.d.db_path + ext)
    eq(table(e.d.db_path, 'SELECT count(*) FROM payments WHERE result_pay IS NOT NULL'), [(0,)],
       'the restore lost every acknowledged result')
    e.sim.set_script({no: [answer(res, '2.00')] for no, res in results.items()})
    e.d.start()
    for no, res in results.items():
        row = e.wait_row(no, lambda r, res=res: r['result_pay'] == res, no + ' back', timeout=60)
        eq((row['source'], row['amount_fen']), ('query', 200), no)
    ok(e.sim.queries('R-0'), 'learnt by query')
    eq(e.d.row('U-1'), None, 'an order nobody registered is lost (README says so)')


def archive_env():
    e = Env()
    for no in ('A-1', 'A-2'):
        eq(e.send(notification(no, 'SUCCESS'))[0], 200, no)
    eq(e.send(notification('A-2', 'CANCEL'))[0], 200, 'A-2 refunded: two events')
    eq(e.send(notification('C-1', 'SUCCESS'))[0], 200, 'C-1')
    eq(e.send(notification('C-1', 'FAILURE'))[0], 200, 'C-1 conflict: in review')
    sh([CTL, '-c', e.d.config, 'register', 'G-1', '1.00', '20261122083000'])
    return e


def events_of(path, nos):
    return table(path, 'SELECT * FROM payment_events WHERE no_order IN (%s) ORDER BY id'
                 % ','.join("'%s'" % n for n in nos))


@test
def archive_moves_final_orders_with_their_journal_and_nothing_else():
    e = archive_env()
    before_rows = table(e.d.db_path, "SELECT * FROM payments WHERE no_order LIKE 'A-%' "
                                     "ORDER BY no_order")
    before_events = events_of(e.d.db_path, ['A-1', 'A-2'])
    eq(len(before_events), 3, 'journal of A-1, A-2')
    arc = os.path.join(e.tmp.path, 'archive-2026.db')
    r = ctl(e.d, 'archive', '--before', '2999-01-01', arc)
    eq((r.returncode, r.stderr), (0, ''), 'archive')
    eq(r.stdout, 'archive orders=2 events=3 before=2999-01-01T00:00:00.000Z path=%s\n' % arc,
       'counts')
    eq(table(arc, 'SELECT * FROM payments ORDER BY no_order'), before_rows, 'orders moved exactly')
    eq(events_of(arc, ['A-1', 'A-2']), before_events, 'journal rows moved exactly')
    eq(table(arc, 'PRAGMA user_version'), table(e.d.db_path, 'PRAGMA user_version'), 'same schema')
    eq(table(e.d.db_path, 'SELECT no_order FROM payments ORDER BY no_order'),
       [('C-1',), ('G-1',)], 'pending, in review and registered orders stay')
    eq(events_of(e.d.db_path, ['A-1', 'A-2']), [], 'their journal left the live database')
    eq(table(e.d.db_path, 'SELECT count(*) FROM archive_permit'), [(0,)], 'permit gone')
    c = sqlite3.connect(e.d.db_path, timeout=10, isolation_level=None)
    try:
        for sql in ("DELETE FROM payment_events WHERE no_order = 'C-1'",
                    "DELETE FROM payment_events"):
            try:
                c.execute(sql)
                raise AssertionError('plain DELETE allowed: ' + sql)
            except sqlite3.DatabaseError as x:
                ok('append-only' in str(x), str(x))
        # even a hand-made permit opens only the journal of final orders before its cutoff:
        # not that of an order in review, nor of one finalised after the cutoff
        eq(e.send(notification('N-1', 'SUCCESS'))[0], 200, 'N-1')
        for cutoff, no in (('2999-01-01', 'C-1'), ('2000-01-01', 'N-1')):
            c.execute("BEGIN")
            c.execute("INSERT INTO archive_permit VALUES (1, ?)", (cutoff + 'T00:00:00.000Z',))
            try:
                c.execute("DELETE FROM payment_events WHERE no_order = ?", (no,))
                raise AssertionError('permit let the journal of %s go' % no)
            except sqlite3.DatabaseError as x:
                ok('append-only' in str(x), str(x))
            c.execute("ROLLBACK")
    finally:
        c.close()


@test
def archive_again_into_the_same_file_appends_and_refuses_a_known_order():
    e = archive_env()
    arc = os.path.join(e.tmp.path, 'archive.db')
    eq(ctl(e.d, 'archive', '--before', '2999-01-01', arc).returncode, 0, 'first run')
    eq(e.send(notification('A-3', 'FAILURE'))[0], 200, 'A-3')
    r = ctl(e.d, 'archive', '--before', '2999-01-01T00:00:00.000Z', arc)
    eq((r.returncode, r.stdout.split()[:3]), (0, ['archive', 'orders=1', 'events=1']), r.stderr)
    eq(table(arc, 'SELECT no_order FROM payments ORDER BY no_order'),
       [('A-1',), ('A-2',), ('A-3',)], 'appended')
    # an order archived before, seen again in the live database: the run refuses, moves nothing
    eq(e.send(notification('A-1', 'SUCCESS'))[0], 200, 'A-1 again')
    eq(e.send(notification('A-4', 'SUCCESS'))[0], 200, 'A-4')
    r = ctl(e.d, 'archive', '--before', '2999-01-01', arc)
    eq(r.returncode, 2, 'refused')
    ok('A-1' in r.stderr and r.stderr.count('\n') == 1, r.stderr)
    eq(table(e.d.db_path, "SELECT count(*) FROM payments WHERE no_order IN ('A-1', 'A-4')"),
       [(2,)], 'nothing moved')
    eq(table(arc, 'SELECT count(*) FROM payments'), [(3,)], 'archive unchanged')
    # nothing older than the cutoff: zero moved
    r = ctl(e.d, 'archive', '--before', '2000-01-01', e.tmp.file('empty.db'))
    eq((r.returncode, r.stdout.split()[1:3]), (0, ['orders=0', 'events=0']), r.stderr)
    for bad in (['--before', '2026-13-01', arc], ['--before', 'yesterday', arc], [arc], []):
        r = ctl(e.d, 'archive', *bad)
        ok(r.returncode == 2 and r.stderr.count('\n') == 1, 'refused %r: %s' % (bad, r.stderr))


@test
def the_daily_wrapper_writes_todays_copy_then_removes_the_old_ones():
    e = Env()
    eq(e.send(notification('D-1'))[0], 200, 'notified')
    # run by sh: configure_file does not make the build tree's copy executable (install does)
    wrapper = os.path.join(BUILD, 'systemd', 'lianpay-notifyd-backup')
    out = os.path.join(e.tmp.path, 'backups')
    os.mkdir(out)
    old, recent, other = (os.path.join(out, n) for n in (
        'payments-2000-01-01.db', 'payments-2000-01-02.db', 'notes-2000-01-01.db'))
    for p, days in ((old, 20), (recent, 3), (other, 20)):
        with open(p, 'w') as f:
            f.write('x')
        t = os.path.getmtime(p) - days * 86400
        os.utime(p, (t, t))
    env = dict(os.environ, LIANPAYCTL=CTL, LIANPAY_CONFIG=e.d.config, LIANPAY_BACKUP_DIR=out,
               LIANPAY_BACKUP_KEEP_DAYS='7')
    bad = subprocess.run(['sh', wrapper], env=dict(env, LIANPAY_BACKUP_KEEP_DAYS='7d'),
                         capture_output=True, text=True)
    ok(bad.returncode == 2 and 'not a number' in bad.stderr, bad.stderr)
    ok(os.path.exists(old), 'a refused run removes nothing')
    r = subprocess.run(['sh', wrapper], env=env, capture_output=True, text=True)
    eq((r.returncode, r.stderr), (0, ''), 'wrapper')
    today = os.path.join(out, 'payments-%s.db' % time.strftime('%Y-%m-%d', time.gmtime()))
    ok(r.stdout.startswith('backup path=%s ' % today), r.stdout)
    eq(table(today, 'SELECT no_order FROM payments'), [('D-1',)], "today's copy")
    ok(not os.path.exists(old), 'older than KEEP_DAYS: removed')
    ok(os.path.exists(recent) and os.path.exists(other), 'recent copies and other files stay')


@test
def the_timer_and_service_verify():
    unit_dir = os.path.join(ROOT, 'systemd')
    svc = os.path.join(BUILD, 'systemd', 'lianpay-notifyd-backup.service')
    timer = os.path.join(unit_dir, 'lianpay-notifyd-backup.timer')
    with open(timer) as f:
        t = f.read()
    ok(re.search(r'^OnCalendar=daily$', t, re.M) and re.search(r'^Persistent=true$', t, re.M),
       'daily, caught up after downtime')
    ok('WantedBy=timers.target' in t, 'enable-able')
    with open(svc) as f:
        s = f.read()
    ok(re.search(r'^Type=oneshot$', s, re.M), 'oneshot')
    ok(re.search(r'^ExecStart=.*lianpay-notifyd-backup', s, re.M), 'runs the wrapper')
    if shutil.which('systemd-analyze') is None:
        raise Skip('systemd-analyze not installed (the unit files were checked by content)')
    r = subprocess.run(['systemd-analyze', 'verify', '--man=no', svc, timer],
                       capture_output=True, text=True)
    # ExecStart's program is installed, not in the tree: that is the one complaint allowed.
    errs = [l for l in r.stderr.splitlines() if l.strip() and 'is not executable' not in l
            and 'No such file' not in l and 'Command ' not in l]
    eq(errs, [], 'systemd-analyze verify')


if __name__ == '__main__':
    run()
