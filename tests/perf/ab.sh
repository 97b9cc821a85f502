#!/bin/bash
# tests/perf/ab.sh: perf/ab.sh with the build's broker as both A and B, 3 short pairs. Checks the
# per-run lines (rate, broker and bench cost per message, the broker's CPU by thread), the summary
# with medians and per-pair ratios, a fresh broker per run, and that every broker it started is
# stopped. Never judges rates.
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
# The script does the same under a sanitized broker, only slower; the plain build's run covers it.
sanitized && skip_all "sanitized build: the plain build runs this script"

echo "1..10"
cd "$SMOKE_WORK" || exit 99
"$PERF/ab.sh" -d 0.5 -r 3 -o results.txt "$BUILD/src/trpc-broker" "$BUILD/src/trpc-broker" pub256 >out.txt 2>err.txt
check $? "ab.sh exits 0"
[ "$(grep -c '^ab=A result workload=pubsub size=256 .* broker_us_per_msg=[0-9.]* broker_flt_per_msg=[0-9.]* bench_us_per_msg=[0-9.]* bench_flt_per_msg=[0-9.]* broker_vcsw_per_kmsg=[0-9.]* broker_ivcsw_per_kmsg=[0-9.]* bench_vcsw_per_kmsg=[0-9.]* bench_ivcsw_per_kmsg=[0-9.]* broker_threads=[a-z0-9:.,-]*trpc-core[0-9]*:[0-9.]*[a-z0-9:.,-]*$' results.txt)" -eq 3 ] &&
    [ "$(grep -c '^ab=B result workload=pubsub size=256 ' results.txt)" -eq 3 ]
check $? "3 runs of A and 3 of B, each with the broker's and the bench's cost per message and the broker's threads' CPU"
! grep -q failed results.txt
check $? "no run failed"
row=$(grep '^broker_flt_per_msg ' out.txt)
[[ $row =~ ^broker_flt_per_msg\ +[0-9.]+\ +[0-9.]+\ +[0-9.]+\ +[0-9.]+\ [0-9.]+\ [0-9.]+$ ]]
check $? "summary row: medians, their ratio and 3 pair ratios ($row)"
[ "$(servers_started trpc-broker)" -eq 6 ]
check $? "a fresh broker for each of the 6 runs"
servers_left
check $? "all stopped when ab.sh exits"

# Two client builds against one broker (here the same bench twice), on a TRPC-only workload.
BENCH_A="$BUILD/perf/trpc-bench" BENCH_B="$BUILD/perf/trpc-bench" \
    "$PERF/ab.sh" -d 0.5 -r 3 -o results2.txt "$BUILD/src/trpc-broker" "$BUILD/src/trpc-broker" req1i >out2.txt 2>err2.txt
check $? "ab.sh with BENCH_A and BENCH_B on req1i exits 0"
grep -q "^# A .* with $BUILD/perf/trpc-bench, B .* with $BUILD/perf/trpc-bench, workload req1i" results2.txt &&
    [ "$(grep -c '^ab=[AB] result workload=request .*callbacks=inline' results2.txt)" -eq 6 ] && grep -q '^p50_us ' out2.txt
check $? "req1i: both benches named, 6 inline runs, a p50 row"
# WATCH_B: each B run with the dashboard's event stream open and /metrics scraped.
WATCH_B=1 "$PERF/ab.sh" -d 1 -r 3 -o results3.txt "$BUILD/src/trpc-broker" "$BUILD/src/trpc-broker" req1 >out3.txt 2>err3.txt
check $? "ab.sh with WATCH_B=1 on req1 exits 0"
grep -q '^# A .* (B watched: /api/events open, /metrics each second), workload req1' results3.txt &&
    [ "$(grep -c '^ab=[AB] result workload=request ' results3.txt)" -eq 6 ] && [ ! -s err3.txt ]
check $? "req1 watched: the header says so, 6 runs, and every B run read a snapshot and scraped /metrics (no complaint)"
[ "$fails" -eq 0 ] || { show err.txt out.txt results.txt err2.txt out2.txt results2.txt err3.txt out3.txt results3.txt; exit 1; }
