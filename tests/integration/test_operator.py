#!/usr/bin/env python3
"""What the operator sees and runs: the log lines a hostile value reaches, what lianpayctl prints
of what came from outside, lianpayctl run by a member of the daemon's group, the files the
daemon refuses to trust, one daemon per database, and what -t checks.

Some cases create a throwaway system user and group (useradd/groupadd, removed at the end) and
run the programs as them with setpriv: they need root, and are reported as skipped without it.
"""
import grp
import http.server
import os
import pwd
import re
import subprocess
import sys
import threading
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from harness import (CTL, NOTIFYD, RECONCILE_FAST, TS_FIELD, Daemon, Sim, Skip,  # noqa: E402
                     TempDir, eq, keypair, notification, ok, run, sh, sign, test)

ACK = {'ret_code': '0000', 'ret_msg': '交易成功'}

# What a reader might split a line on besides \n (Python's str.splitlines splits on all of them),
# and what a terminal acts on.
SPLITTERS = '\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029'
FORGED = 'level=info event=notify status=200 no_order=FORGED outcome=applied'

LOGFMT_PAIR = r'[^\s="\\]+=(?:"(?:[^"\\\x00-\x1f\x7f]|\\.)*"|[^\s"=\\]+)'
LOGFMT_LINE = re.compile(r'(?:<\d>)?%s(?: %s)*' % (LOGFMT_PAIR, LOGFMT_PAIR))


def logfmt_ok(line):
    """A whole logfmt line, nothing a reader could split it on, no C1 control, no bidi control."""
    return (LOGFMT_LINE.fullmatch(line) is not None and
            not any(c in line for c in SPLITTERS) and
            not any('\x80' <= c <= '\x9f' or '\u202a' <= c <= '\u202e' or '\u2066' <= c <= '\u2069'
                    for c in line))


def log_lines_split_every_way(d):
    """The daemon's log split on every line break a reader might know; each piece must be a
    whole record of its own."""
    with open(d.log_path, 'rb') as f:
        lines = f.read().decode('utf-8', errors='replace').splitlines()
    for line in lines:
        ok(logfmt_ok(line) and TS_FIELD.match(line) and line[TS_FIELD.match(line).end():]
           .startswith('level='), 'a whole record: %r' % line[:300])
    return lines


def records(lines, event):
    return [l for l in lines if re.match(r'ts=\S+ level=\w+ event=%s ' % event, l)]


def hostile(n=0):
    return ('A\u2028%s\u2029%s\x85%s\u202e\u2066\x9b32m' % (FORGED, FORGED, FORGED))[:n or None]


# ---- log injection (issue 11, item 8) ------------------------------------------------------

@test
def a_refused_messages_values_cannot_forge_log_records():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    _, other_pub = keypair(tmp, 'other')
    d = Daemon(tmp, other_pub)  # everything LianLian's key signs is refused as a bad signature
    for no_order in (hostile(), 'B' * 5000, 'C' + '\u2028' * 2000):
        eq(d.post(sign(notification(no_order), ll_priv))[0], 400, 'refused')
    d.stop()
    lines = log_lines_split_every_way(d)
    rejects = records(lines, 'reject')
    eq(len(rejects), 3, 'one reject line each, however the log is split')
    eq(records(lines, 'notify'), [], 'no forged record')
    for line in rejects:
        ok(re.search(r' bytes=\d+ body_sha256=[0-9a-f]+$', line), 'fixed fields kept: %r' % line)
        value = re.search(r' claimed_no_order=("(?:[^"\\]|\\.)*")', line).group(1)
        ok(len(value.encode()) <= 128 and value.endswith('\u2026"'), 'cut: %r' % value)
        print('# reject line of %d bytes, claimed_no_order written in %d'
              % (len(line.encode()), len(value.encode())))
    ok(rejects[0].split(' claimed_no_order="', 1)[1].startswith('A\\u2028level=info'),
       'U+2028 escaped: %r' % rejects[0])


@test
def an_unsigned_answers_text_cannot_forge_log_records():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    m_priv, m_pub = keypair(tmp, 'merchant', bits=2048)
    # ret_code is the answer's text that reaches the log (15 bytes at most)
    sim = Sim(tmp, ll_priv, m_pub, {'LOGQ-1': [{'ret_code': '\u2028event=notify',
                                                 'ret_msg': hostile(), 'sign': 'none'}]})
    d = Daemon(tmp, ll_pub, m_priv, sections={'reconcile': RECONCILE_FAST,
                                              'lianlian': {'query_url': sim.url}})
    sh([CTL, '-c', d.config, 'register', 'LOGQ-1', '1.00', '20261122083000'])
    d.wait_log(r'event=query no_order=LOGQ-1 ', timeout=20)
    d.stop()
    lines = log_lines_split_every_way(d)
    queries = [l for l in records(lines, 'query') if ' no_order=LOGQ-1 ' in l]
    ok(queries, 'query lines')
    eq(records(lines, 'notify'), [], 'no forged record')
    for line in queries:
        ok(' ret_code="\\u2028event=notify" ' in line, line)
    print('# query line: %s' % queries[0])


# ---- what lianpayctl prints (item 10) ------------------------------------------------------

TERMINAL_BAIT = '\x1b[2J\x1b[H\x1b[32mresult_pay: SUCCESS\x1b[0m\r\n\x9b31m\u202e'


def terminal_safe(text):
    return not re.search('[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]',
                         text)


class RawServer:
    """An HTTP server that answers every POST with status 500 and these raw bytes."""

    def __init__(self, body):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get('Content-Length', 0)))
                self.send_response(500)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/paymentapi/queryPayment.htm' % self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@test
def lianpayctl_query_escapes_what_the_answer_holds():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    m_priv, m_pub = keypair(tmp, 'merchant', bits=2048)
    sim = Sim(tmp, ll_priv, m_pub, {'CTLQ-1': [{'ret_code': '8901', 'ret_msg': TERMINAL_BAIT,
                                                 'sign': 'none'}]})
    raw = RawServer(b'<html>\x1b[32mSUCCESS\x1b[0m\r\n\xc2\x9b\xff\xfe</html>')
    try:
        for url in (sim.url, raw.url):
            d = Daemon(tmp, ll_pub, m_priv, start=False, sections={
                'reconcile': {'enabled': 'false'}, 'lianlian': {'query_url': url}})
            r = sh([CTL, '-c', d.config, 'query', 'CTLQ-1'], check=False)
            eq(r.returncode, 1, 'not a result: %s%s' % (r.stdout, r.stderr))
            ok(terminal_safe(r.stdout), 'nothing a terminal acts on: %r' % r.stdout)
            ok('\\x1b[32m' in r.stdout, 'the escape shown escaped: %r' % r.stdout)
            ok(not re.search(r'^result_pay', r.stdout, re.M), 'no forged line: %r' % r.stdout)
            print('# lianpayctl query against %s:\n# ' % url + r.stdout.replace('\n', '\n# '))
    finally:
        raw.close()


@test
def lianpayctl_verify_and_status_escape_decoded_values():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    msg = sign(notification('CTLV-1', info_order='x' + TERMINAL_BAIT), ll_priv)
    ok('\\u001b' in msg, 'the escape travels as JSON \\u001b: %r' % msg)
    r = sh([CTL, 'verify', '-v', '--public-key', ll_pub], input=msg)
    ok(terminal_safe(r.stdout), 'verify -v: %r' % r.stdout)
    ok('\\x1b[32m' in r.stdout and 'valid: signed by key 1' in r.stdout, r.stdout)

    # The daemon refuses control characters in a notification's info_order; an internal tool
    # writing with plain SQL is not stopped.
    d = Daemon(tmp, ll_pub)
    with d.db() as c:
        for no_order, column in (('CTLV-1', 'info_order'), ('CTLV-2', 'review_reason')):
            c.execute("INSERT INTO payments(no_order, money_order, dt_order) VALUES "
                      "(?, '1.00', '20261122083000')", (no_order,))
            c.execute('UPDATE payments SET %s = ? WHERE no_order = ?' % column,
                      ('see\n' + TERMINAL_BAIT, no_order))
    for no_order in ('CTLV-1', 'CTLV-2'):
        r = sh([CTL, '-c', d.config, 'status', no_order])
        ok(terminal_safe(r.stdout), 'status: %r' % r.stdout)
        ok('\\x1b[32m' in r.stdout, r.stdout)
        eq(len(re.findall(r'^result_pay:', r.stdout, re.M)), 1, 'one result_pay line')


# ---- unprivileged users (items 14, 15) -----------------------------------------------------

class Users:
    """A throwaway service user and group, like sysusers makes (the user's primary group is the
    group), and a tool user with a private group of its own, member of the service's group."""

    def __init__(self):
        if os.geteuid() != 0:
            raise Skip('creating users and running programs as them needs root')
        for tool in ('useradd', 'groupadd', 'userdel', 'groupdel', 'setpriv'):
            if subprocess.run(['which', tool], capture_output=True).returncode != 0:
                raise Skip(tool + ' not installed')
        tag = uuid.uuid4().hex[:8]
        self.group, self.service, self.tool = 'lpg' + tag, 'lps' + tag, 'lpt' + tag
        self.made = []
        try:
            sh(['groupadd', '--system', self.group])
            self.made.append(('groupdel', self.group))
            sh(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin',
                '--gid', self.group, self.service])
            self.made.insert(0, ('userdel', self.service))
            sh(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin',
                '--user-group', '--groups', self.group, self.tool])
            self.made.insert(0, ('userdel', self.tool))
        except AssertionError:
            self.remove()
            raise
        self.gid = grp.getgrnam(self.group).gr_gid
        self.service_uid = pwd.getpwnam(self.service).pw_uid
        self.tool_uid = pwd.getpwnam(self.tool).pw_uid
        self.tool_gid = pwd.getpwnam(self.tool).pw_gid

    def as_user(self, user):
        """A command prefix that runs as user (its groups), with the unit's UMask=0007."""
        return ['sh', '-c', 'umask 007 && exec "$@"', 'sh', 'setpriv', '--reuid=' + user,
                '--regid=%d' % pwd.getpwnam(user).pw_gid, '--init-groups', '--']

    def remove(self):
        Daemon.stop_all()  # a user with a process left cannot be removed
        for cmd, name in self.made:
            subprocess.run([cmd, name], capture_output=True)
        self.made = []


def deployed(tmp, users, ll_pub, m_priv, extra_sections=None):
    """The files as the package and the unit leave them: the configuration 0640 root:GROUP,
    LianLian's key 0644, the merchant key 0600 owned by the service user, the state directory
    0770 SERVICE:GROUP; the daemon not started."""
    os.chmod(tmp.path, 0o755)
    state = os.path.join(tmp.path, 'state')
    os.mkdir(state, 0o770)
    os.chown(state, users.service_uid, users.gid)
    os.chmod(state, 0o770)
    os.chown(m_priv, users.service_uid, users.gid)
    os.chmod(m_priv, 0o600)
    os.chmod(ll_pub, 0o644)
    sections = {'database': {'path': os.path.join(state, 'payments.db')}}
    sections.update(extra_sections or {})
    d = Daemon(tmp, ll_pub, m_priv, start=False, sections=sections,
               prefix=users.as_user(users.service))
    d.db_path = os.path.join(state, 'payments.db')
    os.chown(d.config, 0, users.gid)
    os.chmod(d.config, 0o640)
    return d


@test
def a_member_of_the_group_registers_and_reads_without_the_private_key():
    users = Users()
    try:
        tmp = TempDir()
        ll_priv, ll_pub = keypair(tmp, 'lianlian')
        m_priv, _ = keypair(tmp, 'merchant', bits=2048)
        d = deployed(tmp, users, ll_pub, m_priv,
                     {'reconcile': {'enabled': 'true', 'notify_window': '1h'}})
        d.start()
        tool = users.as_user(users.tool)
        r = sh(tool + [CTL, '-c', d.config, 'register', 'GRP-1', '12.50', '20261122083000'],
               check=False)
        eq((r.returncode, r.stdout.strip()), (0, 'GRP-1: registered'), 'register: ' + r.stderr)
        r = sh(tool + [CTL, '-c', d.config, 'status', 'GRP-1'], check=False)
        eq(r.returncode, 0, 'status: ' + r.stderr)
        ok(re.search(r'^amount_fen: +1250$', r.stdout, re.M), r.stdout)
        r = sh(tool + [CTL, '-c', d.config, 'verify', '--public-key', d.config.replace(
            'notifyd.conf', 'lianlian_public.pem')], input=sign(notification('GRP-2'), ll_priv),
            check=False)
        eq(r.returncode, 0, 'verify: ' + r.stdout + r.stderr)
        # query signs: it needs the key, and says so
        r = sh(tool + [CTL, '-c', d.config, 'query', 'GRP-1'], check=False)
        eq(r.returncode, 2, 'query without the key')
        ok(m_priv in r.stderr and 'merchant_private_key' in r.stderr, r.stderr)
        print('# as %s (uid %d, in %s): register and status exit 0; query: %s'
              % (users.tool, users.tool_uid, users.group, r.stderr.strip()))
        eq(d.row('GRP-1')['amount_fen'], 1250, 'the row the daemon sees')
        eq(d.stop(), 0, 'the service user\'s daemon stops cleanly')
    finally:
        users.remove()


def check_config(d, prefix=()):
    """lianpay-notifyd -t on d's configuration: (exit status, stderr)."""
    r = sh(list(prefix) + [NOTIFYD, '-t', '-c', d.config], check=False)
    return r.returncode, r.stderr.strip()


def refused(d, words, prefix=()):
    """-t and start-up both refuse, with all of words in the reason."""
    rc, err = check_config(d, prefix)
    eq(rc, 1, '-t exit status (%s)' % err)
    ok(all(w in err for w in words), '%r in %r' % (words, err))
    r = subprocess.run(list(prefix) + [NOTIFYD, '-c', d.config], capture_output=True,
                       text=True, timeout=30)
    eq(r.returncode, 1, 'start-up exit status')
    ok(all(w in r.stderr for w in words), 'start-up: %r in %r' % (words, r.stderr))
    return err


@test
def files_others_can_write_are_refused():
    users = Users()
    try:
        tmp = TempDir()
        ll_priv, ll_pub = keypair(tmp, 'lianlian')
        m_priv, _ = keypair(tmp, 'merchant', bits=2048)
        d = deployed(tmp, users, ll_pub, m_priv)
        service = users.as_user(users.service)
        eq(check_config(d, service), (0, ''), 'as deployed')

        os.chmod(ll_pub, 0o666)
        print('# ' + refused(d, [ll_pub, 'writable by others', '0666'], service))
        os.chmod(ll_pub, 0o664)  # root's group: not the key owner's alone
        os.chown(ll_pub, 0, users.gid)
        print('# ' + refused(d, [ll_pub, 'writable by its group', '0664'], service))
        os.chown(ll_pub, users.tool_uid, users.tool_gid)  # the tool user's private group
        eq(check_config(d, service), (0, ''), 'group-writable in its owner\'s private group')
        os.chown(ll_pub, 0, 0)
        os.chmod(ll_pub, 0o644)

        os.chmod(d.config, 0o662)
        print('# ' + refused(d, [d.config, 'writable by others', '0662'], service))
        os.chmod(d.config, 0o660)  # root:GROUP, and the group has members
        print('# ' + refused(d, [d.config, 'writable by its group', '0660'], service))
        os.chmod(d.config, 0o640)

        os.chmod(tmp.path, 0o777)  # the directory: anyone could replace the files
        print('# ' + refused(d, ['could be replaced', tmp.path, '0777'], service))
        os.chmod(tmp.path, 0o755)

        os.chown(m_priv, users.tool_uid, users.gid)
        print('# ' + refused(d, [m_priv, 'owned by uid %d (%s)' % (users.tool_uid, users.tool),
                                 'not by uid %d (%s)' % (users.service_uid, users.service)],
                             service))
        os.chown(m_priv, users.service_uid, users.gid)
        eq(check_config(d, service), (0, ''), 'repaired')
        d.start()
        eq(d.stop(), 0, 'starts once repaired')
    finally:
        users.remove()


# ---- one daemon per database (item 17) -----------------------------------------------------

@test
def a_second_daemon_on_the_same_database_refuses_to_start():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    first = Daemon(tmp, ll_pub)
    other = TempDir()
    link = os.path.join(other.path, 'same.db')
    os.symlink(first.db_path, link)
    for path in (first.db_path, link):
        second = Daemon(other, ll_pub, start=False, sections={'database': {'path': path}})
        try:
            second.start()
            raise AssertionError('a second daemon started on %s' % path)
        except AssertionError as err:
            ok('is in use by another lianpay-notifyd, pid %d' % first.proc.pid in str(err) and
               first.db_path + '.lock' in str(err), 'names the holder: %s' % err)
            print('# ' + re.search(r'event=start .*', str(err)).group(0))
        second.stop()
    eq(first.post(sign(notification('ONE-1'), ll_priv)), (200, ACK), 'the first one serves on')
    eq(first.stop(), 0, 'first stops')
    second = Daemon(other, ll_pub, sections={'database': {'path': link}})
    second.db_path = link
    eq(second.post(sign(notification('ONE-2'), ll_priv)), (200, ACK), 'then the second one runs')
    eq(second.row('ONE-1')['result_pay'], 'SUCCESS', 'on the same database')


# ---- -t checks what start-up will need (item 18) -------------------------------------------

@test
def dash_t_checks_what_start_up_will_need():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'lianlian')
    m_priv, _ = keypair(tmp, 'merchant', bits=2048)
    d = Daemon(tmp, ll_pub, m_priv, start=False,
               sections={'server': {'listen': '127.0.0.1:18080'},
                         'admin': {'listen': '127.0.0.1:19090'}})
    eq(check_config(d), (0, ''), 'a good configuration')

    for key in (ll_pub, m_priv):
        mode = os.stat(key).st_mode & 0o777
        os.chmod(key, 0)  # root could read it, the service's user could not
        rc, err = check_config(d)
        eq(rc, 1, 'unreadable %s' % key)
        ok(key in err and 'not readable by uid %d (mode 0000' % os.geteuid() in err, err)
        print('# ' + err)
        os.chmod(key, mode)

    cases = [
        ({'database': {'path': os.path.join(tmp.path, 'missing', 'payments.db')}},
         ['database.path', os.path.join(tmp.path, 'missing'), 'does not exist']),
        ({'admin': {'listen': '127.0.0.1:18080'}},
         ['admin.listen', 'the same address and port as server.listen']),
        ({'admin': {'listen': '0.0.0.0:18080'}},
         ['admin.listen', 'the same address and port as server.listen']),
    ]
    for sections, words in cases:
        bad = Daemon(tmp, ll_pub, m_priv, start=False, sections=dict(
            {'server': {'listen': '127.0.0.1:18080'}, 'admin': {'listen': '127.0.0.1:19090'}},
            **sections))
        rc, err = check_config(bad)
        eq(rc, 1, '-t on %r' % sections)
        ok(all(w in err for w in words), '%r in %r' % (words, err))
        print('# ' + err)

    db_dir = os.path.join(tmp.path, 'db')
    os.mkdir(db_dir)
    bad = Daemon(tmp, ll_pub, m_priv, start=False,
                 sections={'database': {'path': os.path.join(db_dir, 'payments.db')}})
    os.chmod(db_dir, 0o500)
    rc, err = check_config(bad)
    eq(rc, 1, 'a database directory its user cannot write')
    ok('not writable and searchable by uid' in err and db_dir in err, err)
    print('# ' + err)
    os.chmod(db_dir, 0o700)
    eq(check_config(bad), (0, ''), 'repaired')



@test
def both_programs_load_the_development_configuration():
    # lianpay-notifyd --dev and lianpayctl --dev load the embedded configuration through one
    # function (devconfig_load): -t names it, and lianpayctl finds the daemon's database in DIR.
    tmp = TempDir()
    dev = os.path.join(tmp.path, 'dev')
    r = sh([NOTIFYD, '--dev', dev, '-t'])
    eq(r.stdout, '(development configuration): configuration ok\n', '-t output')
    for name in ('lianlian_public.pem', 'merchant_private.pem'):
        ok(os.path.exists(os.path.join(dev, name)), name + ' made in DIR')
    eq(sh([CTL, '--dev', dev, 'register', 'DEV-1', '1.00', '20261122083000']).stdout,
       'DEV-1: registered\n', 'register')
    ok(os.path.exists(os.path.join(dev, 'payments.db')), 'the database in DIR')
    ok('money_order:        1.00' in sh([CTL, '--dev', dev, 'status', 'DEV-1']).stdout,
       'status reads it back')
    r = sh([CTL, '--dev', os.path.join(tmp.path, 'no', 'such', 'dir'), 'status', 'DEV-1'],
           check=False)
    eq(r.returncode, 2, 'a DIR that cannot be made')
    ok(r.stderr.startswith('lianpayctl: ') and r.stderr.count('\n') == 1, r.stderr)
    print('# ' + r.stderr.strip())


if __name__ == '__main__':
    run()
