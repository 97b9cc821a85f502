#!/bin/sh
# trpcctl end to end (issue 16): a real trpc-broker with the admin API, examples/shop's shop-server
# connected as client "billing1" (one group subscription per Billing method and event), and every
# trpcctl command against them: server info, settings get and set (a live one, one that is not,
# one that does not exist, a value the parser refuses), clients ls (paged), subs ls, clients kick
# (the client goes, reconnects with a new id, a second kick of the old id is NOT_FOUND), --json
# for each, and no broker at the end. Needs the broker side of the admin API: listed in
# CTL_E2E_TESTS (ctl/local.mk), not yet in TESTS.
. "$top_srcdir/tests/ctl/lib.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
server=$BUILD/examples/shop/shop-server
[ -x "$TRPC_BROKER" ] && [ -x "$server" ] || { echo "1..0 # SKIP $TRPC_BROKER or $server not built"; exit 0; }
. "$SRC/perf/server.sh"
TRPC_PID=
spid=
stop_all() {
    for p in $spid $TRPC_PID; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    trpc_data_dirs_remove
    rm -rf "$TMP"
}
trap stop_all EXIT

# wait_for COMMAND...: up to 10 s until COMMAND succeeds
wait_for() {
    i=0
    while [ $i -lt 100 ]; do
        "$@" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

BROKER_ARGS="--cores 2"
if ! trpc_broker_start "$TMP/broker.log" 2>"$TMP/start.err"; then
    echo "Bail out! broker did not start"
    diag_file "$TMP/start.err"
    exit 99
fi
export TRPC_URL

"$server" "$TRPC_URL" billing1 >"$TMP/server.out" 2>&1 &
spid=$!
wait_for grep -q "^ready billing1\$" "$TMP/server.out"
ok $? "shop-server billing1 is connected and serving"

# run NAME COMMAND...: trpcctl with stdout in $TMP/NAME.out, stderr in $TMP/NAME.err; its status
run() {
    name=$1
    shift
    "$CTL" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    rc=$?
    diag_file "$TMP/$name.err"
    return $rc
}

# json_ok FILE: the file is one JSON object with "ok": true (python3 is a test dependency)
json_ok() {
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d.get("ok") is True else 1)' "$1" 2>/dev/null
}

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$BUILD/config.h")
run info server info && grep -q "^version  *$version\$" "$TMP/info.out" &&
    grep -q "^listen  *127\.0\.0\.1:$TRPC_PORT\$" "$TMP/info.out" && grep -q "^cores  *2\$" "$TMP/info.out" &&
    grep -Eq "^connections  *[1-9][0-9]*\$" "$TMP/info.out" && grep -Eq "^io_uring tier  *T[0-9]\$" "$TMP/info.out"
ok $? "server info: version $version, the listen address, 2 cores, the tier, connections"
diag_file "$TMP/info.out"
run infoj server info --json && json_ok "$TMP/infoj.out"
ok $? "server info --json: a document with ok true"

run sget settings get && grep -Eq "^NAME  *VALUE  *LIVE  *HELP\$" "$TMP/sget.out" &&
    grep -Eq "^keepalive  *[^ ]+  *yes " "$TMP/sget.out" && grep -Eq "^listen  *127\.0\.0\.1:$TRPC_PORT  *no " "$TMP/sget.out"
ok $? "settings get: a table with keepalive (live) and listen (not live)"
run sget1 settings get keepalive && [ "$(wc -l <"$TMP/sget1.out")" -eq 2 ]
ok $? "settings get keepalive: the header and one row"
run sset settings set keepalive 15s && grep -Eq "^keepalive = [^ ]+ \(was [^ ]+\)\$" "$TMP/sset.out"
ok $? "settings set keepalive 15s: the new and the previous value"
diag_file "$TMP/sset.out"
new=$(sed -n 's/^keepalive = \([^ ]*\) .*/\1/p' "$TMP/sset.out")
run sget2 settings get keepalive && grep -Eq "^keepalive  *$new  *yes " "$TMP/sget2.out"
ok $? "settings get shows the value set ($new)"
run sset2 settings set keepalive "$new"
ok $? "what get prints, set accepts ($new)"
run ssetj settings set keepalive 30s --json && json_ok "$TMP/ssetj.out"
ok $? "settings set --json: a document with ok true"
run sboth settings set max-request-timeout 120s request-timeout 90s &&
    grep -Eq "^max-request-timeout = 120s \(was [^ ]+\)\$" "$TMP/sboth.out" && grep -Eq "^request-timeout = 90s \(was [^ ]+\)\$" "$TMP/sboth.out"
ok $? "settings set with two pairs: both change together, one line each"
diag_file "$TMP/sboth.out"
expect 2 "^trpcctl: settings set: 'keepalive' has no value" "settings set with a name and no value: a usage error" -- \
    "$CTL" settings set request-timeout 5s keepalive
run sres0 settings set keepalive 12s &&
    run sres settings reset keepalive && grep -Eq "^keepalive = 30s \(was 12s\)\$" "$TMP/sres.out"
ok $? "settings reset keepalive: back to the configured 30s"
diag_file "$TMP/sres.out"
run sinfo2 server info && grep -Eq "^store  *file\$" "$TMP/sinfo2.out" && grep -Eq "^store state  *up\$" "$TMP/sinfo2.out"
ok $? "server info: the embedded store, up"

expect 1 "^trpcctl: settings set: listen cannot change while the broker runs" "settings set listen: refused, the broker's reason" -- \
    "$CTL" settings set listen 127.0.0.1:1
[ ! -s "$TMP/out" ]
ok $? "nothing on stdout for an error reply"
expect 1 "^trpcctl: settings set: .*no-such-setting" "settings set of an unknown setting" -- "$CTL" settings set no-such-setting 1
expect 1 "^trpcctl: settings set: ." "settings set keepalive to a value its parser refuses" -- "$CTL" settings set keepalive soon
expect 1 "^trpcctl: settings get: .*no-such-setting" "settings get of an unknown setting" -- "$CTL" settings get no-such-setting
expect 1 "^trpcctl: tls reload: .*no TLS listener" "tls reload on a broker without a TLS listener: the broker's reason" -- \
    "$CTL" tls reload
"$CTL" settings get no-such-setting --json >"$TMP/out" 2>/dev/null
[ $? -eq 1 ] && python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["ok"] is False and d["error"]["code"] == "NOT_FOUND" else 1)' "$TMP/out" 2>/dev/null
ok $? "--json prints the error document too, with code NOT_FOUND, and exits 1"

run cls clients ls && grep -Eq "^ *ID  *NAME  *PEER  *CORE  *SUBS  *MSGS_IN  *MSGS_OUT  *BYTES_IN  *BYTES_OUT  *PENDING  *CONNECTED  *TLS$" "$TMP/cls.out" &&
    grep -Eq "^ *[0-9]+  *billing1  *127\.0\.0\.1:[0-9]+  *[01]  *[1-9][0-9]* " "$TMP/cls.out"
ok $? "clients ls: billing1 with its peer, core and subscriptions"
diag_file "$TMP/cls.out"
id=$(awk '$2 == "billing1" { print $1 }' "$TMP/cls.out")
run clsj clients ls --json && json_ok "$TMP/clsj.out"
ok $? "clients ls --json: a document with ok true"
run cls1 clients ls --limit 1 && [ "$(grep -c '^ *[0-9]' "$TMP/cls1.out")" -eq 1 ]
ok $? "clients ls --limit 1: one row"
run cls2 clients ls --offset 1000
ok $? "clients ls --offset past the end: success"

run subs subs ls && grep -Eq "^ *CLIENT  *SID  *PATTERN  *GROUP  *DELIVERED\$" "$TMP/subs.out" &&
    grep -Eq "^ *$id  *[0-9]+  *shop\." "$TMP/subs.out"
ok $? "subs ls: billing1's subscriptions on shop.*"
diag_file "$TMP/subs.out"
run subsj subs ls --json --limit 2 && json_ok "$TMP/subsj.out"
ok $? "subs ls --json --limit 2: a document with ok true"

# Streams: shop-server declared shop-placed, over the Placed events shop-client publishes, and
# shop-placed-dead for their dead letters (examples/shop/shop-streams.h).
run sadd stream add shop-placed shop.billing.placed --max-age 7d && grep -q "^already had stream shop-placed\$" "$TMP/sadd.out" &&
    grep -Eq "^subjects  *shop\.billing\.placed\$" "$TMP/sadd.out" && grep -Eq "^messages  *0\$" "$TMP/sadd.out"
ok $? "stream add shop-placed as shop-server declared it: already had it, empty"
diag_file "$TMP/sadd.out"
run sadd2 stream add shopx shop.billing.other --max-msg-size 4096 && grep -q "^created stream shopx\$" "$TMP/sadd2.out"
ok $? "stream add shopx: created"
expect 1 "^trpcctl: stream add: stream shop-placed exists with another definition" "stream add with another definition" -- \
    "$CTL" stream add shop-placed 'shop.>'
expect 2 "^trpcctl: .*--max-msg-size" "--max-msg-size on another command: a usage error" -- "$CTL" stream ls --max-msg-size 5
run slog stream add audit 'audit.>' --max-msgs 1000 --max-bytes 64M --max-age 7d --discard new --dedup-window 0 &&
    grep -Eq "^dedup window \(ms\)  *off\$" "$TMP/slog.out" &&
    grep -Eq "^max msgs  *1000\$" "$TMP/slog.out" && grep -Eq "^max bytes  *67108864\$" "$TMP/slog.out" &&
    grep -Eq "^max age \(ms\)  *604800000\$" "$TMP/slog.out" && grep -Eq "^discard  *new\$" "$TMP/slog.out"
ok $? "stream add with retention: the limits as given (64M, 7d)"
diag_file "$TMP/slog.out"
"$BUILD/examples/shop/shop-client" "$TRPC_URL" 3 >"$TMP/client.out" 2>&1
grep -q "^published 3\$" "$TMP/client.out"
ok $? "shop-client published 3 Placed events"
stored3() {
    "$CTL" stream info shop-placed >"$TMP/sinfo.out" 2>&1 && grep -Eq "^messages  *3\$" "$TMP/sinfo.out" &&
        ! grep -q "stream shop-placed\$" "$TMP/sinfo.out"
}
wait_for stored3
ok $? "stream info shop-placed: 3 messages (and no created line)"
diag_file "$TMP/sinfo.out"
run sls stream ls && grep -Eq "^NAME  *SUBJECTS  *CORE  *MESSAGES  *BYTES  *FIRST  *LAST  *ERROR\$" "$TMP/sls.out" &&
    grep -Eq "^shop-placed  *shop\.billing\.placed  *[01]  *3  *[1-9][0-9]*  *1  *3  *-\$" "$TMP/sls.out"
ok $? "stream ls: shop-placed with 3 messages, sequences 1 to 3"
diag_file "$TMP/sls.out"
run sget stream get shop-placed 2 && grep -Eq "^stream shop-placed seq 2 at [0-9T:+-]+ on shop\.billing\.placed\$" "$TMP/sget.out"
ok $? "stream get shop-placed 2: the stored event"
diag_file "$TMP/sget.out"
expect 1 "^trpcctl: stream get: stream shop-placed has no message 9\$" "stream get of a sequence not stored" -- "$CTL" stream get shop-placed 9
run sgetj stream get shop-placed 1 --json && json_ok "$TMP/sgetj.out"
ok $? "stream get --json: a document with ok true"
run gls group ls shop-placed && grep -Eq "^GROUP  *PATTERN  *MEMBERS  *NEXT  *LAG  *PENDING  *INFLIGHT  *REDELIVERED  *ACKED  *DEAD  *DLQ\$" "$TMP/gls.out" &&
    grep -Eq "^shop_billing  *shop\.billing\.placed  *1  *4  *0 .* shop\.billing\.placed\.dlq\$" "$TMP/gls.out"
ok $? "group ls shop-placed: shop-server's consumer group shop_billing, 1 member, all 3 read, its dead-letter topic"
diag_file "$TMP/gls.out"
expect 1 "^trpcctl: group ls: no stream nope\$" "group ls of no such stream" -- "$CTL" group ls nope
run sdead stream add dead 'dead.>' >/dev/null && run gadd group add shop-placed audit --start seq:2 --max-deliveries 4 --ack-wait 45s \
    --backoff 100,2,5000,0.1 --dlq dead.shop && grep -q "^created consumer group audit of stream shop-placed\$" "$TMP/gadd.out" &&
    grep -Eq "^next seq  *2\$" "$TMP/gadd.out" && grep -Eq "^backoff  *100,2,5000,0.1\$" "$TMP/gadd.out" &&
    grep -Eq "^ack wait \(ms\)  *45000\$" "$TMP/gadd.out" && grep -Eq "^dead-letter topic  *dead.shop\$" "$TMP/gadd.out"
ok $? "group add shop-placed audit: declared with its policy, from sequence 2"
expect 1 "^trpcctl: group add: consumer group audit of stream shop-placed exists with another definition" \
    "group add with another definition" -- "$CTL" group add shop-placed audit
expect 1 "^trpcctl: group add: backoff \"100,2\": " "group add with a bad backoff: the broker says why" -- \
    "$CTL" group add shop-placed other --backoff 100,2
expect 2 "^trpcctl: .*--ack-wait" "--ack-wait that is not a duration: a usage error" -- "$CTL" group add shop-placed other --ack-wait soon
run ginfo group info shop-placed audit && grep -Eq "^lag  *2\$" "$TMP/ginfo.out"
ok $? "group info shop-placed audit: lag 2 (sequences 2 and 3)"
run greset group reset shop-placed audit 1 && grep -q "^reset consumer group audit of stream shop-placed: 0 messages not settled dropped\$" \
    "$TMP/greset.out" && grep -Eq "^next seq  *1\$" "$TMP/greset.out"
ok $? "group reset shop-placed audit 1"
run greset2 group reset shop-placed audit 1h && grep -Eq "^next seq  *1\$" "$TMP/greset2.out"
ok $? "group reset shop-placed audit 1h: from the first stored within the hour"
expect 2 "^trpcctl: group reset: 'soon' is not a sequence" "group reset to nonsense: a usage error" -- \
    "$CTL" group reset shop-placed audit soon
run grm group rm shop-placed audit && grep -q "^deleted consumer group audit of stream shop-placed (0 members, 0 messages not settled)\$" \
    "$TMP/grm.out"
ok $? "group rm shop-placed audit"
expect 1 "^trpcctl: group info: stream shop-placed has no consumer group audit\$" "group info after rm" -- "$CTL" group info shop-placed audit
run sedit stream edit shop-placed shop.billing.placed shop.billing.extra --max-age 7d &&
    grep -q "^updated stream shop-placed\$" "$TMP/sedit.out" && grep -Eq "^subjects  *shop.billing.placed, shop.billing.extra\$" "$TMP/sedit.out"
ok $? "stream edit shop-placed: a subject added"
expect 1 "^trpcctl: stream edit: no stream nope" "stream edit of no such stream" -- "$CTL" stream edit nope 'nope.>'
run spurge stream purge shop-placed && grep -q "^purged stream shop-placed: 3 messages removed\$" "$TMP/spurge.out" &&
    "$CTL" stream info shop-placed >"$TMP/sinfo2.out" 2>&1 && grep -Eq "^messages  *0\$" "$TMP/sinfo2.out"
ok $? "stream purge shop-placed: 3 removed, none left"
diag_file "$TMP/spurge.out"
expect 1 "^trpcctl: stream get: stream shop-placed has no message 2\$" "stream get after the purge" -- "$CTL" stream get shop-placed 2
run srm stream rm shopx && grep -q "^deleted stream shopx\$" "$TMP/srm.out"
ok $? "stream rm shopx"
expect 1 "^trpcctl: stream info: no stream shopx\$" "stream info after rm" -- "$CTL" stream info shopx

run kick clients kick "$id" && grep -q "^kicked client $id\$" "$TMP/kick.out"
ok $? "clients kick $id"
gone() {
    "$CTL" clients ls >"$TMP/after.out" 2>&1 && ! grep -Eq "^ *$id " "$TMP/after.out"
}
wait_for gone
ok $? "the kicked client is gone from clients ls"
back() {
    "$CTL" clients ls >"$TMP/after.out" 2>&1 && grep -Eq "^ *[0-9]+  *billing1 " "$TMP/after.out"
}
wait_for back
ok $? "billing1 reconnected, with a new id"
expect 1 "^trpcctl: clients kick: .*$id" "a second kick of the old id: NOT_FOUND" -- "$CTL" clients kick "$id"

server_stop "$spid"
spid=
kill -TERM "$TRPC_PID"
wait "$TRPC_PID"
ok $? "the broker stops cleanly"
TRPC_PID=
expect 1 "^trpcctl: cannot connect to $TRPC_URL: connection refused\$" "no broker any more" -- "$CTL" server info
done_testing
