#!/bin/bash
# tests/ktls/client.sh: libtrpc with kernel TLS (trpc_options_set_tls_offload), in the QEMU guest of
# tests/ktls/vm.sh (Debian 12's stock kernel, tls.ko loaded). The guest (tests/ktls/client-guest.sh)
# runs trpc-broker (tls-offload user, so that the kernel's TLS counters are the clients' alone) and
# trpc-bench clients with --tls-offload kernel, auto and user over TLS 1.3 and 1.2: pub/sub and
# 512 KiB requests with nothing lost, /proc/net/tls_stat's TlsTxSw up by exactly one per client
# connection (none with user), TlsRxSw too over TLS 1.2 (the receive keys; none over 1.3), and a
# close_notify the broker read for every one. Then tests/driver/tls_offload, whose kernel half
# runs only where the kernel has TLS. The guest's scripts: client-guest.sh and the guest-lib.sh it
# sources. TAP; see tests/ktls/lib.sh for when it skips. About a minute and a half under TCG.
set -u
# shellcheck source=tests/ktls/lib.sh
. "${top_srcdir:-${srcdir:-$(dirname "$0")/../..}}/tests/ktls/lib.sh"
ktls_prepare
# What tests/driver/tls_offload needs of the guest, which has no openssl and no resolver: a
# mkcerts.sh (tests/tls/certs.h runs $top_srcdir/tests/tls/mkcerts.sh) that copies the
# certificates made here, and localhost (its broker's TLS URL) in /etc/hosts.
mkdir -p "$work/guest"
cat >"$work/guest/mkcerts.sh" <<'EOF'
#!/bin/sh
cp /t/ca.pem /t/server.pem /t/server.key "$1"/
EOF
echo "127.0.0.1 localhost" >"$work/guest/hosts"
echo "hosts: files" >"$work/guest/nsswitch.conf"
ktls_vm --bin "$top_builddir/src/trpc-broker" --bin "$top_builddir/perf/trpc-bench" \
    --bin "$top_builddir/tests/driver/tls_offload" \
    --file "$work/certs/ca.pem" --file "$work/certs/server.pem" --file "$work/certs/server.key" \
    --file "$work/guest/mkcerts.sh:/t/tests/tls/mkcerts.sh" \
    --file "$work/guest/hosts:/etc/hosts" --file "$work/guest/nsswitch.conf:/etc/nsswitch.conf" \
    --file "$top_srcdir/tests/ktls/guest-lib.sh" --timeout 420 --run "$top_srcdir/tests/ktls/client-guest.sh"
