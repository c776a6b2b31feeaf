#!/usr/bin/env python3
"""The daemon's life cycle as systemd and an operator see it: readiness, the watchdog, SIGTERM
draining what was received, SIGHUP key rotation and log level, the monitoring log lines, and the
merchant key permission check.

systemd is not PID 1 here: the tests stand in for it with a unix datagram socket as
NOTIFY_SOCKET (and WATCHDOG_USEC), which is all sd_notify(3) talks to.
"""
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BUILD, NOTIFYD, SIM, Daemon, Sim, TempDir, admin_get, eq, keypair,  # noqa: E402
                     notification, ok, run, sh, sign, test)
from threads import NotifySocket, freeze  # noqa: E402

ACK = {'ret_code': '0000', 'ret_msg': '交易成功'}


def sign_many(fields_list, private_key):
    """Signs many messages with one process (lianpay-sim sign-batch)."""
    text = '\n'.join(json.dumps(f, ensure_ascii=False) for f in fields_list) + '\n'
    r = sh([SIM, 'sign-batch', '--private-key', private_key], input=text)
    return r.stdout.splitlines()


def http_post(port, body, timeout=10):
    """(status, parsed JSON) of one POST on a fresh connection; raises OSError on a
    connection error."""
    data = body.encode('utf-8')
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                  b'Content-Length: %d\r\n\r\n' % len(data) + data)
        return read_answer(s)
    finally:
        s.close()


def read_answer(s):
    out = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    m = re.match(rb'HTTP/1\.[01] (\d{3})', out)
    if not m:
        raise OSError('no HTTP answer: %r' % out[:80])
    body = out.split(b'\r\n\r\n', 1)[1] if b'\r\n\r\n' in out else b''
    try:
        parsed = json.loads(body.decode('utf-8'))
    except ValueError:
        parsed = None
    return int(m.group(1)), parsed


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def edit(path, old, new):
    with open(path) as f:
        text = f.read()
    ok(old in text, '%r in %s' % (old, path))
    with open(path, 'w') as f:
        f.write(text.replace(old, new))


def watchdog_pings(messages, since):
    return [t for t, text in messages if t >= since and 'WATCHDOG=1' in text.split('\n')]


# ---- readiness ---------------------------------------------------------------------------

@test
def ready_is_sent_once_the_database_is_migrated_and_the_port_accepts():
    tmp = TempDir()
    _, pub = keypair(tmp, 'll')
    ns = NotifySocket(tmp)
    d = Daemon(tmp, pub, start=False, env=ns.env())
    d.log = open(d.log_path, 'a')
    d.log_offset = 0
    d.proc = subprocess.Popen([NOTIFYD, '-c', d.config], stdout=subprocess.DEVNULL,
                              stderr=d.log, env=d.env)
    Daemon.running.append(d)
    text = ns.wait_for('READY=1')
    # At the moment READY=1 arrives the listener must already accept, and the schema is there.
    port = int(re.search(r'event=ready .*listen=\S+:(\d+)', d.logs()).group(1))
    s = socket.create_connection(('127.0.0.1', port), timeout=2)
    s.close()
    with sqlite3.connect(d.db_path) as c:
        ok(c.execute('PRAGMA user_version').fetchone()[0] >= 1, 'schema migrated before READY')
    ok(any(line.startswith('STATUS=serving on 127.0.0.1:') for line in text.split('\n')),
       'STATUS with the address in %r' % text)
    d.proc.send_signal(signal.SIGTERM)
    eq(d.proc.wait(15), 0, 'exit status')
    stopping = ns.wait_for('STOPPING=1')
    ok('STATUS=stopping' in stopping, 'STATUS while stopping: %r' % stopping)
    d.proc = None
    Daemon.running.remove(d)
    ns.close()


@test
def failed_start_reports_status_and_exits_1():
    tmp = TempDir()
    _, pub = keypair(tmp, 'll')
    blocker = socket.socket()
    blocker.bind(('127.0.0.1', 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    ns = NotifySocket(tmp)
    d = Daemon(tmp, pub, listen='127.0.0.1:%d' % port, start=False)
    r = subprocess.run([NOTIFYD, '-c', d.config], capture_output=True, text=True,
                       env=ns.env(), timeout=20)
    blocker.close()
    eq(r.returncode, 1, 'exit status')
    ok('event=start status=failed' in r.stderr and 'cannot listen' in r.stderr, r.stderr)
    got = ns.receive(0.5)
    ok(not any('READY=1' in t for _, t in got), 'no READY=1 after a failed start')
    ok(any('STATUS=failed to start' in t for _, t in got), 'STATUS says why: %r' % got)


# ---- watchdog ----------------------------------------------------------------------------

def watched_daemon(tmp, usec=2000000, **kw):
    _, pub = keypair(tmp, 'll')
    ns = NotifySocket(tmp)
    d = Daemon(tmp, pub, env=ns.env(watchdog_usec=usec), **kw)
    ns.wait_for('READY=1')
    return d, ns


@test
def watchdog_is_fed_at_half_the_interval_while_healthy():
    tmp = TempDir()
    d, ns = watched_daemon(tmp, usec=2000000)
    t0 = time.monotonic()
    ns.receive(4.2)
    pings = watchdog_pings(ns.messages, t0)
    # every second (half of WATCHDOG_USEC); a loaded machine may lose one, never most
    ok(3 <= len(pings) <= 6, '%d pings in 4.2 s' % len(pings))
    ok('watchdog=2000' in d.log_lines('ready')[0], 'ready line names the watchdog')


@test
def the_watchdog_probe_passes_tls_allow_from_and_a_wildcard_listen():
    # The probe is a real request: over HTTPS when the daemon serves HTTPS, to loopback when it
    # listens on every address, and not subject to allow_from (nor logged as a refusal).
    tmp = TempDir()
    cert, key = tmp.file('cert.pem'), tmp.file('key.pem')
    sh(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
        '-days', '2', '-subj', '/CN=example.com'])
    d, ns = watched_daemon(tmp, usec=2000000, listen='0.0.0.0:0', sections={
        'server': {'tls_cert': cert, 'tls_key': key, 'allow_from': '203.0.113.0/24'}})
    t0 = time.monotonic()
    ns.receive(3.2)
    ok(len(watchdog_pings(ns.messages, t0)) >= 2, 'pings over TLS: %r' % ns.messages)
    eq(d.log_lines('reject'), [], 'the probe is neither refused nor logged')
    eq(d.log_lines('liveness'), [], 'never failed')


@test
def a_stuck_writer_stops_the_watchdog_and_livez():
    tmp = TempDir()
    d, ns = watched_daemon(tmp, usec=2000000)
    ns.receive(1.5)
    with freeze(d.proc.pid, names={'writer'}):
        t0 = time.monotonic()
        # WRITER_STALL_MS (10 s) after the writer's last turn the pings stop for good
        ns.receive(11.5)
        pings = watchdog_pings(ns.messages, t0)
        ok(pings, 'pings continue while the stall is short')
        last = pings[-1]
        ok(last - t0 < 11.0, 'last ping %.1f s after the freeze' % (last - t0))
        ns.receive(2.5)
        eq(watchdog_pings(ns.messages, last + 0.01), [], 'no ping once the writer is stuck')
        ok(any('STATUS=degraded: writer stalled' in t for _, t in ns.messages),
           'STATUS says why')
        d.wait_log(r'level=error event=liveness status=failed reason="writer stalled for \d+ s"'
                   r' watchdog="not fed"')
        status, _, body = admin_get(d, '/livez')
        eq(status, 503, '/livez while the writer is stuck')
        ok(b'writer stalled' in body, body)
    t1 = time.monotonic()
    ns.receive(2.5)
    ok(watchdog_pings(ns.messages, t1), 'pings resume once the writer turns again')
    d.wait_log(r'event=liveness status=ok')
    eq(admin_get(d, '/livez')[0], 200, '/livez after recovery')


@test
def stuck_http_threads_stop_the_watchdog():
    tmp = TempDir()
    d, ns = watched_daemon(tmp, usec=2000000, sections={'server': {'threads': '2'}})
    ns.receive(1.5)
    # every thread but the main one, the writer and the reconciler: libmicrohttpd's (the
    # notification pool's and the admin listener's)
    with freeze(d.proc.pid, exclude={'writer', 'reconcile'}):
        t0 = time.monotonic()
        ns.receive(3.0)
        late = watchdog_pings(ns.messages, t0 + 1.2)
        eq(late, [], 'no ping while no HTTP thread answers')
        ok(any('STATUS=degraded: notification listener did not answer' in t
               for _, t in ns.messages), 'STATUS says why: %r' % ns.messages[-3:])
    t1 = time.monotonic()
    ns.receive(3.0)
    ok(watchdog_pings(ns.messages, t1), 'pings resume')
    ok(not d.log_lines('reject'), 'the probe itself is never logged as a refusal')


@test
def a_locked_database_is_not_a_stuck_writer():
    # Another process holding the write lock makes every transaction fail (503, LianLian
    # resends) but the writer's loop turns: no restart would help, so the watchdog is fed and
    # /readyz, not /livez, reports it.
    tmp = TempDir()
    ll_priv, pub = keypair(tmp, 'll')
    ns = NotifySocket(tmp)
    d = Daemon(tmp, pub, env=ns.env(watchdog_usec=2000000))
    ns.wait_for('READY=1')
    body = sign(notification('LOCK-1'), ll_priv)
    holder = sqlite3.connect(d.db_path, timeout=1, isolation_level=None)
    holder.execute('BEGIN EXCLUSIVE')
    try:
        t0 = time.monotonic()
        eq(d.post(body)[0], 503, 'answer while locked')
        ns.receive(3.0)
        ok(len(watchdog_pings(ns.messages, t0)) >= 2, 'still fed while the database is locked')
    finally:
        holder.execute('ROLLBACK')
        holder.close()
    eq(d.post(body), (200, ACK), 'answer once released')


# ---- SIGTERM -----------------------------------------------------------------------------

@test
def sigterm_answers_every_message_received_then_exits_0_with_the_wal_checkpointed():
    tmp = TempDir()
    ll_priv, pub = keypair(tmp, 'll')
    d = Daemon(tmp, pub, sections={'server': {'threads': '4', 'connection_timeout': '30'}})
    n = 50
    bodies = [b.encode('utf-8') for b in
              sign_many([notification('TERM-%03d' % i) for i in range(n)], ll_priv)]
    late = sign_many([notification('LATE-%03d' % i) for i in range(200)], ll_priv)
    results = [None] * n
    sent_half = threading.Barrier(n + 1, timeout=20)
    go = threading.Event()

    def client(i):
        # headers and half the body before SIGTERM, the rest after: "already received"
        try:
            s = socket.create_connection(('127.0.0.1', d.port), timeout=15)
            body = bodies[i]
            s.sendall(b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                      b'Content-Length: %d\r\n\r\n' % len(body) + body[:len(body) // 2])
        except OSError as e:
            results[i] = ('error', repr(e))
            sent_half.wait()
            return
        sent_half.wait()
        go.wait(20)
        try:
            s.sendall(body[len(body) // 2:])
            results[i] = read_answer(s)
        except OSError as e:
            results[i] = ('error', repr(e))
        finally:
            s.close()

    late_results = []

    def hammer():
        # complete requests racing the shutdown: each is answered 0000 (then stored) or not
        for b in late:
            try:
                late_results.append((b, http_post(d.port, b, timeout=15)))
            except OSError as e:
                late_results.append((b, ('error', repr(e))))
            if len(late_results) > 20 and d.proc.poll() is not None:
                break

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    sent_half.wait()
    time.sleep(0.3)  # the daemon has read every header (first_call) by now
    hammers = [threading.Thread(target=hammer) for _ in range(3)]
    for h in hammers:
        h.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    go.set()
    for t in threads:
        t.join(30)
    rc = d.proc.wait(15)
    took = time.monotonic() - t0
    for h in hammers:
        h.join(30)
    eq(rc, 0, 'exit status')
    ok(took < 12, 'stopped in %.1f s (drain bound 10 s)' % took)
    # connections after SIGTERM are refused at once
    try:
        socket.create_connection(('127.0.0.1', d.port), timeout=1).close()
        ok(False, 'the port still accepts after exit')
    except OSError:
        pass
    with sqlite3.connect(d.db_path) as c:
        rows = {r[0] for r in c.execute('SELECT no_order FROM payments')}
    for i, r in enumerate(results):
        eq(r, (200, ACK), 'in-flight request %d answered' % i)
        ok('TERM-%03d' % i in rows, 'TERM-%03d stored' % i)
    acked = 0
    for b, r in late_results:
        no = json.loads(b)['no_order']
        if r == (200, ACK):
            acked += 1
            ok(no in rows, '%s answered 0000 but not stored' % no)
        else:
            ok(no not in rows or r[0] != 200, 'a stored message answered %r' % (r,))
    ok(acked > 0, 'some late requests were served before the stop')
    wal = d.db_path + '-wal'
    ok(not os.path.exists(wal) or os.path.getsize(wal) == 0,
       'WAL checkpointed at exit (%d bytes left)' % (os.path.getsize(wal)
                                                     if os.path.exists(wal) else 0))
    d.log.close()
    d.proc = None
    Daemon.running.remove(d)
    with open(d.log_path, encoding='utf-8') as f:
        logs = f.read()
    ok('event=stopping signal=TERM' in logs and 'event=stopped' in logs, 'stop logged')


def stop_under_load(tmp, pub, bodies, env):
    """Starts a daemon, loads it from three clients, stops it with SIGTERM while they send:
    (exit status, log text, {no_order: answer} of the requests answered)."""
    d = Daemon(tmp, pub, sections={'server': {'threads': '4'}}, env=env)
    answered = {}
    stop = threading.Event()

    def client(mine):
        # round and round (redeliveries after the first pass) until the daemon is gone
        while not stop.is_set():
            for b in mine:
                if stop.is_set():
                    return
                try:
                    answered[json.loads(b)['no_order']] = http_post(d.port, b, timeout=10)
                except OSError:
                    time.sleep(0.01)

    clients = [threading.Thread(target=client, args=(bodies[i::3],)) for i in range(3)]
    for c in clients:
        c.start()
    time.sleep(0.4)
    d.proc.send_signal(signal.SIGTERM)
    try:
        rc = d.proc.wait(20)
    finally:
        stop.set()
        for c in clients:
            c.join(30)
    d.log.close()
    d.proc = None
    Daemon.running.remove(d)
    with open(d.log_path, encoding='utf-8', errors='replace') as f:
        f.seek(d.log_offset)
        logs = f.read()
    with sqlite3.connect(d.db_path) as c:
        rows = {r[0] for r in c.execute('SELECT no_order FROM payments')}
    for no, answer in answered.items():
        if answer == (200, ACK):
            ok(no in rows, '%s answered 0000 but not stored' % no)
    return rc, logs, answered


@test
def stops_under_load_are_clean_every_time():
    # libmicrohttpd 0.9.75's MHD_quiesce_daemon races the pool's threads and aborts about once
    # in a thousand stops; preload_epoll_delay.so makes that race certain for a daemon that
    # stops that way (see the file). Every stop must end with status 0 and its closing lines.
    tmp = TempDir()
    priv, pub = keypair(tmp, 'll')
    rounds = [True] * 8 + [False] * 16  # with the delay, then without
    bodies = sign_many([notification('STOP-%02d-%03d' % (r, i)) for r in range(len(rounds))
                        for i in range(60)], priv)
    shim = os.path.join(BUILD, 'tests', 'preload_epoll_delay.so')
    ok(os.path.exists(shim), shim)
    crashes, served = [], 0
    t0 = time.monotonic()
    for r, delayed in enumerate(rounds):
        env = dict(os.environ)
        if delayed:
            env['LD_PRELOAD'] = shim
            # a sanitizer build wants its runtime first; this library does not mind
            env['ASAN_OPTIONS'] = env.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0'
        rc, logs, answered = stop_under_load(tmp, pub, bodies[r * 60:(r + 1) * 60], env)
        served += sum(1 for a in answered.values() if a == (200, ACK))
        if rc != 0 or 'Fatal error' in logs or 'event=stopped' not in logs:
            crashes.append((r, delayed, rc, [l for l in logs.splitlines() if 'Fatal' in l][:1]))
        os.remove(tmp.file('payments.db'))
        for suffix in ('-wal', '-shm'):
            if os.path.exists(tmp.file('payments.db' + suffix)):
                os.remove(tmp.file('payments.db' + suffix))
    print('# %d stops under load (%d with the race forced) in %.0f s, %d orders '
          'acknowledged: %d unclean' % (len(rounds), rounds.count(True), time.monotonic() - t0,
                                        served, len(crashes)), flush=True)
    eq(crashes, [], 'unclean stops (round, race forced, exit status, abort)')
    ok(served > 0, 'the stops came under load')


@test
def sigterm_while_a_query_is_under_way_exits_promptly():
    tmp = TempDir()
    ll_priv, ll_pub = keypair(tmp, 'll')
    m_priv, m_pub = keypair(tmp, 'merchant')
    os.chmod(m_priv, 0o600)
    sim = Sim(tmp, ll_priv, m_pub, {'SLOW-1': [{'delay_ms': 15000, 'ret_code': '8901'}]})
    d = Daemon(tmp, ll_pub, m_priv, sections={
        'lianlian': {'query_url': sim.url, 'query_timeout': '4s'},
        'reconcile': {'notify_window': '1s', 'retry_interval': '1m'}})
    sh([os.path.join(os.path.dirname(NOTIFYD), 'lianpayctl'), '-c', d.config, 'register',
        'SLOW-1', '1.00', '20261122083000'])
    # due one second after registration; the simulator logs a query only once it answers
    time.sleep(3)
    t0 = time.monotonic()
    eq(d.stop(timeout=30), 0, 'exit status')
    took = time.monotonic() - t0
    # the query's own timeout (query_timeout) bounds it; nothing waits for LianLian's 15 s
    ok(took < 6, 'stopped in %.1f s' % took)
    d.wait_log(r'event=query no_order=SLOW-1 answer=transport_error', timeout=1)
    sim.proc.kill()  # still asleep in its 15 s answer
    sim.proc.wait()


# ---- SIGHUP ------------------------------------------------------------------------------

@test
def sighup_rotates_lianlian_keys_without_a_restart():
    tmp = TempDir()
    old_priv, old_pub = keypair(tmp, 'old')
    new_priv, new_pub = keypair(tmp, 'new')
    d = Daemon(tmp, old_pub)
    pid = d.proc.pid
    eq(d.post(sign(notification('ROT-1'), new_priv))[0], 400, 'new key before the reload')
    # rotation: both keys while LianLian switches
    with open(d.config) as f:
        text = f.read().replace('public_key = %s' % old_pub,
                                'public_key = %s %s' % (old_pub, new_pub))
    write(d.config, text)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r'event=reload status=ok public_keys=2')
    eq(d.post(sign(notification('ROT-2'), new_priv)), (200, ACK), 'new key after the reload')
    eq(d.post(sign(notification('ROT-3'), old_priv)), (200, ACK), 'old key still trusted')
    # then the old key is retired
    write(d.config, text.replace('public_key = %s %s' % (old_pub, new_pub),
                                 'public_key = %s' % new_pub))
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r'event=reload status=ok public_keys=1 ')
    eq(d.post(sign(notification('ROT-4'), old_priv))[0], 400, 'old key retired')
    eq(d.post(sign(notification('ROT-5'), new_priv)), (200, ACK), 'new key')
    eq(d.proc.pid, pid, 'same process')
    eq(d.proc.poll(), None, 'still running')


@test
def sighup_with_a_bad_key_file_keeps_the_old_keys_and_says_why():
    tmp = TempDir()
    priv, pub = keypair(tmp, 'll')
    d = Daemon(tmp, pub)
    with open(pub) as f:
        good = f.read()
    write(pub, '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n')
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r'level=error event=reload status=failed error=.*lianlian.public_key.* '
               r'keys=unchanged')
    line = d.log_lines('reload')[-1]
    ok(os.path.basename(pub) in line, 'the file is named: ' + line)
    ok('BEGIN' not in line and 'not a key' not in line, 'no key material in the log')
    eq(d.post(sign(notification('BAD-1'), priv)), (200, ACK), 'old key still works')
    write(pub, good)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r'event=reload status=ok')
    eq(d.post(sign(notification('BAD-2'), priv)), (200, ACK), 'after the fix')


@test
def sighup_changes_the_log_level():
    tmp = TempDir()
    priv, pub = keypair(tmp, 'll')
    d = Daemon(tmp, pub)  # harness: level debug
    eq(d.post(sign(notification('LVL-1'), priv)), (200, ACK), 'first')
    d.wait_log(r'event=notify .*no_order=LVL-1')
    edit(d.config, 'level = debug', 'level = warning')
    d.proc.send_signal(signal.SIGHUP)
    # the reload line itself is info: it is written with the new level already in force
    time.sleep(1.0)
    eq(d.post(sign(notification('LVL-2'), priv)), (200, ACK), 'second')
    eq(d.post('{"x":', )[0], 400, 'a refusal (warning)')
    d.wait_log(r'level=warning event=reject')
    ok('no_order=LVL-2' not in d.logs(), 'info lines dropped at level warning')
    edit(d.config, 'level = warning', 'level = info')
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r'event=reload status=ok .*log_level=info')
    eq(d.post(sign(notification('LVL-3'), priv)), (200, ACK), 'third')
    d.wait_log(r'event=notify .*no_order=LVL-3')


@test
def sighup_is_reported_to_systemd_as_a_reload_and_a_failed_one_says_so():
    tmp = TempDir()
    ll_priv, pub = keypair(tmp, 'll')
    ns = NotifySocket(tmp)
    d = Daemon(tmp, pub, env=ns.env())
    ns.wait_for('READY=1')
    ns.messages = []
    d.proc.send_signal(signal.SIGHUP)
    ns.wait_for('RELOADING=1')
    ok('STATUS=serving on ' in ns.wait_for('READY=1'), 'a good reload: %r' % ns.messages)
    # a configuration that does not load: the unit's ExecReload= runs -t first, which refuses
    # it (systemctl reload exits non-zero); signalled anyway, the daemon says so and goes on
    good = open(d.config).read()
    with open(d.config, 'a') as f:
        f.write('[server]\nno_such_key = 1\n')
    r = subprocess.run([NOTIFYD, '-t', '-c', d.config], capture_output=True, text=True)
    ok(r.returncode == 1 and 'no_such_key' in r.stderr, '-t: %d %r' % (r.returncode, r.stderr))
    ns.messages = []
    d.proc.send_signal(signal.SIGHUP)
    text = ns.wait_for('READY=1', timeout=20)
    status = [l for l in text.split('\n') if l.startswith('STATUS=')]
    ok(status and status[0].startswith('STATUS=reload failed') and 'no_such_key' in status[0],
       'STATUS= with READY=1: %r' % text)
    d.wait_log(r'level=error event=reload status=failed error=.*no_such_key')
    eq(d.post(sign(notification('RL-1'), ll_priv)), (200, ACK), 'the old configuration serves')
    body = admin_get(d, '/metrics')[2].decode()
    ok('lianpay_reloads_total{result="failed"} 1' in body, 'counted as failed')
    with open(d.config, 'w') as f:
        f.write(good)
    ns.messages = []
    d.proc.send_signal(signal.SIGHUP)
    ok('STATUS=serving on ' in ns.wait_for('READY=1', timeout=20), 'fixed: %r' % ns.messages)
    eq(d.proc.poll(), None, 'running')


# ---- monitoring lines --------------------------------------------------------------------

@test
def summary_lines_count_since_the_last_one():
    tmp = TempDir()
    priv, pub = keypair(tmp, 'll')
    d = Daemon(tmp, pub, sections={'log': {'summary_interval': '2s'}})
    for i in range(3):
        eq(d.post(sign(notification('SUM-%d' % i), priv)), (200, ACK), 'notification')
    eq(d.post('nonsense')[0], 400, 'refused')
    with d.db() as c:
        c.execute("INSERT INTO payments(no_order, money_order, dt_order) "
                  "VALUES ('SUM-P', '1.00', '20261122083000')")
    time.sleep(4.5)
    lines = d.log_lines('summary')
    ok(len(lines) >= 2, 'a summary every 2 s: %r' % lines)
    total = {'notifications': 0, 'rejected': 0, 'failed': 0, 'queries': 0}
    for line in lines:
        for k in total:
            total[k] += int(re.search(r' %s=(\d+)' % k, line).group(1))
    eq(total, {'notifications': 3, 'rejected': 1, 'failed': 0, 'queries': 0},
       'counts since the last summary add up')
    ok(re.search(r'pending=1 oldest_pending_age=\d+', lines[-1]), lines[-1])
    ok(not d.log_lines('pending_overdue'), 'nothing overdue')


@test
def an_old_pending_order_is_warned_about_once_per_interval():
    tmp = TempDir()
    _, pub = keypair(tmp, 'll')
    d = Daemon(tmp, pub, sections={'log': {'summary_interval': '2s',
                                           'pending_warning_after': '1h'}})
    with d.db() as c:
        c.execute("INSERT INTO payments(no_order, money_order, dt_order, registered_at) "
                  "VALUES ('OLD-1', '1.00', '20261122083000', "
                  "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours'))")
        c.execute("INSERT INTO payments(no_order, money_order, dt_order) "
                  "VALUES ('NEW-1', '1.00', '20261122083000')")
    time.sleep(5)
    warnings = d.log_lines('pending_overdue')
    ok(1 <= len(warnings) <= 3, 'once per 2 s interval at most: %r' % warnings)
    w = warnings[-1]
    ok(w.startswith('level=warning event=pending_overdue pending=2 oldest_pending_age='), w)
    age = int(re.search(r'oldest_pending_age=(\d+)', w).group(1))
    ok(7190 <= age <= 7300, 'age %d' % age)
    ok('oldest_no_order=OLD-1' in w and 'threshold=3600' in w, w)


# ---- the merchant key --------------------------------------------------------------------

@test
def merchant_key_readable_by_others_is_refused_at_start():
    tmp = TempDir()
    _, pub = keypair(tmp, 'll')
    m_priv, _ = keypair(tmp, 'merchant')
    for mode, word in ((0o644, 'readable'), (0o640, 'readable'), (0o604, 'readable'),
                       (0o610, 'accessible')):
        os.chmod(m_priv, mode)
        d = Daemon(tmp, pub, m_priv, start=False)
        r = subprocess.run([NOTIFYD, '-c', d.config], capture_output=True, text=True,
                           timeout=20)
        eq(r.returncode, 1, 'exit status with mode %o' % mode)
        ok('lianlian.merchant_private_key' in r.stderr and word in r.stderr and
           'chmod 600' in r.stderr and '%04o' % mode in r.stderr, r.stderr)
        ok('PRIVATE KEY' not in r.stderr, 'no key material')
        r = subprocess.run([NOTIFYD, '-t', '-c', d.config], capture_output=True, text=True)
        eq(r.returncode, 1, '-t with mode %o' % mode)
    os.chmod(m_priv, 0o600)
    d = Daemon(tmp, pub, m_priv)
    ok(d.proc.poll() is None, 'starts with mode 0600')


@test
def database_files_are_group_writable_under_the_units_umask():
    tmp = TempDir()
    priv, pub = keypair(tmp, 'll')
    old = os.umask(0o007)  # the unit's UMask=
    try:
        d = Daemon(tmp, pub)
    finally:
        os.umask(old)
    eq(d.post(sign(notification('UM-1'), priv)), (200, ACK), 'stored')
    for suffix in ('', '-wal', '-shm'):
        eq(oct(os.stat(d.db_path + suffix).st_mode & 0o777), '0o660', 'mode of db' + suffix)


if __name__ == '__main__':
    run()
