#!/usr/bin/env python3
"""Counts test cases from one or more meson testlog.json files (one per build: normal,
sanitizers, fuzzing) and prints "N passed, N failed" as the last line.

Each TAP "ok"/"not ok" line is one case ("ok ... # SKIP" is counted as skipped, not passed); a
test program that reports no TAP case counts as one case by its exit status; a program that
failed without reporting a failed case counts as one more failed case. A missing log file is a
failed case: the run that should have written it did not happen."""
import json
import re
import sys


def count(path):
    passed = failed = skipped = 0
    with open(path, encoding='utf-8') as f:
        for line in f:
            t = json.loads(line)
            out = t.get('stdout') or ''
            good = t.get('result') in ('OK', 'EXPECTEDFAIL', 'SKIP')
            skips = len(re.findall(r'^ok \d+\b.*# SKIP', out, re.M | re.I))
            oks = len(re.findall(r'^ok \d+', out, re.M)) - skips
            not_oks = len(re.findall(r'^not ok \d+', out, re.M))
            if oks + not_oks + skips == 0:
                if t.get('result') == 'SKIP':
                    skipped += 1
                elif good:
                    oks = 1
            if not good and not_oks == 0:
                not_oks = 1
            passed += oks
            failed += not_oks
            skipped += skips
    return passed, failed, skipped


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        try:
            p, f, s = count(path)
        except OSError as e:
            print('%s: %s' % (path, e.strerror))
            p, f, s = 0, 1, 0
        if len(paths) > 1:
            print('%s: %d passed, %d failed, %d skipped' % (path, p, f, s))
        passed, failed, skipped = passed + p, failed + f, skipped + s
    if skipped:
        print('%d skipped' % skipped)
    print('%d passed, %d failed' % (passed, failed))


if __name__ == '__main__':
    main(sys.argv[1:])
