#!/bin/bash
# tests/perf/mem_back.sh: an idle broker gives back the memory of a load that ended (issue 14). A
# broker takes 50,000 subscriptions on 50 connections (`trpc-bench idle --subs`), the connections
# close, and its VmRSS must come back under 1.25 x its RSS before the load + 10 MiB within 10 s
# (read every 250 ms; a bound on memory, the wait only bounds the test). Without the sweep's
# malloc_trim and the fixed heap thresholds the broker kept about 20 MiB of the load for good.
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
BENCH=$BUILD/perf/trpc-bench
TRPC_BROKER=$BUILD/src/trpc-broker
[ -r /proc/self/status ] || skip_all "no /proc/PID/status to read memory from"
sanitized && skip_all "a sanitized build's memory is not the broker's"

echo "1..3"
cd "$SMOKE_WORK" || exit 99
trpc_broker_start broker.log || { echo "Bail out! broker did not start"; exit 99; }
"$BENCH" idle --url "$TRPC_URL" --conns 50 --subs 1000 --hold 1 --after 10 --server-pid "$TRPC_PID" --quiet >out.txt 2>err.txt
check $? "50 connections with 1,000 subscriptions each established and held"
line=$(tail -n1 out.txt)
before=$(field "$line" rss_before_kib)
held=$(field "$line" rss_held_kib)
after=$(field "$line" rss_after_min_kib)
[[ $before =~ ^[0-9]+$ ]] && [[ $held =~ ^[0-9]+$ ]] && [[ $after =~ ^[0-9]+$ ]] && [ "$(field "$line" subs)" = 50000 ]
check $? "broker memory read: $before KiB before, $held KiB held, $after KiB at least after closing"
bound=$((before * 5 / 4 + 10240))
[[ $after =~ ^[0-9]+$ ]] && [ "$after" -le "$bound" ]
check $? "memory given back: $after KiB after closing, bound $bound KiB"
server_stop "$TRPC_PID"
[ "$fails" -eq 0 ] || { show out.txt err.txt; grep -E 'gave memory|stats:' broker.log | show /dev/stdin; exit 1; }
