#!/bin/sh
# The dashboard's HTTP side (issue 20): its files with their security headers, Chart.js from
# Debian's package, GET /api/session, every admin verb through POST /api/<verb> answered by the
# same handlers as trpcctl's, and what is refused: other methods, another content type, a missing
# or wrong CSRF token, a foreign Origin or Host (DNS rebinding), bad JSON, an oversized body, an
# unknown verb. The live stream /api/events: its history, one snapshot a second whose rates move
# with traffic, a bounded number of streams, and a clean stop with streams open. Needs curl and
# python3.
. "$top_srcdir/tests/ctl/lib.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
[ -x "$TRPC_BROKER" ] || { echo "1..0 # SKIP $TRPC_BROKER not built"; exit 0; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl not installed"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 not installed"; exit 0; }
broker_test_setup

BROKER_ARGS="--cores 2 --http 127.0.0.1:0"
if ! trpc_broker_start "$TMP/broker.log" 2>"$TMP/start.err"; then
    echo "Bail out! broker did not start"
    diag_file "$TMP/start.err"
    exit 99
fi
HP=$TRPC_HTTP_PORT
[ -n "$HP" ]
ok $? "the broker logs where its dashboard is (port $HP)"

# req NAME METHOD PATH [CURL ARGS...]: status into $TMP/NAME.code, headers and body beside.
req() {
    name=$1 method=$2 path=$3
    shift 3
    curl -s -m 10 -X "$method" -o "$TMP/$name.body" -D "$TMP/$name.head" -w '%{http_code}' "$@" \
        "http://127.0.0.1:$HP$path" >"$TMP/$name.code"
}
code() { cat "$TMP/$1.code"; }
# jget NAME EXPR: a member of NAME's JSON body, by a Python expression on `d`.
jget() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TMP/$1.body" "$2" 2>/dev/null; }

req index GET / && [ "$(code index)" = 200 ] && grep -qi '^content-type: text/html' "$TMP/index.head" &&
    grep -qi "^content-security-policy: default-src 'self'" "$TMP/index.head" &&
    grep -qi '^x-content-type-options: nosniff' "$TMP/index.head" && grep -qi '<html' "$TMP/index.body"
ok $? "/: the dashboard's page, with a content security policy and nosniff"
etag=$(sed -n 's/^etag: *\("[0-9a-f]*"\).*/\1/Ip' "$TMP/index.head" | tr -d '\r')
req again GET / -H "If-None-Match: $etag" && [ "$(code again)" = 304 ] && [ ! -s "$TMP/again.body" ]
ok $? "an unchanged page: 304 to If-None-Match $etag"
curl -s -m 5 --http2 -o /dev/null -w '%{http_version}' "http://127.0.0.1:$HP/healthz" >"$TMP/h2c.out"
! curl -s -m 5 --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$HP/healthz" && [ "$(cat "$TMP/h2c.out")" = 1.1 ]
ok $? "HTTP/1.1 only: no upgrade to cleartext HTTP/2, no HTTP/2 preface"
n=0 bad=
for f in "$SRC"/dashboard/www/*; do
    b=$(basename "$f")
    req file GET "/$b" && [ "$(code file)" = 200 ] && cmp -s "$f" "$TMP/file.body" && n=$((n + 1)) || bad="$bad $b"
done
[ -z "$bad" ] && [ "$n" -gt 0 ]
ok $? "every file of dashboard/www/ is served as it is in the tree ($n; wrong:${bad:- none})"
if [ -r /usr/share/javascript/chart.js/chart.min.js ]; then
    req chart GET /vendor/chart.min.js && [ "$(code chart)" = 200 ] &&
        cmp -s /usr/share/javascript/chart.js/chart.min.js "$TMP/chart.body" &&
        grep -qi '^content-type: text/javascript' "$TMP/chart.head"
    ok $? "/vendor/chart.min.js: Debian's libjs-chart.js, as installed"
else
    req chart GET /vendor/chart.min.js && [ "$(code chart)" = 404 ] && grep -q libjs-chart.js "$TMP/chart.body"
    ok $? "/vendor/chart.min.js without libjs-chart.js: 404 naming the package"
fi

req session GET /api/session && [ "$(code session)" = 200 ] && [ "$(jget session 'd["auth"]')" = False ]
ok $? "GET /api/session: 200, authentication off"
CSRF=$(jget session 'd["csrf"]')
expr "$CSRF" : '[0-9a-f]\{32\}$' >/dev/null
ok $? "the session's CSRF token: 32 hex digits"
J="Content-Type: application/json"
X="X-CSRF-Token: $CSRF"

req info POST /api/server.info -H "$J" -H "$X" -d '{}' && [ "$(code info)" = 200 ] &&
    [ "$(jget info 'd["ok"]')" = True ] && [ "$(jget info 'd["cores"]')" = 2 ]
ok $? "POST /api/server.info: 200 and the admin API's document"
req empty POST /api/settings.get -H "$J" -H "$X" && [ "$(code empty)" = 200 ] &&
    [ "$(jget empty 'len(d["settings"]) > 10')" = True ]
ok $? "an empty body is {} (settings.get lists every setting)"

# Every verb of the admin API answers over HTTP with its own document: {} is enough for the
# reads and a BAD_REQUEST or NOT_FOUND for the others, never UNKNOWN_VERB.
nverbs=0 unknown=
for v in $(sed -n '/^} verbs\[\] = {/,/^};/p' "$SRC/src/admin_api.c" | grep -o '"[a-z]*\.[a-z]*"' | tr -d '"'); do
    nverbs=$((nverbs + 1))
    req verb POST "/api/$v" -H "$J" -H "$X" -d '{}'
    c=$(code verb)
    ok_member=$(jget verb 'd["ok"]')
    errc=$(jget verb 'd["error"]["code"] if not d["ok"] else ""')
    case "$c:$ok_member:$errc" in
    200:True:) ;;
    400:False:BAD_REQUEST | 404:False:NOT_FOUND) ;;
    *) unknown="$unknown $v($c:$errc)" ;;
    esac
done
[ "$nverbs" -ge 20 ] && [ -z "$unknown" ]
ok $? "each of the $nverbs admin verbs answers over HTTP (off:${unknown:- none})"

req kick POST /api/clients.kick -H "$J" -H "$X" -d '{"id": 12}' && [ "$(code kick)" = 404 ] &&
    [ "$(jget kick 'd["error"]["code"]')" = NOT_FOUND ]
ok $? "an admin error keeps its document, with an HTTP status of its code (NOT_FOUND: 404)"
req set POST /api/settings.set -H "$J" -H "$X" -d '{"name": "keepalive", "value": "17s"}' && [ "$(code set)" = 200 ] &&
    "$CTL" --url "$TRPC_URL" settings get keepalive 2>/dev/null | grep -q 17s
ok $? "settings.set over HTTP is in force for trpcctl too"
req live POST /api/settings.set -H "$J" -H "$X" -d '{"name": "listen", "value": "127.0.0.1:1"}' && [ "$(code live)" = 409 ] &&
    [ "$(jget live 'd["error"]["code"]')" = NOT_LIVE ]
ok $? "a setting that is not live: 409 NOT_LIVE"
req st1 POST /api/stream.add -H "$J" -H "$X" -d '{"name": "conflict", "subjects": ["conflict.a"]}' && [ "$(code st1)" = 200 ] &&
    req st2 POST /api/stream.add -H "$J" -H "$X" -d '{"name": "conflict", "subjects": ["conflict.b"]}' &&
    [ "$(code st2)" = 409 ] && [ "$(jget st2 'd["error"]["code"]')" = STREAM_EXISTS ] &&
    req gr1 POST /api/group.add -H "$J" -H "$X" -d '{"stream": "conflict", "name": "g", "max_deliveries": 3}' &&
    [ "$(code gr1)" = 200 ] &&
    req gr2 POST /api/group.add -H "$J" -H "$X" -d '{"stream": "conflict", "name": "g", "max_deliveries": 4}' &&
    [ "$(code gr2)" = 409 ] && [ "$(jget gr2 'd["error"]["code"]')" = GROUP_EXISTS ] &&
    req std POST /api/stream.delete -H "$J" -H "$X" -d '{"name": "conflict"}' && [ "$(code std)" = 200 ]
ok $? "a stream, then a group, declared again otherwise: 409 STREAM_EXISTS and GROUP_EXISTS"
req inval POST /api/settings.set -H "$J" -H "$X" -d '{"name": "keepalive", "value": "soon"}' && [ "$(code inval)" = 422 ]
ok $? "a value the setting refuses: 422 INVALID_VALUE"
req reset POST /api/settings.reset -H "$J" -H "$X" -d '{"name": "keepalive"}' && [ "$(code reset)" = 200 ]
ok $? "settings.reset over HTTP"

req nocsrf POST /api/server.info -H "$J" -d '{}' && [ "$(code nocsrf)" = 403 ] && [ "$(jget nocsrf 'd["error"]["code"]')" = CSRF ]
ok $? "no CSRF token: 403 CSRF"
req badcsrf POST /api/clients.kick -H "$J" -H "X-CSRF-Token: 0123456789abcdef0123456789abcdef" -d '{"id": 1}' &&
    [ "$(code badcsrf)" = 403 ]
ok $? "a wrong CSRF token: 403"
req form POST /api/server.info -H "$X" -H "Content-Type: text/plain" -d '{}' && [ "$(code form)" = 415 ]
ok $? "a body that is not application/json (what a cross-site form can send): 415"
req origin POST /api/server.info -H "$J" -H "$X" -H "Origin: http://evil.example" -d '{}' && [ "$(code origin)" = 403 ]
ok $? "a foreign Origin: 403"
req sameorigin POST /api/server.info -H "$J" -H "$X" -H "Origin: http://127.0.0.1:$HP" -d '{}' && [ "$(code sameorigin)" = 200 ]
ok $? "the dashboard's own Origin: 200"
req rebind GET /api/session -H "Host: evil.example:$HP" && [ "$(code rebind)" = 421 ] && ! grep -q "$CSRF" "$TMP/rebind.body"
ok $? "a Host that is a name (DNS rebinding): 421, no token"
req lh GET /api/session -H "Host: localhost:$HP" && [ "$(code lh)" = 200 ] &&
    req v6 GET /api/session -H "Host: [::1]:$HP" && [ "$(code v6)" = 200 ]
ok $? "Host localhost and an IPv6 address are taken"
req metricsname GET /metrics -H "Host: broker.example:$HP" && [ "$(code metricsname)" = 200 ]
ok $? "/metrics answers any Host (scrapers use names)"
req get GET /api/server.info && [ "$(code get)" = 405 ] && grep -qi '^allow: POST' "$TMP/get.head"
ok $? "GET on a verb: 405, Allow: POST"
req put PUT / -d x && [ "$(code put)" = 405 ]
ok $? "PUT on a page: 405"
req psession POST /api/session -H "$J" -H "$X" -d '{}' && [ "$(code psession)" = 405 ] &&
    req pevents POST /api/events -H "$J" -H "$X" -d '{}' && [ "$(code pevents)" = 405 ] &&
    req devents DELETE /api/events && [ "$(code devents)" = 405 ]
ok $? "POST on /api/session, POST and DELETE on /api/events: 405"
req badjson POST /api/server.info -H "$J" -H "$X" -d '{"a": ' && [ "$(code badjson)" = 400 ] &&
    jget badjson 'd["error"]["message"]' | grep -q "not JSON"
ok $? "bad JSON: 400 BAD_REQUEST saying where"
req array POST /api/server.info -H "$J" -H "$X" -d '[1]' && [ "$(code array)" = 400 ]
ok $? "a JSON array: 400"
req unknown POST /api/no.such -H "$J" -H "$X" -d '{}' && [ "$(code unknown)" = 404 ] &&
    [ "$(jget unknown 'd["error"]["code"]')" = UNKNOWN_VERB ]
ok $? "an unknown verb: 404 UNKNOWN_VERB"
req weird POST '/api/../../etc/passwd' -H "$J" -H "$X" -d '{}' --path-as-is && [ "$(code weird)" != 200 ] &&
    ! grep -q root: "$TMP/weird.body"
ok $? "a path with dots: refused ($(code weird)), nothing read"
head -c 70000 /dev/zero | tr '\0' ' ' >"$TMP/big.json"
req big POST /api/server.info -H "$J" -H "$X" --data-binary "@$TMP/big.json" && [ "$(code big)" = 413 ] &&
    req after POST /api/server.info -H "$J" -H "$X" -d '{}' && [ "$(code after)" = 200 ]
ok $? "a 70 KB body: 413, and the server goes on"

# The live stream: history first, then a snapshot a second whose rates see traffic.
curl -s -N -m 6 "http://127.0.0.1:$HP/api/events" >"$TMP/sse.out" &
sse=$!
sleep 1
if [ -x "$BUILD/perf/trpc-bench" ]; then
    "$BUILD/perf/trpc-bench" pubsub --url "$TRPC_URL" --size 16 --duration 3 >"$TMP/bench.out" 2>&1
fi
wait "$sse"
python3 - "$TMP/sse.out" >"$TMP/sse.check" 2>&1 <<'EOF'
import json, sys
events, cur = [], {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line:
        if "data" in cur:
            events.append((cur.get("event"), json.loads(cur["data"])))
        cur = {}
    elif ":" in line:
        k, v = line.split(":", 1)
        cur[k] = v[1:] if v.startswith(" ") else v
assert events[0][0] == "history", events[0][0]
assert isinstance(events[0][1]["points"], list)
snaps = [d for e, d in events if e == "snapshot"]
assert len(snaps) >= 4, len(snaps)
ts = [s["t"] for s in snaps]
assert all(b > a for a, b in zip(ts, ts[1:])), ts
for s in snaps:
    assert len(s["cores"]) == 2 and s["store_up"] is True
    assert "msgs_in" in s["rates"] and "connections" in s["totals"]
    assert all(0 <= c["cpu"] < 4 for c in s["cores"]), s["cores"]
peak = max(s["rates"]["msgs_in"] for s in snaps)
print("snapshots", len(snaps), "peak msgs_in/s", peak)
assert peak > 1000, peak
EOF
rc=$?
[ -x "$BUILD/perf/trpc-bench" ] || rc=0
[ "$rc" -eq 0 ]
ok $? "/api/events: history, then one snapshot a second whose msgs_in rate sees trpc-bench ($(tail -n1 "$TMP/sse.check"))"
diag_file "$TMP/sse.check"

# Streams and consumer groups in /metrics: collected from their cores every 5 s, while
# trpc-bench's durable workload runs (its stream "bench" and its consumer group).
if [ -x "$BUILD/perf/trpc-bench" ]; then
    "$BUILD/perf/trpc-bench" durable --url "$TRPC_URL" --subs 1 --duration 9 >"$TMP/durable.out" 2>&1 &
    bench=$!
    i=0 stored=0
    while [ $i -lt 40 ]; do
        curl -s -m 5 "http://127.0.0.1:$HP/metrics" >"$TMP/sm.body"
        stored=$(sed -n 's/^trpc_stream_stored_total{stream="bench"} \([0-9]*\)$/\1/p' "$TMP/sm.body")
        [ -n "$stored" ] && [ "$stored" -gt 0 ] && break
        sleep 0.25
        i=$((i + 1))
    done
    wait "$bench"
    synced=$(sed -n 's/^trpc_wal_sync_duration_seconds_count{stream="bench"} \([0-9]*\)$/\1/p' "$TMP/sm.body")
    inf=$(sed -n 's/^trpc_wal_sync_duration_seconds_bucket{stream="bench",le="+Inf"} \([0-9]*\)$/\1/p' "$TMP/sm.body")
    # The broker's logs write with O_DSYNC: a batch's write and its sync are one completion, one
    # sample in each histogram, taken together.
    written=$(sed -n 's/^trpc_wal_write_duration_seconds_count{stream="bench"} \([0-9]*\)$/\1/p' "$TMP/sm.body")
    [ -n "$stored" ] && [ "$stored" -gt 0 ] && [ -n "$synced" ] && [ "$synced" -gt 0 ] && [ "$inf" = "$synced" ] &&
        [ "$written" = "$synced" ] &&
        (for family in members lag pending inflight delivered_total redelivered_total acked_total dead_lettered_total \
            termed_total; do
            grep -q "^trpc_group_$family{stream=\"bench\",group=\"[^\"]*\"} [0-9]" "$TMP/sm.body" || exit 1
        done) &&
        grep -q '^trpc_stream_metrics_age_seconds [0-9]' "$TMP/sm.body"
    ok $? "/metrics: a stream's figures, its log's sync and write latencies and its group's ($stored stored, $synced batches synced, $written written)"
    if command -v promtool >/dev/null; then
        promtool check metrics <"$TMP/sm.body" >"$TMP/sm.promtool" 2>&1 && [ ! -s "$TMP/sm.promtool" ]
        ok $? "promtool check metrics with streams and groups: no error and no warning"
        diag_file "$TMP/sm.promtool"
    fi
fi

# At most 16 streams at once: the 17th gets 503; once they go, a new one is served.
pids=
for i in $(seq 16); do
    curl -s -N -m 20 "http://127.0.0.1:$HP/api/events" >"$TMP/s$i.out" &
    pids="$pids $!"
done
i=0
while [ $i -lt 100 ] && [ "$(grep -l '^event: history' "$TMP"/s*.out 2>/dev/null | wc -l)" -lt 16 ]; do
    sleep 0.1
    i=$((i + 1))
done
req seventeen GET /api/events -m 2 && [ "$(code seventeen)" = 503 ]
r17=$?
# shellcheck disable=SC2086 # the PIDs, word-split on purpose
kill $pids 2>/dev/null
# shellcheck disable=SC2086
wait $pids 2>/dev/null
# The server learns that a stream's client left when it next writes to it (a snapshot a second).
i=0
while [ $i -lt 20 ]; do
    curl -s -N -m 1 -D "$TMP/again.head" "http://127.0.0.1:$HP/api/events" >"$TMP/again.out"
    grep -q '^event: history' "$TMP/again.out" && break
    sleep 0.5
    i=$((i + 1))
done
[ "$r17" -eq 0 ] && grep -q '^event: history' "$TMP/again.out"
ok $? "16 event streams at once: the 17th gets 503 ($(code seventeen)), and after they close one is served again (after $i tries)"
head -n1 "$TMP/again.head" | diag_file /dev/stdin

# A clean stop with event streams open and admin calls going on (the sanitizer builds check that
# nothing leaks): every call gets its answer, 200 or 503 SHUTTING_DOWN, or a closed connection
# once the server is gone; none waits out the drain.
curl -s -N -m 30 "http://127.0.0.1:$HP/api/events" >"$TMP/open1.out" &
c1=$!
curl -s -N -m 30 "http://127.0.0.1:$HP/api/events" >/dev/null &
python3 - "$HP" "$CSRF" "$TMP/hammer.ready" >"$TMP/hammer.out" 2>&1 <<'EOF' &
import http.client, sys, threading, time
port, token, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
codes, lock = {}, threading.Lock()
def hammer():
    end = time.time() + 15
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            while time.time() < end:
                c.request("POST", "/api/server.info", "{}", {"Content-Type": "application/json", "X-CSRF-Token": token})
                r = c.getresponse()
                r.read()
                with lock:
                    codes[r.status] = codes.get(r.status, 0) + 1
                    if r.status == 200 and codes[200] == 1:
                        open(ready, "w").close()
        except (OSError, http.client.HTTPException) as e:
            with lock:
                codes["closed"] = codes.get("closed", 0) + 1
            if isinstance(e, ConnectionRefusedError):
                return  # the broker is gone
            time.sleep(0.05)
threads = [threading.Thread(target=hammer) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(" ".join("%s=%d" % (k, v) for k, v in sorted(codes.items(), key=lambda kv: str(kv[0]))))
EOF
hammer=$!
# SIGTERM once the calls are going (python may take a while to start on a loaded machine).
i=0
while [ $i -lt 100 ] && [ ! -e "$TMP/hammer.ready" ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$TRPC_PID"
i=0
while [ $i -lt 200 ] && server_alive "$TRPC_PID"; do sleep 0.05; i=$((i + 1)); done
wait "$TRPC_PID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
TRPC_PID=
wait "$c1"
crc=$?
wait "$hammer"
[ "$rc" -eq 0 ] && grep -q "stopped" "$TMP/broker.log" && [ "$crc" -eq 0 ]
ok $? "SIGTERM with two event streams open: a clean stop (exit $rc), the streams end cleanly (curl $crc)"
! grep -q "still open at stop" "$TMP/broker.log" && grep -q '\(^\| \)200=' "$TMP/hammer.out" &&
    ! grep -Eq '(^| )(4[0-9][0-9]|500)=' "$TMP/hammer.out"
ok $? "admin calls going on at SIGTERM are answered, none left for the drain ($(cat "$TMP/hammer.out"); stopped in $ms ms)"
diag_file "$TMP/broker.log" | grep -i "error\|leak\|sanitizer" || true

done_testing
