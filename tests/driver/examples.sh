#!/bin/sh
# examples/hello, examples/echo, examples/durable and examples/jobs against a real broker: hello's
# greetings come back, an echo client's requests are answered by three echo-service instances,
# each serving some, durable's orders are settled as it plans, twice in a row (the second run
# joins the group the first created), and jobs' durable requests, sent before any worker runs,
# are all answered once its worker starts.
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
TRPC_BROKER=${TRPC_BROKER:-$top_builddir/src/trpc-broker}
ex=$top_builddir/examples
. "$top_srcdir/perf/server.sh"

echo "1..9"
tmp=$(mktemp -d)
TRPC_PID=
spids=
cleanup() {
    for p in $spids $TRPC_PID; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    trpc_data_dirs_remove
    rm -rf "$tmp"
}
trap cleanup EXIT

if ! trpc_broker_start "$tmp/broker.log" 2>"$tmp/start.err"; then
    echo "Bail out! broker did not start"
    sed 's/^/# /' "$tmp/start.err"
    exit 99
fi
url=$TRPC_URL

if out=$("$ex/hello/hello" "$url" 5 2>&1) && echo "$out" | grep -q 'received 5 of 5'; then
    echo "ok 1 - hello: 5 greetings published and received"
else
    echo "not ok 1 - hello"
    echo "$out" | sed 's/^/# /'
fi

for n in 1 2 3; do
    "$ex/echo/echo-service" "$url" "echo$n" > "$tmp/svc$n.out" 2>&1 &
    spids="$spids $!"
done
ready=0
i=0
while [ $i -lt 200 ]; do
    ready=$(cat "$tmp"/svc*.out | grep -c '^ready')
    [ "$ready" -eq 3 ] && break
    sleep 0.1
    i=$((i + 1))
done
if [ "$ready" -eq 3 ]; then echo "ok 2 - three echo services ready"; else echo "not ok 2 - $ready echo services ready"; fi

if out=$("$ex/echo/echo-client" "$url" 60 2>&1) && echo "$out" | grep -q 'ok 60 of 60'; then
    echo "ok 3 - echo client: 60 of 60 requests answered"
else
    echo "not ok 3 - echo client"
    echo "$out" | sed 's/^/# /'
fi

for p in $spids; do kill -TERM "$p"; done
clean=0
for p in $spids; do wait "$p" && clean=$((clean + 1)); done
spids=
if [ $clean -eq 3 ]; then echo "ok 4 - services stop cleanly on SIGTERM"; else echo "not ok 4 - $clean of 3 stopped cleanly"; fi

served=0
total=0
for n in 1 2 3; do
    s=$(sed -n 's/^stopped echo[0-9] served \([0-9][0-9]*\)$/\1/p' "$tmp/svc$n.out")
    [ -n "$s" ] && [ "$s" -gt 0 ] && served=$((served + 1))
    total=$((total + ${s:-0}))
done
if [ $served -eq 3 ]; then echo "ok 5 - every instance served requests"; else echo "not ok 5 - $served of 3 instances served"; cat "$tmp"/svc*.out | sed 's/^/# /'; fi
if [ $total -eq 60 ]; then echo "ok 6 - each request served exactly once ($total)"; else echo "not ok 6 - $total requests served for 60"; fi

for run in 1 2; do
    if out=$("$ex/durable/durable" "$url" 20 2>&1) && echo "$out" | grep -q '^settled as planned$' &&
        echo "$out" | grep -q 'acknowledged 16, refused once 5, terminated 4'; then
        echo "ok $((6 + run)) - durable, run $run: 16 acknowledged (5 after a NACK), 4 terminated, a duplicate stored once"
    else
        echo "not ok $((6 + run)) - durable, run $run"
        echo "$out" | sed 's/^/# /'
    fi
done

if out=$("$ex/jobs/jobs" "$url" 10 2>&1) && echo "$out" | grep -q '^10 requests waiting for a worker$' &&
    echo "$out" | grep -q '^answered 10 of 10$' && [ "$(echo "$out" | grep -c '^reply: resized image')" -eq 10 ]; then
    echo "ok 9 - jobs: 10 durable requests sent with no worker, all answered once it starts"
else
    echo "not ok 9 - jobs"
    echo "$out" | sed 's/^/# /'
fi

server_stop "$TRPC_PID"
TRPC_PID=
