#!/bin/sh
# The dashboard's JSON API with authentication on (issue 19): POST /api/<verb> needs the bearer
# token of an admin (401 without one or with a bad one, with WWW-Authenticate; 403 for a user who
# is not an admin; 200 for an admin), GET /api/session says authentication is on, the event
# stream is refused until the page has its login, and /metrics stays open with the login
# counters. The users are made as an operator would: trpc-broker user add, then trpcctl token add.
# Needs curl and python3.
. "$top_srcdir/tests/ctl/lib.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
TRPCCTL=${TRPCCTL:-$BUILD/ctl/trpcctl}
if [ ! -x "$TRPC_BROKER" ] || [ ! -x "$TRPCCTL" ]; then echo "1..0 # SKIP broker or trpcctl not built"; exit 0; fi
command -v curl >/dev/null || { echo "1..0 # SKIP curl not installed"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 not installed"; exit 0; }
. "$SRC/perf/server.sh"
TRPC_PID=
stop_all() {
    [ -n "$TRPC_PID" ] && kill -9 "$TRPC_PID" 2>/dev/null && wait "$TRPC_PID" 2>/dev/null
    trpc_data_dirs_remove
    rm -rf "$TMP"
}
trap stop_all EXIT

DATA=$TMP/data
mkdir -p "$DATA"
printf 'root-password-1\n' | "$TRPC_BROKER" user add root --role admin --data-dir "$DATA" >"$TMP/add1.out" 2>&1 &&
    printf 'viewer-password-1\n' | "$TRPC_BROKER" user add viewer --data-dir "$DATA" >"$TMP/add2.out" 2>&1
ok $? "trpc-broker user add: an admin and a user who is not one"
BROKER_ARGS="--auth --data-dir $DATA --http 127.0.0.1:0"
if ! trpc_broker_start "$TMP/broker.log" 2>"$TMP/start.err"; then
    echo "Bail out! broker did not start"
    diag_file "$TMP/start.err"
    exit 99
fi
HP=$TRPC_HTTP_PORT
ADMIN=$(TRPC_PASSWORD=root-password-1 "$TRPCCTL" --url "$TRPC_URL" --user root token add root --name dash | awk '$1 == "token" {print $2}')
VIEWER=$(TRPC_PASSWORD=root-password-1 "$TRPCCTL" --url "$TRPC_URL" --user root token add viewer | awk '$1 == "token" {print $2}')
[ -n "$ADMIN" ] && [ -n "$VIEWER" ]
ok $? "trpcctl token add, logged in as the admin with a password"

req() {
    name=$1 method=$2 path=$3
    shift 3
    curl -s -m 10 -X "$method" -o "$TMP/$name.body" -D "$TMP/$name.head" -w '%{http_code}' "$@" \
        "http://127.0.0.1:$HP$path" >"$TMP/$name.code"
}
code() { cat "$TMP/$1.code"; }
jget() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TMP/$1.body" "$2" 2>/dev/null; }

req session GET /api/session && [ "$(code session)" = 200 ] && [ "$(jget session 'd["auth"]')" = True ]
ok $? "GET /api/session: authentication on"
J="Content-Type: application/json"
X="X-CSRF-Token: $(jget session 'd["csrf"]')"
req none POST /api/server.info -H "$J" -H "$X" -d '{}' && [ "$(code none)" = 401 ] &&
    [ "$(jget none 'd["error"]["code"]')" = UNAUTHORIZED ] && grep -qi '^www-authenticate: Bearer' "$TMP/none.head"
ok $? "no token: 401 UNAUTHORIZED with WWW-Authenticate"
req bad POST /api/server.info -H "$J" -H "$X" -H "Authorization: Bearer trpc_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" -d '{}' &&
    [ "$(code bad)" = 401 ]
ok $? "a token that is not one of the store's: 401"
req viewer POST /api/clients.list -H "$J" -H "$X" -H "Authorization: Bearer $VIEWER" -d '{}' && [ "$(code viewer)" = 403 ] &&
    [ "$(jget viewer 'd["error"]["code"]')" = FORBIDDEN ]
ok $? "a user who is not an admin: 403 FORBIDDEN"
req admin POST /api/server.info -H "$J" -H "$X" -H "Authorization: Bearer $ADMIN" -d '{}' && [ "$(code admin)" = 200 ] &&
    [ "$(jget admin 'd["ok"]')" = True ]
ok $? "the admin's token: 200"
req events GET /api/events -H "Authorization: Bearer $ADMIN" && [ "$(code events)" = 401 ]
ok $? "the event stream is off while authentication is on (the page's login comes next)"
req metrics GET /metrics && [ "$(code metrics)" = 200 ] && grep -q '^trpc_auth_logins_total [1-9]' "$TMP/metrics.body" &&
    grep -q '^trpc_auth_failures_total 0$' "$TMP/metrics.body"
ok $? "/metrics stays open and counts the logins"
! grep -q "root-password-1\|viewer-password-1\|${ADMIN#trpc_????????????????_}" "$TMP/broker.log"
ok $? "no password or token secret in the broker's log"
kill "$TRPC_PID" && wait "$TRPC_PID"
ok $? "the broker stops cleanly"
TRPC_PID=
done_testing
