#!/bin/sh
# The dashboard over HTTPS (issue 20): a broker with a TLS listener serves its HTTP side with the
# same certificate, its log says https://, the pages, the login (its cookie Secure), the API (Origin
# https://) and /metrics answer a client that checks the chain and the name, plaintext HTTP to that port is refused at once, and
# a certificate reload (SIGHUP) reaches it while a reload that fails leaves it as it was. Needs
# curl and openssl (certificates from tests/tls/mkcerts.sh).
. "$top_srcdir/tests/ctl/lib.sh"

TRPC_BROKER=${TRPC_BROKER:-$BUILD/src/trpc-broker}
[ -x "$TRPC_BROKER" ] || { echo "1..0 # SKIP $TRPC_BROKER not built"; exit 0; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl not installed"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl not installed"; exit 0; }
broker_test_setup

sh "$SRC/tests/tls/mkcerts.sh" "$TMP/certs" >/dev/null 2>&1 || { echo "Bail out! mkcerts.sh failed"; exit 99; }
C=$TMP/certs
# The broker reads the files where they are at each reload: copies that the test can swap.
cp "$C/server.pem" "$TMP/cert.pem" && cp "$C/server.key" "$TMP/key.pem"
mkdir -p "$TMP/data"
printf 'admin-password-1\n' | "$TRPC_BROKER" user add root --role admin --data-dir "$TMP/data" >"$TMP/add.out" 2>&1 ||
    { echo "Bail out! trpc-broker user add failed"; diag_file "$TMP/add.out"; exit 99; }
BROKER_ARGS="--cores 2 --auth --data-dir $TMP/data --http 127.0.0.1:0 --tls-listen 127.0.0.1:0 --tls-cert $TMP/cert.pem --tls-key $TMP/key.pem"
if ! trpc_broker_start "$TMP/broker.log" 2>"$TMP/start.err"; then
    echo "Bail out! broker did not start"
    diag_file "$TMP/start.err"
    exit 99
fi
HP=$TRPC_HTTP_PORT
grep -q "dashboard on https://127.0.0.1:$HP/" "$TMP/broker.log"
ok $? "a broker with a TLS listener serves its dashboard over HTTPS (port $HP)"

# get NAME PATH [CURL ARGS...]: over HTTPS to localhost, the test CA trusted.
get() {
    name=$1 path=$2
    shift 2
    curl -s -m 10 --cacert "$C/ca.pem" -o "$TMP/$name.body" -D "$TMP/$name.head" -w '%{http_code}' "$@" \
        "https://localhost:$HP$path" >"$TMP/$name.code"
}
code() { cat "$TMP/$1.code"; }

get hz /healthz && [ "$(code hz)" = 200 ] && [ "$(cat "$TMP/hz.body")" = ok ]
ok $? "/healthz over HTTPS, the chain and the name checked"
get page / && [ "$(code page)" = 200 ] && grep -q '<title>' "$TMP/page.body"
ok $? "the dashboard's page over HTTPS"
get m /metrics && [ "$(code m)" = 200 ] && grep -q '^trpc_build_info' "$TMP/m.body"
ok $? "/metrics over HTTPS"
get s /api/session && [ "$(code s)" = 200 ]
ok $? "/api/session over HTTPS"
CSRF=$(sed -n 's/.*"csrf":"\([0-9a-f]*\)".*/\1/p' "$TMP/s.body")
get login /api/login -X POST -H "Content-Type: application/json" -H "X-CSRF-Token: $CSRF" -H "Origin: https://localhost:$HP" \
    -c "$TMP/jar" -d '{"user": "root", "password": "admin-password-1"}' && [ "$(code login)" = 200 ] &&
    grep -qi "^set-cookie: __Host-trpc_session_$HP=.*; HttpOnly; SameSite=Strict; Secure" "$TMP/login.head"
ok $? "the login over HTTPS: its cookie is Secure, and __Host- (this host only, no Domain)"
CSRF=$(sed -n 's/.*"csrf":"\([0-9a-f]*\)".*/\1/p' "$TMP/login.body")
get info /api/server.info -X POST -H "Content-Type: application/json" -H "X-CSRF-Token: $CSRF" \
    -H "Origin: https://localhost:$HP" -b "$TMP/jar" -d '{}' && [ "$(code info)" = 200 ]
ok $? "an admin call from the page's own origin, https://localhost:$HP"
get cross /api/server.info -X POST -H "Content-Type: application/json" -H "X-CSRF-Token: $CSRF" \
    -H "Origin: http://localhost:$HP" -b "$TMP/jar" -d '{}' && [ "$(code cross)" = 403 ]
ok $? "the same origin with http:// instead of https://: 403"

t0=$(date +%s)
curl -s -m 10 -o /dev/null "http://127.0.0.1:$HP/healthz"
rc=$?
t1=$(date +%s)
[ "$rc" -ne 0 ] && [ $((t1 - t0)) -lt 5 ]
ok $? "plaintext HTTP to the HTTPS port fails at once (curl exit $rc), no hang"
get after /healthz && [ "$(code after)" = 200 ]
ok $? "and the server goes on"

# A reload reaches the HTTP side: the self-signed certificate, then served to whoever trusts it.
cp "$C/self.pem" "$TMP/cert.pem" && cp "$C/self.key" "$TMP/key.pem"
kill -HUP "$TRPC_PID"
i=0
while [ $i -lt 50 ] && ! grep -q "http: TLS certificates reloaded" "$TMP/broker.log"; do sleep 0.1; i=$((i + 1)); done
curl -s -m 10 --cacert "$C/self.pem" -o /dev/null -w '%{http_code}' "https://localhost:$HP/healthz" >"$TMP/self.code"
get old /healthz
[ "$(cat "$TMP/self.code")" = 200 ] && [ "$(code old)" != 200 ]
ok $? "SIGHUP: the HTTPS side serves the new certificate, the old chain no longer verifies"

# A reload that fails (a key of another certificate) leaves the HTTPS side as it was.
cp "$C/server.key" "$TMP/key.pem"
kill -HUP "$TRPC_PID"
i=0
while [ $i -lt 50 ] && ! grep -q "SIGHUP: TLS certificates not reloaded" "$TMP/broker.log"; do sleep 0.1; i=$((i + 1)); done
sleep 0.3
curl -s -m 10 --cacert "$C/self.pem" -o /dev/null -w '%{http_code}' "https://localhost:$HP/healthz" >"$TMP/self2.code"
[ "$(cat "$TMP/self2.code")" = 200 ] && [ "$(grep -c "http: TLS certificates reloaded" "$TMP/broker.log")" = 1 ]
ok $? "a reload that fails leaves the HTTPS side with the certificate it had"

server_stop "$TRPC_PID"
rc=$?
TRPC_PID=
grep -q "stopped" "$TMP/broker.log"
ok $? "a clean stop"
diag_file "$TMP/broker.log" | grep -i "error\|leak\|sanitizer" || true

# The listener's TLS versions and suites hold on the dashboard's port too: it carries passwords.
BROKER_ARGS="--cores 1 --data-dir $TMP/data2 --http 127.0.0.1:0 --tls-listen 127.0.0.1:0 --tls-cert $C/server.pem --tls-key $C/server.key --tls-min-version 1.3 --tls-ciphersuites TLS_AES_256_GCM_SHA384"
mkdir -p "$TMP/data2"
trpc_broker_start "$TMP/broker2.log" 2>"$TMP/start2.err"
HP=$TRPC_HTTP_PORT
get v13 /healthz --tlsv1.3 && [ "$(code v13)" = 200 ]
v13=$?
get v12 /healthz --tlsv1.2 --tls-max 1.2
v12=$(code v12)
get aes128 /healthz --tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256
aes128=$(code aes128)
[ "$v13" -eq 0 ] && [ "$v12" = 000 ] && [ "$aes128" = 000 ]
ok $? "tls-min-version 1.3 and tls-ciphersuites on the HTTPS side: TLS 1.3 served, TLS 1.2 ($v12) and another suite ($aes128) refused"
server_stop "$TRPC_PID"
TRPC_PID=

done_testing
