#!/usr/bin/env python3
"""Hostile input: malformed HTTP and malformed or monstrous JSON. Each case checks the exact
answer (or that the connection is dropped without one, where no HTTP answer is possible), that
nothing reached the database, and that the daemon then still serves a real notification.

These are the cases beyond test_receiver.py's. Statuses below 400-level JSON refusals are
libmicrohttpd's own answers (HTML bodies): LianLian never sends such requests, so only the
status matters there.
"""
import atexit
import json
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (SIM, Daemon, TempDir, eq, notification, ok, raw_http, run, sh,  # noqa: E402
                     sign_batch, status_of, test)

ACK = {'ret_code': '0000', 'ret_msg': '交易成功'}

# One LianLian key pair and a stock of signed notifications for the whole file: every case starts
# its own daemon, none needs its own key.
_keys = tempfile.mkdtemp(prefix='lianpay-hostile-')
atexit.register(shutil.rmtree, _keys, True)
LL_PRIV = os.path.join(_keys, 'lianlian_private.pem')
LL_PUB = os.path.join(_keys, 'lianlian_public.pem')
sh([SIM, 'keygen', LL_PRIV, LL_PUB])

_special = {
    # authentic, so only field validation can refuse them
    'huge_money': dict(notification('HM-1'), money_order='4' * 5000 + '.65'),
    'long_info': dict(notification('LI-1'), info_order='长' * 300),
    'long_no_order': notification('L' * 100),
    'empty_fields': dict(notification('EF-1'), **{'f%d' % i: '' for i in range(10000)}),
}
_fresh = [notification('HX-%03d' % i) for i in range(200)]
_signed = sign_batch(LL_PRIV, _fresh + list(_special.values()))
SIGNED = dict(zip([m['no_order'] for m in _fresh], _signed[:len(_fresh)]))
SPECIAL = dict(zip(_special, _signed[len(_fresh):]))
# the huge number must stay a JSON number, as LianLian's Java would write it
SPECIAL['huge_money'] = SPECIAL['huge_money'].replace('"%s"' % ('4' * 5000 + '.65'),
                                                      '4' * 5000 + '.65')
_next = iter(sorted(SIGNED))


def fresh():
    """A signed notification never sent before: (no_order, body bytes)."""
    n = next(_next)
    return n, SIGNED[n].encode('utf-8')


class Env:
    def __init__(self, **server):
        self.tmp = TempDir()
        self.d = Daemon(self.tmp, LL_PUB, sections={'server': server} if server else None)

    def post(self, body, **kw):
        return self.d.post(body, **kw)

    def raw(self, data, **kw):
        return raw_http(self.d.port, data, **kw)

    def alive(self):
        """The daemon still serves: a real notification is acknowledged and stored."""
        no, body = fresh()
        eq(self.d.post(body), (200, ACK), 'a real notification afterwards')
        eq(self.d.row(no)['result_pay'], 'SUCCESS', 'stored afterwards')

    def no_rows(self):
        with self.d.db() as c:
            eq(c.execute('SELECT count(*) FROM payments').fetchone()[0], 0, 'payments rows')
            eq(c.execute('SELECT count(*) FROM payment_events').fetchone()[0], 0, 'journal rows')


def refused(e, body, status, reason=None):
    st, answer = e.post(body)
    eq(st, status, 'status')
    ok(answer is not None and answer['ret_code'] == '9999', 'JSON refusal: %r' % (answer,))
    ok(all(c.isprintable() for c in answer['ret_msg']), 'printable reason: %r' % answer)
    if reason:
        ok(reason in answer['ret_msg'], 'reason %r in %r' % (reason, answer['ret_msg']))
    return answer


def request(body, extra=b'', path=b'/lianpay/notify', close=True):
    return (b'POST ' + path + b' HTTP/1.1\r\nHost: x\r\n' + extra +
            (b'Connection: close\r\n' if close else b'') +
            b'Content-Length: %d\r\n\r\n' % len(body) + body)


def statuses(raw):
    return [int(s) for s in __import__('re').findall(rb'HTTP/1\.1 (\d{3}) ', raw)]


def chunked(body, extra=b'', sizes=(7, 50)):
    parts, rest = [], body
    for n in sizes:
        parts.append(rest[:n])
        rest = rest[n:]
    parts.append(rest)
    out = b''.join(b'%x%s\r\n%s\r\n' % (len(p), extra, p) for p in parts if p)
    return out + b'0\r\n\r\n'


CHUNKED_HEAD = (b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                b'Transfer-Encoding: chunked\r\n\r\n')


# ---- message framing --------------------------------------------------------------------------

@test
def truncated_body():
    e = Env()
    no, body = fresh()
    refused(e, body[:len(body) // 2], 400, 'malformed JSON')
    eq(e.d.row(no), None, 'no row')
    e.alive()


@test
def content_length_longer_than_body_gets_no_answer():
    e = Env(connection_timeout='1s')
    no, body = fresh()
    data = (b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
            % (len(body) + 100) + body)
    eq(e.raw(data, timeout=15), b'', 'dropped after the timeout, no answer')
    eq(e.d.row(no), None, 'nothing stored')
    e.alive()


@test
def content_length_shorter_than_body():
    e = Env(connection_timeout='1s')
    no, body = fresh()
    data = b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n' + body
    raw = e.raw(data)
    # the first 50 bytes are the request; the rest is not a request at all
    eq(statuses(raw), [400], 'answers')
    eq(e.d.row(no), None, 'nothing stored')
    e.alive()


@test
def negative_content_length():
    e = Env()
    _, body = fresh()
    data = b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n' + body
    eq(status_of(e.raw(data)), 400, 'status')
    e.no_rows()
    e.alive()


@test
def non_numeric_content_length():
    e = Env()
    _, body = fresh()
    for cl in (b'12abc', b'0x10', b'1e3', b''):
        data = b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nContent-Length: ' + cl + b'\r\n\r\n'
        eq(status_of(e.raw(data + body)), 400, 'Content-Length %r' % cl)
    e.no_rows()
    e.alive()


@test
def two_content_lengths():
    e = Env()
    _, body = fresh()
    data = request(body, b'Content-Length: 5\r\n')
    eq(status_of(e.raw(data)), 400, 'status')
    ok(b'ambiguous message framing' in e.raw(data), 'reason')
    e.no_rows()
    e.alive()


@test
def content_length_with_chunked():
    # request smuggling: a proxy reading Content-Length and a server reading chunks disagree
    e = Env()
    _, body = fresh()
    data = (b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n'
            b'Transfer-Encoding: chunked\r\n\r\n' % len(body) + chunked(body))
    eq(status_of(e.raw(data)), 400, 'status')
    e.no_rows()
    e.alive()


@test
def unknown_transfer_encoding():
    e = Env()
    _, body = fresh()
    for te in (b'gzip', b'chunked, gzip', b'identity'):
        data = (b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ' + te +
                b'\r\n\r\n' + body)
        eq(status_of(e.raw(data)), 501, 'Transfer-Encoding %r' % te)
    e.no_rows()
    e.alive()


@test
def chunked_body_with_extensions_and_trailer_is_accepted():
    e = Env()
    no, body = fresh()
    data = CHUNKED_HEAD + chunked(body, b';ext=1')[:-2] + b'X-Trailer: 1\r\n\r\n'
    raw = e.raw(data)
    eq(status_of(raw), 200, 'status')
    ok(b'"0000"' in raw, raw)
    eq(e.d.row(no)['result_pay'], 'SUCCESS', 'stored')


@test
def malformed_chunk_size():
    e = Env()
    _, body = fresh()
    # (a chunk size beyond any limit is "too large" rather than malformed)
    for bad, status in ((b'zz', 400), (b'-5', 400), (b'', 400), (b'f' * 20, 413)):
        data = CHUNKED_HEAD + bad + b'\r\n' + body + b'\r\n0\r\n\r\n'
        eq(status_of(e.raw(data)), status, repr(bad))
    e.no_rows()
    e.alive()


@test
def chunked_body_far_over_max_body():
    # regression (found by the sanitizer build): refusing it hashed max_body bytes read from an
    # empty string literal for the log line
    e = Env()
    chunk = b'x' * 8000
    data = CHUNKED_HEAD + (b'%x\r\n' % len(chunk) + chunk + b'\r\n') * 8 + b'0\r\n\r\n'
    eq(status_of(e.raw(data)), 413, 'status')
    lines = e.d.log_lines('reject')
    ok(len(lines) == 1 and 'status=413' in lines[0], lines)
    ok('body_sha256=e3b0c44298fc1c14' in lines[0], 'the hash of nothing: %s' % lines[0])
    e.alive()


@test
def chunked_body_cut_off():
    e = Env(connection_timeout='1s')
    no, body = fresh()
    eq(e.raw(CHUNKED_HEAD + chunked(body)[:-30], timeout=15), b'', 'no answer')
    eq(e.d.row(no), None, 'nothing stored')
    e.alive()


@test
def connection_closed_in_the_middle_of_the_body():
    e = Env()
    no, body = fresh()
    s = socket.create_connection(('127.0.0.1', e.d.port))
    s.sendall(b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
              % len(body) + body[:100])
    s.close()
    time.sleep(0.2)
    eq(e.d.row(no), None, 'nothing stored')
    e.alive()


# ---- request line and headers -----------------------------------------------------------------

@test
def header_flood():
    e = Env()
    _, body = fresh()
    flood = b''.join(b'X-%d: 1\r\n' % i for i in range(2000))
    eq(status_of(e.raw(request(body, flood))), 431, 'status')
    e.no_rows()
    e.alive()


@test
def one_enormous_header():
    e = Env()
    _, body = fresh()
    eq(status_of(e.raw(request(body, b'X-Big: ' + b'a' * 100000 + b'\r\n'))), 431, 'status')
    e.no_rows()
    e.alive()


@test
def enormous_request_line():
    e = Env()
    _, body = fresh()
    eq(status_of(e.raw(request(body, path=b'/' + b'a' * 100000))), 414, 'status')
    e.alive()


@test
def garbage_request_line_is_dropped():
    e = Env(connection_timeout='1s')
    for junk in (b'GARBAGE\r\n\r\n', b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + b'\0' * 40,
                 b'\r\n\r\n\r\n'):
        # not HTTP: no answer can be framed, the connection is closed (at once, or when the
        # connection timeout expires for a request line that never ends)
        eq(e.raw(junk, timeout=20), b'', 'dropped: %r' % junk[:20])
    e.alive()


@test
def http_0_9_request():
    e = Env()
    eq(status_of(e.raw(b'POST /lianpay/notify\r\n\r\n')), 400, 'status')
    e.alive()


@test
def unsupported_http_version():
    e = Env()
    _, body = fresh()
    data = request(body).replace(b'HTTP/1.1', b'HTTP/2.0', 1)
    eq(status_of(e.raw(data)), 505, 'status')
    e.no_rows()
    e.alive()


@test
def header_without_colon():
    e = Env()
    _, body = fresh()
    eq(status_of(e.raw(request(body, b'NoColonHere\r\n'))), 400, 'status')
    e.no_rows()
    e.alive()


@test
def pipelined_notifications_are_answered_in_order():
    e = Env()
    nos, data = [], b''
    for _ in range(5):
        no, body = fresh()
        nos.append(no)
        data += request(body, close=False)
    data += b'GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    eq(statuses(e.raw(data)), [200] * 5 + [404], 'answers')
    for no in nos:
        eq(e.d.row(no)['result_pay'], 'SUCCESS', no)


@test
def pipelined_bad_then_good():
    e = Env()
    no, body = fresh()
    data = request(b'{"a":', close=False) + request(b'\xff', close=False) + request(body)
    eq(statuses(e.raw(data)), [400, 400, 200], 'answers')
    eq(e.d.row(no)['result_pay'], 'SUCCESS', 'the good one stored')


@test
def expect_100_continue():
    e = Env()
    no, body = fresh()
    raw = e.raw(request(body, b'Expect: 100-continue\r\n'))
    eq(statuses(raw), [100, 200], 'answers')
    eq(e.d.row(no)['result_pay'], 'SUCCESS', 'stored')
    # too large: refused before the client sends the body
    raw = e.raw(b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n'
                b'Content-Length: 10000000\r\n\r\n', read_all=False)
    eq(statuses(raw), [413], 'no 100 for an oversize body')
    e.alive()


@test
def other_methods():
    e = Env()
    for m in (b'HEAD', b'OPTIONS', b'DELETE', b'TRACE', b'PATCH', b'BREW'):
        raw = e.raw(m + b' /lianpay/notify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        eq(status_of(raw), 405, m.decode())
    e.alive()


@test
def path_variants():
    e = Env()
    _, body = fresh()
    for path in (b'/lianpay/x/../notify', b'//lianpay/notify', b'/LIANPAY/NOTIFY',
                 b'/lianpay/notify/', b'http://x/lianpay/notify', b'*'):
        eq(status_of(e.raw(request(body, path=path))), 404, path.decode())
    e.no_rows()
    # matched as sent: not percent-decoded, not cut at a NUL (raw or encoded)
    for path in (b'/lianpay/%6eotify', b'/lianpay/notify%00junk', b'/lianpay/notify\x00junk',
                 b'/lianpay%2fnotify', b'/lianpay/notify%3Fx', b'/lianpay/notify\x00?x=1'):
        raw = e.raw(request(body, path=path))
        eq(status_of(raw), 404, repr(path))
    e.no_rows()
    # a query string is not part of the path: LianLian's notify_url may carry one
    no, body = fresh()
    eq(status_of(e.raw(request(body, path=b'/lianpay/notify?from=lianlian'))), 200, 'query')
    eq(e.d.row(no)['result_pay'], 'SUCCESS', 'stored')


@test
def whitespace_before_a_header_colon_is_refused_and_closes():
    # libmicrohttpd takes "Content-Length : N" for a header named "Content-Length ": the
    # request then has no body, and what follows was parsed as a second request and stored.
    e = Env()
    for sep in (b' :', b'\t:', b'  :'):
        no, body = fresh()
        smuggled = request(body)
        data = (b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nContent-Length' + sep +
                b' %d\r\n\r\n' % len(smuggled) + smuggled)
        raw = e.raw(data)
        eq(statuses(raw), [400], 'one answer for %r' % sep)
        ok(b'Connection: close' in raw, 'closed: %r' % raw[:200])
        eq(e.d.row(no), None, 'the body was not taken for a request')
    # any header, and chunked framing too
    no, body = fresh()
    raw = e.raw(b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n'
                b'\r\n' + chunked(body))
    eq(statuses(raw), [400], 'Transfer-Encoding with a space')
    raw = e.raw(b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nX-Anything :1\r\n'
                b'Connection: close\r\nContent-Length: %d\r\n\r\n' % len(body) + body)
    eq(statuses(raw), [400], 'another header')
    e.no_rows()
    e.d.wait_log(r'level=warning event=reject status=400 reason="invalid header name '
                 r'\(whitespace before the colon\?\)" kind=bad_header')
    # the admin listener too
    raw = raw_http(e.d.admin_port, b'GET /livez HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n'
                                   b'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n')
    eq(statuses(raw), [400], 'admin: one answer, then closed')
    e.alive()


@test
def several_x_forwarded_for_lines():
    # HAProxy appends its own line after the client's: the client's line must not be believed.
    e = Env(allow_from='115.236.102.36')
    _, body = fresh()
    raw = e.raw(request(body, b'X-Forwarded-For: 115.236.102.36\r\n'
                              b'X-Forwarded-For: 10.9.9.9\r\n'))
    eq(status_of(raw), 400, 'status')
    ok(b'X-Forwarded-For' in raw, raw)
    e.no_rows()
    no, body = fresh()
    raw = e.raw(request(body, b'X-Forwarded-For: 115.236.102.36\r\n'))
    eq(status_of(raw), 200, 'one line from a trusted proxy')


@test
def malformed_x_forwarded_for():
    e = Env()
    _, body = fresh()
    for xff in (b'not-an-address', b'1.2.3.4, , 5.6.7.8', b'1.2.3.4' + b', 1.2.3.4' * 2000,
                b'999.1.1.1'):
        raw = e.raw(request(body, b'X-Forwarded-For: ' + xff + b'\r\n'))
        ok(status_of(raw) in (400, 431), 'refused %r: %r' % (xff[:30], raw[:40]))
    e.no_rows()
    e.alive()


# ---- the body: encoding -----------------------------------------------------------------------

@test
def invalid_utf8_in_value():
    e = Env()
    _, body = fresh()
    refused(e, body.replace(b'payout HX', b'payout \xff\xfeHX'), 400, 'invalid UTF-8')
    e.no_rows()
    e.alive()


@test
def invalid_utf8_in_key():
    e = Env()
    _, body = fresh()
    refused(e, body[:-1] + b',"\xc3\x28":"1"}', 400, 'invalid UTF-8')
    e.alive()


@test
def overlong_and_surrogate_utf8():
    e = Env()
    _, body = fresh()
    for bad in (b'\xc0\xaf', b'\xe0\x80\xaf', b'\xed\xa0\x80', b'\xf4\x90\x80\x80', b'\xc3'):
        refused(e, body.replace(b'payout HX', b'payout ' + bad + b'HX'), 400, 'invalid UTF-8')
    e.no_rows()
    e.alive()


@test
def lone_surrogate_escape():
    e = Env()
    _, body = fresh()
    for esc in (b'\\ud800', b'\\udc00', b'\\ud800\\u0041'):
        refused(e, body.replace(b'payout HX', b'payout ' + esc + b'HX'), 400)
    e.no_rows()
    e.alive()


@test
def raw_nul_and_control_characters():
    e = Env()
    _, body = fresh()
    for c in (b'\x00', b'\x01', b'\x1f', b'\n'):
        refused(e, body.replace(b'payout HX', b'payout ' + c + b'HX'), 400, 'control character')
    e.no_rows()
    e.alive()


@test
def escaped_nul_in_value_and_key():
    # regression: the reason used to be "\u0000 escape", which made the JSON answer say NUL
    e = Env()
    _, body = fresh()
    refused(e, body.replace(b'payout HX', b'payout \\u0000HX'), 400, 'escaped NUL character')
    refused(e, body[:-1] + b',"a\\u0000b":"1"}', 400, 'escaped NUL character')
    refused(e, body.replace(b'payout HX', b'payout \\u12HX'), 400, 'bad unicode escape')
    e.alive()


@test
def byte_order_mark_and_utf16():
    e = Env()
    _, body = fresh()
    refused(e, b'\xef\xbb\xbf' + body, 400)
    refused(e, body.decode('utf-8').encode('utf-16'), 400)
    e.no_rows()
    e.alive()


# ---- the body: shape and size -----------------------------------------------------------------

@test
def deeply_nested_json():
    e = Env(max_body='1048576')
    _, body = fresh()
    refused(e, b'[' * 500000, 400)
    refused(e, b'{"a":' * 100000 + b'1' + b'}' * 100000, 400)
    refused(e, body[:-1] + b',"x":' + b'[' * 100000 + b']' * 100000 + b'}', 400, 'nested')
    e.no_rows()
    e.alive()


@test
def ten_thousand_fields():
    e = Env(max_body='1048576')
    refused(e, '{%s}' % ','.join('"f%d":"v"' % i for i in range(10000)), 400)
    refused(e, '{%s}' % ','.join('"f":"v"' for _ in range(10000)), 400, 'duplicate')
    refused(e, '{%s}' % ','.join('"F%d":"v","f%d":"w"' % (i, i) for i in range(5000)), 400,
            'duplicate')
    e.no_rows()
    e.alive()


@test
def ten_thousand_empty_fields_are_not_signed():
    # protocol.md: members whose value is "" are not part of the signed string; an authentic
    # message padded with them is still authentic (and cheap to check).
    e = Env(max_body='1048576')
    eq(e.post(SPECIAL['empty_fields']), (200, ACK), 'answer')
    eq(e.d.row('EF-1')['result_pay'], 'SUCCESS', 'stored')


@test
def enormous_numbers():
    e = Env(max_body='1048576')
    _, body = fresh()
    text = body.decode('utf-8')
    for number in ('4' * 5000 + '.65', '1e999999', '-0', '0.' + '0' * 10000 + '1'):
        refused(e, text.replace('"49.65"', number), 400)
    refused(e, text[:-1] + ',"x":' + '9' * 500000 + '}', 400)
    # signed by LianLian's key and still refused: the amount does not fit
    refused(e, SPECIAL['huge_money'], 400, 'money_order')
    e.no_rows()
    e.alive()


@test
def very_long_keys_and_values():
    e = Env(max_body='1048576')
    _, body = fresh()
    refused(e, body[:-1] + b',"' + b'k' * 500000 + b'":"1"}', 400)
    refused(e, body[:-1] + b',"x":"' + b'v' * 500000 + b'"}', 400)
    # authentic, but the fields are longer than LianLian's formats allow
    refused(e, SPECIAL['long_info'], 400, 'info_order')
    refused(e, SPECIAL['long_no_order'], 400, 'no_order')
    e.no_rows()
    e.alive()


@test
def body_of_exactly_max_body():
    e = Env(max_body='1024')
    no, body = fresh()
    padded = body[:-1] + b',"pad":""' + b' ' * (1024 - len(body) - 9) + b'}'
    eq(len(padded), 1024, 'length')
    eq(e.post(padded), (200, ACK), 'exactly max_body')
    refused(e, padded[:-1] + b' }', 413)
    eq(e.d.row(no)['result_pay'], 'SUCCESS', 'stored')


@test
def two_objects_and_trailing_data():
    e = Env()
    _, body = fresh()
    for extra in (body, b'\x00', b'}', b',{}'):
        refused(e, body + extra, 400)
    e.no_rows()
    e.alive()


@test
def json_syntax_errors():
    e = Env()
    _, body = fresh()
    text = body.decode('utf-8')
    cases = ["{'a':'b'}", '{"a":tru}', text[:-1] + '/*x*/}', text[:-1] + ',}', '{"a":NaN}',
             '{1:"a"}', '{"a":"b",}', '{"a" "b"}', '{"a":"b\\x41"}', '{"a":"unterminated}',
             '{"a":01}', '{"a":1.}', '{"a":.5}', '{"a":+1}', '{"a":0x10}', '{"a":Infinity}']
    for c in cases:
        refused(e, c, 400)
    e.no_rows()
    e.alive()


@test
def forged_or_missing_signatures():
    e = Env()
    no, body = fresh()
    m = json.loads(body)
    variants = [dict(m, sign='!!!' * 100), dict(m, sign='A' * 10000), dict(m, sign=123),
                dict(m, sign=None), dict(m, sign=''), {k: v for k, v in m.items() if k != 'sign'},
                dict(m, sign=m['sign'] + '='), dict(m, sign=m['sign'][:-4]),
                dict(m, sign=' ' + m['sign']), dict(m, sign_type='MD5')]
    for v in variants:
        refused(e, json.dumps(v), 400)
    eq(e.d.row(no), None, 'no row')
    e.alive()


@test
def whitespace_padding_is_still_authentic():
    e = Env()
    no, body = fresh()
    eq(e.post(b' \t\r\n' * 3000 + body + b'\n' * 1000), (200, ACK), 'answer')
    eq(e.d.row(no)['result_pay'], 'SUCCESS', 'stored')


@test
def any_content_type_is_accepted():
    e = Env()
    for ctype in ('application/x-www-form-urlencoded', 'image/png', '', 'text/json; charset=gbk'):
        no, body = fresh()
        eq(e.post(body, headers={'Content-Type': ctype}), (200, ACK), repr(ctype))
        eq(e.d.row(no)['result_pay'], 'SUCCESS', 'stored')


@test
def a_flood_of_refusals_leaves_the_daemon_serving():
    e = Env()
    _, body = fresh()
    s = socket.create_connection(('127.0.0.1', e.d.port), timeout=10)
    bad = request(b'{"a":"b"}', close=False)
    s.sendall(bad * 500)
    got = b''
    while got.count(b'HTTP/1.1 400') < 500:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    eq(got.count(b'HTTP/1.1 400'), 500, '500 refusals on one connection')
    # every one counted, a few written: journald would otherwise drop the lines that matter
    eq(len(e.d.log_lines('reject')), 5, 'the first five of this kind and source written')
    e.no_rows()
    e.alive()


@test
def refusal_lines_are_throttled_per_reason_and_source_never_notifications():
    e = Env()
    # 200 bad signatures and 200 malformed bodies from 127.0.0.1, 50 bad signatures from
    # 127.0.0.2, pipelined; authentic notifications and authentic refusals among them
    no, good = fresh()
    forged = good.replace(b'"result_pay":"SUCCESS"', b'"result_pay":"FAILURE"')
    ok(forged != good, 'forged')
    authentic_bad = SPECIAL['long_no_order'].encode()
    flood = (request(forged, close=False) + request(b'{"a":', close=False)) * 200
    mixed = flood[:len(flood) // 2] + request(good, close=False) + flood[len(flood) // 2:]
    mixed += request(authentic_bad, close=False) * 20
    goods = [fresh() for _ in range(20)]
    mixed += b''.join(request(b, close=False) for _, b in goods) + request(b'{}')
    t0 = time.monotonic()
    raw = e.raw(mixed, timeout=30)
    eq(statuses(raw).count(200), 21, 'the authentic notifications acknowledged')
    other = socket.create_connection(('127.0.0.1', e.d.port), source_address=('127.0.0.2', 0))
    other.sendall(request(forged, close=False) * 49 + request(forged))
    while other.recv(65536):
        pass
    other.close()
    lines = e.d.log_lines('reject')
    by = {}
    for l in lines:
        k = (__import__('re').search(r' kind=(\S+)', l).group(1),
             __import__('re').search(r' remote=(\S+)', l).group(1))
        by[k] = by.get(k, 0) + 1
    print('# %d refusals sent in %.1f s; reject lines written: %r' % (200 + 200 + 20 + 1 + 50,
          time.monotonic() - t0, by), flush=True)
    eq(by[('bad_signature', '127.0.0.1')], 5, 'bad signatures from 127.0.0.1')
    eq(by[('malformed', '127.0.0.1')], 5, 'malformed from 127.0.0.1')
    eq(by[('bad_signature', '127.0.0.2')], 5, 'bad signatures from 127.0.0.2: its own count')
    eq(by[('invalid_field', '127.0.0.1')], 20, 'an authentic refusal is always written')
    eq(len(e.d.log_lines('notify')), 21, 'every notification written')
    # once the window is over, one line says how many more there were (the last request, {},
    # is a bad signature too)
    e.d.wait_log(r'level=warning event=reject_suppressed kind=bad_signature remote=127.0.0.1 '
                 r'more_like_this=196 seconds=10', timeout=15)
    e.d.wait_log(r'level=warning event=reject_suppressed kind=malformed remote=127.0.0.1 '
                 r'more_like_this=195 seconds=10', timeout=5)
    e.d.wait_log(r'level=warning event=reject_suppressed kind=bad_signature remote=127.0.0.2 '
                 r'more_like_this=45 seconds=10', timeout=5)
    # and the next refusal is written again
    eq(e.post(forged)[0], 400, 'a refusal after the window')
    eq(len(e.d.log_lines('reject')), len(lines) + 1, 'written')
    eq(e.d.row(no)['result_pay'], 'SUCCESS', 'stored')


if __name__ == '__main__':
    run()
