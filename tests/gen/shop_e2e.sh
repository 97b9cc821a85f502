#!/bin/sh
# examples/shop end to end: a real trpc-broker, two shop-server instances serving Billing through
# the generated stubs, and shop-client calling it (blocking and asynchronous calls, a typed error)
# and publishing Placed events (durable: acknowledged once stored in the stream the servers declared),
# which it also watches through a consumer group of its own. Every call is answered, both instances take calls, the typed error
# reaches the client with its code and text, and each event is handled by exactly one instance.
# Then durable Refund calls made while no instance runs wait in their stream, and an instance
# started afterwards serves each once. The broker reads the contract too (request-contracts), so
# /metrics times the Charge calls under their own topic.
. "$top_srcdir/tests/gen/lib.sh"

broker=${TRPC_BROKER:-$BUILD/src/trpc-broker}
ex=$BUILD/examples/shop
count=20
[ -x "$broker" ] || { echo "1..0 # SKIP $broker not built"; exit 0; }
pids=
bpid=
stop_all() {
    for p in $pids $bpid; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap stop_all EXIT

# wait_for FILE PATTERN COUNT: up to 10 s until FILE has COUNT lines matching PATTERN
wait_for() {
    i=0
    while [ $i -lt 100 ]; do
        [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# A data directory of its own, removed with $TMP: never the default /var/lib/trpc; and an HTTP port
# the kernel picks, never the default 8250 that another test's broker may hold.
mkdir "$TMP/data" || exit 99
"$broker" --listen 127.0.0.1:0 --data-dir "$TMP/data" --http 127.0.0.1:0 \
    --request-contracts "$SRC/examples/shop/shop.trpc" 2>"$TMP/broker.log" &
bpid=$!
wait_for "$TMP/broker.log" "listening on 127\.0\.0\.1:" 1 || { echo "Bail out! broker did not start"; diag_file "$TMP/broker.log"; exit 99; }
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$TMP/broker.log" | head -1)
url=trpc://127.0.0.1:$port

for n in 1 2; do
    "$ex/shop-server" "$url" "billing$n" >"$TMP/s$n.out" 2>&1 &
    pids="$pids $!"
done
wait_for "$TMP/s1.out" "^ready billing1\$" 1 && wait_for "$TMP/s2.out" "^ready billing2\$" 1
ok $? "two shop-server instances serve"
diag_file "$TMP/s1.out"

"$ex/shop-client" "$url" $count >"$TMP/client.out" 2>&1
ok $? "shop-client succeeds"
diag_file "$TMP/client.out"
grep -q "^charged $((2 * count)) of $((2 * count))\$" "$TMP/client.out"
ok $? "every blocking and asynchronous call got its receipt"
grep -q "^declined 402: order o-$((2 * count)): 2500.00 is over the limit\$" "$TMP/client.out"
ok $? "the handler's typed error reached the client with its code and text"
grep -q "^published $count\$" "$TMP/client.out"
ok $? "the client published $count Placed events"
grep -q "^observed $count\$" "$TMP/client.out"
ok $? "its own typed fan-out subscription saw every one"

# events arrive asynchronously: wait (bounded) until the instances have seen them all
i=0
until [ "$(cat "$TMP/s1.out" "$TMP/s2.out" | grep -c '^placed ')" -ge $count ] || [ $i -ge 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
events=$(cat "$TMP/s1.out" "$TMP/s2.out" | grep '^placed ' | awk '{print $3}' | sort)
[ "$(echo "$events" | wc -l)" -eq $count ] && [ "$(echo "$events" | uniq | wc -l)" -eq $count ]
ok $? "each Placed event was handled once, by one instance of the group"

for p in $pids; do kill -TERM "$p"; done
clean=0
for p in $pids; do wait "$p" && clean=$((clean + 1)); done
pids=
[ $clean -eq 2 ]
ok $? "both instances stop cleanly on SIGTERM"
c1=$(sed -n 's/^stopped billing1 charged \([0-9]*\) .*/\1/p' "$TMP/s1.out")
c2=$(sed -n 's/^stopped billing2 charged \([0-9]*\) .*/\1/p' "$TMP/s2.out")
[ "${c1:-0}" -gt 0 ] && [ "${c2:-0}" -gt 0 ]
ok $? "both instances took calls (${c1:-?} and ${c2:-?})"
[ $((${c1:-0} + ${c2:-0})) -eq $((2 * count)) ]
ok $? "each call was served once"
d=$(cat "$TMP/s1.out" "$TMP/s2.out" | sed -n 's/^stopped .* declined \([0-9]*\) .*/\1/p' | awk '{s += $1} END {print s}')
[ "$d" -eq 1 ]
ok $? "one instance declined the order over the limit"
diag_file "$TMP/s1.out"
diag_file "$TMP/s2.out"

# Durable calls with no instance running: they wait; the instance that starts serves them.
"$ex/shop-client" "$url" 5 refund >"$TMP/refund.out" 2>&1 &
rpid=$!
pids=$rpid
wait_for "$TMP/refund.out" "^refunds sent 5\$" 1
ok $? "five Refund calls sent while no Billing instance runs"
sleep 0.3
if kill -0 $rpid 2>/dev/null; then ok 0 "and they wait"; else ok 1 "and they wait"; diag_file "$TMP/refund.out"; fi
"$ex/shop-server" "$url" billing3 >"$TMP/s3.out" 2>&1 &
pids="$rpid $!"
wait $rpid
ok $? "an instance started afterwards answers them all"
diag_file "$TMP/refund.out"
grep -q "^refunded 5 of 5\$" "$TMP/refund.out"
ok $? "five receipts"
wait_for "$TMP/s3.out" "^refunded billing3 " 5
refunds=$(grep '^refunded billing3 ' "$TMP/s3.out" | awk '{print $3}' | sort)
[ "$(echo "$refunds" | wc -l)" -eq 5 ] && [ "$(echo "$refunds" | uniq | wc -l)" -eq 5 ]
ok $? "each served once by the new instance"
diag_file "$TMP/s3.out"
for p in $pids; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
pids=

# The contract's rpc topics are request classes of their own: the Charge calls counted there.
if command -v curl >/dev/null 2>&1; then
    hp=$(sed -n 's|.*dashboard on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$TMP/broker.log" | head -n1)
    curl -s -m 10 "http://127.0.0.1:$hp/metrics" >"$TMP/metrics"
    charged=$(sed -n 's/^trpc_request_duration_seconds_count{topic="shop\.billing\.charge"} \([0-9]*\)$/\1/p' "$TMP/metrics")
    [ -n "$charged" ] && [ "$charged" -ge $((2 * count)) ] && grep -q '^trpc_request_duration_seconds_count{topic="shop\.billing\.refund"} ' "$TMP/metrics"
    ok $? "/metrics: the contract's rpcs timed under their topics (${charged:-no} Charge calls, Refund listed)"
else
    ok 0 "# SKIP curl not installed"
fi

kill -TERM $bpid
wait $bpid
ok $? "the broker stops cleanly"
bpid=

# What request-contracts refuses, before anything starts: a contract with an error (trpc-gen's own
# line), one that cannot be read, and more request classes than 16 together.
printf 'package p;\nservice S { rpc X(Nope) returns (Nope); }\n' >"$TMP/bad.trpc"
# (Each with ports of its own and a time limit: one that started after all must not hang the run.)
refuse() { timeout 20 "$broker" --listen 127.0.0.1:0 --http 127.0.0.1:0 --data-dir "$TMP/data" "$@" >/dev/null; }
refuse --request-contracts "$TMP/bad.trpc" 2>"$TMP/bad.err"
rc=$?
[ $rc -eq 2 ] && grep -q "^trpc-broker: request-contracts: .*bad.trpc:2:[0-9]*: error: undefined type 'Nope'" "$TMP/bad.err"
ok $? "a contract with an error stops the start: exit $rc, $(head -n1 "$TMP/bad.err")"
refuse --request-contracts "$TMP/none.trpc" 2>"$TMP/none.err"
rc=$?
[ $rc -eq 2 ] && grep -q "^trpc-broker: request-contracts: .*cannot read.*none.trpc" "$TMP/none.err"
ok $? "so does one that cannot be read: exit $rc, $(head -n1 "$TMP/none.err")"
refuse --request-metrics a,b,c,d,e,f,g,h,i,j,k,l,m,n,o --request-contracts "$SRC/examples/shop/shop.trpc" 2>"$TMP/many.err"
rc=$?
[ $rc -eq 2 ] && grep -q "request-metrics (15 patterns) and request-contracts (2 rpc topics): more than 16 together" "$TMP/many.err"
ok $? "and more than 16 request classes together: exit $rc, $(head -n1 "$TMP/many.err")"
printf 'package p;\nmessage M { string s = 1; }\nservice S { rpc X(M) returns (M) { topic = "a,b.c"; } }\n' >"$TMP/comma.trpc"
refuse --request-contracts "$TMP/comma.trpc" 2>"$TMP/comma.err"
rc=$?
[ $rc -eq 2 ] && grep -q "comma.trpc has an rpc topic with a ','" "$TMP/comma.err"
ok $? "and an rpc topic with a comma, which trpc-gen takes but a list of classes cannot: exit $rc"
done_testing
