#!/bin/bash
# perf/durable-compare.sh: TRPC's streams against NATS JetStream and Redis streams with an
# append-only file, on the durable workload, in the same run.
#
#   cd BUILD && /path/to/perf/durable-compare.sh [-d SECONDS] [-r RUNS] [-o RESULTS] [CONFIG...]
#
# Starts trpc-broker (its streams fsync every batch before the PUBACK), nats-server -js (JetStream's
# file store: acknowledged before it is synced, sync every 2 minutes), redis-server with
# appendfsync always (fsync before answering) and another with appendfsync everysec, each on a free
# loopback port with a data directory of its own, then for each CONFIG runs the four in turn
# (T J A E T J A E ...), RUNS times each (default 3), SECONDS each (default 5). A CONFIG is
# INFLIGHT:SIZE:CONSUMERS (default: 1:256:1 256:256:1 1024:256:1). Prints per config and metric the
# median and min-max of each system, and every result line goes to RESULTS (default
# durable-results.txt). Needs perf/nats-bench (libnats-dev) and perf/redis-bench.
set -eu
. "$(dirname "$0")/common.sh"

DURATION=5
RUNS=3
OUT=durable-results.txt
REDIS_BENCH=${REDIS_BENCH:-$BUILD/perf/redis-bench}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
common_opts d:r:o: "$@"
shift "$SHIFT"
RESULTS=$OUT
CONFIGS=${*:-"1:256:1 256:256:1 1024:256:1"}
[ "$RUNS" -ge 1 ] || die "-r: at least 1 run each"
need_exec "$TRPC_BENCH" "build it, or set BUILD or TRPC_BENCH"
need_exec "$NATS_BENCH" "configure found no libnats: install libnats-dev and reconfigure"
need_exec "$REDIS_BENCH" "build perf/redis-bench"
need_exec "$REDIS_SERVER" "Debian package redis-server"

start_trpc
"$NATS_SERVER" -a 127.0.0.1 -p -1 -js -sd "$PERF_WORK/jetstream" 2>"$PERF_WORK/nats.log" &
NATS_PID=$!
PERF_PIDS="$PERF_PIDS $NATS_PID"
[ -n "${PERF_PIDS_LOG:-}" ] && echo "$NATS_PID nats-server" >>"$PERF_PIDS_LOG"
NATS_PORT=$(_server_port "$NATS_PID" "$PERF_WORK/nats.log" 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p') ||
    die "nats-server did not start"

# redis_start NAME FSYNC: a redis-server with the append-only file, on a port it is told (it cannot
# pick one and say which): tried from a random one until one is free.
redis_start() {
    local dir=$PERF_WORK/redis-$1 port pid i
    mkdir -p "$dir"
    for i in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 20000))
        "$REDIS_SERVER" --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes --appendfsync "$2" --save "" \
            --logfile "$dir/log" &
        pid=$!
        PERF_PIDS="$PERF_PIDS $pid"
        [ -n "${PERF_PIDS_LOG:-}" ] && echo "$pid redis-server" >>"$PERF_PIDS_LOG"
        for _ in $(seq 50); do
            grep -q "Ready to accept connections" "$dir/log" 2>/dev/null && break
            server_alive "$pid" || break
            sleep 0.1
        done
        if server_alive "$pid" && grep -q "Ready to accept connections" "$dir/log"; then
            eval "REDIS_URL_$1=redis://127.0.0.1:$port"
            return 0
        fi
    done
    die "redis-server ($2) did not start"
}
redis_start always always
redis_start everysec everysec

: >"$RESULTS"
{
    echo "# trpc $TRPC_URL ($("$TRPC_BROKER" --version 2>&1 | head -n1)), nats $NATS_PORT ($("$NATS_SERVER" --version 2>&1)) -js,"
    echo "# redis $("$REDIS_SERVER" --version | cut -d' ' -f3) appendfsync always and everysec"
    echo "# $(nproc) CPUs, $(uname -sr), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $DURATION s x $RUNS runs"
} | tee -a "$RESULTS"

# run SYSTEM CONFIG: one durable run, its result line tagged with the config and system.
run() {
    local bench url inflight size subs line
    IFS=: read -r inflight size subs <<<"$2"
    case $1 in
    trpc) bench=$TRPC_BENCH url=$TRPC_URL ;;
    jetstream) bench=$NATS_BENCH url=nats://127.0.0.1:$NATS_PORT ;;
    always) bench=$REDIS_BENCH url=$REDIS_URL_always ;;
    everysec) bench=$REDIS_BENCH url=$REDIS_URL_everysec ;;
    esac
    # A run that fails is said so with the bench's own words, and tried once more: on a loaded
    # machine JetStream has been seen to fail a short run now and then (CI, ASan phase).
    for attempt in 1 2; do
        line=$("$bench" durable --url "$url" --inflight "$inflight" --size "$size" --subs "$subs" --duration "$DURATION" \
            --quiet 2>"$PERF_WORK/bench.err" | tail -n1) || true
        case $line in result\ *) break ;; esac
        echo "# config=$2 sys=$1 attempt $attempt failed: $(tr '\n' ' ' <"$PERF_WORK/bench.err" | cut -c1-300)" |
            tee -a "$RESULTS" >&2
    done
    case $line in
    result\ *) echo "config=$2 sys=$1 $line" | tee -a "$RESULTS" ;;
    *) echo "config=$2 sys=$1 failed" | tee -a "$RESULTS" >&2 ;;
    esac
}

for c in $CONFIGS; do
    for i in $(seq "$RUNS"); do
        for s in trpc jetstream always everysec; do
            run "$s" "$c"
        done
    done
done

stat3() { # values on stdin -> "median min max"
    sort -g | awk '{v[NR]=$1} END {if (NR == 0) {print "- - -"; exit} m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print m, v[1], v[NR]}'
}
printf '\n%-12s %-14s %22s %22s %22s %22s\n' config metric "TRPC (fsync)" "JetStream (no fsync)" "Redis always" "Redis everysec"
for c in $CONFIGS; do
    for m in msgs_per_s consumed_per_s p50_us p99_us; do
        printf '%-12s %-14s' "$c" "$m"
        for s in trpc jetstream always everysec; do
            read -r md lo hi < <(grep "^config=$c sys=$s result" "$RESULTS" | tr ' ' '\n' | sed -n "s/^$m=//p" | stat3)
            printf ' %22s' "$md ($lo-$hi)"
        done
        printf '\n'
    done
done
