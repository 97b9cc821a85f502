#!/bin/bash
# perf/ab.sh: two trpc-broker binaries on one workload, alternating A B A B, with the broker's CPU
# time and page faults per delivered message.
#
#   cd BUILD && /path/to/perf/ab.sh [-t] [-d SECONDS] [-r RUNS] [-o RESULTS] BROKER_A BROKER_B WORKLOAD
#
# Each run starts a fresh broker on a free loopback port, runs trpc-bench once (the same bench
# binary for A and B: BUILD/perf/trpc-bench or TRPC_BENCH), and reads /proc/PID/stat of the broker
# before and after: CPU seconds and minor page faults per delivered message are far less noisy on a
# shared machine than rates, which the other runs' load moves by 2x. The bench's own CPU and
# faults per message (from its rusage) show when the client, not the broker, is the limit; the
# voluntary and involuntary context switches of each per thousand messages, how often each slept
# and was preempted; broker_threads, the CPU seconds of each broker thread by name (trpc-core0...).
# RUNS pairs (default 5, at least 3), SECONDS each (default 3). Prints every run, then per metric
# the median of A and B, the ratio B/A of the medians and every pair's ratio, and where the runs
# drew different placements (trpc-bench's cores=), the rate's ratio within each. Workloads: those of
# perf/compare.sh. BROKER_ARGS applies to both brokers. BENCH_A and BENCH_B (default: the one
# trpc-bench) compare two client library builds instead: name the same broker twice.
# WATCH_B=1 measures what watching costs: during each B run the broker's dashboard is open (a
# client reads /api/events, as the page does) and /metrics is scraped every second (name the same
# broker twice; BROKER_ARGS="--steering least-conns" holds the placement fixed, which otherwise
# moves req1 more than watching does). BROKER_ARGS_B adds broker arguments for B alone, and
# BENCH_ENV_B (NAME=VALUE words) environment for B's bench: perf/auth.sh compares a broker that
# authenticates with one that does not. -t: over TLS, as perf/compare.sh -t (the test certificates
# of tests/tls/mkcerts.sh; both brokers get a TLS listener and the bench checks them). DURING_B, a
# bash command, runs in the background through each B run (killed after: let its last command
# exec).
set -eu
. "$(dirname "$0")/common.sh"

DURATION=3
RUNS=5
OUT=ab-results.txt
TLS=
if [ "${1:-}" = -t ]; then
    TLS=1
    shift
fi
common_opts d:r:o: "$@"
shift "$SHIFT"
RESULTS=$OUT
[ $# -eq 3 ] || die "usage: ab.sh [-t] [-d S] [-r RUNS] [-o RESULTS] BROKER_A BROKER_B WORKLOAD"
[ "$RUNS" -ge 3 ] || die "-r: at least 3 pairs"
BROKER_A=$1 BROKER_B=$2 WORKLOAD=$3
need_exec "$BROKER_A" "broker A"
need_exec "$BROKER_B" "broker B"
BENCH_A=${BENCH_A:-$TRPC_BENCH} BENCH_B=${BENCH_B:-$TRPC_BENCH}
need_exec "$BENCH_A" "build it, or set BUILD, TRPC_BENCH or BENCH_A"
need_exec "$BENCH_B" "build it, or set BUILD, TRPC_BENCH or BENCH_B"
need_exec python3 "Debian package python3"
workload_args "$WORKLOAD" >/dev/null || die "unknown workload $WORKLOAD"
TLS_CA_ARGS=
[ -z "$TLS" ] || tls_certs

# stat_of PID: "cpu_ticks minflt" of a running process (fields after the command name).
stat_of() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13, $8}'
}

# threads_of PID: the CPU seconds of each of a process's threads that used any, by name
# ("trpc-core0:1.52,trpc-auth:0.21"), since it started: a fresh broker's run and its start.
threads_of() {
    local t
    for t in /proc/"$1"/task/*; do
        sed 's/^[0-9]* (\(.*\)) \(.*\)/\1 \2/' "$t/stat" 2>/dev/null
    done | awk -v hz="$(getconf CLK_TCK)" '{ s = ($13 + $14) / hz; if (s > 0) out = out (out ? "," : "") $1 ":" sprintf("%.2f", s) } END { print out }'
}

# csw_of PID: "voluntary nonvoluntary" context switches of all of a process's threads.
csw_of() {
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^voluntary_ctxt_switches:/ { v += $2 } /^nonvoluntary_ctxt_switches:/ { n += $2 } END { print v + 0, n + 0 }'
}

# run LABEL BROKER BENCH: one BENCH run against a fresh BROKER; one line to RESULTS.
run() {
    local label=$1 bench_bin=$3 line b0 f0 b1 f1 v0 n0 v1 n1 bench watchers threads benv=
    if [ "$label" = B ]; then
        benv=${BENCH_ENV_B:-}
        # shellcheck disable=SC2119 # start_trpc takes no arguments here
        BROKER_ARGS="$BROKER_ARGS_A ${BROKER_ARGS_B:-}" TRPC_BROKER=$2 start_trpc
    else
        # shellcheck disable=SC2119
        BROKER_ARGS=$BROKER_ARGS_A TRPC_BROKER=$2 start_trpc
    fi
    watchers=
    if [ "$label" = B ] && [ "${WATCH_B:-0}" = 1 ]; then
        [ -n "$TRPC_HTTP_PORT" ] || die "WATCH_B: the broker serves no HTTP"
        : >"$PERF_WORK/scrapes.out"
        curl -s -N -o "$PERF_WORK/events.out" "http://127.0.0.1:$TRPC_HTTP_PORT/api/events" &
        watchers="$watchers $!"
        # One scraper on one kept-alive connection, as Prometheus scrapes: a curl and a sleep
        # forked every second cost the latency-bound workloads more than the broker's answer did.
        python3 -c 'import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
while True:
    c.request("GET", "/metrics")
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("metrics: HTTP %d" % r.status)
    with open(sys.argv[2], "a") as f:
        f.write("scraped\n")
    time.sleep(1)' "$TRPC_HTTP_PORT" "$PERF_WORK/scrapes.out" &
        watchers="$watchers $!"
    fi
    if [ "$label" = B ] && [ -n "${DURING_B:-}" ]; then
        TRPC_URL=$TRPC_URL bash -c "$DURING_B" >/dev/null 2>&1 &
        watchers="$watchers $!"
    fi
    if [ -n "$TLS" ]; then
        [ -n "$TRPC_TLS_URL" ] || die "the broker logged no TLS port"
        TRPC_URL=$TRPC_TLS_URL
    fi
    read -r b0 f0 < <(stat_of "$TRPC_PID")
    read -r v0 n0 < <(csw_of "$TRPC_PID")
    # shellcheck disable=SC2046
    # shellcheck disable=SC2086 # benv: NAME=VALUE words
    line=$(env $benv python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
last = (r.stdout.strip().splitlines() or [""])[-1]
print(last, "bench_cpu_s=%.3f bench_minflt=%d bench_vcsw=%d bench_ivcsw=%d" % (u.ru_utime + u.ru_stime, u.ru_minflt, u.ru_nvcsw, u.ru_nivcsw))' \
        "$bench_bin" $(workload_args "$WORKLOAD") $TLS_CA_ARGS --url "$TRPC_URL" --duration "$DURATION" --quiet) || true
    read -r b1 f1 < <(stat_of "$TRPC_PID")
    read -r v1 n1 < <(csw_of "$TRPC_PID")
    threads=$(threads_of "$TRPC_PID")
    if [ -n "$watchers" ]; then
        # shellcheck disable=SC2086 # the PIDs, word-split on purpose
        kill $watchers 2>/dev/null || true
        # shellcheck disable=SC2086
        wait $watchers 2>/dev/null || true
        if [ "${WATCH_B:-0}" = 1 ] && ! grep -q '^event: snapshot' "$PERF_WORK/events.out"; then
            echo "${0##*/}: run B: no snapshot read" >&2
        fi
        if [ "${WATCH_B:-0}" = 1 ] && [ ! -s "$PERF_WORK/scrapes.out" ]; then
            echo "${0##*/}: run B: /metrics never scraped" >&2
        fi
    fi
    server_stop "$TRPC_PID"
    PERF_PIDS=${PERF_PIDS% "$TRPC_PID"}
    case $line in
    result\ *) ;;
    *) echo "ab=$label failed" >>"$RESULTS"; echo "${0##*/}: run $label failed" >&2; return 0 ;;
    esac
    bench=$(python3 -c 'import sys
f = dict(kv.split("=", 1) for kv in sys.argv[1].split() if "=" in kv)
d = max(int(f.get("delivered", 0)), 1)
tck = int(sys.argv[2])
print("broker_us_per_msg=%.3f broker_flt_per_msg=%.4f bench_us_per_msg=%.3f bench_flt_per_msg=%.4f "
      "broker_vcsw_per_kmsg=%.3f broker_ivcsw_per_kmsg=%.3f bench_vcsw_per_kmsg=%.3f bench_ivcsw_per_kmsg=%.3f" % (
    1e6 * (int(sys.argv[4]) - int(sys.argv[3])) / tck / d, (int(sys.argv[6]) - int(sys.argv[5])) / d,
    1e6 * float(f["bench_cpu_s"]) / d, int(f["bench_minflt"]) / d,
    1e3 * (int(sys.argv[8]) - int(sys.argv[7])) / d, 1e3 * (int(sys.argv[10]) - int(sys.argv[9])) / d,
    1e3 * int(f["bench_vcsw"]) / d, 1e3 * int(f["bench_ivcsw"]) / d))' \
        "$line" "$(getconf CLK_TCK)" "$b0" "$b1" "$f0" "$f1" "$v0" "$v1" "$n0" "$n1")
    echo "ab=$label $line $bench broker_threads=${threads:--}" | tee -a "$RESULTS"
}

: >"$RESULTS"
BROKER_ARGS_A=$BROKER_ARGS
echo "# A $BROKER_A with $BENCH_A, B $BROKER_B with $BENCH_B$([ "${WATCH_B:-0}" = 1 ] && echo " (B watched: /api/events open, /metrics each second)")${TLS:+, over TLS}, workload $WORKLOAD ($(workload_args "$WORKLOAD")), $DURATION s x $RUNS pairs" | tee -a "$RESULTS"
echo "# $(nproc) CPUs, $(uname -sr), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS"
for _ in $(seq "$RUNS"); do
    run A "$BROKER_A" "$BENCH_A"
    run B "$BROKER_B" "$BENCH_B"
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
runs = {"A": [], "B": []}
for line in open(sys.argv[1]):
    if not line.startswith("ab=") or " failed" in line:
        continue
    f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    runs[f["ab"]].append(f)
metrics = ["msgs_per_s", "mb_per_s", "p50_us", "p99_us", "broker_us_per_msg", "broker_flt_per_msg", "bench_us_per_msg", "bench_flt_per_msg",
           "broker_vcsw_per_kmsg", "broker_ivcsw_per_kmsg", "bench_vcsw_per_kmsg", "bench_ivcsw_per_kmsg"]
print("\n%-22s %14s %14s %7s  %s" % ("metric", "A median", "B median", "B/A", "pairs B/A"))
for m in metrics:
    a = [float(r[m]) for r in runs["A"] if m in r]
    b = [float(r[m]) for r in runs["B"] if m in r]
    if not a or not b:
        continue
    ma, mb = statistics.median(a), statistics.median(b)
    pairs = " ".join("%.2f" % (y / x) if x else "-" for x, y in zip(a, b))
    print("%-22s %14.3f %14.3f %7s  %s" % (m, ma, mb, "%.2f" % (mb / ma) if ma else "-", pairs))
# The rate by placement: connections all on one broker core, or across cores (cores=P/S, from
# trpc-bench). Under hash steering A and B draw placements independently, and the placements' rates
# differ by more than most effects: compare like with like.
def placement(r):
    c = set(r.get("cores", "").replace("/", ",").split(","))
    return None if not c or "" in c or "?" in c else "one core" if len(c) == 1 else "across cores"
seen = sorted({placement(r) for side in runs.values() for r in side} - {None})
if len(seen) > 1:
    print("\nplacement              A runs, B runs and B/A of the msgs_per_s medians")
    for p in seen:
        a = [float(r["msgs_per_s"]) for r in runs["A"] if placement(r) == p]
        b = [float(r["msgs_per_s"]) for r in runs["B"] if placement(r) == p]
        ratio = "%.2f" % (statistics.median(b) / statistics.median(a)) if a and b else "-"
        print("%-22s %14d %14d %7s" % (p, len(a), len(b), ratio))
PY
