#!/usr/bin/env python3
"""The notification receiver as LianLian and an operator see it: answers, rows, journal, logs."""
import glob
import http.client
import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from harness import (CTL, OID_PARTNER, VECTORS, Daemon, Env, TempDir, eq, keypair,  # noqa: E402
                     notification, ok, raw_http, run, sh, sign, sign_batch, status_of, test,
                     wait_for)

ACK = {'ret_code': '0000', 'ret_msg': '交易成功'}


# ---- LianLian's genuine vectors -------------------------------------------------------------

def vector_files():
    files = sorted(glob.glob(os.path.join(VECTORS, '*.json')))
    ok(len(files) >= 3, 'vectors present')
    return files


@test
def genuine_vectors_verify_with_lianpayctl():
    for key in ('lianlian_public_key.pem', 'lianlian_public_key.b64'):
        for f in vector_files():
            r = sh([CTL, 'verify', '-v', '--public-key', os.path.join(VECTORS, key), f],
                   check=False)
            eq(r.returncode, 0, f + ' exit status')
            with open(f.replace('.json', '.signstr'), encoding='utf-8') as s:
                expected = s.read()
            ok('signed string: ' + expected + '\n' in r.stdout, 'signed string of ' + f)


@test
def genuine_vectors_fail_when_a_byte_changes():
    key = os.path.join(VECTORS, 'lianlian_public_key.pem')
    for f in vector_files():
        with open(f, encoding='utf-8') as fh:
            text = fh.read()
        msg = json.loads(text)
        for k, v in msg.items():
            if k == 'sign' or not v:
                continue
            # change one character of each signed value (first and last positions)
            for pos in (0, len(v) - 1):
                c = v[pos]
                nc = 'X' if c != 'X' else 'Y'
                tampered = dict(msg)
                tampered[k] = v[:pos] + nc + v[pos + 1:]
                r = sh([CTL, 'verify', '--public-key', key], input=json.dumps(tampered,
                       ensure_ascii=False), check=False)
                eq(r.returncode, 1, 'tampered %s at %d in %s' % (k, pos, f))
        # a changed signature byte
        sig = msg['sign']
        tampered = dict(msg, sign=('A' if sig[0] != 'A' else 'B') + sig[1:])
        r = sh([CTL, 'verify', '--public-key', key], input=json.dumps(tampered), check=False)
        eq(r.returncode, 1, 'tampered sign of ' + f)


@test
def verify_exit_codes_for_unusable_input():
    key = os.path.join(VECTORS, 'lianlian_public_key.pem')
    for bad in ('', 'not json', '{"a":{"b":1}}', '{"a":"1","a":"2","sign":"x"}', '[1]'):
        r = sh([CTL, 'verify', '--public-key', key], input=bad, check=False)
        eq(r.returncode, 2, 'exit status for %r' % bad)
        ok(r.stderr.startswith('lianpayctl: ') and r.stderr.count('\n') == 1,
           'one-line reason for %r: %r' % (bad, r.stderr))


@test
def genuine_vector_reaches_validation_in_the_daemon():
    # LianLian's real key: its vectors verify, but they are apply answers, not notifications,
    # so the daemon must refuse them for their fields, not for their signature.
    tmp = TempDir()
    d = Daemon(tmp, os.path.join(VECTORS, 'lianlian_public_key.b64'))
    with open(os.path.join(VECTORS, 'response_8888.json'), encoding='utf-8') as f:
        body = f.read()
    status, answer = d.post(body)
    eq(status, 400, 'status')
    ok(answer['ret_code'] != '0000' and answer['ret_msg'] != 'bad signature',
       'refused for a field, not the signature: %r' % answer)
    tampered = body.replace('LLianPay-YT-Test-12345', 'LLianPay-YT-Test-12346')
    status, answer = d.post(tampered)
    eq((status, answer['ret_msg']), (400, 'bad signature'), 'tampered vector')
    with d.db() as c:
        eq(c.execute('SELECT count(*) FROM payments').fetchone()[0], 0, 'rows')


# ---- results ------------------------------------------------------------------------------

@test
def success_failure_cancel_are_recorded():
    e = Env()
    for no, result in (('S-1', 'SUCCESS'), ('F-1', 'FAILURE'), ('C-1', 'CANCEL')):
        extra = {'info_order': 'payout_卡号错误'} if result == 'FAILURE' else {}
        status, answer = e.send(notification(no, result, **extra))
        eq((status, answer), (200, ACK), no)
        row = e.d.row(no)
        eq(row['result_pay'], result, no + ' result_pay')
        eq(row['source'], 'notify', 'source')
        eq(row['amount_fen'], 4965, 'amount_fen')
        eq(row['money_order'], '49.65', 'money_order')
        eq(row['notify_count'], 1, 'notify_count')
        eq(row['oid_partner'], OID_PARTNER, 'oid_partner')
        ok(row['final_at'] is not None and row['first_notified_at'] is not None, 'timestamps')
        ok(row['registered_at'] is None, 'not registered')
        evs = e.d.events(no)
        eq([(x['outcome'], x['result_pay'], x['seen_count']) for x in evs],
           [('applied', result, 1)], 'journal')
        eq(evs[0]['remote_addr'], '127.0.0.1', 'remote_addr')
        ok(json.loads(evs[0]['body'])['no_order'] == no, 'body journalled as received')
    eq(e.d.row('F-1')['info_order'], 'payout_卡号错误', 'failure reason kept')
    eq(e.d.row('S-1')['settle_date'], '20261122', 'settle_date')
    lines = e.d.log_lines('notify')
    eq(len(lines), 3, 'one log line per notification')
    ok(all('outcome=applied' in l and 'status=200' in l for l in lines), lines)


@test
def identical_redelivery_is_counted_and_journalled_once():
    e = Env()
    body = sign(notification('R-1'), e.ll_priv)
    for _ in range(3):
        eq(e.d.post(body), (200, ACK), 'answer')
    row = e.d.row('R-1')
    eq(row['notify_count'], 3, 'notify_count')
    evs = e.d.events('R-1')
    eq(len(evs), 1, 'one journal row')
    eq((evs[0]['outcome'], evs[0]['seen_count']), ('applied', 3), 'seen_count')
    eq(len(e.d.log_lines('notify')), 3, 'each delivery logged')
    eq(sum('redelivery=1' in l for l in e.d.log_lines('notify')), 2, 'redeliveries marked')


@test
def cancel_after_success_is_applied():
    e = Env()
    eq(e.send(notification('X-1', 'SUCCESS')), (200, ACK), 'success')
    eq(e.send(notification('X-1', 'CANCEL')), (200, ACK), 'cancel')
    row = e.d.row('X-1')
    eq(row['result_pay'], 'CANCEL', 'result_pay')
    eq(row['needs_review'], 0, 'no review')
    eq(row['notify_count'], 2, 'notify_count')
    eq([x['outcome'] for x in e.d.events('X-1')], ['applied', 'applied'], 'journal')


@test
def stale_result_never_moves_an_order_back():
    e = Env()
    success = sign(notification('ST-1', 'SUCCESS'), e.ll_priv)
    eq(e.d.post(success), (200, ACK), 'success')
    eq(e.send(notification('ST-1', 'CANCEL')), (200, ACK), 'cancel')
    eq(e.d.post(success), (200, ACK), 'replayed success still acknowledged')
    row = e.d.row('ST-1')
    eq(row['result_pay'], 'CANCEL', 'still CANCEL')
    # the replay is byte-identical to the first SUCCESS: counted on its journal row
    evs = e.d.events('ST-1')
    eq([(x['result_pay'], x['outcome'], x['seen_count']) for x in evs],
       [('SUCCESS', 'applied', 2), ('CANCEL', 'applied', 1)], 'journal')
    # a re-signed (not identical) old SUCCESS is journalled as stale
    eq(e.send(notification('ST-1', 'SUCCESS', info_order='again')), (200, ACK), 'stale')
    eq(e.d.events('ST-1')[-1]['outcome'], 'stale', 'stale outcome')
    eq(e.d.row('ST-1')['result_pay'], 'CANCEL', 'still CANCEL')


@test
def conflicting_result_is_flagged_for_review():
    e = Env()
    eq(e.send(notification('CF-1', 'SUCCESS')), (200, ACK), 'success')
    eq(e.send(notification('CF-1', 'FAILURE')), (200, ACK), 'failure acknowledged')
    row = e.d.row('CF-1')
    eq(row['result_pay'], 'SUCCESS', 'result unchanged')
    eq(row['needs_review'], 1, 'needs_review')
    ok(row['review_reason'] and 'FAILURE' in row['review_reason'], row['review_reason'])
    eq(e.d.events('CF-1')[-1]['outcome'], 'conflict', 'journal outcome')
    with e.d.db() as c:
        ok(c.execute("SELECT 1 FROM review_queue WHERE no_order='CF-1'").fetchone(),
           'in the review queue view')
    ok(any('outcome=conflict' in l and 'level=warning' in l for l in e.d.log_lines('notify')),
       'warning logged')


@test
def amount_mismatch_on_registered_order():
    e = Env()
    r = sh([CTL, '-c', e.d.config, 'register', 'M-1', '100.00', '20261122083000'])
    ok('registered' in r.stdout, r.stdout)
    eq(e.send(notification('M-1', 'SUCCESS', money='99.00')), (200, ACK), 'acknowledged')
    row = e.d.row('M-1')
    eq(row['result_pay'], None, 'result unchanged')
    eq(row['needs_review'], 1, 'needs_review')
    eq(row['amount_fen'], 10000, 'registered amount kept')
    ok('99.00' in row['review_reason'] and '100.00' in row['review_reason'], row['review_reason'])
    eq(e.d.events('M-1')[-1]['outcome'], 'mismatch', 'journal outcome')
    # the same amount written differently is not a mismatch
    sh([CTL, '-c', e.d.config, 'register', 'M-2', '100', '20261122083000'])
    eq(e.send(notification('M-2', 'SUCCESS', money='100.00')), (200, ACK), 'same amount')
    eq((e.d.row('M-2')['result_pay'], e.d.row('M-2')['needs_review']), ('SUCCESS', 0), 'M-2')


@test
def registered_with_plain_sql_then_notified():
    e = Env()
    with e.d.db() as c:
        c.execute("INSERT INTO payments(no_order, money_order, dt_order) "
                  "VALUES ('SQL-1', '12.30', '20261122083000')")
    eq(e.send(notification('SQL-1', 'SUCCESS', money='12.3')), (200, ACK), 'answer')
    row = e.d.row('SQL-1')
    eq((row['result_pay'], row['needs_review'], row['amount_fen']), ('SUCCESS', 0, 1230), 'row')
    ok(row['registered_at'] is not None, 'registered_at kept')


# ---- refusals -----------------------------------------------------------------------------

def refused(e, body, status, reason=None, **kw):
    st, answer = e.d.post(body, **kw)
    eq(st, status, 'status for %r' % (body[:80] if isinstance(body, str) else body))
    ok(answer is not None and answer.get('ret_code') != '0000' and answer.get('ret_msg'),
       'JSON refusal: %r' % answer)
    if reason:
        ok(reason in answer['ret_msg'], 'reason %r in %r' % (reason, answer))
    return answer


@test
def tampered_value_is_refused():
    e = Env()
    body = sign(notification('T-1', 'FAILURE'), e.ll_priv)
    refused(e, body.replace('"FAILURE"', '"SUCCESS"'), 400, 'bad signature')
    refused(e, body.replace('49.65', '49.66'), 400, 'bad signature')
    eq(e.d.row('T-1'), None, 'no row')
    lines = e.d.log_lines('reject')
    eq(len(lines), 2, 'one log line per rejection')
    ok(all('reason="bad signature"' in l and 'body_sha256=' in l and 'remote=127.0.0.1' in l
           for l in lines), lines)


@test
def foreign_key_is_refused():
    e = Env()
    other_priv, _ = keypair(e.tmp, 'mallory')
    refused(e, sign(notification('K-1'), other_priv), 400, 'bad signature')
    eq(e.d.row('K-1'), None, 'no row')


@test
def duplicate_key_is_refused():
    e = Env()
    body = sign(notification('D-1', 'FAILURE'), e.ll_priv)
    # a second result_pay after the signed one: a parser keeping the last would see SUCCESS
    refused(e, body[:-1] + ',"result_pay":"SUCCESS"}', 400, 'duplicate')
    refused(e, body[:-1] + ',"result\\u005fpay":"SUCCESS"}', 400, 'duplicate')
    refused(e, body[:-1] + ',"RESULT_PAY":"SUCCESS"}', 400, 'duplicate')
    eq(e.d.row('D-1'), None, 'no row')


@test
def unsigned_extra_field_is_refused():
    e = Env()
    body = sign(notification('U-1'), e.ll_priv)
    refused(e, body[:-1] + ',"memo":"hi"}', 400, 'bad signature')


@test
def numeric_money_order_keeps_its_text():
    e = Env()
    fields = notification('N-1', money='MONEY')
    text = json.dumps(fields, ensure_ascii=False).replace('"MONEY"', '200.10')
    body = sign(text, e.ll_priv)
    ok('"money_order":200.10' in body, body)
    eq(e.d.post(body), (200, ACK), 'answer')
    row = e.d.row('N-1')
    eq((row['money_order'], row['amount_fen']), ('200.10', 20010), 'money')
    # the same message with the number rewritten as 200.1 is a different signed string
    refused(e, body.replace('200.10', '200.1'), 400, 'bad signature')
    refused(e, sign(text.replace('200.10', '2.0e2'), e.ll_priv), 400, 'money_order')


@test
def escaped_chinese_is_decoded_before_verification():
    e = Env()
    body = sign(notification('E-1', 'FAILURE', info_order='付款失败_户名不符'), e.ll_priv)
    escaped = json.dumps(json.loads(body), ensure_ascii=True)
    ok('\\u4ed8' in escaped, 'escaped')
    eq(e.d.post(escaped), (200, ACK), 'answer')
    eq(e.d.row('E-1')['info_order'], '付款失败_户名不符', 'stored decoded')


@test
def empty_value_is_not_signed():
    e = Env()
    fields = notification('EV-1', 'FAILURE', settle_date='')
    body = sign(fields, e.ll_priv)
    eq(e.d.post(body), (200, ACK), 'answer')
    eq(e.d.row('EV-1')['settle_date'], None, 'empty settle_date stored as NULL')
    # an empty member added later is not part of the signed string either: still authentic
    body2 = sign(notification('EV-2', 'FAILURE'), e.ll_priv)
    eq(e.d.post(body2[:-1] + ',"memo":""}'), (200, ACK), 'empty extra member')


@test
def another_merchants_message_is_refused():
    e = Env()
    refused(e, sign(notification('O-1', oid_partner='201408071000001539'), e.ll_priv), 400,
            'oid_partner')
    eq(e.d.row('O-1'), None, 'no row')


@test
def invalid_fields_are_refused():
    e = Env()
    # (sign_type other than RSA is covered by the payresult unit tests: lianpayctl sign always
    # writes RSA, so it cannot make such a message.)
    cases = [
        ({'result_pay': 'PROCESSING'}, 'result_pay'),
        ({'result_pay': 'success'}, 'result_pay'),
        ({'money_order': '0.00'}, 'money_order'),
        ({'money_order': '-1.00'}, 'money_order'),
        ({'money_order': '1.234'}, 'money_order'),
        ({'dt_order': '2026112208300'}, 'dt_order'),
        ({'dt_order': '20261322083000'}, 'dt_order'),
        ({'no_order': 'a' * 33}, 'no_order'),
        ({'no_order': 'a&b=c'}, 'no_order'),
        ({'oid_paybill': '12ab'}, 'oid_paybill'),
        ({'settle_date': '2026-11-22'}, 'settle_date'),
    ]
    for change, reason in cases:
        fields = notification('V-1')
        fields.update(change)
        refused(e, sign(fields, e.ll_priv), 400, reason)
    with e.d.db() as c:
        eq(c.execute('SELECT count(*) FROM payments').fetchone()[0], 0, 'rows')


@test
def oversize_body_is_refused_before_reading():
    e = Env(sections={'server': {'max_body': '1024'}})
    refused(e, '{"a":"' + 'x' * 2000 + '"}', 413)
    # announced, not sent: the answer comes without waiting for the body
    raw = raw_http(e.d.port, b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\n'
                   b'Content-Length: 100000000\r\n\r\n', read_all=False)
    eq(status_of(raw), 413, 'announced oversize')
    # chunked, no Content-Length, growing past the limit
    chunk = b'x' * 600
    req = (b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
           (b'%x\r\n' % len(chunk) + chunk + b'\r\n') * 3 + b'0\r\n\r\n')
    eq(status_of(raw_http(e.d.port, req, read_all=False)), 413, 'chunked oversize')
    # and the daemon still serves
    eq(e.send(notification('B-1')), (200, ACK), 'still serving')


@test
def garbage_bodies_are_refused():
    e = Env()
    for body in ('', 'hello', '{', '{}', '[]', 'null', '{"a":1}x', b'\xff\xfe{}', '{"a":[1]}',
                 '{"a":{"b":"c"}}', 'oid_partner=1&sign=2', '"string"'):
        refused(e, body, 400)
    eq(e.send(notification('G-1')), (200, ACK), 'still serving')


@test
def wrong_method_and_path():
    e = Env()
    st, answer = e.d.request(method='GET')
    eq(st, 405, 'GET status')
    eq(answer['ret_code'], '9999', 'GET body')
    eq(e.d.request(method='PUT', body='{}')[0], 405, 'PUT')
    st, answer = e.d.request(path='/other', body='{}')
    eq((st, answer['ret_code']), (404, '9999'), 'wrong path')
    eq(e.d.request(path='/lianpay/notify/x', body='{}')[0], 404, 'longer path')
    raw = raw_http(e.d.port, b'GET /lianpay/notify HTTP/1.1\r\nHost: x\r\nConnection: close'
                   b'\r\n\r\n')
    ok(b'Allow: POST' in raw, 'Allow header')


@test
def state_is_kept_across_a_restart():
    e = Env()
    eq(e.send(notification('P-1', 'SUCCESS')), (200, ACK), 'success')
    eq(e.d.stop(), 0, 'clean exit status')
    e.d.start()
    eq(e.d.row('P-1')['result_pay'], 'SUCCESS', 'kept')
    eq(e.send(notification('P-1', 'CANCEL')), (200, ACK), 'cancel after restart')
    eq(e.d.row('P-1')['result_pay'], 'CANCEL', 'cancel applied')


@test
def forwarded_for_believed_only_from_trusted_proxies():
    e = Env(sections={'server': {'allow_from': '115.236.102.36/32 ::1'}})
    # 127.0.0.1 is a trusted proxy by default: its X-Forwarded-For decides
    eq(e.send(notification('XF-1'), headers={'X-Forwarded-For': '115.236.102.36'}),
       (200, ACK), 'allowed source behind proxy')
    eq(e.d.events('XF-1')[0]['remote_addr'], '115.236.102.36', 'remote_addr')
    refused(e, sign(notification('XF-2'), e.ll_priv), 403)
    refused(e, sign(notification('XF-3'), e.ll_priv), 403,
            headers={'X-Forwarded-For': '10.1.2.3'})
    # a client cannot prepend a forged address: the right-most untrusted one counts
    refused(e, sign(notification('XF-4'), e.ll_priv), 403,
            headers={'X-Forwarded-For': '115.236.102.36, 10.1.2.3'})
    # not from a trusted proxy: X-Forwarded-For is ignored, and the source, not allowed, is
    # closed at accept time without a byte read or answered
    e2 = Env(sections={'server': {'trusted_proxies': '192.0.2.1', 'allow_from': '115.236.102.36'}})
    body = sign(notification('XF-5'), e2.ll_priv).encode()
    eq(raw_http(e2.d.port, b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\n'
                b'X-Forwarded-For: 115.236.102.36\r\nContent-Length: %d\r\n\r\n' % len(body)
                + body), b'', 'no answer')
    eq(e2.d.row('XF-5'), None, 'not stored')
    e2.d.wait_log(r'level=warning event=reject reason="source not allowed" '
                  r'kind=source_not_allowed remote=127.0.0.1 connection=closed')


@test
def under_concurrent_load_each_line_is_written_before_its_answer():
    """Many connections at once, so that the writer commits several messages together and the
    HTTP threads answer them together (one write of their lines, httpd.c's answer queue): each
    client that gets 0000 finds the message's line already in the log, every message has exactly
    one line and one row, and clients that leave without reading their answer neither lose their
    message's line nor hold up the answers of the others."""
    e = Env()
    clients, per_client = 32, 12
    names = ['CL-%02d-%02d' % (c, i) for c in range(clients) for i in range(per_client)]
    bodies = dict(zip(names, sign_batch(e.ll_priv, [notification(n) for n in names])))
    late, errors = [], []

    def client(c):
        conn = http.client.HTTPConnection('127.0.0.1', e.d.port, timeout=30)
        for i in range(per_client):
            name = 'CL-%02d-%02d' % (c, i)
            body = bodies[name].encode('utf-8')
            if c % 4 == 3 and i % 3 == 2:
                # sends and leaves at once: its answer has no one to go to
                s = socket.create_connection(('127.0.0.1', e.d.port), timeout=30)
                s.sendall(b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\n'
                          b'Content-Length: %d\r\n\r\n' % len(body) + body)
                s.close()
                continue
            try:
                conn.request('POST', '/lianpay/notify', body=body,
                             headers={'Content-Type': 'text/json;charset=utf-8'})
                resp = conn.getresponse()
                data = json.loads(resp.read().decode('utf-8'))
            except (OSError, http.client.HTTPException, ValueError) as ex:
                errors.append('%s: %r' % (name, ex))
                return
            if (resp.status, data) != (200, ACK):
                errors.append('%s: %d %r' % (name, resp.status, data))
            elif ' no_order=%s ' % name not in e.d.logs():
                late.append(name)
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    eq(errors, [], 'every request kept its connection and was acknowledged')
    eq(late, [], 'no answer came before its line')
    # the ones whose clients left are stored and logged all the same
    wait_for(lambda: len(e.d.log_lines('notify')) >= len(names), 'a line per message')
    lines = e.d.log_lines('notify')
    eq(sorted(l.split(' no_order=')[1].split(' ')[0] for l in lines), sorted(names),
       'exactly one notify line per message')
    ok(all(' status=200 ' in l for l in lines), 'all stored')
    with e.d.db() as c:
        eq(c.execute("SELECT count(*) FROM payment_events WHERE no_order GLOB 'CL-*'")
           .fetchone()[0], len(names), 'one event per message')
    # and the daemon still answers at once: no connection was left suspended
    eq(e.send(notification('CL-AFTER')), (200, ACK), 'a request after them')


if __name__ == '__main__':
    run()
