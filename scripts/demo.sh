#!/usr/bin/env bash
# The demo: builds everything, starts lianpay-notifyd with its embedded development
# configuration against lianpay-sim (our LianLian stand-in), and plays three payouts:
#   DEMO-1  notified SUCCESS, and the notification resent (counted, journalled once)
#   DEMO-2  notified SUCCESS, then refunded by the bank: CANCEL after SUCCESS
#   DEMO-3  every notification lost: reconciliation queries LianLian and recovers the result
# then prints the rows internal tools would read. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

# Bold headings on a terminal only: a log file or a pipe gets plain text.
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

# The ports the embedded development configuration uses (src/devconfig.c): the daemon's
# listener, lianpay-sim's queryPayment and the admin listener. Taken ones are named at once.
ports=$(sed -n 's/^ *"\(listen\|query_url\) = [a-z:/]*127\.0\.0\.1:\([0-9]*\).*/\2/p' src/devconfig.c)
for port in $ports; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port on 127.0.0.1 is taken (the demo needs ${ports//$'\n'/, }); stop what listens there:" >&2
    (ss -ltnp "sport = :$port" 2>/dev/null || true) >&2
    exit 1
  fi
done

bash scripts/deps.sh
# DEMO_BUILD: the meson build directory to use (default build/, made here when missing).
build=${DEMO_BUILD:-build}
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null

# DEMO_DIR: where the throwaway keys, database and logs go (default .demo/).
dir=${DEMO_DIR:-.demo}
rm -rf "$dir"
mkdir -p "$dir"
bin=$build/src
partner=201801030001351894
pids=()
keep=${DEMO_KEEP:-0}
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # .demo holds throwaway private keys and the database: removed unless DEMO_KEEP=1.
  if [ "$keep" = 1 ]; then
    echo "demo: kept $dir (throwaway keys, database, logs; DEMO_KEEP=1) and $build/ (the programs)"
  else
    rm -rf "$dir"
    echo "demo: removed $dir (its throwaway keys and database); $build/ stays (the compiled programs:"
    echo "      rm -rf $build removes it). DEMO_KEEP=1 keeps $dir to look at."
  fi
}
trap cleanup EXIT
wait_for_log() { # FILE PATTERN
  for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1
}

say "Starting lianpay-notifyd --dev $dir (embedded development configuration)"
"$bin/lianpay-notifyd" --dev "$dir" 2>"$dir/daemon.log" &
pids+=($!)
wait_for_log "$dir/daemon.log" "event=ready"
grep "event=ready" "$dir/daemon.log"

# LianLian's queryPayment, scripted: DEMO-3 is still processing at the first query, then paid.
cat >"$dir/script.json" <<JSON
{ "DEMO-3": [ {"result_pay": "PROCESSING", "money_order": "300.00", "dt_order": "20261122090000",
               "oid_paybill": "2026112200000003"},
              {"result_pay": "SUCCESS", "money_order": "300.00", "dt_order": "20261122090000",
               "oid_paybill": "2026112200000003", "settle_date": "20261122"} ] }
JSON
say "Starting lianpay-sim serve on 127.0.0.1:8081 (LianLian's queryPayment)"
"$bin/lianpay-sim" serve --listen 127.0.0.1:8081 --private-key "$dir/lianlian_private.pem" \
  --merchant-public-key "$dir/merchant_public.pem" --oid-partner $partner \
  --script "$dir/script.json" 2>"$dir/sim.log" &
pids+=($!)
wait_for_log "$dir/sim.log" "event=ready"

say "The merchant registers three payouts (lianpayctl register)"
db="$dir/payments.db"
"$bin/lianpayctl" --dev "$dir" register DEMO-1 100.00 20261122090000
"$bin/lianpayctl" --dev "$dir" register DEMO-2 200.00 20261122090000
"$bin/lianpayctl" --dev "$dir" register DEMO-3 300.00 20261122090000

notify() { # NO_ORDER RESULT MONEY [extra args]
  "$bin/lianpay-sim" notify --url http://127.0.0.1:8080/lianpay/notify \
    --private-key "$dir/lianlian_private.pem" --oid-partner $partner --no-order "$1" \
    --result "$2" --money "$3" --dt-order 20261122090000 --oid-paybill "2026112200000${1: -1}" \
    --info-order "demo payout $1" --time-scale 60 "${@:4}"
}
say "LianLian notifies DEMO-1: SUCCESS"
notify DEMO-1 SUCCESS 100.00 --settle-date 20261122
say "LianLian resends DEMO-1 (our answer was lost on the way back): acknowledged again, counted"
notify DEMO-1 SUCCESS 100.00 --settle-date 20261122

say "LianLian notifies DEMO-2: SUCCESS ... and later the bank returns the money: CANCEL"
notify DEMO-2 SUCCESS 200.00 --settle-date 20261122
notify DEMO-2 CANCEL 200.00

say "DEMO-3's notifications are all lost. After the notification window (10 s in --dev)"
say "the daemon asks LianLian itself (queryPayment), every query signed with the merchant key"
for _ in $(seq 1 60); do
  r=$(sqlite3 "$db" "SELECT result_pay FROM payments WHERE no_order='DEMO-3'")
  [ "$r" = "SUCCESS" ] && break
  sleep 0.5
done
grep "event=query" "$dir/daemon.log" || true

say "What internal tools read: the payments table"
sqlite3 -header -column "$db" "SELECT no_order, money_order, amount_fen, result_pay, source,
  notify_count, query_count, needs_review FROM payments ORDER BY no_order"
say "The journal (payment_events): every distinct authentic message, with its outcome"
sqlite3 -header -column "$db" "SELECT no_order, source, result_pay, outcome, seen_count,
  remote_addr FROM payment_events ORDER BY id"
say "lianpayctl status DEMO-3"
"$bin/lianpayctl" --dev "$dir" status DEMO-3
say "The daemon's log (logfmt, one line per event)"
cat "$dir/daemon.log"
if [ "$keep" = 1 ]; then
  say "Done. The database is $db; run it yourself: sqlite3 $db 'SELECT * FROM pending_payments'"
else
  say "Done."
fi
