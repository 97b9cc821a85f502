# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this file
# Shared by perf/compare.sh, perf/ab.sh, perf/record.sh and perf/callgrind.sh (sourced, not run).
#
# Servers are started on loopback ports the kernel picks (perf/server.sh: each server logs the port
# it got), so runs never collide with anything else on the machine; each broker has a temporary
# data directory of its own (--data-dir, unless BROKER_ARGS names one), and its dashboard and
# /metrics on a port the kernel picks too (--http 127.0.0.1:0, unless BROKER_ARGS names --http;
# TRPC_HTTP_PORT). Everything started is stopped by PID from an EXIT trap, which also removes the
# data directories. PERF_PIDS_LOG=FILE appends each started server's PID to FILE (the smoke tests
# check that none is left).
#
# Binaries: BUILD (default: the current directory, an out-of-tree build) holds src/trpc-broker,
# perf/trpc-bench, perf/nats-bench and perf/nats-go-bench/nats-go-bench; TRPC_BROKER, TRPC_BENCH,
# NATS_BENCH, NATS_GO_BENCH and NATS_SERVER override each one; perf/redis-bench and redis-server
# too (REDIS_BENCH, REDIS_SERVER).

BUILD=${BUILD:-.}
TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
TRPC_BENCH=${TRPC_BENCH:-$BUILD/perf/trpc-bench}
NATS_BENCH=${NATS_BENCH:-$BUILD/perf/nats-bench}
NATS_GO_BENCH=${NATS_GO_BENCH:-$BUILD/perf/nats-go-bench/nats-go-bench}
NATS_SERVER=${NATS_SERVER:-nats-server}
REDIS_BENCH=${REDIS_BENCH:-$BUILD/perf/redis-bench}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
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
    # Not in WORKLOADS (run them by name): sequential requests over four responders, and req1 with
    # callbacks on the clients' I/O threads (TRPC only: nats-bench has no --inline).
    req4) echo "request --responders 4 --inflight 1 --size 256" ;;
    req1i) echo "request --responders 1 --inflight 1 --size 256 --inline" ;;
    *) return 1 ;;
    esac
}
WORKLOADS="pub16 pub256 pub4k pub64k fan4 req1 req64"

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# The calling script's help: its header comment, from line 2 to the first line that is not one.
usage() {
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
}

# common_opts LETTERS "$@": the options the perf scripts share, those of LETTERS ("d:r:o:" or a
# part) plus -h: -d SECONDS into DURATION, -r RUNS into RUNS, -o PATH into OUT. Defaults are the
# caller's, set before. SHIFT: how many words the options took (shift "$SHIFT" after).
common_opts() {
    local letters=$1 opt
    shift
    OPTIND=1
    while getopts "${letters}h" opt; do
        case $opt in
        d) DURATION=$OPTARG ;;
        r) RUNS=$OPTARG ;;
        o) OUT=$OPTARG ;;
        *) usage; exit 2 ;;
        esac
    done
    SHIFT=$((OPTIND - 1))
}

need_exec() {
    [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 || die "$1 not found ($2)"
}

# shellcheck source=perf/server.sh
. "$(dirname "${BASH_SOURCE[0]}")/server.sh"

stop_all() {
    for pid in $PERF_PIDS; do
        server_stop "$pid"
    done
    PERF_PIDS=""
    trpc_data_dirs_remove
    rm -rf "$PERF_WORK"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# start_trpc [WRAPPER...]: starts the broker (under WRAPPER, e.g. valgrind) on a free loopback port
# and sets TRPC_URL and TRPC_PID (perf/server.sh).
start_trpc() {
    need_exec "$TRPC_BROKER" "build it, or set BUILD or TRPC_BROKER"
    trpc_broker_start "$PERF_WORK/trpc.log" "$@" || die "trpc-broker did not start"
    PERF_PIDS="$PERF_PIDS $TRPC_PID"
}

# tls_certs: the test certificates of tests/tls/mkcerts.sh in CERTS; the broker started next gets a
# TLS listener with them (BROKER_ARGS, then TRPC_TLS_URL), and TLS_CA_ARGS has a bench check them.
tls_certs() {
    CERTS=$PERF_WORK/certs
    sh "$(dirname "${BASH_SOURCE[0]}")/../tests/tls/mkcerts.sh" "$CERTS" >/dev/null 2>&1 || die "tests/tls/mkcerts.sh failed"
    BROKER_ARGS="$BROKER_ARGS --tls-listen 127.0.0.1:0 --tls-cert $CERTS/server.pem --tls-key $CERTS/server.key"
    TLS_CA_ARGS="--tls-ca $CERTS/ca.pem"
}

# start_nats: starts nats-server and sets NATS_URL, NATS_PID.
start_nats() {
    need_exec "$NATS_SERVER" "Debian package nats-server"
    nats_server_start "$PERF_WORK/nats.log" || die "nats-server did not start"
    PERF_PIDS="$PERF_PIDS $NATS_PID"
}

# start_redis: starts redis-server and sets REDIS_URL, REDIS_PID.
start_redis() {
    need_exec "$REDIS_SERVER" "Debian package redis-server"
    redis_server_start "$PERF_WORK/redis.log" || die "redis-server did not start"
    PERF_PIDS="$PERF_PIDS $REDIS_PID"
}

# field LINE NAME: the value of NAME=... in a result line.
field() {
    echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
