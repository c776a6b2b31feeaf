#!/usr/bin/env python3
"""Crash test: "0000 means it is on disk" must survive SIGKILL at any moment.

Each round starts the daemon, lets several client threads stream distinct, validly signed
notifications at it over real HTTP, kills it with SIGKILL at a random moment (after a random number
of acknowledgements, plus a random few milliseconds, so that requests are caught reading,
verifying, queued, committing and answering), and then, with the daemon dead, checks the file:
`PRAGMA integrity_check` is ok and every notification ever answered 0000 is in `payments` with
its result and exactly one journal row. Notifications not acknowledged are sent again in the next
round, as LianLian resends them.

The suite runs 10 rounds; tools/crash_run.py runs as many as asked and prints the figures.
SIGKILL tests the daemon's own promise (nothing acknowledged before COMMIT returned); a power cut
additionally relies on fsync and the disk honouring it (synchronous=FULL), which SIGKILL cannot
show: test_powercut.py simulates the cut.
"""
import collections
import os
import random
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Daemon, Stream, TempDir, eq, keypair, notification, ok, run,  # noqa: E402
                     sign_batch, test)

RESULTS = ('SUCCESS', 'FAILURE', 'CANCEL')


def check_file(db_path, acked):
    """With the daemon dead: integrity, and every acknowledged notification stored once.
    Returns (lost, stored_but_unacknowledged) no_order lists."""
    c = sqlite3.connect(db_path, timeout=10)
    try:
        eq(c.execute('PRAGMA integrity_check').fetchone()[0], 'ok', 'integrity_check')
        rows = dict(c.execute('SELECT no_order, result_pay FROM payments'))
        events = collections.Counter(n for (n,) in c.execute('SELECT no_order FROM payment_events'))
    finally:
        c.close()
    lost = [n for n, r in acked.items() if rows.get(n) != r]
    for n in acked:
        if n in rows:
            eq(events[n], 1, 'journal rows of ' + n)
    unacked = [n for n in rows if n not in acked]
    return lost, unacked


def crash_rounds(rounds, per_round=300, clients=8, seed=None, log=None):
    """Runs the crash test; returns its figures as a dict. Raises on any lost notification."""
    rng = random.Random(seed)
    tmp = TempDir()
    priv, pub = keypair(tmp, 'lianlian')
    messages = [notification('CR-%06d' % i, RESULTS[i % 3]) for i in range(rounds * per_round)]
    t0 = time.monotonic()
    signed = sign_batch(priv, messages)
    sign_s = time.monotonic() - t0
    fresh = collections.deque((m['no_order'], m['result_pay'], b) for m, b in zip(messages, signed))
    queue = collections.deque()
    acked = {}
    figures = collections.Counter()
    d = Daemon(tmp, pub, start=False)
    t0 = time.monotonic()
    for rnd in range(1, rounds + 1):
        for _ in range(per_round):
            queue.append(fresh.popleft())
        d.start()
        stream = Stream(d.port, queue, acked, clients)
        target = rng.randint(1, max(1, len(queue) * 3 // 4))
        stream.start()
        deadline = time.monotonic() + 30
        while stream.count < target and queue and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(rng.random() * 0.005)
        stream.dead.set()
        d.kill()
        stream.join()
        lost, unacked = check_file(d.db_path, acked)
        figures['requests'] += stream.requests
        figures['cut_by_kill'] += stream.cut
        if log:
            log('round %d: %d acknowledged this round, %d in all, %d stored but unacknowledged '
                '(resent next round), lost %d' % (rnd, stream.count, len(acked), len(unacked),
                                                    len(lost)))
        if lost:
            raise AssertionError('round %d: acknowledged but not stored: %s' % (rnd, lost[:10]))
    acknowledged = len(acked)
    figures['stored_unacknowledged_at_last_kill'] = len(unacked)
    # Then LianLian's resends, with nobody killing the daemon: everything sent ends up stored.
    d.start()
    stream = Stream(d.port, queue, acked, clients)
    stream.start()
    stream.join()
    eq(d.stop(), 0, 'clean stop')
    lost, unacked = check_file(d.db_path, acked)
    eq((len(lost), len(unacked), len(queue)), (0, 0, 0), 'after the resends')
    eq(len(acked), rounds * per_round, 'every notification acknowledged in the end')
    figures.update(rounds=rounds, acknowledged_before_kills=acknowledged, lost=0,
                   clients=clients, notifications=rounds * per_round)
    figures['seconds'] = round(time.monotonic() - t0, 1)
    figures['signing_seconds'] = round(sign_s, 1)
    return dict(figures)


@test
def sigkill_never_loses_an_acknowledged_notification():
    figures = crash_rounds(10, log=lambda s: print('# ' + s, flush=True))
    print('# figures: ' + ', '.join('%s=%s' % kv for kv in sorted(figures.items())), flush=True)
    ok(figures['acknowledged_before_kills'] > 0, 'something was acknowledged')
    ok(figures['cut_by_kill'] > 0, 'kills caught requests in flight')
    eq(figures['lost'], 0, 'lost')


if __name__ == '__main__':
    run()
