#!/bin/sh
# trpc-bench storm against a broker with --auth: with the right password its slots log in (each
# attempt answered, no connection error); without credentials every attempt is refused with
# AUTH_FAILED; bad usage exits 2. Never judges rates.
. "$top_srcdir/tests/ctl/lib.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
BENCH=$BUILD/perf/trpc-bench
if [ ! -x "$TRPC_BROKER" ] || [ ! -x "$BENCH" ]; then echo "1..0 # SKIP broker or trpc-bench not built"; exit 0; fi
broker_test_setup

mkdir -p "$TMP/data"
printf 'storm-password-1\n' | "$TRPC_BROKER" user add bench --data-dir "$TMP/data" >"$TMP/add.out" 2>&1
ok $? "trpc-broker user add bench"
BROKER_ARGS="--auth --data-dir $TMP/data --http 127.0.0.1:0"
if ! trpc_broker_start "$TMP/broker.log" 2>"$TMP/start.err"; then
    echo "Bail out! broker did not start"
    diag_file "$TMP/start.err"
    exit 99
fi

TRPC_USER=bench TRPC_PASSWORD=storm-password-1 "$BENCH" storm --url "$TRPC_URL" --conns 4 --pause 200 --duration 1.5 --quiet \
    >"$TMP/good.out" 2>&1
rc=$?
grep -q '^storm attempts=[1-9][0-9]* logged_in=[1-9][0-9]* .* errors=0 timeouts=0 ' "$TMP/good.out" && [ $rc -eq 0 ]
ok $? "with the password: logins, every attempt answered (exit $rc)"
diag_file "$TMP/good.out"
"$BENCH" storm --url "$TRPC_URL" --conns 2 --pause 100 --duration 0.5 --quiet >"$TMP/none.out" 2>&1
sed -n 's/^storm attempts=\([0-9]*\) logged_in=0 try_again=0 refused=\([0-9]*\) .*unanswered_at_end=\([0-9]*\) .*first_refusal=ERR AUTH_FAILED.*/\1 \2 \3/p' \
    "$TMP/none.out" >"$TMP/none.n"
read -r tries refused open <"$TMP/none.n" && [ "$tries" -gt 0 ] && [ $((refused + open)) -eq "$tries" ]
ok $? "without credentials: every attempt refused with AUTH_FAILED"
diag_file "$TMP/none.out"
"$BENCH" storm --conns 0 >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "--conns 0: usage error, exit 2"
"$BENCH" storm --help | grep -q 'usage: trpc-bench storm'
ok $? "storm --help"
kill "$TRPC_PID" && wait "$TRPC_PID"
ok $? "the broker stops cleanly"
TRPC_PID=
done_testing
