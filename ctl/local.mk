# ctl/: trpcctl, the operator's command line over the admin API (docs/admin-api.md). Everything but
# main.c is a convenience library, so tests/ctl/ runs the same reply handling and tables without a
# broker.
noinst_LTLIBRARIES += ctl/libtrpcctl.la
ctl_libtrpcctl_la_SOURCES = \
	ctl/ctl.h \
	ctl/table.c \
	ctl/render.c \
	ctl/render_stream.c \
	ctl/render_group.c \
	ctl/render_user.c \
	ctl/reply.c \
	ctl/verbs.c
ctl_libtrpcctl_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
ctl_libtrpcctl_la_LIBADD = $(JANSSON_LIBS)

bin_PROGRAMS += ctl/trpcctl
# Passwords are read by src/prompt.c, which wipes them with OpenSSL's OPENSSL_cleanse.
ctl_trpcctl_SOURCES = ctl/main.c src/prompt.c src/prompt.h
ctl_trpcctl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS)
ctl_trpcctl_LDADD = ctl/libtrpcctl.la driver/libtrpc.la $(OPENSSL_LIBS)
dist_man_MANS += ctl/trpcctl.1

# tests/ctl/: no broker needed. cli.sh drives the program (usage errors, --help, no broker);
# the C tests feed the contract's documents, good and malformed, to the reply handling.
CTL_TEST_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
noinst_HEADERS += tests/ctl/show.h
check_PROGRAMS += tests/ctl/table tests/ctl/render tests/ctl/malformed
tests_ctl_table_CFLAGS = $(CTL_TEST_CFLAGS)
tests_ctl_table_LDADD = ctl/libtrpcctl.la
tests_ctl_render_CFLAGS = $(CTL_TEST_CFLAGS)
tests_ctl_render_LDADD = ctl/libtrpcctl.la
tests_ctl_malformed_CFLAGS = $(CTL_TEST_CFLAGS)
tests_ctl_malformed_LDADD = ctl/libtrpcctl.la
TESTS += tests/ctl/cli.sh
EXTRA_DIST += tests/ctl/cli.sh tests/ctl/lib.sh

# The end-to-end test: every command against a real broker with a client connected.
TESTS += tests/ctl/e2e.sh
EXTRA_DIST += tests/ctl/e2e.sh

# The user and token commands against a real broker, passwords through standard input.
TESTS += tests/ctl/user.sh
EXTRA_DIST += tests/ctl/user.sh
