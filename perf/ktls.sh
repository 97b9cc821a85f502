#!/bin/bash
# perf/ktls.sh: kernel TLS against user-space TLS, CPU per message and per byte, in the same QEMU
# guest (tests/ktls/vm.sh boots Debian 12's stock kernel, which has the tls module; this machine's
# kernel may have none).
#
#   cd BUILD && /path/to/perf/ktls.sh [-d SECONDS] [-r RUNS] [WORKLOAD...]
#
# In the guest (2 vCPUs, software emulation: absolute rates mean nothing, ratios in the same guest
# do), the broker (one core) and trpc-bench over TLS 1.3, both with tls-offload kernel, then both
# with user, alternating, RUNS times (default 3) per workload (perf/common.sh's names; default
# pub256 pub64k req1 req64), SECONDS each (default 5). The guest loads AES-NI (aesni-intel) so
# that the kernel and OpenSSL both encrypt with it. Prints every run (the broker's CPU and the
# whole guest's, per message and per MB) and the medians' ratios kernel/user: below 1, kernel TLS
# costs less.
set -eu
# shellcheck source=perf/common.sh
. "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
duration=5
runs=3
while getopts d:r: o; do
    case $o in
    d) duration=$OPTARG ;;
    r) runs=$OPTARG ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
workloads=
[ $# -gt 0 ] || set -- pub256 pub64k req1 req64
for w in "$@"; do
    a=$(workload_args "$w") || { echo "ktls.sh: unknown workload $w" >&2; exit 2; }
    workloads="$workloads $w:$(echo "$a" | tr ' ' '_')"
done
need_exec "$TRPC_BROKER" "run from a build directory, or set BUILD"
need_exec "$TRPC_BENCH" "run from a build directory, or set BUILD"
work=$PERF_WORK
sh "$top/tests/tls/mkcerts.sh" "$work/certs" >/dev/null 2>&1
printf 'DURATION=%s\nRUNS=%s\nWORKLOADS="%s"\n' "$duration" "$runs" "$workloads" >"$work/params"
echo "perf/ktls.sh -d $duration -r $runs$(for w in $workloads; do printf ' %s' "${w%%:*}"; done)" \
    "($(git -C "$top" log -1 --format=%h 2>/dev/null || echo '?'))"
bash "$top/tests/ktls/vm.sh" --timeout 1800 \
    --modules "gf128mul ghash-generic ctr gcm cryptd crypto_simd aesni-intel tls" \
    --bin "$TRPC_BROKER" --bin "$TRPC_BENCH" --file "$work/params" \
    --file "$work/certs/ca.pem" --file "$work/certs/server.pem" --file "$work/certs/server.key" \
    --run "$here/ktls-guest.sh" >"$work/vm.log" 2>&1 || { cat "$work/vm.log"; exit 1; }
grep -E '^(KTLS-PERF|crypto:)' "$work/vm.log"
grep '^KTLS-PERF' "$work/vm.log" | awk '
    function kv(k,   i, a) { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] } return "" }
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { k = kv("workload"); m = kv("mode"); sizes[k] = 1
      for (f = 1; f <= 3; f++) { name = f == 1 ? "broker_us_per_msg" : f == 2 ? "all_us_per_msg" : "mb_per_s"
        v[k, m, name] = v[k, m, name] " " kv(name) } }
    END {
        printf "%-8s %-18s %12s %12s %10s\n", "workload", "metric", "kernel", "user", "kernel/user"
        for (k in sizes) for (f = 1; f <= 3; f++) {
            name = f == 1 ? "broker_us_per_msg" : f == 2 ? "all_us_per_msg" : "mb_per_s"
            a = median(v[k, "kernel", name]); b = median(v[k, "user", name])
            printf "%-8s %-18s %12.2f %12.2f %10.2f\n", k, name, a, b, (b > 0 ? a / b : 0)
        }
    }'
