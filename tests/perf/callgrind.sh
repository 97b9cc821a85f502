#!/bin/bash
# tests/perf/callgrind.sh: perf/callgrind.sh for one second of pub256 under callgrind. Checks the
# instructions-per-message line docs/performance.md quotes, the files it promises, and that the
# broker it started under valgrind is stopped.
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
command -v valgrind >/dev/null 2>&1 || skip_all "valgrind not installed (Debian package valgrind)"
command -v callgrind_control >/dev/null 2>&1 || skip_all "callgrind_control not installed (Debian package valgrind)"
sanitized && skip_all "sanitizer build: valgrind cannot run an ASan/TSan broker"

echo "1..7"
cd "$SMOKE_WORK" || exit 99
"$PERF/callgrind.sh" -d 1 -o cg pub256 >out.txt 2>err.txt
check $? "callgrind.sh exits 0"
line=$(tail -n1 out.txt)
[[ $line =~ ^result\ workload=callgrind-pub256\ instructions=[0-9]+\ messages=[0-9]+\ instr_per_msg=[0-9]+$ ]]
check $? "last line: instructions, messages, instructions per message ($line)"
ir=$(field "$line" instructions)
msgs=$(field "$line" messages)
ipm=$(field "$line" instr_per_msg)
[ "${msgs:-0}" -gt 0 ] && [ "${ipm:-0}" -gt 0 ] && [ "$ipm" -eq $((ir / msgs)) ]
check $? "messages > 0 and instr_per_msg = instructions / messages ($ipm)"
grep -q '^result workload=pubsub size=256 .*system=TRPC$' out.txt && [ "$(field "$(grep '^result workload=pubsub' out.txt)" delivered)" = "$msgs" ]
check $? "messages are the bench's deliveries"
[ -s cg/callgrind.out.1 ] && grep -q '^summary: ' cg/callgrind.out.1 && grep -q 'Ir' cg/annotate.txt
check $? "writes the callgrind dump and annotate.txt"
[ "$(servers_started trpc-broker)" -eq 1 ]
check $? "one broker started"
servers_left
check $? "the broker under valgrind is stopped when callgrind.sh exits"
[ "$fails" -eq 0 ] || { show err.txt out.txt; exit 1; }
