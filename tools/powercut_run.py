#!/usr/bin/env python3
"""The long power-cut run, by hand: cut the daemon's power (simulated, tests/powercut/) at random
moments under concurrent load for many rounds and print the figures
(tests/integration/test_powercut.py runs a shorter version in the suite).

    python3 tools/powercut_run.py [--rounds 200] [--per-round 300] [--disks 6] [--clients 6]
                                  [--seed N] [--synchronous OFF|NORMAL] [--no-sqlite-dirsync]
                                  [BUILD_DIR]

--synchronous runs the test build of the daemon that opens its database so (it must lose
acknowledged notifications: the run shows how many); --no-sqlite-dirsync skips SQLite's own
directory syncs. Exit status 0 when, with the real settings, no acknowledged notification or
confirmed registration was lost and every disk passed integrity_check; with --synchronous, when
some were lost (the simulator caught it).
"""
import argparse
import sys

import longrun


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--rounds', type=int, default=200)
    p.add_argument('--per-round', type=int, default=300, help='new notifications per round')
    p.add_argument('--disks', type=int, default=6, help='disks per cut (the strict one included)')
    p.add_argument('--clients', type=int, default=6, help='concurrent client threads')
    p.add_argument('--synchronous', choices=['OFF', 'NORMAL'], default=None)
    p.add_argument('--no-sqlite-dirsync', action='store_true')
    longrun.add_common_arguments(p, 'no line per disk')
    a = p.parse_args()
    harness, test_powercut, seed = longrun.load(a, 'test_powercut')
    env = {}
    if a.synchronous:
        env['LIANPAY_TEST_SYNCHRONOUS'] = a.synchronous
    if a.no_sqlite_dirsync:
        env['LIANPAY_POWERCUT_SQLITE_DIRSYNC'] = '0'
    print('power-cut run: %d rounds of %d new notifications, %d disks per cut, %d clients, '
          'synchronous=%s%s, seed %d, build %s'
          % (a.rounds, a.per_round, a.disks, a.clients, a.synchronous or 'FULL',
             ', without SQLite\'s directory syncs' if a.no_sqlite_dirsync else '', seed,
             a.build_dir), flush=True)
    try:
        f = test_powercut.Cuts(
            a.rounds, per_round=a.per_round, clients=a.clients, disks=a.disks, seed=seed,
            program=test_powercut.SYNCTEST if a.synchronous else None, env=env,
            weak=bool(a.synchronous), registrations=0 if a.synchronous else 4,
            log=longrun.line(a)).run()
    except AssertionError as e:
        print('FAILED: %s' % e, flush=True)
        return 1
    finally:
        longrun.cleanup(harness)
    test_powercut.print_summary(f, print)
    if a.synchronous:
        return 0 if f['lost_distinct'] > 0 else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
