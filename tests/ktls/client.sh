#!/bin/bash
# tests/ktls/client.sh: libtrpc with kernel TLS (trpc_options_set_tls_offload), in the QEMU guest of
# tests/ktls/vm.sh (Debian 12's stock kernel, tls.ko loaded). The guest (tests/ktls/client-guest.sh)
# runs trpc-broker (tls-offload user, so that the kernel's TLS counters are the clients' alone) and
# trpc-bench clients with --tls-offload kernel, auto and user over TLS 1.3 and 1.2: pub/sub and
# 512 KiB requests with nothing lost, /proc/net/tls_stat's TlsTxSw up by exactly one per client
# connection (none with user), and a close_notify the broker read for every one. TAP; see
# tests/ktls/lib.sh for when it skips. About a minute under TCG.
set -u
# shellcheck source=tests/ktls/lib.sh
. "${top_srcdir:-${srcdir:-$(dirname "$0")/../..}}/tests/ktls/lib.sh"
ktls_prepare
ktls_vm --bin "$top_builddir/src/trpc-broker" --bin "$top_builddir/perf/trpc-bench" \
    --file "$work/certs/ca.pem" --file "$work/certs/server.pem" --file "$work/certs/server.key" \
    --timeout 420 --run "$top_srcdir/tests/ktls/client-guest.sh"
