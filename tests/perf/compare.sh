#!/bin/bash
# tests/perf/compare.sh: perf/compare.sh for one small workload, 3 short runs per system. Checks
# the shape docs/performance.md relies on (result lines of each system: TRPC, nats-server with the
# C client and, when built, with nats.go, and Redis when redis-bench is built and redis-server
# installed; the summary table with the ratios) and that every server it started is stopped.
# Never judges rates.
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
[ -x "$BUILD/perf/nats-bench" ] || skip_all "perf/nats-bench not built (configure found no libnats-dev)"
command -v nats-server >/dev/null 2>&1 || skip_all "nats-server not installed (Debian package nats-server)"

echo "1..10"
cd "$SMOKE_WORK" || exit 99
"$PERF/compare.sh" -d 0.5 -r 3 -o results.txt pub256 >out.txt 2>err.txt
check $? "compare.sh exits 0"
[ "$(grep -c '^name=pub256 result workload=pubsub size=256 .*system=TRPC$' results.txt)" -eq 3 ]
check $? "3 TRPC result lines, tagged with the workload"
[ "$(grep -c '^name=pub256 result workload=pubsub size=256 .*system=NATS$' results.txt)" -eq 3 ]
check $? "3 NATS result lines"
if [ -x "$BUILD/perf/nats-go-bench/nats-go-bench" ]; then
    [ "$(grep -c '^name=pub256 result workload=pubsub size=256 .*system=NATS-go$' results.txt)" -eq 3 ]
    check $? "3 NATS-go result lines (nats.go)"
else
    ! grep -q 'system=NATS-go' results.txt && grep -q 'nats.go left out' err.txt
    check $? "no nats-go-bench built: no NATS-go lines, and compare.sh says so"
fi
if [ -x "$BUILD/perf/redis-bench" ] && command -v redis-server >/dev/null 2>&1; then
    have_redis=1
    [ "$(grep -c '^name=pub256 result workload=pubsub size=256 .*system=Redis$' results.txt)" -eq 3 ]
    check $? "3 Redis result lines"
else
    have_redis=
    ! grep -q 'system=Redis' results.txt && grep -q 'Redis left out' err.txt
    check $? "no redis-bench or no redis-server: no Redis lines, and compare.sh says so"
fi
! grep -q failed results.txt
check $? "no run failed"
grep -q '^workload .*TRPC median (min-max) .*NATS median (min-max) .*NATS-go median (min-max) .*Redis median (min-max) .*TRPC/NATS .*TRPC/go .*TRPC/redis .*TRPC/best$' out.txt
check $? "summary header names the systems and the ratios"
row=$(grep '^pub256 *msgs_per_s ' out.txt)
num='[0-9.]+ \([0-9.]+-[0-9.]+\)'
ratio='[0-9]+\.[0-9][0-9]'
if [ -x "$BUILD/perf/nats-go-bench/nats-go-bench" ]; then go_cell=$num go_ratio=$ratio; else go_cell='- \(- -\)' go_ratio=-; fi
if [ -n "$have_redis" ]; then redis_cell=$num redis_ratio=$ratio; else redis_cell='- \(- -\)' redis_ratio=-; fi
[[ $row =~ ^pub256\ +msgs_per_s\ +$num\ +$num\ +$go_cell\ +$redis_cell\ +$ratio\ +$go_ratio\ +$redis_ratio\ +$ratio$ ]]
check $? "summary row: median (min-max) of each and the ratios ($row)"
[ "$(servers_started trpc-broker)" -eq 1 ] && [ "$(servers_started nats-server)" -eq 1 ] &&
    [ "$(servers_started redis-server)" -eq "${have_redis:-0}" ]
check $? "one trpc-broker, one nats-server and, with Redis, one redis-server started"
servers_left
check $? "all stopped when compare.sh exits"
[ "$fails" -eq 0 ] || { show err.txt out.txt; exit 1; }
