#!/bin/bash
# tests/perf/durable_compare.sh: perf/durable-compare.sh for two small configs (one consumer, and
# none: the publish rate alone), one short run per system. Checks the shape docs/performance.md
# relies on (a result line of each of the four, the summary table) and that every server it started
# is stopped. Never judges rates.
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
[ -x "$BUILD/perf/nats-bench" ] || skip_all "perf/nats-bench not built (configure found no libnats-dev)"
command -v nats-server >/dev/null 2>&1 || skip_all "nats-server not installed (Debian package nats-server)"
command -v redis-server >/dev/null 2>&1 || skip_all "redis-server not installed (Debian package redis-server)"

echo "1..6"
cd "$SMOKE_WORK" || exit 99
"$PERF/durable-compare.sh" -d 0.5 -r 1 -o results.txt 16:256:1 16:256:0 >out.txt 2>err.txt
check $? "durable-compare.sh exits 0"
for s in trpc jetstream always everysec; do
    grep -q "^config=16:256:1 sys=$s result workload=durable size=256 .*loss=0 " results.txt || { echo "# no $s result"; false; }
    grep -q "^config=16:256:0 sys=$s result workload=durable size=256 msgs_per_s=[1-9].* consumers=0 " results.txt ||
        { echo "# no $s publish-only result"; false; }
done
check $? "a result line of each system for each config, nothing lost"
grep -q '^config .*TRPC (fsync) .*JetStream (no fsync) .*Redis always .*Redis everysec$' out.txt
check $? "summary header names the four"
grep -Eq '^16:256:1 +msgs_per_s( +[0-9.]+ \([0-9.]+-[0-9.]+\)){4}$' out.txt &&
    grep -Eq '^16:256:0 +msgs_per_s( +[0-9.]+ \([0-9.]+-[0-9.]+\)){4}$' out.txt
check $? "summary rows: median (min-max) of each"
[ "$(servers_started trpc-broker)" -eq 1 ] && [ "$(servers_started nats-server)" -eq 1 ] && [ "$(servers_started redis-server)" -eq 2 ]
check $? "one trpc-broker, one nats-server and two redis-servers started"
servers_left
check $? "all stopped when durable-compare.sh exits"
[ "$fails" -eq 0 ] || { show err.txt out.txt; exit 1; }
