# shellcheck shell=bash
# Shared by the smoke tests of the perf scripts (sourced): TAP helpers, a scratch directory, the
# build's binaries, and the check that a script stopped every server it started and removed the
# data directory it made for each broker.
#
# Each test runs one script of perf/ for about a second against the build under test
# (BUILD=$top_builddir), with PERF_PIDS_LOG so that perf/server.sh records every server PID it
# starts. A tool the script needs that is missing makes the test print "1..0 # SKIP reason" and
# exit 0: the TAP driver reads the plan.
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
BUILD=$(cd "$top_builddir" && pwd)
PERF=$(cd "$top_srcdir/perf" && pwd)
export BUILD
SMOKE_WORK=$(mktemp -d "${TMPDIR:-/tmp}/perf-smoke.XXXXXX")
export PERF_PIDS_LOG=$SMOKE_WORK/pids
: >"$PERF_PIDS_LOG"
# The scripts' temporary files, the brokers' data directories among them (perf/server.sh), go here:
# servers_left sees one left behind, and the cleanup removes them all.
export TMPDIR=$SMOKE_WORK/tmp
mkdir "$TMPDIR" || exit 99
# shellcheck source=perf/server.sh
. "$PERF/server.sh"

smoke_cleanup() {
    # Whatever a failed script left behind is stopped here, after the check has seen it.
    while read -r pid _; do
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done <"$PERF_PIDS_LOG"
    trpc_data_dirs_remove
    rm -rf "$SMOKE_WORK"
}
trap smoke_cleanup EXIT

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

n=0
fails=0
check() { # check STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}

# Shows a file in the TAP log, as comments.
show() {
    sed 's/^/# /' "$@" | head -n 60
}

# The build under test: sanitized builds cannot run under valgrind.
sanitized() {
    [ -n "$(sed -n 's/^TRPC_SAN = *//p' "$BUILD/Makefile")" ]
}

need_build() {
    for f in src/trpc-broker perf/trpc-bench "$@"; do
        [ -x "$BUILD/$f" ] || skip_all "$f not built"
    done
}

# servers_started NAME: how many NAME processes the script started.
servers_started() {
    grep -c " $1\$" "$PERF_PIDS_LOG"
}

# servers_left: 0 when every server the script started is gone and every broker's data directory
# removed; else 1, naming them.
servers_left() {
    local left=0 dir
    while read -r pid name; do
        if server_alive "$pid"; then
            echo "# $name (pid $pid) still running"
            left=1
        fi
    done <"$PERF_PIDS_LOG"
    for dir in "$TMPDIR"/trpc-data-*; do
        [ -e "$dir" ] || continue
        echo "# data directory $dir left behind"
        left=1
    done
    return "$left"
}

# valid_svg FILE: well-formed XML whose root element is <svg>.
valid_svg() {
    python3 -c 'import sys, xml.dom.minidom as m; sys.exit(m.parse(sys.argv[1]).documentElement.tagName != "svg")' "$1" 2>/dev/null
}

field() {
    echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
