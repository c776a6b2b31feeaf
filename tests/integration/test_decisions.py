#!/usr/bin/env python3
"""Every decision a person makes with lianpayctl (cancel, confirm, decline, resubmit, review
resolve) is one event=decision line of the daemon, with who, from which state to which, and the
note escaped; one made while the daemon was stopped is logged when it starts; none is logged
twice across a restart; the payout_decisions table refuses UPDATE (but the daemon's mark) and
DELETE (sql/0009)."""
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import CTL, TempDir, eq, ok, run, test, wait_for  # noqa: E402
from test_submit import queue, start, wait_state  # noqa: E402
from test_sim_payout import PayoutSim  # noqa: E402


def ctl(d, *args):
    # test_confirm's, which cannot be imported: it runs its tests when loaded.
    return subprocess.run([CTL, '-c', d.config] + list(args), capture_output=True, text=True,
                          timeout=180)


def fields(line):
    """The key=value pairs of a logfmt line, quoted values unquoted (escapes kept)."""
    return {k: (v[1:-1] if v.startswith('"') else v)
            for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line)}


def decisions(d):
    return [fields(l) for l in d.log_lines('decision')]


def by_order(lines):
    out = {}
    for f in lines:
        out.setdefault(f.get('no_order'), []).append(f)
    return out


@test
def each_decision_is_one_log_line():
    tmp = TempDir()
    sim = PayoutSim(tmp, {
        'D-CONFIRM': {'apply': [{'ret_code': '4002'}]},
        'D-DECLINE': {'apply': [{'ret_code': '4002'}]},
        'D-RESUBMIT': {'apply': [{'ret_code': '9104'}, {'ret_code': '0000'}]},
    })
    d = start(tmp, sim)
    queue(d, ('D-CONFIRM',), ('D-DECLINE',), ('D-RESUBMIT',))
    wait_state(d, 'D-CONFIRM', 'review')
    wait_state(d, 'D-DECLINE', 'review')
    wait_state(d, 'D-RESUBMIT', 'refused')
    # An order flagged for review (a conflicting notification, say), resolved by a person.
    with d.db() as c:
        c.execute("INSERT INTO payments(no_order, money_order, registered_at, needs_review, "
                  "review_reason) VALUES ('D-FLAG', '3', '2026-11-22T08:33:00.000Z', 1, "
                  "'amount mismatch')")
    eq(decisions(d), [], 'no decision yet')

    r = ctl(d, 'confirm', 'D-CONFIRM', '--timeout', '120s')
    eq(r.returncode, 0, 'confirm: %r %r' % (r.stdout, r.stderr))
    eq(ctl(d, 'decline', 'D-DECLINE').returncode, 0, 'decline')
    eq(ctl(d, 'resubmit', 'D-RESUBMIT').returncode, 0, 'resubmit')
    note = 'checked with LianLian: "paid"\nticket 42'
    r = ctl(d, 'review', 'resolve', 'D-FLAG', '--note', note, '--requery')
    eq(r.returncode, 0, 'resolve: %r %r' % (r.stdout, r.stderr))
    # A refused decision is no decision: nothing in the table, nothing logged.
    eq(ctl(d, 'decline', 'D-RESUBMIT').returncode, 1, 'decline refused')

    wait_for(lambda: len(decisions(d)) >= 4, 'four decision lines', timeout=20)
    wait_state(d, 'D-RESUBMIT', 'accepted')
    got = by_order(decisions(d))
    eq(sorted(got), ['D-CONFIRM', 'D-DECLINE', 'D-FLAG', 'D-RESUBMIT'], 'one per order')
    ok(all(len(v) == 1 for v in got.values()), 'exactly one line each: %r' % got)
    user = subprocess.run(['id', '-un'], capture_output=True, text=True).stdout.strip()
    want = {
        'D-CONFIRM': ('confirm', 'review', 'review'),
        'D-DECLINE': ('decline', 'review', 'closed'),
        'D-RESUBMIT': ('resubmit', 'refused', 'queued'),
        'D-FLAG': ('resolve', 'flagged', 'requeried'),
    }
    for no_order, (decision, frm, to) in want.items():
        f = got[no_order][0]
        eq((f['decision'], f['from'], f['to'], f['by'], f['level']),
           (decision, frm, to, user, 'info'), no_order)
        ok('id' in f and 'decided_at' in f, '%s: id and decided_at %r' % (no_order, f))
    eq(got['D-FLAG'][0].get('reason'), 'amount mismatch', 'the reason it had')
    line = [l for l in d.log_lines('decision') if 'no_order=D-FLAG' in l][0]
    ok('note="checked with LianLian: \\"paid\\"\\nticket 42"' in line,
       'note escaped on one line: %r' % line)
    # The daemon's own action on the confirm is its own event=payout line.
    ok(d.has_log(r'no_order=D-CONFIRM .*to=accepted', 'payout'),
       'the daemon logs the confirm it sent')

    with d.db() as c:
        rows = c.execute('SELECT no_order, decision, logged_at FROM payout_decisions '
                         'ORDER BY id').fetchall()
    eq([(r['no_order'], r['decision']) for r in rows],
       [('D-CONFIRM', 'confirm'), ('D-DECLINE', 'decline'), ('D-RESUBMIT', 'resubmit'),
        ('D-FLAG', 'resolve')], 'the table')
    wait_for(lambda: all(r[0] for r in sqlite3.connect(d.db_path).execute(
        'SELECT logged_at IS NOT NULL FROM payout_decisions')), 'all marked logged')

    # Stopped: a payout queued and cancelled meanwhile is logged when the daemon starts, and
    # nothing logged before is logged again.
    eq(d.stop(), 0, 'stopped')
    with d.db() as c:
        c.execute("INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name) "
                  "VALUES ('D-CANCEL', '1.00', '20261201093000', '6228480223312311474', 'A')")
    r = ctl(d, 'cancel', 'D-CANCEL')
    eq(r.returncode, 0, 'cancel while stopped: %r %r' % (r.stdout, r.stderr))
    d.start()
    wait_for(lambda: decisions(d), 'the decision made while stopped', timeout=20)
    got = decisions(d)
    eq([(f['no_order'], f['decision'], f['from'], f['to'], f['by']) for f in got],
       [('D-CANCEL', 'cancel', 'queued', 'cancelled', user)], 'only it, once')
    wait_for(lambda: sqlite3.connect(d.db_path).execute(
        'SELECT count(*) FROM payout_decisions WHERE logged_at IS NULL').fetchone()[0] == 0,
        'marked logged')
    ok('6228480223312311474' not in d.logs(), 'no card number in the log')

    # Append-only: only the daemon's one mark is allowed.
    c = sqlite3.connect(d.db_path)
    for sql in ("UPDATE payout_decisions SET by_user = 'mallory'",
                "UPDATE payout_decisions SET logged_at = NULL",
                "UPDATE payout_decisions SET logged_at = '2026-12-01T10:00:00.000Z'",
                "DELETE FROM payout_decisions"):
        try:
            c.execute(sql)
            raise AssertionError('accepted: ' + sql)
        except sqlite3.DatabaseError as e:
            ok('append-only' in str(e), '%s: %s' % (sql, e))
    c.close()
    d.stop()


if __name__ == '__main__':
    run()
