#!/bin/bash
# tests/perf/auth.sh: perf/auth.sh in short runs (3 pairs of 0.5 s) against the build's broker.
# Checks its three parts: the A/B summaries of pub16 and req64 (authentication off against on),
# the connect runs with a token (CONNECTs set up, none refused), the storm summary; and that every
# broker it started is stopped and its data directory removed. Never judges rates.
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
sanitized && skip_all "sanitized build: the plain build runs this script"
[ -x "$BUILD/ctl/trpcctl" ] || skip_all "ctl/trpcctl not built"

echo "1..6"
cd "$SMOKE_WORK" || exit 99
"$PERF/auth.sh" -d 0.5 -r 3 -o results.txt >out.txt 2>err.txt
check $? "auth.sh exits 0"
[ "$(grep -c '^ab=A result workload=pubsub size=16 ' results.txt)" -eq 6 ] &&
    [ "$(grep -c '^ab=B result workload=request size=256 ' results.txt)" -eq 3 ]
check $? "pub16 (twice: checks and storm) and req64 ran 3 pairs each"
[ "$(grep -c '^connect run=[0-9] result workload=connect connects_per_s=[1-9][0-9]* connects=[1-9][0-9]* refused=0 ' results.txt)" -eq 3 ]
check $? "3 connect runs with the token, each with CONNECTs set up and none refused"
[ "$(grep -c '^msgs_per_s ' out.txt)" -eq 3 ] && ! grep -q ' failed' results.txt
check $? "three summaries, no run failed"
[ "$(servers_started trpc-broker)" -eq 19 ]
check $? "a broker for the token and the connect runs, and one for each of the 18 A/B runs"
servers_left
check $? "all stopped when auth.sh exits"
[ "$fails" -eq 0 ] || { show err.txt out.txt results.txt; exit 1; }
