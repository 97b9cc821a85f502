# Sourced by the tests/gen/*.sh tests: paths to the sources and the built trpc-gen, a scratch
# directory removed on exit, and TAP output (one ok line per check, the plan at the end).
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
SRC=$(cd "$top_srcdir" && pwd)
BUILD=$(cd "$top_builddir" && pwd)
GEN="$BUILD/gen/trpc-gen"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/trpc-gen-test.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT
tap_n=0
tap_failed=0

# ok STATUS DESCRIPTION: one TAP point, passing when STATUS is 0.
ok() {
    tap_n=$((tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tap_n - $2"
    else
        echo "not ok $tap_n - $2"
        tap_failed=$((tap_failed + 1))
    fi
}

# diag FILE: shows a file as TAP comments.
diag_file() {
    sed 's/^/# /' "$1"
}

done_testing() {
    echo "1..$tap_n"
    [ "$tap_failed" -eq 0 ]
    exit $?
}

[ -x "$GEN" ] || { echo "Bail out! $GEN not built"; exit 99; }
