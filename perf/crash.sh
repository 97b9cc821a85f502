#!/bin/bash
# perf/crash.sh: the crash tier of durable delivery for many cycles (issue 17).
#
#   cd BUILD && /path/to/perf/crash.sh [CYCLES]
#
# Runs tests/driver/crash_groups (built by `make check` or `make tests/driver/crash_groups`) with
# CRASH_CYCLES=CYCLES (default 1000): a publisher with PUBACK and a consumer group member that
# refuses some messages once and some always, against a broker killed with SIGKILL at random
# moments and restarted CYCLES times; at the end every acknowledged publish was consumed or
# dead-lettered, and the dead-letter stream holds nothing else. Prints the test's TAP lines and its
# result line (cycles, publishes, acknowledgements, deliveries, redeliveries, dead letters), and
# exits with the test's status.
set -eu
cycles=${1:-1000}
case $cycles in '' | *[!0-9]*) echo "usage: $0 [CYCLES]" >&2; exit 2 ;; esac
bin=./tests/driver/crash_groups
[ -x "$bin" ] || { echo "$0: $bin not built: run make tests/driver/crash_groups in the build directory" >&2; exit 2; }
export top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)} top_builddir=${top_builddir:-$PWD}
start=$(date +%s)
status=0
CRASH_CYCLES=$cycles "$bin" || status=$?
echo "# $cycles cycles in $(($(date +%s) - start)) s, exit $status"
exit $status
