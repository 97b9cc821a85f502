# src/: trpc-broker. Its parts are built into a convenience library that the daemon and the unit
# tests both link.
noinst_LTLIBRARIES += src/libtrpcbroker.la
src_libtrpcbroker_la_SOURCES = \
	src/config.c \
	src/config.h \
	src/err.h \
	src/trie.c \
	src/trie.h \
	src/idmap.c \
	src/idmap.h \
	src/log.c \
	src/log.h \
	src/policy.c \
	src/policy.h \
	src/stats.c \
	src/stats.h
src_libtrpcbroker_la_LIBADD = driver/libtrpcwire.la

# The daemon: core threads, sessions, routing, request/reply over the uring/ loop, and the control
# thread with the admin API. All but main.c in a convenience library, so that tests and fuzz
# targets (the admin API's) link the real modules.
noinst_LTLIBRARIES += src/libtrpcd.la
src_libtrpcd_la_SOURCES = \
	src/admin.h \
	src/admin.c \
	src/admin_api.h \
	src/admin_api.c \
	src/admin_stream.c \
	src/admin_group.c \
	src/admin_dlq.c \
	src/admin_dlq_stream.c \
	src/admin_user.c \
	src/auth.h \
	src/auth.c \
	src/prompt.h \
	src/prompt.c \
	src/user_cli.h \
	src/user_cli.c \
	src/blist.h \
	src/control.h \
	src/control.c \
	src/control_store.c \
	src/control_auth.c \
	src/control_dash.c \
	src/core.h \
	src/core.c \
	src/direct.h \
	src/direct.c \
	src/group.h \
	src/group_internal.h \
	src/group.c \
	src/group_admin.c \
	src/metrics.h \
	src/metrics.c \
	src/request.h \
	src/request.c \
	src/route.h \
	src/route.c \
	src/route_direct.c \
	src/session.h \
	src/session.c \
	src/session_auth.c \
	src/stream.h \
	src/stream_internal.h \
	src/stream.c \
	src/stream_def.c \
	src/stream_dlq.c \
	src/stls.h \
	src/stls.c \
	src/steer.h \
	src/steer.c
# h2o's pkg-config file does not say which loop its headers are for: this library is the evloop one.
src_libtrpcd_la_CFLAGS = $(URING_CFLAGS) $(JANSSON_CFLAGS) $(H2O_CFLAGS) $(OPENSSL_CFLAGS) $(ARGON2_CFLAGS) $(BPF_CFLAGS) -DH2O_USE_LIBUV=0 $(AM_CFLAGS)
src_libtrpcd_la_LIBADD = src/libtrpcbroker.la src/libtrpcstore.la src/libtrpcwalsrc.la uring/libtrpcuring.la driver/libtrpctls.la $(JANSSON_LIBS) $(H2O_LIBS) $(ARGON2_LIBS) $(OPENSSL_LIBS) $(BPF_LIBS) -lpthread

bin_PROGRAMS += src/trpc-broker
src_trpc_broker_SOURCES = src/main.c src/contracts.h src/contracts.c
src_trpc_broker_CFLAGS = $(URING_CFLAGS) $(AM_CFLAGS)
src_trpc_broker_LDADD = src/libtrpcd.la $(GEN_LIBS)
dist_man_MANS += src/trpc-broker.8

check_PROGRAMS += tests/broker/trie_match tests/broker/trie_churn tests/broker/trie_deep
tests_broker_trie_match_LDADD = src/libtrpcbroker.la
tests_broker_trie_churn_LDADD = src/libtrpcbroker.la
tests_broker_trie_deep_LDADD = src/libtrpcbroker.la

check_PROGRAMS += tests/broker/config_file tests/broker/config_errors tests/broker/config_args
tests_broker_config_file_LDADD = src/libtrpcbroker.la
tests_broker_config_errors_LDADD = src/libtrpcbroker.la
tests_broker_config_args_LDADD = src/libtrpcbroker.la

# Integration tests: a real broker process on loopback (tests/harness) and a raw wire client
# (tests/broker/tclient.c) that can send anything, malformed frames included.
noinst_LTLIBRARIES += tests/broker/libtclient.la
tests_broker_libtclient_la_SOURCES = tests/broker/tclient.c tests/broker/tclient.h tests/broker/itest.h tests/broker/itest_admin.h tests/broker/itest_auth.h \
	tests/broker/itest_group.h
tests_broker_libtclient_la_LIBADD = driver/libtrpctls.la
TESTS_BROKER_LIBS = tests/broker/libtclient.la tests/harness/libharness.la driver/libtrpcwire.la -lpthread
BROKER_ITESTS = \
	tests/broker/cli \
	tests/broker/session_rules \
	tests/broker/wildcards \
	tests/broker/route_memo \
	tests/broker/pubsub_order \
	tests/broker/pub_direct \
	tests/broker/sub_cleanup \
	tests/broker/queue_group \
	tests/broker/reqrep \
	tests/broker/reqrep_cores \
	tests/broker/reqrep_client_limit \
	tests/broker/reqrep_unsub_lost \
	tests/broker/reqrep_xbytes \
	tests/broker/reqrep_churn \
	tests/broker/reqrep_shutdown \
	tests/broker/clients_1000 \
	tests/broker/slow_consumer \
	tests/broker/output_burst \
	tests/broker/malformed \
	tests/broker/sigterm_flush \
	tests/broker/readyz_stopping \
	tests/broker/pong_order \
	tests/broker/stream_store \
	tests/broker/admin_user \
	tests/broker/group_delivery \
	tests/broker/dlq_stream \
	tests/broker/request_durable \
	tests/broker/tls_listener \
	tests/broker/pong_order_tls \
	tests/broker/auth_connect \
	tests/broker/auth_tls \
	tests/broker/auth_redis \
	tests/broker/auth_storm \
	tests/broker/auth_durable \
	tests/broker/auth_wait \
	tests/broker/steering
check_PROGRAMS += $(BROKER_ITESTS)
TSAN_TESTS += $(BROKER_ITESTS)
tests_broker_cli_LDADD = $(TESTS_BROKER_LIBS)
check_PROGRAMS += tests/broker/stream_overlap
tests_broker_stream_overlap_CFLAGS = $(URING_CFLAGS) $(AM_CFLAGS)
tests_broker_stream_overlap_LDADD = src/libtrpcd.la
# src/auth.c alone: hashes, tokens, user records, permissions and their cache.
check_PROGRAMS += tests/broker/auth_unit
tests_broker_auth_unit_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_auth_unit_LDADD = src/libtrpcd.la $(JANSSON_LIBS)
# trpc-broker user (src/user_cli.c) on an embedded store, and on Redis when redis-server is there.
TESTS += tests/broker/user_cli.sh
EXTRA_DIST += tests/broker/user_cli.sh
# Steering without CAP_BPF: the fallback and the refusal (setpriv drops the capability).
TESTS += tests/broker/steering_nocap.sh
EXTRA_DIST += tests/broker/steering_nocap.sh
tests_broker_stream_store_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_group_delivery_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_group_delivery_LDADD = $(TESTS_BROKER_LIBS) $(JANSSON_LIBS)
tests_broker_auth_connect_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_auth_connect_LDADD = $(TESTS_BROKER_LIBS) src/libtrpcd.la $(JANSSON_LIBS)
tests_broker_auth_redis_CFLAGS = $(JANSSON_CFLAGS) $(HIREDIS_CFLAGS) $(AM_CFLAGS)
tests_broker_auth_redis_LDADD = $(TESTS_BROKER_LIBS) tests/store/libredisproc.la src/libtrpcd.la $(HIREDIS_LIBS) $(JANSSON_LIBS)
tests_broker_auth_storm_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_auth_storm_LDADD = $(TESTS_BROKER_LIBS) src/libtrpcd.la $(JANSSON_LIBS)
tests_broker_auth_durable_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_auth_durable_LDADD = $(TESTS_BROKER_LIBS) src/libtrpcd.la $(JANSSON_LIBS)
tests_broker_auth_wait_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_auth_wait_LDADD = $(TESTS_BROKER_LIBS) src/libtrpcd.la $(JANSSON_LIBS)
tests_broker_auth_tls_CFLAGS = $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS) $(AM_CFLAGS)
tests_broker_auth_tls_LDADD = $(TESTS_BROKER_LIBS) src/libtrpcd.la $(JANSSON_LIBS)
tests_broker_dlq_stream_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_dlq_stream_LDADD = $(TESTS_BROKER_LIBS) $(JANSSON_LIBS)
tests_broker_stream_store_LDADD = $(TESTS_BROKER_LIBS) $(JANSSON_LIBS)
tests_broker_admin_user_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_admin_user_LDADD = $(TESTS_BROKER_LIBS) $(JANSSON_LIBS)
tests_broker_request_durable_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_request_durable_LDADD = $(TESTS_BROKER_LIBS) $(JANSSON_LIBS)
tests_broker_session_rules_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_wildcards_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_route_memo_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_pubsub_order_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_pub_direct_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_broker_pub_direct_LDADD = $(TESTS_BROKER_LIBS) $(JANSSON_LIBS)
tests_broker_sub_cleanup_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_queue_group_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_reqrep_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_reqrep_cores_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_reqrep_client_limit_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_reqrep_unsub_lost_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_reqrep_xbytes_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_steering_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_reqrep_churn_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_reqrep_shutdown_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_clients_1000_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_slow_consumer_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_output_burst_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_malformed_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_sigterm_flush_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_readyz_stopping_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_pong_order_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_tls_listener_LDADD = $(TESTS_BROKER_LIBS)
# pong_order with the paused connection over TLS.
tests_broker_pong_order_tls_SOURCES = tests/broker/pong_order.c
tests_broker_pong_order_tls_CFLAGS = -DPONG_ORDER_TLS $(AM_CFLAGS)
tests_broker_pong_order_tls_LDADD = $(TESTS_BROKER_LIBS)

# The delivery policy of a SUB (src/policy.c): the parser alone, then a real broker over the raw
# client and through libtrpc's trpc_subscribe_msg.
noinst_HEADERS += tests/broker/policy_cases.h
check_PROGRAMS += tests/broker/policy_parse
tests_broker_policy_parse_LDADD = src/libtrpcbroker.la

# The counter list (src/stats.h) alone: rows, values and the stats line's keys in order.
check_PROGRAMS += tests/broker/stats_list
tests_broker_stats_list_LDADD = src/libtrpcbroker.la
check_PROGRAMS += tests/broker/policy_sub tests/broker/policy_libtrpc
TSAN_TESTS += tests/broker/policy_sub tests/broker/policy_libtrpc
tests_broker_policy_sub_LDADD = $(TESTS_BROKER_LIBS)
tests_broker_policy_libtrpc_LDADD = driver/libtrpc.la tests/harness/libharness.la -lpthread

# Large PUB copies between cores recycle their blocks (route.c); reads BROKER_RECYCLE_* from route.h.
check_PROGRAMS += tests/broker/pub_large
TSAN_TESTS += tests/broker/pub_large
tests_broker_pub_large_CFLAGS = $(URING_CFLAGS) $(AM_CFLAGS)
tests_broker_pub_large_LDADD = $(TESTS_BROKER_LIBS)

# A WAL driven by a core's loop: the adapter that registers it as the loop's CQE source.
noinst_LTLIBRARIES += src/libtrpcwalsrc.la
src_libtrpcwalsrc_la_SOURCES = src/wal_source.c src/wal_source.h
src_libtrpcwalsrc_la_CFLAGS = $(URING_CFLAGS) $(AM_CFLAGS)
src_libtrpcwalsrc_la_LIBADD = wal/libtrpcwal.la uring/libtrpcuring.la

# The store (issue 16): settings and, later, streams, groups and users, in embedded files or Redis.
# Used from the control thread only; tests/store/ has its tests (Redis ones start a redis-server).
noinst_LTLIBRARIES += src/libtrpcstore.la
src_libtrpcstore_la_SOURCES = \
	src/store.h \
	src/store_internal.h \
	src/store.c \
	src/store_file.c \
	src/store_redis.c
src_libtrpcstore_la_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS)
src_libtrpcstore_la_LIBADD = wal/libtrpcwal.la $(HIREDIS_LIBS)

noinst_HEADERS += tests/store/storet.h
check_PROGRAMS += tests/store/url tests/store/file_basic tests/store/file_damage tests/store/file_crash
tests_store_url_LDADD = src/libtrpcstore.la
tests_store_file_basic_LDADD = src/libtrpcstore.la
tests_store_file_damage_LDADD = src/libtrpcstore.la
tests_store_file_crash_LDADD = src/libtrpcstore.la

# The Redis store against a real redis-server (tests/store/redis_proc.c starts one per test).
noinst_LTLIBRARIES += tests/store/libredisproc.la
tests_store_libredisproc_la_SOURCES = tests/store/redis_proc.c tests/store/redis_proc.h
check_PROGRAMS += tests/store/redis_roundtrip tests/store/redis_changes tests/store/redis_outage tests/store/redis_absent \
	tests/store/redis_auth
TESTS_STORE_REDIS_LIBS = tests/store/libredisproc.la src/libtrpcstore.la $(HIREDIS_LIBS)
tests_store_redis_roundtrip_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS)
tests_store_redis_roundtrip_LDADD = $(TESTS_STORE_REDIS_LIBS)
tests_store_redis_changes_LDADD = $(TESTS_STORE_REDIS_LIBS)
tests_store_redis_outage_LDADD = $(TESTS_STORE_REDIS_LIBS)
tests_store_redis_absent_LDADD = $(TESTS_STORE_REDIS_LIBS)
tests_store_redis_auth_LDADD = $(TESTS_STORE_REDIS_LIBS)
