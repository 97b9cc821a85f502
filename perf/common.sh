# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this file
# Shared by perf/compare.sh, perf/record.sh and perf/callgrind.sh (sourced, not run).
#
# Servers are started on free loopback ports (nats-server -p -1 picks one and logs it; for
# trpc-broker a port free at the moment is chosen and the broker waited for until it accepts), so
# runs never collide with anything else on the machine. Everything started is stopped by PID from
# an EXIT trap.
#
# Binaries: BUILD (default: the current directory, an out-of-tree build) holds src/trpc-broker,
# perf/trpc-bench and perf/nats-bench; TRPC_BROKER, TRPC_BENCH, NATS_BENCH and NATS_SERVER override
# each one.

BUILD=${BUILD:-.}
TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
TRPC_BENCH=${TRPC_BENCH:-$BUILD/perf/trpc-bench}
NATS_BENCH=${NATS_BENCH:-$BUILD/perf/nats-bench}
NATS_SERVER=${NATS_SERVER:-nats-server}
BROKER_ARGS=${BROKER_ARGS:-}

PERF_WORK=$(mktemp -d "${TMPDIR:-/tmp}/trpc-perf.XXXXXX")
PERF_PIDS=""

# The workloads of docs/performance.md: name, then bench arguments.
workload_args() {
    case $1 in
    pub16) echo "pubsub --size 16" ;;
    pub256) echo "pubsub --size 256" ;;
    pub4k) echo "pubsub --size 4096" ;;
    pub64k) echo "pubsub --size 65536" ;;
    fan4) echo "pubsub --subs 4 --size 256" ;;
    req1) echo "request --responders 1 --inflight 1 --size 256" ;;
    req64) echo "request --responders 4 --inflight 64 --size 256" ;;
    *) return 1 ;;
    esac
}
WORKLOADS="pub16 pub256 pub4k pub64k fan4 req1 req64"

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

need_exec() {
    [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 || die "$1 not found ($2)"
}

stop_all() {
    for pid in $PERF_PIDS; do
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PERF_PIDS=""
    rm -rf "$PERF_WORK"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# wait_port LOGFILE SED-EXPRESSION PID: prints the port once the log names it (30 s at most).
wait_port() {
    for _ in $(seq 300); do
        kill -0 "$3" 2>/dev/null || { cat "$1" >&2; die "server exited during start"; }
        port=$(sed -n "$2" "$1" | head -n1)
        if [ -n "$port" ]; then
            echo "$port"
            return 0
        fi
        sleep 0.1
    done
    cat "$1" >&2
    die "server did not report its port"
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_accepting PORT PID LOG: waits (60 s at most, valgrind is slow) until PORT accepts connections.
wait_accepting() {
    for _ in $(seq 600); do
        kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "server exited during start"; }
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    cat "$3" >&2
    die "server not accepting on port $1"
}

# start_trpc [WRAPPER...]: starts the broker (under WRAPPER, e.g. valgrind) on a free port and sets
# TRPC_URL and TRPC_PID.
start_trpc() {
    need_exec "$TRPC_BROKER" "build it, or set BUILD or TRPC_BROKER"
    local port
    port=$(free_port)
    # shellcheck disable=SC2086
    "$@" "$TRPC_BROKER" --listen "127.0.0.1:$port" $BROKER_ARGS 2>"$PERF_WORK/trpc.log" &
    TRPC_PID=$!
    PERF_PIDS="$PERF_PIDS $TRPC_PID"
    wait_accepting "$port" "$TRPC_PID" "$PERF_WORK/trpc.log"
    TRPC_URL="trpc://127.0.0.1:$port"
}

# start_nats: starts nats-server and sets NATS_URL, NATS_PID.
start_nats() {
    need_exec "$NATS_SERVER" "Debian package nats-server"
    "$NATS_SERVER" -a 127.0.0.1 -p -1 2>"$PERF_WORK/nats.log" &
    NATS_PID=$!
    PERF_PIDS="$PERF_PIDS $NATS_PID"
    port=$(wait_port "$PERF_WORK/nats.log" 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$NATS_PID") || exit 1
    NATS_URL="nats://127.0.0.1:$port"
}

# field LINE NAME: the value of NAME=... in a result line.
field() {
    echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
