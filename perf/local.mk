# perf/: the latency histogram, the loopback limits tool, trpc-bench (installed) and nats-bench
# (only when configure found the NATS C client). perf/wal-bench is built by wal/local.mk.
PERF_HIST = perf/hist.c perf/hist.h
# The idle and storm workloads speak the wire protocols themselves: the codec comes from libtrpcwire.
PERF_IDLE = perf/idle.c perf/idle_proto.c perf/idle.h perf/storm.c perf/storm.h

bin_PROGRAMS += perf/trpc-bench
perf_trpc_bench_SOURCES = perf/trpc-bench.c perf/bench.c perf/bench.h $(PERF_HIST) $(PERF_IDLE)
perf_trpc_bench_LDADD = driver/libtrpc.la driver/libtrpcwire.la -lpthread
dist_man_MANS += perf/trpc-bench.1

noinst_PROGRAMS += perf/loopback
perf_loopback_SOURCES = perf/loopback.c $(PERF_HIST)
perf_loopback_LDADD = -lpthread

if HAVE_NATS
noinst_PROGRAMS += perf/nats-bench
perf_nats_bench_SOURCES = perf/nats-bench.c perf/bench.c perf/bench.h $(PERF_HIST) $(PERF_IDLE)
perf_nats_bench_CFLAGS = $(AM_CFLAGS) $(NATS_CFLAGS)
perf_nats_bench_LDADD = $(NATS_LIBS) driver/libtrpcwire.la -lpthread
endif

# nats-go-bench: the pubsub and request workloads over nats.go (Go, GOPATH mode against Debian's
# packaged sources: no module download), so that compare.sh has nats-server's fastest client too.
EXTRA_DIST += perf/nats-go-bench/main.go
if HAVE_NATS_GO
perf/nats-go-bench/nats-go-bench: $(srcdir)/perf/nats-go-bench/main.go
	$(AM_V_GEN)$(MKDIR_P) perf/nats-go-bench && cd $(srcdir)/perf/nats-go-bench && \
	GO111MODULE=off GOPATH=$(NATS_GO_PATH) GOCACHE=$(abs_builddir)/perf/.gocache GOFLAGS= CGO_ENABLED=0 \
	$(GO) build -o $(abs_builddir)/perf/nats-go-bench/nats-go-bench .
all-local: perf/nats-go-bench/nats-go-bench
endif
# Whether or not it was built (configure may have changed its mind).
clean-local:
	-rm -rf perf/nats-go-bench/nats-go-bench perf/.gocache

# redis-bench: the durable workload on Redis streams and its append-only file (hiredis is a
# dependency of the broker's store anyway).
noinst_PROGRAMS += perf/redis-bench
perf_redis_bench_SOURCES = perf/redis-bench.c perf/bench.c perf/bench.h $(PERF_HIST) $(PERF_IDLE)
perf_redis_bench_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS)
perf_redis_bench_LDADD = $(HIREDIS_LIBS) driver/libtrpcwire.la -lpthread

EXTRA_DIST += perf/json-bench.c
# Kernel TLS against user-space TLS, CPU per message and byte, in a QEMU guest (tests/ktls/vm.sh).
EXTRA_DIST += perf/ktls.sh perf/ktls-guest.sh
EXTRA_DIST += perf/restart.sh perf/durable-compare.sh perf/common.sh perf/server.sh perf/compare.sh perf/record.sh perf/callgrind.sh perf/idle.sh perf/ab.sh perf/auth.sh perf/crash.sh \
	perf/flamegraph.py

# tests/perf/: the histogram's bucket math and percentiles.
check_PROGRAMS += tests/perf/hist
tests_perf_hist_SOURCES = tests/perf/hist.c $(PERF_HIST)
tests_perf_hist_LDADD = -lm

# tests/perf/idle_proto: the idle workload's TRPC and NATS parsers on streams split every way.
check_PROGRAMS += tests/perf/idle_proto
tests_perf_idle_proto_SOURCES = tests/perf/idle_proto.c perf/idle_proto.c perf/idle.h
tests_perf_idle_proto_LDADD = driver/libtrpcwire.la

# tests/perf/bench_smoke.sh: trpc-bench for 1 s per workload against a real broker (no timing checks);
# tests/perf/flamegraph.sh: perf/flamegraph.py on a synthetic perf script sample.
TESTS += tests/perf/bench_smoke.sh tests/perf/flamegraph.sh
EXTRA_DIST += tests/perf/bench_smoke.sh tests/perf/flamegraph.sh

# Smoke tests of the perf scripts, about a second of load each (tests/perf/smoke.sh is their shared
# part): compare.sh against nats-server, record.sh under perf, callgrind.sh under valgrind, and the
# idle workload with perf/idle.sh. Each skips (1..0 # SKIP) when a tool it needs is missing.
TESTS += tests/perf/durable_compare.sh tests/perf/compare.sh tests/perf/record.sh tests/perf/callgrind.sh tests/perf/idle.sh tests/perf/ab.sh tests/perf/auth.sh tests/perf/storm.sh
EXTRA_DIST += tests/perf/durable_compare.sh tests/perf/smoke.sh tests/perf/compare.sh tests/perf/record.sh tests/perf/callgrind.sh tests/perf/idle.sh tests/perf/ab.sh tests/perf/auth.sh tests/perf/storm.sh

# tests/perf/mem_back.sh: an idle broker gives back the memory of 50,000 subscriptions once their
# connections closed (a memory bound, waited for at most 10 s).
TESTS += tests/perf/mem_back.sh
EXTRA_DIST += tests/perf/mem_back.sh
# tests/perf/mem_back_partial.sh: the same after 500 half-sent 128 KiB publishes, which touch every
# receive buffer of every core (given back by the sweep's uring_loop_bufs_release).
TESTS += tests/perf/mem_back_partial.sh
EXTRA_DIST += tests/perf/mem_back_partial.sh tests/perf/mem_back_lib.sh
