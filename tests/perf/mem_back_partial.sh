#!/bin/bash
# tests/perf/mem_back_partial.sh: an idle broker gives back the receive buffer pages of a load that
# ended (issue 14). 500 connections each send half of a 128 KiB publish and hold it
# (`trpc-bench idle --partial`): 32 MiB received in large reads, which touches every buffer of every
# core's ring. The connections close, and its VmRSS must come back under 1.25 x its RSS before the
# load + 10 MiB within 10 s (read every 250 ms). Before uring_loop_bufs_release the touched
# buffers (16 MiB per core) stayed: 36 MiB against a bound of 13.
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
BENCH=$BUILD/perf/trpc-bench
TRPC_BROKER=$BUILD/src/trpc-broker
[ -r /proc/self/status ] || skip_all "no /proc/PID/status to read memory from"
sanitized && skip_all "a sanitized build's memory is not the broker's"

echo "1..3"
cd "$SMOKE_WORK" || exit 99
trpc_broker_start broker.log || { echo "Bail out! broker did not start"; exit 99; }
"$BENCH" idle --url "$TRPC_URL" --conns 500 --partial 131072 --hold 1 --after 10 --server-pid "$TRPC_PID" --quiet >out.txt 2>err.txt
check $? "500 connections each holding half of a 128 KiB publish established and held"
line=$(tail -n1 out.txt)
before=$(field "$line" rss_before_kib)
held=$(field "$line" rss_held_kib)
after=$(field "$line" rss_after_min_kib)
[[ $before =~ ^[0-9]+$ ]] && [[ $held =~ ^[0-9]+$ ]] && [[ $after =~ ^[0-9]+$ ]]
check $? "broker memory read: $before KiB before, $held KiB held, $after KiB at least after closing"
bound=$((before * 5 / 4 + 10240))
[[ $after =~ ^[0-9]+$ ]] && [ "$after" -le "$bound" ]
check $? "memory given back: $after KiB after closing, bound $bound KiB"
server_stop "$TRPC_PID"
[ "$fails" -eq 0 ] || { show out.txt err.txt; grep -E 'gave memory|stats:' broker.log | show /dev/stdin; exit 1; }
