#!/bin/bash
# tests/perf/flamegraph.sh: perf/flamegraph.py folds `perf script` call chains root first, counts
# samples per stack, and writes a well-formed SVG whose frames carry their sample counts.
top_srcdir=${top_srcdir:-.}
FG=$top_srcdir/perf/flamegraph.py
if ! command -v python3 >/dev/null 2>&1; then
    echo "1..0 # SKIP python3 not installed"
    exit 0
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/flamegraph.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Three samples as perf script prints them: two identical chains, one through an unresolved frame.
sample() {
    printf 'trpc-broker  4242 [001] 100.%03d:    1001001 cpu-clock: \n' "$1"
    printf '\tffffffff81eb6564 __dev_queue_xmit+0x4c4 ([kernel.kallsyms])\n'
    printf '\t    55d0c0de1234 route_pub+0x20 (/usr/bin/trpc-broker)\n'
    printf '\t    55d0c0de0042 core_main+0x5 (/usr/bin/trpc-broker)\n\n'
}
{
    sample 1
    sample 2
    printf 'trpc-broker  4242 [000] 100.003:    1001001 cpu-clock: \n'
    printf '\t    7f0000001000 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)\n'
    printf '\t    55d0c0de0042 core_main+0x5 (/usr/bin/trpc-broker)\n'
} >"$WORK/in.txt"

n=0
fails=0
check() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
echo "1..7"

python3 "$FG" --folded "$WORK/in.txt" >"$WORK/folded.txt"
check $? "folds the samples"
grep -qx 'trpc-broker;core_main;route_pub;__dev_queue_xmit 2' "$WORK/folded.txt"
check $? "identical chains add up, root first, offsets stripped"
grep -qx 'trpc-broker;core_main;\[libc.so.6\] 1' "$WORK/folded.txt"
check $? "an unresolved frame is named after its library"

python3 "$FG" --title "t<1>" <"$WORK/in.txt" >"$WORK/out.svg"
check $? "writes an SVG from stdin"
python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "$WORK/out.svg"
check $? "the SVG is well-formed XML (title escaped)"
grep -q '<title>core_main (3 samples, 100.00%)</title>' "$WORK/out.svg"
check $? "a frame's tooltip gives its samples and share"

printf 'no samples here\n' | python3 "$FG" >/dev/null 2>&1
check $((!$?)) "input without call chains is an error"
[ "$fails" -eq 0 ]
