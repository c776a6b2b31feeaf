#!/usr/bin/env python3
"""The two access levels (lianpay-notifyd(8), "Access levels"): writers, members of the daemon's
group, register payments and queue payouts; readers, members of the readers' group, read every
table and view (while the daemon writes, after it stopped, after it was killed) and can write
nothing, not through SQLite and not to the files. Neither reads the merchant private key.

The readers' access comes from the ACLs of the package's tmpfiles.d file: this applies its own
`a+` lines (systemd-tmpfiles, which needs no running systemd) to a temporary state directory,
with throwaway users and groups in place of the package's (useradd, removed at the end). It
needs root, systemd-tmpfiles and a file system with POSIX ACLs; it is skipped without them.
"""
import errno
import json
import os
import pwd
import sys
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import (CTL, Skip, TempDir, eq, keypair, notification, ok, run, sh,  # noqa: E402
                     sign, test)

# test_operator's throwaway users and deployment, without its cases: importing it registers
# them with the harness, so the list is put back as it was.
_theirs = list(harness._tests)
from test_operator import Users, deployed  # noqa: E402
harness._tests[:] = _theirs

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
TMPFILES = os.path.join(SOURCE, 'systemd', 'lianpay-notifyd.tmpfiles.in')
# The reader runs the system's Python (the one linking the system's SQLite, as the daemon does);
# a Python under root's home would not even start as another user.
PYTHON = '/usr/bin/python3'
CARD = '6228480223312311474'
READONLY = 'attempt to write a readonly database'

# Run as the reader: every table and view counted, then each write tried, in both ways a
# reporting tool opens a database (read-write as the sqlite3 shell does, and mode=ro).
READER_SCRIPT = r'''
import json, sqlite3, sys
path, writes = sys.argv[1], json.loads(sys.argv[2])
out = {'sqlite': sqlite3.sqlite_version, 'counts': {}, 'writes': {}}
for how, uri in (('rw', 'file:%s' % path), ('ro', 'file:%s?mode=ro' % path)):
    c = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
    try:
        names = [r[0] for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")]
        out['counts'][how] = {n: c.execute('SELECT count(*) FROM "%s"' % n).fetchone()[0]
                              for n in names}
    except sqlite3.Error as e:
        out['counts'][how] = str(e)
        continue
    for sql in writes:
        try:
            c.execute(sql)
            out['writes'].setdefault(how, {})[sql] = 'done'
        except sqlite3.Error as e:
            out['writes'].setdefault(how, {})[sql] = str(e)
    c.close()
print(json.dumps(out))
'''

WRITES = [
    "INSERT INTO payments (no_order, money_order, dt_order) "
    "VALUES ('R-1', '1.00', '20261122083000')",
    "UPDATE payments SET money_order = '0.01'",
    "DELETE FROM payment_events",
    "DROP TRIGGER payment_events_no_delete",
    "INSERT INTO payouts (no_order, money_order, dt_order, card_no, acct_name) "
    "VALUES ('R-2', '1.00', '20261122083000', '%s', 'X')" % CARD,
]


class Readers:
    """A throwaway readers' group and a reader, whose private group is its primary one."""

    def __init__(self, users):
        tag = uuid.uuid4().hex[:8]
        self.group, self.user = 'lpr' + tag, 'lpq' + tag
        sh(['groupadd', '--system', self.group])
        users.made.append(('groupdel', self.group))
        sh(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin',
            '--user-group', '--groups', self.group, self.user])
        users.made.insert(0, ('userdel', self.user))
        self.uid = pwd.getpwnam(self.user).pw_uid


def grant(d, readers):
    """The package's ACL lines, on d's state directory and configuration, for readers' group."""
    state = os.path.dirname(d.db_path)
    with open(TMPFILES) as f:
        lines = [line for line in f if line.startswith('a')]
    ok(len(lines) >= 2, 'the tmpfiles file grants readers something: %r' % lines)
    text = ''.join(lines).replace('/var/lib/lianpay-notifyd', state).replace(
        '@sysconfdir@/lianpay-notifyd/lianpay-notifyd.conf', d.config).replace(
        'lianpay-readers', readers.group)
    conf = d.tmp.file('access.tmpfiles', text)
    r = sh(['systemd-tmpfiles', '--create', conf], check=False)
    try:
        os.getxattr(state, 'system.posix_acl_default')
    except OSError as e:
        if e.errno == errno.EOPNOTSUPP:
            raise Skip('the file system has no POSIX ACLs: %s' % e)
        raise AssertionError('no default ACL on %s: %s: %s' % (state, e, r.stderr))
    eq((r.returncode, r.stderr), (0, ''), 'systemd-tmpfiles')


def setup():
    if os.geteuid() == 0 and sh(['which', 'systemd-tmpfiles'], check=False).returncode != 0:
        raise Skip('systemd-tmpfiles not installed')
    if not os.access(PYTHON, os.X_OK):
        raise Skip(PYTHON + ' not installed')
    users = Users()
    try:
        readers = Readers(users)
        tmp = TempDir()
        ll_priv, ll_pub = keypair(tmp, 'lianlian')
        m_priv, _ = keypair(tmp, 'merchant', bits=2048)
        d = deployed(tmp, users, ll_pub, m_priv)
        grant(d, readers)
        d.ll_priv, d.m_priv = ll_priv, m_priv
        return users, readers, d
    except BaseException:
        users.remove()
        raise


def read_as(users, user, d, writes=WRITES):
    """The reader's script on d's database, run as user: its JSON answer."""
    r = sh(users.as_user(user) + [PYTHON, '-c', READER_SCRIPT, d.db_path, json.dumps(writes)],
           check=False)
    eq(r.returncode, 0, 'the reader\'s script: ' + r.stderr)
    return json.loads(r.stdout)


def check_reads(users, readers, d, what):
    """The reader's counts, opening the database either way, are the service user's (who
    writes nothing here: a connection of root's would leave root-owned -wal and -shm behind for
    the daemon); each write refused."""
    out = read_as(users, readers.user, d)
    counts = read_as(users, users.service, d, writes=[])['counts']['ro']
    ok({'payments', 'payment_events', 'payouts', 'pending_payments'} <= set(counts), counts)
    for how in ('rw', 'ro'):
        eq(out['counts'][how], counts, '%s: the reader (%s) sees every table and view as the '
           'daemon\'s own connection does' % (what, how))
        for sql in WRITES:
            eq(out['writes'][how][sql], READONLY, '%s: the reader (%s): %s' % (what, how, sql))
    print('# %s: the reader (SQLite %s) counted %d tables and views, %d writes refused: %s'
          % (what, out['sqlite'], len(counts), 2 * len(WRITES), READONLY))
    return counts


def ctl_as(users, user, d, *args):
    return sh(users.as_user(user) + [CTL, '-c', d.config] + list(args), check=False)


def cannot_read_key(users, user, d):
    r = sh(users.as_user(user) + ['cat', d.m_priv], check=False)
    ok(r.returncode != 0 and 'Permission denied' in r.stderr and 'PRIVATE' not in r.stdout,
       '%s reads the merchant key: %r' % (user, r))


def register(users, d, no_order, money):
    """The writer registers no_order, as lianpayctl's users do."""
    r = ctl_as(users, users.tool, d, 'register', no_order, money, '20261122083000')
    eq((r.returncode, r.stdout.strip()), (0, no_order + ': registered'), 'writer: ' + r.stderr)


@test
def a_reader_reads_everything_while_the_daemon_writes_and_writes_nothing():
    users, readers, d = setup()
    try:
        d.start()
        register(users, d, 'ACC-1', '12.50')
        r = ctl_as(users, users.tool, d, 'pay', 'ACC-2', '49.65', '20261201093000', CARD, '李三')
        eq((r.returncode, r.stdout), (0, 'queued ACC-2\n'), 'writer queues a payout: ' + r.stderr)
        eq(d.post(sign(notification('ACC-1', money='12.50'), d.ll_priv))[0], 200, 'stored')
        for suffix in ('', '-wal', '-shm'):
            path = d.db_path + suffix
            ok(os.path.exists(path), path + ' exists while the daemon runs')
            ok(os.getxattr(path, 'system.posix_acl_access'), path + ' carries an ACL')
        counts = check_reads(users, readers, d, 'daemon running')
        eq((counts['payments'], counts['payouts']), (2, 1), 'the registration and the payout')
        ok(counts['payment_events'] >= 1, 'the notification\'s event')
        # lianpayctl: the reader's verbs that only look work, those that write are refused
        for args, shows in ((['status', 'ACC-1'], 'ACC-1'), (['payouts'], 'ACC-2'),
                            (['pending'], 'no_order')):
            r = ctl_as(users, readers.user, d, *args)
            eq(r.returncode, 0, 'reader: %s: %s' % (args[0], r.stderr))
            ok(shows in r.stdout, 'reader: %s shows %s: %r' % (args[0], shows, r.stdout))
        for args in (['register', 'ACC-3', '1.00', '20261122083000'],
                     ['pay', 'ACC-4', '1.00', '20261201093000', CARD, 'X'],
                     ['cancel', 'ACC-2']):
            r = ctl_as(users, readers.user, d, *args)
            ok(r.returncode != 0 and r.stderr.strip(), 'reader: %s refused: %r' % (args[0], r))
            print('# reader: lianpayctl %s: exit %d: %s' % (args[0], r.returncode,
                                                            r.stderr.strip()))
        # nor past SQLite, at the files
        for suffix in ('', '-wal', '-shm'):
            r = sh(users.as_user(readers.user) + ['sh', '-c', ': >> "$1"', 'sh',
                                                  d.db_path + suffix], check=False)
            ok(r.returncode != 0 and 'Permission denied' in r.stderr, 'open for writing: %r' % r)
        cannot_read_key(users, readers.user, d)
        cannot_read_key(users, users.tool, d)
        eq(d.stop(), 0, 'the daemon stops cleanly')
    finally:
        users.remove()


@test
def a_reader_after_a_clean_stop_a_restart_and_a_kill():
    users, readers, d = setup()
    try:
        d.start()
        register(users, d, 'ACC-1', '12.50')
        eq(d.stop(), 0, 'clean stop')
        ok(not os.path.exists(d.db_path + '-shm'), 'no -shm after a clean stop')
        # SQLite 3.40 opens a WAL database read-only only if its -wal and -shm exist or can be
        # created (the reader may not create them): after a clean stop removed both, a reader
        # reads nothing until the daemon runs again, and is told why on its first read
        out = read_as(users, readers.user, d)
        eq(out['counts'], {'rw': READONLY, 'ro': READONLY}, 'stopped: the reader reads nothing')
        print('# stopped cleanly (no -wal, no -shm): the reader\'s first read: ' + READONLY)
        # the daemon re-creates -wal and -shm: the directory's default ACL is theirs at once
        d.start()
        register(users, d, 'ACC-2', '1.00')
        ok(os.path.getsize(d.db_path + '-wal') > 0, 'the registration is in the WAL')
        check_reads(users, readers, d, 'restarted')
        # killed: a WAL with commits in it and a -shm nobody maps; the reader cannot write the
        # -shm to rebuild its index, and SQLite reads the WAL into private memory instead
        d.kill()
        ok(os.path.getsize(d.db_path + '-wal') > 0, 'the WAL stays after kill -9')
        counts = check_reads(users, readers, d, 'after kill -9 (commits only in the WAL)')
        eq(counts['payments'], 2, 'both registrations, one only in the WAL')
    finally:
        users.remove()


if __name__ == '__main__':
    run()
