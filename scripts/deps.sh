#!/usr/bin/env bash
# Installs what lianpay-notifyd needs to build, test and run, from Debian's packages only.
set -euo pipefail

# scdoc builds the man pages; procps has the /bin/kill of the unit's ExecReload; systemd
# (systemd-analyze, systemd-sysusers, systemd-tmpfiles) and strace are for the tests of the unit
# and its sandbox; nginx for the test of the reverse-proxy example. debhelper, dpkg-dev,
# fakeroot and lintian build and check the Debian package (debian/, tests/integration/
# test_package.py, which also reads the programs' hardening with binutils' readelf). prometheus
# for promtool, which checks and unit-tests etc/prometheus/lianpay-notifyd-rules.yml (Debian
# ships promtool only in the prometheus package: about 96 MB installed, with
# --no-install-recommends no more than a few small JavaScript libraries beside it; its service is
# not started, see policy-rc.d below).
packages=(
  build-essential meson ninja-build pkg-config python3 clang-format git
  libmicrohttpd-dev libcjson-dev libsqlite3-dev libcurl4-openssl-dev libinih-dev
  libsystemd-dev libssl-dev libcmocka-dev
  sqlite3 openssl curl ca-certificates
  scdoc systemd strace procps nginx prometheus
  debhelper dpkg-dev fakeroot lintian binutils
)
# `deps.sh fuzz`: the fuzzing stage of scripts/test.sh needs clang with its libFuzzer and
# sanitizer runtimes (the other stages build with gcc).
if [ "${1:-}" = fuzz ]; then
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Packages with services (nginx) must not start them here: the tests run their own instances on
# free loopback ports, and a failed start on a busy port 80 would fail the installation.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  made_policy=1
fi
status=0
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
[ -z "$made_policy" ] || $SUDO rm -f "$policy"
exit $status
