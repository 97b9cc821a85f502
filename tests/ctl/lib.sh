# Sourced by the tests/ctl/*.sh tests: paths to the sources and the built trpcctl, a scratch
# directory removed on exit, and TAP output with expect (tests/tap.sh).
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
SRC=$(cd "$top_srcdir" && pwd)
BUILD=$(cd "$top_builddir" && pwd)
CTL="$BUILD/ctl/trpcctl"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/trpcctl-test.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT
unset TRPC_URL
. "$SRC/tests/tap.sh"

[ -x "$CTL" ] || { echo "Bail out! $CTL not built"; exit 99; }

# For a test that runs one broker through perf/server.sh (trpc_broker_start sets TRPC_PID): its
# functions, and at exit that broker killed, the data directories it made and $TMP removed.
broker_test_setup() {
    # shellcheck source=../../perf/server.sh disable=SC1091
    . "$SRC/perf/server.sh"
    TRPC_PID=
    trap broker_test_stop EXIT
}
# shellcheck disable=SC2317 # run by the EXIT trap
broker_test_stop() {
    if [ -n "$TRPC_PID" ]; then kill -9 "$TRPC_PID" 2>/dev/null && wait "$TRPC_PID" 2>/dev/null; fi
    if [ -n "${REDIS_PID:-}" ]; then kill -9 "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null; fi
    trpc_data_dirs_remove
    rm -rf "$TMP"
}
