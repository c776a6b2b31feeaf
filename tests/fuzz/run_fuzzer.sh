#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time and reports it as one TAP case:
#   run_fuzzer.sh FUZZER NAME SOURCE_DIR WORK_DIR MAX_LEN
# The seeds (corpus/TARGET) and fixed crashers (regressions/TARGET) are replayed first; new
# inputs go to WORK_DIR/corpus, never into the source tree; a crash is kept in WORK_DIR/artifacts.
set -uo pipefail
fuzzer=$1 name=$2 src=$3 work=$4 max_len=$5
target=${name#fuzz_}
seconds=${LIANPAY_FUZZ_SECONDS:-60}

mkdir -p "$work/corpus" "$work/artifacts"
dirs=("$work/corpus" "$src/corpus/$target")
[ -d "$src/regressions/$target" ] && dirs+=("$src/regressions/$target")

echo "1..1"
log="$work/fuzz.log"
# -timeout: one input taking longer is a hang; the outer timeout is a safety net.
timeout $((seconds + 120)) "$fuzzer" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "${dirs[@]}" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
corpus=$(find "$work/corpus" -type f | wc -l)
if [ "$rc" -eq 0 ]; then
    echo "ok 1 - $name: ${execs:-?} executions in ${seconds}s, corpus ${corpus} new inputs"
    exit 0
fi
echo "not ok 1 - $name: exit status $rc after ${execs:-?} executions"
tail -n 40 "$log" | sed 's/^/# /'
ls "$work/artifacts" | sed 's/^/# artifact: /'
exit 1
