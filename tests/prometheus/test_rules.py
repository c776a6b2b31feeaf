#!/usr/bin/env python3
"""The Prometheus rules file (etc/prometheus/lianpay-notifyd-rules.yml) as Prometheus reads it:
promtool check rules, promtool test rules on lianpay-notifyd-rules.test.yml, and every alert of
the file tested at least once where it fires and once where it does not. TAP; skipped when
promtool is not installed (scripts/deps.sh installs it with the prometheus package)."""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(HERE, '..', '..', 'etc', 'prometheus', 'lianpay-notifyd-rules.yml')
TESTS = os.path.join(HERE, 'lianpay-notifyd-rules.test.yml')


def promtool(*args):
    r = subprocess.run(['promtool'] + list(args), capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def alert_cases(text):
    """{alertname: (cases where it fires, cases where it must not)} from the test file."""
    cases = {}
    for m in re.finditer(r'alertname: (\w+)\n\s+exp_alerts:(.*)$', text, re.M):
        fires, quiet = cases.get(m.group(1), (0, 0))
        if m.group(2).strip() == '[]':
            quiet += 1
        else:
            fires += 1
        cases[m.group(1)] = (fires, quiet)
    return cases


def main():
    checks = []
    if shutil.which('promtool') is None:
        print('1..0 # SKIP promtool is not installed (apt install prometheus)')
        return 0
    rc, out = promtool('check', 'rules', RULES)
    checks.append((rc == 0, 'promtool check rules', out))
    rc, out = promtool('test', 'rules', TESTS)
    checks.append((rc == 0, 'promtool test rules', out))
    with open(RULES, encoding='utf-8') as f:
        alerts = re.findall(r'^\s*- alert: (\w+)\s*$', f.read(), re.M)
    with open(TESTS, encoding='utf-8') as f:
        cases = alert_cases(f.read())
    checks.append((len(alerts) >= 9, 'the rules file has its alerts (%d)' % len(alerts), ''))
    for a in alerts:
        fires, quiet = cases.get(a, (0, 0))
        checks.append((fires > 0 and quiet > 0, '%s tested firing (%d) and quiet (%d)'
                       % (a, fires, quiet), ''))
    checks.append((not set(cases) - set(alerts), 'no test of an alert the file lacks', ''))
    print('1..%d' % len(checks))
    failed = 0
    for i, (good, what, detail) in enumerate(checks, 1):
        print('%s %d - %s' % ('ok' if good else 'not ok', i, what))
        if not good:
            failed += 1
            for line in detail.splitlines():
                print('# ' + line)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
