#!/bin/bash
# perf/compare.sh: TRPC against nats-server on the same workloads, in the same run.
#
#   cd BUILD && /path/to/perf/compare.sh [-d SECONDS] [-r RUNS] [-o RESULTS] [WORKLOAD...]
#
# Starts trpc-broker and nats-server on free loopback ports, then for each workload runs
# trpc-bench and nats-bench alternately (A B A B ...), RUNS times each (default 3, at least 3),
# SECONDS each (default 5). Prints, per workload and metric, the median and min-max of each and the
# ratio TRPC/NATS of the medians (for *_us metrics lower is better). Every result line goes to
# RESULTS (default compare-results.txt). Workloads (default all): pub16 pub256 pub4k pub64k fan4
# req1 req64 (see perf/common.sh). Environment: see perf/common.sh; LOOPBACK=path/to/perf/loopback
# also records the machine's raw loopback limits first. Memory per idle connection is measured by
# perf/idle.sh -N instead: it needs a fresh server per run, not the shared ones used here.
set -eu
. "$(dirname "$0")/common.sh"

DURATION=5
RUNS=3
OUT=compare-results.txt
common_opts d:r:o: "$@"
shift "$SHIFT"
RESULTS=$OUT
[ "$RUNS" -ge 3 ] || die "-r: at least 3 runs each"
[ $# -gt 0 ] && WORKLOADS="$*"
for w in $WORKLOADS; do workload_args "$w" >/dev/null || die "unknown workload $w"; done
need_exec "$TRPC_BENCH" "build it, or set BUILD or TRPC_BENCH"
need_exec "$NATS_BENCH" "configure found no libnats: install libnats-dev and reconfigure"

start_trpc
start_nats
: >"$RESULTS"
echo "# trpc $TRPC_URL ($("$TRPC_BROKER" --version 2>&1 | head -n1)), nats $NATS_URL ($("$NATS_SERVER" --version 2>&1))" | tee -a "$RESULTS"
echo "# $(nproc) CPUs, $(uname -sr), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $DURATION s x $RUNS runs" |
    tee -a "$RESULTS"
if [ -n "${LOOPBACK:-}" ]; then
    "$LOOPBACK" --duration 2 | tail -n1 | tee -a "$RESULTS"
fi

# run SYSTEM WORKLOAD: one bench run; its result line, tagged with the workload name, to RESULTS.
run() {
    local bench=$TRPC_BENCH url=$TRPC_URL line
    if [ "$1" = nats ]; then bench=$NATS_BENCH url=$NATS_URL; fi
    # shellcheck disable=SC2046
    line=$("$bench" $(workload_args "$2") --url "$url" --duration "$DURATION" --quiet | tail -n1) || true
    case $line in
    result\ *) echo "name=$2 $line" >>"$RESULTS" ;;
    *) echo "name=$2 system=$1 failed" >>"$RESULTS"; echo "${0##*/}: $1 $2 failed" >&2 ;;
    esac
}

for w in $WORKLOADS; do
    for i in $(seq "$RUNS"); do
        [ -t 2 ] && printf '\r\033[K%s run %d/%d ' "$w" "$i" "$RUNS" >&2
        run trpc "$w"
        run nats "$w"
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
printf '\n%-8s %-11s %28s %28s %9s\n' workload metric "TRPC median (min-max)" "NATS median (min-max)" TRPC/NATS
for w in $WORKLOADS; do
    for m in $(metrics "$w"); do
        read -r tm tlo thi < <(grep "^name=$w .*system=TRPC" "$RESULTS" | tr ' ' '\n' | sed -n "s/^$m=//p" | stat3)
        read -r nm nlo nhi < <(grep "^name=$w .*system=NATS" "$RESULTS" | tr ' ' '\n' | sed -n "s/^$m=//p" | stat3)
        ratio=$(awk -v a="$tm" -v b="$nm" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b}')
        printf '%-8s %-11s %28s %28s %9s\n' "$w" "$m" "$tm ($tlo-$thi)" "$nm ($nlo-$nhi)" "$ratio"
    done
done
