#!/usr/bin/env bash
# The demo: builds everything, starts lianpay-notifyd with its embedded development
# configuration (the submit thread on) against lianpay-sim (our LianLian stand-in), and plays
# the receiving side with three payouts the merchant sent itself:
#   DEMO-1  notified SUCCESS, and the notification resent (counted, journalled once)
#   DEMO-2  notified SUCCESS, then refunded by the bank: CANCEL after SUCCESS
#   DEMO-3  every notification lost: reconciliation queries LianLian and recovers the result
# and the whole payout loop with six payouts the daemon sends (payment.htm):
#   PAY-1   queued with plain SQL, PAY-2..PAY-6 with lianpayctl pay
#   PAY-1/2 sent once, accepted, notified SUCCESS
#   PAY-3   answered 4002 (suspected duplicate): a person runs lianpayctl confirm
#   PAY-4   answered 9999 (result unknown): queried, never sent again
#   PAY-5   refused 9104 (balance): a person runs lianpayctl resubmit, sent once more
#   PAY-6   accepted, every notification lost: recovered by query
# then prints the rows internal tools would read. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

# Bold headings on a terminal only: a log file or a pipe gets plain text.
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

# The ports the embedded development configuration uses (src/devconfig.c): the daemon's
# listener, lianpay-sim's queryPayment (also its payment.htm and confirmPayment.htm) and the
# admin listener. Taken ones are named at once.
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
db="$dir/payments.db"
# sqlite3 waits up to 10 s for the daemon's writer instead of failing "database is locked".
sql() { sqlite3 -cmd '.timeout 10000' "$@"; }
wait_sql() { # WHAT SQL EXPECTED: until the query prints EXPECTED (60 s at most)
  for _ in $(seq 1 120); do
    [ "$(sql "$db" "$2")" = "$3" ] && return 0
    sleep 0.5
  done
  echo "demo: timed out waiting for $1 ($2 is '$(sql "$db" "$2")', not '$3')" >&2
  tail -n 30 "$dir/daemon.log" >&2
  exit 1
}
wait_state() { # NO_ORDER STATE
  wait_sql "$1 to be $2" "SELECT state FROM payouts WHERE no_order = '$1'" "$2"
}
wait_result() { # NO_ORDER RESULT_PAY
  wait_sql "$1's result $2" "SELECT result_pay FROM payments WHERE no_order = '$1'" "$2"
}
payout_row() { # NO_ORDER...: the payout's row and its order's result
  local list
  list=$(printf "'%s'," "$@")
  sql -header -column "$db" "SELECT o.no_order, o.state, o.ret_code, o.attempts,
    o.oid_paybill, p.result_pay, p.source, p.notify_count, p.query_count
    FROM payouts o JOIN payments p USING (no_order) WHERE no_order IN (${list%,})
    ORDER BY no_order"
}
log_lines() { # NO_ORDER EVENTS: the daemon's log lines of those events (a|b) for the order
  grep -E "event=($2) .*no_order=$1 " "$dir/daemon.log" || true
}
show() { # COMMAND...: print it as typed, then run it (lianpayctl is the one just built)
  local a line='$'
  for a in "$@"; do
    case $a in *' '*) line+=" \"$a\"" ;; *) line+=" $a" ;; esac
  done
  printf '%s\n' "$line"
  local cmd=$1
  shift
  case $cmd in lianpayctl | sqlite3) ;; *) echo "demo: show $cmd?" >&2; exit 1 ;; esac
  if [ "$cmd" = lianpayctl ]; then "$bin/lianpayctl" "$@"; else sql "$@"; fi
}
# lianpay-sim's --record: one JSON line per payment.htm/confirmPayment.htm request it opened
# (the card masked, no name).
record="$dir/sim-record.jsonl"
show_record() { # NO_ORDER: what the sim received for the order, and how often payment.htm
  python3 - "$record" "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding='utf-8') if l.strip()]
rows = [r for r in rows if r.get('no_order') == sys.argv[2]]
for r in rows:
    what = ('payment.htm (money_order %s, card_no %s)' % (r['money_order'], r['card_no'])
            if r['call'] == 'apply' else 'confirmPayment.htm (confirm_code %s)' % r['confirm_code'])
    print('lianpay-sim received %s for %s: answered %s%s' % (
        what, r['no_order'], r['answer'], ', the payout created' if r['created'] else ''))
applies = [r for r in rows if r['call'] == 'apply']
print('payment.htm requests for %s: %d' % (sys.argv[2], len(applies)))
if len(applies) > 1:
    same = lambda r: {k: v for k, v in r.items() if k not in ('answer', 'created')}
    print('identical fields in each: %s' % ('yes' if all(same(r) == same(applies[0])
                                                          for r in applies) else 'NO'))
PY
}

say "Starting lianpay-notifyd --dev $dir (embedded development configuration, [submit] on)"
"$bin/lianpay-notifyd" --dev "$dir" 2>"$dir/daemon.log" &
pids+=($!)
wait_for_log "$dir/daemon.log" "event=ready"
grep "event=ready" "$dir/daemon.log"

# LianLian, scripted. queryPayment: DEMO-3 is still processing at the first query, then paid.
# payment.htm and confirmPayment.htm: PAY-3 is answered 4002 (its confirm then 0000), PAY-4 9999
# with the payout created behind it, PAY-5 9104 first and 0000 the second time; PAY-4's and
# PAY-6's notifications are lost. The others get LianLian's default: 0000, paid, notified.
cat >"$dir/script.json" <<JSON
{ "DEMO-3": [ {"result_pay": "PROCESSING", "money_order": "300.00", "dt_order": "20261122090000",
               "oid_paybill": "2026112200000003"},
              {"result_pay": "SUCCESS", "money_order": "300.00", "dt_order": "20261122090000",
               "oid_paybill": "2026112200000003", "settle_date": "20261122"} ],
  "PAY-3": { "apply": [ {"ret_code": "4002"} ] },
  "PAY-4": { "apply": [ {"ret_code": "9999", "created": true} ],
             "result": {"lose_notifications": true} },
  "PAY-5": { "apply": [ {"ret_code": "9104"}, {"ret_code": "0000"} ] },
  "PAY-6": { "result": {"lose_notifications": true} } }
JSON
say "Starting lianpay-sim serve on 127.0.0.1:8081 (LianLian's payment.htm, confirmPayment.htm, queryPayment.htm)"
# --time-scale 60: LianLian's 6 minutes between notifications are 6 s; the confirm code keeps
# LianLian's 30 minutes (--confirm-ttl is not scaled).
"$bin/lianpay-sim" serve --listen 127.0.0.1:8081 --private-key "$dir/lianlian_private.pem" \
  --merchant-public-key "$dir/merchant_public.pem" --oid-partner $partner \
  --script "$dir/script.json" --record "$record" --time-scale 60 --confirm-ttl 30m \
  2>"$dir/sim.log" &
pids+=($!)
wait_for_log "$dir/sim.log" "event=ready"

say "The merchant registers three payouts it sent itself (lianpayctl register)"
show lianpayctl --dev "$dir" register DEMO-1 100.00 20261122090000
show lianpayctl --dev "$dir" register DEMO-2 200.00 20261122090000
show lianpayctl --dev "$dir" register DEMO-3 300.00 20261122090000

say "The merchant queues PAY-1 with plain SQL, for the daemon's submit thread to send"
show sqlite3 "$db" "INSERT INTO payouts(no_order, money_order, dt_order, card_no, acct_name, flag_card, info_order, memo) VALUES ('PAY-1', '49.65', '20261122090000', '6228480223312311474', '李三', '0', '佣金', '代付')"
say "... and PAY-2 to PAY-6 with lianpayctl pay"
show lianpayctl --dev "$dir" pay PAY-2 120.00 20261122090000 6228480223312311474 李三 --info-order 佣金 --memo 代付
show lianpayctl --dev "$dir" pay PAY-3 130.00 20261122090000 6217001210024455220 王五 --info-order 佣金 --memo 代付
show lianpayctl --dev "$dir" pay PAY-4 140.00 20261122090000 6222021001116245702 赵六 --info-order 佣金 --memo 代付
show lianpayctl --dev "$dir" pay PAY-5 150.00 20261122090000 6228480402564890018 钱七 --info-order 佣金 --memo 代付
show lianpayctl --dev "$dir" pay PAY-6 160.00 20261122090000 6225880137706868 孙八 --info-order 佣金 --memo 代付

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

say "PAY-1 (SQL) and PAY-2 (lianpayctl pay): each sent once, answered 0000, notified SUCCESS"
wait_result PAY-1 SUCCESS
wait_result PAY-2 SUCCESS
payout_row PAY-1 PAY-2
show_record PAY-1
show_record PAY-2
log_lines PAY-1 'submit|notify'
log_lines PAY-2 'submit|notify'

say "PAY-3 answered 4002 (suspected duplicate) and PAY-5 refused 9104 (balance): they wait for a person"
wait_state PAY-3 review
wait_state PAY-5 refused
log_lines PAY-3 submit
log_lines PAY-5 submit
show lianpayctl --dev "$dir" review list

say "PAY-3: LianLian's confirm code and the time left on it (lianpayctl status)"
show lianpayctl --dev "$dir" status PAY-3 | sed -n '/^payout:/,/^payout attempts:/p' |
  grep -E '^  (state|ret_code|ret_msg|confirm_code|confirm_expires_at|confirm_tries):' || true
say "A person checks PAY-3 is no duplicate and confirms it: the daemon sends the code, LianLian answers"
show lianpayctl --dev "$dir" confirm PAY-3 --timeout 60s
wait_result PAY-3 SUCCESS
payout_row PAY-3
show_record PAY-3

say "PAY-4 answered 9999 (the result is unknown): never sent again, queried instead"
wait_state PAY-4 accepted
wait_result PAY-4 SUCCESS
log_lines PAY-4 'submit|payout|query'
payout_row PAY-4
show_record PAY-4

say "PAY-5: the merchant tops up its balance and resubmits it (same no_order, same fields)"
show lianpayctl --dev "$dir" resubmit PAY-5
wait_state PAY-5 accepted
wait_result PAY-5 SUCCESS
log_lines PAY-5 'submit|payout'
payout_row PAY-5
show_record PAY-5

say "PAY-6: accepted, every notification lost: after the notification window (10 s in --dev) queried"
wait_result PAY-6 SUCCESS
log_lines PAY-6 'submit|query'
payout_row PAY-6
show_record PAY-6

say "DEMO-3's notifications are all lost. After the notification window (10 s in --dev)"
say "the daemon asks LianLian itself (queryPayment), every query signed with the merchant key"
wait_result DEMO-3 SUCCESS
log_lines DEMO-3 query

say "What internal tools read: the payments table"
sql -header -column "$db" "SELECT no_order, money_order, amount_fen, result_pay, source,
  notify_count, query_count, needs_review FROM payments ORDER BY no_order"
say "The journal (payment_events): every distinct authentic message, with its outcome"
sql -header -column "$db" "SELECT no_order, source, result_pay, outcome, seen_count,
  remote_addr FROM payment_events ORDER BY id"
say "lianpayctl status DEMO-3"
show lianpayctl --dev "$dir" status DEMO-3
say "The payouts (lianpayctl payouts: state, money, age, card, reason)"
show lianpayctl --dev "$dir" payouts
say "The attempts journal (payout_attempts): one row per request sent, the card masked"
sql -header -column "$db" "SELECT no_order, call, class, ret_code, signed,
  json_extract(request, '\$.card_no') AS card_no, json_extract(answer, '\$.ret_msg') AS ret_msg,
  sent_at FROM payout_attempts ORDER BY id"
say "The daemon's log: one line per attempt (event=submit) and per state change (event=payout)"
grep -E "event=(submit|payout) " "$dir/daemon.log"
if [ "$keep" = 1 ]; then
  say "Done. The database is $db, the daemon's whole log $dir/daemon.log, the simulator's"
  echo "record of what it received $record. Look yourself:"
  echo "  sqlite3 $db 'SELECT * FROM payout_attempts'"
  echo "  $bin/lianpayctl --dev $dir status PAY-4"
else
  say "Done."
fi
