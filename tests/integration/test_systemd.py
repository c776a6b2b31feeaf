#!/usr/bin/env python3
"""What gets installed, and the systemd unit: `meson install --destdir` gives a Debian-style
tree; the unit verifies and its exposure score is at most 1.5; its user and file modes apply;
the man pages cover every option and key; and the daemon stays within the unit's sandbox.

systemd is not PID 1 here, so the unit cannot be started. What is checked instead:
  - `systemd-analyze verify` on the installed unit, with ExecStart= pointed at the installed
    binary inside DESTDIR (the only line rewritten) and MANPATH at the installed man pages;
  - `systemd-analyze security --offline=true` on the installed unit as it is;
  - systemd-sysusers and systemd-tmpfiles applied to a copy of the tree (--root);
  - the daemon run under strace through start, notifications, queries, the admin listener,
    SIGHUP and SIGTERM: every system call it makes must be one the unit's SystemCallFilter=
    allows, every file it writes must be under its database directory (the unit's only
    writable path, StateDirectory=), every device it opens one PrivateDevices= provides.
What is not checked: the namespaces themselves (ProtectSystem=, PrivateUsers=, ...) at run
time, which only a real systemd can set up.
"""
import glob
import json
import os
import re
import shutil
import signal
import ssl
import http.client
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BUILD, CTL, NOTIFYD, SIM, Daemon, Sim, Skip, TempDir, eq, keypair,  # noqa: E402
                     notification, ok, run, sh, sign, test, wait_for)

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
MAX_EXPOSURE = 1.5
ACK = {'ret_code': '0000', 'ret_msg': '交易成功'}


def need(program):
    path = shutil.which(program)
    if path is None:
        raise Skip('%s is not installed (scripts/deps.sh installs it)' % program)
    return path


def build_options():
    r = sh(['meson', 'introspect', '--buildoptions', BUILD])
    return {o['name']: o['value'] for o in json.loads(r.stdout)}


class Installed:
    """`meson install --destdir` of the build under test into a temporary directory."""

    def __init__(self):
        self.tmp = TempDir()
        self.root = os.path.join(self.tmp.path, 'root')
        sh(['meson', 'install', '-C', BUILD, '--no-rebuild', '--quiet', '--destdir', self.root])
        o = build_options()
        self.prefix = o['prefix']
        self.opt = o

    def path(self, *parts):
        """A path of the installed system (absolute, as on the target machine)."""
        p = os.path.join(*parts)
        return p if os.path.isabs(p) else os.path.join(self.prefix, p)

    def file(self, *parts):
        """The same path inside DESTDIR."""
        return self.root + self.path(*parts)

    def unit(self):
        if self.prefix == '/usr':
            r = sh(['pkg-config', '--variable=systemdsystemunitdir', 'systemd'])
            d = r.stdout.strip()
        else:
            d = self.path('lib/systemd/system')
        return os.path.join(self.root + d, 'lianpay-notifyd.service')


def mode(path):
    return os.stat(path).st_mode & 0o7777


# ---- the installed tree ------------------------------------------------------------------

@test
def install_gives_a_debian_style_tree():
    inst = Installed()
    o = inst.opt
    expect = {
        (o['sbindir'], 'lianpay-notifyd'): 0o755,
        (o['bindir'], 'lianpayctl'): 0o755,
        (o['bindir'], 'lianpay-sim'): 0o755,
        (o['sysconfdir'], 'lianpay-notifyd/lianpay-notifyd.conf'): 0o640,
        (o['datadir'], 'lianpay-notifyd/sql/0001_initial.sql'): 0o644,
        (o['mandir'], 'man8/lianpay-notifyd.8'): 0o644,
        (o['mandir'], 'man5/lianpay-notifyd.conf.5'): 0o644,
        (o['mandir'], 'man1/lianpayctl.1'): 0o644,
        (o['mandir'], 'man1/lianpay-sim.1'): 0o644,
        (o['datadir'], 'doc/lianpay-notifyd/examples/nginx-lianpay-notifyd.conf'): 0o644,
        ('lib/sysusers.d' if inst.prefix != '/usr' else '/usr/lib/sysusers.d',
         'lianpay-notifyd.conf'): 0o644,
        ('lib/tmpfiles.d' if inst.prefix != '/usr' else '/usr/lib/tmpfiles.d',
         'lianpay-notifyd.conf'): 0o644,
    }
    for (d, name), m in expect.items():
        f = inst.file(d, name)
        ok(os.path.isfile(f), 'installed: ' + inst.path(d, name))
        eq(oct(mode(f)), oct(m), 'mode of ' + inst.path(d, name))
    sql = sorted(os.path.basename(p) for p in glob.glob(os.path.join(SOURCE, 'sql', '*.sql')))
    eq(sorted(os.listdir(inst.file(o['datadir'], 'lianpay-notifyd/sql'))), sql, 'every migration')
    unit = inst.unit()
    ok(os.path.isfile(unit), 'unit installed at ' + unit)
    text = open(unit).read()
    start = re.search(r'^ExecStart=(\S+) -c (\S+)$', text, re.M)
    ok(start, 'ExecStart line')
    eq(start.group(1), inst.path(o['sbindir'], 'lianpay-notifyd'), 'ExecStart program')
    eq(start.group(2), inst.path(o['sysconfdir'], 'lianpay-notifyd/lianpay-notifyd.conf'),
       'ExecStart configuration')
    ok(os.access(inst.root + start.group(1), os.X_OK), 'the program ExecStart names exists')
    ok('@' not in re.sub(r'^#.*$', '', text, flags=re.M).replace('@system-service', '')
       .replace('@privileged', '').replace('@resources', ''), 'every @variable@ substituted')
    # the installed example is the repository's
    eq(open(inst.file(o['sysconfdir'], 'lianpay-notifyd/lianpay-notifyd.conf')).read(),
       open(os.path.join(SOURCE, 'etc', 'lianpay-notifyd.conf')).read(), 'example config')


@test
def unit_verifies():
    analyze = need('systemd-analyze')
    inst = Installed()
    text = open(inst.unit()).read()
    program = re.search(r'^ExecStart=(\S+)', text, re.M).group(1)
    # The one rewrite: the program as installed under DESTDIR (verify checks it exists).
    # ExecStartPre= and ExecReload= run the same program (-t).
    copy = inst.tmp.file('lianpay-notifyd.service',
                         re.sub(r'^(Exec\w+=)' + re.escape(program), r'\g<1>' + inst.root + program,
                                text, flags=re.M))
    env = dict(os.environ, MANPATH=inst.file(inst.opt['mandir']),
               SYSTEMD_LOG_COLOR='0')
    r = subprocess.run([analyze, 'verify', copy], capture_output=True, text=True, env=env,
                       timeout=60)
    eq((r.returncode, r.stdout + r.stderr), (0, ''), 'systemd-analyze verify')


@test
def the_unit_checks_the_configuration_before_start_and_reload():
    inst = Installed()
    text = open(inst.unit()).read()
    program = re.search(r'^ExecStart=(\S+)', text, re.M).group(1)
    config = re.search(r'^ExecStart=\S+ -c (\S+)$', text, re.M).group(1)
    eq(re.findall(r'^ExecStartPre=(.*)$', text, re.M), ['%s -t -c %s' % (program, config)],
       'ExecStartPre= runs -t on the configuration ExecStart= uses')
    # in this order: a failed check fails `systemctl reload` before the daemon is signalled
    eq(re.findall(r'^ExecReload=(.*)$', text, re.M),
       ['%s -t -c %s' % (program, config), '/bin/kill -HUP $MAINPID'], 'ExecReload=')


@test
def unit_exposure_is_at_most_1_5():
    analyze = need('systemd-analyze')
    inst = Installed()
    r = subprocess.run([analyze, 'security', '--offline=true', '--no-pager', inst.unit()],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SYSTEMD_COLORS='0'))
    m = re.search(r'Overall exposure level for lianpay-notifyd\.service: (\d+\.\d+)', r.stdout)
    ok(m, 'exposure level in:\n' + r.stdout + r.stderr)
    score = float(m.group(1))
    print('# systemd-analyze security --offline=true: %.1f' % score)
    ok(score <= MAX_EXPOSURE, 'exposure %.1f > %.1f:\n%s' % (score, MAX_EXPOSURE, r.stdout))


@test
def sysusers_and_tmpfiles_make_the_user_and_the_modes():
    sysusers = need('systemd-sysusers')
    tmpfiles = need('systemd-tmpfiles')
    if os.geteuid() != 0:
        raise Skip('systemd-tmpfiles --root needs root to change owners')
    inst = Installed()
    root = inst.root
    os.makedirs(os.path.join(root, 'etc'), exist_ok=True)
    sh([sysusers, '--root=' + root])
    passwd = open(os.path.join(root, 'etc/passwd')).read()
    m = re.search(r'^lianpay-notifyd:x:(\d+):(\d+):[^:]*:/var/lib/lianpay-notifyd:', passwd, re.M)
    ok(m, 'system user in passwd:\n' + passwd)
    uid, gid = int(m.group(1)), int(m.group(2))
    ok(uid < 1000, 'a system uid')
    key = inst.file(inst.opt['sysconfdir'], 'lianpay-notifyd/merchant_private.pem')
    conf = inst.file(inst.opt['sysconfdir'], 'lianpay-notifyd/lianpay-notifyd.conf')
    open(key, 'w').close()
    os.chmod(key, 0o644)
    os.chmod(conf, 0o644)
    sh([tmpfiles, '--root=' + root, '--create'])
    st = os.stat(conf)
    eq((st.st_uid, st.st_gid, oct(st.st_mode & 0o777)), (0, gid, '0o640'), 'configuration')
    st = os.stat(key)
    eq((st.st_uid, st.st_gid, oct(st.st_mode & 0o777)), (uid, gid, '0o600'), 'private key')


# ---- man pages ---------------------------------------------------------------------------

def man_text(path):
    """The words of a roff page, without font escapes."""
    t = open(path, encoding='utf-8').read()
    t = re.sub(r'\\f[BIRP]', '', t)
    return t.replace('\\&', '').replace('\\-', '-').replace('\\(aq', "'").replace('\\e', '\\')


def long_options(program):
    out = sh([program, '--help']).stdout
    return sorted(set(re.findall(r'(?<![\w-])(--[a-z][a-z-]+)', out)))


@test
def man_pages_cover_every_option_verb_and_key():
    inst = Installed()
    man = {name: man_text(inst.file(inst.opt['mandir'], sec, name)) for sec, name in (
        ('man8', 'lianpay-notifyd.8'), ('man5', 'lianpay-notifyd.conf.5'),
        ('man1', 'lianpayctl.1'), ('man1', 'lianpay-sim.1'))}
    for program, page in ((NOTIFYD, 'lianpay-notifyd.8'), (CTL, 'lianpayctl.1'),
                          (SIM, 'lianpay-sim.1')):
        opts = long_options(program)
        ok(len(opts) >= 2, 'options of %s: %r' % (program, opts))
        for opt in opts:
            ok(opt in man[page], '%s documents %s' % (page, opt))
    for verb in ('verify', 'sign', 'register', 'status', 'query'):
        ok(re.search(r'^\.?%s\b' % verb, man['lianpayctl.1'], re.M) or
           '\n%s ' % verb in man['lianpayctl.1'], 'lianpayctl.1 documents ' + verb)
    for verb in ('notify', 'serve', 'keygen', 'sign-batch'):
        ok(verb in man['lianpay-sim.1'], 'lianpay-sim.1 documents ' + verb)
    # every key the configuration parser knows, in the man page and in the example file
    src = open(os.path.join(SOURCE, 'src', 'config.c')).read()
    keys = re.findall(r'\{"(server|lianlian|database|reconcile|log|admin|submit)", "(\w+)",\s*set_',
                      src)
    ok(len(keys) >= 25, 'keys found in config.c: %d' % len(keys))
    example = open(os.path.join(SOURCE, 'etc', 'lianpay-notifyd.conf')).read()
    sections = {}
    current = None
    for line in example.splitlines():
        m = re.match(r'^\[(\w+)\]', line)
        if m:
            current = m.group(1)
        m = re.match(r'^;?(\w+) =', line)
        if m:
            sections.setdefault(current, set()).add(m.group(1))
    conf5 = man['lianpay-notifyd.conf.5']
    for section, key in keys:
        ok('SECTION [%s]' % section in conf5, 'conf.5 has section ' + section)
        part = conf5.split('SECTION [%s]' % section, 1)[1].split('SECTION [', 1)[0]
        ok(re.search(r'(^|\n)(\.P\n)?%s = ' % key, part) or '%s = ' % key in part,
           'lianpay-notifyd.conf.5 documents %s.%s' % (section, key))
        ok(key in sections.get(section, ()), 'example file shows %s.%s' % (section, key))
    for sig in ('SIGTERM', 'SIGHUP', 'SIGINT'):
        ok(sig in man['lianpay-notifyd.8'], 'lianpay-notifyd.8 documents ' + sig)
    sections = {
        'lianpay-notifyd.8': ('OPTIONS', 'SIGNALS', 'EXIT STATUS', 'FILES', 'EXAMPLES',
                              'SEE ALSO'),
        'lianpay-notifyd.conf.5': ('FILES', 'EXAMPLES', 'SEE ALSO'),
        'lianpayctl.1': ('OPTIONS', 'EXIT STATUS', 'FILES', 'EXAMPLES', 'SEE ALSO'),
        'lianpay-sim.1': ('OPTIONS', 'EXIT STATUS', 'EXAMPLES', 'SEE ALSO'),
    }
    for name, text in man.items():
        for section in sections[name]:
            ok('.SH %s' % section in text, '%s has %s' % (name, section))


# ---- the sandbox -------------------------------------------------------------------------

def syscall_groups():
    """{'@group': set of names and @groups} from systemd-analyze."""
    out = sh([need('systemd-analyze'), 'syscall-filter', '--no-pager']).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith('@'):
            current = line.strip()
            groups[current] = set()
        elif current and line.strip() and not line.strip().startswith('#'):
            groups[current].add(line.strip())
    return groups


def expand(groups, name, seen=None):
    seen = seen or set()
    if not name.startswith('@'):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = set()
    for member in groups.get(name, ()):
        out |= expand(groups, member, seen)
    return out


def unit_filter(unit_text):
    """The system calls SystemCallFilter= lines allow: allow-lists first, then ~deny-lists."""
    groups = syscall_groups()
    allowed = set()
    denied = set()
    for line in re.findall(r'^SystemCallFilter=(.*)$', unit_text, re.M):
        deny = line.startswith('~')
        for item in line.lstrip('~').split():
            (denied if deny else allowed).update(expand(groups, item))
    return allowed - denied


TRACE_LINE = re.compile(r'^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$')
WRITE_FLAGS = ('O_WRONLY', 'O_RDWR', 'O_CREAT', 'O_TRUNC', 'O_APPEND')
PRIVATE_DEVICES = {'/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom',
                   '/dev/tty', '/dev/pts/ptmx', '/dev/ptmx', '/dev/shm'}


@test
def the_daemon_stays_within_the_units_sandbox():
    strace = need('strace')
    inst = Installed()
    unit_text = open(inst.unit()).read()
    allowed = unit_filter(unit_text)
    ok(len(allowed) > 200, '@system-service expanded: %d' % len(allowed))

    tmp = TempDir()
    state = os.path.join(tmp.path, 'state')
    os.mkdir(state)
    ll_priv, ll_pub = keypair(tmp, 'll')
    m_priv, m_pub = keypair(tmp, 'merchant')
    sim = Sim(tmp, ll_priv, m_pub, {'SB-Q': [{'result_pay': 'SUCCESS', 'money_order': '1.00',
                                            'dt_order': '20261122083000',
                                            'oid_paybill': '2026112200099999'}]})
    d = Daemon(tmp, ll_pub, m_priv, start=False, sections={
        'database': {'path': os.path.join(state, 'payments.db')},
        'lianlian': {'query_url': sim.url.replace('127.0.0.1', 'localhost')},
        'reconcile': {'notify_window': '1s'}, 'log': {'summary_interval': '1s'}})
    d.db_path = os.path.join(state, 'payments.db')
    out = os.path.join(tmp.path, 'out')
    os.mkdir(out)
    trace = os.path.join(out, 'trace')
    notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_sock.bind(tmp.file('notify.sock'))
    # (LeakSanitizer cannot run under ptrace: the sanitizer build's leak check is off here)
    env = dict(os.environ, NOTIFY_SOCKET=tmp.file('notify.sock'), WATCHDOG_USEC='2000000',
               ASAN_OPTIONS=os.environ.get('ASAN_OPTIONS', '') + ':detect_leaks=0')
    command = [strace, '-f', '-qq', '-o', trace, NOTIFYD, '-c', d.config]
    if os.geteuid() == 0:
        # As the unit runs it: not root (SQLite, for one, behaves differently as root: it
        # chowns the files it creates), with nothing writable but the state directory.
        setpriv = need('setpriv')
        nobody = 65534
        os.chmod(tmp.path, 0o755)
        os.chmod(out, 0o777)
        os.chmod(tmp.file('notify.sock'), 0o666)
        os.chown(state, nobody, nobody)
        os.chmod(state, 0o700)
        os.chown(m_priv, nobody, nobody)
        command = [setpriv, '--reuid=%d' % nobody, '--regid=%d' % nobody, '--clear-groups',
                   '--'] + command
    d.log = open(d.log_path, 'a')
    d.log_offset = 0
    d.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=d.log, env=env)
    try:
        d.wait_log(r'event=ready .*listen=', timeout=30)
        # signals go to the daemon, strace's child, not to strace
        with open('/proc/%d/task/%d/children' % (d.proc.pid, d.proc.pid)) as f:
            daemon_pid = int(f.read().split()[0])
        m = re.search(r'event=ready .*listen=\S+:(\d+) .* admin=\S+:(\d+)', d.logs())
        d.port, d.host, d.admin_port = int(m.group(1)), '127.0.0.1', int(m.group(2))
        if 'PTRACE' in open(trace).read()[:2000]:
            raise Skip('strace cannot trace here')
        eq(d.post(sign(notification('SB-1'), ll_priv)), (200, ACK), 'notification')
        eq(d.post('nonsense')[0], 400, 'refusal')
        sh([CTL, '-c', d.config, 'register', 'SB-Q', '1.00', '20261122083000'])
        wait_for(lambda: 'no_order=SB-Q' in d.logs() and 'event=query' in d.logs(), 'a query',
                 timeout=30)
        for path in ('/metrics', '/readyz', '/livez'):
            s = socket.create_connection(('127.0.0.1', d.admin_port), timeout=10)
            s.sendall(b'GET %s HTTP/1.0\r\n\r\n' % path.encode())
            while s.recv(65536):
                pass
            s.close()
        os.kill(daemon_pid, signal.SIGHUP)
        d.wait_log(r'event=reload status=ok', timeout=20)
        d.wait_log(r'event=summary', timeout=20)
        time.sleep(2.5)  # watchdog probes (loopback HTTP through libcurl) and pings
    finally:
        if 'daemon_pid' in locals():
            os.kill(daemon_pid, signal.SIGTERM)
        else:
            d.proc.kill()
        rc = d.proc.wait(60)  # strace exits with its tracee's status
        d.log.close()
        d.proc = None
        notify_sock.close()
    eq(rc, 0, 'exit status under strace')

    used, written, devices = set(), set(), set()
    for line in open(trace, encoding='utf-8', errors='replace'):
        m = TRACE_LINE.match(line)
        if not m:
            continue
        name = m.group(2) or m.group(3)
        used.add(name)
        rest = m.group(4)
        p = re.match(r'(?:AT_FDCWD|\d+(?:<[^>]*>)?), "([^"]*)", ([A-Z_|]+)', rest) \
            if name == 'openat' else None
        if p:
            if p.group(1).startswith('/dev/'):
                devices.add(p.group(1))
            if any(f in p.group(2).split('|') for f in WRITE_FLAGS) and ' = -1 ' not in rest:
                written.add(p.group(1))
        if name in ('unlink', 'unlinkat', 'rename', 'renameat', 'renameat2', 'mkdir',
                    'mkdirat', 'truncate') and ' = -1 ' not in rest:
            for q in re.findall(r'"([^"]*)"', rest):
                written.add(q)
    # execve is how the service manager starts ExecStart= (before the filter applies to it)
    outside = sorted(used - allowed - {'execve'})
    print('# %d distinct system calls traced' % len(used))
    eq(outside, [], 'system calls outside SystemCallFilter=')
    bad_writes = sorted(w for w in written
                        if not os.path.abspath(w).startswith(state + os.sep) and w != '/dev/null')
    eq(bad_writes, [], 'files written outside the state directory')
    eq(sorted(devices - PRIVATE_DEVICES), [], 'devices PrivateDevices= would hide')
    for af in re.findall(r'socket\((AF_\w+)', open(trace).read()):
        ok(af in ('AF_UNIX', 'AF_INET', 'AF_INET6', 'AF_NETLINK'),
           'address family %s outside RestrictAddressFamilies=' % af)


# ---- behind nginx ------------------------------------------------------------------------

def nginx_site(tmp, daemon_port, listen_port):
    text = open(os.path.join(SOURCE, 'etc', 'nginx-lianpay-notifyd.conf')).read()
    cert, key = tmp.file('cert.pem'), tmp.file('key.pem')
    sh(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
        '-days', '1', '-subj', '/CN=localhost'])
    text = (text.replace('server 127.0.0.1:8080;', 'server 127.0.0.1:%d;' % daemon_port)
            .replace('listen 443 ssl;', 'listen 127.0.0.1:%d ssl;' % listen_port)
            .replace('listen [::]:443 ssl;', '')
            .replace('/etc/letsencrypt/live/pay-notify.example.com/fullchain.pem', cert)
            .replace('/etc/letsencrypt/live/pay-notify.example.com/privkey.pem', key)
            # the test client stands for LianLian at 127.0.0.1; 127.0.0.2 stands for others
            .replace('allow 203.0.113.0/24;', 'allow 127.0.0.1;'))
    site = tmp.file('site.conf', text)
    p = tmp.path
    main = ('pid %s/nginx.pid;\nerror_log %s/error.log;\nevents {}\nhttp {\n'
            'access_log %s/access.log;\nclient_body_temp_path %s/body;\n'
            'proxy_temp_path %s/proxy;\nfastcgi_temp_path %s/fcgi;\nuwsgi_temp_path %s/uwsgi;\n'
            'scgi_temp_path %s/scgi;\ninclude %s;\n}\n' % ((p,) * 8 + (site,)))
    return tmp.file('nginx.conf', main)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def https_post(port, path, body, headers=None, source='127.0.0.1', method='POST'):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = http.client.HTTPSConnection('127.0.0.1', port, context=ctx, timeout=10,
                                    source_address=(source, 0))
    c.request(method, path, body=body.encode() if body is not None else None,
              headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, None


@test
def the_nginx_example_forwards_only_the_notification_path():
    nginx = need('nginx')
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'll')
    d = Daemon(tmp, ll_pub, sections={'server': {'trusted_proxies': '127.0.0.1'}})
    port = free_port()
    conf = nginx_site(tmp, d.port, port)
    sh([nginx, '-t', '-p', tmp.path, '-c', conf])
    proc = subprocess.Popen([nginx, '-p', tmp.path, '-c', conf, '-g', 'daemon off;'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _connects(port), 'nginx to listen', timeout=10)
        body = sign(notification('NGX-1'), ll_priv)
        eq(https_post(port, '/lianpay/notify', body, {'X-Forwarded-For': '6.6.6.6'}),
           (200, ACK), 'through nginx over TLS')
        ev = d.events('NGX-1')
        eq(ev[0]['remote_addr'], '127.0.0.1', 'the address nginx saw, not the forged header')
        eq(https_post(port, '/metrics', None, method='GET')[0], 404, 'nothing else forwarded')
        eq(https_post(port, '/lianpay/notify', None, method='GET')[0], 403, 'POST only')
        eq(https_post(port, '/lianpay/notify', 'x' * 20000)[0], 413, 'body limit')
        eq(https_post(port, '/lianpay/notify', body, source='127.0.0.2')[0], 403,
           'a source LianLian does not use')
        ok(not [l for l in d.log_lines('reject') if '6.6.6.6' in l], 'forged address unused')
    finally:
        proc.terminate()
        proc.wait(10)


def _connects(port):
    try:
        socket.create_connection(('127.0.0.1', port), 1).close()
        return True
    except OSError:
        return False


if __name__ == '__main__':
    run()
