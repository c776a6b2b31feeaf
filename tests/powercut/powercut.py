"""The power-cut model: from the recorder's log (recorder.c), the disks a power cut could leave.

A cut at the end of the log leaves, for each file and for the directory:

- Data. Every change to a file (write, truncation, allocation) recorded before the start of an
  fsync or fdatasync of that file is on the disk. fdatasync counts as fsync: it also writes the
  size when the data needs it (fdatasync(2)), and nothing here depends on timestamps. Each later
  change is, independently of every other, kept, lost, or torn: a write is cut at the 512-byte
  sectors of the file it spans and each sector of it kept or lost (what a disk does with a
  request in flight; SQLite's crash-test VFS and LazyFS do the same). Independently means in any
  order too: the disk and the page cache promise no order without a sync.
- Names. A name created (open with O_CREAT), renamed or unlinked is on the disk only if the
  directory was fsynced after it (fsync(2): "calling fsync() does not necessarily ensure that the
  entry in the directory containing the file has also reached disk"). This is POSIX's rule and
  stricter than ext4's journal, where an fsync of a new file also commits the transaction holding
  its directory entry; what the daemon promises must not depend on that. Changes to names after
  the last directory sync are kept as a prefix, in their order (a journalling file system commits
  its metadata in order): none on the strict disk, a random number on the others.
- The -shm (SQLite's WAL index) is shared memory, never synced, and rebuilt by SQLite from the
  WAL when the first connection opens: not durable state. The strict disk has none; the others
  have none, the stale one the kill left, or garbage.

sync(2) and syncfs(2) make everything recorded before them durable. sync_file_range makes nothing
durable (it flushes no metadata and no disk cache) and is not recorded.

The base (the files in the directory when recording began) is durable.
"""
import collections
import os
import random
import struct

HEADER = struct.Struct('=IHHiiqqQII')  # recorder.c, struct rec
MAGIC = 0x50435554
OPEN, WRITE, TRUNCATE, FALLOCATE, UNLINK, RENAME, SYNC, SYNC_ALL, UNMODELLED = range(1, 10)
O_CREAT_, O_TRUNC_, O_DIRECTORY_ = 1, 2, 4
FALLOC_FL_KEEP_SIZE = 1
SECTOR = 512
SHM = '-shm'

Op = collections.namedtuple('Op', 'pos type flags pid fd a b ino data')


def read_log(path):
    """The records of a recorder log, in order. A record cut short (the writer was killed in the
    middle of it, which one writev makes unlikely) ends the log."""
    with open(path, 'rb') as f:
        raw = f.read()
    ops = []
    pos = 0
    while pos + HEADER.size <= len(raw):
        magic, typ, flags, pid, fd, a, b, ino, n, _ = HEADER.unpack_from(raw, pos)
        if magic != MAGIC:
            raise ValueError('recorder log %s: bad record at byte %d' % (path, pos))
        end = pos + HEADER.size + n
        if end > len(raw):
            break
        ops.append(Op(pos, typ, flags, pid, fd, a, b, ino, raw[pos + HEADER.size:end]))
        pos = end
    return ops


def snapshot(directory):
    """The files of a directory as {name: bytes} (the -shm too: a disk may hold a stale one)."""
    files = {}
    for name in sorted(os.listdir(directory)):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            with open(p, 'rb') as f:
                files[name] = f.read()
    return files


def install(files, directory):
    """Makes directory hold exactly files; returns {name: inode number} for History."""
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    inodes = {}
    for name, data in files.items():
        p = os.path.join(directory, name)
        with open(p, 'wb') as f:
            f.write(data)
        inodes[name] = os.stat(p).st_ino
    return inodes


class Inode:
    def __init__(self, ino, data=b''):
        self.ino = ino
        self.base = data
        self.changes = []  # WRITE, TRUNCATE, FALLOCATE ops in log order
        self.synced = -1  # changes recorded before this log position are durable


class History:
    """What the log says happened to the directory, on top of the base."""

    def __init__(self, base_files, base_inodes, ops):
        self.inodes = []
        self.base_names = {}
        for name, data in base_files.items():
            if not name.endswith(SHM):
                self.base_names[name] = self._new(base_inodes[name], data)
        self.names_ops = []  # (pos, kind, args) in log order: link, unlink, rename
        self.dir_synced = -1
        self.unmodelled = []
        self.syncs = collections.Counter()  # by the name the file was opened under
        self.changes = 0
        names = dict(self.base_names)
        fds = {}
        for op in ops:
            if op.type == OPEN:
                name = op.data.decode()
                if op.flags & O_DIRECTORY_:
                    fds[(op.pid, op.fd)] = ('dir', '(directory)')
                    continue
                i = names.get(name)
                if i is None or self.inodes[i].ino != op.ino:
                    i = self._new(op.ino)
                    names[name] = i
                    self.names_ops.append((op.pos, 'link', (name, i)))
                elif op.flags & O_TRUNC_:
                    self.inodes[i].changes.append(op._replace(type=TRUNCATE, a=0))
                fds[(op.pid, op.fd)] = (i, name)
            elif op.type in (WRITE, TRUNCATE, FALLOCATE):
                i = fds.get((op.pid, op.fd), (None,))[0]
                if not isinstance(i, int):
                    self.unmodelled.append('change through a descriptor never opened: %r' % (op,))
                    continue
                self.inodes[i].changes.append(op)
                self.changes += 1
            elif op.type == UNLINK:
                name = op.data.decode()
                names.pop(name, None)
                self.names_ops.append((op.pos, 'unlink', (name,)))
            elif op.type == RENAME:
                old, new = op.data.decode().split('\0')
                if old in names:
                    names[new] = names.pop(old)
                self.names_ops.append((op.pos, 'rename', (old, new)))
            elif op.type == SYNC:
                i, name = fds.get((op.pid, op.fd), (None, '?'))
                self.syncs[name] += 1
                if i == 'dir':
                    self.dir_synced = max(self.dir_synced, op.a)
                elif i is not None:
                    self.inodes[i].synced = max(self.inodes[i].synced, op.a)
            elif op.type == SYNC_ALL:
                self.syncs['(all)'] += 1
                self.dir_synced = max(self.dir_synced, op.a)
                for ino in self.inodes:
                    ino.synced = max(ino.synced, op.a)
            elif op.type == UNMODELLED:
                self.unmodelled.append(op.data.decode(errors='replace'))

    def unsynced(self):
        """(changes to files, changes to names) that no sync had covered at the cut."""
        files = sum(1 for i in self.inodes for op in i.changes if op.pos >= i.synced)
        names = sum(1 for n in self.names_ops if n[0] >= self.dir_synced)
        return files, names

    def everything(self):
        """Every recorded change kept: what the kernel had at the cut (checks the recorder)."""
        return self.disk(random.Random(0), keep=1.0, tear=0.0)

    def _new(self, ino, data=b''):
        self.inodes.append(Inode(ino, data))
        return len(self.inodes) - 1

    def disk(self, rng=None, keep=0.5, tear=0.15, stale_shm=None):
        """One disk after a cut at the end of the log: {name: bytes}. rng None: the strict disk
        (only what a sync made durable); keep=1 and tear=0: everything recorded (what the kernel
        had, for checking the recorder)."""
        names = dict(self.base_names)
        durable = [n for n in self.names_ops if n[0] < self.dir_synced]
        later = self.names_ops[len(durable):]
        if rng is not None:
            durable += later[:len(later) if keep >= 1 else rng.randint(0, len(later))]
        for _, kind, args in durable:
            if kind == 'link':
                names[args[0]] = args[1]
            elif kind == 'unlink':
                names.pop(args[0], None)
            elif args[0] in names:
                names[args[1]] = names.pop(args[0])
        files = {name: self._content(self.inodes[i], rng, keep, tear) for name, i in names.items()}
        if rng is not None and keep < 1:
            shm = rng.choice(['none', 'stale', 'garbage'])
            main = [n for n in files if n.endswith('.db')]
            if main and shm == 'stale' and stale_shm is not None:
                files[main[0] + SHM] = stale_shm
            elif main and shm == 'garbage':
                files[main[0] + SHM] = rng.randbytes(32768)
        return files

    @staticmethod
    def _content(inode, rng, keep, tear):
        data = bytearray(inode.base)
        for op in inode.changes:
            if op.pos >= inode.synced:
                if rng is None:
                    continue
                u = rng.random()
                if u >= keep + tear:
                    continue  # lost
                if u >= keep and op.type == WRITE:
                    _write_torn(data, op, rng)
                    continue
            _apply(data, op)
        return bytes(data)


def _apply(data, op):
    if op.type == WRITE:
        _put(data, op.a, op.data)
    elif op.type == TRUNCATE:
        if op.a < len(data):
            del data[op.a:]
        else:
            data.extend(bytes(op.a - len(data)))
    elif op.type == FALLOCATE and not op.flags & FALLOC_FL_KEEP_SIZE and op.a + op.b > len(data):
        data.extend(bytes(op.a + op.b - len(data)))


def _put(data, off, chunk):
    if off > len(data):
        data.extend(bytes(off - len(data)))
    data[off:off + len(chunk)] = chunk


def _write_torn(data, op, rng):
    """Some of the write's 512-byte sectors reach the disk, the others do not."""
    start = op.a
    end = op.a + len(op.data)
    cut = start
    while cut < end:
        nxt = min(end, (cut // SECTOR + 1) * SECTOR)
        if rng.random() < 0.5:
            _put(data, cut, op.data[cut - start:nxt - start])
        cut = nxt


def disks(history, count, seed, stale_shm=None):
    """The strict disk and count - 1 seeded random ones: [(label, {name: bytes})]."""
    out = [('strict', history.disk())]
    for k in range(1, count):
        rng = random.Random('%s/%d' % (seed, k))
        keep = (0.15, 0.5, 0.85)[(k - 1) % 3]
        out.append(('random keep=%.2f seed=%s/%d' % (keep, seed, k),
                    history.disk(rng, keep=keep, stale_shm=stale_shm)))
    return out
