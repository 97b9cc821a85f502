#!/bin/bash
# tests/ktls/smoke.sh: the QEMU guest of tests/ktls/vm.sh does kernel TLS. Debian's own openssl
# (3.0, built with kTLS) runs `s_server -WWW` and `s_client` over 127.0.0.1 in a guest booted on
# Debian 12's stock kernel with tls.ko loaded, and transfers a 1 MiB file. OpenSSL 3.0's s_server
# and s_client have no -ktls option (3.2 added it): kTLS is switched on by the config file's
# "Options = KTLS" in the system_default SSL_CONF section (OPENSSL_CONF), which every SSL_CTX gets.
#   - TLS 1.3, TLS_AES_128_GCM_SHA256: kTLS sends on both ends (OpenSSL 3.0 never receives with
#     kTLS under 1.3), so /proc/net/tls_stat's TlsTxSw goes up by 2 and TlsRxSw stays;
#   - the same with `s_server -sendfile` (SSL_sendfile, only possible with kTLS send);
#   - TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256 (the test certificates are P-256): send and receive
#     on both ends, TlsTxSw and TlsRxSw up by 2;
# the file arrives intact and TlsDecryptError stays 0. Certificates: tests/tls/mkcerts.sh.
#
# TAP. Skips ("1..0 # SKIP") where vm.sh cannot run (no qemu, busybox or cpio; no kernel to be had:
# vm.sh exits 77), unless TRPC_REQUIRE_QEMU=1 (CI), which makes that a failure. It runs once per CI,
# in the plain build: a sanitizer build (which builds nothing this test runs) and distcheck's build
# skip it. About 15 s with the kernel cached (vm.sh --cache, default /var/tmp/trpc-ktls), plus a
# 70 MB download the first time.
set -u
# shellcheck source=tests/ktls/lib.sh
. "${top_srcdir:-${srcdir:-$(dirname "$0")/../..}}/tests/ktls/lib.sh"
ktls_prepare
openssl=$(command -v openssl)

# The guest's part (busybox sh, in /t with the certificates). Prints "CHECK: ok - ..." or
# "CHECK: not ok - ..." per check, and exits non-zero if any failed.
cat >"$work/guest.sh" <<'GUEST'
fails=0
check() { # check STATUS DESCRIPTION
    if [ "$1" -eq 0 ]; then echo "CHECK: ok - $2"; else echo "CHECK: not ok - $2"; fails=$((fails + 1)); fi
}
counter() { awk -v k="$1" '$1 == k {print $2}' /proc/net/tls_stat; }
# SSL_OP_ENABLE_KTLS for every SSL_CTX the openssl command makes.
cat >/tmp/ktls.cnf <<'EOF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_module
[ssl_module]
system_default = ktls
[ktls]
Options = KTLS
EOF
export OPENSSL_CONF=/tmp/ktls.cnf
size=1048576
mkdir -p /tmp/www
head -c $size /dev/urandom >/tmp/www/payload
port=4433

# tls NAME "S_SERVER ARGS" "S_CLIENT ARGS" TX RX: one transfer of /payload, then the counters
# TlsTxSw and TlsRxSw must have gone up by TX and RX.
tls() {
    name=$1 sargs=$2 cargs=$3 etx=$4 erx=$5
    tx0=$(counter TlsTxSw) rx0=$(counter TlsRxSw) de0=$(counter TlsDecryptError)
    t0=$(cut -d' ' -f1 /proc/uptime)
    # shellcheck disable=SC2086 # the argument lists split on purpose
    (cd /tmp/www && exec openssl s_server -accept 127.0.0.1:$port -cert /t/server.pem -key /t/server.key \
        -WWW -naccept 1 $sargs) >/tmp/server.log 2>&1 &
    spid=$!
    hex=$(printf '%04X' $port)
    i=0
    while ! grep -q "0100007F:$hex 00000000:0000 0A" /proc/net/tcp && kill -0 $spid 2>/dev/null && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    # -quiet: no session dump, and keep reading after stdin's end until the server closes.
    # shellcheck disable=SC2086
    printf 'GET /payload HTTP/1.0\r\n\r\n' | timeout 120 openssl s_client -connect 127.0.0.1:$port \
        -servername localhost -CAfile /t/ca.pem -verify_return_error -quiet $cargs \
        >/tmp/out 2>/tmp/client.log
    crc=$?
    i=0
    while kill -0 $spid 2>/dev/null && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill $spid 2>/dev/null
    wait $spid
    src=$?
    t1=$(cut -d' ' -f1 /proc/uptime)
    tx=$(($(counter TlsTxSw) - tx0)) rx=$(($(counter TlsRxSw) - rx0)) de=$(($(counter TlsDecryptError) - de0))
    echo "$name: s_client status $crc, s_server status $src, $(wc -c </tmp/out) bytes received," \
        "TlsTxSw +$tx, TlsRxSw +$rx, TlsDecryptError +$de, $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s"
    check $crc "$name: s_client ended well"
    check $src "$name: s_server served one connection and ended well"
    head -n1 /tmp/out | grep -q '^HTTP/1.0 200 ok'
    check $? "$name: the answer is HTTP 200"
    tail -c $size /tmp/out | cmp -s - /tmp/www/payload
    check $? "$name: the 1 MiB file arrived intact"
    [ "$tx" -eq "$etx" ]
    check $? "$name: TlsTxSw went up by $etx (kTLS send installed, got +$tx)"
    [ "$rx" -eq "$erx" ]
    check $? "$name: TlsRxSw went up by $erx (kTLS receive installed, got +$rx)"
    [ "$de" -eq 0 ]
    check $? "$name: no decrypt error"
    case "$sargs" in
    *-sendfile*)
        ! grep -q 'sendfile requested but KTLS is not available' /tmp/server.log
        check $? "$name: s_server used SSL_sendfile (kTLS send on)"
        ;;
    esac
    if [ $crc -ne 0 ] || [ $src -ne 0 ] || [ "$tx" -ne "$etx" ] || [ "$rx" -ne "$erx" ]; then
        echo "--- s_server:"; cat /tmp/server.log
        echo "--- s_client:"; cat /tmp/client.log
    fi
    port=$((port + 1))
}

tls13="-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256"
tls12="-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256"
tls "TLS 1.3" "$tls13" "$tls13" 2 0
tls "TLS 1.3 sendfile" "$tls13 -sendfile" "$tls13" 2 0
tls "TLS 1.2" "$tls12" "$tls12" 2 2
echo "--- /proc/net/tls_stat:"
cat /proc/net/tls_stat
exit $((fails > 0))
GUEST

ktls_vm --bin "$openssl" --file "$work/certs/ca.pem" --file "$work/certs/server.pem" \
    --file "$work/certs/server.key" --run "$work/guest.sh"
