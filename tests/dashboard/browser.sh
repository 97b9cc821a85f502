#!/bin/sh
# shellcheck source-path=SCRIPTDIR
# The dashboard in a real browser: headless chromium, driven by playwright-core (browser.cjs beside
# this file), against a broker on two cores with two dead letters (examples/durable) and one idle
# client with one subscription (trpc-bench idle). It checks that the overview loads without a page
# or console error and turns healthy, that the msgs in/s tile and the rate chart follow trpc-bench
# up and down, that the topics, clients and streams pages list what is there (a consumer group's
# lag, pending, in flight, delivered, redelivered and dead as trpcctl gives them), that Kick,
# Redrive, Purge, Purge all and a setting's Save and Reset do what trpcctl then sees (a message
# redriven is delivered to its group again), and that a bad value is refused with an error toast. Then, against a second broker
# with authentication on (--auth, its first admin alice made offline with trpc-broker user add):
# the login form instead of the pages, a wrong password refused ("bad credentials"), alice's login
# (the overview, her name in the header, the failed logins tile), the Users page (alice listed;
# bob added through its dialog, disabled and enabled again, a token made for him; trpcctl sees
# each), a session ended elsewhere bringing the login form back and the login returning to the
# page, Log out, and bob (no admin) refused. Screenshots of every page (and of the login form) go
# to $top_builddir/tests/dashboard/screenshots/.
#
# Needs node, chromium (TRPC_CHROMIUM, default /usr/bin/chromium) and playwright-core, installed
# as .ci/run does: npm install --prefix /var/cache/trpc-ci/node playwright-core@1.65.2 (1.49.1 on
# a Node.js older than 20, such as Debian 12's; or TRPC_NODE_MODULES=DIR/node_modules). Without them it skips, unless TRPC_REQUIRE_BROWSER=1 (CI).
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
TRPC_PID='' IDLE_PID='' NODE_PID='' AUTH_PID=''
# shellcheck disable=SC2317 # run by the EXIT trap
stop_all() {
    for p in $NODE_PID $IDLE_PID; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    [ -n "$TRPC_PID" ] && server_stop "$TRPC_PID" 5
    [ -n "$AUTH_PID" ] && server_stop "$AUTH_PID" 5
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

# The second broker, with authentication: its first admin made offline, as an operator would.
ADMIN_PW="alice-pw-$$-Larch"
AUTH_DATA=$TMP/auth-data
mkdir -p "$AUTH_DATA"
if printf '%s\n' "$ADMIN_PW" | "$TRPC_BROKER" user add alice --role admin --data-dir "$AUTH_DATA" >"$TMP/useradd.out" 2>&1; then
    ok 0 "trpc-broker user add alice --role admin, the password on standard input"
else
    ok 1 "trpc-broker user add alice --role admin, the password on standard input"
    diag_file "$TMP/useradd.out"
fi
MAIN_PID=$TRPC_PID MAIN_URL=$TRPC_URL MAIN_HTTP_PORT=$TRPC_HTTP_PORT
# shellcheck disable=SC2034 # read by trpc_broker_start
BROKER_ARGS="--cores 1 --auth --data-dir $AUTH_DATA"
if ! trpc_broker_start "$TMP/auth-broker.log" 2>"$TMP/auth-start.err"; then
    echo "Bail out! the broker with --auth did not start"
    diag_file "$TMP/auth-start.err"
    exit 99
fi
AUTH_PID=$TRPC_PID AUTH_URL=$TRPC_URL AUTH_HTTP_PORT=$TRPC_HTTP_PORT
TRPC_PID=$MAIN_PID TRPC_URL=$MAIN_URL TRPC_HTTP_PORT=$MAIN_HTTP_PORT
session=$(node -e 'fetch(process.argv[1]).then(r => r.text()).then(t => console.log(t), e => console.log(String(e)))' \
    "http://127.0.0.1:$AUTH_HTTP_PORT/api/session" 2>&1)
case $session in
*'"auth":'*true*) ok 0 "a broker with --auth on one core, its dashboard on port $AUTH_HTTP_PORT" ;;
*) ok 1 "a broker with --auth on one core, its dashboard on port $AUTH_HTTP_PORT (GET /api/session: $session)" ;;
esac

rm -rf "$SHOTS"
mkdir -p "$SHOTS"
start=$(date +%s)
DASH_URL="http://127.0.0.1:$TRPC_HTTP_PORT/" TRPC_URL=$TRPC_URL TRPC_CTL=$CTL TRPC_BENCH=$BENCH \
    TRPC_DURABLE=$DURABLE SHOTS=$SHOTS TRPC_NODE_MODULES=$NODE_MODULES TRPC_CHROMIUM=$CHROMIUM \
    AUTH_DASH_URL="http://127.0.0.1:$AUTH_HTTP_PORT/" AUTH_TRPC_URL=$AUTH_URL AUTH_ADMIN_PW=$ADMIN_PW \
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
for p in overview topics clients streams dlq settings login users; do
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
server_stop "$AUTH_PID"
AUTH_PID=
# The broker with authentication logs one line per change and per refused login: shown for a
# failure's diagnosis, and never a password or a token's secret.
grep -E ' (ERROR|WARN) |Sanitizer|runtime error|user|token|login' "$TMP/auth-broker.log" | tail -n 40 | diag_file /dev/stdin
! grep -qF -e "$ADMIN_PW" -e "bob-pw-" "$TMP/auth-broker.log"
ok $? "no password in the log of the broker with --auth"

done_testing
