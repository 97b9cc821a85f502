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
