#!/bin/bash
# tests/perf/idle.sh: `trpc-bench idle` and perf/idle.sh with a few hundred connections. Checks the
# result line (every connection established and held, the broker's memory read), that a broker
# refusing connections makes the run fail, the summary table of perf/idle.sh (and its TRPC/NATS
# ratio where nats-server is installed), and that every server started is stopped.
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
BENCH=$BUILD/perf/trpc-bench
TRPC_BROKER=$BUILD/src/trpc-broker

echo "1..11"
cd "$SMOKE_WORK" || exit 99
trpc_broker_start broker.log || { echo "Bail out! broker did not start"; exit 99; }
"$BENCH" idle --url "$TRPC_URL" --conns 300 --hold 1 --subscribe --server-pid "$TRPC_PID" >out.txt 2>err.txt
check $? "idle exits 0"
line=$(tail -n1 out.txt)
[[ $line == "result workload=idle conns=300 established=300 subs=300 "*" dropped=0 "*" status=ok system=TRPC" ]]
check $? "result line: 300 established, subscribed, none dropped"
before=$(field "$line" rss_before_kib)
held=$(field "$line" rss_held_kib)
[[ $before =~ ^[0-9]+$ ]] && [[ $held =~ ^[0-9]+$ ]] && [ "$held" -gt "$before" ] && [[ $(field "$line" per_conn_b) =~ ^[0-9]+$ ]]
check $? "broker memory read: held ($held KiB) above before ($before KiB), bytes per connection"
server_stop "$TRPC_PID"

BROKER_ARGS="--max-connections 50" trpc_broker_start broker2.log || { echo "Bail out! broker did not start"; exit 99; }
"$BENCH" idle --url "$TRPC_URL" --conns 100 --hold 1 --timeout 10 >out2.txt 2>err2.txt
check $(($? != 1)) "a broker refusing connections beyond 50 makes the run fail (exit 1)"
line=$(tail -n1 out2.txt)
[[ $line == *" status=failed system=TRPC" ]] && [ "$(field "$line" established)" -le 50 ] && [ "$(field "$line" rss_held_kib)" = - ]
check $? "the result line says failed, with at most 50 established"
server_stop "$TRPC_PID"

"$BENCH" idle --url http://127.0.0.1:1 >/dev/null 2>&1
check $(($? != 2)) "a URL of another scheme is a usage error (exit 2)"

nats=
command -v nats-server >/dev/null 2>&1 && nats=-N
"$PERF/idle.sh" -n 200 -H 1 -r 1 $nats -o results.txt >sum.txt 2>sumerr.txt
check $? "perf/idle.sh exits 0"
grep -q '^result workload=idle conns=200 established=200 .*status=ok system=TRPC$' results.txt
check $? "perf/idle.sh: result line of a TRPC run"
[[ $(grep '^TRPC ' sum.txt) =~ ^TRPC\ +200\ +[0-9.]+\ \([0-9.]+-[0-9.]+\)\ +[0-9.]+\ \([0-9.]+-[0-9.]+\)\ +[0-9]+\ \([0-9]+-[0-9]+\)\ +[0-9.]+ ]]
check $? "perf/idle.sh: summary row, memory in MiB and bytes per connection"
if [ -n "$nats" ]; then
    grep -q '^NATS  ' sum.txt && grep -q '^TRPC/NATS: RSS held [0-9.]*, per connection [0-9.]*$' sum.txt
    check $? "perf/idle.sh -N: a NATS row and the ratio"
else
    echo "ok 10 # SKIP nats-server not installed"
    n=$((n + 1))
fi
# servers_left covers every server: the ones started here and those perf/idle.sh started.
servers_left
check $? "every broker and nats-server started is stopped"
[ "$fails" -eq 0 ] || { show err.txt out.txt err2.txt out2.txt sumerr.txt sum.txt; exit 1; }
