#!/usr/bin/env python3
"""lianpayctl for scripts and people (issue 14, item 2): review list and review resolve with
their append-only audit table and every refusal, --requery that chases an unknown order again
without flagging it again at once, and --json on every verb: each line one JSON object with the
keys lianpayctl(1) documents."""
import json
import os
import pwd
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import (CTL, Env, ReconcileEnv, eq, keypair, ok, run, sh, sign, test,  # noqa: E402
                     notification)

CARD = '6228480223312311474'
PAYOUT = {'no_order': 'PAY-1', 'money_order': '49.65', 'dt_order': '20261201093000',
          'card_no': CARD, 'acct_name': '李三', 'flag_card': '0', 'info_order': '佣金',
          'memo': '代付'}
REVIEW_KEYS = ['no_order', 'updated_at', 'flagged', 'result_pay', 'money_order', 'payout_state',
               'reason']


def ctl(e, *args, input=None, env=None):
    return sh([CTL, '-c', e.d.config] + list(args), input=input, check=False, env=env)


def jlines(r, keys=None):
    """Every stdout line of r parsed as one JSON object (with exactly keys, when given)."""
    objs = []
    for line in r.stdout.splitlines():
        o = json.loads(line)
        ok(isinstance(o, dict), 'one object a line: %r' % line)
        if keys is not None:
            eq(sorted(o), sorted(keys), 'keys of %r' % line)
        objs.append(o)
    return objs


def flag(e, no_order, reason='conflict: SUCCESS then FAILURE', at=None):
    """Flags no_order as the writer does; at: its updated_at (the queue's order)."""
    with e.d.db() as c:
        c.execute("UPDATE payments SET needs_review = 1, review_reason = ?, next_query_at = NULL, "
                  "updated_at = coalesce(?, updated_at) WHERE no_order = ?",
                  (reason, at, no_order))


def queue_payout(e, state=None, reason=None):
    with e.d.db() as c:
        c.execute('INSERT INTO payouts(%s) VALUES (%s)' % (', '.join(PAYOUT), ', '.join(
            '?' * len(PAYOUT))), list(PAYOUT.values()))
        if state:
            c.execute('UPDATE payouts SET state = ?, reason = ? WHERE no_order = ?',
                      (state, reason, PAYOUT['no_order']))


def notified(e, no_order, result='SUCCESS', money='1.00'):
    status, _ = e.send_fields(no_order, result, money)
    eq(status, 200, 'notified')


def send_fields(self, no_order, result, money):
    return self.send(notification(no_order, result, money=money, dt='20261122083000'))


Env.send_fields = send_fields


@test
def review_list_shows_flagged_orders_and_payouts_oldest_first():
    e = Env()
    for no in ('R-1', 'R-2'):
        sh([CTL, '-c', e.d.config, 'register', no, '1.00', '20261122083000'])
    flag(e, 'R-2', 'second', at='2026-11-22T08:00:00.000Z')
    flag(e, 'R-1', 'first one', at='2026-11-22T09:00:00.000Z')
    queue_payout(e, 'refused', 'bank_code missing')
    r = ctl(e, 'review', 'list')
    eq(r.returncode, 0, r.stderr)
    lines = r.stdout.splitlines()
    eq(lines[0], 'no_order updated_at flagged result_pay money_order payout_state reason', 'header')
    eq([l.split(' ', 6)[0] for l in lines[1:]], ['R-2', 'R-1', 'PAY-1'], 'oldest update first')
    eq(lines[2].split(' ', 6)[2:], ['1', '-', '1.00', '-', 'first one'], 'a flagged order')
    eq(lines[3].split(' ', 6)[2:], ['0', '-', '49.65', 'refused', 'bank_code missing'],
       'a payout waiting for a person')
    r = ctl(e, '--json', 'review', 'list')
    eq(r.returncode, 0, r.stderr)
    objs = jlines(r, REVIEW_KEYS)
    eq([(o['no_order'], o['flagged'], o['reason'], o['payout_state']) for o in objs],
       [('R-2', True, 'second', None), ('R-1', True, 'first one', None),
        ('PAY-1', False, 'bank_code missing', 'refused')], 'json rows')
    ok(CARD not in r.stdout and '李三' not in r.stdout, 'neither card nor name')


@test
def review_list_json_stays_valid_utf8_past_the_checks():
    e = Env()
    sh([CTL, '-c', e.d.config, 'register', 'U-1', '1.00', '20261122083000'])
    sh([CTL, '-c', e.d.config, 'register', 'U-2', '1.00', '20261122083000'])
    with e.d.db() as c:
        c.execute("UPDATE payments SET needs_review = 1, review_reason = CAST(X'41ff42c0af43' AS "
                  "TEXT), next_query_at = NULL, updated_at = '2026-11-22T08:00:00.000Z' "
                  "WHERE no_order = 'U-1'")
        # Past the CHECKs (a NUL is refused there): cJSON would end the string at it.
        c.execute('PRAGMA ignore_check_constraints = ON')
        c.execute("UPDATE payments SET needs_review = 1, review_reason = 'x' || char(0) || 'y', "
                  "next_query_at = NULL, updated_at = '2026-11-22T09:00:00.000Z' "
                  "WHERE no_order = 'U-2'")
    r = sh([CTL, '-c', e.d.config, '--json', 'review', 'list'], check=False)
    raw = subprocess_bytes([CTL, '-c', e.d.config, '--json', 'review', 'list'])
    raw.decode('utf-8')  # strict: raises on invalid UTF-8
    eq([o['reason'] for o in jlines(r, REVIEW_KEYS)], ['A\ufffdB\ufffd\ufffdC', 'x\ufffdy'],
       'invalid bytes and NUL become U+FFFD')


def subprocess_bytes(args):
    import subprocess
    return subprocess.run(args, capture_output=True, check=True, timeout=60).stdout


@test
def resolve_records_who_when_why_and_clears_the_flag():
    e = Env()
    sh([CTL, '-c', e.d.config, 'register', 'S-1', '1.00', '20261122083000'])
    notified(e, 'S-1')
    flag(e, 'S-1', 'conflict: SUCCESS then FAILURE')
    env = dict(os.environ, SUDO_USER='alice')
    r = ctl(e, '--json', 'review', 'resolve', 'S-1', '--note', 'LianLian support: SUCCESS stands',
            env=env)
    eq(r.returncode, 0, r.stderr)
    me = pwd.getpwuid(os.getuid()).pw_name
    eq(jlines(r), [{'no_order': 'S-1', 'outcome': 'resolved', 'resolved_by': me,
                    'sudo_user': 'alice', 'requery': False}], 'json answer')
    row = e.d.row('S-1')
    eq((row['needs_review'], row['review_reason'], row['next_query_at'], row['chase_from']),
       (0, None, None, None), 'flag cleared, not chased (final)')
    with e.d.db() as c:
        a = c.execute('SELECT * FROM review_resolutions').fetchall()
    eq(len(a), 1, 'one audit row')
    eq((a[0]['no_order'], a[0]['resolved_by'], a[0]['sudo_user'], a[0]['review_reason'],
        a[0]['note'], a[0]['requery']),
       ('S-1', me, 'alice', 'conflict: SUCCESS then FAILURE', 'LianLian support: SUCCESS stands',
        0), 'audit row')
    eq(a[0]['resolved_at'], row['updated_at'], 'resolved_at is the update')
    eq(ctl(e, 'review', 'list').stdout.splitlines()[1:], [], 'queue empty')
    # Append-only.
    for sql in ("UPDATE review_resolutions SET note = 'x'", 'DELETE FROM review_resolutions'):
        try:
            with e.d.db() as c:
                c.execute(sql)
        except sqlite3.IntegrityError as ex:
            ok('append-only' in str(ex), str(ex))
        else:
            raise AssertionError('%s was allowed' % sql)
    # Resolved once: a second resolve is refused, and writes nothing.
    r = ctl(e, 'review', 'resolve', 'S-1', '--note', 'again')
    eq(r.returncode, 1, 'not in review')
    ok('not flagged for review' in r.stderr, r.stderr)
    eq(r.stdout, '', 'nothing on stdout')
    with e.d.db() as c:
        eq(c.execute('SELECT count(*) FROM review_resolutions').fetchone()[0], 1, 'still one')


@test
def resolve_refusals():
    e = Env()
    sh([CTL, '-c', e.d.config, 'register', 'F-1', '1.00', '20261122083000'])
    r = ctl(e, 'review', 'resolve', 'NOPE', '--note', 'x')
    eq(r.returncode, 2, 'unknown order')
    ok('NOPE: no such order' in r.stderr, r.stderr)
    flag(e, 'F-1')
    r = ctl(e, 'review', 'resolve', 'F-1', '--note', '')
    eq(r.returncode, 2, 'empty note')
    ok('note is empty' in r.stderr, r.stderr)
    r = ctl(e, 'review', 'resolve', 'F-1')
    eq(r.returncode, 2, 'no note')
    # Unknown result: resolving it alone would have it rescheduled and flagged again.
    r = ctl(e, 'review', 'resolve', 'F-1', '--note', 'checked')
    eq(r.returncode, 1, 'unknown result needs --requery')
    ok('--requery' in r.stderr and 'still unknown' in r.stderr, r.stderr)
    eq(e.d.row('F-1')['needs_review'], 1, 'still flagged')
    # A payout waiting for a person is decided by the payout verbs, not here.
    queue_payout(e, 'refused', 'bank_code missing')
    r = ctl(e, 'review', 'resolve', 'PAY-1', '--note', 'x')
    eq(r.returncode, 1, 'payout not flagged')
    ok('payout waits for a person' in r.stderr, r.stderr)
    # --requery on an order that is not chased.
    notified(e, 'S-2')
    flag(e, 'S-2')
    r = ctl(e, 'review', 'resolve', 'S-2', '--requery', '--note', 'x')
    eq(r.returncode, 1, '--requery on a final order')
    ok('without --requery' in r.stderr, r.stderr)
    with e.d.db() as c:
        eq(c.execute('SELECT count(*) FROM review_resolutions').fetchone()[0], 0,
           'no refusal wrote a row')


@test
def requery_chases_again_with_a_fresh_give_up_clock():
    """An order the reconciler gave up on (registered an hour before, give_up_after 30m) is
    resolved with --requery: it is queried again, and that query does not flag it again."""
    processing = {'result_pay': 'PROCESSING', 'money_order': '1.00', 'dt_order': '20261122083000',
                  'oid_paybill': '2026112200099999'}
    e = ReconcileEnv({'G-1': [processing] * 50}, reconcile={'give_up_after': '30m'})
    e.register('G-1')
    with e.d.db() as c:
        c.execute("UPDATE payments SET registered_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', "
                  "'-1 hours'), next_query_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                  "WHERE no_order = 'G-1'")
    row = e.wait_row('G-1', lambda r: r['needs_review'] == 1, 'flagged past give_up_after',
                     timeout=30)
    n = row['query_count']
    r = ctl(e, 'review', 'resolve', 'G-1', '--note', 'LianLian says it is processing')
    eq(r.returncode, 1, 'refused without --requery')
    r = ctl(e, 'review', 'resolve', 'G-1', '--requery', '--note', 'LianLian says processing')
    eq(r.returncode, 0, r.stderr)
    eq(r.stdout, 'G-1: resolved; chased again from now\n', 'text answer')
    row = e.d.row('G-1')
    ok(row['chase_from'] is not None and row['next_query_at'] == row['chase_from'],
       'chased from now: %r %r' % (row['chase_from'], row['next_query_at']))
    # Without the fresh clock the first query after resolving flags it again (query_count is
    # then left as it was): wait for either.
    row = e.wait_row('G-1', lambda r: r['query_count'] > n or r['needs_review'] == 1,
                     'queried again', timeout=30)
    eq(row['needs_review'], 0, 'not flagged again by the query after resolving')
    ok(row['next_query_at'] is not None, 'rescheduled')
    with e.d.db() as c:
        eq(c.execute('SELECT requery FROM review_resolutions').fetchone()[0], 1, 'audit: requery')


PENDING_KEYS = ['no_order', 'money_order', 'result_pay', 'age_seconds', 'query_count',
                'next_query_at']
RESULT_KEYS = ['no_order', 'outcome', 'reason']


@test
def register_and_pending_json():
    e = Env()
    r = ctl(e, '--json', 'register', 'J-1', '1.00', '20261122083000')
    eq((r.returncode, jlines(r, RESULT_KEYS)), (0, [{'no_order': 'J-1', 'outcome': 'registered',
                                                    'reason': None}]), 'register')
    r = ctl(e, '--json', 'register', 'J-1', '1.00', '20261122083000')
    eq(jlines(r, RESULT_KEYS)[0]['outcome'], 'already', 'again')
    lines = '\n'.join([json.dumps({'no_order': 'J-2', 'money_order': '2.00',
                                   'dt_order': '20261122083000'}),
                       'not json',
                       json.dumps({'no_order': 'J-3', 'money_order': '1.234',
                                   'dt_order': '20261122083000'})]) + '\n'
    r = ctl(e, '--json', 'register', '--file', '-', input=lines)
    eq(r.returncode, 1, 'some refused')
    objs = jlines(r, RESULT_KEYS + ['line'])
    eq([(o['line'], o['no_order'], o['outcome']) for o in objs],
       [(1, 'J-2', 'registered'), (2, None, 'refused'), (3, 'J-3', 'refused')], 'file lines')
    ok(all(o['reason'] for o in objs[1:]), 'refusals say why')
    r = ctl(e, '--json', 'pending')
    eq(r.returncode, 0, r.stderr)
    objs = jlines(r, PENDING_KEYS)
    eq([o['no_order'] for o in objs], ['J-1', 'J-2'], 'oldest first')
    ok(isinstance(objs[0]['age_seconds'], int) and objs[0]['query_count'] == 0, objs[0])


@test
def verify_and_sign_json():
    e = Env()
    body = e.body('V-1')
    path = e.tmp.file('msg.json', body)
    r = ctl(e, '--json', 'verify', '-v', path)
    eq(r.returncode, 0, r.stderr)
    o = jlines(r, ['valid', 'key', 'keys', 'signed_string'])[0]
    eq((o['valid'], o['key'], o['keys']), (True, 1, 1), 'valid')
    ok(o['signed_string'].startswith('dt_order='), o['signed_string'])
    other_priv, _ = keypair(e.tmp, 'other')
    bad = e.tmp.file('bad.json', sign(notification('V-1'), other_priv))
    r = ctl(e, '--json', 'verify', bad)
    eq((r.returncode, jlines(r, ['valid', 'key', 'keys'])),
       (1, [{'valid': False, 'key': None, 'keys': 1}]), 'invalid')
    r = ctl(e, '--json', 'sign', '--private-key', e.ll_priv, path)
    eq(r.returncode, 0, r.stderr)
    o = jlines(r)[0]
    ok(o['sign_type'] == 'RSA' and o['no_order'] == 'V-1', 'sign: the message itself')


PAYOUT_ROW_KEYS = ['no_order', 'state', 'money_order', 'age_seconds', 'card_no', 'reason']


@test
def pay_payouts_cancel_status_json():
    e = Env()
    r = ctl(e, '--json', 'pay', 'PAY-1', '49.65', '20261201093000', CARD, '李三')
    eq((r.returncode, jlines(r, RESULT_KEYS)),
       (0, [{'no_order': 'PAY-1', 'outcome': 'queued', 'reason': None}]), 'pay')
    lines = json.dumps(dict(PAYOUT, no_order='PAY-2')) + '\n' + json.dumps(
        dict(PAYOUT, no_order='PAY-3', money_order='1.234')) + '\n'
    r = ctl(e, '--json', 'pay', '--file', '-', input=lines)
    eq(r.returncode, 1, r.stderr)
    objs = jlines(r, RESULT_KEYS + ['line'])
    eq([(o['line'], o['no_order'], o['outcome']) for o in objs],
       [(1, 'PAY-2', 'queued'), (2, 'PAY-3', 'refused')], 'pay --file')
    r = ctl(e, '--json', 'payouts')
    eq(r.returncode, 0, r.stderr)
    objs = jlines(r, PAYOUT_ROW_KEYS)
    eq([(o['no_order'], o['state'], o['card_no']) for o in objs],
       [('PAY-1', 'queued', '622848******1474'), ('PAY-2', 'queued', '622848******1474')],
       'payouts, card masked')
    r = ctl(e, '--json', 'cancel', 'PAY-2')
    eq((r.returncode, jlines(r, ['no_order', 'outcome'])),
       (0, [{'no_order': 'PAY-2', 'outcome': 'cancelled'}]), 'cancel')
    r = ctl(e, '--json', 'status', 'PAY-1')
    eq(r.returncode, 0, r.stderr)
    o = jlines(r, ['order', 'events', 'payout', 'attempts'])[0]
    eq((o['order']['no_order'], o['order']['amount_fen'], o['order']['payout_held']),
       ('PAY-1', 4965, 1), 'order')
    eq((o['payout']['card_no'], o['payout']['acct_name'], o['payout']['state'], o['attempts']),
       ('622848******1474', '李*', 'queued', []), 'payout masked')
    ok(CARD not in r.stdout and '李三' not in r.stdout, 'no card, no name')
    e.send(notification('N-1', dt='20261122083000', money='1.00'))
    r = ctl(e, '--json', 'status', 'N-1')
    o = jlines(r)[0]
    eq((o['payout'], [(x['source'], x['outcome'], x['seen_count']) for x in o['events']]),
       (None, [('notify', 'applied', 1)]), 'events')
    eq(ctl(e, '--json', 'status', 'NOPE').returncode, 1, 'unknown order')


QUERY_KEYS = ['no_order', 'answer', 'detail', 'signed', 'ret_code', 'ret_msg', 'result_pay',
              'money_order', 'dt_order', 'oid_paybill', 'settle_date', 'info_order', 'raw']


@test
def query_json():
    success = {'result_pay': 'SUCCESS', 'money_order': '1.00', 'dt_order': '20261122083000',
               'oid_paybill': '2026112200099999', 'settle_date': '20261122'}
    e = ReconcileEnv({'Q-1': [success, success]}, reconcile={'enabled': 'false'})
    e.register('Q-1')
    r = ctl(e, '--json', 'query', 'Q-1')
    eq(r.returncode, 0, r.stderr)
    o = jlines(r, QUERY_KEYS)[0]
    eq((o['answer'], o['signed'], o['result_pay'], o['money_order']),
       ('result', True, 'SUCCESS', '1.00'), 'answer')
    json.loads(o['raw'])
    r = ctl(e, '--json', 'query', '--apply', 'Q-1')
    eq(r.returncode, 0, r.stderr)
    o = jlines(r, QUERY_KEYS + ['recorded', 'review_reason'])[0]
    eq((o['recorded'], o['review_reason']), ('applied', None), 'recorded')
    eq(e.d.row('Q-1')['result_pay'], 'SUCCESS', 'applied')


@test
def backup_and_archive_json():
    e = Env()
    notified(e, 'B-1')
    path = e.tmp.file('backup.db', '')
    os.unlink(path)
    r = ctl(e, '--json', 'backup', path)
    eq(r.returncode, 0, r.stderr)
    o = jlines(r, ['path', 'bytes', 'seconds'])[0]
    eq((o['path'], o['bytes']), (path, os.path.getsize(path)), 'backup')
    archive = e.tmp.file('archive.db', '')
    os.unlink(archive)
    r = ctl(e, '--json', 'archive', '--before', '9999-01-01', archive)
    eq(r.returncode, 0, r.stderr)
    eq(jlines(r, ['orders', 'events', 'before', 'path']),
       [{'orders': 1, 'events': 1, 'before': '9999-01-01T00:00:00.000Z', 'path': archive}],
       'archive')


if __name__ == '__main__':
    run()
