#!/bin/bash
# tests/perf/bench_smoke.sh: trpc-bench against a real broker, one second per workload. Checks that
# each run ends with a well-formed result line and that messages arrived; never judges rates.
top_builddir=${top_builddir:-.}
BROKER=${TRPC_BROKER:-$top_builddir/src/trpc-broker}
BENCH=$top_builddir/perf/trpc-bench
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX")
PID=

cleanup() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -x "$BROKER" ] || [ ! -x "$BENCH" ]; then
    echo "1..0 # SKIP needs $BROKER and $BENCH"
    exit 0
fi

# Starts the broker on a port the kernel picks (read from its log); where the broker does not take
# port 0, on a random high port, retried if taken. Each try has a data directory of its own under
# WORK (never the default /var/lib/trpc), removed with it, and an HTTP port the kernel picks (never
# the default 8250). Sets PID and URL.
start_broker() {
    local listen port
    for attempt in $(seq 10); do
        listen=127.0.0.1:0
        [ "$attempt" -gt 1 ] && listen=127.0.0.1:$((20000 + RANDOM % 40000))
        mkdir "$WORK/data$attempt" || return 1
        "$BROKER" --listen "$listen" --data-dir "$WORK/data$attempt" --http 127.0.0.1:0 2>"$WORK/broker.log" &
        PID=$!
        for _ in $(seq 200); do
            kill -0 "$PID" 2>/dev/null || break
            port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$WORK/broker.log" | head -n1)
            if [ -n "$port" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                URL=trpc://127.0.0.1:$port
                return 0
            fi
            sleep 0.1
        done
        kill -KILL "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
        PID=
    done
    sed 's/^/# /' "$WORK/broker.log"
    return 1
}

n=0
fails=0
check() { # check CONDITION-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
is_count() { [[ $1 =~ ^[0-9]+$ ]]; }
is_number() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

echo "1..20"
start_broker || { echo "Bail out! broker did not start"; exit 99; }

"$BENCH" pubsub --url "$URL" --size 64 --duration 1 >"$WORK/out" 2>"$WORK/err"
check $? "pubsub exits 0"
line=$(tail -n1 "$WORK/out")
[[ $line == "result workload=pubsub size=64 "* ]]
check $? "pubsub: last line is the result line"
d=$(field "$line" delivered)
is_count "$d" && [ "$d" -gt 0 ]
check $? "pubsub: delivered > 0 ($d)"
is_count "$(field "$line" sent)" && is_count "$(field "$line" loss)"
check $? "pubsub: sent and loss are counts"
is_number "$(field "$line" msgs_per_s)" && is_number "$(field "$line" mb_per_s)" && is_number "$(field "$line" p99_us)" &&
    is_number "$(field "$line" p999_us)"
check $? "pubsub: rates and percentiles are numbers"

"$BENCH" pubsub --url "$URL" --subs 2 --group g --size 16 --duration 1 >"$WORK/out" 2>"$WORK/err"
check $? "group pubsub exits 0"
line=$(tail -n1 "$WORK/out")
d=$(field "$line" delivered)
s=$(field "$line" sent)
is_count "$d" && [ "$d" -gt 0 ] && [ "$d" -le "$s" ]
check $? "group: delivered > 0 and at most once per message ($d of $s)"
[ "$(field "$line" group)" = g ]
check $? "group: named in the result"

"$BENCH" request --url "$URL" --responders 2 --inflight 8 --size 32 --duration 1 >"$WORK/out" 2>"$WORK/err"
check $? "request exits 0"
line=$(tail -n1 "$WORK/out")
[[ $line == "result workload=request size=32 "* ]]
check $? "request: last line is the result line"
d=$(field "$line" delivered)
is_count "$d" && [ "$d" -gt 0 ]
check $? "request: replies > 0 ($d)"
[[ $(field "$line" share) =~ ^[0-9.]+/[0-9.]+$ ]]
check $? "request: one share per responder ($(field "$line" share))"
[ "$(field "$line" callbacks)" = thread ]
check $? "request: callbacks on a dispatcher thread by default"

"$BENCH" request --url "$URL" --inline --size 32 --duration 1 >"$WORK/out" 2>"$WORK/err"
line=$(tail -n1 "$WORK/out")
d=$(field "$line" delivered)
is_count "$d" && [ "$d" -gt 0 ]
check $? "request --inline: replies > 0 ($d)"
[ "$(field "$line" callbacks)" = inline ]
check $? "request --inline: callbacks inline, said in the result"

"$BENCH" durable --url "$URL" --subs 2 --inflight 32 --size 64 --duration 1 >"$WORK/out" 2>"$WORK/err"
check $? "durable exits 0"
line=$(tail -n1 "$WORK/out")
s=$(field "$line" sent)
d=$(field "$line" delivered)
is_count "$s" && is_count "$d" && [ "$s" -gt 0 ] && [ "$d" -gt 0 ] && [ "$(field "$line" loss)" = 0 ]
check $? "durable: publishes stored and every one consumed by the group ($s sent, $d consumed)"
[ "$(field "$line" consumers)" = 2 ] && [ "$(field "$line" inflight)" = 32 ]
check $? "durable: 2 consumers, 32 in flight, said in the result"

"$BENCH" pubsub --url "$URL" --size 1x >"$WORK/out" 2>"$WORK/err"
check $(($? != 2)) "bad --size is a usage error (exit 2)"
kill -0 "$PID" 2>/dev/null
check $? "broker still running"

[ "$fails" -eq 0 ]
