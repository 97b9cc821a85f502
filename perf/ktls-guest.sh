# shellcheck shell=sh
# perf/ktls.sh's guest (busybox sh; tls.ko and AES-NI loaded): CPU per message and per byte with
# kernel TLS and with user-space TLS, the broker's and the whole machine's, in the same guest.
# Reads /t/params: DURATION, RUNS, and WORKLOADS as "name:trpc-bench args" pairs (perf/common.sh's
# names). Prints one "KTLS-PERF ..." line per run.
set -u
# shellcheck disable=SC1091 # written by perf/ktls.sh
. /t/params
port=4250
tport=4251

# ticks PID: user + system CPU ticks (1/100 s) of a process; all: of the whole machine.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

one() { # one MODE WORKLOAD RUN
    mode=$1 name=${2%%:*} run=$3
    args=$(echo "${2#*:}" | tr '_' ' ')
    size=$(echo "$args" | sed -n 's/.*--size \([0-9]*\).*/\1/p')
    trpc-broker --listen 127.0.0.1:$port --tls-listen 127.0.0.1:$tport --tls-cert /t/server.pem \
        --tls-key /t/server.key --http 127.0.0.1:8250 --data-dir "/tmp/d-$mode-$name-$run" --cores 1 \
        --max-output-bytes 64m --tls-offload "$mode" >/tmp/broker.log 2>&1 &
    pid=$!
    i=0
    until grep -q "listening on 127.0.0.1:$port " /tmp/broker.log 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 600 ] || { cat /tmp/broker.log; exit 1; }
        sleep 0.1
    done
    b0=$(ticks $pid) a0=$(busy)
    # shellcheck disable=SC2086 # the workload's arguments split on purpose
    res=$(trpc-bench $args --url trpcs://127.0.0.1:$tport --tls-ca /t/ca.pem --tls-offload "$mode" \
        --duration "$DURATION" --quiet 2>&1 | grep '^result ')
    b1=$(ticks $pid) a1=$(busy)
    kill -TERM $pid
    wait $pid
    delivered=$(echo "$res" | sed -n 's/.* delivered=\([0-9]*\).*/\1/p')
    mbs=$(echo "$res" | sed -n 's/.* mb_per_s=\([0-9.]*\).*/\1/p')
    awk -v m="$mode" -v w="$name" -v s="$size" -v r="$run" -v d="${delivered:-0}" -v mbs="${mbs:-0}" -v b=$((b1 - b0)) -v a=$((a1 - a0)) 'BEGIN {
        mb = d * s / 1e6
        printf "KTLS-PERF workload=%s mode=%s size=%d run=%d delivered=%d mb_per_s=%s broker_cpu_s=%.2f all_cpu_s=%.2f", w, m, s, r, d, mbs, b / 100, a / 100
        if (d > 0)
            printf " broker_us_per_msg=%.2f broker_us_per_mb=%.0f all_us_per_msg=%.2f all_us_per_mb=%.0f", b * 1e4 / d, b * 1e4 / mb, a * 1e4 / d, a * 1e4 / mb
        printf "\n"
    }'
}

echo "crypto: $(grep -A2 '^name *: gcm(aes)' /proc/crypto | awk '/driver/ { print $3 }' | head -n1)"
for w in $WORKLOADS; do
    run=1
    while [ $run -le "$RUNS" ]; do
        one kernel "$w" "$run"
        one user "$w" "$run"
        run=$((run + 1))
    done
done
cat /proc/net/tls_stat
