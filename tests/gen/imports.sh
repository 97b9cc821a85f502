#!/bin/sh
# Imports: found next to the importing file or through -I in order, one file reached by two
# paths is loaded once, nesting is bounded, and imported contracts are compiled too.
. "$top_srcdir/tests/gen/lib.sh"

good="$SRC/tests/gen/good"
mkdir -p "$TMP/app" "$TMP/inc"
cp "$good/common.trpc" "$TMP/inc/"
cp "$good/store.trpc" "$TMP/app/"

"$GEN" --check "$TMP/app/store.trpc" >"$TMP/err" 2>&1
[ $? -eq 1 ] && grep -q "store.trpc:4:8: error: cannot find import 'common.trpc'" "$TMP/err"
ok $? "an import outside the search path is an error"
diag_file "$TMP/err"

"$GEN" -o "$TMP/out" -I "$TMP/none" -I "$TMP/inc" "$TMP/app/store.trpc" >"$TMP/err" 2>&1
ok $? "-I makes it found"
diag_file "$TMP/err"
[ -s "$TMP/out/common.proto" ] && [ -s "$TMP/out/common.pb-c.c" ] && [ -s "$TMP/out/store.pb-c.c" ]
ok $? "the imported contract is compiled too"

"$GEN" --check -I "$TMP/inc" "$TMP/app/store.trpc" "$TMP/inc/common.trpc" "$TMP/inc/../inc/common.trpc" >"$TMP/err" 2>&1
ok $? "one file named by several paths is loaded once"
diag_file "$TMP/err"

# a chain f0 -> f1 -> ... -> f17: 17 levels of imports, one more than allowed
i=0
while [ $i -le 17 ]; do
    { echo "package p$i;"; [ $i -lt 17 ] && echo "import \"f$((i + 1)).trpc\";"; } >"$TMP/f$i.trpc"
    i=$((i + 1))
done
"$GEN" --check "$TMP/f1.trpc" >"$TMP/err" 2>&1
ok $? "16 levels of imports are fine"
diag_file "$TMP/err"
"$GEN" --check "$TMP/f0.trpc" >"$TMP/err" 2>&1
[ $? -eq 1 ] && grep -q "f16.trpc:2:8: error: imports nested deeper than 16 levels" "$TMP/err"
ok $? "17 levels are an error"
diag_file "$TMP/err"
done_testing
