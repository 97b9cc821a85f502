#!/bin/sh
# trpc-broker user (src/user_cli.c): add, list, passwd and del on an embedded store in a data
# directory of its own, with the password from standard input; what each refuses, in one line and
# exit status 1 (2 for a bad command line); the password in no file of the data directory; a
# broker running on the directory keeps the command out, saying what to use instead. Then, when
# redis-server and redis-cli are installed, a user added to a Redis store of our own: in the users
# hash, the password in no key and no value.
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
SRC=$(cd "$top_srcdir" && pwd)
BUILD=$(cd "$top_builddir" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/trpc-user-cli.XXXXXX") || exit 99
# shellcheck source=tests/tap.sh
. "$SRC/tests/tap.sh"
# shellcheck source=perf/server.sh
. "$SRC/perf/server.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
[ -x "$TRPC_BROKER" ] || { echo "1..0 # SKIP $TRPC_BROKER not built"; exit 0; }
TRPC_PID=
REDIS_PID=
# shellcheck disable=SC2317 # the trap calls it
cleanup() {
    if [ -n "$TRPC_PID" ]; then server_stop "$TRPC_PID" 2; fi
    if [ -n "$REDIS_PID" ]; then server_stop "$REDIS_PID" 2; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

DATA=$TMP/data
mkdir "$DATA"
PW1="Pw1-$$-tangerine-Walrus"
PW2="Pw2-$$-quartz-Heron"
printf '%s\n' "$PW1" >"$TMP/pw1"
printf '%s\n' "$PW2" >"$TMP/pw2"
# user VERB ARGS...: trpc-broker user on the test's data directory.
# shellcheck disable=SC2317 # expect and run call it
user() {
    _verb=$1
    shift
    "$TRPC_BROKER" user "$_verb" "$@" --data-dir "$DATA"
}
# run DESCRIPTION -- COMMAND...: one point, passing when COMMAND exits 0 (stdout in $TMP/out,
# stderr in $TMP/err, shown when it fails).
run() {
    what=$1
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    ok "$rc" "$what (exit status $rc)"
    [ "$rc" -eq 0 ] || diag_file "$TMP/err"
}
# hash_of NAME: the Argon2id hash the embedded store holds for NAME (records are stored as written).
hash_of() {
    grep -a -o "$1{[^}]*\"hash\":\"[^\"]*\"" "$DATA/store/users.db" | sed 's/.*"hash":"\([^"]*\)"/\1/'
}

"$TRPC_BROKER" user --help >"$TMP/out" 2>"$TMP/err" && [ ! -s "$TMP/err" ] &&
    grep -q '^usage: trpc-broker user add NAME' "$TMP/out" && grep -q 'trpc-broker user passwd NAME' "$TMP/out" &&
    grep -q 'trpc-broker user del NAME' "$TMP/out" && grep -q 'trpc-broker user list' "$TMP/out"
ok $? "user --help: the four commands, on stdout"
expect 2 '^usage: trpc-broker user' "user alone: the usage" -- "$TRPC_BROKER" user
expect 2 "unknown command 'frob'" "an unknown command" -- "$TRPC_BROKER" user frob
expect 2 "the user's name comes first" "add without a name" -- user add
expect 2 "'bad name': a user name is made of" "a name with a space" -- user add "bad name"
expect 2 'publish.allow: "a..b" is not a topic pattern' "add with a bad --publish pattern" -- user add x --publish a..b
expect 2 'the one role is admin' "--role root" -- user add x --role root
expect 2 '--role is an option of add' "list --role" -- user list --role admin
expect 2 "unknown option '--bogus'" "a broker option that does not exist" -- user list --bogus 1
[ ! -e "$DATA/store/users.db" ]
ok $? "nothing written by the refused commands"

run "add alice --role admin, the password on stdin" -- user add alice --role admin <"$TMP/pw1"
grep -qx 'user alice added (admin)' "$TMP/out"
ok $? "add says so on stdout"
H1=$(hash_of alice)
case $H1 in
"\$argon2id\$v=19\$m=19456,t=2,p=1\$"*) ok 0 "the record holds an Argon2id hash with the default parameters" ;;
*) ok 1 "the record holds an Argon2id hash with the default parameters (got '$H1')" ;;
esac
grep -a -q 'alice{"roles":\["admin"\],"enabled":true,"created":[0-9]*,"updated":[0-9]*,"hash":' "$DATA/store/users.db" &&
    ! grep -a -q '"publish"\|"subscribe"\|"request"' "$DATA/store/users.db"
ok $? "roles admin, enabled, created and updated; no topic lists for an admin not given any"
run "list" -- user list
grep -q '^alice  *admin  *yes  *yes  *-$' "$TMP/out"
ok $? "list shows alice: admin, enabled, with a password"
diag_file "$TMP/out"
expect 1 '^trpc-broker user: user alice exists' "adding alice again fails clearly" -- user add alice <"$TMP/pw2"
[ "$(hash_of alice)" = "$H1" ]
ok $? "and leaves her record alone"
: >"$TMP/empty"
expect 1 'empty' "add with an empty standard input fails" -- user add nopw <"$TMP/empty"

run "add bob --no-password --publish --subscribe" -- user add bob --no-password --publish 'orders.>' --subscribe 'orders.*' \
    --subscribe audit </dev/null
grep -a -q 'bob{"roles":\[\],"enabled":true,"publish":{"allow":\["orders.>"\]},"subscribe":{"allow":\["orders.\*","audit"\]},' \
    "$DATA/store/users.db" && ! grep -a -q 'bob{[^}]*"hash"' "$DATA/store/users.db"
ok $? "bob's record: the lists given, no hash"
run "list" -- user list
grep -q '^bob  *-  *yes  *no  *-$' "$TMP/out" && [ "$(sed -n 2p "$TMP/out" | cut -d' ' -f1)" = alice ]
ok $? "list shows bob without a password, after alice"

run "passwd alice" -- user passwd alice <"$TMP/pw2"
grep -qx 'password of user alice changed' "$TMP/out"
ok $? "passwd says so on stdout"
H2=$(hash_of alice)
[ -n "$H2" ] && [ "$H2" != "$H1" ] && grep -a -q 'alice{"roles":\["admin"\]' "$DATA/store/users.db"
ok $? "alice has a new hash, and is still an admin"
expect 1 '^trpc-broker user: no such user: carol$' "passwd of a user that does not exist" -- user passwd carol <"$TMP/pw2"

run "del bob" -- user del bob
run "list" -- user list
! grep -q '^bob ' "$TMP/out" && grep -q '^alice ' "$TMP/out"
ok $? "bob is gone, alice is not"
expect 1 '^trpc-broker user: no such user: bob$' "del bob again fails clearly" -- user del bob

! grep -r -a -q -F -e "$PW1" -e "$PW2" "$DATA"
ok $? "neither password is in any file under the data directory"

# A broker on the directory holds the store: the command says so, and names trpcctl user.
BROKER_ARGS="--cores 1 --http off --data-dir $DATA"
if trpc_broker_start "$TMP/broker.log" 2>"$TMP/start.err"; then
    expect 1 'in use by another process.*trpcctl user' "add while a broker runs on the data directory" -- user add dave <"$TMP/pw1"
    [ "$(wc -l <"$TMP/err")" -eq 1 ]
    ok $? "in one line"
    expect 1 'in use by another process' "list too" -- user list
    server_stop "$TRPC_PID"
    TRPC_PID=
    run "list once the broker stopped" -- user list
else
    diag_file "$TMP/start.err"
    ok 1 "a broker starts on the data directory"
fi

# Redis: a server of our own on a free loopback port, stopped by its PID.
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
    redis_server_start "$TMP/redis.log" || { echo "Bail out! redis-server did not start"; exit 99; }
    rcli() { redis-cli -p "$REDIS_PORT" --raw "$@"; }
    STORE=$REDIS_URL
    run "add rita to the Redis store" -- user add rita --store "$STORE" --publish 'x.>' <"$TMP/pw1"
    [ "$(rcli hexists trpc:users rita)" = 1 ] && rcli hget trpc:users rita | grep -q -F "\"hash\":\"\$argon2id\$v=19\$"
    ok $? "the users hash trpc:users holds rita, with an Argon2id hash"
    run "add sam under --store-prefix t2:" -- user add sam --store "$STORE" --store-prefix t2: <"$TMP/pw2"
    [ "$(rcli hexists t2:users sam)" = 1 ] && [ "$(rcli hexists trpc:users sam)" = 0 ]
    ok $? "sam is in t2:users only"
    run "list the Redis store" -- user list --store "$STORE"
    grep -q '^rita  *-  *yes  *yes  *-$' "$TMP/out"
    ok $? "list shows rita"
    # Every key and every field and value of the hashes; strings and other types as they dump.
    for key in $(rcli --scan); do
        echo "$key"
        case $(rcli type "$key") in
        hash) rcli hgetall "$key" ;;
        string) rcli get "$key" ;;
        *) rcli dump "$key" ;;
        esac
    done >"$TMP/redis.dump"
    grep -q '^trpc:users$' "$TMP/redis.dump" && ! grep -a -q -F -e "$PW1" -e "$PW2" "$TMP/redis.dump"
    ok $? "no key nor value in Redis holds a password ($(wc -l <"$TMP/redis.dump") lines)"
    # Two tokens and a certificate of rita's, a token of someone else's: del takes rita's only.
    rcli hset trpc:users rita '{"roles":[],"enabled":true,"cert":"CN=rita,O=t"}' >/dev/null &&
        rcli hset trpc:certs 'CN=rita,O=t' '{"user":"rita"}' >/dev/null &&
        rcli hset trpc:tokens 0000000000000001 '{"user":"rita","name":"a","hash":"00","expires":0,"created":1}' >/dev/null &&
        rcli hset trpc:tokens 0000000000000002 '{"user":"rita","name":"b","hash":"00","expires":0,"created":1}' >/dev/null &&
        rcli hset trpc:tokens 0000000000000003 '{"user":"ritaX","name":"c","hash":"00","expires":0,"created":1}' >/dev/null
    ok $? "rita gets a certificate and two tokens, ritaX a token (redis-cli)"
    run "del rita from the Redis store" -- user del rita --store "$STORE"
    grep -qx 'user rita deleted, and its 2 tokens' "$TMP/out"
    ok $? "del says it took her two tokens"
    [ "$(rcli hexists trpc:users rita)" = 0 ] && [ "$(rcli hexists trpc:certs 'CN=rita,O=t')" = 0 ] &&
        [ "$(rcli hlen trpc:tokens)" = 1 ] && [ "$(rcli hexists trpc:tokens 0000000000000003)" = 1 ]
    ok $? "rita, her certificate's entry and her tokens are gone; ritaX's token is not"
    server_stop "$REDIS_PID"
    REDIS_PID=
else
    tap_n=$((tap_n + 1))
    echo "ok $tap_n # SKIP redis-server, redis-cli or python3 not installed"
fi

done_testing
