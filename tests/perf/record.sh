#!/bin/bash
# tests/perf/record.sh: perf/record.sh for one second of pub256. Checks what docs/performance.md
# promises (the bench's result line, perf report text in report.txt, a flame.svg that is valid SVG
# with frames in it) and that the broker and perf it started are stopped.
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
command -v perf >/dev/null 2>&1 || skip_all "perf not installed (Debian package linux-perf)"
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed (perf/flamegraph.py)"
# record.sh attaches to the broker's PID: probe the same on a process of our own.
sleep 5 &
probe=$!
if ! perf record -q -e cpu-clock -p "$probe" -o "$SMOKE_WORK/probe.data" -- sleep 0.2 >"$SMOKE_WORK/probe.err" 2>&1; then
    kill "$probe" 2>/dev/null
    skip_all "perf record refused here (perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null)): $(head -n1 "$SMOKE_WORK/probe.err")"
fi
kill "$probe" 2>/dev/null
wait "$probe" 2>/dev/null

echo "1..8"
cd "$SMOKE_WORK" || exit 99
# Frame-pointer call chains: DWARF unwinding of even one second takes long on a busy machine.
CALLGRAPH=fp "$PERF/record.sh" -d 1 -o rec pub256 >out.txt 2>err.txt
check $? "record.sh exits 0"
grep -q '^result workload=pubsub size=256 .*system=TRPC$' out.txt
check $? "prints the bench's result line"
grep -qx 'wrote rec/report.txt and rec/flame.svg' out.txt
check $? "names what it wrote"
grep -q "^# trpc-broker during 'pubsub --size 256' for 1 s; event [a-z-]*, call graph fp$" rec/report.txt &&
    grep -q '^# Samples: ' rec/report.txt && grep -q '^# with children$' rec/report.txt
check $? "report.txt: header, perf report by self time and with children"
valid_svg rec/flame.svg
check $? "flame.svg is well-formed XML with an <svg> root"
# The root frame holds every sample; each of the broker's threads is a frame under it, by name
# (trpc-core0, trpc-core1, ..., and trpc-http or trpc-control when they had samples).
grep -q '<title>all ([0-9]* samples, 100.00%)</title>' rec/flame.svg && grep -q '<title>trpc-core[0-9]* ([0-9]* samples, ' rec/flame.svg
check $? "flame.svg has the root frame with its sample count, and the broker's core threads under it"
[ "$(servers_started trpc-broker)" -eq 1 ]
check $? "one trpc-broker started"
[ "$(servers_started perf)" -eq 1 ] && servers_left
check $? "broker and perf record stopped when record.sh exits"
[ "$fails" -eq 0 ] || { show err.txt out.txt; exit 1; }
