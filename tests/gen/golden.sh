#!/bin/sh
# trpc-gen writes exactly the expected .proto for each contract in tests/gen/good/ and for the
# shop example: package, imports, enums, messages, cross-package references, doc comments.
. "$top_srcdir/tests/gen/lib.sh"

check() { # contract golden
    name=$(basename "$1" .trpc)
    rm -rf "$TMP/out"
    "$GEN" -o "$TMP/out" "$1" >"$TMP/log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] && cmp -s "$2" "$TMP/out/$name.proto"; then
        ok 0 "$name.proto matches its golden file"
    else
        ok 1 "$name.proto matches its golden file (exit status $rc)"
        diag_file "$TMP/log"
        [ -f "$TMP/out/$name.proto" ] && diff -u "$2" "$TMP/out/$name.proto" >"$TMP/diff"
        diag_file "$TMP/diff"
    fi
}

for f in "$SRC"/tests/gen/good/*.trpc; do
    check "$f" "${f%.trpc}.proto.golden"
done
check "$SRC/examples/shop/shop.trpc" "$SRC/tests/gen/good/shop.proto.golden"
done_testing
