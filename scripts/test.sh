#!/usr/bin/env bash
# Sets everything up on a fresh Debian machine, builds, and runs every test.
# The last line is "N passed, N failed", counting each test case (cmocka and integration).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
build=${BUILD_DIR:-build}
if [ -f "$build/build.ninja" ]; then
  meson setup --reconfigure "$build" >/dev/null
else
  meson setup "$build" >/dev/null
fi
ninja -C "$build"

status=0
meson test -C "$build" --print-errorlogs "$@" || status=$?
/usr/bin/python3 tools/count_tests.py "$build/meson-logs/testlog.json"
exit $status
