#!/bin/bash
# perf/callgrind.sh: instructions the broker executes per message, counted by valgrind's callgrind.
#
#   cd BUILD && /path/to/perf/callgrind.sh [-d SECONDS] [-o DIR] [WORKLOAD]
#
# Instruction counts do not depend on what else the machine is doing, so they compare versions
# where wall-clock rates on a shared machine cannot. The broker runs under callgrind with
# collection off; collection is switched on (callgrind_control -i on) only while trpc-bench runs
# WORKLOAD (default pub256, see perf/common.sh) for SECONDS (default 3), so start-up and shutdown
# are not counted. Instructions are divided by the messages the bench counted (deliveries for
# pubsub, replies for request). Writes into DIR (default callgrind-WORKLOAD): callgrind.out.1,
# annotate.txt (callgrind_annotate, inclusive, top functions), bench.txt. Last line:
#   result workload=callgrind-WORKLOAD instructions=... messages=... instr_per_msg=...
# Kernel work (the io_uring sends and receives themselves) is outside valgrind's view.
set -eu
. "$(dirname "$0")/common.sh"

DURATION=3
OUT=
common_opts d:o: "$@"
shift "$SHIFT"
WORKLOAD=${1:-pub256}
ARGS=$(workload_args "$WORKLOAD") || die "unknown workload $WORKLOAD"
OUT=${OUT:-callgrind-$WORKLOAD}
need_exec valgrind "Debian package valgrind"
need_exec callgrind_control "Debian package valgrind"
need_exec "$TRPC_BENCH" "build it, or set BUILD or TRPC_BENCH"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# One core keeps the run short under valgrind (which runs one thread at a time anyway).
BROKER_ARGS="--cores 1 $BROKER_ARGS"
rm -f "$OUT"/callgrind.out*
start_trpc valgrind -q --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out"
callgrind_control -i on "$TRPC_PID" >/dev/null
# shellcheck disable=SC2086
"$TRPC_BENCH" $ARGS --url "$TRPC_URL" --duration "$DURATION" --quiet >"$OUT/bench.txt"
callgrind_control -d "$TRPC_PID" >/dev/null
# The dump holds what we need; a SIGTERM can take minutes to reach a thread that valgrind holds in
# io_uring_enter, so the broker is killed outright.
kill -KILL "$TRPC_PID"
wait "$TRPC_PID" 2>/dev/null || true

DUMP=$OUT/callgrind.out.1
RESULT=$(tail -n1 "$OUT/bench.txt")
MSGS=$(field "$RESULT" delivered)
IR=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$DUMP" 2>/dev/null | head -n1)
if [ -z "$IR" ] || [ -z "$MSGS" ] || [ "$MSGS" -eq 0 ]; then
    die "no instruction count or no messages (see $OUT)"
fi
callgrind_annotate --inclusive=yes "$DUMP" 2>/dev/null | head -n 60 >"$OUT/annotate.txt" || true
echo "$RESULT"
echo "result workload=callgrind-$WORKLOAD instructions=$IR messages=$MSGS instr_per_msg=$((IR / MSGS))"
