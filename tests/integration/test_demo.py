#!/usr/bin/env python3
"""scripts/demo.sh, as a newcomer runs it: it names a taken port at once, writes no terminal
escapes into a pipe, and leaves no private keys behind (DEMO_KEEP=1 keeps them, and says so).

The demo listens on the fixed ports of the embedded development configuration (src/devconfig.c),
so this test can only run where they are free; it uses the suite's build directory (DEMO_BUILD)
and a temporary directory for the demo's files (DEMO_DIR).
"""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import BUILD, Skip, TempDir, eq, ok, run, test  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DEMO = os.path.join(ROOT, 'scripts', 'demo.sh')


def dev_ports():
    with open(os.path.join(ROOT, 'src', 'devconfig.c'), encoding='utf-8') as f:
        text = f.read()
    return [int(p) for p in re.findall(r'(?:listen|query_url) = [a-z:/]*127\.0\.0\.1:(\d+)', text)]


def free(port):
    s = socket.socket()
    try:
        s.connect(('127.0.0.1', port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def demo(tmp, keep=False, timeout=300):
    env = dict(os.environ, DEMO_BUILD=os.path.abspath(BUILD), DEMO_DIR=os.path.join(tmp, 'demo'))
    env.pop('DEMO_KEEP', None)
    if keep:
        env['DEMO_KEEP'] = '1'
    t0 = time.monotonic()
    p = subprocess.run(['bash', DEMO], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p, time.monotonic() - t0


@test
def a_taken_port_is_named_before_anything_starts():
    ports = dev_ports()
    eq(len(ports), 3, 'the development configuration names three ports')
    if not all(free(p) for p in ports):
        raise Skip('a development port is in use here: %r' % ports)
    tmp = TempDir().path
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', ports[1]))
    s.listen(1)
    try:
        p, took = demo(tmp, timeout=60)
    finally:
        s.close()
    err = p.stderr.decode()
    eq(p.returncode, 1, 'exit status: ' + err)
    ok('port %d on 127.0.0.1 is taken' % ports[1] in err, 'the reason names the port: ' + err)
    ok(not os.path.exists(os.path.join(tmp, 'demo')), 'nothing was started or written')
    ok(b'Starting' not in p.stdout, 'no step ran: %r' % p.stdout[:200])


@test
def piped_output_is_plain_and_the_keys_are_removed():
    if not all(free(p) for p in dev_ports()):
        raise Skip('a development port is in use here')
    tmp = TempDir().path
    p, took = demo(tmp)
    out = p.stdout.decode()
    eq(p.returncode, 0, 'exit status; stderr: ' + p.stderr.decode()[-2000:])
    ok('\x1b' not in out and '\x1b' not in p.stderr.decode(), 'no terminal escape in a pipe')
    ok('== LianLian notifies DEMO-1: SUCCESS' in out, 'the steps are printed as plain headings')
    ok(re.search(r"DEMO-3 +300\.00 +30000 +SUCCESS +query", out), 'DEMO-3 recovered by query')
    ok(not os.path.exists(os.path.join(tmp, 'demo')), 'the demo directory (private keys) is gone')
    ok('demo: removed' in out and 'rm -rf ' in out, 'the end says what was removed and what stays')
    print('# demo ran in %.1f s' % took)


@test
def demo_keep_keeps_the_directory_and_says_so():
    if not all(free(p) for p in dev_ports()):
        raise Skip('a development port is in use here')
    tmp = TempDir().path
    p, _ = demo(tmp, keep=True)
    eq(p.returncode, 0, 'exit status; stderr: ' + p.stderr.decode()[-2000:])
    ok(os.path.exists(os.path.join(tmp, 'demo', 'payments.db')), 'the database is kept')
    ok('demo: kept ' in p.stdout.decode(), 'the end says what was kept')


run()
