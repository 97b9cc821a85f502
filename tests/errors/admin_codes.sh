#!/bin/sh
# The admin API's error codes in one place: every code of ADMIN_API_ERRORS (src/admin_api.h) has
# its row in docs/admin-api.md's table, and every code the verbs' files name is in the list
# (admin_api_fail also asserts it at run time, on the paths the tests reach).
: "${top_srcdir:=.}"
# shellcheck source=tests/tap.sh
. "$top_srcdir/tests/tap.sh"

src=$top_srcdir/src
codes=$(sed -n 's/^ *XX(\([A-Z_]*\), [0-9]*, .*/\1/p' "$src/admin_api.h")
[ -n "$codes" ]
ok $? "ADMIN_API_ERRORS lists codes ($(echo "$codes" | wc -l))"
for c in $codes; do
    grep -q "^| \`$c\` |" "$top_srcdir/docs/admin-api.md"
    ok $? "docs/admin-api.md's table has $c"
done
# The upper-case string literals of the verbs' files, less those that are not codes.
named=$(cat "$src"/admin*.c "$src"/control*.c | grep -o '"[A-Z][A-Z_]\{2,\}"' | tr -d '"' | sort -u |
    grep -v -x -e ADDR -e SIGINT -e SIGTERM)
for c in $named; do
    echo "$codes" | grep -q -x "$c"
    ok $? "$c, named in src/admin*.c or src/control*.c, is in ADMIN_API_ERRORS"
done
done_testing
