#!/usr/bin/env python3
"""Storage faults while the daemon runs: the disk is full, another process holds the write lock,
the database or its directory becomes read-only. Each must give LianLian a retryable answer (503,
ret_code other than 0000), one clear storage_error line per failed batch, nothing half-written,
and recovery without a restart once the fault is gone (the resend is answered 0000).

How the faults are made, honestly and without a special build:
- full: the database lives on a small tmpfs mounted for the test, filled up with a file
  (ENOSPC is what a full disk gives; SQLite reports SQLITE_FULL);
- locked: a Python sqlite3 connection holds BEGIN EXCLUSIVE, as a careless internal tool would;
- read-only: `chattr +i` (immutable) on the file or directory. Tests run as root, and root
  ignores permission bits, but not the immutable flag: writes to already open files then fail
  with EPERM, as they fail with EROFS after a read-only remount.
Mounting and chattr need root (CAP_SYS_ADMIN, CAP_LINUX_IMMUTABLE) and a file system that
supports them; where they are missing the test is reported as skipped, with the reason.
"""
import contextlib
import gc
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Daemon, Skip, TempDir, admin_get, eq, ok, run, test, wait_for  # noqa: E402

ACK = {'ret_code': '0000', 'ret_msg': '交易成功'}


class Env(harness.Env):
    def __init__(self, db_dir=None):
        sections = {}
        if db_dir is not None:
            sections['database'] = {'path': os.path.join(db_dir, 'payments.db')}
        super().__init__(sections=sections)
        if db_dir is not None:
            self.d.db_path = os.path.join(db_dir, 'payments.db')
        self.pid = self.d.proc.pid


def refused_503(d, body):
    status, answer = d.post(body, timeout=30)
    eq(status, 503, 'status')
    ok(answer is not None and answer['ret_code'] != '0000', 'retryable answer: %r' % answer)


def storage_errors(d, kind):
    """The storage_error lines of failed batches (the writer's idle check of the write lock,
    op=check, may add one of its own when a fault lasts long enough)."""
    lines = d.log_lines('storage_error')
    ok(all(('kind=%s ' % kind) in l for l in lines), 'kind=%s in %r' % (kind, lines))
    return [l for l in lines if ' batch=' in l]


def nothing_half_written(d, no_order):
    with d.db() as c:
        eq(c.execute('PRAGMA integrity_check').fetchone()[0], 'ok', 'integrity_check')
        eq(c.execute('SELECT count(*) FROM payments WHERE no_order = ?', (no_order,)).fetchone()[0],
           0, 'payments row of ' + no_order)
        eq(c.execute('SELECT count(*) FROM payment_events WHERE no_order = ?',
                     (no_order,)).fetchone()[0], 0, 'journal rows of ' + no_order)
        orphans = c.execute('SELECT count(*) FROM payment_events e LEFT JOIN payments p '
                            'ON p.no_order = e.no_order WHERE p.no_order IS NULL').fetchone()[0]
        eq(orphans, 0, 'journal rows without their order')


def recovered(e, no_order, body):
    """The resend is acknowledged by the same process and the row is there."""
    eq(e.d.post(body), (200, ACK), 'resend after the fault')
    eq(e.d.proc.pid, e.pid, 'same daemon process (no restart)')
    eq(e.d.row(no_order)['result_pay'], 'SUCCESS', 'row after recovery')
    eq(len(e.d.events(no_order)), 1, 'one journal row')


@contextlib.contextmanager
def small_tmpfs(tmp, size='2m'):
    path = os.path.join(tmp.path, 'small-fs')
    os.mkdir(path)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=' + size, 'tmpfs', path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip('cannot mount a tmpfs here (needs root): ' + r.stderr.strip())
    try:
        yield path
    finally:
        Daemon.stop_all()
        subprocess.run(['umount', '-l', path], check=False)


def fill(path):
    """Writes a file until the file system is full; returns its name."""
    filler = os.path.join(path, 'filler')
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b'\0' * 65536)
    except OSError as err:
        eq(err.errno, 28, 'ENOSPC when filling')
    finally:
        os.close(fd)
    return filler


@contextlib.contextmanager
def immutable(*paths):
    r = subprocess.run(['chattr', '+i'] + list(paths), capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(['chattr', '-i'] + list(paths), capture_output=True)
        raise Skip('chattr +i not possible here (needs root and ext4/xfs/btrfs): ' +
                   r.stderr.strip())
    try:
        yield
    finally:
        subprocess.run(['chattr', '-i'] + list(paths), check=True)


# ---- disk full ----------------------------------------------------------------------------

@test
def disk_full_is_retryable_and_recovers():
    tmp = TempDir()
    with small_tmpfs(tmp) as fs:
        e = Env(db_dir=fs)
        eq(e.d.post(e.body('FULL-0')), (200, ACK), 'before the fault')
        filler = fill(fs)
        body = e.body('FULL-1')
        refused_503(e.d, body)
        eq(len(storage_errors(e.d, 'full')), 1, 'one storage_error line')
        ok('error="database or disk is full"' in e.d.log_lines('storage_error')[0],
           'clear reason')
        eq(len([l for l in e.d.log_lines('notify') if 'status=503' in l]), 1, 'one 503 line')
        nothing_half_written(e.d, 'FULL-1')
        os.unlink(filler)
        recovered(e, 'FULL-1', body)
        eq(e.d.row('FULL-0')['result_pay'], 'SUCCESS', 'earlier row intact')


# ---- locked by another process ------------------------------------------------------------

@test
def locked_database_is_retryable_and_recovers():
    e = Env()
    other = sqlite3.connect(e.d.db_path, isolation_level=None, timeout=1)
    other.execute('BEGIN EXCLUSIVE')
    body = e.body('LOCK-1')
    try:
        refused_503(e.d, body)
        lines = storage_errors(e.d, 'busy')
        eq(len(lines), 1, 'one storage_error line')
        ok('error="database is locked"' in lines[0], lines[0])
    finally:
        other.execute('COMMIT')
        other.close()
    nothing_half_written(e.d, 'LOCK-1')
    recovered(e, 'LOCK-1', body)


@test
def lock_under_concurrent_load_fails_each_batch_once():
    # Before the fix in writer.c, a failed batch of n was retried job by job, each retry waiting
    # out the busy timeout again: the n-th message was answered after n seconds and the log got
    # n + 1 lines for one fault.
    e = Env()
    n = 12
    bodies = [e.body('LOAD-%d' % i) for i in range(n)]
    other = sqlite3.connect(e.d.db_path, isolation_level=None, timeout=1)
    other.execute('BEGIN EXCLUSIVE')
    answers = [None] * n

    def send(i):
        answers[i] = e.d.post(bodies[i], timeout=60)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.execute('COMMIT')
        other.close()
    ok(all(a is not None and a[0] == 503 for a in answers), 'all 503: %r' % answers)
    lines = storage_errors(e.d, 'busy')
    batched = sum(int(l.rsplit('batch=', 1)[1].split()[0]) for l in lines)
    eq(batched, n, 'each message in exactly one failed batch (%d lines)' % len(lines))
    for i in range(n):
        eq(e.d.post(bodies[i]), (200, ACK), 'resend %d' % i)
    with e.d.db() as c:
        eq(c.execute("SELECT count(*) FROM payments WHERE no_order LIKE 'LOAD-%'").fetchone()[0],
           n, 'rows after recovery')


# ---- read-only ----------------------------------------------------------------------------

@test
def readonly_database_is_retryable_and_recovers():
    e = Env()
    eq(e.d.post(e.body('RO-0')), (200, ACK), 'before the fault')
    body = e.body('RO-1')
    with immutable(e.d.db_path, e.d.db_path + '-wal'):
        refused_503(e.d, body)
        lines = storage_errors(e.d, 'readonly')
        eq(len(lines), 1, 'one storage_error line')
        ok('cannot write: Operation not permitted' in lines[0], 'clear reason: ' + lines[0])
    nothing_half_written(e.d, 'RO-1')
    recovered(e, 'RO-1', body)


@test
def readonly_database_at_startup_is_refused_clearly():
    # SQLite would quietly open such a file read-only, and stay so after the repair: the daemon
    # refuses to start instead (systemd restarts it until the file is writable again).
    e = Env()
    eq(e.d.stop(), 0, 'clean stop')
    with immutable(e.d.db_path):
        try:
            e.d.start()
            raise AssertionError('daemon started on a read-only database')
        except AssertionError as err:
            ok('the database file is read-only' in str(err) and e.d.db_path in str(err),
               'clear start-up error: %s' % err)
        e.d.stop()
    e.d.start()
    eq(e.d.post(e.body('ROS-1')), (200, ACK), 'serving once writable')


@test
def readonly_directory_does_not_stop_a_running_daemon():
    # The WAL and shared-memory files exist while the daemon runs: nothing needs creating, so
    # notifications are still stored. At start-up (after a clean stop removed them) the WAL
    # cannot be created and the daemon says so and exits.
    tmp = TempDir()
    db_dir = os.path.join(tmp.path, 'db')
    os.mkdir(db_dir)
    e = Env(db_dir=db_dir)
    with immutable(db_dir):
        eq(e.d.post(e.body('DIR-1')), (200, ACK), 'stored while the directory is read-only')
        eq(e.d.row('DIR-1')['result_pay'], 'SUCCESS', 'row')
    gc.collect()  # closes our sqlite3 connections: the last one to close removes the WAL
    eq(e.d.stop(), 0, 'clean stop')
    eq(sorted(os.listdir(db_dir)), ['payments.db', 'payments.db.lock'],
       'WAL removed at clean stop (the single-instance lock file stays)')
    with immutable(db_dir):
        try:
            e.d.start()
            raise AssertionError('daemon started without a WAL file')
        except AssertionError as err:
            ok('event=start status=failed' in str(err) and db_dir in str(err),
               'clear start-up error: %s' % err)
        e.d.stop()
    e.d.start()
    eq(e.d.post(e.body('DIR-2')), (200, ACK), 'serving once writable')


def health(d):
    """(/readyz status, its database check, lianpay_database_writable)."""
    status, _, body = admin_get(d, '/readyz')
    metrics = admin_get(d, '/metrics')[2].decode('utf-8')
    writable = [l.split()[1] for l in metrics.splitlines()
                if l.startswith('lianpay_database_writable ')]
    return status, json.loads(body)['checks']['database'], writable[0] if writable else None


@test
def readyz_stays_red_through_a_persistent_write_fault():
    # Before the fix the writer's idle check (an empty BEGIN IMMEDIATE: it takes the lock in the
    # shared-memory file and writes nothing) succeeded on an immutable database, and /readyz and
    # lianpay_database_writable were back to 200 and 1 five seconds into the fault while every
    # notification still got 503. Only a committed write may end a fault.
    e = Env()
    eq(e.d.post(e.body('RZ-0')), (200, ACK), 'before the fault')
    body = e.body('RZ-1')
    with immutable(e.d.db_path, e.d.db_path + '-wal'):
        refused_503(e.d, body)
        start, seen = time.monotonic(), []
        while time.monotonic() - start < 30:
            seen.append(health(e.d))
            time.sleep(0.5)
        refused_503(e.d, body)
        green = [h for h in seen if h[0] != 503 or h[2] != '0']
        print('# %d checks over %.0f s of chattr +i: %d not 503 with writable 0; database: %s'
              % (len(seen), time.monotonic() - start, len(green), seen[-1][1]))
        eq(len(green), 0, 'checks not 503 with writable 0 during the fault (%r)' % green[:3])
        ok(seen[-1][1].startswith('readonly: '), 'the reason: %r' % seen[-1][1])
    cleared = time.monotonic()
    wait_for(lambda: health(e.d)[0] == 200, '/readyz once writable again', timeout=20)
    print('# /readyz 200 %.1f s after chattr -i' % (time.monotonic() - cleared))
    eq(health(e.d), (200, 'ok', '1'), 'ready and writable')
    e.d.wait_log(r'event=storage_ok')
    recovered(e, 'RZ-1', body)


@test
def a_failed_wal_sync_is_final_until_a_restart():
    # The writer commits with synchronous=NORMAL and its sync thread answers after fdatasync of
    # the -wal (src/writer.c). When that fdatasync fails, the pages it was to write may be gone
    # and a later fdatasync would succeed without them: nothing waiting gets 0000, nor anything
    # after, even once the disk answers again, until the daemon restarts and SQLite reads what
    # the disk holds.
    shim = os.path.join(harness.BUILD, 'tests', 'preload_wal_sync_eio.so')
    ok(os.path.exists(shim), shim)
    tmp = TempDir()
    flag = os.path.join(tmp.path, 'eio')
    env = dict(os.environ, LD_PRELOAD=shim, LIANPAY_TEST_SYNC_EIO=flag)
    env['ASAN_OPTIONS'] = env.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0'
    e = harness.Env(env=env)
    eq(e.d.post(e.body('EIO-0')), (200, ACK), 'before the fault')
    open(flag, 'w').close()
    refused_503(e.d, e.body('EIO-1'))
    e.d.wait_log(r'event=storage_error op=sync kind=ioerr error="fdatasync .*-wal: '
                 r'Input/output error"')
    os.remove(flag)  # the disk answers again: not believed
    body = e.body('EIO-2')
    refused_503(e.d, body)
    time.sleep(6)  # past the writer's idle probe (PROBE_IDLE_MS)
    refused_503(e.d, body)
    status, why, writable = health(e.d)
    eq((status, writable), (503, '0'), '/readyz and lianpay_database_writable after the fault')
    ok('restart the daemon' in why, 'the reason: %r' % why)
    eq(len(re.findall(r'op=sync', e.d.logs())), 1, 'the failed sync logged once')
    e.d.stop()
    e.d.env = None
    e.d.start()
    eq(e.d.post(body), (200, ACK), 'after a restart')
    eq(e.d.post(e.body('EIO-0')), (200, ACK), 'acknowledged before the fault: a redelivery')


@test
def a_stalled_wal_sync_shows_in_the_heartbeat():
    # The sync thread stuck in fdatasync (a disk that stopped answering) holds every answer; the
    # writer's heartbeat is the older of its two threads', so the watchdog and
    # lianpay_writer_heartbeat_age_seconds see it although the writer thread itself still turns.
    shim = os.path.join(harness.BUILD, 'tests', 'preload_wal_sync_eio.so')
    tmp = TempDir()
    flag = os.path.join(tmp.path, 'stall')
    env = dict(os.environ, LD_PRELOAD=shim, LIANPAY_TEST_SYNC_STALL=flag)
    env['ASAN_OPTIONS'] = env.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0'
    e = harness.Env(env=env)
    eq(e.d.post(e.body('STALL-0')), (200, ACK), 'before the stall')
    open(flag, 'w').close()
    answer = {}
    t = threading.Thread(target=lambda: answer.update(r=e.d.post(e.body('STALL-1'), timeout=30)))
    t.start()

    def age():
        metrics = admin_get(e.d, '/metrics')[2].decode('utf-8')
        return float([l.split()[1] for l in metrics.splitlines()
                      if l.startswith('lianpay_writer_heartbeat_age_seconds ')][0])
    wait_for(lambda: age() >= 3, 'the heartbeat ages while the sync is stuck', timeout=15)
    ok('r' not in answer, 'no answer while the sync is stuck: %r' % answer)
    os.remove(flag)
    t.join(30)
    eq(answer.get('r'), (200, ACK), 'answered once the sync returned')
    wait_for(lambda: age() < 2, 'the heartbeat fresh again', timeout=10)


if __name__ == '__main__':
    run()
