#!/bin/bash
# perf/compare.sh: TRPC against nats-server and Redis on the same workloads, in the same run.
#
#   cd BUILD && /path/to/perf/compare.sh [-t] [-d SECONDS] [-r RUNS] [-o RESULTS] [WORKLOAD...]
#
# Starts trpc-broker, nats-server and, when redis-server is installed and perf/redis-bench built,
# redis-server on free loopback ports, then for each workload runs trpc-bench, nats-bench (the
# NATS C client), nats-go-bench when it was built (nats.go, the Go client, usually the faster of
# the two) and redis-bench (hiredis) in turn (A B C D A B C D ...), RUNS times each (default 3, at
# least 3), SECONDS each (default 5). Prints, per workload and metric, the median and min-max of
# each and the ratios of TRPC's median to each peer's (for *_us metrics lower is better) and to
# the best peer's. Redis (PUBLISH and SUBSCRIBE) takes part in the pub/sub workloads, not in the
# request ones (it has no request/reply) nor over TLS (-t). Every result line goes to
# RESULTS (default compare-results.txt). Workloads (default all): pub16 pub256 pub4k pub64k fan4
# req1 req64 (see perf/common.sh). Environment: see perf/common.sh; LOOPBACK=path/to/perf/loopback
# also records the machine's raw loopback limits first. Memory per idle connection is measured by
# perf/idle.sh -N instead: it needs a fresh server per run, not the shared ones used here.
#
# -t: over TLS. Certificates are made with tests/tls/mkcerts.sh; the broker gets a TLS listener
# and nats-server --tls with the same certificate and key, and every client checks the server's
# certificate against the test CA (trpcs://, tls://). The same workloads, same run, plus TRPC over
# the same broker's plaintext listener, for the cost of TLS (the TLS/plain column); set
# BROKER_ARGS and NATS_ARGS yourself for other TLS settings.
set -eu
. "$(dirname "$0")/common.sh"

DURATION=5
RUNS=3
OUT=compare-results.txt
TLS=
if [ "${1:-}" = -t ]; then
    TLS=1
    shift
fi
common_opts d:r:o: "$@"
shift "$SHIFT"
RESULTS=$OUT
[ "$RUNS" -ge 3 ] || die "-r: at least 3 runs each"
[ $# -gt 0 ] && WORKLOADS="$*"
for w in $WORKLOADS; do workload_args "$w" >/dev/null || die "unknown workload $w"; done
need_exec "$TRPC_BENCH" "build it, or set BUILD or TRPC_BENCH"
need_exec "$NATS_BENCH" "configure found no libnats: install libnats-dev and reconfigure"
SYSTEMS="trpc nats"
if [ -x "$NATS_GO_BENCH" ]; then
    SYSTEMS="trpc nats natsgo"
else
    echo "${0##*/}: no $NATS_GO_BENCH (golang-go and golang-github-nats-io-go-nats-dev, then reconfigure): nats.go left out" >&2
fi
if [ -n "$TLS" ]; then
    :
elif [ -x "$REDIS_BENCH" ] && command -v "$REDIS_SERVER" >/dev/null 2>&1; then
    SYSTEMS="$SYSTEMS redis"
else
    echo "${0##*/}: no $REDIS_BENCH or no $REDIS_SERVER (libhiredis-dev and redis-server, then reconfigure): Redis left out" >&2
fi

if [ -n "$TLS" ]; then
    tls_certs
    NATS_ARGS="${NATS_ARGS:-} --tls --tlscert $CERTS/server.pem --tlskey $CERTS/server.key"
fi
start_trpc
start_nats
case " $SYSTEMS " in *" redis "*) start_redis ;; esac
if [ -n "$TLS" ]; then
    [ -n "$TRPC_TLS_URL" ] || die "the broker logged no TLS port"
    TRPC_PLAIN_URL=$TRPC_URL
    TRPC_URL=$TRPC_TLS_URL
    SYSTEMS="$SYSTEMS trpcplain"
fi
: >"$RESULTS"
echo "# trpc $TRPC_URL ($("$TRPC_BROKER" --version 2>&1 | head -n1)), nats $NATS_URL ($("$NATS_SERVER" --version 2>&1))${REDIS_URL:+, redis $REDIS_URL ($("$REDIS_SERVER" --version 2>&1))}" |
    tee -a "$RESULTS"
echo "# $(nproc) CPUs, $(uname -sr), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $DURATION s x $RUNS runs" |
    tee -a "$RESULTS"
if [ -n "${LOOPBACK:-}" ]; then
    "$LOOPBACK" --duration 2 | tail -n1 | tee -a "$RESULTS"
fi

# run SYSTEM WORKLOAD: one bench run; its result line, tagged with the workload name, to RESULTS.
run() {
    local bench=$TRPC_BENCH url=$TRPC_URL line
    if [ "$1" = nats ]; then bench=$NATS_BENCH url=$NATS_URL; fi
    if [ "$1" = natsgo ]; then bench=$NATS_GO_BENCH url=$NATS_URL; fi
    if [ "$1" = redis ]; then bench=$REDIS_BENCH url=$REDIS_URL; fi
    if [ "$1" = trpcplain ]; then url=$TRPC_PLAIN_URL; fi
    # shellcheck disable=SC2046,SC2086
    line=$("$bench" $(workload_args "$2") --url "$url" ${TLS_CA_ARGS:-} --duration "$DURATION" --quiet | tail -n1) || true
    [ "$1" = trpcplain ] && line=$(echo "$line" | sed 's/system=TRPC$/system=TRPC-plain/')
    case $line in
    result\ *) echo "name=$2 $line" >>"$RESULTS" ;;
    *) echo "name=$2 system=$1 failed" >>"$RESULTS"; echo "${0##*/}: $1 $2 failed" >&2 ;;
    esac
}

for w in $WORKLOADS; do
    for i in $(seq "$RUNS"); do
        [ -t 2 ] && printf '\r\033[K%s run %d/%d ' "$w" "$i" "$RUNS" >&2
        for s in $SYSTEMS; do
            case $s:$w in redis:req*) continue ;; esac # Redis has no request/reply
            run "$s" "$w"
        done
    done
done
[ -t 2 ] && printf '\r\033[K' >&2

# summary: per workload and metric, median [min-max] of each system and the ratio of the medians.
# Pub/sub latency at full speed is mostly queueing inside the bench window, so only rates are
# compared there; request/reply latency is the round trip itself.
metrics() {
    case $1 in
    pub4k | pub64k) echo "msgs_per_s mb_per_s" ;;
    req1 | req64) echo "msgs_per_s p50_us p99_us" ;;
    *) echo "msgs_per_s" ;;
    esac
}
stat3() { # values on stdin -> "median min max"
    sort -g | awk '{v[NR]=$1} END {if (NR == 0) {print "- - -"; exit} m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print m, v[1], v[NR]}'
}
# stat SYSTEM WORKLOAD METRIC -> "median min max" of that system's runs ("- - -" when none).
stat() {
    grep "^name=$2 .*system=$1\$" "$RESULTS" | tr ' ' '\n' | sed -n "s/^$3=//p" | stat3
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b}'; }
lower() { case $1 in *_us) return 0 ;; esac; return 1; }
# better METRIC A B: whether A beats B (the lower latency, or the higher rate); "-" never does.
better() {
    [ "$2" != - ] && { [ "$3" = - ] || { lower "$1" && awk -v a="$2" -v b="$3" 'BEGIN {exit !(a < b)}'; } ||
        { ! lower "$1" && awk -v a="$2" -v b="$3" 'BEGIN {exit !(a > b)}'; }; }
}
printf '\n%-8s %-11s %28s %28s %28s %28s %9s %9s %9s %9s\n' workload metric "TRPC median (min-max)" "NATS median (min-max)" \
    "NATS-go median (min-max)" "Redis median (min-max)" TRPC/NATS TRPC/go TRPC/redis TRPC/best
for w in $WORKLOADS; do
    for m in $(metrics "$w"); do
        read -r tm tlo thi < <(stat TRPC "$w" "$m")
        read -r nm nlo nhi < <(stat NATS "$w" "$m")
        read -r gm glo ghi < <(stat NATS-go "$w" "$m")
        read -r rm rlo rhi < <(stat Redis "$w" "$m")
        best=$nm
        if better "$m" "$gm" "$best"; then best=$gm; fi
        if better "$m" "$rm" "$best"; then best=$rm; fi
        printf '%-8s %-11s %28s %28s %28s %28s %9s %9s %9s %9s\n' "$w" "$m" "$tm ($tlo-$thi)" "$nm ($nlo-$nhi)" "$gm ($glo-$ghi)" \
            "$rm ($rlo-$rhi)" "$(ratio "$tm" "$nm")" "$(ratio "$tm" "$gm")" "$(ratio "$tm" "$rm")" "$(ratio "$tm" "$best")"
    done
done
if [ -n "$TLS" ]; then
    printf '\nThe cost of TLS: TRPC over TLS against the same broker in plaintext, same run\n'
    printf '%-8s %-11s %28s %28s %9s\n' workload metric "TLS median (min-max)" "plain median (min-max)" TLS/plain
    for w in $WORKLOADS; do
        for m in $(metrics "$w"); do
            read -r tm tlo thi < <(stat TRPC "$w" "$m")
            read -r pm plo phi < <(stat TRPC-plain "$w" "$m")
            printf '%-8s %-11s %28s %28s %9s\n' "$w" "$m" "$tm ($tlo-$thi)" "$pm ($plo-$phi)" "$(ratio "$tm" "$pm")"
        done
    done
fi
