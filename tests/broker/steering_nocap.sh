#!/bin/sh
# Connection steering where the eBPF program cannot load: the broker run without CAP_BPF and
# CAP_SYS_ADMIN (setpriv drops them from its bounding set). With steering auto it says why it has
# no least-conns, steers by cpu instead (its log and /metrics say so), and serves; with steering
# least-conns it refuses to start, saying why; so does steering cpu with more cores than CPUs.
# tests/broker/steering (C) shows where connections land with each policy.
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
SRC=$(cd "$top_srcdir" && pwd)
BUILD=$(cd "$top_builddir" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/trpc-steering.XXXXXX") || exit 99
# shellcheck source=tests/tap.sh
. "$SRC/tests/tap.sh"
# shellcheck source=perf/server.sh
. "$SRC/perf/server.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
[ -x "$TRPC_BROKER" ] || { echo "1..0 # SKIP $TRPC_BROKER not built"; exit 0; }
TRPC_PID=
# shellcheck disable=SC2317 # the trap calls it
cleanup() {
    if [ -n "$TRPC_PID" ]; then server_stop "$TRPC_PID" 5; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# Without the two capabilities the eBPF map cannot be made; a process that cannot drop them (not
# root, no setpriv) has nothing to show here.
nocap="setpriv --bounding-set -bpf,-sys_admin --inh-caps -bpf,-sys_admin"
if ! command -v setpriv >/dev/null || ! $nocap true 2>/dev/null || [ "$(id -u)" -ne 0 ]; then
    echo "1..0 # SKIP needs root and setpriv (util-linux) to drop CAP_BPF"
    exit 0
fi

BROKER_ARGS="--cores 2 --steering auto"
# shellcheck disable=SC2086 # $nocap: the command and its options
if trpc_broker_start "$TMP/auto.log" $nocap; then
    ok 0 "steering auto without CAP_BPF: the broker starts"
    grep -q "connection steering: no least-conns: .*CAP_BPF is needed" "$TMP/auto.log"
    ok $? "it says why it has no least-conns (CAP_BPF is needed)"
    grep -q "connection steering: cpu$" "$TMP/auto.log"
    ok $? "it steers by cpu instead"
    if command -v curl >/dev/null && [ -n "$TRPC_HTTP_PORT" ]; then
        curl -s -m 10 "http://127.0.0.1:$TRPC_HTTP_PORT/metrics" | grep -q '^trpc_steering_info{kind="cpu"} 1$'
        ok $? "/metrics says so: trpc_steering_info{kind=\"cpu\"} 1"
    fi
    if [ -x "$BUILD/perf/trpc-bench" ]; then
        "$BUILD/perf/trpc-bench" pubsub --url "$TRPC_URL" --duration 0.5 --quiet >"$TMP/bench.out" 2>&1 &&
            grep -q ' loss=0 ' "$TMP/bench.out" && ! grep -q ' delivered=0 ' "$TMP/bench.out"
        ok $? "and serves: a pub/sub run delivers, nothing lost"
        diag_file "$TMP/bench.out"
    fi
    kill -TERM "$TRPC_PID"
    wait "$TRPC_PID"
    st=$?
    server_stop "$TRPC_PID" 1 # gone already: removes its data directory
    TRPC_PID=
    ok $st "it exits 0 on SIGTERM (exit status $st)"
else
    ok 1 "steering auto without CAP_BPF: the broker starts"
fi

# shellcheck disable=SC2086 # $nocap: the command and its options
expect 1 "cannot start: steering least-conns: no eBPF map .*(Operation not permitted: CAP_BPF is needed)" \
    "steering least-conns without CAP_BPF: the broker refuses to start, saying why" -- \
    timeout 20 $nocap "$TRPC_BROKER" --listen 127.0.0.1:0 --http off --data-dir "$TMP/data" --cores 2 --steering least-conns
# cpu steering with more cores than CPUs would leave the cores past the CPU count without a
# connection: refused, and auto takes the hash instead.
more=$(($(nproc) + 1))
expect 1 "cannot start: steering cpu: more cores ($more) than CPUs" \
    "steering cpu with $more cores on $(nproc) CPUs: the broker refuses to start, saying why" -- \
    timeout 20 "$TRPC_BROKER" --listen 127.0.0.1:0 --http off --data-dir "$TMP/data" --cores "$more" --steering cpu
done_testing
