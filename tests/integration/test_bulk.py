#!/usr/bin/env python3
"""lianpayctl register --file F|-: many registrations in one transaction, one result line each.

Lines that are refused say why, naming the line, and write nothing; the others are committed
together; a database failure keeps none of them.
"""
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import CTL, Daemon, TempDir, eq, keypair, ok, run, sh, test  # noqa: E402


def setup():
    tmp = TempDir()
    _, ll_pub = keypair(tmp, 'lianlian')
    d = Daemon(tmp, ll_pub)  # creates the schema; lianpayctl writes beside the running daemon
    return tmp, d


def rows(d, sql, args=()):
    db = sqlite3.connect(d.db_path)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


@test
def ten_thousand_registrations_in_one_transaction():
    tmp, d = setup()
    n = 10000
    text = ''.join(json.dumps({'no_order': 'BULK-%05d' % i, 'money_order': '%d.%02d' % (i + 1, i % 100),
                               'dt_order': '20261201093000'}) + '\n' for i in range(n))
    t0 = time.monotonic()
    r = sh([CTL, '-c', d.config, 'register', '--file', '-'], input=text, check=False)
    took = time.monotonic() - t0
    eq(r.returncode, 0, 'exit: ' + r.stderr)
    out = r.stdout.splitlines()
    eq(len(out), n, 'one line per order')
    eq(out[0], 'BULK-00000: registered', 'the line of the first')
    ok('%d registered, 0 refused' % n in r.stderr, r.stderr)
    eq(rows(d, "SELECT count(*), count(next_query_at), sum(amount_fen) FROM payments "
               "WHERE no_order GLOB 'BULK-*'"),
       [(n, n, sum((i + 1) * 100 + i % 100 for i in range(n)))], 'rows, scheduled, money')
    print('# %d registrations in %.2f s: %.0f a second' % (n, took, n / took))
    # the same file again: idempotent, every line "already registered"
    r = sh([CTL, '-c', d.config, 'register', '--file', '-'], input=text, check=False)
    eq(r.returncode, 0, r.stderr)
    ok(all(l.endswith(': already registered, unchanged') for l in r.stdout.splitlines()), 'again')


@test
def refused_lines_say_why_and_the_others_are_kept():
    tmp, d = setup()
    sh([CTL, '-c', d.config, 'register', 'KNOWN-1', '10.00', '20261201093000'])
    lines = [
        '{"no_order":"OK-1","money_order":"1.00","dt_order":"20261201093000"}',
        '',
        'not json',
        '{"no_order":"OK-2","money_order":"2.00","dt_order":"20261201093000","memo":"x"}',
        '{"no_order":"OK-3","money_order":"1.001","dt_order":"20261201093000"}',
        '{"no_order":"OK-4","money_order":"4.00","dt_order":"20261301093000"}',
        '{"no_order":"KNOWN-1","money_order":"11.00","dt_order":"20261201093000"}',
        '{"no_order":"OK-5","money_order":"5.00"}',
        '{"no_order":"OK-6","money_order":null,"dt_order":"20261201093000"}',
        '{"no_order":"OK-7","money_order":"7.00","dt_order":"20261201093000","no_order":"X"}',
        '{"no_order":"OK-8","money_order":"8.00","dt_order":"20261201093000"}\r',
    ]
    f = tmp.file('orders.jsonl')
    with open(f, 'w') as fh:
        fh.write('\n'.join(lines) + '\n')
    r = sh([CTL, '-c', d.config, 'register', '--file', f], check=False)
    eq(r.returncode, 1, 'some refused: ' + r.stderr)
    out = r.stdout.splitlines()
    eq(out[0], 'OK-1: registered', 'line 1')
    expect = {3: 'refused:', 4: 'unknown key', 5: "money_order '1.001'", 6: "dt_order '20261301093000'",
              7: 'KNOWN-1', 8: 'no dt_order', 9: 'null, true or false', 10: 'refused:'}
    refused = [l for l in out if ': refused: ' in l]
    eq(len(refused), len(expect), 'refused lines: %r' % out)
    for line_no, words in expect.items():
        hit = [l for l in refused if l.startswith('%s:%d: refused: ' % (f, line_no))]
        ok(hit and words in hit[0], 'line %d names %r: %r' % (line_no, words, hit))
    eq(out[-1], 'OK-8: registered', 'a CRLF line is one line')
    eq(rows(d, "SELECT no_order, amount_fen FROM payments WHERE no_order GLOB 'OK-*' ORDER BY 1"),
       [('OK-1', 100), ('OK-8', 800)], 'only the good lines are stored')
    eq(rows(d, "SELECT amount_fen, needs_review FROM payments WHERE no_order = 'KNOWN-1'"),
       [(1000, 0)], 'the contradicted registration is untouched')


@test
def a_database_failure_keeps_none_of_them():
    tmp, d = setup()
    d.stop()
    db = sqlite3.connect(d.db_path, timeout=0.1)
    db.execute('BEGIN EXCLUSIVE')  # nobody else can write while this holds
    try:
        r = sh([CTL, '-c', d.config, 'register', '--file', '-'],
               input='{"no_order":"LOCK-1","money_order":"1.00","dt_order":"20261201093000"}\n',
               check=False)
    finally:
        db.rollback()
        db.close()
    eq(r.returncode, 2, 'exit: ' + r.stdout)
    eq(len(r.stderr.strip().splitlines()), 1, 'one line: ' + r.stderr)
    ok(r.stderr.startswith('lianpayctl: register: '), r.stderr)
    eq(rows(d, "SELECT count(*) FROM payments WHERE no_order = 'LOCK-1'"), [(0,)], 'nothing kept')


@test
def an_unreadable_file_is_one_line_and_exit_2():
    tmp, d = setup()
    r = sh([CTL, '-c', d.config, 'register', '--file', tmp.file('absent.jsonl')], check=False)
    eq(r.returncode, 2, r.stdout)
    ok(r.stderr.startswith('lianpayctl: register: ') and 'No such file' in r.stderr, r.stderr)
    r = sh([CTL, '-c', d.config, 'register', '--file'], check=False)
    eq(r.returncode, 2, 'usage')
    ok('usage: register' in r.stderr, r.stderr)


@test
def pending_lists_what_is_still_chased_oldest_first():
    tmp, d = setup()
    for no in ('PEND-B', 'PEND-A', 'PEND-DONE', 'PEND-C'):
        sh([CTL, '-c', d.config, 'register', no, '3.00', '20261201093000'])
        time.sleep(0.01)
    db = sqlite3.connect(d.db_path, timeout=10)
    db.execute("UPDATE payments SET result_pay = 'SUCCESS', final_at = updated_at, "
               "next_query_at = NULL WHERE no_order = 'PEND-DONE'")
    db.execute("UPDATE payments SET needs_review = 1, review_reason = 'x', next_query_at = NULL "
               "WHERE no_order = 'PEND-C'")
    db.commit()
    db.close()
    r = sh([CTL, '-c', d.config, 'pending'])
    lines = r.stdout.splitlines()
    eq(lines[0], 'no_order money_order result_pay age_seconds query_count next_query_at', 'header')
    eq([l.split(' ')[:3] for l in lines[1:]], [['PEND-B', '3.00', '-'], ['PEND-A', '3.00', '-']],
       'pending, oldest first; final and in-review orders left out: %r' % lines)
    ok(all(len(l.split(' ')) == 6 for l in lines[1:]), 'six values a line')
    eq(sh([CTL, '-c', d.config, 'pending', 'extra'], check=False).returncode, 2, 'usage')


if __name__ == '__main__':
    run()
