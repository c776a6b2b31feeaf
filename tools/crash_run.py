#!/usr/bin/env python3
"""The long crash run, by hand: SIGKILL the daemon at random moments under concurrent load for
many rounds and print the figures (tests/integration/test_crash.py runs 10 rounds in the suite).

    python3 tools/crash_run.py [--rounds 100] [--per-round 300] [--clients 8] [--seed N] [BUILD_DIR]

Exit status 0 when no acknowledged notification was lost and every integrity_check said ok.
"""
import argparse
import sys

import longrun


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--rounds', type=int, default=100)
    p.add_argument('--per-round', type=int, default=300, help='new notifications per round')
    p.add_argument('--clients', type=int, default=8, help='concurrent client threads')
    longrun.add_common_arguments(p, 'no line per round')
    a = p.parse_args()
    harness, test_crash, seed = longrun.load(a, 'test_crash')
    print('crash run: %d rounds of %d new notifications, %d clients, seed %d, build %s'
          % (a.rounds, a.per_round, a.clients, seed, a.build_dir), flush=True)
    try:
        f = test_crash.crash_rounds(a.rounds, a.per_round, a.clients, seed, log=longrun.line(a))
    except AssertionError as e:
        print('FAILED: %s' % e, flush=True)
        return 1
    finally:
        longrun.cleanup(harness)
    print('rounds:                              %d' % f['rounds'])
    print('notifications (distinct):            %d' % f['notifications'])
    print('acknowledged 0000 before the kills:  %d' % f['acknowledged_before_kills'])
    print('requests cut off by SIGKILL:         %d' % f['cut_by_kill'])
    print('acknowledged after the resends:      %d' % f['notifications'])
    print('lost (acknowledged, not stored):     %d' % f['lost'])
    print('integrity_check:                     ok after every kill')
    print('duration:                            %.1f s (+ %.1f s signing)'
          % (f['seconds'], f['signing_seconds']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
