# shellcheck shell=sh
# tests/ktls/broker.sh's guest (busybox sh; tls.ko loaded): the broker's TLS listener with kernel
# TLS, judged by what the kernel counts (/proc/net/tls_stat), what the broker says of each
# connection (clients.list), and data that arrives whole. Programs in /bin, files in /t. Prints
# "CHECK: ok - ..." or "CHECK: not ok - ..." per check (tests/ktls/lib.sh).
set -u

port=4250
tport=4251
url=trpcs://127.0.0.1:$tport
n=0
fails=0
pid=

check() { # check STATUS DESCRIPTION
    if [ "$1" -eq 0 ]; then
        echo "CHECK: ok - $2"
    else
        echo "CHECK: not ok - $2"
        fails=$((fails + 1))
    fi
}
tls_stat() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/tls_stat; }

# start_broker ARGS...: a broker with a TLS listener, ready once its /readyz answers.
start_broker() {
    n=$((n + 1))
    trpc-broker --listen 127.0.0.1:$port --tls-listen 127.0.0.1:$tport --tls-cert /t/server.pem \
        --tls-key /t/server.key --http 127.0.0.1:8250 --data-dir "/tmp/data$n" --cores 2 --log-level debug "$@" \
        >/tmp/broker.log 2>&1 &
    pid=$!
    i=0
    until wget -qO- http://127.0.0.1:8250/readyz >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 $pid 2>/dev/null; then
            cat /tmp/broker.log
            return 1
        fi
        sleep 0.1
    done
}

stop_broker() {
    kill -TERM $pid
    wait $pid
}

# bench WORKLOAD ARGS...: a run over TLS that must deliver something and lose nothing.
bench() {
    out=$(trpc-bench "$@" --url "$url" --tls-ca /t/ca.pem --tls-offload "$client" --duration 1 --quiet 2>&1)
    rc=$?
    res=$(echo "$out" | grep '^result ')
    echo "$res"
    case "$rc $res" in
    "0 "*" loss=0 "*) case "$res" in *" delivered=0 "*) rc=1 ;; esac ;;
    *) rc=1; echo "$out" ;;
    esac
    check $rc "$label: trpc-bench $* delivers, nothing lost"
}

# The TLS paths clients.list gives for the connections there are now ("TLSv1.3 kernel-tx"...).
paths() {
    trpcctl --url trpc://127.0.0.1:$port --json clients ls | tr ',' '\n' |
        sed -n 's/.*"tls": *"\([^"]*\)".*/\1/p' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# run LABEL PATH TX RX BROKER-ARGS...: pub/sub and 512 KiB requests over TLS; the path the broker
# gives its TLS connections while they run; the sockets whose send (TX) and receive (RX) keys the
# kernel took: yes, at least 8, the broker's connections; no, none. The clients (libtrpc) go the
# same way: tls-offload auto, or user when the broker's is (tests/ktls/client.sh is theirs).
run() {
    label=$1 want=$2 kernel=$3 krx=$4
    shift 4
    client=auto
    [ "$kernel" = yes ] || client=user
    start_broker "$@"
    check $? "$label: the broker starts ($*)" || return
    tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw) de0=$(tls_stat TlsDecryptError)
    trpc-bench pubsub --url "$url" --tls-ca /t/ca.pem --tls-offload "$client" --duration 3 --quiet >/tmp/bg.log 2>&1 &
    bg=$!
    sleep 1.5
    got=$(paths)
    wait $bg
    check $? "$label: a pub/sub run of 3 s"
    [ "$got" = "$want" ]
    check $? "$label: clients.list says \"tls\": \"$want\" for each TLS connection (\"$got\")"
    bench pubsub --size 256
    bench request --size 512k
    bench pubsub --size 64k --subs 2
    tx=$(($(tls_stat TlsTxSw) - tx0)) rx=$(($(tls_stat TlsRxSw) - rx0)) de=$(($(tls_stat TlsDecryptError) - de0))
    if [ "$kernel" = yes ]; then
        [ "$tx" -ge 8 ]
        check $? "$label: the kernel took the send keys of the broker's connections (TlsTxSw +$tx, 8 or more)"
    else
        [ "$tx" -eq 0 ]
        check $? "$label: the kernel took no send keys (TlsTxSw +$tx)"
    fi
    if [ "$krx" = yes ]; then
        [ "$rx" -ge 8 ]
        check $? "$label: the kernel took the receive keys of the broker's connections (TlsRxSw +$rx, 8 or more)"
    else
        [ "$rx" -eq 0 ]
        check $? "$label: the kernel took no receive keys (TlsRxSw +$rx)"
    fi
    [ "$de" -eq 0 ]
    check $? "$label: no record the kernel could not decrypt (TlsDecryptError +$de)"
    ! grep -q "handshake failed" /tmp/broker.log
    check $? "$label: no handshake failed"
    c=$(grep -c "TLS close_notify" /tmp/broker.log)
    [ "$c" -ge 8 ]
    check $? "$label: the clients' close_notify reached the broker ($c times, 8 or more)"
    grep -m1 "TLSv1" /tmp/broker.log
    stop_broker
    check $? "$label: the broker exits 0 on SIGTERM"
}

run "TLS 1.3, tls-offload kernel" "TLSv1.3 kernel-tx" yes no --tls-offload kernel
run "TLS 1.2, tls-offload kernel" "TLSv1.2 kernel" yes yes --tls-offload kernel --tls-max-version 1.2
run "TLS 1.3, tls-offload auto" "TLSv1.3 kernel-tx" yes no
run "TLS 1.2, tls-offload auto" "TLSv1.2 kernel" yes yes --tls-max-version 1.2
run "TLS 1.3, tls-offload user" "TLSv1.3 user" no no --tls-offload user
echo "--- /proc/net/tls_stat"
cat /proc/net/tls_stat
exit $((fails > 0))
