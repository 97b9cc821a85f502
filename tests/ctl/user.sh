#!/bin/sh
# trpcctl user and token against a real trpc-broker (docs/admin-api.md, "Users and tokens"):
# every command, passwords through standard input (never the command line), the refusals the
# broker and trpcctl make, that no password or token reaches the store's files, and then the same
# store under a broker with auth on: trpcctl logs in with --user (the password from
# $TRPC_PASSWORD or standard input) and with --token or $TRPC_TOKEN, and is refused without.
. "$top_srcdir/tests/ctl/lib.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
[ -x "$TRPC_BROKER" ] || { echo "1..0 # SKIP $TRPC_BROKER not built"; exit 0; }
broker_test_setup

PW_ALICE=alice-pass-1
PW_ALICE2=alice-pass-2
PW_ROOT=root-pass-123

# One data directory for both brokers: the second, with auth on, reads the users the first made.
mkdir "$TMP/data" || exit 99
BROKER_ARGS="--cores 1 --data-dir $TMP/data"
if ! trpc_broker_start "$TMP/broker.log" 2>"$TMP/start.err"; then
    echo "Bail out! broker did not start"
    diag_file "$TMP/start.err"
    exit 99
fi
export TRPC_URL

# run NAME COMMAND...: trpcctl with no input, stdout in $TMP/NAME.out, stderr in $TMP/NAME.err;
# its status. feed INPUT NAME COMMAND...: the same with INPUT (lines) on its standard input.
run() {
    name=$1
    shift
    "$CTL" "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
    rc=$?
    diag_file "$TMP/$name.err"
    return $rc
}
feed() {
    input=$1 name=$2
    shift 2
    printf '%s\n' "$input" | "$CTL" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    rc=$?
    diag_file "$TMP/$name.err"
    return $rc
}

feed "$PW_ALICE" add user add alice --publish 'orders.>' --subscribe 'orders.*' --role admin &&
    grep -q "^added user alice\$" "$TMP/add.out" && grep -Eq "^password  *yes\$" "$TMP/add.out" &&
    grep -Eq "^publish allow  *orders\.>\$" "$TMP/add.out" && grep -Eq "^subscribe allow  *orders\.\*\$" "$TMP/add.out" &&
    grep -Eq "^roles  *admin\$" "$TMP/add.out"
ok $? "user add alice, the password on standard input: her permissions and role"
diag_file "$TMP/add.out"
expect 1 "^trpcctl: user add: user alice exists\$" "user add of alice again" -- "$CTL" user add alice --no-password
feed short addshort user add dan
[ $? -eq 1 ] && grep -q "^trpcctl: user add: password: .*8 to 1024 bytes" "$TMP/addshort.err"
ok $? "user add with a password of 5 bytes: the broker refuses it"
run addnone user add eve
[ $? -eq 1 ] && grep -q "^trpcctl: user add: no password read" "$TMP/addnone.err"
ok $? "user add with no password on standard input: refused before asking the broker"
run addbob user add bob --no-password --cert CN=bob,O=acme && grep -Eq "^password  *no\$" "$TMP/addbob.out" &&
    grep -Eq "^certificate  *CN=bob,O=acme\$" "$TMP/addbob.out"
ok $? "user add bob --no-password --cert: no password, his certificate subject"
expect 1 "^trpcctl: user add: certificate subject CN=bob,O=acme is user bob's\$" "another user with bob's subject" -- \
    "$CTL" user add carl --no-password --cert CN=bob,O=acme
expect 1 "^trpcctl: user add: name: a user name is made of" "a name with a slash" -- "$CTL" user add a/b --no-password
expect 2 "^trpcctl: user add: missing arguments" "user add without a name" -- "$CTL" user add --no-password
expect 2 "^trpcctl: --role is an option of user add" "--role elsewhere" -- "$CTL" user show alice --role admin

run list user list && grep -Eq "^NAME  *ROLES  *ENABLED  *PASSWORD  *CERTIFICATE\$" "$TMP/list.out" &&
    grep -Eq "^alice  *admin  *yes  *yes  *-\$" "$TMP/list.out" && grep -Eq "^bob  *-  *yes  *no  *CN=bob,O=acme\$" "$TMP/list.out"
ok $? "user list: alice and bob"
diag_file "$TMP/list.out"
run show user show alice && grep -Eq "^user  *alice\$" "$TMP/show.out" && grep -Eq "^groups  *any\$" "$TMP/show.out" &&
    grep -q "^no tokens\$" "$TMP/show.out"
ok $? "user show alice"
run showj user show alice --json && python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
u = d["user"]
sys.exit(0 if d["ok"] is True and u["password"] is True and "hash" not in u else 1)' "$TMP/showj.out" &&
    ! grep -q "argon2\|$PW_ALICE" "$TMP/showj.out"
ok $? "user show alice --json: password true, no hash"
expect 1 "^trpcctl: user show: no user nobody\$" "user show of no such user" -- "$CTL" user show nobody

run grant user grant alice publish 'refunds.>' x.y && grep -Eq "^publish allow  *refunds\.>\$" "$TMP/grant.out" &&
    grep -Eq "^publish allow  *x\.y\$" "$TMP/grant.out"
ok $? "user grant alice publish: two patterns added"
run grant2 user grant alice publish 'orders.>' && [ "$(grep -c "^publish allow  *orders\.>\$" "$TMP/grant2.out")" -eq 1 ]
ok $? "a pattern she has is not added twice"
run deny user grant alice publish orders.secret --deny && grep -Eq "^publish deny  *orders\.secret\$" "$TMP/deny.out"
ok $? "user grant --deny: a deny pattern"
run revoke user revoke alice publish x.y never.had && ! grep -q "x\.y" "$TMP/revoke.out" &&
    grep -Eq "^publish allow  *refunds\.>\$" "$TMP/revoke.out"
ok $? "user revoke alice publish: removed; one she never had is no error"
run groups user grant bob groups billing && grep -Eq "^groups  *\*, billing\$" "$TMP/groups.out"
ok $? "user grant bob groups billing: any, and billing"
run norole user revoke alice role admin && grep -Eq "^roles  *-\$" "$TMP/norole.out" &&
    run role user grant alice role admin && grep -Eq "^roles  *admin\$" "$TMP/role.out"
ok $? "user revoke and grant role admin"
expect 2 "^trpcctl: user grant: --deny goes with publish" "--deny with a role" -- "$CTL" user grant alice role admin --deny
expect 2 "^trpcctl: user grant: 'delete' is none of" "user grant of something else" -- "$CTL" user grant alice delete x
expect 2 "^trpcctl: user grant: role takes one role" "role with two" -- "$CTL" user grant alice role admin admin
expect 1 "^trpcctl: user grant: publish.allow: " "a bad pattern: the broker says which" -- "$CTL" user grant alice publish 'a.>.b'

run dis user disable alice && grep -q "^user alice is disabled: its logins are refused\$" "$TMP/dis.out" &&
    run en user enable alice && grep -q "^user alice is enabled\$" "$TMP/en.out"
ok $? "user disable and enable alice"
feed "$PW_ALICE2" passwd user passwd alice && grep -q "^changed the password of user alice\$" "$TMP/passwd.out"
ok $? "user passwd alice, the password on standard input"

run tadd token add alice --name ci --ttl 30d && grep -Eq "^token  *trpc_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\$" "$TMP/tadd.out" &&
    grep -Eq "^name  *ci\$" "$TMP/tadd.out" && grep -Eq "^expires  *[0-9]{4}-" "$TMP/tadd.out"
ok $? "token add alice --name ci --ttl 30d: the token, its name and expiry"
TOK=$(sed -n 's/^token  *//p' "$TMP/tadd.out")
ID=$(sed -n 's/^id  *//p' "$TMP/tadd.out")
SECRET=${TOK#trpc_????????????????_} # the 43 characters after the id: base64url holds "_" too
run tadd2 token add alice && grep -Eq "^expires  *never\$" "$TMP/tadd2.out"
ok $? "token add alice: one that never expires"
expect 2 "^trpcctl: --ttl: '5x' is not a duration" "--ttl that is not a duration" -- "$CTL" token add alice --ttl 5x
expect 2 "^trpcctl: --ttl: '0' is not a duration of a second or more" "--ttl 0" -- "$CTL" token add alice --ttl 0
expect 1 "^trpcctl: token add: no user nobody\$" "token add for no such user" -- "$CTL" token add nobody
run tls token list && grep -Eq "^ID  *USER  *NAME  *CREATED  *EXPIRES\$" "$TMP/tls.out" &&
    grep -Eq "^$ID  *alice  *ci  " "$TMP/tls.out" && [ "$(grep -c " alice " "$TMP/tls.out")" -eq 2 ] &&
    ! grep -q -- "$SECRET" "$TMP/tls.out"
ok $? "token list: alice's two tokens, not their secrets"
diag_file "$TMP/tls.out"
run tlsb token list bob && [ "$(wc -l <"$TMP/tlsb.out")" -eq 1 ]
ok $? "token list bob: none"
run tdel token del "$ID" && grep -q "^deleted token $ID of user alice\$" "$TMP/tdel.out"
ok $? "token del"
expect 1 "^trpcctl: token del: no token $ID\$" "token del of it again" -- "$CTL" token del "$ID"

# Nothing secret at rest: the store holds hashes.
! grep -rqF -e "$PW_ALICE" -e "$PW_ALICE2" -e "$SECRET" "$TMP/data/store" && grep -rqF "\$argon2id\$" "$TMP/data/store"
ok $? "the store's files hold hashes, neither password nor the token's secret"
! grep -qF -e "$PW_ALICE" -e "$PW_ALICE2" -e "$SECRET" "$TMP/broker.log"
ok $? "nor does the broker's log"

run udel user del bob && grep -q "^deleted user bob and its 0 tokens\$" "$TMP/udel.out"
ok $? "user del bob"
expect 1 "^trpcctl: user del: no user bob\$" "user del of him again" -- "$CTL" user del bob

# The same store under a broker with auth on: trpcctl logs in.
feed "$PW_ROOT" root user add root --role admin >/dev/null && run rtok token add root --name ops
ok $? "user add root, an admin, and a token for it"
RTOK=$(sed -n 's/^token  *//p' "$TMP/rtok.out")
server_stop "$TRPC_PID"
TRPC_PID=
BROKER_ARGS="--cores 1 --data-dir $TMP/data --auth"
if ! trpc_broker_start "$TMP/auth.log" 2>"$TMP/start.err"; then
    echo "Bail out! broker with auth did not start"
    diag_file "$TMP/start.err"
    exit 99
fi
export TRPC_URL
expect 1 "^trpcctl: " "no login: refused" -- "$CTL" user list
export TRPC_PASSWORD="$PW_ROOT"
run login --user root user list && grep -Eq "^root  *admin  *yes  *yes" "$TMP/login.out"
ok $? "--user root with \$TRPC_PASSWORD: user list"
unset TRPC_PASSWORD
expect 1 "^trpcctl: " "--user root with a wrong password: refused" -- env TRPC_PASSWORD=wrong-password "$CTL" --user root user list
feed "$PW_ROOT" loginin --user root server info
ok $? "--user root, the password on standard input: server info"
feed "$PW_ROOT
alice-pass-3" loginpw --user root user passwd alice && grep -q "^changed the password of user alice\$" "$TMP/loginpw.out"
ok $? "--user root and user passwd: the login's password first, then the new one"
run tok --token "$RTOK" user show root && grep -Eq "^user  *root\$" "$TMP/tok.out"
ok $? "--token: user show root"
export TRPC_TOKEN="$RTOK"
run tokenv token list root && grep -q " root  *ops " "$TMP/tokenv.out"
ok $? "\$TRPC_TOKEN: token list root"
unset TRPC_TOKEN
run norole2 --token "$RTOK" user revoke alice role admin && grep -Eq "^roles  *-\$" "$TMP/norole2.out"
ok $? "--token: user revoke alice role admin"
expect 1 "^trpcctl: " "alice, no admin now: refused" -- env TRPC_PASSWORD=alice-pass-3 "$CTL" --user alice user list
expect 2 "^trpcctl: give --user or --token, not both" "--user and --token" -- "$CTL" --user root --token "$RTOK" server info

server_stop "$TRPC_PID"
TRPC_PID=
done_testing
