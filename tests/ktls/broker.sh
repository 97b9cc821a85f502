#!/bin/bash
# tests/ktls/broker.sh: the broker's TLS listener with kernel TLS, in the QEMU guest of
# tests/ktls/vm.sh (Debian 12's stock kernel, tls.ko loaded). The guest (tests/ktls/broker-guest.sh
# and the guest-lib.sh it sources) runs trpc-broker, trpc-bench and trpcctl from this build over
# 127.0.0.1: TLS 1.3 and 1.2 with tls-offload kernel and auto, and user forced; pub/sub and
# 512 KiB requests with nothing lost, the path clients.list reports for each connection, and
# /proc/net/tls_stat. TAP; see tests/ktls/lib.sh for when it skips. About a minute under TCG.
set -u
# shellcheck source=tests/ktls/lib.sh
. "${top_srcdir:-${srcdir:-$(dirname "$0")/../..}}/tests/ktls/lib.sh"
ktls_prepare
ktls_vm --bin "$top_builddir/src/trpc-broker" --bin "$top_builddir/perf/trpc-bench" --bin "$top_builddir/ctl/trpcctl" \
    --bin "$(command -v openssl)" \
    --file "$work/certs/ca.pem" --file "$work/certs/server.pem" --file "$work/certs/server.key" \
    --file "$top_srcdir/tests/ktls/guest-lib.sh" --timeout 420 --run "$top_srcdir/tests/ktls/broker-guest.sh"
