#!/usr/bin/env python3
"""Counts test cases from meson's testlog.json: each TAP "ok"/"not ok" line is one case; a test
program that failed without reporting any case counts as one failed case. Prints
"N passed, N failed" as the last line."""
import json
import re
import sys

passed = failed = 0
with open(sys.argv[1], encoding='utf-8') as f:
    for line in f:
        t = json.loads(line)
        out = t.get('stdout') or ''
        oks = len(re.findall(r'^ok \d+', out, re.M))
        not_oks = len(re.findall(r'^not ok \d+', out, re.M))
        if t.get('result') not in ('OK', 'EXPECTEDFAIL', 'SKIP') and not_oks == 0:
            not_oks = 1
        passed += oks
        failed += not_oks
print('%d passed, %d failed' % (passed, failed))
