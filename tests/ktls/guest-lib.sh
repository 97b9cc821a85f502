# shellcheck shell=sh
# tests/ktls/guest-lib.sh: what the guests of tests/ktls/broker.sh and client.sh share (busybox
# sh, in /t, sourced by broker-guest.sh and client-guest.sh, which vm.sh runs): a broker with a
# TLS listener, trpc-bench runs judged by their result line, the kernel's counters and the checks
# as "CHECK: ok - ..." or "CHECK: not ok - ..." lines (tests/ktls/lib.sh makes TAP of them).
# Programs in /bin, files in /t. The sourcing script ends with `exit $((fails > 0))`.

port=4250
tport=4251
url=trpcs://127.0.0.1:$tport
n=0          # brokers started: each gets a data directory of its own
fails=0      # checks that failed
pid=         # the broker's
label=       # what the checks of a run are named after (the sourcing script's run sets it)
offload=auto # trpc-bench's --tls-offload (the same)
# Emulated (TCG) and sharing the host with other tests, the guest sees the host's time go by while
# its CPUs wait for the host's: a handshake can take seconds, and a stall of a second or more is
# no loss. The clients' timeouts (libtrpc's connect 2 s; trpc-bench's 5 s for a reply, 1 s of no
# delivery before the rest counts as lost) are generous here.
connect_ms=30000
bench_waits="--connect-timeout $connect_ms --reply-timeout 30000 --drain-timeout 15000"

check() { # check STATUS DESCRIPTION
    if [ "$1" -eq 0 ]; then
        echo "CHECK: ok - $2"
    else
        echo "CHECK: not ok - $2"
        fails=$((fails + 1))
    fi
}

# tls_stat NAME: a counter of /proc/net/tls_stat (the kernel's, every socket of the guest).
tls_stat() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/tls_stat; }

# logged TEXT: how many lines of the broker's log have TEXT (grep -c, 0 for none).
logged() { grep -c -- "$1" /tmp/broker.log; }

# start_broker ARGS...: a broker with a TLS listener that logs at debug level (each close_notify
# it reads), ready once it logs that it listens (its HTTP side is HTTPS, which busybox's wget may
# not speak); ARGS after the common ones. Its handshake deadline is the clients' connect timeout.
start_broker() {
    n=$((n + 1))
    # The last broker's log goes first: the redirection below truncates it only once the child
    # runs, and its "listening" line would otherwise pass for this broker's.
    rm -f /tmp/broker.log
    trpc-broker --listen 127.0.0.1:$port --tls-listen 127.0.0.1:$tport --tls-cert /t/server.pem \
        --tls-key /t/server.key --tls-handshake-timeout "${connect_ms}ms" --http 127.0.0.1:8250 --data-dir "/tmp/data$n" \
        --cores 2 --log-level debug "$@" >/tmp/broker.log 2>&1 &
    pid=$!
    i=0
    until grep -q "listening on 127.0.0.1:$port " /tmp/broker.log 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
            cat /tmp/broker.log
            return 1
        fi
        sleep 0.1
    done
}

stop_broker() {
    kill -TERM "$pid"
    wait "$pid"
}

# bench WORKLOAD ARGS...: a trpc-bench run over TLS with --tls-offload $offload that must deliver
# something and lose nothing; its check is named after $label, and says why it failed.
bench() {
    # shellcheck disable=SC2086 # $bench_waits: options and their values
    out=$(trpc-bench "$@" --url "$url" --tls-ca /t/ca.pem --tls-offload "$offload" $bench_waits --duration 1 --quiet 2>&1)
    rc=$?
    res=$(echo "$out" | grep '^result ')
    echo "$res"
    why=
    case "$rc $res" in
    "0 "*" loss=0 "*) case "$res" in *" delivered=0 "*) rc=1 why=" (nothing delivered)" ;; esac ;;
    *)
        echo "$out"
        why=$(echo "$res" | sed -n 's/.* \(sent=[0-9]* delivered=[0-9]* loss=[0-9]*\).*/\1/p')
        [ -n "$why" ] || why=$(echo "$out" | grep -v '^result ' | tail -n 1)
        why=" (exit status $rc: $why)"
        rc=1
        ;;
    esac
    check $rc "$label: trpc-bench $* delivers, nothing lost$why"
}
