#!/usr/bin/env python3
"""The Debian package: `dpkg-buildpackage -us -uc -b` on a copy of the source tree, then its file
lists, its conffiles, its maintainer scripts, lintian, and an installation.

The package is built once, in a temporary directory, with DEB_BUILD_OPTIONS=nocheck (the suite is
not run again inside the package build). The installation is `dpkg --root=DIR
--force-script-chrootless` into an empty directory: the maintainer scripts run with DPKG_ROOT set,
so systemd-sysusers and systemd-tmpfiles work on that directory, as they would on a fresh machine,
and no running systemd is needed (there is none here: nothing is started, and the test checks that
nothing is enabled either). It needs root (dpkg sets owners); without it that part is skipped.
"""
import atexit
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Skip, TempDir, eq, ok, run, test  # noqa: E402

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD_TIMEOUT = 900  # seconds; the build takes about 15 s on an idle 2-core machine
DAEMON = 'lianpay-notifyd'
TOOLS = 'lianpay-notifyd-dev-tools'
CONF = '/etc/lianpay-notifyd/lianpay-notifyd.conf'

# What each package must carry (paths as dpkg-deb -c shows them, without the leading '.').
DAEMON_FILES = [
    '/usr/sbin/lianpay-notifyd',
    '/usr/bin/lianpayctl',
    '/lib/systemd/system/lianpay-notifyd.service',
    '/lib/systemd/system/lianpay-notifyd-backup.service',
    '/lib/systemd/system/lianpay-notifyd-backup.timer',
    '/usr/libexec/lianpay-notifyd/lianpay-notifyd-backup',
    '/usr/lib/sysusers.d/lianpay-notifyd.conf',
    '/usr/lib/tmpfiles.d/lianpay-notifyd.conf',
    CONF,
    '/usr/share/man/man8/lianpay-notifyd.8.gz',
    '/usr/share/man/man5/lianpay-notifyd.conf.5.gz',
    '/usr/share/man/man1/lianpayctl.1.gz',
    '/usr/share/lianpay-notifyd/sql/0001_initial.sql',
    '/usr/share/lianpay-notifyd/prometheus/lianpay-notifyd-rules.yml',
    '/usr/share/doc/lianpay-notifyd/copyright',
    '/usr/share/doc/lianpay-notifyd/examples/nginx-lianpay-notifyd.conf',
]
TOOLS_FILES = [
    '/usr/bin/lianpay-sim',
    '/usr/share/man/man1/lianpay-sim.1.gz',
    '/usr/share/doc/lianpay-notifyd-dev-tools/copyright',
]

_built = {}


def workdir():
    """The directory of the package build, shared by the tests of this file, removed at exit."""
    if 'dir' not in _built:
        _built['dir'] = tempfile.mkdtemp(prefix='lianpay-package-')
        if not os.environ.get('LIANPAY_KEEP_TMP'):
            atexit.register(shutil.rmtree, _built['dir'], True)
    return _built['dir']


def copy_source(dest):
    """The tracked and untracked-but-not-ignored files of the source tree (no build directory,
    no .git), or the whole tree without build output when this is not a git checkout."""
    listing = subprocess.run(['git', '-C', SOURCE, 'ls-files', '-z', '--cached', '--others',
                              '--exclude-standard'], capture_output=True, timeout=60)
    if listing.returncode == 0:
        for name in listing.stdout.decode().split('\0'):
            src = os.path.join(SOURCE, name)
            if name and os.path.isfile(src):
                os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
                shutil.copy2(src, os.path.join(dest, name))
        return
    shutil.copytree(SOURCE, dest, dirs_exist_ok=True, symlinks=True,
                    ignore=shutil.ignore_patterns('.git', 'build*', 'obj-*', '.demo'))


def deb(name):
    """Builds the packages once; returns the path of package name's .deb."""
    if 'error' in _built:
        raise AssertionError(_built['error'])
    if 'debs' not in _built:
        for tool in ('dpkg-buildpackage', 'dh', 'lintian', 'fakeroot'):
            if shutil.which(tool) is None:
                raise Skip('%s is not installed (scripts/deps.sh installs it)' % tool)
        top = workdir()
        src = os.path.join(top, 'lianpay-notifyd')
        copy_source(src)
        env = dict(os.environ, DEB_BUILD_OPTIONS='nocheck', LC_ALL='C.UTF-8')
        t0 = time.monotonic()
        r = subprocess.run(['dpkg-buildpackage', '-us', '-uc', '-b'], cwd=src, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=BUILD_TIMEOUT)
        print('# dpkg-buildpackage took %.1f s' % (time.monotonic() - t0), flush=True)
        if r.returncode != 0:
            _built['error'] = 'dpkg-buildpackage exited %d:\n%s' % (r.returncode,
                                                                     r.stdout[-4000:])
            raise AssertionError(_built['error'])
        _built['debs'] = {}
        for f in sorted(os.listdir(top)):
            m = re.match(r'([a-z0-9.+-]+)_[^_]+_[a-z0-9]+\.deb$', f)
            if m:
                _built['debs'][m.group(1)] = os.path.join(top, f)
                print('# %s: %d bytes' % (f, os.path.getsize(os.path.join(top, f))), flush=True)
            elif f.endswith('.changes'):
                _built['changes'] = os.path.join(top, f)
    ok(name in _built['debs'], '%s built (built: %s)' % (name, sorted(_built['debs'])))
    return _built['debs'][name]


def contents(name):
    """{path: (mode string, owner/group)} of package name's files, as dpkg-deb -c lists them."""
    out = subprocess.run(['dpkg-deb', '-c', deb(name)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    files = {}
    for line in out.splitlines():
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        path = path.split(' -> ')[0]
        files[path[1:].rstrip('/') or '/'] = (mode, owner)
    return files


def control_file(name, member):
    """A control member (postinst, conffiles …) of package name's .deb; '' when absent."""
    r = subprocess.run(['dpkg-deb', '--ctrl-tarfile', deb(name)], capture_output=True,
                       timeout=60, check=True)
    r = subprocess.run(['tar', '-xOf', '-', './' + member], input=r.stdout, capture_output=True,
                       timeout=60)
    return r.stdout.decode() if r.returncode == 0 else ''


def field(name, key):
    return subprocess.run(['dpkg-deb', '-f', deb(name), key], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


@test
def daemon_package_holds_the_daemon_and_nothing_of_the_simulator():
    files = contents(DAEMON)
    for path in DAEMON_FILES:
        ok(path in files, '%s in %s' % (path, DAEMON))
    sim = [p for p in files if 'sim' in os.path.basename(p)]
    eq(sim, [], 'nothing of lianpay-sim in %s' % DAEMON)
    eq(files['/usr/sbin/lianpay-notifyd'][0], '-rwxr-xr-x', 'the daemon is executable')
    eq(files['/usr/libexec/lianpay-notifyd/lianpay-notifyd-backup'][0], '-rwxr-xr-x',
       'the daily backup wrapper is executable')
    ok('procps' in field(DAEMON, 'Depends'), "procps (the unit's /bin/kill) is a dependency")


@test
def dev_tools_package_holds_the_simulator_only():
    files = contents(TOOLS)
    for path in TOOLS_FILES:
        ok(path in files, '%s in %s' % (path, TOOLS))
    programs = sorted(p for p in files if re.match(r'/usr/s?bin/.', p))
    eq(programs, ['/usr/bin/lianpay-sim'], 'the only program of %s' % TOOLS)
    theirs = {p for p, (mode, _) in contents(DAEMON).items() if not mode.startswith('d')}
    eq(sorted(theirs & set(files)), [], 'no file in both packages')


@test
def configuration_is_the_one_conffile_and_only_root_can_write_it():
    eq(control_file(DAEMON, 'conffiles').split(), [CONF], 'conffiles')
    # 0640 root:root in the archive; postinst gives it the daemon's group (see the install test).
    eq(contents(DAEMON)[CONF], ('-rw-r-----', 'root/root'), 'mode and owner in the package')
    eq(control_file(TOOLS, 'conffiles'), '', 'no conffile in %s' % TOOLS)


@test
def postinst_creates_the_user_then_the_directories_and_starts_nothing():
    script = control_file(DAEMON, 'postinst')
    users = script.find('systemd-sysusers ${DPKG_ROOT:+--root="$DPKG_ROOT"} lianpay-notifyd.conf')
    dirs = script.find('--create lianpay-notifyd.conf')
    ok(users >= 0, 'postinst runs systemd-sysusers on our file:\n' + script)
    ok(dirs > users, 'then systemd-tmpfiles --create (it needs the user):\n' + script)
    # Never started or enabled by the package: an upgrade only try-restarts a running daemon,
    # and enabling happens only when the operator had enabled it (was-enabled).
    invoked = re.findall(r'deb-systemd-invoke (\S+)', script)
    eq(invoked, ['try-restart'], 'the only systemctl action of postinst')
    ok(re.search(r'was-enabled .lianpay-notifyd.service.; then\s+#[^\n]*\n\s+'
                 r'deb-systemd-helper enable', script), 'enable only if it was enabled')
    # The backup timer, likewise: off until the operator enables it, kept as they left it.
    ok(re.search(r'was-enabled .lianpay-notifyd-backup.timer.; then\s+#[^\n]*\n\s+'
                 r'deb-systemd-helper enable', script), 'the timer: enable only if it was enabled')
    eq(script.count('deb-systemd-helper enable'), 2, 'no other enable')
    for other in ('preinst', 'prerm'):
        ok('deb-systemd-invoke start' not in control_file(DAEMON, other), 'no start in ' + other)


@test
def programs_are_built_with_every_hardening_feature():
    # hardening=+all: PIE, BIND_NOW, RELRO, a non-executable stack, fortified libc calls.
    into = TempDir().path
    for name in (DAEMON, TOOLS):
        subprocess.run(['dpkg-deb', '-x', deb(name), into], check=True, timeout=60)
    for prog in ('usr/sbin/lianpay-notifyd', 'usr/bin/lianpayctl', 'usr/bin/lianpay-sim'):
        path = os.path.join(into, prog)

        def readelf(*args):
            return subprocess.run(['readelf'] + list(args) + [path], capture_output=True,
                                  text=True, check=True, timeout=60).stdout
        dynamic = readelf('-dW')
        ok(re.search(r'FLAGS_1\)\s+Flags:.*\bNOW\b.*\bPIE\b', dynamic), prog + ': PIE, now')
        segments = readelf('-lW')
        ok('GNU_RELRO' in segments, prog + ': RELRO')
        ok(re.search(r'GNU_STACK(\s+0x[0-9a-f]+){5}\s+RW\s', segments), prog + ': stack not X')
        ok(re.search(r'__\w+_chk@', readelf('--dyn-syms', '-W')), prog + ': _FORTIFY_SOURCE')


@test
def lintian_reports_no_error_and_no_unexplained_warning():
    deb(DAEMON)
    r = subprocess.run(['lintian', '--pedantic', '--display-info', '--show-overrides', _built['changes']],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    for line in r.stdout.splitlines():
        print('# lintian: ' + line, flush=True)
    tags = [ln for ln in r.stdout.splitlines() if re.match(r'[EWIPX]: ', ln)]
    eq([t for t in tags if t.startswith('E: ')], [], 'lintian errors')
    # A warning is left only with an override that says why (debian/*.lintian-overrides).
    eq([t for t in tags if t.startswith('W: ')], [], 'warnings without an override')
    ok(r.returncode == 0, 'lintian exit status %d' % r.returncode)


def install(root, *debs):
    return subprocess.run(['dpkg', '--root=' + root, '--force-script-chrootless',
                           '--force-depends', '--log=/dev/null', '-i'] + list(debs),
                          capture_output=True, text=True, timeout=300)


def empty_root():
    root = os.path.join(TempDir().path, 'root')
    for d in ('var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'etc'):
        os.makedirs(os.path.join(root, d))
    open(os.path.join(root, 'var/lib/dpkg/status'), 'w').close()
    return root


def passwd_entry(root, filename, name):
    with open(os.path.join(root, 'etc', filename)) as f:
        for line in f:
            fields = line.rstrip('\n').split(':')
            if fields[0] == name:
                return fields
    return None


@test
def installed_into_an_empty_root_it_has_its_user_directories_and_no_enabled_service():
    if os.geteuid() != 0:
        raise Skip('dpkg --root sets owners: needs root')
    root = empty_root()
    r = install(root, deb(DAEMON))
    eq(r.returncode, 0, 'dpkg -i: %s%s' % (r.stdout, r.stderr))
    user = passwd_entry(root, 'passwd', 'lianpay-notifyd')
    group = passwd_entry(root, 'group', 'lianpay-notifyd')
    ok(user is not None and group is not None, 'postinst created the user and the group')
    uid, gid = int(user[2]), int(group[2])
    ok(uid < 1000 and user[6].endswith('nologin'), 'a system user without a shell: %r' % user)
    state = os.stat(os.path.join(root, 'var/lib/lianpay-notifyd'))
    eq((stat.S_IMODE(state.st_mode), state.st_uid, state.st_gid), (0o770, uid, gid),
       'the state directory, as the unit\'s StateDirectoryMode= makes it')
    conf = os.stat(root + CONF)
    eq((stat.S_IMODE(conf.st_mode), conf.st_uid, conf.st_gid), (0o640, 0, gid),
       'the configuration: readable by the daemon\'s group, writable by root only')
    wants = os.path.join(root, 'etc/systemd/system/multi-user.target.wants')
    eq(os.listdir(wants) if os.path.isdir(wants) else [], [], 'nothing enabled')
    ok(not os.path.exists(os.path.join(root, 'usr/bin/lianpay-sim')), 'no simulator')
    # Why it is not started: unconfigured, the daemon refuses its configuration, naming it.
    t = subprocess.run([root + '/usr/sbin/lianpay-notifyd', '-t', '-c', root + CONF],
                       capture_output=True, text=True, timeout=60)
    eq(t.returncode, 1, '-t on the fresh configuration: %s' % t.stderr)
    ok(re.search(r'lianpay-notifyd\.conf:\d+: lianlian\.', t.stderr), 'names the line and key: '
       + t.stderr)


@test
def configured_as_the_readme_says_it_passes_its_own_check_as_its_user():
    # The modes and owners the package gives are the ones the daemon's file checks accept: the
    # README's steps (keys installed, oid_partner and key paths edited) and then -t as the
    # service's user, with the key made by the dev-tools package's lianpay-sim.
    if os.geteuid() != 0:
        raise Skip('dpkg --root sets owners: needs root')
    root = empty_root()
    os.chmod(os.path.dirname(root), 0o755)  # the service's user must reach the files
    r = install(root, deb(DAEMON), deb(TOOLS))
    eq(r.returncode, 0, 'dpkg -i: %s%s' % (r.stdout, r.stderr))
    uid = int(passwd_entry(root, 'passwd', 'lianpay-notifyd')[2])
    gid = int(passwd_entry(root, 'group', 'lianpay-notifyd')[2])
    etc = root + '/etc/lianpay-notifyd/'
    subprocess.run([root + '/usr/bin/lianpay-sim', 'keygen', '--bits', '1024',
                    etc + 'merchant_private.pem', etc + 'lianlian_public.pem'], check=True,
                   capture_output=True, timeout=60)
    os.chown(etc + 'merchant_private.pem', uid, gid)
    os.chmod(etc + 'merchant_private.pem', 0o600)
    os.chmod(etc + 'lianlian_public.pem', 0o644)
    with open(root + CONF) as f:
        text = f.read()
    text = text.replace('/etc/lianpay-notifyd/', etc).replace(
        ';path = /var/lib/lianpay-notifyd/', 'path = %s/var/lib/lianpay-notifyd/' % root)
    with open(root + CONF, 'w') as f:  # the same file: its mode and group stay
        f.write(text)
    t = subprocess.run([root + '/usr/sbin/lianpay-notifyd', '-t', '-c', root + CONF],
                       user=uid, group=gid, extra_groups=[], capture_output=True, text=True,
                       timeout=60)
    eq(t.returncode, 0, '-t as lianpay-notifyd: %s%s' % (t.stdout, t.stderr))


@test
def reinstalling_keeps_the_operators_edits_and_the_group():
    if os.geteuid() != 0:
        raise Skip('dpkg --root sets owners: needs root')
    root = empty_root()
    eq(install(root, deb(DAEMON)).returncode, 0, 'first installation')
    with open(root + CONF, 'a') as f:
        f.write('; edited by the operator\n')
    r = install(root, deb(DAEMON), deb(TOOLS))
    eq(r.returncode, 0, 'second installation: %s%s' % (r.stdout, r.stderr))
    with open(root + CONF) as f:
        ok(f.read().endswith('; edited by the operator\n'), 'the edit is kept')
    gid = int(passwd_entry(root, 'group', 'lianpay-notifyd')[2])
    conf = os.stat(root + CONF)
    eq((stat.S_IMODE(conf.st_mode), conf.st_gid), (0o640, gid), 'mode and group kept')
    eq(len([ln for ln in open(os.path.join(root, 'etc/passwd')) if
            ln.startswith('lianpay-notifyd:')]), 1, 'one user, not two')
    ok(os.path.exists(os.path.join(root, 'usr/bin/lianpay-sim')), 'the tools package installs')


if __name__ == '__main__':
    run()
