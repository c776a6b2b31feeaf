#!/usr/bin/env python3
"""Payouts (sql/0004, lianpayctl pay/payouts/cancel/status): queued with plain SQL or lianpayctl,
refused by the CHECKs and by validation, listed, cancelled, shown; and never queried by the
reconciler before they are sent."""
import json
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import CTL, Env, ReconcileEnv, eq, ok, run, sh, test, wait_for  # noqa: E402

CARD = '6228480223312311474'
MASKED = '622848******1474'
GOOD = {'no_order': 'P20261201000123', 'money_order': '49.65', 'dt_order': '20261201093000',
        'card_no': CARD, 'acct_name': '李三', 'flag_card': '0', 'info_order': '佣金',
        'memo': '代付'}


def insert(c, **fields):
    row = dict(GOOD, **fields)
    row = {k: v for k, v in row.items() if v is not None}
    c.execute('INSERT INTO payouts(%s) VALUES (%s)' % (', '.join(row), ', '.join('?' * len(row))),
              list(row.values()))


def refused(c, what, **fields):
    """An INSERT of GOOD changed by fields fails, naming the constraint or trigger."""
    try:
        insert(c, **fields)
    except sqlite3.IntegrityError as e:
        ok(what in str(e), 'refused for %s, got %s' % (what, e))
        return
    raise AssertionError('accepted: %r (wanted %s)' % (fields, what))


def ctl(e, *args, input=None):
    return sh([CTL, '-c', e.d.config] + list(args), input=input, check=False)


@test
def plain_sql_insert_registers_the_order():
    e = Env()
    with e.d.db() as c:
        c.execute("INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name, "
                  "flag_card, info_order, memo) VALUES ('P20261201000123', '49.65', "
                  "'20261201093000', '6228480223312311474', '李三', '0', '佣金', '代付')")
    with e.d.db() as c:
        p = c.execute('SELECT * FROM payouts').fetchone()
        eq((p['state'], p['amount_fen'], p['attempts'], p['confirm_tries']),
           ('queued', 4965, 0, 0), 'payout defaults')
        r = c.execute('SELECT * FROM payments').fetchone()
        eq((r['no_order'], r['money_order'], r['dt_order'], r['registered_at'], r['amount_fen'],
            r['next_query_at'], r['payout_held']),
           ('P20261201000123', '49.65', '20261201093000', p['queued_at'], 4965, None, 1),
           'payments row')
        eq(c.execute('SELECT count(*) FROM pending_payments').fetchone()[0], 0,
           'a queued payout is not a pending payment')
        eq([tuple(x) for x in c.execute('SELECT no_order, state FROM payouts_in_flight')],
           [('P20261201000123', 'queued')], 'in flight')


@test
def checks_refuse_bad_rows():
    e = Env()
    with e.d.db() as c:
        refused(c, 'payout_no_order_format', no_order='A B')
        refused(c, 'payout_no_order_format', no_order='x' * 33)
        refused(c, 'payout_dt_order_format', dt_order='2026120109300')
        refused(c, 'payout_dt_order_format', dt_order='20261301093000')
        refused(c, 'payout_money_order_format', money_order='1.234')
        refused(c, 'amount_fen_positive', money_order='0.00')
        refused(c, 'card_no_format', card_no='6228 4802')
        refused(c, 'card_no_format', card_no='1' * 33)
        refused(c, 'acct_name_text', acct_name='')
        refused(c, 'acct_name_text', acct_name=b'\xe6\x9d\x8e')
        refused(c, 'flag_card_value', flag_card='2')
        refused(c, 'memo_format', memo='一' * 25)
        refused(c, 'payout_info_order_format', info_order='x' * 256)
        refused(c, 'bank_code_format', bank_code='1234567')
        refused(c, 'prcptcd_format', prcptcd='12a')
        refused(c, 'city_code_format', city_code='x')
        refused(c, 'company_payout_needs_bank_code', flag_card='1')
        refused(c, 'large_payout_needs_info_order_and_memo', money_order='50000.00', memo=None)
        refused(c, 'large_payout_needs_info_order_and_memo', money_order='50000', info_order='')
        refused(c, 'payout_state_value', state='sent')
        refused(c, 'queued_at_instant', queued_at='2026-02-30T00:00:00.000Z')
        refused(c, 'payouts_text_without_nul', memo='a\x00b')
        insert(c, no_order='BIG', money_order='50000.00')  # both given: fine
        insert(c, no_order='CO', flag_card='1', bank_code='01020000')
        eq(c.execute('SELECT count(*) FROM payouts').fetchone()[0], 2, 'only the good rows')
        eq(c.execute('SELECT count(*) FROM payments').fetchone()[0], 2, 'and their orders')
        insert(c, no_order='CO2', money_order='1.00')
        try:
            c.execute("INSERT INTO payout_attempts(no_order, call, class, request, sent_at) "
                      "VALUES ('CO2', 'apply', 'sent', '{}', '2026-12-01T00:00:00.000Z')")
            raise AssertionError('attempt class accepted')
        except sqlite3.IntegrityError:
            pass
        c.execute("INSERT INTO payout_attempts(no_order, call, class, request, sent_at) "
                  "VALUES ('CO2', 'apply', 'unknown', '{}', '2026-12-01T00:00:00.000Z')")
        for sql in ("DELETE FROM payout_attempts",
                    "UPDATE payout_attempts SET request = '{\"x\":1}'"):
            try:
                c.execute(sql)
                raise AssertionError('journal rewritten: ' + sql)
            except sqlite3.IntegrityError as err:
                ok('append-only' in str(err), str(err))


@test
def known_no_order_and_second_payout_refused():
    e = Env()
    with e.d.db() as c:
        c.execute("INSERT INTO payments(no_order, money_order, dt_order) "
                  "VALUES ('R-1', '1.00', '20261201093000')")
        refused(c, 'already known in payments', no_order='R-1')
        insert(c, no_order='Q-1')
        refused(c, 'already known in payments', no_order='Q-1')
        eq(c.execute("SELECT count(*) FROM payouts").fetchone()[0], 1, 'one payout')


@test
def pay_arguments():
    e = Env()
    r = ctl(e, 'pay', 'A-1', '49.65', '20261201093000', CARD, '李三', '--memo', '代付')
    eq((r.returncode, r.stdout), (0, 'queued A-1\n'), 'queued')
    r = ctl(e, 'pay', 'A-1', '49.65', '20261201093000', CARD, '李三')
    eq(r.returncode, 1, 'a second time: refused')
    ok(r.stdout.startswith('refused A-1: ') and 'already known in payments' in r.stdout,
       r.stdout)
    r = ctl(e, 'pay', 'A-2', '49.65', '20261201093000', CARD, '李三', '--memo', 'pay now')
    eq(r.returncode, 1, 'memo with a space refused')
    ok('memo: character 4 is one LianLian strips' in r.stdout, r.stdout)
    r = ctl(e, 'pay', 'A-3', '1.00', '20261201093000', CARD, 'X', '--flag-card', '1',
            '--bank-code', '03010000')
    eq(r.returncode, 1, 'company payout to 交通银行 without branch refused')
    ok('prcptcd: bank_code 03010000 needs the branch' in r.stdout, r.stdout)
    r = ctl(e, 'pay', 'A-3', '1.00', '20261201093000', CARD, 'X', '--flag-card', '1',
            '--bank-code', '03010000', '--city-code', '330100', '--brabank-name', '杭州分行')
    eq((r.returncode, r.stdout), (0, 'queued A-3\n'), 'with the branch')
    r = ctl(e, 'pay', 'A-4', '1.00')
    eq(r.returncode, 2, 'usage')
    ok(r.stderr.startswith('lianpayctl: usage: pay'), r.stderr)
    with e.d.db() as c:
        eq([tuple(x) for x in c.execute(
            'SELECT no_order, memo, flag_card, bank_code, city_code FROM payouts ORDER BY 1')],
           [('A-1', '代付', '0', None, None), ('A-3', None, '1', '03010000', '330100')], 'rows')


@test
def pay_file_mixed_lines_one_transaction():
    e = Env()
    lines = [json.dumps(dict(GOOD, no_order='F-1'), ensure_ascii=False),
             json.dumps(dict(GOOD, no_order='F-2', memo='bad memo!'), ensure_ascii=False),
             'not json',
             '',
             json.dumps(dict(GOOD, no_order='F-3', money_order=1.5)),
             json.dumps(dict(GOOD, no_order='F-4', colour='red')),
             json.dumps(dict(GOOD, no_order='F-1')),
             json.dumps(dict(GOOD, no_order='F-5\x1b[2J')),
             json.dumps(dict(GOOD, no_order='F-6')),
             json.dumps(dict(GOOD, no_order='F-7', card_no='6228\x0048'))]
    path = e.tmp.file('payouts.jsonl', '\n'.join(lines) + '\n')
    r = ctl(e, 'pay', '--file', path)
    eq(r.returncode, 1, 'some refused: %s' % r.stderr)
    out = r.stdout.splitlines()
    eq(out[0], 'queued F-1', 'line 1')
    ok(out[1].startswith('refused F-2: line 2: memo: character 4'), out[1])
    eq(out[2], 'refused -: line 3: not JSON', 'line 3')
    eq(out[3], 'refused F-3: line 5: money_order: must be a string', 'line 5')
    ok(out[4].startswith('refused F-4: line 6: unknown key "colour"'), out[4])
    ok(out[5].startswith('refused F-1: line 7: ') and 'already known' in out[5], out[5])
    ok(out[6].startswith('refused F-5\\x1b[2J: line 8: no_order'), 'escaped: %r' % out[6])
    eq(out[7], 'queued F-6', 'line 9')
    eq(out[8], 'refused -: line 10: line holds \\u0000', 'a NUL inside a string')
    eq(len(out), 9, 'one line per payout')
    ok(re.search(r'2 queued, 7 refused in \d+ ms', r.stderr), r.stderr)
    with e.d.db() as c:
        eq([x[0] for x in c.execute('SELECT no_order FROM payouts ORDER BY 1')], ['F-1', 'F-6'],
           'the valid lines committed')
    r = ctl(e, 'pay', '--file', '-', input=json.dumps(dict(GOOD, no_order='S-1')) + '\n')
    eq((r.returncode, r.stdout), (0, 'queued S-1\n'), 'from stdin')
    r = ctl(e, 'pay', '--file', e.tmp.file('missing-dir/none'))
    eq(r.returncode, 2, 'unreadable file')


@test
def pay_file_10000_lines():
    e = Env()
    text = ''.join(json.dumps(dict(GOOD, no_order='B%05d' % i)) + '\n' for i in range(10000))
    path = e.tmp.file('bulk.jsonl', text)
    r = ctl(e, 'pay', '--file', path)
    eq(r.returncode, 0, r.stderr)
    eq(len(r.stdout.splitlines()), 10000, 'one line each')
    m = re.search(r'10000 queued, 0 refused in (\d+) ms \((\d+) a second\)', r.stderr)
    ok(m, r.stderr)
    print('# pay --file: 10000 payouts in %s ms, %s a second' % (m.group(1), m.group(2)))
    with e.d.db() as c:
        eq(c.execute("SELECT count(*) FROM payments WHERE payout_held = 1").fetchone()[0], 10000,
           'all registered, held')


@test
def cancel_in_each_state():
    e = Env()
    with e.d.db() as c:
        for s in ('queued', 'sending', 'accepted', 'review', 'confirming', 'refused', 'unknown',
                  'closed', 'cancelled'):
            insert(c, no_order='C-' + s)
            if s != 'queued':
                c.execute("UPDATE payouts SET state = ? WHERE no_order = ?", (s, 'C-' + s))
    # queued (nothing sent) and refused (LianLian's signed answer: nothing created) may be
    # cancelled; a person gives up on a refused payout instead of resubmitting it.
    for s in ('queued', 'refused'):
        r = ctl(e, 'cancel', 'C-' + s)
        eq((r.returncode, r.stdout), (0, 'cancelled C-%s\n' % s), s + ': cancelled')
        with e.d.db() as c:
            row = c.execute("SELECT state, reason FROM payouts WHERE no_order = ?",
                            ('C-' + s,)).fetchone()
            eq(row[0], 'cancelled', 'row')
            ok(row[1].startswith('cancelled by '), row[1])
    for s in ('sending', 'accepted', 'review', 'confirming', 'unknown', 'closed', 'cancelled'):
        r = ctl(e, 'cancel', 'C-' + s)
        eq(r.returncode, 1, s)
        ok(('cannot cancel C-%s: it is %s' % (s, s)) in r.stderr, r.stderr)
        ok('only a queued or refused payout can be cancelled' in r.stderr, r.stderr)
        with e.d.db() as c:
            eq(c.execute("SELECT state FROM payouts WHERE no_order = ?", ('C-' + s,)
                         ).fetchone()[0], s, 'unchanged')
    r = ctl(e, 'cancel', 'NOPE')
    eq(r.returncode, 2, 'unknown order')
    ok('no payout NOPE' in r.stderr, r.stderr)


@test
def payouts_list_and_status():
    e = Env()
    with e.d.db() as c:
        insert(c, no_order='L-1')
        insert(c, no_order='L-2', acct_name='\x1b]0;x\x07王')
        c.execute("UPDATE payouts SET state = 'refused', ret_code = '9104', "
                  "reason = 'balance too low' WHERE no_order = 'L-2'")
        c.execute("INSERT INTO payout_attempts(no_order, call, class, ret_code, signed, answer, "
                  "request, sent_at, answered_at) VALUES ('L-2', 'apply', 'refused', '9104', 1, "
                  "'{\"ret_code\":\"9104\"}', '{\"card_no\":\"%s\"}', "
                  "'2026-12-01T00:00:00.000Z', '2026-12-01T00:00:01.000Z')" % MASKED)
    r = ctl(e, 'payouts')
    eq(r.returncode, 0, r.stderr)
    lines = r.stdout.splitlines()
    eq(len(lines), 2, r.stdout)
    ok(re.fullmatch(r'L-1 queued 49\.65 \d+s %s -' % re.escape(MASKED), lines[0]), lines[0])
    ok(re.fullmatch(r'L-2 refused 49\.65 \d+s %s balance too low' % re.escape(MASKED), lines[1]),
       lines[1])
    ok(CARD not in r.stdout and '李三' not in r.stdout, 'no card, no name')
    r = ctl(e, 'payouts', '--state', 'refused')
    eq([l.split()[0] for l in r.stdout.splitlines()], ['L-2'], '--state refused')
    r = ctl(e, 'payouts', '--state', 'sent')
    eq(r.returncode, 2, 'unknown state')
    ok('unknown state "sent"' in r.stderr, r.stderr)

    r = ctl(e, 'status', 'L-2')
    eq(r.returncode, 0, r.stderr)
    ok('payout:' in r.stdout and 'payout attempts:' in r.stdout, r.stdout)
    ok(re.search(r'^  card_no: +%s$' % re.escape(MASKED), r.stdout, re.M), r.stdout)
    ok(re.search(r'^  acct_name: +\\x1b\*$', r.stdout, re.M), 'name masked, escaped')
    ok(re.search(r'^  state: +refused$', r.stdout, re.M), 'state')
    ok(re.search(r'^  #1\n    id: +1\n', r.stdout, re.M), 'attempt numbered')
    ok(re.search(r'^    class: +refused$', r.stdout, re.M), 'attempt class')
    ok(CARD not in r.stdout and '\x1b' not in r.stdout, 'nothing raw')
    r = ctl(e, 'status', 'L-1')
    ok(re.search(r'^  acct_name: +李\*$', r.stdout, re.M), r.stdout)
    ok(r.stdout.rstrip().endswith('payout attempts:\n  -'), 'no attempts yet')


@test
def queued_payout_is_never_queried():
    e = ReconcileEnv({'*': [{'result_pay': 'SUCCESS', 'money_order': '1.00',
                             'dt_order': '20261122083000', 'oid_paybill': '2026120100099999',
                             'settle_date': '20261201'}]})
    r = ctl(e, 'pay', 'H-1', '1.00', '20261201093000', CARD, '李三')
    eq(r.returncode, 0, r.stderr)
    with e.d.db() as c:
        insert(c, no_order='H-2', money_order='1.00')
        insert(c, no_order='H-3', money_order='1.00')
        c.execute("UPDATE payouts SET state = 'refused' WHERE no_order = 'H-3'")
    e.register('R-1')  # a registered order beside them is chased as before
    e.wait_row('R-1', lambda x: x['result_pay'] == 'SUCCESS', 'R-1 recovered by query')
    time.sleep(3)  # notify_window 1s: three windows pass
    for n in ('H-1', 'H-2', 'H-3'):
        eq(e.sim.queries(n), [], '%s never queried' % n)
        row = e.d.row(n)
        eq((row['next_query_at'], row['result_pay'], row['needs_review']), (None, None, 0), n)
    # once sent, the order is chased like any other
    with e.d.db() as c:
        c.execute("UPDATE payouts SET state = 'accepted' WHERE no_order = 'H-2'")
    wait_for(lambda: e.sim.queries('H-2'), 'H-2 queried once sent')
    eq(e.sim.queries('H-1'), [], 'H-1 still never queried')


if __name__ == '__main__':
    run()
