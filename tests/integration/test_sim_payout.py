#!/usr/bin/env python3
"""lianpay-sim as LianLian's payment.htm and confirmPayment.htm: driven with requests built by the
project's own client (payout.c, through tests/sim/payout_drive.c, which prints the classified
answer), it decrypts pay_load, refuses a bad HMAC or merchant signature, applies LianLian's
duplicate rule, plays every scripted class, runs confirm codes (tries, expiry), notifies a
loopback receiver on LianLian's (scaled) schedule and answers queries consistently with all that,
also by oid_paybill alone."""
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BUILD, CTL, OID_PARTNER, SIM, Sim, TempDir, eq, keypair,  # noqa: E402
                     ok, run, sign, test, wait_for)

DRIVE = os.path.join(BUILD, 'tests', 'payout_drive')
CARD = '6228480223312311474'
NAME = '李三'


class PayoutSim(Sim):
    """lianpay-sim serve with the payout options; stopped by the harness like Sim."""

    def __init__(self, tmp, script=None, extra=()):
        self.tmp = tmp
        self.ll_priv, self.ll_pub = keypair(tmp, 'lianlian')
        self.m_priv, self.m_pub = keypair(tmp, 'merchant', bits=2048)
        self.script_path = tmp.file('script.json')
        self.set_script(script or {})
        self.record_path = tmp.file('record.jsonl', '')
        self.log_path = tmp.file('sim.log')
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(
            [SIM, 'serve', '--listen', '127.0.0.1:0', '--private-key', self.ll_priv,
             '--merchant-public-key', self.m_pub, '--oid-partner', OID_PARTNER,
             '--script', self.script_path, '--record', self.record_path] + list(extra),
            stdout=subprocess.DEVNULL, stderr=self.log)
        Sim.running.append(self)
        m = wait_for(lambda: re.search(r'event=ready listen=(\S+)', self.logs()) or
                     self.proc.poll() is not None and 'exited', 'simulator ready', timeout=10)
        ok(m != 'exited', 'simulator exited:\n' + self.logs())
        self.port = int(m.group(1).rsplit(':', 1)[1])
        self.base = 'http://127.0.0.1:%d/paymentapi/' % self.port

    def drive(self, call, no_order, *args, key=None, check=True):
        """One request by payout.c; the classified answer as a dict."""
        r = subprocess.run([DRIVE, call, '--url', self.base, '--merchant-key', key or self.m_priv,
                            '--lianlian-public', self.ll_pub, '--oid-partner', OID_PARTNER,
                            '--notify-url', getattr(self, 'notify_url', 'http://127.0.0.1:9/n'),
                            '--no-order', no_order, '--card', CARD, '--name', NAME] + list(args),
                           capture_output=True, text=True, timeout=120)
        eq(r.returncode, 0, 'payout_drive: %s' % r.stderr)
        return json.loads(r.stdout)

    def apply(self, no_order, *args, **kw):
        return self.drive('apply', no_order, *args, **kw)

    def confirm(self, no_order, code, **kw):
        return self.drive('confirm', no_order, '--code', code, **kw)

    def query(self, **fields):
        """A signed queryPayment.htm request; the answer as a dict."""
        q = dict({'oid_partner': OID_PARTNER, 'api_version': '1.0', 'sign_type': 'RSA'}, **fields)
        body = sign(q, self.m_priv).encode()
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
        c.request('POST', '/paymentapi/queryPayment.htm', body=body,
                  headers={'Content-Type': 'application/json;charset=utf-8'})
        data = c.getresponse().read()
        c.close()
        return json.loads(data)

    def records(self, no_order=None):
        with open(self.record_path, encoding='utf-8') as f:
            rows = [json.loads(l) for l in f if l.strip()]
        return [r for r in rows if no_order is None or r.get('no_order') == no_order]

    def verifies(self, message):
        """The message verifies with the simulated LianLian's public key."""
        r = subprocess.run([CTL, 'verify', '--public-key', self.ll_pub], input=message,
                           capture_output=True, text=True, timeout=60)
        return r.returncode == 0


class Receiver:
    """A loopback notify_url: records every body; answers 9999 to the first `refuse` of them."""

    def __init__(self, refuse=0):
        self.bodies = []
        self.refuse = refuse
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get('Content-Length', '0'))
                outer.bodies.append(self.rfile.read(n).decode('utf-8'))
                code = '9999' if len(outer.bodies) <= outer.refuse else '0000'
                data = json.dumps({'ret_code': code, 'ret_msg': 'x'}).encode()
                self.send_response(200)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.url = 'http://127.0.0.1:%d/n' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def no_personal_data(sim):
    text = sim.logs() + open(sim.record_path, encoding='utf-8').read()
    ok(CARD not in text, 'the full card number never in the log or the record')
    ok(NAME not in text, 'the name never in the log or the record')


# 6 min / 360 = 1 s between notifications; 30 min / 360 = 5 s of confirm-code validity.
FAST = ['--time-scale', '360']


@test
def accepted_payout_is_notified_until_0000():
    rcv = Receiver(refuse=2)
    try:
        s = PayoutSim(TempDir(), extra=FAST)
        s.notify_url = rcv.url
        a = s.apply('OK-1')
        eq((a['class'], a['signed'], a['ret_code']), ('accepted', True, '0000'), 'answer %r' % a)
        ok(re.fullmatch(r'\d{16}', a['oid_paybill']), 'oid_paybill %r' % a['oid_paybill'])
        wait_for(lambda: re.search(r'event=sim_notified no_order=OK-1 .*acked=yes', s.logs()),
                 'notification acknowledged', timeout=60)
        eq(len(rcv.bodies), 3, 'sent until answered 0000 (two refusals, then 0000)')
        for b in rcv.bodies:
            n = json.loads(b)
            eq((n['no_order'], n['oid_paybill'], n['money_order'], n['result_pay'],
                n['dt_order'], n['oid_partner']),
               ('OK-1', a['oid_paybill'], '49.65', 'SUCCESS', '20261201093000', OID_PARTNER),
               'notification %r' % n)
            ok(re.fullmatch(r'\d{8}', n['settle_date']), 'settle_date')
            ok(s.verifies(b), 'notification signed with LianLian\'s key')
        eq([(r['call'], r['answer'], r['card_no']) for r in s.records('OK-1')],
           [('apply', '0000', '622848******1474')], 'recorded once, card masked')
        ok(re.search(r'event=sim_apply no_order=OK-1 card_no=622848\*{6}1474 .*answer=0000',
                     s.logs()), 'one log line with the masked card')
        no_personal_data(s)
    finally:
        rcv.close()


CLASSES = {
    '1001': 'refused_nothing_stored', '1004': 'refused_nothing_stored',
    '1005': 'refused_nothing_stored', '1008': 'refused_nothing_stored',
    '3001': 'refused_nothing_stored', '4005': 'refused_nothing_stored',
    '4012': 'refused_nothing_stored', '4105': 'refused_nothing_stored',
    '9910': 'refused_nothing_stored', '9911': 'refused_nothing_stored',
    '9912': 'refused_nothing_stored', '9913': 'refused_nothing_stored',
    '4103': 'refused_may_resubmit', '4104': 'refused_may_resubmit',
    '9104': 'refused_may_resubmit',
    '4002': 'review', '4003': 'review', '4004': 'review',
    '1002': 'unknown', '2005': 'unknown', '4006': 'unknown', '4007': 'unknown',
    '4009': 'unknown', '9999': 'unknown',
}


@test
def every_scripted_code_classifies_as_protocol_md_says():
    script = {'C-' + c: {'apply': [{'ret_code': c}]} for c in CLASSES}
    s = PayoutSim(TempDir(), script)
    for code, cls in CLASSES.items():
        a = s.apply('C-' + code)
        eq((a['ret_code'], a['class'], a['signed']), (code, cls, True), 'C-%s: %r' % (code, a))
        if cls == 'review':
            ok(re.fullmatch(r'\d{6}', a['confirm_code']), 'confirm_code on ' + code)
        q = s.query(no_order='C-' + code)
        eq((q['ret_code'], 'sign' in q), ('8901', False), 'nothing created behind ' + code)
    eq(len(s.records()), len(CLASSES), 'one record per request')


@test
def unsigned_badly_signed_late_and_missing_answers():
    script = {
        'U-1': {'apply': [{'ret_code': '1004', 'unsigned': True}]},
        'U-2': {'apply': [{'ret_code': '4005', 'bad_signature': True}]},
        'U-3': {'apply': [{'no_answer': True, 'hold_ms': 20000, 'created': True}]},
        'U-4': {'apply': [{'ret_code': '0000', 'delay_ms': 1500}]},
        'U-5': {'apply': [{'ret_code': '9999', 'http_status': 503}]},
    }
    s = PayoutSim(TempDir(), script)
    a = s.apply('U-1')
    eq((a['class'], a['signed'], a['ret_code']), ('unknown', False, '1004'), 'unsigned 1004')
    ok('"sign"' not in a['body'], 'really unsigned')
    a = s.apply('U-2')
    eq((a['class'], a['signed']), ('unknown', False), 'badly signed 4005: %r' % a)
    a = s.apply('U-3', '--timeout-ms', '1000')
    eq((a['class'], a['http_status'], a['ret_code']), ('unknown', 0, ''), 'no answer: %r' % a)
    eq(s.query(no_order='U-3')['ret_code'], '0000', 'but the payout was created behind it')
    a = s.apply('U-4')
    eq((a['class'], a['ret_code']), ('accepted', '0000'), 'late 0000 still arrives')
    a = s.apply('U-5')
    eq((a['class'], a['http_status']), ('unknown', 503), 'HTTP 503')
    eq(s.records('U-3')[0]['answer'], 'no_answer', 'recorded as not answered')


@test
def unknown_code_with_the_payout_created_is_found_by_query_and_refused_again():
    codes = ('9999', '1002', '2005', '4006')
    s = PayoutSim(TempDir(), {'K-' + c: {'apply': [{'ret_code': c, 'created': True}],
                                         'result': {'delay_ms': 600000}} for c in codes})
    for c in codes:
        n = 'K-' + c
        a = s.apply(n)
        eq((a['class'], a['ret_code'], a['oid_paybill']), ('unknown', c, ''), c)
        q = s.query(no_order=n)
        eq((q['ret_code'], q['result_pay'], q['money_order']), ('0000', 'PROCESSING', '49.65'),
           'the query knows %s: %r' % (n, q))
        ok(s.verifies(json.dumps(q, ensure_ascii=False)), 'query answer signed')
        b = s.apply(n)
        eq((b['ret_code'], b['class']), ('2005', 'unknown'), 'second request: already processing')
        eq([r['created'] for r in s.records(n)], [True, False], n + ' created exactly once')


@test
def second_request_for_a_created_order_is_1002_or_2005():
    s = PayoutSim(TempDir(), {'D-1': {'result': {'delay_ms': 600000}},
                              'D-3': {'apply': [{'ret_code': '4002'}]}})
    eq(s.apply('D-1')['ret_code'], '0000', 'first D-1')
    eq(s.apply('D-1')['ret_code'], '2005', 'D-1 still processing: 2005')
    eq(s.apply('D-2')['ret_code'], '0000', 'first D-2 (result at once)')
    wait_for(lambda: s.query(no_order='D-2').get('result_pay') == 'SUCCESS', 'D-2 final')
    eq(s.apply('D-2')['ret_code'], '1002', 'D-2 has its result: order number used')
    eq(s.apply('D-3')['class'], 'review', 'D-3 in review')
    eq(s.apply('D-3')['ret_code'], '2005', 'D-3 awaiting review: 2005')
    eq(len([r for r in s.records() if r['created']]), 2, 'two payouts created in all')


@test
def refused_orders_may_be_sent_again_as_protocol_md_says():
    s = PayoutSim(TempDir(), {'R-1': {'apply': [{'ret_code': '9910'}, {'ret_code': '0000'}]},
                              'R-2': {'apply': [{'ret_code': '9104'}, {'ret_code': '0000'}]}})
    eq(s.apply('R-1')['class'], 'refused_nothing_stored', 'R-1 refused')
    eq(s.apply('R-1', '--money', '12.00')['ret_code'], '0000', 'nothing stored: sent as new')
    eq(s.apply('R-2')['class'], 'refused_may_resubmit', 'R-2 balance too low')
    b = s.apply('R-2', '--money', '12.00')
    eq((b['ret_code'], b['class']), ('1004', 'refused_nothing_stored'), 'changed fields: 1004')
    eq(s.apply('R-2')['ret_code'], '0000', 'identical resubmission accepted')
    eq([r['answer'] for r in s.records('R-2')], ['9104', '1004', '0000'], 'R-2 requests')


@test
def review_then_the_right_code_creates_the_payout():
    rcv = Receiver()
    try:
        s = PayoutSim(TempDir(), {'V-1': {'apply': [{'ret_code': '4002'}]}}, extra=FAST)
        s.notify_url = rcv.url
        a = s.apply('V-1')
        eq((a['class'], a['ret_code']), ('review', '4002'), 'review')
        eq(s.query(no_order='V-1')['ret_code'], '8901', 'nothing created yet')
        c = s.confirm('V-1', a['confirm_code'])
        eq((c['class'], c['ret_code'], c['signed']), ('accepted', '0000', True),
           'confirmed: %r' % c)
        ok(c['oid_paybill'], 'oid_paybill on the confirm answer')
        q = s.query(oid_paybill=c['oid_paybill'])
        eq((q['ret_code'], q['no_order']), ('0000', 'V-1'), 'query by oid_paybill alone')
        wait_for(lambda: rcv.bodies, 'notification after the confirm', timeout=30)
        eq(json.loads(rcv.bodies[0])['oid_paybill'], c['oid_paybill'], 'notified')
        eq(s.confirm('V-1', a['confirm_code'])['ret_code'], '4001', 'no longer in review')
    finally:
        rcv.close()


@test
def wrong_codes_count_down_then_close():
    s = PayoutSim(TempDir(), {'W-1': {'apply': [{'ret_code': '4003'}]}})
    a = s.apply('W-1')
    wrong = '%06d' % ((int(a['confirm_code']) + 1) % 1000000)
    for left in range(5, 0, -1):
        c = s.confirm('W-1', wrong)
        eq((c['ret_code'], c['class'], c['wrong_code']), ('4011', 'review', True), 'wrong code')
        ok(str(left) in c['ret_msg'], 'tries left (%d) in ret_msg: %r' % (left, c['ret_msg']))
    c = s.confirm('W-1', wrong)
    eq((c['ret_code'], c['class']), ('4008', 'closed'), 'sixth wrong code closes')
    eq(s.confirm('W-1', a['confirm_code'])['ret_code'], '4001', 'closed: not awaiting review')
    eq(s.query(no_order='W-1')['ret_code'], '8901', 'never created')
    eq(s.apply('W-1')['ret_code'], '1002', 'the closed number is used')


@test
def expired_code_closes_and_unknown_order_is_4001():
    s = PayoutSim(TempDir(), {'E-1': {'apply': [{'ret_code': '4004'}]}},
                  extra=['--confirm-ttl', '1s'])
    a = s.apply('E-1')
    eq(a['class'], 'review', 'review')
    time.sleep(1.5)  # past the validity: a lower bound, never flaky
    c = s.confirm('E-1', a['confirm_code'])
    eq((c['ret_code'], c['class']), ('4010', 'closed'), 'expired: %r' % c)
    eq(s.confirm('E-1', a['confirm_code'])['ret_code'], '4001', 'closed now')
    eq(s.confirm('NEVER-1', '123456')['ret_code'], '4001', 'unknown order')


@test
def tampered_requests_are_refused():
    tmp = TempDir()
    s = PayoutSim(tmp)
    other, _ = keypair(tmp, 'impostor', bits=2048)
    a = s.apply('T-1', '--tamper', 'hmac')
    eq((a['ret_code'], a['signed'], a['class']), ('4007', True, 'unknown'), 'HMAC: %r' % a)
    a = s.apply('T-2', '--tamper', 'plaintext')
    eq((a['ret_code'], a['class']), ('1001', 'refused_nothing_stored'), 're-encrypted: %r' % a)
    a = s.apply('T-3', key=other)
    eq((a['ret_code'], a['class']), ('1001', 'refused_nothing_stored'), 'wrong merchant key')
    a = s.apply('T-4', '--tamper', 'partner')
    eq((a['ret_code'], a['class']), ('3001', 'refused_nothing_stored'), 'another merchant')
    a = s.apply('T-5', '--notify-url', 'http://127.0.0.1/' + 'x' * 60)
    eq((a['ret_code'], a['class']), ('1004', 'refused_nothing_stored'), 'notify_url > 64')
    for n in ('T-1', 'T-2', 'T-3', 'T-4', 'T-5'):
        eq(s.query(no_order=n)['ret_code'], '8901', n + ' never created')
    eq(s.records('T-1'), [], 'an undecryptable request is not recorded')
    eq(s.apply('T-2')['ret_code'], '0000', 'the genuine request after the forged one')
    ok(re.search(r'event=sim_apply .*answer=4007 error=', s.logs()), 'HMAC refusal logged')


@test
def queries_follow_the_payout_and_name_it_by_oid_paybill():
    s = PayoutSim(TempDir(), {
        'Q-1': {'result': {'result_pay': 'FAILURE', 'reason': '户名不符', 'delay_ms': 4000,
                           'lose_notifications': True}},
        'Q-2': [{'ret_code': '8901', 'ret_msg': '没有记录', 'sign': 'none'}]})
    a = s.apply('Q-1')
    q = s.query(no_order='Q-1')
    eq((q['ret_code'], q['result_pay'], q['oid_paybill']), ('0000', 'PROCESSING', a['oid_paybill']),
       'PROCESSING before the result: %r' % q)
    q = wait_for(lambda: (lambda x: x if x['result_pay'] != 'PROCESSING' else None)(
        s.query(oid_paybill=a['oid_paybill'])), 'the result', timeout=60)
    eq((q['result_pay'], q['no_order'], q['memo'], q['info_order']),
       ('FAILURE', 'Q-1', '户名不符', '佣金_户名不符'), 'FAILURE by oid_paybill: %r' % q)
    ok(s.verifies(json.dumps(q, ensure_ascii=False)), 'signed')
    ok('event=sim_notified no_order=Q-1' not in s.logs(), 'notifications lost as scripted')
    # a scripted query list still wins over what the simulator knows
    s.apply('Q-2')
    eq(s.query(no_order='Q-2')['ret_code'], '8901', 'scripted 8901 for a created payout')
    q = s.query(oid_paybill='2099010100000001')
    eq((q['ret_code'], 'sign' in q), ('8901', False), 'unknown bill: unsigned 8901')
    no_personal_data(s)


if __name__ == '__main__':
    run()
