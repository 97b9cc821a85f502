#!/bin/sh
# Every contract in tests/gen/bad/ is rejected with exit status 1 and exactly the diagnostics in
# its .err file (file:line:col, message, source line, caret). Helper files live in bad/lib/.
. "$top_srcdir/tests/gen/lib.sh"

cd "$SRC/tests/gen/bad" || exit 99
count=0
for f in *.trpc; do
    count=$((count + 1))
    "$GEN" --check "$f" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ "$rc" -eq 1 ] && [ ! -s "$TMP/out" ] && cmp -s "${f%.trpc}.err" "$TMP/err"; then
        ok 0 "$f"
    else
        ok 1 "$f (exit status $rc)"
        diff -u "${f%.trpc}.err" "$TMP/err" >"$TMP/diff"
        diag_file "$TMP/diff"
    fi
done
[ "$count" -ge 30 ]
ok $? "at least 30 bad contracts ($count)"
done_testing
