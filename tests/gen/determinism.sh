#!/bin/sh
# Two runs over the same contracts write byte-identical outputs (.proto and protoc-c's files),
# also when the contract is named by a different path from a different directory.
. "$top_srcdir/tests/gen/lib.sh"

cd "$SRC/tests/gen/good" || exit 99
"$GEN" -o "$TMP/a" store.trpc store_extra.trpc docs.trpc "$SRC/examples/shop/shop.trpc" >"$TMP/log" 2>&1
ok $? "first run succeeds"
cd "$SRC" || exit 99
"$GEN" -o "$TMP/b" tests/gen/good/docs.trpc ./examples/shop/shop.trpc "$SRC/tests/gen/good/store_extra.trpc" \
    tests/gen/good/../good/store.trpc >>"$TMP/log" 2>&1
ok $? "second run succeeds"
diag_file "$TMP/log"
for f in common store store_extra docs shop; do
    for ext in .proto .pb-c.c .pb-c.h; do
        cmp -s "$TMP/a/$f$ext" "$TMP/b/$f$ext"
        ok $? "$f$ext is the same in both runs"
    done
done
done_testing
