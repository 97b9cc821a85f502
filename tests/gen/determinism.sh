#!/bin/sh
# Two runs over the same contracts write byte-identical outputs (.proto, protoc-c's files and the
# C stubs), also when the contracts are named by different paths, in another order, from another
# directory.
. "$top_srcdir/tests/gen/lib.sh"

cd "$SRC/tests/gen/good" || exit 99
"$GEN" -o "$TMP/a" store.trpc store_extra.trpc docs.trpc features.trpc "$SRC/examples/shop/shop.trpc" >"$TMP/log" 2>&1
ok $? "first run succeeds"
cd "$SRC" || exit 99
"$GEN" -o "$TMP/b" tests/gen/good/docs.trpc ./examples/shop/shop.trpc "$SRC/tests/gen/good/store_extra.trpc" \
    tests/gen/good/features.trpc tests/gen/good/../good/store.trpc >>"$TMP/log" 2>&1
ok $? "second run succeeds"
diag_file "$TMP/log"
for f in common store store_extra docs features shop; do
    for ext in .proto .pb-c.c .pb-c.h .trpc.h .trpc.c; do
        cmp -s "$TMP/a/$f$ext" "$TMP/b/$f$ext"
        ok $? "$f$ext is the same in both runs"
    done
done
done_testing
