#!/bin/sh
# trpc-gen writes exactly the expected files for each contract in tests/gen/good/ and for the
# shop example: the .proto (package, imports, enums, messages, cross-package references, doc
# comments) and, where a golden file exists, the C stubs X.trpc.h and X.trpc.c.
. "$top_srcdir/tests/gen/lib.sh"

compare() { # golden output
    if cmp -s "$1" "$2"; then
        ok 0 "$(basename "$2") matches its golden file"
    else
        ok 1 "$(basename "$2") matches its golden file"
        diff -u "$1" "$2" >"$TMP/diff" 2>&1
        diag_file "$TMP/diff"
    fi
}

check() { # contract golden-dir
    name=$(basename "$1" .trpc)
    rm -rf "$TMP/out"
    "$GEN" -o "$TMP/out" "$1" >"$TMP/log" 2>&1
    rc=$?
    ok "$rc" "trpc-gen $name.trpc (exit status $rc)"
    diag_file "$TMP/log"
    compare "$2/$name.proto.golden" "$TMP/out/$name.proto"
    for ext in .trpc.h .trpc.c; do
        [ -f "$2/$name$ext.golden" ] && compare "$2/$name$ext.golden" "$TMP/out/$name$ext"
    done
}

for f in "$SRC"/tests/gen/good/*.trpc; do
    check "$f" "$SRC/tests/gen/good"
done
check "$SRC/examples/shop/shop.trpc" "$SRC/tests/gen/good"
done_testing
