#!/bin/sh
# The examples under valgrind's memcheck against a real broker: no invalid access, no use of
# uninitialised memory, no leak. Skipped where valgrind is missing or the build is sanitized
# (ASan and TSan binaries cannot run under valgrind).
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
TRPC_BROKER=${TRPC_BROKER:-$top_builddir/src/trpc-broker}
ex=$top_builddir/examples
. "$top_srcdir/perf/server.sh"

if ! command -v valgrind >/dev/null 2>&1; then
    echo "1..0 # SKIP valgrind is not installed"
    exit 0
fi
if [ -n "$(sed -n 's/^TRPC_SAN = *//p' "$top_builddir/Makefile")" ]; then
    echo "1..0 # SKIP sanitizer build: valgrind cannot run it"
    exit 0
fi

echo "1..3"
tmp=$(mktemp -d)
TRPC_PID=
spid=
cleanup() {
    for p in $spid $TRPC_PID; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    trpc_data_dirs_remove
    rm -rf "$tmp"
}
trap cleanup EXIT

BROKER_ARGS="--cores 1"
if ! trpc_broker_start "$tmp/broker.log" 2>"$tmp/start.err"; then
    echo "Bail out! broker did not start"
    sed 's/^/# /' "$tmp/start.err"
    exit 99
fi
url=$TRPC_URL

# The examples are libtool wrappers around the real binaries: libtool runs valgrind on the latter.
vg() {
    log=$1
    shift
    "$top_builddir/libtool" --mode=execute valgrind -q --error-exitcode=9 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --log-file="$log" "$@"
}

if vg "$tmp/hello.vg" "$ex/hello/hello" "$url" 5 > "$tmp/hello.out" 2>&1 && grep -q 'received 5 of 5' "$tmp/hello.out"; then
    echo "ok 1 - hello is clean under memcheck"
else
    echo "not ok 1 - hello under memcheck"
    cat "$tmp/hello.out" "$tmp/hello.vg" | sed 's/^/# /' | head -60
fi

# exec keeps one PID from the subshell through libtool to valgrind, so SIGTERM reaches the service.
(exec "$top_builddir/libtool" --mode=execute valgrind -q --error-exitcode=9 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --log-file="$tmp/svc.vg" "$ex/echo/echo-service" "$url" echo1) \
    > "$tmp/svc.out" 2>&1 &
spid=$!
i=0
while [ $i -lt 300 ] && ! grep -q '^ready' "$tmp/svc.out"; do
    sleep 0.1
    i=$((i + 1))
done
if vg "$tmp/client.vg" "$ex/echo/echo-client" "$url" 20 > "$tmp/client.out" 2>&1 && grep -q 'ok 20 of 20' "$tmp/client.out"; then
    echo "ok 2 - echo-client is clean under memcheck"
else
    echo "not ok 2 - echo-client under memcheck"
    cat "$tmp/client.out" "$tmp/client.vg" | sed 's/^/# /' | head -60
fi

kill -TERM $spid
if wait $spid; then
    echo "ok 3 - echo-service is clean under memcheck"
else
    echo "not ok 3 - echo-service under memcheck"
    cat "$tmp/svc.out" "$tmp/svc.vg" | sed 's/^/# /' | head -60
fi
spid=

server_stop "$TRPC_PID"
TRPC_PID=
