#!/usr/bin/env bash
# Sets everything up on a fresh Debian machine, builds, and runs every test, in three stages:
#   normal  the build and the whole suite (unit + integration)             $BUILD_DIR (build)
#   asan    the same suite built with -fsanitize=address,undefined        $ASAN_BUILD_DIR (build-asan)
#   fuzz    each libFuzzer target for $LIANPAY_FUZZ_SECONDS (60), clang    $FUZZ_BUILD_DIR (build-fuzz)
# TEST_STAGES chooses (default: "normal asan fuzz"); arguments go to the normal stage's
# `meson test` (e.g. a test name). The last line is "N passed, N failed", counting each test case
# of every stage (cmocka, integration, one per fuzz target run).
set -uo pipefail
cd "$(dirname "$0")/.."

stages=${TEST_STAGES:-normal asan fuzz}
case " $stages " in
*" fuzz "*) bash scripts/deps.sh fuzz || exit 1 ;;
*) bash scripts/deps.sh || exit 1 ;;
esac

# Sanitizer reports must fail the test that triggered them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
logs=()

# The tree stays formatted (.clang-format): an unformatted C file fails the run.
echo "=== format"
if ! git ls-files -z '*.c' '*.h' | xargs -0 clang-format --dry-run -Werror; then
  echo "format: run clang-format -i on the files above"
  status=1
fi

# setup BUILD [meson options...]: (re)configures BUILD with the options, then builds it.
build() {
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi && ninja -C "$dir"
}

# stage NAME BUILD_DIR -- MESON_SETUP_OPTIONS -- MESON_TEST_ARGS
stage() {
  local name=$1 dir=$2
  shift 3
  local setup=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
    setup+=("$1")
    shift
  done
  shift
  echo "=== stage $name ($dir)"
  # A stale log must not count for a stage that did not run.
  rm -f "$dir/meson-logs/testlog.json"
  logs+=("$dir/meson-logs/testlog.json")
  if ! build "$dir" "${setup[@]}"; then
    echo "stage $name: build failed"
    status=1
    return
  fi
  meson test -C "$dir" --print-errorlogs "$@" || status=1
}

for s in $stages; do
  case $s in
  normal)
    stage normal "${BUILD_DIR:-build}" -- -- "$@"
    ;;
  asan)
    stage asan "${ASAN_BUILD_DIR:-build-asan}" -- -Db_sanitize=address,undefined -Db_lundef=false \
      -- --timeout-multiplier 3
    ;;
  fuzz)
    CC=clang stage fuzz "${FUZZ_BUILD_DIR:-build-fuzz}" -- -Dfuzz=true -Dtests=false \
      -Db_sanitize=address,undefined -Db_lundef=false -- --suite fuzz
    ;;
  *)
    echo "unknown stage: $s (normal, asan, fuzz)"
    status=1
    ;;
  esac
done

/usr/bin/python3 tools/count_tests.py "${logs[@]}"
exit $status
