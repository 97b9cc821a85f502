#!/bin/bash
# tests/perf/ab.sh: perf/ab.sh with the build's broker as both A and B, 3 short pairs. Checks the
# per-run lines (rate, broker and bench cost per message), the summary with medians and per-pair
# ratios, a fresh broker per run, and that every broker it started is stopped. Never judges rates.
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
# The script does the same under a sanitized broker, only slower; the plain build's run covers it.
sanitized && skip_all "sanitized build: the plain build runs this script"

echo "1..6"
cd "$SMOKE_WORK" || exit 99
"$PERF/ab.sh" -d 0.5 -r 3 -o results.txt "$BUILD/src/trpc-broker" "$BUILD/src/trpc-broker" pub256 >out.txt 2>err.txt
check $? "ab.sh exits 0"
[ "$(grep -c '^ab=A result workload=pubsub size=256 .* broker_us_per_msg=[0-9.]* broker_flt_per_msg=[0-9.]* bench_us_per_msg=[0-9.]* bench_flt_per_msg=[0-9.]*$' results.txt)" -eq 3 ] &&
    [ "$(grep -c '^ab=B result workload=pubsub size=256 ' results.txt)" -eq 3 ]
check $? "3 runs of A and 3 of B, each with the broker's and the bench's cost per message"
! grep -q failed results.txt
check $? "no run failed"
row=$(grep '^broker_flt_per_msg ' out.txt)
[[ $row =~ ^broker_flt_per_msg\ +[0-9.]+\ +[0-9.]+\ +[0-9.]+\ +[0-9.]+\ [0-9.]+\ [0-9.]+$ ]]
check $? "summary row: medians, their ratio and 3 pair ratios ($row)"
[ "$(servers_started trpc-broker)" -eq 6 ]
check $? "a fresh broker for each of the 6 runs"
servers_left
check $? "all stopped when ab.sh exits"
[ "$fails" -eq 0 ] || { show err.txt out.txt results.txt; exit 1; }
