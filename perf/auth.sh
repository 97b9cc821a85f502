#!/bin/bash
# perf/auth.sh: what authentication costs (issue 19; docs/performance.md, "Authentication").
#
#   cd BUILD && /path/to/perf/auth.sh [-d SECONDS] [-r RUNS] [-o RESULTS]
#
# One data directory, its users made with `trpc-broker user add`: root (admin) and bench, who holds
# 100 allow patterns per kind, the one the bench needs last. Then, each against a baseline of the
# same run:
#   1. pub16 and req64 through perf/ab.sh (A B A B): A without authentication, B with --auth on that
#      directory and the bench logged in as bench: the permission checks on the hot path.
#   2. connect: trpc-bench connect (2 threads) with bench's token, RUNS runs: CONNECTs set up per
#      second, the token checked on the control thread each time. (The benches of 1 and 3 log in
#      with this token too.)
#   3. storm: pub16 through perf/ab.sh, both with --auth: B runs beside a storm of password logins
#      (trpc-bench storm: 300 slots that each log in with a password, close, wait a second and
#      again; those told to try again wait a second too), A alone. The established client's
#      rate should not move; the storm's CONNECTs are answered (logged in, or told to try again).
#      The storm comes from one thread over raw sockets, so that what it costs is the broker's;
#      STORM=connect makes it 300 libtrpc clients instead (trpc-bench connect), each with its
#      own I/O thread, which cost the machine a sixth of its CPU by themselves.
# Every run is printed; ab.sh prints the medians and each pair's ratio. BROKER_ARGS goes to every
# broker: BROKER_ARGS="--steering least-conns" puts the publisher and the subscriber on two cores
# in every run, so that A and B do not draw different placements (which move pub16 by a third).
set -eu
. "$(dirname "$0")/common.sh"

DURATION=3
RUNS=5
OUT=auth-results.txt
common_opts d:r:o: "$@"
shift "$SHIFT"
[ $# -eq 0 ] || die "usage: auth.sh [-d S] [-r RUNS] [-o RESULTS]"
need_exec "$TRPC_BROKER" "build it, or set BUILD or TRPC_BROKER"
need_exec "$TRPC_BENCH" "build it, or set BUILD or TRPC_BENCH"
TRPCCTL=${TRPCCTL:-$(dirname "$TRPC_BENCH")/../ctl/trpcctl}
need_exec "$TRPCCTL" "build it, or set TRPCCTL"
AB=$(dirname "$0")/ab.sh

DATA=$(mktemp -d "${TMPDIR:-/tmp}/trpc-auth-perf-XXXXXX")
trap 'rm -rf "$DATA"' EXIT
PW=bench-password-1
ROOT_PW=root-password-1
pats=()
for i in $(seq 0 98); do pats+=(--publish "p$i.>" --subscribe "p$i.>" --request "p$i.>"); done
printf '%s\n' "$ROOT_PW" | "$TRPC_BROKER" user add root --role admin --data-dir "$DATA" >/dev/null
printf '%s\n' "$PW" | "$TRPC_BROKER" user add bench "${pats[@]}" --publish 'bench.>' --subscribe 'bench.>' \
    --request 'bench.>' --data-dir "$DATA" >/dev/null
: >"$OUT"
echo "# perf/auth.sh: $(nproc) CPUs, $(uname -sr), $(date -u +%FT%TZ), $DURATION s x $RUNS" | tee -a "$OUT"

# A token for bench (logins with a password would put a 19 MiB hash per connection into the
# broker's CPU and page faults, which ab.sh counts per message).
# shellcheck disable=SC2119 # start_trpc takes no arguments here
BROKER_ARGS="$BROKER_ARGS --auth --data-dir $DATA" start_trpc
TOKEN=$(TRPC_PASSWORD=$ROOT_PW "$TRPCCTL" --url "$TRPC_URL" --user root token add bench --name perf | awk '$1 == "token" {print $2}')
[ -n "$TOKEN" ] || die "trpcctl token add gave no token"

# 2. CONNECTs per second with a token.
for i in $(seq "$RUNS"); do
    TRPC_TOKEN=$TOKEN "$TRPC_BENCH" connect --url "$TRPC_URL" --pubs 2 --duration "$DURATION" --quiet | tail -1 |
        sed "s/^/connect run=$i /" | tee -a "$OUT"
done
server_stop "$TRPC_PID"
PERF_PIDS=${PERF_PIDS% "$TRPC_PID"}

# 1. The checks on the hot path (a broker without auth ignores the token).
for w in pub16 req64; do
    TRPC_TOKEN=$TOKEN BROKER_ARGS_B="--auth --data-dir $DATA" \
        "$AB" -d "$DURATION" -r "$RUNS" -o "$PERF_WORK/ab-$w.txt" "$TRPC_BROKER" "$TRPC_BROKER" "$w" | tee -a "$OUT"
done

# 3. A storm of password logins beside an established publisher (which logged in with the token
# before the storm begins).
if [ "${STORM:-storm}" = connect ]; then
    STORM_CMD="connect --url \$TRPC_URL --pubs 300 --pause 1000 --duration 600 --quiet"
else
    STORM_CMD="storm --url \$TRPC_URL --conns 300 --pause 1000 --duration 600 --quiet"
fi
TRPC_TOKEN=$TOKEN BROKER_ARGS="$BROKER_ARGS --auth --data-dir $DATA" \
    DURING_B="sleep 0.3; exec env -u TRPC_TOKEN TRPC_USER=bench TRPC_PASSWORD=$PW $TRPC_BENCH $STORM_CMD" \
    "$AB" -d "$DURATION" -r "$RUNS" -o "$PERF_WORK/ab-storm.txt" "$TRPC_BROKER" "$TRPC_BROKER" pub16 | tee -a "$OUT"
