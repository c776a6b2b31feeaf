"""Freezing one thread of a running daemon, and systemd's notification socket, for tests.

A stuck thread is simulated honestly: the test attaches to the thread with ptrace(PTRACE_SEIZE)
and stops it with PTRACE_INTERRUPT, so that exactly that thread makes no progress while the
rest of the process runs on - what a thread blocked forever in the kernel (a dead disk, a hung
NFS server) looks like from the outside. No debug switch in the daemon is involved. The daemon
names its threads ("writer", "reconcile"); the libmicrohttpd threads keep the program's name.
"""
import ctypes
import os
import socket
import time

from harness import Skip

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000  # waitpid: any child, threads included
_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long


def thread_names(pid):
    """{tid: name} of every thread of pid."""
    out = {}
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/comm' % (pid, tid)) as f:
                out[int(tid)] = f.read().strip()
        except OSError:
            pass
    return out


def thread_state(pid, tid):
    with open('/proc/%d/task/%d/stat' % (pid, tid)) as f:
        return f.read().rsplit(')', 1)[1].split()[0]


class Frozen:
    """Stops the given threads of pid until thaw() (or the end of a with block)."""

    def __init__(self, pid, tids):
        self.pid = pid
        self.tids = []
        for tid in tids:
            if _libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
                err = ctypes.get_errno()
                self.thaw()
                raise Skip('ptrace not permitted here: %s' % os.strerror(err))
            self.tids.append(tid)
            if _libc.ptrace(PTRACE_INTERRUPT, tid, None, None) != 0:
                self.thaw()
                raise AssertionError('PTRACE_INTERRUPT failed: %s'
                                     % os.strerror(ctypes.get_errno()))
        for tid in self.tids:
            # the interrupt is asynchronous: wait for the stop to show ('t': tracing stop)
            os.waitpid(tid, WALL)

    def thaw(self):
        for tid in self.tids:
            _libc.ptrace(PTRACE_DETACH, tid, None, None)
        self.tids = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.thaw()


def freeze(pid, names=None, exclude=None):
    """Freezes the threads of pid whose name is in names (or, with exclude, every thread but
    the main one and those named in exclude)."""
    # A thread names itself when it first runs, which on a loaded machine can be after the
    # daemon reported ready: give it a few seconds.
    deadline = time.monotonic() + 5
    while True:
        threads = thread_names(pid)
        if names is not None:
            tids = [t for t, n in threads.items() if n in names]
        else:
            tids = [t for t, n in threads.items() if t != pid and n not in exclude]
        if tids or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not tids:
        raise AssertionError('no such thread in %r' % threads)
    return Frozen(pid, tids)


class NotifySocket:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, tmp):
        self.path = tmp.file('notify.sock')
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []  # (monotonic time, text)

    def env(self, watchdog_usec=None):
        e = dict(os.environ)
        e['NOTIFY_SOCKET'] = self.path
        if watchdog_usec is not None:
            e['WATCHDOG_USEC'] = str(watchdog_usec)
        return e

    def receive(self, timeout):
        """Collects datagrams for up to timeout seconds; returns the new ones."""
        new = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return new
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return new
            item = (time.monotonic(), data.decode('utf-8', 'replace'))
            self.messages.append(item)
            new.append(item)

    def wait_for(self, field, timeout=10):
        """Waits for a datagram holding the line field (e.g. 'READY=1'); returns its text."""
        deadline = time.monotonic() + timeout
        for _, text in self.messages:
            if field in text.split('\n'):
                return text
        while time.monotonic() < deadline:
            for _, text in self.receive(min(0.2, deadline - time.monotonic())):
                if field in text.split('\n'):
                    return text
        raise AssertionError('no %s from the daemon; got %r' % (field, self.messages))

    def close(self):
        self.sock.close()
