#!/bin/sh
# The dashboard's JSON API with authentication on: POST /api/<verb> needs the bearer token of an
# admin (401 without one or with a bad one, with WWW-Authenticate; 403 for a user who is not an
# admin; 200 for an admin) or the session of the dashboard's login. The login: the same answer for
# a wrong password and an unknown user, 403 for a user who is not an admin, an HttpOnly
# SameSite=Strict cookie whose secret the body never shows, a CSRF token of the session's own that
# every call must carry, an event stream that the logout ends at once and that a user disabled
# ends within seconds, sessions ended by a disabled user or a new password, guessing counted and
# logged. /metrics stays open with the login counters; no password or secret reaches the log. The
# users are made as an operator would: trpc-broker user add, then trpcctl. Needs curl and python3.
. "$top_srcdir/tests/ctl/lib.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
TRPCCTL=${TRPCCTL:-$BUILD/ctl/trpcctl}
if [ ! -x "$TRPC_BROKER" ] || [ ! -x "$TRPCCTL" ]; then echo "1..0 # SKIP broker or trpcctl not built"; exit 0; fi
command -v curl >/dev/null || { echo "1..0 # SKIP curl not installed"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 not installed"; exit 0; }
broker_test_setup

DATA=$TMP/data
mkdir -p "$DATA"
printf 'root-password-1\n' | "$TRPC_BROKER" user add root --role admin --data-dir "$DATA" >"$TMP/add1.out" 2>&1 &&
    printf 'viewer-password-1\n' | "$TRPC_BROKER" user add viewer --data-dir "$DATA" >"$TMP/add2.out" 2>&1 &&
    printf 'ops-password-1\n' | "$TRPC_BROKER" user add ops --role admin --data-dir "$DATA" >"$TMP/add3.out" 2>&1
ok $? "trpc-broker user add: two admins and a user who is not one"
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
req events GET /api/events -H "Authorization: Bearer $ADMIN" -N -m 2
[ "$(code events)" = 200 ] && grep -q '^event: history' "$TMP/events.body"
ok $? "the event stream with an admin's token: 200 and the history"
req events_none GET /api/events && [ "$(code events_none)" = 401 ] && [ "$(jget events_none 'd["error"]["code"]')" = UNAUTHORIZED ]
ok $? "the event stream without a login: 401"
req metrics GET /metrics && [ "$(code metrics)" = 200 ] && grep -q '^trpc_auth_logins_total [1-9]' "$TMP/metrics.body" &&
    grep -q '^trpc_auth_failures_total 1$' "$TMP/metrics.body" &&
    grep -q 'auth: dashboard API call peer=127.0.0.1:[0-9]* refused: the bearer token is not valid' "$TMP/broker.log"
ok $? "/metrics stays open and counts the logins, and the unknown token as a failure, logged with its peer"

# ---- the dashboard's login
RUN_X=$X
login() { # NAME USER PASSWORD [JAR]: POST /api/login with this run's CSRF token
    req "$1" POST /api/login -H "$J" -H "$RUN_X" -c "$TMP/${4:-jar}" -d "{\"user\": \"$2\", \"password\": \"$3\"}"
}
req nocsrf POST /api/login -H "$J" -d '{"user": "root", "password": "root-password-1"}' && [ "$(code nocsrf)" = 403 ] &&
    [ "$(jget nocsrf 'd["error"]["code"]')" = CSRF ]
ok $? "a login without this run's CSRF token: 403 CSRF"
login wrong root wrong-password-1 && login unknown nobody wrong-password-1 && [ "$(code wrong)" = 401 ] &&
    [ "$(code unknown)" = 401 ] && cmp -s "$TMP/wrong.body" "$TMP/unknown.body" &&
    [ "$(jget wrong 'd["error"]["message"]')" = "bad credentials" ] && ! grep -qi '^set-cookie' "$TMP/wrong.head"
ok $? "a wrong password and an unknown user: the same 401 'bad credentials', no cookie"
login notadmin viewer viewer-password-1 && [ "$(code notadmin)" = 403 ] && [ "$(jget notadmin 'd["error"]["code"]')" = FORBIDDEN ] &&
    ! grep -qi '^set-cookie' "$TMP/notadmin.head"
ok $? "a user who is not an admin: 403 FORBIDDEN, no cookie"
req badlogin POST /api/login -H "$J" -H "$RUN_X" -d '{"user": "root"}' && [ "$(code badlogin)" = 400 ]
ok $? "a login without a password: 400"
req direct POST /api/session.login -H "$J" -H "$RUN_X" -d '{"user": "root", "password": "root-password-1"}' &&
    [ "$(code direct)" = 404 ]
ok $? "the session verbs are not admin verbs of their own: 404"

login root root root-password-1 && [ "$(code root)" = 200 ] && [ "$(jget root 'd["user"]')" = root ] &&
    grep -i "^set-cookie: trpc_session_$HP=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict" "$TMP/root.head" >/dev/null &&
    [ "$(jget root '"session" in d')" = False ]
ok $? "the admin's login: 200, an HttpOnly SameSite=Strict cookie, its secret not in the body"
SECRET=$(sed -n "s/^[Ss]et-[Cc]ookie: trpc_session_$HP=\([0-9a-f]*\);.*/\1/p" "$TMP/root.head")
SX="X-CSRF-Token: $(jget root 'd["csrf"]')"
req me GET /api/session -b "$TMP/jar" && [ "$(jget me 'd["user"]')" = root ] && [ "X-CSRF-Token: $(jget me 'd["csrf"]')" = "$SX" ] &&
    [ "$SX" != "$RUN_X" ]
ok $? "GET /api/session with the cookie: the user and the session's own CSRF token"
req call POST /api/server.info -H "$J" -H "$SX" -b "$TMP/jar" -d '{}' && [ "$(code call)" = 200 ]
ok $? "an admin call with the session and its token: 200"
req runx POST /api/server.info -H "$J" -H "$RUN_X" -b "$TMP/jar" -d '{}' && [ "$(code runx)" = 403 ] &&
    [ "$(jget runx 'd["error"]["code"]')" = CSRF ] && req nox POST /api/server.info -H "$J" -b "$TMP/jar" -d '{}' &&
    [ "$(code nox)" = 403 ]
ok $? "the session with this run's token, or none: 403 CSRF"
req forged POST /api/server.info -H "$J" -H "$SX" -H "Cookie: trpc_session_$HP=$(printf '%064d' 0)" -d '{}' && [ "$(code forged)" = 401 ]
ok $? "a session cookie the broker did not make: 401"

# The logout ends the session's event stream at once (curl would otherwise wait its 20 s).
curl -s -N -m 20 -b "$TMP/jar" -o "$TMP/stream.out" "http://127.0.0.1:$HP/api/events" &
STREAM=$!
i=0
while [ $i -lt 50 ] && ! grep -q '^event: history' "$TMP/stream.out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
req logout POST /api/logout -H "$J" -H "$SX" -b "$TMP/jar" -d '{}' && [ "$(code logout)" = 200 ] &&
    grep -qi "^set-cookie: trpc_session_$HP=; Max-Age=0" "$TMP/logout.head"
ok $? "the logout: 200, the cookie cleared"
i=0
while [ $i -lt 50 ] && kill -0 "$STREAM" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
! kill -0 "$STREAM" 2>/dev/null && grep -q '^event: history' "$TMP/stream.out"
ok $? "the logout ends the session's event stream"
kill "$STREAM" 2>/dev/null
wait "$STREAM" 2>/dev/null
req after POST /api/server.info -H "$J" -H "$SX" -H "Cookie: trpc_session_$HP=$SECRET" -d '{}' && [ "$(code after)" = 401 ]
ok $? "the session's cookie after the logout: 401"

# A user disabled: the session ends at its next call, its event stream within seconds.
login ops ops ops-password-1 ops.jar && [ "$(code ops)" = 200 ]
ok $? "a second admin logs in"
OX="X-CSRF-Token: $(jget ops 'd["csrf"]')"
curl -s -N -m 30 -b "$TMP/ops.jar" -o "$TMP/ops_stream.out" "http://127.0.0.1:$HP/api/events" &
STREAM=$!
sleep 0.5
TRPC_TOKEN=$ADMIN "$TRPCCTL" --url "$TRPC_URL" user disable ops >"$TMP/disable.out" 2>&1
ok $? "trpcctl user disable ops"
req ops_call POST /api/server.info -H "$J" -H "$OX" -b "$TMP/ops.jar" -d '{}' && [ "$(code ops_call)" = 401 ] &&
    jget ops_call 'd["error"]["message"]' | grep -q 'disabled'
ok $? "the disabled user's session: 401, saying why"
i=0
while [ $i -lt 150 ] && kill -0 "$STREAM" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
! kill -0 "$STREAM" 2>/dev/null
ok $? "the disabled user's event stream ends within the recheck period"
kill "$STREAM" 2>/dev/null
wait "$STREAM" 2>/dev/null

# A new password ends the sessions opened with the old one.
TRPC_TOKEN=$ADMIN "$TRPCCTL" --url "$TRPC_URL" user enable ops >"$TMP/enable.out" 2>&1 &&
    login ops2 ops ops-password-1 ops.jar && [ "$(code ops2)" = 200 ]
ok $? "enabled again, the user logs in again"
OX="X-CSRF-Token: $(jget ops2 'd["csrf"]')"
OS=$(sed -n "s/^[Ss]et-[Cc]ookie: trpc_session_$HP=\([0-9a-f]*\);.*/\1/p" "$TMP/ops2.head")
req c1 POST /api/server.info -H "$J" -H "$OX" -H "Cookie: theme=dark; trpc_session_$HP=$OS; lang=en" -d '{}' &&
    req c2 POST /api/server.info -H "$J" -H "$OX" -H "Cookie: xtrpc_session_$HP=$OS" -d '{}' &&
    req c3 POST /api/server.info -H "$J" -H "$OX" -H "Cookie: trpc_session_$HP=${OS}0" -d '{}' &&
    req c4 POST /api/server.info -H "$J" -H "$OX" -H "Cookie: trpc_session_$HP=$(printf '%04000d' 0)" -d '{}' &&
    req c5 POST /api/server.info -H "$J" -H "$OX" -H "Cookie: a=1" -H "Cookie: trpc_session_$HP=$OS" -d '{}' &&
    [ "$(code c1)$(code c2)$(code c3)$(code c4)$(code c5)" = 200401401401200 ]
ok $? "the session cookie among others, in a second Cookie header; not under another name, longer, or 4000 bytes long"
printf 'ops-password-2\n' | TRPC_TOKEN=$ADMIN "$TRPCCTL" --url "$TRPC_URL" user passwd ops >"$TMP/passwd.out" 2>&1 &&
    req ops_call2 POST /api/server.info -H "$J" -H "$OX" -b "$TMP/ops.jar" -d '{}' && [ "$(code ops_call2)" = 401 ] &&
    jget ops_call2 'd["error"]["message"]' | grep -q 'password changed'
ok $? "a new password ends the session: 401"
diag_file "$TMP/passwd.out"

req fails GET /metrics && grep -q '^trpc_auth_failures_total 3$' "$TMP/fails.body" &&
    [ "$(grep -c 'authentication failed' "$TMP/broker.log")" = 2 ] && grep -q 'peer=127.0.0.1:[0-9]* user=nobody' "$TMP/broker.log"
ok $? "the dashboard's failed logins are counted and logged with the peer"
! grep -q "root-password-1\|viewer-password-1\|ops-password-[12]\|$SECRET\|${ADMIN#trpc_????????????????_}" "$TMP/broker.log"
ok $? "no password, token secret or session secret in the broker's log"
# A machine with no CPU to spare: the password worker rests after each hash (pace_rest). Spinners
# at nice 10, two for every CPU for the time of three logins (one each could leave the worker a
# CPU of its own for a while, as the scheduler balances them, which is CPU to spare); the rests
# counted must grow.
rest_total() {
    req "$1" GET /metrics && sed -n 's/^trpc_auth_rest_seconds_total \(.*\)$/\1/p' "$TMP/$1.body"
}
rest0=$(rest_total rest0)
SPIN=
for _ in $(seq $(($(nproc) * 2))); do
    nice -n 10 timeout 60 sh -c 'while :; do :; done' &
    SPIN="$SPIN $!"
done
rc=0
for i in 1 2 3; do
    # The worker at nice 19 beside the spinners and whatever else the machine runs: up to 60 s.
    req "busy$i" POST /api/login -H "$J" -H "$RUN_X" -c "$TMP/busy.jar" -m 60 \
        -d '{"user": "root", "password": "root-password-1"}' && [ "$(code "busy$i")" = 200 ] || rc=1
done
# shellcheck disable=SC2086
kill $SPIN 2>/dev/null
for p in $SPIN; do wait "$p" 2>/dev/null; done
rest1=$(rest_total rest1)
[ $rc -eq 0 ] && awk -v a="${rest0:-x}" -v b="${rest1:-x}" 'BEGIN { exit !(a ~ /^[0-9.]+$/ && b > a) }'
ok $? "with every CPU busy, the password worker rests between hashes (${rest0:-?} s, then ${rest1:-?} s in all)"

# Logins held by the guessing delays take at most a few of the calls' slots, and two from one
# address: past the address's free failures, six logins at once from it leave four refused at once
# (503 with Retry-After), the API answering meanwhile, and a login from another address going
# through. On a busy machine one of the two let through may wait 3 s for the password worker and
# get the same 503.
for i in 1 2 3 4 5 6 7 8 9 10 11; do login "guess$i" "guesser$i" wrong-password-1; done
HELD=
for i in 1 2 3 4 5 6; do
    login "held$i" guesser wrong-password-1 &
    HELD="$HELD $!"
done
sleep 0.1
req during POST /api/server.info -H "$J" -H "$RUN_X" -H "Authorization: Bearer $ADMIN" -d '{}'
req other POST /api/login -H "$J" -H "$RUN_X" -c "$TMP/other.jar" --interface 127.0.0.2 -m 60 \
    -d '{"user": "root", "password": "root-password-1"}'
for p in $HELD; do wait "$p"; done
busy=0 refused=0
for i in 1 2 3 4 5 6; do
    case $(code "held$i") in
    503) grep -qi '^retry-after: 1' "$TMP/held$i.head" && busy=$((busy + 1)) ;;
    401) refused=$((refused + 1)) ;;
    esac
done
[ "$busy" -ge 4 ] && [ $((busy + refused)) -eq 6 ] && [ "$(code during)" = 200 ] && [ "$(code other)" = 200 ]
ok $? "six delayed logins at once: $busy refused with Retry-After, $refused answered, the API served meanwhile, another address's login $(code other)"

# Unknown tokens as fast as curl asks: each refused and counted, the log written once a second.
lines0=$(grep -c 'auth: dashboard API call peer=' "$TMP/broker.log")
req f0 GET /metrics
f0=$(sed -n 's/^trpc_auth_failures_total \(.*\)$/\1/p' "$TMP/f0.body")
start=$(date +%s)
n=0
for i in $(seq 40); do
    req "flood" POST /api/server.info -H "$J" -H "$X" -H "Authorization: Bearer trpc_$(printf %016d "$i")_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" -d '{}' &&
        [ "$(code flood)" = 401 ] && n=$((n + 1))
done
secs=$(($(date +%s) - start + 1))
req f1 GET /metrics
f1=$(sed -n 's/^trpc_auth_failures_total \(.*\)$/\1/p' "$TMP/f1.body")
lines=$(($(grep -c 'auth: dashboard API call peer=' "$TMP/broker.log") - lines0))
[ "$n" -eq 40 ] && [ "$((f1 - f0))" -eq 40 ] && [ "$lines" -le "$secs" ] && [ "$lines" -lt 40 ] && grep -q 'more refused since the last line' "$TMP/broker.log"
ok $? "40 unknown tokens: $n refused, $((f1 - f0)) failures counted, $lines lines logged in ${secs} s"

kill "$TRPC_PID" && wait "$TRPC_PID"
ok $? "the broker stops cleanly"
TRPC_PID=
done_testing
