#!/usr/bin/env python3
"""The long power-cut run, by hand: cut the daemon's power (simulated, tests/powercut/) at random
moments under concurrent load for many rounds and print the figures
(tests/integration/test_powercut.py runs a shorter version in the suite).

    python3 tools/powercut_run.py [--rounds 200] [--per-round 300] [--disks 6] [--clients 6]
                                  [--seed N] [--synchronous OFF|NORMAL] [--no-sqlite-dirsync]
                                  [--sync-cuts PAGES] [BUILD_DIR]

--synchronous runs the test build of the daemon that opens its database so (it must lose
acknowledged notifications: the run shows how many); --no-sqlite-dirsync skips SQLite's own
directory syncs; --sync-cuts cuts every round after the first right before the writer's sync
thread fdatasyncs the -wal (half of them the first such sync after a WAL restart), with SQLite
checkpointing every PAGES pages (the test build's knob), and counts where the cuts fell and the
commits not acknowledged that a disk lost. Exit status 0 when, with the real settings, no acknowledged notification or
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
    p.add_argument('--sync-cuts', type=int, default=0, metavar='PAGES')
    longrun.add_common_arguments(p, 'no line per disk')
    a = p.parse_args()
    harness, test_powercut, seed = longrun.load(a, 'test_powercut')
    env = {}
    if a.synchronous:
        env['LIANPAY_TEST_SYNCHRONOUS'] = a.synchronous
    if a.no_sqlite_dirsync:
        env['LIANPAY_POWERCUT_SQLITE_DIRSYNC'] = '0'
    schedule = None
    if a.sync_cuts:
        env['LIANPAY_TEST_WAL_AUTOCHECKPOINT'] = str(a.sync_cuts)
        schedule = ['first-load'] + ['sync', 'wal-restart'] * (a.rounds // 2)
    print('power-cut run: %d rounds of %d new notifications, %d disks per cut, %d clients, '
          'synchronous=%s%s, seed %d, build %s'
          % (a.rounds, a.per_round, a.disks, a.clients,
             a.synchronous or 'NORMAL with the sync thread\'s fdatasync',
             ', without SQLite\'s directory syncs' if a.no_sqlite_dirsync else '', seed,
             a.build_dir), flush=True)
    try:
        f = test_powercut.Cuts(
            a.rounds, per_round=a.per_round, clients=a.clients, disks=a.disks, seed=seed,
            program=test_powercut.SYNCTEST if a.synchronous or a.sync_cuts else None, env=env,
            weak=bool(a.synchronous), registrations=0 if a.synchronous or a.sync_cuts else 4,
            schedule=schedule, committed=bool(a.sync_cuts), log=longrun.line(a)).run()
    except AssertionError as e:
        print('FAILED: %s' % e, flush=True)
        return 1
    finally:
        longrun.cleanup(harness)
    test_powercut.print_summary(f, print)
    if a.sync_cuts:
        for k in ('cut_wal_unsynced', 'cut_after_restart', 'cut_after_checkpoint',
                  'committed_lost'):
            print('%-62s %d' % (k + ':', f[k]))
    if a.synchronous:
        return 0 if f['lost_distinct'] > 0 else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
