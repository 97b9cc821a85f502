#!/bin/sh
# The broker's HTTP server (issue 20, first part): /metrics in Prometheus's text format, checked by
# promtool with no warning; counters that move with traffic; /healthz and /readyz; what it refuses
# (other methods, unknown paths, an oversized header, bytes that are not HTTP) without harm; the
# thread's lowered priority; http off; a port in use; and a clean stop with an HTTP connection
# still open. Needs curl; promtool (Debian's prometheus) for the format check.
. "$top_srcdir/tests/ctl/lib.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
[ -x "$TRPC_BROKER" ] || { echo "1..0 # SKIP $TRPC_BROKER not built"; exit 0; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl not installed"; exit 0; }
broker_test_setup

# http_port LOG: the port of the log's "dashboard on http://127.0.0.1:PORT/" line, waiting up to 10 s.
http_port() {
    i=0
    while [ $i -lt 100 ]; do
        p=$(sed -n 's|.*dashboard on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$1" | head -n1)
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# get NAME PATH [CURL ARGS...]: status code into $TMP/NAME.code, headers and body beside.
get() {
    name=$1 path=$2
    shift 2
    curl -s -m 10 -o "$TMP/$name.body" -D "$TMP/$name.head" -w '%{http_code}' "$@" "http://127.0.0.1:$HP$path" >"$TMP/$name.code"
}

BROKER_ARGS="--cores 2 --http 127.0.0.1:0 --request-metrics bench.*.request,shop.>"
if ! trpc_broker_start "$TMP/broker.log" 2>"$TMP/start.err"; then
    echo "Bail out! broker did not start"
    diag_file "$TMP/start.err"
    exit 99
fi
HP=$(http_port "$TMP/broker.log")
ok $? "the broker logs where it serves http (port $HP)"

get hz /healthz && [ "$(cat "$TMP/hz.code")" = 200 ] && [ "$(cat "$TMP/hz.body")" = ok ]
ok $? "/healthz: 200 ok"
get rz /readyz && [ "$(cat "$TMP/rz.code")" = 200 ] && grep -qx ready "$TMP/rz.body" && grep -qx "store up" "$TMP/rz.body"
ok $? "/readyz: 200, ready, store up"

get m1 /metrics && [ "$(cat "$TMP/m1.code")" = 200 ] &&
    grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$TMP/m1.head"
ok $? "/metrics: 200 in the text format 0.0.4"
# promtool_clean FILE WHAT: one point, passing when promtool finds nothing at all to say about FILE.
promtool_clean() {
    if command -v promtool >/dev/null; then
        promtool check metrics <"$1" >"$1.promtool" 2>&1 && [ ! -s "$1.promtool" ]
        ok $? "promtool check metrics $2: no error and no warning"
        diag_file "$1.promtool"
    else
        tap_n=$((tap_n + 1))
        echo "ok $tap_n # SKIP promtool not installed (Debian's prometheus)"
    fi
}
promtool_clean "$TMP/m1.body" "on a quiet broker"
grep -q '^trpc_msgs_in_total{core="0"} [0-9][0-9]*$' "$TMP/m1.body" && grep -q '^trpc_connections{core="1"} [0-9][0-9]*$' "$TMP/m1.body" &&
    grep -q '^trpc_store_up 1$' "$TMP/m1.body" && grep -q '^trpc_build_info{version="[^"]*"} 1$' "$TMP/m1.body"
ok $? "per-core counters and gauges, the store's state, the build"
# Every counter of the stats line is exported, as a counter.
missing=0
for name in $(sed -n 's/.*XX(\(CORE\|LOOP\), \([a-z_]*\), COUNTER,.*/\2/p' "$SRC/src/stats.h"); do
    grep -q "^# TYPE trpc_${name}_total counter\$" "$TMP/m1.body" || { echo "# missing: $name"; missing=1; }
done
[ "$missing" -eq 0 ]
ok $? "every COUNTER row of src/stats.h is a trpc_*_total counter"

# Traffic moves the counters: a publish, seen by the sum of msgs_in over the cores.
sum_msgs_in() {
    sed -n 's/^trpc_msgs_in_total{core="[0-9]*"} \([0-9]*\)$/\1/p' "$1" | awk '{ s += $1 } END { print s + 0 }'
}
before=$(sum_msgs_in "$TMP/m1.body")
"$CTL" --url "$TRPC_URL" server info >/dev/null 2>&1
get m2 /metrics
after=$(sum_msgs_in "$TMP/m2.body")
[ "$after" -gt "$before" ]
ok $? "frames received by the broker show in /metrics ($before, then $after)"

# Requests timed by topic class: trpc-bench's are bench.PID.request.
if [ -x "$BUILD/perf/trpc-bench" ]; then
    "$BUILD/perf/trpc-bench" request --url "$TRPC_URL" --responders 2 --duration 1 >"$TMP/bench.out" 2>&1
    get m3 /metrics
    count=$(sed -n 's/^trpc_request_duration_seconds_count{topic="bench\.\*\.request"} \([0-9]*\)$/\1/p' "$TMP/m3.body")
    inf=$(sed -n 's/^trpc_request_duration_seconds_bucket{topic="bench\.\*\.request",le="+Inf"} \([0-9]*\)$/\1/p' "$TMP/m3.body")
    [ -n "$count" ] && [ "$count" -gt 0 ] && [ "$inf" = "$count" ] &&
        grep -q '^trpc_request_duration_seconds_count{topic="shop\.>"} 0$' "$TMP/m3.body" &&
        grep -q '^trpc_request_duration_seconds_count{topic="(other)"} 0$' "$TMP/m3.body"
    ok $? "request latency by request-metrics pattern: $count requests under bench.*.request, none elsewhere"
    promtool_clean "$TMP/m3.body" "with the histograms filled"
fi

# A request on a topic no pattern names is timed under the one "(other)" label.
if [ -x "$BUILD/examples/echo/echo-service" ]; then
    "$BUILD/examples/echo/echo-service" "$TRPC_URL" e1 >"$TMP/echo.out" 2>&1 &
    echo_pid=$!
    i=0
    while [ $i -lt 50 ] && ! grep -q '^ready' "$TMP/echo.out"; do sleep 0.1; i=$((i + 1)); done
    "$BUILD/examples/echo/echo-client" "$TRPC_URL" 7 >"$TMP/echoc.out" 2>&1
    kill -TERM "$echo_pid" 2>/dev/null
    wait "$echo_pid" 2>/dev/null
    get m4 /metrics
    grep -q '^trpc_request_duration_seconds_count{topic="(other)"} 7$' "$TMP/m4.body" &&
        grep -q '^trpc_request_duration_seconds_count{topic="shop\.>"} 0$' "$TMP/m4.body"
    ok $? "requests on topic echo, named by no pattern, are timed under (other): $(grep '^trpc_request_duration_seconds_count{topic="(other)"}' "$TMP/m4.body")"
fi

get post /metrics -X POST -d x && [ "$(cat "$TMP/post.code")" = 405 ] && grep -qi '^allow: GET, HEAD' "$TMP/post.head"
ok $? "POST: 405 with Allow"
get nope /nope && [ "$(cat "$TMP/nope.code")" = 404 ]
ok $? "an unknown path: 404"
# With -I, curl writes the headers where the body would go: there must be nothing else.
get head /metrics -I && [ "$(cat "$TMP/head.code")" = 200 ] && ! grep -q '^trpc_' "$TMP/head.body"
ok $? "HEAD /metrics: 200 without a body"
{
    printf 'X-Big: '
    head -c 600000 /dev/zero | tr '\0' a
    echo
} >"$TMP/big.hdr"
get big /healthz -H "@$TMP/big.hdr"
code=$(cat "$TMP/big.code")
[ -n "$code" ] && [ "$code" != 200 ] && get hz2 /healthz && [ "$(cat "$TMP/hz2.code")" = 200 ]
ok $? "a 600 KB header is refused ($code) and the server goes on"
# More connections at once than the server holds (64): the rest are closed at accept; once they
# go, it serves again. Then 100 requests one after the other: every closed connection was counted.
python3 -c 'import socket, sys
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5) for _ in range(100)]
for s in socks:
    s.close()' "$HP"
n=0
for i in $(seq 100); do get seq /healthz && [ "$(cat "$TMP/seq.code")" = 200 ] && n=$((n + 1)); done
[ "$n" -eq 100 ]
ok $? "after 100 connections at once, 100 requests in turn all served ($n)"
# One address holding connections gets 32 of the 64: another address is still served, and the
# holder's next connection is closed at once (the accept queue keeps the order).
python3 -c 'import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5) for _ in range(70)]
open(sys.argv[2], "w").write("held")
time.sleep(6)' "$HP" "$TMP/held70" &
holder=$!
i=0
while [ $i -lt 50 ] && [ ! -s "$TMP/held70" ]; do sleep 0.1; i=$((i + 1)); done
get other /healthz --interface 127.0.0.2
other=$(cat "$TMP/other.code")
get same /healthz
same=$(cat "$TMP/same.code")
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
[ "$other" = 200 ] && [ "$same" = 000 ] && grep -q "http: 127.0.0.1 holds 32 connections" "$TMP/broker.log"
ok $? "70 connections held from 127.0.0.1: 127.0.0.2 is served ($other), 127.0.0.1's next is closed ($same)"
python3 -c 'import socket, sys
for junk in (b"\x00\xff" * 5000, b"GET /metrics HTTP/9.9\r\n\r\n", b"\r\n" * 3000):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
    s.settimeout(5)
    s.sendall(junk)
    try:
        s.recv(65536)
    except OSError:
        pass
    s.close()' "$HP" && get hz3 /healthz && [ "$(cat "$TMP/hz3.code")" = 200 ]
ok $? "bytes that are not HTTP close their connection, and the server goes on"

tid=$(grep -l '^trpc-http$' /proc/"$TRPC_PID"/task/*/comm 2>/dev/null | head -n1 | cut -d/ -f5)
nice=$(sed 's/.*) //' /proc/"$TRPC_PID"/task/"$tid"/stat 2>/dev/null | awk '{ print $17 }')
[ -n "$tid" ] && [ "$nice" = 10 ]
ok $? "the http thread runs at nice 10 (thread $tid, nice $nice)"
names=$(cat /proc/"$TRPC_PID"/task/*/comm 2>/dev/null | sort | tr '\n' ' ')
case $names in
*trpc-control*trpc-core0*trpc-core1*trpc-http*) true ;;
*) false ;;
esac
ok $? "the broker's threads carry their names ($names)"

# A clean stop with an HTTP connection open (the sanitizer builds check that nothing leaks).
python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
s.recv(4096)
time.sleep(30)' "$HP" &
holder=$!
sleep 0.5
kill -TERM "$TRPC_PID"
i=0
while [ $i -lt 100 ] && server_alive "$TRPC_PID"; do sleep 0.1; i=$((i + 1)); done
wait "$TRPC_PID"
rc=$?
TRPC_PID=
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
[ "$rc" -eq 0 ] && grep -q "stopped" "$TMP/broker.log"
ok $? "SIGTERM with a keep-alive HTTP connection open: a clean stop (exit $rc)"
diag_file "$TMP/broker.log" | grep -i "error\|leak\|sanitizer" || true

# The store down: /readyz still answers 200 (a broker whose store is down routes) but says so, and
# /metrics has trpc_store_up 0 and the outage counted.
if command -v redis-server >/dev/null 2>&1; then
    redis_server_start "$TMP/redis.log" || { echo "Bail out! redis-server did not start"; exit 99; }
    BROKER_ARGS="--cores 1 --http 127.0.0.1:0 --store $REDIS_URL"
    trpc_broker_start "$TMP/rbroker.log" 2>"$TMP/rbroker.err"
    HP=$(http_port "$TMP/rbroker.log")
    get ru /readyz && [ "$(cat "$TMP/ru.code")" = 200 ] && grep -qx "store up" "$TMP/ru.body"
    ok $? "/readyz on a Redis store: 200, store up"
    server_stop "$REDIS_PID"
    REDIS_PID=
    i=0
    while [ $i -lt 100 ] && ! { get rd /readyz && grep -qx "store down" "$TMP/rd.body"; }; do
        sleep 0.1
        i=$((i + 1))
    done
    [ "$(cat "$TMP/rd.code")" = 200 ] && grep -qx ready "$TMP/rd.body" && grep -qx "store down" "$TMP/rd.body"
    ok $? "/readyz once Redis is gone: 200, ready, store down ($(tr '\n' ' ' <"$TMP/rd.body"))"
    get md /metrics && grep -q '^trpc_store_up 0$' "$TMP/md.body" && grep -q '^trpc_store_outages_total [1-9]' "$TMP/md.body"
    ok $? "/metrics: trpc_store_up 0, the outage counted ($(grep '^trpc_store_outages_total' "$TMP/md.body"))"
    server_stop "$TRPC_PID"
    TRPC_PID=
else
    for what in "store up" "store down" "trpc_store_up 0"; do
        tap_n=$((tap_n + 1))
        echo "ok $tap_n # SKIP $what: redis-server not installed"
    done
fi

# http off: no line, no port.
BROKER_ARGS="--cores 1 --http off"
trpc_broker_start "$TMP/off.log" 2>"$TMP/off.err"
! grep -q "dashboard on" "$TMP/off.log" && [ -n "$TRPC_PID" ]
ok $? "--http off: no HTTP server"
server_stop "$TRPC_PID"
TRPC_PID=

# A port in use: the start fails with one line naming it.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(30)' "$TMP/held" &
holder=$!
i=0
while [ $i -lt 50 ] && [ ! -s "$TMP/held" ]; do sleep 0.1; i=$((i + 1)); done
held=$(cat "$TMP/held")
d=$(mktemp -d)
"$TRPC_BROKER" --listen 127.0.0.1:0 --data-dir "$d" --http "127.0.0.1:$held" >/dev/null 2>"$TMP/inuse.err"
rc=$?
rm -rf "$d"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
[ "$rc" -eq 1 ] && grep -q "cannot start: cannot serve http on 127.0.0.1:$held: Address already in use" "$TMP/inuse.err"
ok $? "http on a port in use: exit 1 naming it (exit $rc)"
diag_file "$TMP/inuse.err"

done_testing
