#!/usr/bin/env python3
"""Unknown payouts resolved by query (issue 13, item 4), the daemon with [submit] against
lianpay-sim serve: a 9999 behind which the sim created the payout becomes accepted by the
reconciler's query (its notification lost), with LianLian's oid_paybill, and is never sent again;
a payout that timed out and that the sim never created is answered 8901 query after query and,
past submit.no_record_after, waits for a person with the reason lianpayctl resubmit recognises,
still never resent by the daemon. The sim's --record counts the requests per no_order."""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import CTL, Daemon, TempDir, admin_get, eq, ok, run, sh, test, wait_for  # noqa: E402
from test_sim_payout import CARD, NAME, PayoutSim  # noqa: E402

# test_submit runs its tests when imported: its few helpers are not borrowed.
INSERT = ('INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name) '
          'VALUES (?, ?, ?, ?, ?)')

NO_RECORD = ('no record: LianLian has no record of it ', ' minutes after it was sent; lianpayctl '
             'resubmit sends it again under the same number')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def payout(d, no_order):
    with d.db() as c:
        return c.execute('SELECT * FROM payouts WHERE no_order = ?', (no_order,)).fetchone()


def attempts(d, no_order):
    with d.db() as c:
        return c.execute('SELECT * FROM payout_attempts WHERE no_order = ?', (no_order,)).fetchall()


def start(tmp, sim):
    port = free_port()
    return Daemon(tmp, sim.ll_pub, merchant_private=sim.m_priv, listen='127.0.0.1:%d' % port,
                  sections={
                      'lianlian': {'query_url': sim.base + 'queryPayment.htm'},
                      'reconcile': {'notify_window': '1h', 'retry_interval': '1s',
                                    'max_retry_interval': '2s'},
                      'submit': {'enabled': 'true',
                                 'notify_url': 'http://127.0.0.1:%d/lianpay/notify' % port,
                                 'payment_url': sim.base + 'payment.htm',
                                 'confirm_url': sim.base + 'confirmPayment.htm',
                                 'timeout': '2s', 'unknown_query_after': '1s',
                                 'no_record_after': '1m', 'max_rate': '20'}})


def metrics(d):
    status, _, body = admin_get(d, '/metrics')
    eq(status, 200, '/metrics')
    return dict(re.findall(r'^(lianpay_(?:oldest_unknown_payout_age_seconds|payouts_for_a_person'
                           r'|payouts)\S*) (\d+)$', body.decode(), re.M))


@test
def unknown_payouts_are_resolved_by_query_or_ask_a_person():
    tmp = TempDir()
    sim = PayoutSim(tmp, {
        'U-9999': {'apply': [{'ret_code': '9999', 'created': True}],
                   'result': {'result_pay': 'SUCCESS', 'lose_notifications': True}},
        # 9999, created, failed: the query answer carries LianLian's reason as memo.
        'U-FAIL': {'apply': [{'ret_code': '9999', 'created': True}],
                   'result': {'result_pay': 'FAILURE', 'memo': '户名不符',
                              'lose_notifications': True}},
        # Held past the daemon's timeout; 9999 behind the silence: nothing created.
        'U-LOST': {'apply': [{'no_answer': True, 'hold_ms': 6000, 'ret_code': '9999'}]},
        # Created and notified at once while the request is held: notified while 'sending'.
        'U-RACE': {'apply': [{'no_answer': True, 'hold_ms': 6000}]},
    })
    d = start(tmp, sim)
    with d.db() as c:
        for no_order in ('U-9999', 'U-LOST', 'U-RACE', 'U-FAIL'):
            c.execute(INSERT, (no_order, '49.65', '20261201093000', CARD, NAME))

    wait_for(lambda: payout(d, 'U-LOST')['state'] == 'unknown', 'U-LOST unknown', timeout=30)
    m = metrics(d)
    eq(m.get('lianpay_payouts{state="unknown"}') in ('1', '2'), True, 'unknown payouts counted')

    # 9999, created: the query's signed answer makes it accepted.
    wait_for(lambda: payout(d, 'U-9999')['state'] == 'accepted', 'U-9999 accepted', timeout=60)
    p = payout(d, 'U-9999')
    ok(re.fullmatch(r'\d{16}', p['oid_paybill'] or ''), 'oid_paybill from the answer %r'
       % p['oid_paybill'])
    ok(re.fullmatch(r'LianLian knows it: [A-Z]+ by query', p['reason'] or ''),
       'reason %r' % p['reason'])
    eq(p['ret_code'], '9999', 'the apply answer stays recorded')
    ok(d.row('U-9999')['source'] == 'query', 'payments: the result came by query')
    ok(d.has_log(r'event=payout no_order=U-9999 from=unknown to=accepted', 'payout'),
       'event=payout from=unknown to=accepted logged')

    # The FAILURE answer's memo is kept with the result (sql/0008) and shown by status.
    wait_for(lambda: payout(d, 'U-FAIL')['state'] == 'accepted', 'U-FAIL accepted', timeout=60)
    eq(payout(d, 'U-FAIL')['reason'], 'LianLian knows it: FAILURE by query', 'U-FAIL reason')
    r = d.row('U-FAIL')
    eq((r['result_pay'], r['memo']), ('FAILURE', '户名不符'), 'FAILURE with its memo')
    out = sh([CTL, '-c', d.config, 'status', 'U-FAIL']).stdout
    ok(re.search(r'memo.*户名不符', out), 'lianpayctl status shows the memo:\n' + out)

    # Notified while in flight, then timed out: the notification already proved it (sql/0007).
    wait_for(lambda: payout(d, 'U-RACE')['state'] == 'accepted', 'U-RACE accepted', timeout=60)
    p = payout(d, 'U-RACE')
    eq(p['reason'], 'LianLian knows it: SUCCESS by notify', 'U-RACE reason')
    ok(re.fullmatch(r'\d{16}', p['oid_paybill'] or ''), 'U-RACE oid_paybill %r' % p['oid_paybill'])

    # Lost, never created: 8901 again and again; no_record_since set at the first.
    wait_for(lambda: payout(d, 'U-LOST')['no_record_since'], 'U-LOST no_record_since', timeout=60)
    p = payout(d, 'U-LOST')
    eq((p['state'], p['reason'] is None or not p['reason'].startswith('no record:')),
       ('unknown', True), 'before no_record_after: no person asked yet (%r)' % p['reason'])
    p = wait_for(lambda: (lambda x: x if (x['reason'] or '').startswith('no record:') else None)(
        payout(d, 'U-LOST')), 'U-LOST asks a person', timeout=150)
    ok(p['reason'].startswith(NO_RECORD[0]) and p['reason'].endswith(NO_RECORD[1]),
       'reason %r' % p['reason'])
    eq(p['state'], 'unknown', 'still unknown: a late record is still possible')
    minutes = int(p['reason'][len(NO_RECORD[0]):].split(' ', 1)[0])
    ok(minutes >= 1, 'the minutes since sent_at: %d' % minutes)
    with d.db() as c:
        person = [r['no_order'] for r in c.execute('SELECT no_order FROM payouts_for_a_person')]
        queue_rows = [r['no_order'] for r in c.execute(
            "SELECT no_order FROM review_queue WHERE payout_reason LIKE 'no record:%'")]
    ok('U-LOST' in person, 'in payouts_for_a_person: %r' % person)
    eq(queue_rows, ['U-LOST'], 'in review_queue')
    ok(d.row('U-LOST')['next_query_at'] is not None, 'still queried at the backoff')
    m = metrics(d)
    ok(int(m.get('lianpay_payouts_for_a_person', '0')) >= 1, 'lianpay_payouts_for_a_person %r'
       % m.get('lianpay_payouts_for_a_person'))
    ok(int(m.get('lianpay_oldest_unknown_payout_age_seconds', '0')) >= 60,
       'lianpay_oldest_unknown_payout_age_seconds %r'
       % m.get('lianpay_oldest_unknown_payout_age_seconds'))
    ok(d.has_log(r'event=payout no_order=U-LOST from=unknown to=unknown person=asked', 'payout'),
       'the person asked is logged')

    time.sleep(3)  # more queries: still nothing sent again
    for no_order in ('U-9999', 'U-LOST', 'U-RACE', 'U-FAIL'):
        eq(len(sim.records(no_order)), 1, no_order + ' sent exactly once')
        eq(len(attempts(d, no_order)), 1, no_order + ': one attempts row')
    eq(d.stop(), 0, 'the daemon stops cleanly (under the sanitizers: no error, no leak)')


if __name__ == '__main__':
    run()
