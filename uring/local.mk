# uring/: the per-core io_uring loop (libtrpcuring, a convenience library linked into the broker
# and, later, the client driver). docs/uring.md documents its internal API.
noinst_LTLIBRARIES += uring/libtrpcuring.la
uring_libtrpcuring_la_SOURCES = \
	uring/uring.h \
	uring/internal.h \
	uring/compat.h \
	uring/probe.c \
	uring/loop.c \
	uring/bufring.c \
	uring/timer.c \
	uring/tset.c \
	uring/conn.c \
	uring/send.c \
	uring/gate.c \
	uring/accept.c \
	uring/xcore.c \
	uring/mbox.c
uring_libtrpcuring_la_CFLAGS = $(URING_CFLAGS) $(AM_CFLAGS)
uring_libtrpcuring_la_LIBADD = $(URING_LIBS)

# Tests: one behaviour each, loopback only, bounded in time.
noinst_HEADERS += tests/uring/helpers.h tests/uring/gate-sim.h
TESTS_URING_LIBS = uring/libtrpcuring.la -lpthread
TESTS_URING_CFLAGS = $(URING_CFLAGS) $(AM_CFLAGS)

URING_TESTS = \
	tests/uring/probe \
	tests/uring/echo \
	tests/uring/accept-emfile \
	tests/uring/bufring-exhaust \
	tests/uring/bufring-release \
	tests/uring/conns-10k \
	tests/uring/send-full \
	tests/uring/gate \
	tests/uring/gate-defer \
	tests/uring/gate-close-wait \
	tests/uring/gate-off \
	tests/uring/filter \
	tests/uring/out-pool \
	tests/uring/out-pool-idle \
	tests/uring/send-zc \
	tests/uring/timer-order \
	tests/uring/timer-cancel-late \
	tests/uring/deadline-order \
	tests/uring/deadline-cancel \
	tests/uring/deadline-nested \
	tests/uring/deadline-rearm \
	tests/uring/deadline-stop \
	tests/uring/deadline-heap \
	tests/uring/xcore-pingpong \
	tests/uring/close-bell \
	tests/uring/xcore-full \
	tests/uring/xcore-drain \
	tests/uring/mbox-mpsc \
	tests/uring/mbox-reply \
	tests/uring/mbox-full \
	tests/uring/mbox-destroy \
	tests/uring/shutdown-inflight \
	tests/uring/recv-pause \
	tests/uring/source
check_PROGRAMS += $(URING_TESTS)
tests_uring_probe_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_probe_LDADD = $(TESTS_URING_LIBS)
tests_uring_filter_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_filter_LDADD = $(TESTS_URING_LIBS)
tests_uring_echo_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_echo_LDADD = $(TESTS_URING_LIBS)
tests_uring_source_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_source_LDADD = $(TESTS_URING_LIBS)
tests_uring_bufring_exhaust_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_bufring_exhaust_LDADD = $(TESTS_URING_LIBS)
tests_uring_recv_pause_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_recv_pause_LDADD = $(TESTS_URING_LIBS)
tests_uring_bufring_release_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_bufring_release_LDADD = $(TESTS_URING_LIBS)
tests_uring_conns_10k_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_conns_10k_LDADD = $(TESTS_URING_LIBS)
tests_uring_send_full_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_send_full_LDADD = $(TESTS_URING_LIBS)
tests_uring_out_pool_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_out_pool_LDADD = $(TESTS_URING_LIBS)
tests_uring_out_pool_idle_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_out_pool_idle_LDADD = $(TESTS_URING_LIBS)
tests_uring_timer_order_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_timer_order_LDADD = $(TESTS_URING_LIBS)
tests_uring_timer_cancel_late_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_timer_cancel_late_LDADD = $(TESTS_URING_LIBS)
tests_uring_deadline_order_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_deadline_order_LDADD = $(TESTS_URING_LIBS)
tests_uring_deadline_cancel_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_deadline_cancel_LDADD = $(TESTS_URING_LIBS)
tests_uring_deadline_nested_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_deadline_nested_LDADD = $(TESTS_URING_LIBS)
tests_uring_deadline_rearm_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_deadline_rearm_LDADD = $(TESTS_URING_LIBS)
tests_uring_deadline_stop_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_deadline_stop_LDADD = $(TESTS_URING_LIBS)
tests_uring_deadline_heap_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_deadline_heap_LDADD = $(TESTS_URING_LIBS)
tests_uring_close_bell_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_close_bell_LDADD = $(TESTS_URING_LIBS)
tests_uring_xcore_pingpong_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_xcore_pingpong_LDADD = $(TESTS_URING_LIBS)
tests_uring_shutdown_inflight_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_shutdown_inflight_LDADD = $(TESTS_URING_LIBS)
tests_uring_send_zc_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_send_zc_LDADD = $(TESTS_URING_LIBS)
tests_uring_xcore_full_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_xcore_full_LDADD = $(TESTS_URING_LIBS)
tests_uring_xcore_drain_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_xcore_drain_LDADD = $(TESTS_URING_LIBS)
tests_uring_mbox_mpsc_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_mbox_mpsc_LDADD = $(TESTS_URING_LIBS)
tests_uring_mbox_reply_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_mbox_reply_LDADD = $(TESTS_URING_LIBS)
tests_uring_mbox_full_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_mbox_full_LDADD = $(TESTS_URING_LIBS)
tests_uring_mbox_destroy_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_mbox_destroy_LDADD = $(TESTS_URING_LIBS)
tests_uring_accept_emfile_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_accept_emfile_LDADD = $(TESTS_URING_LIBS)
tests_uring_gate_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_gate_LDADD = $(TESTS_URING_LIBS)
tests_uring_gate_defer_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_gate_defer_LDADD = $(TESTS_URING_LIBS)
tests_uring_gate_close_wait_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_gate_close_wait_LDADD = $(TESTS_URING_LIBS)
tests_uring_gate_off_CFLAGS = $(TESTS_URING_CFLAGS)
tests_uring_gate_off_LDADD = $(TESTS_URING_LIBS)
TSAN_TESTS += tests/uring/gate tests/uring/gate-defer tests/uring/gate-close-wait tests/uring/mbox-mpsc tests/uring/mbox-reply tests/uring/mbox-full tests/uring/mbox-destroy
