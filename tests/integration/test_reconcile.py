#!/usr/bin/env python3
"""Reconciliation: the daemon chases registered payouts whose result never arrived, asking
lianpay-sim (as LianLian's queryPayment) and believing only verified answers."""
import calendar
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (CTL, ReconcileEnv, TempDir, eq, keypair, notification, ok, run, sh,  # noqa: E402
                     sign, test, wait_for)


def answer(result, money='1.00', **kw):
    a = {'result_pay': result, 'money_order': money, 'dt_order': '20261122083000',
         'oid_paybill': '2026112200099999'}
    if result == 'SUCCESS':
        a['settle_date'] = '20261122'
    a.update(kw)
    return a


@test
def lost_notification_is_recovered_by_query():
    e = ReconcileEnv({'Q-1': [answer('SUCCESS')]})
    e.register('Q-1')
    row = e.wait_row('Q-1', lambda r: r['result_pay'] == 'SUCCESS', 'SUCCESS by query')
    eq((row['source'], row['amount_fen'], row['needs_review']), ('query', 100, 0), 'row')
    ok(row['next_query_at'] is None and row['final_at'] is not None, 'final, no longer queried')
    evs = e.d.events('Q-1')
    eq([(x['source'], x['outcome'], x['result_pay']) for x in evs],
       [('query', 'applied', 'SUCCESS')], 'journal')
    e.d.wait_log(r'event=query no_order=Q-1 answer=result .*outcome=applied')
    time.sleep(2.5)
    eq(len(e.sim.queries('Q-1')), 1, 'queried exactly once')
    ok(all('signature=valid' in l for l in e.sim.queries()), 'every query correctly signed')


@test
def orders_notified_in_time_are_never_queried():
    e = ReconcileEnv({'*': [answer('FAILURE')]})
    e.register('N-1')
    e.register('N-2')
    status, _ = e.d.post(sign(notification('N-1', 'SUCCESS', money='1.00'), e.ll_priv))
    eq(status, 200, 'notified')
    e.wait_row('N-2', lambda r: r['result_pay'] == 'FAILURE', 'N-2 recovered by query')
    time.sleep(2.5)
    eq(e.sim.queries('N-1'), [], 'N-1 never queried')
    eq(e.d.row('N-1')['result_pay'], 'SUCCESS', 'N-1 unchanged')


@test
def pending_answer_is_recorded_then_final():
    e = ReconcileEnv({'P-1': [answer('PROCESSING'), answer('WAITING'), answer('SUCCESS')]})
    e.register('P-1')
    e.wait_row('P-1', lambda r: r['result_pay'] in ('PROCESSING', 'WAITING'), 'pending recorded')
    row = e.wait_row('P-1', lambda r: r['result_pay'] == 'SUCCESS', 'final', timeout=20)
    eq(row['query_count'] >= 2, True, 'query_count counted: %r' % row['query_count'])
    outcomes = [(x['result_pay'], x['outcome']) for x in e.d.events('P-1')]
    eq(outcomes, [('PROCESSING', 'applied'), ('WAITING', 'applied'), ('SUCCESS', 'applied')],
       'journal')


@test
def no_record_8901_never_becomes_failure_and_is_given_up_with_a_reason():
    e = ReconcileEnv({'G-1': [{'ret_code': '8901', 'ret_msg': '没有记录', 'sign': 'none'}]},
                     reconcile={'give_up_after': '4s'})
    e.register('G-1')
    row = e.wait_row('G-1', lambda r: r['needs_review'] == 1, 'flagged for review', timeout=20)
    eq(row['result_pay'], None, 'never FAILURE')
    ok('no record' in row['review_reason'], row['review_reason'])
    ok(row['next_query_at'] is None, 'no longer scheduled')
    n = len(e.sim.queries('G-1'))
    ok(n >= 2, 'queried several times before giving up (%d)' % n)
    time.sleep(2.5)
    eq(len(e.sim.queries('G-1')), n, 'not queried after giving up')
    eq(e.d.events('G-1'), [], 'nothing journalled from unsigned answers')
    ok(len(e.d.log_lines('query')) == n, 'one log line per attempt')
    with e.d.db() as c:
        ok(c.execute("SELECT 1 FROM review_queue WHERE no_order = 'G-1'").fetchone(), 'review view')


@test
def pending_answer_past_give_up_is_recorded_then_flagged():
    e = ReconcileEnv({'PG-1': [answer('PROCESSING')]}, reconcile={'give_up_after': '4s'})
    e.register('PG-1')
    row = e.wait_row('PG-1', lambda r: r['needs_review'] == 1, 'flagged for review', timeout=20)
    eq(row['result_pay'], 'PROCESSING', 'the last answer recorded')
    ok(row['review_reason'].startswith('no final result ') and
       row['review_reason'].endswith(' after registration; last query answer: PROCESSING'),
       row['review_reason'])
    ok(row['next_query_at'] is None, 'no longer scheduled')
    n = len(e.sim.queries('PG-1'))
    time.sleep(2.5)
    eq(len(e.sim.queries('PG-1')), n, 'not queried after giving up')
    eq([(x['result_pay'], x['outcome'], x['seen_count']) for x in e.d.events('PG-1')],
       [('PROCESSING', 'applied', n)], 'journal: one message, seen at every query')
    lines = e.d.log_lines('query')
    eq(len(lines), n, 'one log line per attempt')
    gave_up = [l for l in lines if 'action=gave_up' in l]
    eq(len(gave_up), 1, 'given up once: %r' % gave_up)
    ok(gave_up[0] == lines[-1] and 'outcome=duplicate' in gave_up[0], gave_up[0])
    eq(row['query_count'], n - 1, 'the attempt that gave up is not counted')


@test
def unsigned_badly_signed_and_error_answers_change_nothing():
    script = {
        'U-1': [answer('SUCCESS', sign='none')],
        'B-1': [answer('SUCCESS', sign='bad')],
        'E-1': [{'ret_code': '9999', 'ret_msg': '系统错误'}],
        'H-1': [dict(answer('SUCCESS'), http_status=500)],
        'O-1': [answer('SUCCESS', no_order='SOMEONE-ELSE')],
        'M-1': [answer('SUCCESS', money='2.00')],
    }
    e = ReconcileEnv(script)
    for no in script:
        e.register(no)
    e.wait_row('M-1', lambda r: r['needs_review'] == 1, 'amount mismatch flagged')
    for no in ('U-1', 'B-1', 'E-1', 'H-1', 'O-1'):
        wait_for(lambda: len(e.sim.queries(no)) >= 2, 'two queries of ' + no)
    for no in ('U-1', 'B-1', 'E-1', 'H-1', 'O-1'):
        row = e.d.row(no)
        eq((row['result_pay'], row['needs_review'], row['source']), (None, 0, None), no)
        eq(e.d.events(no), [], no + ' journal')
        ok(row['next_query_at'] is not None, no + ' still chased')
    logs = e.d.log_lines('query')
    for no, kind in (('U-1', 'unsigned'), ('B-1', 'unsigned'), ('E-1', 'refused'),
                     ('H-1', 'transport_error'), ('O-1', 'invalid')):
        ok(any(('no_order=%s ' % no) in l and ('answer=%s ' % kind) in l for l in logs),
           '%s logged as %s' % (no, kind))
    m = e.d.row('M-1')
    eq((m['result_pay'], m['amount_fen']), (None, 100), 'mismatch leaves the result unknown')
    eq(e.d.events('M-1')[0]['outcome'], 'mismatch', 'mismatch journalled')


@test
def network_error_is_not_an_answer():
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    e = ReconcileEnv(query_url='http://127.0.0.1:%d/paymentapi/queryPayment.htm' % port)
    e.register('NE-1')
    e.d.wait_log(r'event=query no_order=NE-1 answer=transport_error')
    row = e.d.row('NE-1')
    eq((row['result_pay'], row['needs_review']), (None, 0), 'unchanged')
    ok(row['query_count'] >= 1 and row['next_query_at'] is not None, 'rescheduled')


@test
def timeout_is_not_an_answer():
    e = ReconcileEnv({'T-1': [dict(answer('SUCCESS'), delay_ms=3000)]},
                     reconcile={'retry_interval': '1h', 'max_retry_interval': '1h'})
    e.d.stop()
    text = open(e.d.config).read().replace('[lianlian]\n', '[lianlian]\nquery_timeout = 1s\n')
    open(e.d.config, 'w').write(text)
    e.d.start()
    e.register('T-1')
    e.d.wait_log(r'event=query no_order=T-1 answer=transport_error .*detail="Timeout was reached"')
    row = e.d.row('T-1')
    eq((row['result_pay'], row['needs_review'], row['query_count']), (None, 0, 1), 'unchanged')
    eq(e.d.events('T-1'), [], 'nothing journalled')


@test
def wrong_merchant_key_gets_1001_and_changes_nothing():
    tmp = TempDir()
    other_priv, _ = keypair(tmp, 'other')
    e = ReconcileEnv({'*': [answer('SUCCESS')]}, merchant_key=other_priv)
    e.register('W-1')
    wait_for(lambda: e.sim.queries('W-1'), 'query received')
    ok('signature=invalid' in e.sim.queries('W-1')[0], 'simulator refused the signature')
    e.d.wait_log(r'event=query no_order=W-1 answer=refused ret_code=1001')
    eq(e.d.row('W-1')['result_pay'], None, 'unchanged')


@test
def plain_sql_registration_is_picked_up():
    e = ReconcileEnv({'S-1': [answer('FAILURE', info_order='退款_户名错误')]})
    with e.d.db() as c:
        c.execute("INSERT INTO payments(no_order, money_order, dt_order) "
                  "VALUES ('S-1', '1.00', '20261122083000')")
    row = e.wait_row('S-1', lambda r: r['result_pay'] == 'FAILURE', 'picked up and queried')
    eq(row['info_order'], '退款_户名错误', 'info_order')


@test
def queries_respect_max_rate():
    script = {'*': [{'ret_code': '8901', 'ret_msg': '没有记录', 'sign': 'none'}]}
    e = ReconcileEnv(script, reconcile={'max_rate': '2', 'retry_interval': '1h',
                                        'max_retry_interval': '1h'})
    for i in range(6):
        e.register('R-%d' % i)
    t0 = time.monotonic()
    wait_for(lambda: len(e.sim.queries()) >= 6, 'six queries', timeout=30)
    ok(time.monotonic() - t0 >= 2.0, 'six queries at 2/s take at least 2 s')


@test
def lianpayctl_query_prints_and_applies():
    e = ReconcileEnv({'C-1': [answer('SUCCESS')],
                      'C-2': [{'ret_code': '8901', 'ret_msg': '没有记录', 'sign': 'none'}]},
                     reconcile={'notify_window': '1h'})
    e.register('C-1')
    r = sh([CTL, '-c', e.d.config, 'query', 'C-1'])
    ok('result_pay: SUCCESS' in r.stdout and 'signature:  valid' in r.stdout, r.stdout)
    eq(e.d.row('C-1')['result_pay'], None, 'not recorded without --apply')
    r = sh([CTL, '-c', e.d.config, 'query', '--apply', 'C-1'])
    ok('recorded:   applied' in r.stdout, r.stdout)
    row = e.d.row('C-1')
    eq((row['result_pay'], row['source']), ('SUCCESS', 'query'), 'recorded')
    r = sh([CTL, '-c', e.d.config, 'query', '--apply', 'C-2'], check=False)
    eq(r.returncode, 1, '8901 exit status')
    ok('no_record' in r.stdout, r.stdout)



@test
def lianpayctl_query_apply_pending_asks_again_after_retry_interval():
    # query --apply has its own policy: a pending answer is asked again after retry_interval,
    # without the reconciler's backoff and without giving up (this order is past give_up_after).
    e = ReconcileEnv({'C-3': [answer('WAITING')]},
                     reconcile={'notify_window': '1h', 'retry_interval': '10m',
                                'max_retry_interval': '2h', 'give_up_after': '1h'})
    e.register('C-3')
    with e.d.db() as c:
        c.execute("UPDATE payments SET query_count = 3, registered_at = "
                  "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours') WHERE no_order = 'C-3'")
    before = time.time()
    r = sh([CTL, '-c', e.d.config, 'query', '--apply', 'C-3'])
    ok('recorded:   applied' in r.stdout, r.stdout)
    row = e.d.row('C-3')
    eq((row['result_pay'], row['needs_review'], row['query_count']), ('WAITING', 0, 4), 'row')
    nxt = calendar.timegm(time.strptime(row['next_query_at'][:19], '%Y-%m-%dT%H:%M:%S'))
    print('# next_query_at %s, %.1f s after the query' % (row['next_query_at'], nxt - before))
    ok(before + 590 <= nxt <= time.time() + 610,
       'asked again in 10 minutes: %s' % row['next_query_at'])


if __name__ == '__main__':
    run()
