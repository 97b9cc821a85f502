#!/bin/bash
# perf/idle.sh: the broker's resident memory while it holds N idle connections, against nats-server.
#
#   cd BUILD && /path/to/perf/idle.sh [-n CONNS] [-H SECONDS] [-r RUNS] [-s] [-S SUBS] [-p BYTES]
#                                     [-a SECONDS] [-N] [-o RESULTS]
#
# Each run starts a fresh trpc-broker on a free loopback port, holds CONNS connections (default
# 10000) open for SECONDS (default 5) with `trpc-bench idle --server-pid`, and stops the broker;
# with -N a fresh nats-server gets the same (trpc-bench speaks the NATS text protocol to a nats://
# URL), alternating TRPC NATS TRPC NATS, RUNS times each (default 3). The bench reads the server's
# VmRSS and VmHWM from /proc/PID/status before connecting, every second while holding, and 1 s
# after closing. Prints per system the median and min-max of the memory held, of the growth per
# connection, and of the peak, and with -N the ratio TRPC/NATS. -s: each connection also
# subscribes to its own topic; -S SUBS: SUBS subscriptions per connection; -p BYTES: each connection
# sends the first half of a publish of BYTES bytes and holds it (a partial frame in the server).
# -a SECONDS: VmRSS is read every 250 ms for SECONDS after closing (default 1); the table shows the
# last reading ("after"), and each run's readings go to RESULTS as a comment line, so that whether
# the server gives the memory back is seen. Result lines go to RESULTS (default idle-results.txt). The open-file
# limit is raised to the hard limit: bench and server each need CONNS + a few dozen descriptors.
set -eu
. "$(dirname "$0")/common.sh"

CONNS=10000
HOLD=5
RUNS=3
SUBSCRIBE=
WITH_NATS=
RESULTS=idle-results.txt
LOAD=
AFTER=1
while getopts n:H:r:sS:p:a:No:h opt; do
    case $opt in
    n) CONNS=$OPTARG ;;
    H) HOLD=$OPTARG ;;
    r) RUNS=$OPTARG ;;
    s) SUBSCRIBE=--subscribe ;;
    S) LOAD="--subs $OPTARG" ;;
    p) LOAD="--partial $OPTARG" ;;
    a) AFTER=$OPTARG ;;
    N) WITH_NATS=1 ;;
    o) RESULTS=$OPTARG ;;
    *) usage; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || die "unexpected argument $1 (see -h)"
[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "-n: a number of connections"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "-r: a number of runs"
need_exec "$TRPC_BENCH" "build it, or set BUILD or TRPC_BENCH"
need_exec "$TRPC_BROKER" "build it, or set BUILD or TRPC_BROKER"
[ -z "$WITH_NATS" ] || need_exec "$NATS_SERVER" "Debian package nats-server"

# Servers and bench inherit the limit. The broker's keepalive (default 30 s) cuts a connection
# silent for twice as long; the bench answers with PINGs, so any SECONDS works.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((CONNS + 64))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    die "$CONNS connections need $need open files in the bench and in the server; the hard limit is $(ulimit -Hn): raise it (ulimit -Hn as root, LimitNOFILE= under systemd) or use -n with fewer"
fi
# --max-connections defaults to 100000 (src/config.c).
if [ "$CONNS" -gt 99000 ]; then BROKER_ARGS="--max-connections $need $BROKER_ARGS"; fi

: >"$RESULTS"
echo "# $("$TRPC_BROKER" --version 2>&1 | head -n1)${WITH_NATS:+, $("$NATS_SERVER" --version 2>&1)}; $CONNS connections ${SUBSCRIBE:+(subscribed) }${LOAD:+($LOAD) }held $HOLD s, memory read $AFTER s after" |
    tee -a "$RESULTS"
echo "# $(nproc) CPUs, $(uname -sr), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $RUNS runs" | tee -a "$RESULTS"

# run SYSTEM: one fresh server, one bench run against it, the server stopped; the result line to RESULTS.
run() {
    local pid url line out
    if [ "$1" = trpc ]; then
        start_trpc
        pid=$TRPC_PID url=$TRPC_URL
    else
        start_nats
        pid=$NATS_PID url=$NATS_URL
    fi
    # shellcheck disable=SC2086
    out=$("$TRPC_BENCH" idle --url "$url" --conns "$CONNS" --hold "$HOLD" $SUBSCRIBE $LOAD --after "$AFTER" --server-pid "$pid" --quiet) || true
    line=$(echo "$out" | tail -n1)
    server_stop "$pid"
    echo "$out" | sed -n "s/^  VmRSS after closing/# system=$1 VmRSS after closing/p" >>"$RESULTS"
    case $line in
    result\ *status=ok*) echo "$line" >>"$RESULTS" ;;
    *) echo "system=$1 failed $line" >>"$RESULTS"; echo "${0##*/}: $1 run failed: $line" >&2 ;;
    esac
}

for i in $(seq "$RUNS"); do
    [ -t 2 ] && printf '\r\033[Krun %d/%d ' "$i" "$RUNS" >&2
    run trpc
    [ -z "$WITH_NATS" ] || run nats
done
[ -t 2 ] && printf '\r\033[K' >&2

stat3() { # values on stdin -> "median min max"
    sort -g | awk '{v[NR]=$1} END {if (NR == 0) {print "- - -"; exit} m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print m, v[1], v[NR]}'
}
# column SYSTEM FIELD SCALE: "median (min-max)" of FIELD over the runs, divided by SCALE.
column() {
    grep "^result workload=idle .*status=ok system=$1\$" "$RESULTS" | tr ' ' '\n' | sed -n "s/^$2=//p" | stat3 |
        awk -v s="$3" '$1 == "-" {print "-"; exit} {f = s > 1 ? "%.1f (%.1f-%.1f)\n" : "%.0f (%.0f-%.0f)\n"; printf f, $1 / s, $2 / s, $3 / s}'
}
median() {
    grep "^result workload=idle .*status=ok system=$1\$" "$RESULTS" | tr ' ' '\n' | sed -n "s/^$2=//p" | stat3 | cut -d' ' -f1
}
printf '\n%-6s %7s %22s %24s %22s %22s %22s\n' system conns "RSS before, MiB" "RSS held, MiB" "per connection, B" "peak (VmHWM), MiB" \
    "RSS after, MiB"
for sys in TRPC ${WITH_NATS:+NATS}; do
    printf '%-6s %7s %22s %24s %22s %22s %22s\n' "$sys" "$CONNS" "$(column "$sys" rss_before_kib 1024)" "$(column "$sys" rss_held_kib 1024)" \
        "$(column "$sys" per_conn_b 1)" "$(column "$sys" hwm_kib 1024)" "$(column "$sys" rss_after_kib 1024)"
done
if [ -n "$WITH_NATS" ]; then
    awk -v a="$(median TRPC rss_held_kib)" -v b="$(median NATS rss_held_kib)" -v c="$(median TRPC per_conn_b)" -v d="$(median NATS per_conn_b)" \
        'BEGIN {if (a == "-" || b == "-" || b == 0 || d == 0) print "TRPC/NATS: -"; else printf "TRPC/NATS: RSS held %.2f, per connection %.2f\n", a / b, c / d}'
fi
