"""Slow and idle clients for tests: connections held open, bytes trickled one at a time.

Used by test_limits.py (the notification listener) and test_admin.py (the admin listener). A
client is told apart only by its source address (127.0.0.0/8 is all loopback on Linux), so
several loopback addresses stand for several hosts.
"""
import socket
import threading
import time

PARTIAL = b'POST /lianpay/notify HTTP/1.1\r\nHost: x\r\nX-Slow: '


def hold(port, n, source='127.0.0.1', first_bytes=b'', host='127.0.0.1'):
    """Opens n connections from source and returns them (the server may close some at once)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
        if first_bytes:
            try:
                s.sendall(first_bytes)
            except OSError:
                pass
        socks.append(s)
    return socks


def still_open(s):
    """True when the server has not closed the connection (nothing to read yet)."""
    s.setblocking(False)
    try:
        return s.recv(1) not in (b'',)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def count_open(socks, settle=0.5):
    """How many of socks the server keeps, once it had settle seconds to close the others."""
    time.sleep(settle)
    return sum(map(still_open, socks))


def wait_closed(s, limit):
    """Seconds until the server closes s (reads until EOF), failing after limit."""
    t0 = time.monotonic()
    s.settimeout(limit)
    try:
        while s.recv(4096):
            pass
    except socket.timeout:
        raise AssertionError('connection not closed within %ds' % limit)
    except OSError:
        pass
    return time.monotonic() - t0


def wait_all_closed(socks, limit):
    """Seconds until the server has closed every one of socks, failing after limit."""
    t0 = time.monotonic()
    while any(still_open(s) for s in socks):
        if time.monotonic() - t0 > limit:
            raise AssertionError('%d of %d connections still open after %ds'
                                 % (sum(map(still_open, socks)), len(socks), limit))
        time.sleep(0.05)
    return time.monotonic() - t0


def close_all(socks):
    for s in socks:
        s.close()


class Trickler(threading.Thread):
    """Sends one more header byte on each of its connections every `period` seconds: never
    idle, never done."""

    def __init__(self, socks, period=0.2):
        super().__init__(daemon=True)
        self.socks = socks
        self.period = period
        self.stop = threading.Event()
        self.sent = 0

    def run(self):
        while not self.stop.wait(self.period):
            for s in self.socks:
                try:
                    s.send(b'a', socket.MSG_DONTWAIT)
                    self.sent += 1
                except OSError:
                    pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()
