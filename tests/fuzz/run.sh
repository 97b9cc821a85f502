#!/bin/sh
# Runs one libFuzzer target of a --enable-fuzzing build for a bounded time.
#
#   tests/fuzz/run.sh TARGET SECONDS
#
# TARGET is a target name (topic, wire) looked up as $FUZZ_BUILDDIR/tests/fuzz/fuzz_TARGET
# (FUZZ_BUILDDIR defaults to the current directory, i.e. run it from the build tree), or a path to
# a fuzz_TARGET binary. The target starts from a copy of tests/fuzz/corpus/TARGET (so the corpus in
# the repository is not polluted with generated inputs) and uses tests/fuzz/TARGET.dict.
# Crash, leak and timeout inputs are written to $FUZZ_ARTIFACTS (default: the folder of the
# binary) as crash-*, leak-*, timeout-*; the exit status is non-zero when the target found anything.
set -eu

usage() {
    echo "usage: $0 TARGET SECONDS" >&2
    exit 2
}

[ $# -eq 2 ] || usage
target=$1
seconds=$2
case $seconds in
'' | *[!0-9]*) usage ;;
esac
[ "$seconds" -gt 0 ] || usage

srcdir=$(cd "$(dirname "$0")" && pwd)
case $target in
*/*)
    bin=$target
    name=$(basename "$bin")
    name=${name#fuzz_}
    ;;
*)
    name=$target
    bin=${FUZZ_BUILDDIR:-.}/tests/fuzz/fuzz_$name
    ;;
esac
[ -x "$bin" ] || {
    echo "$0: no fuzz target at $bin (configure CC=clang --enable-fuzzing and run make)" >&2
    exit 2
}
[ -d "$srcdir/corpus/$name" ] || {
    echo "$0: no corpus $srcdir/corpus/$name" >&2
    exit 2
}
artifacts=${FUZZ_ARTIFACTS:-$(dirname "$bin")}
mkdir -p "$artifacts"

work=$(mktemp -d "${TMPDIR:-/tmp}/trpc-fuzz-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/corpus"
cp "$srcdir/corpus/$name"/* "$work/corpus/"

# -error_exitcode and -timeout_exitcode make every finding a plain failure; the corpus copy
# receives the new inputs.
set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$artifacts/"
[ -f "$srcdir/$name.dict" ] && set -- "$@" -dict="$srcdir/$name.dict"
status=0
"$bin" "$@" "$work/corpus" || status=$?

if [ "$status" -ne 0 ]; then
    echo "$0: fuzz_$name failed (exit $status); reproducer in $artifacts/" >&2
    exit 1
fi
echo "$0: fuzz_$name ran ${seconds}s without findings ($(find "$work/corpus" -type f | wc -l) inputs in the corpus)"
