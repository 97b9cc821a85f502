#!/bin/bash
# perf/record.sh: where trpc-broker spends its time during one workload.
#
#   cd BUILD && /path/to/perf/record.sh [-d SECONDS] [-o DIR] WORKLOAD
#
# Starts the broker on a free loopback port, records it with `perf record -g` while trpc-bench runs
# WORKLOAD (one of pub16 pub256 pub4k pub64k fan4 req1 req64, see perf/common.sh) for SECONDS
# (default 5), and writes into DIR (default perf-WORKLOAD):
#   perf.data     the recording
#   report.txt    perf report --stdio, by self time, then with children
#   flame.svg     a flame graph (perf/flamegraph.py), viewable offline in any browser
#   bench.txt     the bench's output
# Uses the cycles event when the machine has hardware counters, else cpu-clock (most virtual
# machines). Call chains: CALLGRAPH=dwarf (default, works without frame pointers) or fp.
set -eu
. "$(dirname "$0")/common.sh"

DURATION=5
OUT=
common_opts d:o: "$@"
shift "$SHIFT"
[ $# -eq 1 ] || die "name one workload (see -h)"
WORKLOAD=$1
ARGS=$(workload_args "$WORKLOAD") || die "unknown workload $WORKLOAD"
OUT=${OUT:-perf-$WORKLOAD}
CALLGRAPH=${CALLGRAPH:-dwarf}
need_exec perf "Debian package linux-perf"
need_exec "$TRPC_BENCH" "build it, or set BUILD or TRPC_BENCH"
mkdir -p "$OUT"

EVENT=cycles
if perf stat -e cycles -x, true 2>&1 | grep -q 'not supported'; then
    EVENT=cpu-clock
    echo "${0##*/}: no hardware counters here, sampling cpu-clock" >&2
fi

start_trpc
perf record -q -e "$EVENT" -F 999 --call-graph "$CALLGRAPH" -p "$TRPC_PID" -o "$OUT/perf.data" &
PERF_PID=$!
PERF_PIDS="$PERF_PID $PERF_PIDS"
[ -z "${PERF_PIDS_LOG:-}" ] || echo "$PERF_PID perf" >>"$PERF_PIDS_LOG"
sleep 0.5
# shellcheck disable=SC2086
"$TRPC_BENCH" $ARGS --url "$TRPC_URL" --duration "$DURATION" --quiet >"$OUT/bench.txt"
kill -TERM "$PERF_PID"
wait "$PERF_PID" || true
tail -n1 "$OUT/bench.txt"

{
    echo "# trpc-broker during '$ARGS' for $DURATION s; event $EVENT, call graph $CALLGRAPH"
    # By function across the threads: perf's default also sorts by thread name, which would split
    # each function over trpc-core0, trpc-core1, ... (the flame graph keeps a frame per thread).
    perf report -i "$OUT/perf.data" --stdio --no-children --sort dso,sym --percent-limit 0.5 2>/dev/null
    echo
    echo "# with children"
    perf report -i "$OUT/perf.data" --stdio --children --sort dso,sym --percent-limit 2 -g none 2>/dev/null
} >"$OUT/report.txt"
perf script -i "$OUT/perf.data" 2>/dev/null | python3 "$(dirname "$0")/flamegraph.py" --title "trpc-broker: $WORKLOAD ($ARGS)" >"$OUT/flame.svg"
echo "wrote $OUT/report.txt and $OUT/flame.svg"
