# shellcheck shell=sh
# tests/ktls/client.sh's guest (busybox sh; tls.ko loaded): libtrpc's kernel TLS, judged by what
# the kernel counts (/proc/net/tls_stat), what the broker logs of each connection, and data that
# arrives whole. The broker runs with tls-offload user, so every socket the kernel counts is a
# client's. Programs in /bin, files in /t. Prints "CHECK: ok - ..." or "CHECK: not ok - ..." per
# check (tests/ktls/lib.sh).
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
# How many lines of the broker's log have $1 (grep -c, 0 for none).
logged() { grep -c -- "$1" /tmp/broker.log; }

# start_broker ARGS...: a broker with a TLS listener that leaves TLS to user space and logs at
# debug level (the close_notify it reads), ready once its /readyz answers.
start_broker() {
    n=$((n + 1))
    trpc-broker --listen 127.0.0.1:$port --tls-listen 127.0.0.1:$tport --tls-cert /t/server.pem \
        --tls-key /t/server.key --tls-offload user --log-level debug --http 127.0.0.1:8250 \
        --data-dir "/tmp/data$n" --cores 2 "$@" >/tmp/broker.log 2>&1 &
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

# bench WORKLOAD ARGS...: a run over TLS with --tls-offload $mode that must deliver something and
# lose nothing.
bench() {
    out=$(trpc-bench "$@" --url "$url" --tls-ca /t/ca.pem --tls-offload "$mode" --duration 1 --quiet 2>&1)
    rc=$?
    res=$(echo "$out" | grep '^result ')
    echo "$res"
    case "$rc $res" in
    "0 "*" loss=0 "*) case "$res" in *" delivered=0 "*) rc=1 ;; esac ;;
    *) rc=1; echo "$out" ;;
    esac
    check $rc "$label: trpc-bench $* delivers, nothing lost"
}

# run VERSION MODE KERNEL: three bench runs with --tls-offload MODE against the broker that runs
# (7 client connections: 1 publisher and 1 subscriber, 1 responder and 1 requester, 1 publisher
# and 2 subscribers); the kernel must have taken the send keys of every one (KERNEL yes) or of
# none, and the broker must have read a close_notify from every one.
run() {
    version=$1 mode=$2 kernel=$3
    label="$version, --tls-offload $mode"
    conns=7
    tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw) de0=$(tls_stat TlsDecryptError) cur0=$(tls_stat TlsCurrTxSw)
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
    cur=$(($(tls_stat TlsCurrTxSw) - cur0))
    hs=$(($(logged ": $version .*user-space TLS") - hs0)) cn=$(($(logged "TLS close_notify") - cn0))
    echo "$label: TlsTxSw +$tx, TlsRxSw +$rx, TlsDecryptError +$de, TlsCurrTxSw +$cur; the broker: $hs $version connections, $cn close_notify"
    [ "$hs" -eq $conns ]
    check $? "$label: the broker handshook $version with the $conns client connections (got $hs)"
    want=0
    [ "$kernel" = yes ] && want=$conns
    [ "$tx" -eq "$want" ]
    check $? "$label: TlsTxSw went up by $want, one per client connection whose send keys the kernel took (got +$tx)"
    [ "$rx" -eq 0 ]
    check $? "$label: TlsRxSw stayed (receiving is user space; got +$rx)"
    [ "$de" -eq 0 ]
    check $? "$label: no decrypt error (got +$de)"
    [ "$cur" -eq 0 ]
    check $? "$label: no kernel TLS socket left behind (TlsCurrTxSw +$cur)"
    [ "$cn" -eq $conns ]
    check $? "$label: the broker read a close_notify from each of the $conns (got $cn)"
    ! grep -q "handshake failed\|peer=.*: TLS: " /tmp/broker.log
    check $? "$label: the broker saw no failed handshake and no bad record"
}

# tls_version VERSION BROKER-ARGS...: the three modes against one broker.
tls_version() {
    version=$1
    shift
    if ! start_broker "$@"; then
        check 1 "$version: the broker starts ($*)"
        return
    fi
    check 0 "$version: the broker starts ($*)"
    run "$version" kernel yes
    run "$version" auto yes
    run "$version" user no
    grep -m1 "$version" /tmp/broker.log
    stop_broker
    check $? "$version: the broker exits 0 on SIGTERM"
}

tls_version TLSv1.3
tls_version TLSv1.2 --tls-max-version 1.2
echo "--- /proc/net/tls_stat"
cat /proc/net/tls_stat
exit $((fails > 0))
