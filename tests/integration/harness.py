"""Integration-test harness: runs the real programs on loopback with a temporary directory.

Every test file is a plain script: it defines functions decorated with @test and ends with
run(). Output is TAP (meson counts each case). A test that needs a daemon starts one with
Daemon(...), which picks a free port (port 0, read back from the "ready" log line), a
temporary database, and stops it at the end of the test. Nothing here talks beyond 127.0.0.1/::1.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# What starts every log line not written to the journal (RFC 3339, UTC, milliseconds).
TS_FIELD = re.compile(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ')

BUILD = os.environ.get('LIANPAY_BUILD_DIR') or os.path.join(
    os.path.dirname(__file__), '..', '..', 'build')
VECTORS = os.environ.get('LIANPAY_TEST_VECTORS') or os.path.join(
    os.path.dirname(__file__), '..', 'vectors')
NOTIFYD = os.path.join(BUILD, 'src', 'lianpay-notifyd')
CTL = os.path.join(BUILD, 'src', 'lianpayctl')
SIM = os.path.join(BUILD, 'src', 'lianpay-sim')

OID_PARTNER = '201801030001351894'

_tests = []


class Skip(Exception):
    """Raised by a test that cannot run here (e.g. it needs root to mount a file system)."""


def test(fn):
    _tests.append(fn)
    return fn


def run():
    """Runs every @test of the calling script, printing TAP; exits 1 if any failed."""
    only = os.environ.get('LIANPAY_TEST_ONLY')
    # Only the script's own: another test file imported for its helpers brings its tests too.
    cases = [t for t in _tests if t.__module__ == '__main__' and
             (not only or re.search(only, t.__name__))]
    print('1..%d' % len(cases), flush=True)
    failed = 0
    for i, fn in enumerate(cases, 1):
        t0 = time.monotonic()
        try:
            fn()
            print('ok %d - %s (%.2fs)' % (i, fn.__name__, time.monotonic() - t0), flush=True)
        except Skip as e:
            print('ok %d - %s # SKIP %s' % (i, fn.__name__, e), flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported as TAP
            failed += 1
            print('not ok %d - %s' % (i, fn.__name__), flush=True)
            for line in traceback.format_exc().splitlines():
                print('# ' + line, flush=True)
        finally:
            Daemon.stop_all()
            Sim.stop_all()
            TempDir.cleanup_all()
    sys.exit(1 if failed else 0)


class TempDir:
    """A temporary directory, removed after the test (kept when LIANPAY_KEEP_TMP is set)."""
    made = []

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix='lianpay-test-')
        TempDir.made.append(self)

    @classmethod
    def cleanup_all(cls):
        if not os.environ.get('LIANPAY_KEEP_TMP'):
            for t in cls.made:
                t.cleanup()
        cls.made = []

    def file(self, name, content=None, mode=None):
        p = os.path.join(self.path, name)
        if content is not None:
            with open(p, 'w' if isinstance(content, str) else 'wb') as f:
                f.write(content)
        if mode is not None:
            os.chmod(p, mode)
        return p

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def sh(args, input=None, check=True, env=None):
    """Runs a program, returns CompletedProcess with text stdout/stderr."""
    r = subprocess.run(args, input=input, capture_output=True, text=True, env=env, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError('%s exited %d: %s%s' % (args, r.returncode, r.stdout, r.stderr))
    return r


_keys = {}


def keypair(tmp, name, bits=1024):
    """An RSA key pair made by `lianpay-sim keygen` into tmp: (private_path, public_path)."""
    priv = tmp.file(name + '_private.pem')
    pub = tmp.file(name + '_public.pem')
    sh([SIM, 'keygen', '--bits', str(bits), priv, pub])
    return priv, pub


def sign(fields, private_key):
    """Signs a dict (or raw JSON text) with lianpayctl sign; returns the signed JSON text."""
    body = fields if isinstance(fields, str) else json.dumps(fields, ensure_ascii=False)
    r = sh([CTL, 'sign', '--private-key', private_key], input=body)
    return r.stdout.strip()


def sign_batch(private_key, messages):
    """Signs many dicts in one process (lianpay-sim sign-batch); returns the signed JSON texts."""
    text = ''.join(json.dumps(m, ensure_ascii=False) + '\n' for m in messages)
    r = sh([SIM, 'sign-batch', '--private-key', private_key], input=text)
    lines = r.stdout.splitlines()
    if len(lines) != len(messages):
        raise AssertionError('sign-batch: %d messages in, %d out' % (len(messages), len(lines)))
    return lines


def notification(no_order, result='SUCCESS', money='49.65', dt='20261122083000', **extra):
    n = {
        'oid_partner': OID_PARTNER,
        'sign_type': 'RSA',
        'no_order': no_order,
        'dt_order': dt,
        'money_order': money,
        'oid_paybill': '2026112200012345',
        'result_pay': result,
        'info_order': 'payout ' + no_order,
    }
    if result == 'SUCCESS':
        n['settle_date'] = dt[:8]
    n.update(extra)
    return {k: v for k, v in n.items() if v is not None}


class Daemon:
    running = []

    def __init__(self, tmp, lianlian_public, merchant_private=None, extra='', listen='127.0.0.1:0',
                 sections=None, start=True, env=None, prefix=None, program=None):
        self.tmp = tmp
        sections = sections or {}
        self.db_path = sections.get('database', {}).get('path') or tmp.file('payments.db')
        self.log_path = tmp.file('daemon-%d.log' % len(Daemon.running))
        self.program = program or NOTIFYD
        server = {'listen': listen}
        server.update(sections.get('server', {}))
        lianlian = {'oid_partner': OID_PARTNER, 'public_key': lianlian_public}
        if merchant_private:
            lianlian['merchant_private_key'] = merchant_private
        lianlian.update(sections.get('lianlian', {}))
        reconcile = {'enabled': 'true' if merchant_private else 'false'}
        reconcile.update(sections.get('reconcile', {}))
        # admin on a free port too: parallel test runs must not fight over 127.0.0.1:8479
        cfg = {'server': server, 'lianlian': lianlian, 'database': {'path': self.db_path},
               'reconcile': reconcile, 'log': {'level': 'debug'},
               'admin': {'listen': '127.0.0.1:0'}}
        for sec, kv in sections.items():
            cfg.setdefault(sec, {}).update(kv)
        text = ''
        for sec, kv in cfg.items():
            text += '[%s]\n' % sec + ''.join('%s = %s\n' % (k, v) for k, v in kv.items()) + '\n'
        self.config = tmp.file('notifyd.conf', text + extra)
        self.proc = None
        self.port = None
        self.env = env
        self.prefix = prefix or []  # e.g. setpriv ... --: run the daemon as another user
        if start:
            self.start()

    def start(self, timeout=10):
        self.log = open(self.log_path, 'a')
        self.log_offset = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen(self.prefix + [self.program, '-c', self.config],
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.log, env=self.env)
        Daemon.running.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r'event=ready .*listen=(\S+)', self.logs())
            if m:
                self.port = int(m.group(1).rsplit(':', 1)[1])
                self.host = m.group(1).rsplit(':', 1)[0].strip('[]')
                a = re.search(r'event=ready .* admin=(\S+)', self.logs())
                self.admin_port = int(a.group(1).rsplit(':', 1)[1]) if a and a.group(1) != 'off' \
                    else None
                return self
            if self.proc.poll() is not None:
                raise AssertionError('daemon exited %d:\n%s' % (self.proc.returncode, self.logs()))
            time.sleep(0.02)
        raise AssertionError('daemon not ready:\n' + self.logs())

    def logs(self):
        with open(self.log_path, encoding='utf-8', errors='replace') as f:
            f.seek(self.log_offset)
            return f.read()

    def log_lines(self, event=None):
        """The log's lines without the ts= field that starts each (test_logformat checks it)."""
        lines = [TS_FIELD.sub('', l, count=1) for l in self.logs().splitlines()]
        if event:
            lines = [l for l in lines if (' event=%s ' % event) in l + ' ']
        return lines

    def has_log(self, pattern, event=None, timeout=10):
        """True once a line (without its ts=) of event matches the regex pattern, False after
        timeout. The daemon logs a change after its transaction is durable: a reader of the
        database can see the rows a moment before the line is written."""
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, l) for l in self.log_lines(event)):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def wait_log(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.logs()):
                return
            time.sleep(0.02)
        raise AssertionError('no log line matching %r:\n%s' % (pattern, self.logs()))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError('daemon did not stop within %ds' % timeout)
        self.log.close()
        rc = self.proc.returncode
        self.proc = None
        if self in Daemon.running:
            Daemon.running.remove(self)
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    @classmethod
    def stop_all(cls):
        for d in list(cls.running):
            try:
                d.stop()
            except AssertionError:
                pass

    def request(self, body=b'', method='POST', path='/lianpay/notify', headers=None,
                scheme='http', context=None, timeout=10):
        if isinstance(body, str):
            body = body.encode('utf-8')
        if scheme == 'https':
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        hdrs = {'Content-Type': 'text/json;charset=utf-8'}
        hdrs.update(headers or {})
        conn.request(method, path, body=body if method != 'GET' else None, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        try:
            parsed = json.loads(data.decode('utf-8'))
        except ValueError:
            parsed = None
        return resp.status, parsed

    def post(self, body, **kw):
        return self.request(body, **kw)

    def db(self):
        c = sqlite3.connect(self.db_path, timeout=10)
        c.row_factory = sqlite3.Row
        return c

    def row(self, no_order):
        with self.db() as c:
            return c.execute('SELECT * FROM payments WHERE no_order = ?', (no_order,)).fetchone()

    def events(self, no_order):
        with self.db() as c:
            return c.execute('SELECT * FROM payment_events WHERE no_order = ? ORDER BY id',
                             (no_order,)).fetchall()


class Stream:
    """Client threads posting notifications from a shared queue, recording acknowledgements
    (test_crash, test_powercut)."""

    def __init__(self, port, queue, acked, clients):
        self.port = port
        self.queue = queue  # deque of (no_order, result, body), shared across rounds
        self.acked = acked  # no_order -> result, for every 0000 ever received
        self.lock = threading.Lock()
        self.dead = threading.Event()
        self.count = 0  # acknowledgements in this round
        self.requests = 0
        self.cut = 0  # requests cut off by the kill (no answer)
        self.threads = [threading.Thread(target=self.client) for _ in range(clients)]

    def take(self):
        with self.lock:
            return self.queue.popleft() if self.queue else None

    def put_back(self, item):
        with self.lock:
            self.queue.append(item)

    def client(self):
        conn = None
        while not self.dead.is_set():
            item = self.take()
            if item is None:
                return
            no_order, result, body = item
            try:
                if conn is None:
                    conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
                conn.request('POST', '/lianpay/notify', body=body.encode('utf-8'),
                             headers={'Content-Type': 'text/json;charset=utf-8'})
                resp = conn.getresponse()
                data = resp.read()
                with self.lock:
                    self.requests += 1
                if resp.status == 200 and json.loads(data.decode('utf-8'))['ret_code'] == '0000':
                    with self.lock:
                        self.acked[no_order] = result
                        self.count += 1
                    continue
                if resp.status != 503:
                    raise AssertionError('unexpected answer %d %r' % (resp.status, data))
            except (OSError, http.client.HTTPException, ValueError):
                with self.lock:
                    self.cut += 1
                if conn is not None:
                    conn.close()
                conn = None
                if not self.dead.is_set():
                    time.sleep(0.01)
            self.put_back(item)
        if conn is not None:
            conn.close()

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(60)
            ok(not t.is_alive(), 'client thread finished')


def raw_http(port, data, host='127.0.0.1', timeout=5, read_all=True, source=None):
    """Sends raw bytes on a fresh TCP connection (from source, when given) and returns what came
    back (bytes). A server that answers and closes before reading everything makes the kernel
    reset the connection: that ends the answer, it is not an error."""
    s = socket.create_connection((host, port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b''
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
            if not read_all:
                break
        return out
    finally:
        s.close()


def status_of(raw):
    m = re.match(rb'HTTP/1\.[01] (\d{3})', raw)
    return int(m.group(1)) if m else None


def eq(a, b, what=''):
    if a != b:
        raise AssertionError('%s: expected %r, got %r' % (what or 'value', b, a))


def ok(cond, what):
    if not cond:
        raise AssertionError(what)


class Sim:
    """lianpay-sim serve as LianLian's queryPayment, answering from a script (a dict)."""

    def __init__(self, tmp, lianlian_private, merchant_public, script=None):
        self.tmp = tmp
        self.script_path = tmp.file('script.json')
        self.set_script(script or {})
        self.log_path = tmp.file('sim.log')
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(
            [SIM, 'serve', '--listen', '127.0.0.1:0', '--private-key', lianlian_private,
             '--merchant-public-key', merchant_public, '--oid-partner', OID_PARTNER,
             '--script', self.script_path], stdout=subprocess.DEVNULL, stderr=self.log)
        Sim.running.append(self)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = re.search(r'event=ready listen=(\S+)', self.logs())
            if m:
                self.port = int(m.group(1).rsplit(':', 1)[1])
                self.url = 'http://127.0.0.1:%d/paymentapi/queryPayment.htm' % self.port
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError('simulator not ready:\n' + self.logs())

    running = []

    def set_script(self, script):
        tmp_path = self.script_path + '.new'
        with open(tmp_path, 'w', encoding='utf-8') as f:
            json.dump(script, f, ensure_ascii=False)
        os.replace(tmp_path, self.script_path)

    def logs(self):
        with open(self.log_path, encoding='utf-8', errors='replace') as f:
            return f.read()

    def queries(self, no_order=None):
        lines = [l for l in self.logs().splitlines() if 'event=sim_query' in l]
        if no_order is not None:
            lines = [l for l in lines if ('no_order=%s ' % no_order) in l + ' ']
        return lines

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()
        if self in Sim.running:
            Sim.running.remove(self)

    @classmethod
    def stop_all(cls):
        for s in list(cls.running):
            s.stop()


def wait_for(cond, what, timeout=15, interval=0.05):
    """Polls cond() until it returns a true value; returns it, or fails naming what."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(interval)


def admin_get(d, path, method='GET', host='127.0.0.1', port=None, source=None):
    """(status, headers dict, body bytes) of one request to d's admin listener (or to port), on a
    connection of its own from source, read until the listener closes it."""
    out = raw_http(port or d.admin_port, b'%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                   b'Content-Length: 0\r\n\r\n' % (method.encode(), path.encode()),
                   host=host, timeout=10, source=source)
    head, _, body = out.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(':') for l in lines[1:])}
    return int(lines[0].split()[1]), headers, body


class Env:
    """A temporary directory with a LianLian key pair (the test plays LianLian) and a daemon
    that trusts it; keys=(private, public) brings a pair made before, Daemon's own keyword
    arguments pass through."""

    def __init__(self, keys=None, **daemon):
        self.tmp = TempDir()
        self.ll_priv, self.ll_pub = keys or keypair(self.tmp, 'lianlian')
        self.d = Daemon(self.tmp, self.ll_pub, **daemon)

    def body(self, no_order, result='SUCCESS', **fields):
        """A notification about no_order signed as LianLian (JSON text)."""
        return sign(notification(no_order, result, **fields), self.ll_priv)

    def send(self, fields, **kw):
        """Posts fields signed as LianLian; (status, answer) as Daemon.post."""
        return self.d.post(sign(fields, self.ll_priv), **kw)


# Reconciliation in seconds instead of hours.
RECONCILE_FAST = {'notify_window': '1s', 'retry_interval': '1s', 'max_retry_interval': '2s',
                  'give_up_after': '1h', 'max_rate': '20'}


class ReconcileEnv(Env):
    """Env with a merchant key, lianpay-sim as LianLian's queryPayment answering from script, and
    the reconciler on RECONCILE_FAST updated with reconcile; sections go to the daemon as they
    are (after those)."""

    def __init__(self, script=None, reconcile=None, sections=None, query_url=None,
                 merchant_key=None):
        # Not Env.__init__: the daemon needs the simulator's URL.
        self.tmp = TempDir()
        self.ll_priv, self.ll_pub = keypair(self.tmp, 'lianlian')
        self.m_priv, self.m_pub = keypair(self.tmp, 'merchant', bits=2048)
        self.sim = Sim(self.tmp, self.ll_priv, self.m_pub, script)
        secs = {'reconcile': dict(RECONCILE_FAST, **(reconcile or {})),
                'lianlian': {'query_url': query_url or self.sim.url}}
        secs.update(sections or {})
        self.d = Daemon(self.tmp, self.ll_pub, merchant_private=merchant_key or self.m_priv,
                        sections=secs)

    def register(self, no_order, money='1.00', dt='20261122083000', check=True):
        return sh([CTL, '-c', self.d.config, 'register', no_order, money, dt], check=check)

    def wait_row(self, no_order, cond, what, timeout=15):
        """The row of no_order once cond(row) holds."""
        return wait_for(lambda: (lambda r: r if r is not None and cond(r) else None)(
            self.d.row(no_order)), what, timeout)
