#!/bin/sh
# The generated stubs are already clang-formatted: clang-format with the project's .clang-format
# leaves every golden X.trpc.h / X.trpc.c unchanged (and golden.sh checks trpc-gen writes exactly
# those). Skipped where clang-format is not installed; trpc-gen itself never needs it.
. "$top_srcdir/tests/gen/lib.sh"

command -v clang-format >/dev/null 2>&1 || { echo "1..0 # SKIP clang-format is not installed"; exit 0; }
cp "$SRC/.clang-format" "$TMP/.clang-format"
for f in "$SRC"/tests/gen/good/*.trpc.[ch].golden; do
    name=$(basename "$f" .golden)
    cp "$f" "$TMP/$name"
    clang-format "$TMP/$name" >"$TMP/formatted" 2>"$TMP/err"
    cmp -s "$TMP/$name" "$TMP/formatted"
    ok $? "clang-format leaves $name unchanged"
    diff -u "$TMP/$name" "$TMP/formatted" >"$TMP/diff"
    diag_file "$TMP/diff"
    diag_file "$TMP/err"
done
done_testing
