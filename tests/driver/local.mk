# tests/driver/: libtrpc against a real trpc-broker (tests/harness). One behaviour per program.
noinst_HEADERS += tests/driver/helpers.h tests/driver/adminc.h tests/driver/tmpfs.h
TESTS_DRIVER_LIBS = driver/libtrpc.la tests/harness/libharness.la -lpthread

DRIVER_TESTS = \
	tests/driver/options \
	tests/driver/pubsub \
	tests/driver/wildcards \
	tests/driver/groups \
	tests/driver/request \
	tests/driver/request_errors \
	tests/driver/admin_api \
	tests/driver/admin_busy \
	tests/driver/admin_bytes \
	tests/driver/settings_file \
	tests/driver/admin_pages \
	tests/driver/admin_budget \
	tests/driver/settings_redis \
	tests/driver/request_shutdown \
	tests/driver/request_large \
	tests/driver/reconnect \
	tests/driver/buffer_full \
	tests/driver/buffer_unsent \
	tests/driver/slow_consumer_text \
	tests/driver/threads \
	tests/driver/misuse \
	tests/driver/external \
	tests/driver/request_unsubscribed \
	tests/driver/dispatch_order \
	tests/driver/dispatch_io \
	tests/driver/unsubscribe_wait \
	tests/driver/url_list \
	tests/driver/subscribe_msg \
	tests/driver/sub_destroy \
	tests/driver/flush_own_pong \
	tests/driver/publish_ack \
	tests/driver/durable_sub \
	tests/driver/group_compact \
	tests/driver/group_admin \
	tests/driver/group_start_emfile \
	tests/driver/stream_defaults \
	tests/driver/dlq_redrive \
	tests/driver/dlq_too_large \
	tests/driver/stream_edit \
	tests/driver/stream_declare \
	tests/driver/config_streams \
	tests/driver/stream_interest \
	tests/driver/stream_limits \
	tests/driver/publish_dedup \
	tests/driver/stream_disk_full \
	tests/driver/group_log_full \
	tests/driver/durable_term \
	tests/driver/request_durable \
	tests/driver/crash_groups \
	tests/driver/nested_callback \
	tests/driver/sub_batch \
	tests/driver/publish_hold \
	tests/driver/broker_codes \
	tests/driver/answer_kind \
	tests/driver/connack_limits \
	tests/driver/async_loss \
	tests/driver/close_waiters \
	tests/driver/request_deadline \
	tests/driver/unsubscribe_queued \
	tests/driver/dispatch_bytes \
	tests/driver/pong_backpressure \
	tests/driver/error_flood
check_PROGRAMS += $(DRIVER_TESTS)
tests_driver_options_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_nested_callback_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_sub_batch_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_publish_hold_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_crash_groups_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_crash_groups_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_request_durable_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_request_durable_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_durable_term_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_durable_term_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_stream_disk_full_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_stream_disk_full_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_group_log_full_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_group_log_full_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_publish_dedup_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_publish_dedup_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_stream_limits_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_stream_limits_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_group_compact_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_group_compact_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_group_admin_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_group_admin_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_group_start_emfile_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_group_start_emfile_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_stream_defaults_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_stream_defaults_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_dlq_redrive_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_dlq_redrive_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_dlq_too_large_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_dlq_too_large_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_stream_edit_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_stream_edit_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_stream_declare_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_stream_declare_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_config_streams_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_config_streams_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_stream_interest_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_stream_interest_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_durable_sub_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_durable_sub_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_publish_ack_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_publish_ack_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_pubsub_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_wildcards_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_groups_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_request_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_request_errors_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_admin_api_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_admin_api_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_admin_bytes_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_admin_bytes_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_admin_pages_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_admin_pages_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_admin_budget_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_admin_budget_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_settings_file_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_settings_file_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_settings_redis_CFLAGS = $(JANSSON_CFLAGS) $(HIREDIS_CFLAGS) $(AM_CFLAGS)
tests_driver_settings_redis_LDADD = $(TESTS_DRIVER_LIBS) tests/store/libredisproc.la src/libtrpcstore.la $(HIREDIS_LIBS) \
	$(JANSSON_LIBS)
tests_driver_admin_busy_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_admin_busy_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
tests_driver_request_shutdown_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_request_large_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_reconnect_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_buffer_full_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_buffer_unsent_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_slow_consumer_text_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_threads_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_misuse_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_external_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_request_unsubscribed_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_dispatch_order_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_dispatch_io_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_unsubscribe_wait_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_url_list_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_subscribe_msg_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_sub_destroy_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_flush_own_pong_LDADD = driver/libtrpcwire.la $(TESTS_DRIVER_LIBS)
tests_driver_broker_codes_LDADD = driver/libtrpcwire.la $(TESTS_DRIVER_LIBS)
tests_driver_answer_kind_LDADD = driver/libtrpcwire.la $(TESTS_DRIVER_LIBS)
tests_driver_connack_limits_LDADD = driver/libtrpcwire.la $(TESTS_DRIVER_LIBS)
tests_driver_async_loss_LDADD = driver/libtrpcwire.la $(TESTS_DRIVER_LIBS)
tests_driver_close_waiters_LDADD = driver/libtrpcwire.la $(TESTS_DRIVER_LIBS)
tests_driver_request_deadline_LDADD = driver/libtrpcwire.la $(TESTS_DRIVER_LIBS)
tests_driver_unsubscribe_queued_LDADD = driver/libtrpcwire.la $(TESTS_DRIVER_LIBS)
tests_driver_dispatch_bytes_LDADD = $(TESTS_DRIVER_LIBS)
tests_driver_pong_backpressure_LDADD = driver/libtrpcwire.la $(TESTS_DRIVER_LIBS)
tests_driver_error_flood_LDADD = driver/libtrpcwire.la $(TESTS_DRIVER_LIBS)

# Shell tests: the exported symbols and headers, and the examples against a real broker.
TESTS += tests/driver/exports.sh tests/driver/examples.sh tests/driver/valgrind.sh
EXTRA_DIST += tests/driver/exports.sh tests/driver/examples.sh tests/driver/valgrind.sh
TSAN_TESTS += $(DRIVER_TESTS)

# trpcs:// against `openssl s_server` and plain listeners, no broker: the certificates of
# tests/tls/mkcerts.sh, each refusal's words, the TLS phase passing before CONNECT.
check_PROGRAMS += tests/driver/tls_client
TSAN_TESTS += tests/driver/tls_client
tests_driver_tls_client_LDADD = driver/libtrpc.la -lpthread

# A whole trpcs:// session against a peer made of the codec and the TLS engine (no broker): 1 MiB
# each way, flush, requests, close_notify, reconnect, mTLS, the external loop.
check_PROGRAMS += tests/driver/tls_session
TSAN_TESTS += tests/driver/tls_session
tests_driver_tls_session_LDADD = driver/libtrpctls.la driver/libtrpcwire.la driver/libtrpc.la -lpthread

# libtrpc over TLS to the real broker: TLS 1.3 and 1.2, 1 MiB, plaintext and TLS clients mixed,
# mTLS, an unknown CA and a wrong name, 1,000 handshakes while TLS requests go on.
check_PROGRAMS += tests/driver/tls_broker
TSAN_TESTS += tests/driver/tls_broker
tests_driver_tls_broker_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_tls_broker_LDADD = driver/libtrpctls.la $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)

# trpc_options_set_tls_offload against the real broker: kernel TLS where this kernel has it (the
# client sockets with TLS_TX counted), else AUTO and USER in user space and KERNEL refused, why
# named; a request, a 1 MiB message, a kick and reconnect, and close_notify on each clean close.
check_PROGRAMS += tests/driver/tls_offload
TSAN_TESTS += tests/driver/tls_offload
tests_driver_tls_offload_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_driver_tls_offload_LDADD = $(TESTS_DRIVER_LIBS) $(JANSSON_LIBS)
