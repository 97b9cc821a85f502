# shellcheck shell=sh
# tests/ktls/broker.sh's guest (busybox sh; tls.ko loaded): the broker's TLS listener with kernel
# TLS, judged by what the kernel counts (/proc/net/tls_stat), what the broker says of each
# connection (clients.list), and data that arrives whole. Programs in /bin, files in /t. Prints
# "CHECK: ok - ..." or "CHECK: not ok - ..." per check (tests/ktls/lib.sh); the broker, the bench
# runs and the checks are tests/ktls/guest-lib.sh's.
set -u
# shellcheck source=tests/ktls/guest-lib.sh
. /t/guest-lib.sh

# The TLS paths clients.list gives for the connections there are now ("TLSv1.3 kernel-tx"...).
paths() {
    trpcctl --url trpc://127.0.0.1:$port --timeout $connect_ms --json clients ls | tr ',' '\n' |
        sed -n 's/.*"tls": *"\([^"]*\)".*/\1/p' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# keys YES WHICH STAT DELTA: the kernel took the WHICH (send, receive) keys of each of the broker's
# 9 TLS connections of a run, STAT (TlsTxSw, TlsRxSw) up by DELTA: 9 (YES yes), or 0 (no). The
# clients stay in user space (tests/ktls/client.sh counts theirs), so the count is the broker's.
keys() {
    want=0
    [ "$1" = yes ] && want=9
    [ "$4" -eq $want ]
    check $? "$label: the kernel took the $2 keys of $want of the broker's connections ($3 +$4)"
}

# openssl s_client ARGS... against the TLS port, what it sends from stdin, its output (-msg: every
# record, alerts named) in /tmp/s_client.log.
s_client() {
    timeout 60 openssl s_client -connect 127.0.0.1:$tport -CAfile /t/ca.pem -verify_return_error "$@" \
        >/tmp/s_client.log 2>&1
}

# run LABEL PATH TX RX BROKER-ARGS...: pub/sub and 512 KiB requests over TLS; the path the broker
# gives its TLS connections while they run; whether the kernel took the send (TX) and receive
# (RX) keys of the broker's connections; the close_notify both ways.
run() {
    label=$1 want=$2 kernel=$3 krx=$4
    shift 4
    offload=user
    if ! start_broker "$@"; then
        check 1 "$label: the broker starts ($*)"
        return
    fi
    check 0 "$label: the broker starts ($*)"
    tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw) de0=$(tls_stat TlsDecryptError)
    # shellcheck disable=SC2086 # $bench_waits: options and their values
    trpc-bench pubsub --url "$url" --tls-ca /t/ca.pem --tls-offload user $bench_waits --duration 3 --quiet >/tmp/bg.log 2>&1 &
    bg=$!
    # The path, read while the run goes on (its connections may take a while to be set up here).
    got=
    while kill -0 $bg 2>/dev/null; do
        sleep 0.5
        got=$(paths)
        [ "$got" = "$want" ] && break
    done
    wait $bg
    rc=$?
    why=
    [ $rc -eq 0 ] || why=" (exit status $rc: $(tail -n 1 /tmp/bg.log))"
    check $rc "$label: a pub/sub run of 3 s$why"
    [ $rc -eq 0 ] || { cat /tmp/bg.log; grep -v " DEBUG " /tmp/broker.log | tail -n 20; }
    [ "$got" = "$want" ]
    check $? "$label: clients.list says \"tls\": \"$want\" for each TLS connection (\"$got\")"
    bench pubsub --size 256
    bench request --size 512k
    bench pubsub --size 64k --subs 2
    tx=$(($(tls_stat TlsTxSw) - tx0)) rx=$(($(tls_stat TlsRxSw) - rx0)) de=$(($(tls_stat TlsDecryptError) - de0))
    keys "$kernel" send TlsTxSw "$tx"
    keys "$krx" receive TlsRxSw "$rx"
    [ "$de" -eq 0 ]
    check $? "$label: no record the kernel could not decrypt (TlsDecryptError +$de)"
    ! grep -q "handshake failed" /tmp/broker.log
    check $? "$label: no handshake failed"
    c=$(logged "TLS close_notify")
    [ "$c" -eq 9 ]
    check $? "$label: the close_notify of each of the 9 clients reached the broker ($c)"
    # Bytes that are no TRPC frame, through TLS: the broker answers ERR, closes, and its last
    # record is a close_notify (under kernel TLS written by the drained hook).
    printf 'not a TRPC frame\n' | s_client -msg -ign_eof
    grep -q "Alert.*close_notify" /tmp/s_client.log
    check $? "$label: a connection the broker closes gets its close_notify"
    grep "Alert" /tmp/s_client.log | head -n2
    grep -m1 "TLSv1" /tmp/broker.log
    stop_broker
    check $? "$label: the broker exits 0 on SIGTERM"
}

run "TLS 1.3, tls-offload kernel" "TLSv1.3 kernel-tx" yes no --tls-offload kernel
run "TLS 1.2, tls-offload kernel" "TLSv1.2 kernel" yes yes --tls-offload kernel --tls-max-version 1.2
run "TLS 1.3, tls-offload auto" "TLSv1.3 kernel-tx" yes no
run "TLS 1.2, tls-offload auto" "TLSv1.2 kernel" yes yes --tls-max-version 1.2
run "TLS 1.3, tls-offload user" "TLSv1.3 user" no no --tls-offload user

# TLS 1.2 sessions resumed (an abbreviated handshake, the client's Finished last, maybe with data
# behind it) under kernel receive.
label="TLS 1.2 resumed, tls-offload kernel"
if start_broker --tls-offload kernel --tls-max-version 1.2; then
    rx0=$(tls_stat TlsRxSw)
    s_client -tls1_2 -reconnect </dev/null
    r=$(grep -c "^Reused, TLSv1.2" /tmp/s_client.log)
    [ "$r" -ge 1 ]
    check $? "$label: openssl s_client -reconnect resumed its session ($r times)"
    [ $(($(tls_stat TlsRxSw) - rx0)) -eq 6 ]
    check $? "$label: the kernel took the receive keys of all 6 connections (TlsRxSw +$(($(tls_stat TlsRxSw) - rx0)))"
    ! grep -q "handshake failed" /tmp/broker.log
    check $? "$label: no handshake failed"
    stop_broker
else
    check 1 "$label: the broker starts"
fi
# A TLS 1.3 client that asks for key updates (s_client's K, twice: OpenSSL answers the first at the
# second). The broker sends under kernel TLS, which does not take new keys here: it ends the
# connection and says why, instead of sealing with a key the kernel never got.
label="TLS 1.3 key update, tls-offload kernel"
if start_broker --tls-offload kernel; then
    { sleep 1; printf 'K\n'; sleep 1; printf 'K\n'; sleep 2; } | s_client -msg
    grep -q "asked for a key update, which this kernel's TLS cannot make" /tmp/broker.log
    check $? "$label: the broker ends the connection, saying why"
    grep -m1 "key update" /tmp/broker.log || grep "KeyUpdate\|Alert" /tmp/s_client.log
    stop_broker
    check $? "$label: the broker exits 0 on SIGTERM"
else
    check 1 "$label: the broker starts"
fi
echo "--- /proc/net/tls_stat"
cat /proc/net/tls_stat
exit $((fails > 0))
