#!/usr/bin/env python3
"""scripts/demo.sh, as a newcomer runs it: it names a taken port at once, writes no terminal
escapes into a pipe, and leaves no private keys behind (DEMO_KEEP=1 keeps them, and says so); and
each step prints its evidence: the receiving side (DEMO-1 resent and counted, DEMO-2 CANCEL after
SUCCESS, DEMO-3 recovered by query) and the payout loop (PAY-1 queued with SQL and PAY-2 with
lianpayctl pay, sent once and notified; PAY-3 answered 4002 and confirmed; PAY-4 answered 9999,
resolved by query with one payment.htm; PAY-5 refused 9104, resubmitted, two identical
payment.htm; PAY-6's notifications lost, recovered by query), card numbers masked and names
absent everywhere but in the commands the merchant types.

The demo listens on the fixed ports of the embedded development configuration (src/devconfig.c),
so this test can only run where they are free; it uses the suite's build directory (DEMO_BUILD)
and a temporary directory for the demo's files (DEMO_DIR).
"""
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import BUILD, Skip, TempDir, eq, ok, run, test  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DEMO = os.path.join(ROOT, 'scripts', 'demo.sh')


def dev_ports():
    with open(os.path.join(ROOT, 'src', 'devconfig.c'), encoding='utf-8') as f:
        text = f.read()
    return [int(p) for p in re.findall(r'(?:listen|query_url) = [a-z:/]*127\.0\.0\.1:(\d+)', text)]


def free(port):
    s = socket.socket()
    try:
        s.connect(('127.0.0.1', port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def demo(tmp, keep=False, timeout=300):
    env = dict(os.environ, DEMO_BUILD=os.path.abspath(BUILD), DEMO_DIR=os.path.join(tmp, 'demo'))
    env.pop('DEMO_KEEP', None)
    if keep:
        env['DEMO_KEEP'] = '1'
    t0 = time.monotonic()
    p = subprocess.run(['bash', DEMO], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p, time.monotonic() - t0


@test
def a_taken_port_is_named_before_anything_starts():
    ports = dev_ports()
    eq(len(ports), 3, 'the development configuration names three ports')
    if not all(free(p) for p in ports):
        raise Skip('a development port is in use here: %r' % ports)
    tmp = TempDir().path
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', ports[1]))
    s.listen(1)
    try:
        p, took = demo(tmp, timeout=60)
    finally:
        s.close()
    err = p.stderr.decode()
    eq(p.returncode, 1, 'exit status: ' + err)
    ok('port %d on 127.0.0.1 is taken' % ports[1] in err, 'the reason names the port: ' + err)
    ok(not os.path.exists(os.path.join(tmp, 'demo')), 'nothing was started or written')
    ok(b'Starting' not in p.stdout, 'no step ran: %r' % p.stdout[:200])


# The demo's payouts: card numbers and names as the merchant types them (scripts/demo.sh).
CARDS = {'PAY-1': '6228480223312311474', 'PAY-2': '6228480223312311474',
         'PAY-3': '6217001210024455220', 'PAY-4': '6222021001116245702',
         'PAY-5': '6228480402564890018', 'PAY-6': '6225880137706868'}
NAMES = ('李三', '王五', '赵六', '钱七', '孙八')


def masked(card):
    return card[:6] + '******' + card[-4:]


def steps(out):
    """The demo's output as {heading: the lines printed under it}."""
    parts = re.split(r'^== (.*)$', out, flags=re.M)
    return {h: body for h, body in zip(parts[1::2], parts[2::2])}


def step(s, prefix):
    hits = [body for h, body in s.items() if h.startswith(prefix)]
    eq(len(hits), 1, 'one step headed %r among %r' % (prefix, list(s)))
    return hits[0]


def row(body, no_order):
    """The payout_row line of no_order: state ret_code attempts oid_paybill result_pay source
    notify_count query_count (oid_paybill and the result may be empty)."""
    m = re.search(r'^%s +(\S+) +(\S+) +(\d+) +(\d{16})? +(\S+)? +(\S+)? +(\d+) +(\d+) *$'
                  % re.escape(no_order), body, re.M)
    ok(m, 'the row of %s in %r' % (no_order, body))
    return m.groups()


def check_evidence(out):
    s = steps(out)
    ok('LianLian notifies DEMO-1: SUCCESS' in s, 'the steps are printed as plain headings')
    ok(re.search(r"DEMO-3 +300\.00 +30000 +SUCCESS +query", out), 'DEMO-3 recovered by query')
    ok(re.search(r'^DEMO-1 +100\.00 +10000 +SUCCESS +notify +2 ', out, re.M),
       'DEMO-1: the resend counted')
    ok(re.search(r'^DEMO-2 +200\.00 +20000 +CANCEL +notify ', out, re.M), 'DEMO-2: CANCEL')

    b = step(s, 'The merchant queues PAY-1 with plain SQL')
    ok(re.search(r'^\$ sqlite3 \S+ "INSERT INTO payouts\(', b, re.M), 'PAY-1 by SQL: %r' % b)
    b = step(s, '... and PAY-2 to PAY-6 with lianpayctl pay')
    for n in range(2, 7):
        ok(re.search(r'^\$ lianpayctl .* pay PAY-%d ' % n, b, re.M) and
           'queued PAY-%d\n' % n in b, 'PAY-%d queued with lianpayctl pay: %r' % (n, b))

    b = step(s, 'PAY-1 (SQL) and PAY-2 (lianpayctl pay)')
    for no_order in ('PAY-1', 'PAY-2'):
        eq(row(b, no_order)[:3] + row(b, no_order)[4:6], ('accepted', '0000', '1', 'SUCCESS',
                                                          'notify'), no_order + ' notified')
        ok('payment.htm requests for %s: 1\n' % no_order in b, no_order + ' sent once')
        ok(re.search(r'event=submit no_order=%s call=apply class=accepted ret_code=0000 '
                     r'signed=1 card=%s' % (no_order, re.escape(masked(CARDS[no_order]))), b),
           no_order + ': the attempt logged, the card masked')

    b = step(s, 'PAY-3 answered 4002')
    ok('event=submit no_order=PAY-3 call=apply class=review ret_code=4002' in b, 'PAY-3 4002')
    ok('event=submit no_order=PAY-5 call=apply class=refused_may_resubmit ret_code=9104' in b,
       'PAY-5 9104')
    ok(re.search(r'^PAY-3 .* review payout review \(4002\)$', b, re.M) and
       re.search(r'^PAY-5 .* refused payout refused \(9104\)$', b, re.M),
       'both in lianpayctl review list: %r' % b)

    b = step(s, "PAY-3: LianLian's confirm code")
    ok(re.search(r'^  state: +review$', b, re.M) and
       re.search(r'^  confirm_tries: +6$', b, re.M), 'PAY-3 in review with 6 tries: %r' % b)
    code = re.search(r'^  confirm_code: +(\d{6})$', b, re.M)
    ok(code, 'the confirm code shown: %r' % b)
    b = step(s, 'A person checks PAY-3')
    ok(re.search(r'^confirm answered PAY-3: accepted ret_code=0000 .*oid_paybill=\d{16}', b, re.M),
       "LianLian's answer to the confirm: %r" % b)
    r = row(b, 'PAY-3')
    eq((r[0], r[1], r[2], r[4]), ('accepted', '0000', '2', 'SUCCESS'), 'PAY-3 paid after confirm')
    ok('confirmPayment.htm (confirm_code %s) for PAY-3: answered 0000' % code.group(1) in b,
       'the code shown is the one the daemon sent: %r' % b)
    ok('payment.htm requests for PAY-3: 1\n' in b, 'PAY-3: payment.htm once')

    b = step(s, 'PAY-4 answered 9999')
    ok('event=submit no_order=PAY-4 call=apply class=unknown ret_code=9999' in b, 'PAY-4 9999')
    ok(re.search(r'event=query no_order=PAY-4 .*signed=yes result_pay=SUCCESS', b),
       'PAY-4 queried: %r' % b)
    ok('event=payout no_order=PAY-4 from=unknown to=accepted' in b, 'unknown -> accepted')
    eq(row(b, 'PAY-4')[:3] + row(b, 'PAY-4')[4:], ('accepted', '9999', '1', 'SUCCESS', 'query',
                                                  '0', '1'), 'PAY-4 resolved by a query')
    ok('payment.htm requests for PAY-4: 1\n' in b, 'PAY-4: payment.htm exactly once: %r' % b)

    b = step(s, 'PAY-5: the merchant tops up')
    ok(re.search(r'^resubmitted PAY-5: queued', b, re.M), 'lianpayctl resubmit: %r' % b)
    eq(row(b, 'PAY-5')[:3] + row(b, 'PAY-5')[4:5], ('accepted', '0000', '2', 'SUCCESS'),
       'PAY-5 paid on the second attempt')
    ok('for PAY-5: answered 9104\n' in b and 'for PAY-5: answered 0000, the payout created' in b,
       'the sim answered 9104, then 0000: %r' % b)
    ok('payment.htm requests for PAY-5: 2\n' in b and 'identical fields in each: yes' in b,
       'PAY-5: sent once more, the same fields: %r' % b)

    b = step(s, 'PAY-6: accepted, every notification lost')
    ok(re.search(r'event=query no_order=PAY-6 .*signed=yes result_pay=SUCCESS', b), 'PAY-6 query')
    eq(row(b, 'PAY-6')[:3] + row(b, 'PAY-6')[4:], ('accepted', '0000', '1', 'SUCCESS', 'query',
                                                  '0', '1'), 'PAY-6 recovered by query')
    ok('payment.htm requests for PAY-6: 1\n' in b, 'PAY-6 sent once')

    b = step(s, 'The payouts (lianpayctl payouts')
    for no_order, card in CARDS.items():
        ok(re.search(r'^%s accepted \S+ \S+ %s ' % (no_order, re.escape(masked(card))), b, re.M),
           no_order + ' accepted in lianpayctl payouts: %r' % b)
    b = step(s, 'The attempts journal')
    journal = re.findall(r'^(PAY-\d) +(apply|confirm) +(\w+) +(\d{4}) +1 ', b, re.M)
    eq(sorted(journal), sorted([('PAY-1', 'apply', 'accepted', '0000'),
                                ('PAY-2', 'apply', 'accepted', '0000'),
                                ('PAY-3', 'apply', 'review', '4002'),
                                ('PAY-3', 'confirm', 'accepted', '0000'),
                                ('PAY-4', 'apply', 'unknown', '9999'),
                                ('PAY-5', 'apply', 'refused', '9104'),
                                ('PAY-5', 'apply', 'accepted', '0000'),
                                ('PAY-6', 'apply', 'accepted', '0000')]),
       'one signed attempts row per request sent')
    b = step(s, "The daemon's log: one line per attempt")
    eq(len(re.findall(r'event=submit ', b)), 8, 'eight event=submit lines: %r' % b)
    ok('event=payout no_order=PAY-3 from=review to=confirming' in b, 'the decision logged')

    # Full card numbers and names only in what the merchant typed.
    for line in out.splitlines():
        if line.startswith('$ '):
            continue
        for secret in set(CARDS.values()) | set(NAMES):
            ok(secret not in line, 'a card number or name printed: %r' % line)


@test
def piped_output_is_plain_and_the_keys_are_removed():
    if not all(free(p) for p in dev_ports()):
        raise Skip('a development port is in use here')
    tmp = TempDir().path
    p, took = demo(tmp)
    out = p.stdout.decode()
    eq(p.returncode, 0, 'exit status; stderr: ' + p.stderr.decode()[-2000:])
    ok('\x1b' not in out and '\x1b' not in p.stderr.decode(), 'no terminal escape in a pipe')
    check_evidence(out)
    ok(not os.path.exists(os.path.join(tmp, 'demo')), 'the demo directory (private keys) is gone')
    ok('demo: removed' in out and 'rm -rf ' in out, 'the end says what was removed and what stays')
    print('# demo ran in %.1f s' % took)


@test
def demo_keep_keeps_the_directory_and_says_so():
    if not all(free(p) for p in dev_ports()):
        raise Skip('a development port is in use here')
    tmp = TempDir().path
    p, _ = demo(tmp, keep=True)
    eq(p.returncode, 0, 'exit status; stderr: ' + p.stderr.decode()[-2000:])
    ok(os.path.exists(os.path.join(tmp, 'demo', 'payments.db')), 'the database is kept')
    ok('demo: kept ' in p.stdout.decode(), 'the end says what was kept')
    # What the simulator received, counted from its --record: each payout's payment.htm once,
    # PAY-5's twice (resubmitted), PAY-3's confirm once.
    with open(os.path.join(tmp, 'demo', 'sim-record.jsonl'), encoding='utf-8') as f:
        rec = [json.loads(l) for l in f if l.strip()]
    counts = {}
    for r in rec:
        counts[(r['no_order'], r['call'])] = counts.get((r['no_order'], r['call']), 0) + 1
    eq(counts, {('PAY-1', 'apply'): 1, ('PAY-2', 'apply'): 1, ('PAY-3', 'apply'): 1,
                ('PAY-3', 'confirm'): 1, ('PAY-4', 'apply'): 1, ('PAY-5', 'apply'): 2,
                ('PAY-6', 'apply'): 1}, 'requests the simulator received')
    with open(os.path.join(tmp, 'demo', 'daemon.log'), encoding='utf-8') as f:
        log = f.read()
    for secret in set(CARDS.values()) | set(NAMES):
        ok(secret not in log, 'no card number or name in the daemon log: %r' % secret)
    ok(masked(CARDS['PAY-4']) in log, 'the card masked in the log')
    # The demo stops what it started (under the sanitizers: with no report).
    ok(log.rstrip().endswith('event=stopped'), 'the daemon stopped cleanly: %r' % log[-300:])
    with open(os.path.join(tmp, 'demo', 'sim.log'), encoding='utf-8') as f:
        sim_log = f.read()
    for name, text in (('daemon.log', log), ('sim.log', sim_log)):
        ok('Sanitizer' not in text and 'runtime error' not in text, name + ': a sanitizer report')


if __name__ == '__main__':
    run()
