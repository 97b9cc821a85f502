#!/bin/sh
# The command line: --help reads like a man page, --version prints the configured version, and
# usage, input, output and protoc-c failures exit with status 2 and say what went wrong, while a
# contract error exits with 1.
. "$top_srcdir/tests/gen/lib.sh"

"$GEN" --help >"$TMP/help" 2>&1
ok $? "--help exits 0"
for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do
    grep -q "^$section\$" "$TMP/help"
    ok $? "--help has a $section section"
done
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$BUILD/config.h")
[ "$("$GEN" --version)" = "trpc-gen (trpc) $version" ]
ok $? "--version prints trpc-gen (trpc) $version"

shop="$SRC/examples/shop/shop.trpc"
expect 2 "no contract file given" "no arguments" -- "$GEN"
expect 2 "unknown option" "unknown option" -- "$GEN" --frobnicate "$shop"
expect 2 "option needs an argument" "-o without a directory" -- "$GEN" "$shop" -o
expect 2 "cannot read '$TMP/none.trpc': No such file or directory" "missing contract" -- "$GEN" "$TMP/none.trpc"
expect 2 "is not a .trpc file name" "contract without .trpc" -- "$GEN" --check "$SRC/tests/gen/lib.sh"
head -c 1100000 /dev/zero >"$TMP/big.trpc"
expect 2 "File too large" "contract above 1 MiB" -- "$GEN" --check "$TMP/big.trpc"
: >"$TMP/file"
expect 2 "cannot create '$TMP/file/sub'" "unwritable output directory" -- "$GEN" -o "$TMP/file/sub" "$shop"
expect 2 "cannot write '$TMP/nodir/x.d'" "unwritable --deps file" -- "$GEN" --check --deps "$TMP/nodir/x.d" "$shop"
expect 1 "error: undefined type 'Ordr'" "contract error" -- "$GEN" --check "$SRC/tests/gen/bad/undefined_type.trpc"

expect 2 "error: false failed (exit status 1)" "protoc-c failure" -- env TRPC_GEN_PROTOC_C=false "$GEN" -o "$TMP/p1" "$shop"
expect 2 "cannot run $TMP/no-such-protoc" "protoc-c missing" -- \
    env TRPC_GEN_PROTOC_C="$TMP/no-such-protoc" "$GEN" -o "$TMP/p2" "$shop"
"$GEN" -o "$TMP/p3" "$shop" >"$TMP/out" 2>&1 && [ -s "$TMP/p3/shop.pb-c.c" ] && [ -s "$TMP/p3/shop.pb-c.h" ]
ok $? "the configured protoc-c writes shop.pb-c.c and shop.pb-c.h"
done_testing
