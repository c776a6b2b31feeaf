#!/usr/bin/env python3
"""A person's decisions on payouts (lianpayctl confirm, decline, resubmit) and the submit thread
acting on them, against lianpay-sim serve as LianLian (--record counts the requests): review ->
confirm -> accepted with the confirm sent once; a wrong code (4011) -> review with a try less;
decline -> closed with nothing sent; refused (9104) -> resubmit -> sent once more with identical
fields -> accepted; each verb refused in a state it does not apply to; a kill -9 while the confirm
is in flight -> unknown at restart, never confirmed twice."""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import CTL, TempDir, eq, ok, run, test, wait_for  # noqa: E402
from test_submit import attempts, payout, queue, start, wait_state  # noqa: E402
from test_sim_payout import PayoutSim  # noqa: E402


def ctl(d, *args):
    return subprocess.run([CTL, '-c', d.config] + list(args), capture_output=True, text=True,
                          timeout=180)


def calls(sim, no_order, call):
    return [r for r in sim.records(no_order) if r['call'] == call]


@test
def confirm_decline_resubmit():
    tmp = TempDir()
    sim = PayoutSim(tmp, {
        'C-OK': {'apply': [{'ret_code': '4002'}]},
        # (the last step repeats: the second confirm and apply get 0000)
        'C-WRONG': {'apply': [{'ret_code': '4002'}],
                    'confirm': [{'ret_code': '4011'}, {'ret_code': '0000'}]},
        'C-DECLINE': {'apply': [{'ret_code': '4002'}]},
        'C-9104': {'apply': [{'ret_code': '9104'}, {'ret_code': '0000'}]},
        'C-9999': {'apply': [{'ret_code': '9999'}]},
    })
    d = start(tmp, sim)
    queue(d, ('C-OK',), ('C-WRONG',), ('C-DECLINE',), ('C-9104',), ('C-9999',))
    for no_order in ('C-OK', 'C-WRONG', 'C-DECLINE'):
        wait_state(d, no_order, 'review')
    wait_state(d, 'C-9104', 'refused')
    wait_state(d, 'C-9999', 'unknown')

    # review -> confirm -> accepted: the confirm sent exactly once, the apply once.
    r = ctl(d, 'confirm', 'C-OK', '--timeout', '120s')
    eq(r.returncode, 0, 'confirm accepted: %r %r' % (r.stdout, r.stderr))
    ok(r.stdout.startswith('confirm answered C-OK: accepted ret_code=0000'), r.stdout)
    p = payout(d, 'C-OK')
    eq((p['state'], p['ret_code'], p['attempts'], p['confirm_requested_at']),
       ('accepted', '0000', 2, None), 'accepted after the confirm')
    ok(len(p['oid_paybill'] or '') == 16, 'oid_paybill %r' % p['oid_paybill'])
    eq([(a['call'], a['class'], a['ret_code'], a['signed']) for a in attempts(d, 'C-OK')],
       [('apply', 'review', '4002', 1), ('confirm', 'accepted', '0000', 1)], 'attempts journal')
    eq((len(calls(sim, 'C-OK', 'apply')), len(calls(sim, 'C-OK', 'confirm'))), (1, 1),
       'apply once, confirm once')
    eq(calls(sim, 'C-OK', 'confirm')[0]['confirm_code'], p['confirm_code'],
       'the stored code was sent')
    ok(d.row('C-OK')['payout_held'] == 0, 'accepted: chased')
    ok(p['reason'].startswith('confirm requested by '), 'who asked: %r' % p['reason'])
    ok(d.has_log(r'no_order=C-OK from=review to=confirming reason="?confirm requested by ',
                 'payout'), 'the decision is logged when the daemon acts')
    ok(d.has_log(r'no_order=C-OK from=confirming to=accepted', 'payout'),
       'the state change is logged')
    ok(d.has_log(r'no_order=C-OK call=confirm class=accepted', 'submit'), 'the attempt is logged')
    # A confirmed payout is no longer in review: each verb refuses it.
    for verb in ('confirm', 'decline', 'resubmit', 'cancel'):
        r = ctl(d, verb, 'C-OK')
        ok(r.returncode == 1 and 'it is accepted' in r.stderr, '%s accepted: %r' % (verb, r.stderr))

    # A wrong code (scripted 4011): back to review with a try less, asked again.
    r = ctl(d, '--json', 'confirm', 'C-WRONG', '--timeout', '120s')
    eq(r.returncode, 1, 'confirm 4011: exit 1: %r' % r.stderr)
    j = json.loads(r.stdout)
    eq((j['state'], j['ret_code'], j['confirm_tries']), ('review', '4011', 5), 'json 4011')
    p = payout(d, 'C-WRONG')
    eq((p['state'], p['confirm_tries'], p['confirm_requested_at']), ('review', 5, None),
       'review with a try less')
    ok('5 tries left' in p['reason'], 'reason %r' % p['reason'])
    eq(len(calls(sim, 'C-WRONG', 'confirm')), 1, 'one confirm sent')
    r = ctl(d, 'confirm', 'C-WRONG', '--timeout', '120s')  # the script's 0000 now
    eq(r.returncode, 0, 'second confirm accepted: %r' % r.stderr)
    eq(payout(d, 'C-WRONG')['state'], 'accepted', 'accepted the second time')
    eq(len(calls(sim, 'C-WRONG', 'confirm')), 2, 'two confirms in all')

    # decline: closed, nothing sent; then every verb refuses it.
    r = ctl(d, 'decline', 'C-DECLINE')
    eq(r.returncode, 0, 'decline: %r' % r.stderr)
    p = payout(d, 'C-DECLINE')
    eq(p['state'], 'closed', 'declined: closed')
    ok(p['reason'].startswith('declined by '), 'reason %r' % p['reason'])
    ok(d.row('C-DECLINE')['payout_held'] == 1, 'closed: held')
    for verb in ('confirm', 'decline', 'resubmit'):
        r = ctl(d, verb, 'C-DECLINE')
        ok(r.returncode == 1 and 'it is closed' in r.stderr, '%s closed: %r' % (verb, r.stderr))

    # refused 9104 -> resubmit -> the same fields once more -> accepted.
    r = ctl(d, 'decline', 'C-9104')
    ok(r.returncode == 1 and 'it is refused' in r.stderr, 'decline refused: %r' % r.stderr)
    r = ctl(d, 'confirm', 'C-9104')
    ok(r.returncode == 1 and 'only a payout in review' in r.stderr, 'confirm refused: %r' %
       r.stderr)
    r = ctl(d, 'resubmit', 'C-9104')
    eq(r.returncode, 0, 'resubmit: %r' % r.stderr)
    ok(r.stdout.startswith('resubmitted C-9104'), r.stdout)
    p = wait_state(d, 'C-9104', 'accepted')
    eq((p['ret_code'], p['attempts']), ('0000', 2), 'accepted on the second apply')
    a = calls(sim, 'C-9104', 'apply')
    eq(len(a), 2, 'sent once more, exactly')
    strip = ('answer', 'created', 'sign')
    eq({k: v for k, v in a[0].items() if k not in strip},
       {k: v for k, v in a[1].items() if k not in strip}, 'identical fields')
    eq([x['class'] for x in attempts(d, 'C-9104')], ['refused', 'accepted'], 'journal')

    # unknown without "no record:": resubmit refused, confirm/decline refused, unknown exit 2.
    r = ctl(d, 'resubmit', 'C-9999')
    ok(r.returncode == 1 and 'never sent again' in r.stderr, 'resubmit unknown: %r' % r.stderr)
    with d.db() as c:
        c.execute("UPDATE payouts SET reason = 'no record: LianLian answered 8901 for 31 min' "
                  "WHERE no_order = 'C-9999'")
    r = ctl(d, 'resubmit', 'C-9999')
    eq(r.returncode, 0, 'resubmit unknown with no record: %r' % r.stderr)
    # attempts counts a request as it leaves ('sending'); its answer comes after.
    p = wait_for(lambda: (lambda p: p if p['attempts'] == 2 and p['state'] != 'sending' else None)(
        payout(d, 'C-9999')), 'the second apply answered', timeout=60)
    ok(p['state'] in ('accepted', 'unknown'), 'answered: %r' % p['state'])
    eq(len(calls(sim, 'C-9999', 'apply')), 2, 'resubmitted once')
    for verb in ('confirm', 'decline', 'resubmit', 'cancel'):
        eq(ctl(d, verb, 'NOPE').returncode, 2, verb + ' of an unknown payout: exit 2')
    eq(ctl(d, 'confirm', 'C-OK', '--timeout', 'soon').returncode, 2, 'bad --timeout: exit 2')
    eq(d.stop(), 0, 'the daemon stops cleanly')


@test
def a_refused_confirm_keeps_the_review():
    # LianLian refuses the confirm (9104: balance too low) but still holds the order in review
    # under the same code: the payout goes back to review, not refused (a resubmit would be
    # 1002), and the person confirms again after the top-up.
    tmp = TempDir()
    sim = PayoutSim(tmp, {'C-TOPUP': {'apply': [{'ret_code': '4002'}],
                                      'confirm': [{'ret_code': '9104', 'ret_msg': '余额不足'},
                                                  {'ret_code': '0000'}]}})
    d = start(tmp, sim)
    queue(d, ('C-TOPUP',))
    before = wait_state(d, 'C-TOPUP', 'review')
    r = ctl(d, 'confirm', 'C-TOPUP', '--timeout', '120s')
    eq(r.returncode, 1, 'confirm refused: exit 1: %r %r' % (r.stdout, r.stderr))
    p = payout(d, 'C-TOPUP')
    eq((p['state'], p['ret_code'], p['confirm_code'], p['confirm_expires_at'], p['confirm_tries'],
        p['confirm_requested_at']),
       ('review', '9104', before['confirm_code'], before['confirm_expires_at'], 6, None),
       'back to review with the same code, expiry and tries')
    eq(p['reason'], 'confirm refused (9104 余额不足): fix the cause and confirm again before ' +
       before['confirm_expires_at'], 'reason')
    eq([(a['call'], a['class'], a['ret_code']) for a in attempts(d, 'C-TOPUP')],
       [('apply', 'review', '4002'), ('confirm', 'refused', '9104')], 'the journal keeps refused')
    ok(d.row('C-TOPUP')['payout_held'] == 1, 'review: held')
    ok(d.has_log(r'no_order=C-TOPUP from=confirming to=review', 'payout'),
       'the state change is logged')
    r = ctl(d, 'confirm', 'C-TOPUP', '--timeout', '120s')
    eq(r.returncode, 0, 'confirmed again: %r' % r.stderr)
    eq(payout(d, 'C-TOPUP')['state'], 'accepted', 'accepted the second time')
    eq((len(calls(sim, 'C-TOPUP', 'apply')), len(calls(sim, 'C-TOPUP', 'confirm'))), (1, 2),
       'applied once, confirmed twice')
    eq(d.stop(), 0, 'the daemon stops cleanly')


@test
def confirm_waits_then_says_the_daemon_may_be_stopped():
    tmp = TempDir()
    sim = PayoutSim(tmp, {'W-1': {'apply': [{'ret_code': '4002'}]}})
    d = start(tmp, sim)
    queue(d, ('W-1',))
    wait_state(d, 'W-1', 'review')
    eq(d.stop(), 0, 'stopped')
    r = ctl(d, 'confirm', 'W-1', '--timeout', '2s')
    ok(r.returncode == 2 and 'daemon may be stopped' in r.stderr, 'timeout: %r' % r.stderr)
    ok(payout(d, 'W-1')['confirm_requested_at'] is not None, 'the request stays')
    r = ctl(d, 'decline', 'W-1')
    ok(r.returncode == 1 and 'a confirm is requested' in r.stderr, 'decline: %r' % r.stderr)
    d.start()  # the daemon sends it now
    p = wait_state(d, 'W-1', 'accepted')
    eq((len(calls(sim, 'W-1', 'confirm')), p['confirm_requested_at']), (1, None), 'sent once')
    # A lapsed code: confirm refused, and the daemon closes it.
    with d.db() as c:
        c.execute("UPDATE payouts SET state = 'review', confirm_code = '123456', "
                  "confirm_tries = 6, confirm_expires_at = "
                  "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 seconds') WHERE no_order = 'W-1'")
    r = ctl(d, 'confirm', 'W-1')
    ok(r.returncode == 1 and ('lapsed' in r.stderr or 'it is closed' in r.stderr),
       'lapsed: %r' % r.stderr)
    p = wait_state(d, 'W-1', 'closed')
    ok('lapsed' in p['reason'], 'closed: %r' % p['reason'])
    eq(len(calls(sim, 'W-1', 'confirm')), 1, 'nothing more sent')
    eq(d.stop(), 0, 'the daemon stops cleanly')


@test
def kill_9_while_confirming_is_unknown_and_never_confirmed_twice():
    tmp = TempDir()
    # the held confirm still creates the payout in the simulator; its notification would make
    # the payout accepted (a signed result proves it exists: sql/0007), so it is lost here
    sim = PayoutSim(tmp, {'K-C': {'apply': [{'ret_code': '4002'}],
                                  'confirm': [{'no_answer': True, 'hold_ms': 60000}],
                                  'result': {'lose_notifications': True}}})
    d = start(tmp, sim, timeout='60s')
    queue(d, ('K-C',))
    wait_state(d, 'K-C', 'review')
    r = ctl(d, 'confirm', 'K-C', '--timeout', '1s')
    eq(r.returncode, 2, 'no answer yet: %r' % r.stderr)
    wait_for(lambda: len(calls(sim, 'K-C', 'confirm')) == 1, 'the confirm reached the sim',
             timeout=60)
    eq(payout(d, 'K-C')['state'], 'confirming', 'confirming committed before it left')
    d.kill()
    d.start()
    p = wait_state(d, 'K-C', 'unknown')
    ok('never sent again' in p['reason'], 'reason %r' % p['reason'])
    r = ctl(d, 'confirm', 'K-C')
    ok(r.returncode == 1 and 'it is unknown' in r.stderr, 'confirm unknown: %r' % r.stderr)
    time.sleep(3)
    eq(len(calls(sim, 'K-C', 'confirm')), 1, 'confirmed exactly once in all')
    eq(len(calls(sim, 'K-C', 'apply')), 1, 'applied exactly once')
    eq(d.stop(), 0, 'the daemon stops cleanly')


if __name__ == '__main__':
    run()
