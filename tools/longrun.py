"""What the long runs in tools/ (crash_run.py, powercut_run.py) share: the arguments each takes
besides its own, and loading a test module of tests/integration against a build directory (the
harness reads LIANPAY_BUILD_DIR when it is imported)."""
import importlib
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def add_common_arguments(p, quiet_help):
    p.add_argument('--seed', type=int, default=None)
    p.add_argument('--quiet', action='store_true', help=quiet_help)
    p.add_argument('build_dir', nargs='?', default=os.path.join(ROOT, 'build'))


def load(args, module):
    """Returns (harness, the test module, the seed: --seed or the time)."""
    os.environ['LIANPAY_BUILD_DIR'] = os.path.abspath(args.build_dir)
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
    harness = importlib.import_module('harness')
    seed = args.seed if args.seed is not None else int(time.time())
    return harness, importlib.import_module(module), seed


def line(args):
    """What to print a line with, or nothing under --quiet."""
    return None if args.quiet else lambda s: print(s, flush=True)


def cleanup(harness):
    harness.Daemon.stop_all()
    harness.Sim.stop_all()
    harness.TempDir.cleanup_all()
