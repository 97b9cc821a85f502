# wal/: the write-ahead log (libtrpcwal, a convenience library linked into the broker and its tests).
noinst_LTLIBRARIES += wal/libtrpcwal.la
wal_libtrpcwal_la_SOURCES = \
	wal/wal.h \
	wal/internal.h \
	wal/format.c \
	wal/segment.c \
	wal/writer.c \
	wal/prepare.c \
	wal/open.c \
	wal/recovery.c \
	wal/reader.c \
	wal/truncate.c
wal_libtrpcwal_la_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
wal_libtrpcwal_la_LIBADD = $(URING_LIBS)

# tests/wal/: one behaviour per program; each body runs on the real disk and on tmpfs.
noinst_HEADERS += tests/wal/walt.h
TESTS_WAL_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
TESTS_WAL_LIBS = wal/libtrpcwal.la $(URING_LIBS)

check_PROGRAMS += tests/wal/roundtrip
tests_wal_roundtrip_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_roundtrip_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/crc
tests_wal_crc_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_crc_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/tail-truncate
tests_wal_tail_truncate_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_tail_truncate_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/bitflip
tests_wal_bitflip_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_bitflip_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/faults
tests_wal_faults_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_faults_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/crash-disk tests/wal/crash-buffered tests/wal/crash-tmpfs
tests_wal_crash_disk_SOURCES = tests/wal/crash.c
tests_wal_crash_disk_CFLAGS = $(TESTS_WAL_CFLAGS) -DCRASH_CONF=0
tests_wal_crash_disk_LDADD = $(TESTS_WAL_LIBS)
tests_wal_crash_buffered_SOURCES = tests/wal/crash.c
tests_wal_crash_buffered_CFLAGS = $(TESTS_WAL_CFLAGS) -DCRASH_CONF=1
tests_wal_crash_buffered_LDADD = $(TESTS_WAL_LIBS)
tests_wal_crash_tmpfs_SOURCES = tests/wal/crash.c
tests_wal_crash_tmpfs_CFLAGS = $(TESTS_WAL_CFLAGS) -DCRASH_CONF=2
tests_wal_crash_tmpfs_LDADD = $(TESTS_WAL_LIBS)

# The longer crash tier, not part of make check: 1000 kill -9 cycles in each configuration.
WAL_TORTURE_CYCLES = 1000
wal-torture: tests/wal/crash-disk tests/wal/crash-buffered tests/wal/crash-tmpfs
	for t in crash-disk crash-buffered crash-tmpfs; do \
	  WAL_CRASH_CYCLES=$(WAL_TORTURE_CYCLES) $(builddir)/tests/wal/$$t || exit 1; \
	done
.PHONY: wal-torture

check_PROGRAMS += tests/wal/group-commit
tests_wal_group_commit_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_group_commit_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/truncate-before tests/wal/tmpfs-log
tests_wal_truncate_before_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_truncate_before_LDADD = $(TESTS_WAL_LIBS)
tests_wal_tmpfs_log_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_tmpfs_log_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/overlap
tests_wal_overlap_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_overlap_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/prepare
tests_wal_prepare_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_prepare_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/dir-lock
tests_wal_dir_lock_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_dir_lock_LDADD = $(TESTS_WAL_LIBS)

# perf/wal-bench: durable throughput and latency against write()+fdatasync() and dd oflag=direct.
noinst_PROGRAMS += perf/wal-bench
perf_wal_bench_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
perf_wal_bench_LDADD = wal/libtrpcwal.la $(URING_LIBS)

noinst_HEADERS += tests/wal/hold.h
check_PROGRAMS += tests/wal/roll-wait
tests_wal_roll_wait_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_roll_wait_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/truncate-reader tests/wal/truncate-close
tests_wal_truncate_reader_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_truncate_reader_LDADD = $(TESTS_WAL_LIBS)
tests_wal_truncate_close_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_truncate_close_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/truncate-race
tests_wal_truncate_race_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_truncate_race_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/truncate-concurrent
tests_wal_truncate_concurrent_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_truncate_concurrent_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/truncate-faults
tests_wal_truncate_faults_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_truncate_faults_LDADD = $(TESTS_WAL_LIBS)

check_PROGRAMS += tests/wal/start-gap
tests_wal_start_gap_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_start_gap_LDADD = $(TESTS_WAL_LIBS)

# A WAL on a core's loop, as its CQE source, while the loop serves a connection (issue 15).
check_PROGRAMS += tests/wal/loop-echo
tests_wal_loop_echo_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_loop_echo_LDADD = src/libtrpcwalsrc.la $(TESTS_WAL_LIBS) -lpthread

check_PROGRAMS += tests/wal/iter-async
tests_wal_iter_async_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_iter_async_LDADD = $(TESTS_WAL_LIBS)
check_PROGRAMS += tests/wal/iter-sq-full
tests_wal_iter_sq_full_CFLAGS = $(TESTS_WAL_CFLAGS)
tests_wal_iter_sq_full_LDADD = $(TESTS_WAL_LIBS)
