#!/bin/bash
# perf/restart.sh: how long a broker takes to come back with a large stream in its data directory.
#
#   cd BUILD && /path/to/perf/restart.sh [-r RUNS] [GIB]
#
# Starts trpc-broker (--cores 2) on a data directory of its own, fills stream "bench" with GIB GiB
# (default 1) of 16 KiB messages through trpc-bench durable --keep (acknowledged, on disk, consumed
# by one group), kills the broker with SIGKILL, and RUNS times (default 3) starts it again on the
# same data directory and times it from exec to accepting connections (it opens every stream and
# replays its group log before it listens), then to stream.info answering. Prints each run.
# COLD=1 (as root) drops the page cache before each start, so the log is read from the disk.
set -eu
. "$(dirname "$0")/common.sh"

RUNS=3
common_opts r: "$@"
shift "$SHIFT"
GIB=${1:-1}
need_exec "$TRPC_BENCH" "build it, or set BUILD or TRPC_BENCH"
CTL=${CTL:-$BUILD/ctl/trpcctl}
need_exec "$CTL" "build ctl/trpcctl"
DATA=$PERF_WORK/data
mkdir -p "$DATA"
BROKER_ARGS="--cores 2 --data-dir $DATA"
export BROKER_ARGS

start_trpc
bytes=$((GIB * 1024 * 1024 * 1024))
echo "# filling stream bench with $GIB GiB of 16 KiB messages ($(nproc) CPUs, $(uname -sr), $(date -u +%FT%TZ))"
stored=0
while [ "$stored" -lt "$bytes" ]; do
    "$TRPC_BENCH" durable --url "$TRPC_URL" --inflight 64 --size 16384 --subs 1 --duration 10 --quiet --keep | tail -n1 >/dev/null
    stored=$("$CTL" --url "$TRPC_URL" stream info bench --json | sed -n 's/.*"bytes": *\([0-9]*\).*/\1/p')
    echo "#   stored $stored bytes"
done
msgs=$("$CTL" --url "$TRPC_URL" stream info bench --json | sed -n 's/.*"messages": *\([0-9]*\).*/\1/p')
du=$(du -sb "$DATA/streams/bench" | cut -f1)
kill -KILL "$TRPC_PID"
wait "$TRPC_PID" 2>/dev/null || true
PERF_PIDS=""
echo "# killed with $msgs messages, $stored bytes of them, $du bytes on disk"

for i in $(seq "$RUNS"); do
    sync
    if [ "${COLD:-0}" = 1 ]; then echo 3 >/proc/sys/vm/drop_caches || die "COLD=1: cannot drop the page cache (root?)"; fi
    t0=$(date +%s%N)
    start_trpc
    t1=$(date +%s%N)
    until "$CTL" --url "$TRPC_URL" stream info bench >/dev/null 2>&1; do sleep 0.01; done
    t2=$(date +%s%N)
    got=$("$CTL" --url "$TRPC_URL" stream info bench --json | sed -n 's/.*"messages": *\([0-9]*\).*/\1/p')
    printf 'run %d: listening after %.2f s, stream.info after %.2f s, %s messages\n' "$i" \
        "$(echo "($t1 - $t0) / 1000000000" | bc -l)" "$(echo "($t2 - $t0) / 1000000000" | bc -l)" "$got"
    [ "$got" = "$msgs" ] || echo "run $i: expected $msgs messages" >&2
    kill -KILL "$TRPC_PID"
    wait "$TRPC_PID" 2>/dev/null || true
    PERF_PIDS=""
done
