#!/bin/sh
# --deps FILE writes make rules: each contract's outputs depend on the contract and everything it
# imports, and each import gets an empty rule. Make reads the file, blanks in paths are escaped,
# --check writes the rules without writing outputs, and the pattern rule docs/contracts.md gives
# for automake users regenerates the stubs when an imported contract changes.
. "$top_srcdir/tests/gen/lib.sh"

cd "$SRC/tests/gen" || exit 99
"$GEN" -o "$TMP/out" --deps "$TMP/store.d" good/store.trpc good/docs.trpc >"$TMP/log" 2>&1
ok $? "trpc-gen --deps succeeds"
sed "s|@OUT@|$TMP/out|g" good/deps.golden >"$TMP/want"
cmp -s "$TMP/want" "$TMP/store.d"
ok $? "dependency rules are exactly as expected"
diff -u "$TMP/want" "$TMP/store.d" >"$TMP/diff"
diag_file "$TMP/diff"

# make accepts the file and knows the outputs are up to date; touching an import makes them stale
printf 'include %s\n%s/out/store.proto:\n\t@echo rebuild\n' "$TMP/store.d" "$TMP" >"$TMP/Makefile"
out=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s -f "$TMP/Makefile" "$TMP/out/store.proto" 2>&1)
[ -z "$out" ]
ok $? "make sees store.proto up to date ($out)"
mkdir -p "$TMP/src/good" && cp good/store.trpc good/common.trpc "$TMP/src/good/" && cd "$TMP/src" || exit 99
"$GEN" -o "$TMP/out" --deps "$TMP/store.d" good/store.trpc >"$TMP/log" 2>&1
sleep 1
touch good/common.trpc
out=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s -f "$TMP/Makefile" "$TMP/out/store.proto" 2>&1)
[ "$out" = "rebuild" ]
ok $? "make rebuilds store.proto after its import changes ($out)"

# blanks in paths are escaped for make
mkdir -p "$TMP/my dir" && cp "$SRC/tests/gen/good/docs.trpc" "$TMP/my dir/docs.trpc"
"$GEN" --check --deps "$TMP/x.d" "$TMP/my dir/docs.trpc" >"$TMP/log" 2>&1
ok $? "trpc-gen --check --deps succeeds"
grep -q "^docs.proto docs.pb-c.c docs.pb-c.h docs.trpc.h docs.trpc.c: .*/my\\\\ dir/docs.trpc\$" "$TMP/x.d"
ok $? "a blank in a path is escaped"
diag_file "$TMP/x.d"
[ ! -e docs.proto ] && [ ! -e "$TMP/my dir/docs.proto" ]
ok $? "--check writes no outputs"

# the pattern rule of docs/contracts.md ("Using trpc-gen from automake") with GNU make: it makes
# all five outputs, and editing the imported contract makes them again
mkdir -p "$TMP/proj/contracts" && cp "$SRC/tests/gen/good/store.trpc" "$SRC/tests/gen/good/common.trpc" "$TMP/proj/contracts/"
cat >"$TMP/proj/Makefile" <<EOF2
TRPC_GEN = $GEN
srcdir = .
gen/%.proto gen/%.pb-c.c gen/%.pb-c.h gen/%.trpc.c gen/%.trpc.h: contracts/%.trpc
	@mkdir -p gen
	\$(TRPC_GEN) -o gen -I \$(srcdir)/contracts --deps gen/\$*.d \$<
-include gen/store.d
EOF2
mk() { (cd "$TMP/proj" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s "$@" 2>&1); }
mk gen/store.trpc.h >"$TMP/log"
[ -s "$TMP/proj/gen/store.trpc.c" ] && [ -s "$TMP/proj/gen/store.pb-c.c" ] && [ -s "$TMP/proj/gen/common.pb-c.h" ]
ok $? "the documented pattern rule makes the stubs"
diag_file "$TMP/log"
[ -z "$(mk -n gen/store.trpc.c)" ]
ok $? "and then they are up to date"
sleep 1
touch "$TMP/proj/contracts/common.trpc"
mk -n gen/store.trpc.c | grep -q -- "--deps gen/store.d contracts/store.trpc"
ok $? "editing the imported contract regenerates them"
done_testing
