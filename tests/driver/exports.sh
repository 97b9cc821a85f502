#!/bin/sh
# libtrpc.so exports trpc_* and nothing else, and the public headers compile alone, as C and C++.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
lib=$top_builddir/driver/.libs/libtrpc.so
CC=${CC:-cc}
CXX=${CXX:-g++}

echo "1..5"
if [ ! -f "$lib" ]; then
    echo "Bail out! $lib not built"
    exit 99
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sed 's/@.*//' > "$tmp/syms"
bad=$(grep -v '^trpc_' "$tmp/syms" | grep -v '^TRPC_' | head -5)
if [ -z "$bad" ] && grep -q '^trpc_connect$' "$tmp/syms"; then
    echo "ok 1 - only trpc_ symbols exported ($(wc -l < "$tmp/syms") of them)"
else
    echo "not ok 1 - foreign symbols exported: $bad"
fi
if objdump -p "$lib" | grep -q 'SONAME.*libtrpc\.so\.1'; then
    echo "ok 2 - soname libtrpc.so.1"
else
    echo "not ok 2 - soname is not libtrpc.so.1"
fi

n=3
for lang in c c++; do
    for h in trpc/trpc.h; do
        printf '#include <%s>\n#include <%s>\nint trpc_test_unused;\n' "$h" "$h" > "$tmp/t.$lang"
        if [ "$lang" = c ]; then
            cmd="$CC -std=c11 -Wall -Wextra -Werror -pedantic -I$top_srcdir/driver/include -c $tmp/t.c -o $tmp/t.o"
        else
            cmd="$CXX -std=c++11 -Wall -Wextra -Werror -pedantic -I$top_srcdir/driver/include -x c++ -c $tmp/t.c++ -o $tmp/t.o"
        fi
        if $cmd > "$tmp/log" 2>&1; then
            echo "ok $n - $h compiles alone as $lang"
        else
            echo "not ok $n - $h compiles alone as $lang"
            sed 's/^/# /' "$tmp/log"
        fi
        n=$((n + 1))
    done
done
printf '#include <trpc/errors.h>\nint trpc_test_unused;\n' > "$tmp/e.c"
if $CC -std=c11 -Wall -Wextra -Werror -pedantic -I"$top_srcdir/driver/include" -c "$tmp/e.c" -o "$tmp/e.o" > "$tmp/log" 2>&1; then
    echo "ok 5 - trpc/errors.h compiles alone as c"
else
    echo "not ok 5 - trpc/errors.h compiles alone as c"
    sed 's/^/# /' "$tmp/log"
fi
