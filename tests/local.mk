# tests/: one behaviour per program (TAP), grouped by module. Test programs link the objects under
# test statically; helpers live in tests/tap.h.
noinst_HEADERS += tests/tap.h
EXTRA_DIST += tests/tap.sh
TESTS_WIRE_LIBS = driver/libtrpcwire.la

check_PROGRAMS += tests/errors/codes
tests_errors_codes_LDADD = $(TESTS_WIRE_LIBS)
check_PROGRAMS += tests/errors/broker_space
# The admin API's error codes: one list, documented (tests/errors/admin_codes.sh).
TESTS += tests/errors/admin_codes.sh
EXTRA_DIST += tests/errors/admin_codes.sh

# tests/wire/: the frame codec against docs/protocol.md (driver/wire.c, driver/wire_reader.c).
noinst_HEADERS += tests/wire/frames.h
check_PROGRAMS += tests/wire/roundtrip tests/wire/layout tests/wire/malformed tests/wire/split \
	tests/wire/limits tests/wire/negotiate tests/wire/encoder_checks
tests_wire_roundtrip_LDADD = $(TESTS_WIRE_LIBS)
tests_wire_layout_LDADD = $(TESTS_WIRE_LIBS)
tests_wire_malformed_LDADD = $(TESTS_WIRE_LIBS)
tests_wire_split_LDADD = $(TESTS_WIRE_LIBS)
tests_wire_limits_LDADD = $(TESTS_WIRE_LIBS)
tests_wire_negotiate_LDADD = $(TESTS_WIRE_LIBS)
tests_wire_encoder_checks_LDADD = $(TESTS_WIRE_LIBS)

TESTS += $(check_PROGRAMS)

# tests/topic/: topic syntax, matching and tokenizer (driver/topic.c).
check_PROGRAMS += tests/topic/check tests/topic/match tests/topic/iter tests/topic/diff
tests_topic_check_LDADD = $(TESTS_WIRE_LIBS)
tests_topic_match_LDADD = $(TESTS_WIRE_LIBS)
tests_topic_iter_LDADD = $(TESTS_WIRE_LIBS)
tests_topic_diff_LDADD = $(TESTS_WIRE_LIBS)

# tests/harness/: runs a real trpc-broker process for the integration tests of the broker, the
# driver, the generator's examples and the benchmarks.
noinst_LTLIBRARIES += tests/harness/libharness.la
tests_harness_libharness_la_SOURCES = tests/harness/broker_proc.c tests/harness/broker_proc.h tests/harness/broker_run.c

# The HTTP server: /metrics (promtool), health, what it refuses, a clean stop (tests/http/http.sh).
TESTS += tests/http/http.sh tests/http/dashboard.sh tests/http/https.sh tests/http/auth.sh
EXTRA_DIST += tests/http/http.sh tests/http/dashboard.sh tests/http/https.sh tests/http/auth.sh
# The dashboard in headless Chromium, driven by playwright-core (tests/dashboard/browser.sh): its
# screenshots stay in the build tree as artifacts until a clean.
TESTS += tests/dashboard/browser.sh
EXTRA_DIST += tests/dashboard/browser.sh tests/dashboard/browser.cjs
mostlyclean-local:
	-rm -rf tests/dashboard/screenshots

# tests/ktls/: kernel TLS in a QEMU guest (tests/ktls/vm.sh) that boots Debian 12's stock kernel,
# which has tls.ko where the build machine's kernel may not. smoke.sh: Debian's openssl does kTLS in
# the guest (TLS 1.3 and 1.2, /proc/net/tls_stat). It runs in the plain build only: sanitizer builds
# and distcheck's build skip it; it skips where QEMU is missing unless TRPC_REQUIRE_QEMU=1 (.ci/run).
TESTS += tests/ktls/smoke.sh
EXTRA_DIST += tests/ktls/smoke.sh tests/ktls/vm.sh
# client.sh: libtrpc's kernel TLS (trpc-bench --tls-offload kernel, auto and user against a broker
# that leaves TLS to user space): TLS 1.3 and 1.2, TlsTxSw up by one per client connection (TlsRxSw
# too over 1.2), nothing lost, a close_notify from each. The same rules as smoke.sh
# (tests/ktls/lib.sh). guest-lib.sh: what its guest and broker.sh's share.
TESTS += tests/ktls/client.sh
EXTRA_DIST += tests/ktls/client.sh tests/ktls/client-guest.sh tests/ktls/lib.sh tests/ktls/guest-lib.sh
# broker.sh: the broker's TLS listener with kernel TLS (tls-offload kernel, auto and user; TLS 1.3:
# the kernel sends; TLS 1.2: both ways), judged by /proc/net/tls_stat, clients.list's path for each
# connection, close_notify both ways, and pub/sub and requests with nothing lost.
TESTS += tests/ktls/broker.sh
EXTRA_DIST += tests/ktls/broker.sh tests/ktls/broker-guest.sh
