# driver/: the wire codec and topic syntax shared with the broker (libtrpcwire, a convenience
# library linked into both), the error list, and the client library libtrpc.so.
noinst_LTLIBRARIES += driver/libtrpcwire.la
driver_libtrpcwire_la_SOURCES = \
	driver/errors.c \
	driver/wire.c \
	driver/wire_reader.c \
	driver/wire.h \
	driver/topic.c \
	driver/topic.h

trpcincludedir = $(includedir)/trpc
trpcinclude_HEADERS = driver/include/trpc/errors.h driver/include/trpc/trpc.h

# libtrpc.so: the codec and the TLS engine linked in statically, OpenSSL dynamically; only trpc_*
# exported (hidden visibility for our objects, and the version script for everything, the codec's
# and the engine's objects included).
lib_LTLIBRARIES += driver/libtrpc.la
driver_libtrpc_la_SOURCES = \
	driver/client.h \
	driver/client.c \
	driver/declare.c \
	driver/dispatch.c \
	driver/io.c \
	driver/lasterr.c \
	driver/msg.c \
	driver/options.c \
	driver/pending.c \
	driver/request.c \
	driver/sendbuf.c \
	driver/sub.c
driver_libtrpc_la_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS) -pthread -fvisibility=hidden
driver_libtrpc_la_LIBADD = driver/libtrpcwire.la driver/libtrpctls.la $(URING_LIBS) $(OPENSSL_LIBS)
driver_libtrpc_la_LDFLAGS = $(AM_LDFLAGS) -pthread -version-info $(TRPC_LT_VERSION) -no-undefined \
	-Wl,--version-script=$(srcdir)/driver/libtrpc.sym
EXTRA_driver_libtrpc_la_DEPENDENCIES = driver/libtrpc.sym
EXTRA_DIST += driver/libtrpc.sym driver/trpc.pc.in

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = driver/trpc.pc

# man 3 pages: one per function group; every other function name is a .so link to its group.
TRPC_MAN_GROUPS = \
	driver/man/trpc_connect.3 \
	driver/man/trpc_options.3 \
	driver/man/trpc_publish.3 \
	driver/man/trpc_subscribe.3 \
	driver/man/trpc_request.3 \
	driver/man/trpc_msg.3 \
	driver/man/trpc_stream_declare.3
include driver/man/links.mk
man3_MANS = $(TRPC_MAN_GROUPS) $(TRPC_MAN_LINKS)
EXTRA_DIST += $(man3_MANS) driver/man/links.mk

# examples/: built with the tree, run by tests/driver/examples.sh against a real broker.
noinst_PROGRAMS += examples/hello/hello examples/echo/echo-service examples/echo/echo-client examples/durable/durable \
	examples/jobs/jobs
examples_hello_hello_LDADD = driver/libtrpc.la
examples_echo_echo_service_LDADD = driver/libtrpc.la
examples_echo_echo_client_LDADD = driver/libtrpc.la
examples_durable_durable_LDADD = driver/libtrpc.la -lpthread
examples_jobs_jobs_LDADD = driver/libtrpc.la -lpthread

include tests/driver/local.mk

# Reassembly buffer lifetime in the frame reader, and the client's message block cache.
check_PROGRAMS += tests/wire/reader_keep tests/driver/msg_cache
TSAN_TESTS += tests/driver/msg_cache
tests_wire_reader_keep_LDADD = driver/libtrpcwire.la
tests_driver_msg_cache_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS) -pthread
tests_driver_msg_cache_LDADD = driver/libtrpcwire.la -lpthread

# Direct sends from the caller's thread (driver/sendbuf.c) over a socketpair.
check_PROGRAMS += tests/driver/direct_send
tests_driver_direct_send_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS) -pthread
tests_driver_direct_send_LDADD = driver/libtrpcwire.la -lpthread

# The reading of the admin API's stream.add reply (driver/declare.c), compiled in alone.
check_PROGRAMS += tests/driver/declare_reply
tests_driver_declare_reply_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS) -pthread
tests_driver_declare_reply_LDADD = driver/libtrpcwire.la -lpthread

# driver/tls.c: TLS over memory for both ends (libtrpc's I/O side and the broker's cores), OpenSSL
# in user space; tests/tls/engine runs it against certificates tests/tls/mkcerts.sh makes.
noinst_LTLIBRARIES += driver/libtrpctls.la
driver_libtrpctls_la_SOURCES = driver/tls.c driver/tls.h
driver_libtrpctls_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
driver_libtrpctls_la_LIBADD = $(OPENSSL_LIBS)
check_PROGRAMS += tests/tls/engine
tests_tls_engine_LDADD = driver/libtrpctls.la
EXTRA_DIST += tests/tls/mkcerts.sh
noinst_HEADERS += tests/tls/certs.h
