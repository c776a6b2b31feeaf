#!/usr/bin/env python3
"""Logs that tools can use (issue 14, item 6).

- Not on the journal, every line starts with ts=, RFC 3339 in UTC with milliseconds.
- The journal is told as systemd.exec(5) says: JOURNAL_STREAM's device and inode are stderr's. A
  daemon started with an inherited JOURNAL_STREAM (from a shell under a unit) keeps writing ts=
  lines without a priority prefix; one whose stderr is the stream named writes for the journal.
- Every event the code logs has its MESSAGE_ID, and the man page lists the same ones.

What this cannot check: the entries the real journal receives (NO_ORDER=, EVENT=, OUTCOME=,
MESSAGE_ID=, through sd_journal_sendv). libsystemd sends to /run/systemd/journal/socket and has no
other path; tests/unit/test_log.c checks the fields it is given (log_journal_build), and what
journald makes of them needs systemd running.
"""
import datetime
import glob
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (TS_FIELD, Daemon, Skip, TempDir, eq, keypair, notification, ok,  # noqa: E402
                     run, sign, test)

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
JOURNAL_SOCKET = '/run/systemd/journal/socket'


def raw_lines(d):
    with open(d.log_path, encoding='utf-8', errors='replace') as f:
        return f.read().splitlines()


def traffic(d, ll_priv):
    """A stored notification, a refused one and a stop: lines from several threads."""
    eq(d.post(sign(notification('LOG-1'), ll_priv))[0], 200, 'stored')
    eq(d.post(b'{"no_order": "LOG-2"}')[0], 400, 'refused')
    d.stop()


def stream_of(path):
    st = os.stat(path)
    return '%d:%d' % (st.st_dev, st.st_ino)


def check_ts_lines(lines, since, until):
    ok(len(lines) >= 4, 'lines written: %r' % lines)
    for line in lines:
        m = TS_FIELD.match(line)
        ok(m, 'ts= first: %r' % line)
        ok(line[m.end():].startswith('level='), 'then level=: %r' % line)
        when = datetime.datetime.strptime(line[3:27], '%Y-%m-%dT%H:%M:%S.%fZ').replace(
            tzinfo=datetime.timezone.utc).timestamp()
        ok(since - 1 <= when <= until + 1, 'ts=%s within the run [%.3f, %.3f]'
           % (line[3:27], since, until))
        ok(not line.startswith('<'), 'no priority prefix: %r' % line)


@test
def every_line_starts_with_an_rfc3339_utc_millisecond_ts():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    env = dict(os.environ)
    env.pop('JOURNAL_STREAM', None)
    since = time.time()
    d = Daemon(tmp, ll_pub, env=env)
    traffic(d, ll_priv)
    lines = raw_lines(d)
    check_ts_lines(lines, since, time.time())
    for event in ('ready', 'notify', 'reject', 'stopped'):
        ok(any(' event=%s ' % event in l + ' ' for l in lines), 'a %s line: %r' % (event, lines))
    print('# %d lines, e.g. %s' % (len(lines), lines[0][:90]))


@test
def an_inherited_journal_stream_is_not_believed():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    other = tmp.file('not-stderr', '')
    for value in (stream_of(other), '8:1234', 'garbage', ''):
        since = time.time()
        d = Daemon(tmp, ll_pub, start=False, env=dict(os.environ, JOURNAL_STREAM=value))
        d.start()
        traffic(d, ll_priv)
        check_ts_lines(raw_lines(d), since, time.time())


@test
def a_journal_stream_that_is_stderr_is_the_journal():
    if os.path.exists(JOURNAL_SOCKET):
        # journald would take the entries instead: their fields are test_log's to check.
        raise Skip('journald is running here: the stream fallback is not taken')
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    d = Daemon(tmp, ll_pub, start=False)
    open(d.log_path, 'a').close()
    d.env = dict(os.environ, JOURNAL_STREAM=stream_of(d.log_path))
    d.start()
    traffic(d, ll_priv)
    lines = raw_lines(d)
    ok(len(lines) >= 4, 'lines written: %r' % lines)
    for line in lines:
        ok(re.match(r'<[3467]>level=(error|warning|info|debug) event=', line),
           'priority prefix, no ts=: %r' % line)
    ok(any(l.startswith('<6>level=info event=notify ') for l in lines), 'notify at <6>')
    ok(any(l.startswith('<4>level=warning event=reject ') for l in lines), 'reject at <4>')


# ---- MESSAGE_ID ---------------------------------------------------------------------------

def logged_events():
    """Every event name the programs log: log_kv's literal events and the throttle and library
    events the listeners are configured with."""
    events = set()
    for path in glob.glob(os.path.join(ROOT, 'src', '*.c')):
        with open(path, encoding='utf-8') as f:
            text = f.read()
        if path.endswith('log.c'):
            continue
        events.update(re.findall(r'\blog_kvv?\(\s*[^,;"]*,\s*"([a-z0-9_]+)"', text, re.S))
        events.update(re.findall(r'\.(?:reject|library)_event\s*=\s*"([a-z0-9_]+)"', text))
    return events


def table(path, pattern):
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        return re.findall(pattern, f.read(), re.M)


@test
def every_event_has_a_message_id_and_the_man_page_lists_them():
    pairs = table('src/log.c', r'^\s*\{"([a-z0-9_]+)", "([0-9a-f]{32})"\},')
    code = dict(pairs)
    man = dict(table('man/lianpay-notifyd.8.scd', r'^\t([a-z0-9_]+)\s+([0-9a-f]{32})$'))
    events = logged_events()
    ok(len(events) >= 20, 'events found in src: %r' % sorted(events))
    missing = sorted(events - set(code))
    eq(missing, [], 'events without a MESSAGE_ID in log.c (add one: python3 -c "import uuid; '
                    'print(uuid.uuid4().hex)")')
    eq(len(code), len(pairs), 'one id per event')
    eq([e for e, _ in pairs], sorted(code), 'log.c table sorted by name (bsearch)')
    eq(len(set(code.values())), len(code), 'ids distinct')
    eq(man, code, 'the man page lists the ids of log.c')
    print('# %d events logged, %d MESSAGE_IDs' % (len(events), len(code)))


if __name__ == '__main__':
    run()
