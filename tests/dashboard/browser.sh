#!/bin/sh
# shellcheck source-path=SCRIPTDIR
# The dashboard in a real browser: headless chromium, driven by playwright-core (browser.cjs beside
# this file), against a broker on two cores with two dead letters (examples/durable) and one idle
# client with one subscription (trpc-bench idle). It checks that the overview loads without a page
# or console error and turns healthy, that the msgs in/s tile and the rate chart follow trpc-bench
# up and down, that the topics, clients and streams pages list what is there, that Kick, Redrive
# and a setting's Save and Reset do what trpcctl then sees (a message redriven is delivered to its
# group again), and that a bad value is refused with an error toast. Screenshots of every page go
# to $top_builddir/tests/dashboard/screenshots/.
#
# Needs node, chromium (TRPC_CHROMIUM, default /usr/bin/chromium) and playwright-core, installed
# as .ci/run does: npm install --prefix /var/cache/trpc-ci/node playwright-core@1.65.2 (or
# TRPC_NODE_MODULES=DIR/node_modules). Without them it skips, unless TRPC_REQUIRE_BROWSER=1 (CI).
: "${top_srcdir:=.}"
# shellcheck source=../ctl/lib.sh disable=SC1091
. "$top_srcdir/tests/ctl/lib.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
BENCH=$BUILD/perf/trpc-bench
DURABLE=$BUILD/examples/durable/durable
CHROMIUM=${TRPC_CHROMIUM:-/usr/bin/chromium}
NODE_MODULES=${TRPC_NODE_MODULES:-/var/cache/trpc-ci/node/node_modules}

# missing WHAT: skips the test, or fails it when TRPC_REQUIRE_BROWSER=1.
missing() {
    if [ "${TRPC_REQUIRE_BROWSER:-0}" = 1 ]; then
        echo "1..1"
        echo "not ok 1 - $1 (TRPC_REQUIRE_BROWSER=1)"
        exit 1
    fi
    echo "1..0 # SKIP $1"
    exit 0
}
[ -x "$TRPC_BROKER" ] || missing "$TRPC_BROKER not built"
[ -x "$BENCH" ] || missing "$BENCH not built"
[ -x "$DURABLE" ] || missing "$DURABLE not built"
command -v node >/dev/null || missing "node not installed"
[ -x "$CHROMIUM" ] || missing "no chromium at $CHROMIUM"
[ -f "$NODE_MODULES/playwright-core/package.json" ] || missing "no playwright-core in $NODE_MODULES"

# shellcheck source=../../perf/server.sh disable=SC1091
. "$SRC/perf/server.sh"
SHOTS=$BUILD/tests/dashboard/screenshots
TRPC_PID='' IDLE_PID='' NODE_PID=''
# shellcheck disable=SC2317 # run by the EXIT trap
stop_all() {
    for p in $NODE_PID $IDLE_PID; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    [ -n "$TRPC_PID" ] && server_stop "$TRPC_PID" 5
    trpc_data_dirs_remove
    rm -rf "$TMP"
}
trap stop_all EXIT
trap 'exit 1' INT TERM

# shellcheck disable=SC2034 # read by trpc_broker_start
BROKER_ARGS="--cores 2 --http 127.0.0.1:0"
if ! trpc_broker_start "$TMP/broker.log" 2>"$TMP/start.err"; then
    echo "Bail out! broker did not start"
    diag_file "$TMP/start.err"
    exit 99
fi
[ -n "$TRPC_HTTP_PORT" ]
ok $? "a broker on two cores with its dashboard on port $TRPC_HTTP_PORT"

# Two dead letters: durable TERMs orders 5 and 10 into dead.orders (stream orders-dead).
"$DURABLE" "$TRPC_URL" 10 >"$TMP/durable.out" 2>&1
[ "$("$CTL" --url "$TRPC_URL" dlq ls orders-dead 2>/dev/null | grep -c 'term: order')" = 2 ]
ok $? "examples/durable leaves two dead letters in stream orders-dead"
diag_file "$TMP/durable.out"

# One client to kick: an idle connection with one subscription, held longer than the test runs.
"$BENCH" idle --url "$TRPC_URL" --conns 1 --subscribe --hold 120 --quiet >"$TMP/idle.out" 2>&1 &
IDLE_PID=$!
i=0
while [ $i -lt 50 ] && [ "$("$CTL" --url "$TRPC_URL" subs ls 2>/dev/null | grep -c 'idle\.')" != 1 ]; do
    sleep 0.1
    i=$((i + 1))
done
[ $i -lt 50 ]
ok $? "trpc-bench idle holds one connection with one subscription"

rm -rf "$SHOTS"
mkdir -p "$SHOTS"
start=$(date +%s)
DASH_URL="http://127.0.0.1:$TRPC_HTTP_PORT/" TRPC_URL=$TRPC_URL TRPC_CTL=$CTL TRPC_BENCH=$BENCH \
    TRPC_DURABLE=$DURABLE SHOTS=$SHOTS TRPC_NODE_MODULES=$NODE_MODULES TRPC_CHROMIUM=$CHROMIUM \
    timeout -k 5 100 node "$SRC/tests/dashboard/browser.cjs" >"$TMP/browser.out" 2>"$TMP/browser.err" &
NODE_PID=$!
wait "$NODE_PID"
rc=$?
NODE_PID=
# Its "ok - WHAT" and "not ok - WHAT" lines become ours; its comments pass through.
while IFS= read -r line; do
    case $line in
    "ok - "*) ok 0 "${line#ok - }" ;;
    "not ok - "*) ok 1 "${line#not ok - }" ;;
    "#"*) echo "$line" ;;
    *) echo "# $line" ;;
    esac
done <"$TMP/browser.out"
[ "$rc" -eq 0 ] && grep -q '^ok - no page error' "$TMP/browser.out"
ok $? "the browser run ends well (exit $rc, $(($(date +%s) - start)) s)"
[ -s "$TMP/browser.err" ] && diag_file "$TMP/browser.err"

n=0 absent=
for p in overview topics clients streams dlq settings; do
    if [ -s "$SHOTS/$p.png" ]; then n=$((n + 1)); else absent="$absent $p"; fi
done
[ -z "$absent" ]
ok $? "a screenshot of each page in tests/dashboard/screenshots/ ($n; missing:${absent:- none})"

kill -TERM "$IDLE_PID" 2>/dev/null
wait "$IDLE_PID" 2>/dev/null
IDLE_PID=
server_stop "$TRPC_PID"
TRPC_PID=
grep -E ' (ERROR|WARN) |Sanitizer|runtime error' "$TMP/broker.log" | diag_file /dev/stdin

done_testing
