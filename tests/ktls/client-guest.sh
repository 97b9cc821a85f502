# shellcheck shell=sh
# tests/ktls/client.sh's guest (busybox sh; tls.ko loaded): libtrpc's kernel TLS, judged by what
# the kernel counts (/proc/net/tls_stat), what the broker logs of each connection, and data that
# arrives whole. The broker runs with tls-offload user, so every socket the kernel counts is a
# client's: over TLS 1.3 the kernel takes their send keys, over TLS 1.2 their receive keys too.
# Programs in /bin, files in /t. Prints "CHECK: ok - ..." or "CHECK: not ok - ..." per check
# (tests/ktls/lib.sh); the broker, the bench runs and the checks are tests/ktls/guest-lib.sh's.
set -u
# shellcheck source=tests/ktls/guest-lib.sh
. /t/guest-lib.sh

# run VERSION MODE TX RX: three bench runs with --tls-offload MODE against the broker that runs
# (7 client connections: 1 publisher and 1 subscriber, 1 responder and 1 requester, 1 publisher
# and 2 subscribers); the kernel must have taken the send keys (TX yes) and the receive keys (RX
# yes) of every one, or of none, and the broker must have read a close_notify from every one.
run() {
    version=$1 offload=$2 ktx=$3 krx=$4
    label="$version, --tls-offload $offload"
    conns=7
    tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw) de0=$(tls_stat TlsDecryptError)
    curtx0=$(tls_stat TlsCurrTxSw) currx0=$(tls_stat TlsCurrRxSw)
    hs0=$(logged ": $version .*user-space TLS") cn0=$(logged "TLS close_notify")
    bench pubsub --size 256
    bench request --size 512k
    bench pubsub --size 64k --subs 2
    # The broker reads the last close_notify just after the last bench exits.
    i=0
    while [ "$(($(logged "TLS close_notify") - cn0))" -lt $conns ] && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    tx=$(($(tls_stat TlsTxSw) - tx0)) rx=$(($(tls_stat TlsRxSw) - rx0)) de=$(($(tls_stat TlsDecryptError) - de0))
    curtx=$(($(tls_stat TlsCurrTxSw) - curtx0)) currx=$(($(tls_stat TlsCurrRxSw) - currx0))
    hs=$(($(logged ": $version .*user-space TLS") - hs0)) cn=$(($(logged "TLS close_notify") - cn0))
    echo "$label: TlsTxSw +$tx, TlsRxSw +$rx, TlsDecryptError +$de, TlsCurrTxSw +$curtx, TlsCurrRxSw +$currx;" \
        "the broker: $hs $version connections, $cn close_notify"
    [ "$hs" -eq $conns ]
    check $? "$label: the broker handshook $version with the $conns client connections (got $hs)"
    want=0
    [ "$ktx" = yes ] && want=$conns
    [ "$tx" -eq "$want" ]
    check $? "$label: TlsTxSw went up by $want, one per client connection whose send keys the kernel took (got +$tx)"
    want=0
    [ "$krx" = yes ] && want=$conns
    [ "$rx" -eq "$want" ]
    check $? "$label: TlsRxSw went up by $want, one per client connection whose receive keys the kernel took (got +$rx)"
    [ "$de" -eq 0 ]
    check $? "$label: no decrypt error (got +$de)"
    [ "$curtx" -eq 0 ] && [ "$currx" -eq 0 ]
    check $? "$label: no kernel TLS socket left behind (TlsCurrTxSw +$curtx, TlsCurrRxSw +$currx)"
    [ "$cn" -eq $conns ]
    check $? "$label: the broker read a close_notify from each of the $conns (got $cn)"
    ! grep -q "handshake failed\|peer=.*: TLS: " /tmp/broker.log
    check $? "$label: the broker saw no failed handshake and no bad record"
}

# tls_version VERSION RX BROKER-ARGS...: the three modes against one broker that leaves TLS to
# user space; RX: whether kernel and auto clients hand the kernel their receive keys too (OpenSSL
# 3.0 does only over TLS 1.2).
tls_version() {
    version=$1 rxkeys=$2
    shift 2
    set -- --tls-offload user "$@"
    if ! start_broker "$@"; then
        check 1 "$version: the broker starts ($*)"
        return
    fi
    check 0 "$version: the broker starts ($*)"
    run "$version" kernel yes "$rxkeys"
    run "$version" auto yes "$rxkeys"
    run "$version" user no no
    grep -m1 "$version" /tmp/broker.log
    stop_broker
    check $? "$version: the broker exits 0 on SIGTERM"
}

# tests/driver/tls_offload where the kernel has TLS: kernel and auto clients over TLS 1.3 and 1.2,
# their keys counted per socket (TLS_TX, TLS_RX), a synchronous request (a direct send), a 1 MiB
# message, a kick and the reconnect after it, a close_notify from each. Its checks become ours;
# its certificates are the host's (client.sh put a mkcerts.sh in /t/tests/tls that copies them
# from /t).
driver_test() {
    top_srcdir=/t TRPC_BROKER=/bin/trpc-broker tls_offload >/tmp/tls_offload.log 2>&1
    rc=$?
    while IFS= read -r line; do
        case "$line" in
        "ok "*) check 0 "tls_offload: ${line#ok * - }" ;;
        "not ok "*) check 1 "tls_offload: ${line#not ok * - }" ;;
        "Bail out!"*) check 1 "tls_offload: $line" ;;
        esac
    done </tmp/tls_offload.log
    [ $rc -eq 0 ] || grep -v '^ok ' /tmp/tls_offload.log
    check $rc "tls_offload exits 0"
    grep -q "^# this kernel has TLS" /tmp/tls_offload.log
    check $? "tls_offload saw the kernel's TLS (its kernel half ran)"
}

tls_version TLSv1.3 no
tls_version TLSv1.2 yes --tls-max-version 1.2
driver_test
echo "--- /proc/net/tls_stat"
cat /proc/net/tls_stat
exit $((fails > 0))
