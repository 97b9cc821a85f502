# Sourced by the tests/gen/*.sh tests: paths to the sources and the built trpc-gen, a scratch
# directory removed on exit, and TAP output (tests/tap.sh).
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
SRC=$(cd "$top_srcdir" && pwd)
BUILD=$(cd "$top_builddir" && pwd)
GEN="$BUILD/gen/trpc-gen"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/trpc-gen-test.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT
. "$SRC/tests/tap.sh"

[ -x "$GEN" ] || { echo "Bail out! $GEN not built"; exit 99; }
