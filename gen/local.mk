# gen/: trpc-gen, the .trpc contract compiler (docs/contracts.md). The front end is a convenience
# library so the tests and the fuzz target link the same objects as the program.
noinst_LTLIBRARIES += gen/libtrpcgen.la
gen_libtrpcgen_la_SOURCES = \
	gen/gen.h \
	gen/arena.c \
	gen/diag.c \
	gen/lex.c \
	gen/parse.c \
	gen/load.c \
	gen/check.c \
	gen/options.c \
	gen/proto.c \
	gen/cname.c \
	gen/emit.c
GEN_LIBS = gen/libtrpcgen.la driver/libtrpcwire.la

# The header the generated stubs include, installed beside <trpc/trpc.h>.
genincludedir = $(includedir)/trpc
geninclude_HEADERS = gen/include/trpc/stub.h

bin_PROGRAMS += gen/trpc-gen
gen_trpc_gen_SOURCES = gen/main.c
gen_trpc_gen_CPPFLAGS = $(AM_CPPFLAGS) -DGEN_PROTOC_C='"$(PROTOC_C)"'
gen_trpc_gen_LDADD = $(GEN_LIBS)
dist_man_MANS += gen/trpc-gen.1

# Tests: shell tests drive the installed-to-be binary over the contracts in tests/gen/; C tests
# get the compiler and protobuf-c flags through defines.
TESTS_GEN_SH = \
	tests/gen/bad.sh \
	tests/gen/golden.sh \
	tests/gen/determinism.sh \
	tests/gen/deps.sh \
	tests/gen/cli.sh \
	tests/gen/imports.sh \
	tests/gen/format.sh
TESTS += $(TESTS_GEN_SH)

check_PROGRAMS += tests/gen/protoc_build
tests_gen_protoc_build_SOURCES = tests/gen/protoc_build.c
tests_gen_protoc_build_CPPFLAGS = $(AM_CPPFLAGS) -DGEN_TEST_CC='"$(CC)"' \
	-DGEN_TEST_PROTOBUF_CFLAGS='"$(PROTOBUF_C_CFLAGS)"' -DGEN_TEST_PROTOBUF_LIBS='"$(PROTOBUF_C_LIBS)"'

check_PROGRAMS += tests/gen/stubs_build
tests_gen_stubs_build_SOURCES = tests/gen/stubs_build.c
tests_gen_stubs_build_CPPFLAGS = $(tests_gen_protoc_build_CPPFLAGS)

check_PROGRAMS += tests/gen/lex_doc
tests_gen_lex_doc_LDADD = $(GEN_LIBS)

# gen's copies of the broker's name limits, held equal at compile time (it sees both headers).
check_PROGRAMS += tests/gen/limits

# The fuzz target (tests/fuzz/fuzz_gen.c) replays its corpus in every build through the shared
# tests/fuzz/replay.c; tests/fuzz/local.mk already distributes tests/fuzz/corpus.
check_PROGRAMS += tests/gen/replay_gen
tests_gen_replay_gen_SOURCES = tests/fuzz/fuzz_gen.c tests/fuzz/replay.c
tests_gen_replay_gen_CPPFLAGS = $(AM_CPPFLAGS) -DREPLAY_CORPUS='"tests/fuzz/corpus/gen"'
tests_gen_replay_gen_LDADD = $(GEN_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_gen
FUZZ_TARGETS += tests/fuzz/fuzz_gen$(EXEEXT)
tests_fuzz_fuzz_gen_SOURCES = tests/fuzz/fuzz_gen.c
tests_fuzz_fuzz_gen_LDADD = $(GEN_LIBS)
tests_fuzz_fuzz_gen_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
endif

# examples/shop's stubs are generated into the build tree the way a user's build makes them
# (docs/contracts.md, "Using trpc-gen from automake"): one trpc-gen run writes all five files, so
# they hang off a stamp (automake manual, "Multiple Outputs"). The stub tests run them over the real
# libtrpc against a real broker (tests/harness), and against tests/gen/wire_peer.h, a TCP peer
# speaking the codec, where only the wire shows what they send.
#
# The contract gets an explicit empty rule so make looks for no implicit rule to make it: in an
# in-tree build GNU make's built-in `%: %.c` would otherwise make examples/shop/shop.trpc from the
# generated examples/shop/shop.trpc.c, a cycle through the stamp.
#
# The stamp takes the time from before the run (touched as .tmp, moved after), so the outputs are
# newer than it and their rules stay quiet once made. An output deleted since is made again by its
# own rule, STUB_REMAKE: no recursive make, which would search the same rules again.
SHOP_GEN = examples/shop/shop.proto examples/shop/shop.pb-c.c examples/shop/shop.pb-c.h \
	examples/shop/shop.trpc.c examples/shop/shop.trpc.h
SHOP_GEN_RUN = gen/trpc-gen -o examples/shop $(srcdir)/examples/shop/shop.trpc
$(srcdir)/examples/shop/shop.trpc: ;
examples/shop/shop.stamp: $(srcdir)/examples/shop/shop.trpc gen/trpc-gen$(EXEEXT)
	@$(MKDIR_P) examples/shop && rm -f $@.tmp && touch $@.tmp
	$(AM_V_GEN)$(SHOP_GEN_RUN) && mv -f $@.tmp $@
$(SHOP_GEN): examples/shop/shop.stamp
	@stamp=examples/shop/shop.stamp gen_run='$(SHOP_GEN_RUN)'; $(STUB_REMAKE)
CLEANFILES += $(SHOP_GEN) examples/shop/shop.stamp examples/shop/shop.stamp.tmp

# The recipe of a deleted output, after stamp and gen_run are set to its stamp and trpc-gen command.
# Under -j the rules of several deleted outputs run at once, and two trpc-gen runs writing the same
# files would clash (their .tmp files share names; protoc-c writes in place): the first to take the
# lock (mkdir is atomic) runs trpc-gen, which writes every output, and the others wait for it and
# succeed if their file is there. A run that fails or is interrupted takes the stamp with it, so
# the next make redoes the whole contract rather than trust what it left; a lock left by a killed
# run is reported after five minutes instead of waited on for ever.
STUB_REMAKE = \
	if test -f $@; then :; else \
	  lock=$(@D)/trpc-gen.lock; \
	  if mkdir "$$lock" 2>/dev/null; then \
	    trap 'rm -rf "$$lock" "$$stamp"' 1 2 13 15; \
	    echo "$$gen_run"; \
	    $$gen_run; result=$$?; \
	    test $$result -eq 0 || rm -f "$$stamp"; \
	    rm -rf "$$lock"; exit $$result; \
	  else \
	    n=0; while test -d "$$lock"; do \
	      n=`expr $$n + 1`; \
	      if test $$n -gt 300; then echo "$@: $$lock is still there: remove it if no make runs" >&2; exit 1; fi; \
	      sleep 1; \
	    done; \
	    test -f $@; \
	  fi; \
	fi

STUB_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/gen/include -Iexamples/shop $(PROTOBUF_C_CFLAGS)
STUB_TEST_SOURCES = tests/gen/wire_peer.h
nodist_STUB_TEST_SOURCES = examples/shop/shop.trpc.c examples/shop/shop.pb-c.c
STUB_TEST_LIBS = driver/libtrpc.la driver/libtrpcwire.la tests/harness/libharness.la $(PROTOBUF_C_LIBS) -lpthread

check_PROGRAMS += tests/gen/stub_server tests/gen/stub_client tests/gen/stub_events
tests_gen_stub_server_SOURCES = tests/gen/stub_server.c $(STUB_TEST_SOURCES)
nodist_tests_gen_stub_server_SOURCES = $(nodist_STUB_TEST_SOURCES)
tests_gen_stub_server_CPPFLAGS = $(STUB_TEST_CPPFLAGS)
tests_gen_stub_server_LDADD = $(STUB_TEST_LIBS)
$(tests_gen_stub_server_OBJECTS): $(SHOP_GEN)
tests_gen_stub_client_SOURCES = tests/gen/stub_client.c $(STUB_TEST_SOURCES)
nodist_tests_gen_stub_client_SOURCES = $(nodist_STUB_TEST_SOURCES)
tests_gen_stub_client_CPPFLAGS = $(STUB_TEST_CPPFLAGS)
tests_gen_stub_client_LDADD = $(STUB_TEST_LIBS)
$(tests_gen_stub_client_OBJECTS): $(SHOP_GEN)
tests_gen_stub_events_SOURCES = tests/gen/stub_events.c $(STUB_TEST_SOURCES)
nodist_tests_gen_stub_events_SOURCES = $(nodist_STUB_TEST_SOURCES)
tests_gen_stub_events_CPPFLAGS = $(STUB_TEST_CPPFLAGS)
tests_gen_stub_events_LDADD = $(STUB_TEST_LIBS)
$(tests_gen_stub_events_OBJECTS): $(SHOP_GEN)
TSAN_TESTS += tests/gen/stub_server tests/gen/stub_client tests/gen/stub_events

# tests/gen/good/notify.trpc's stubs, made the same way, for an event's timeout_ms in the typed
# publish (tests/gen/stub_publish).
NOTIFY_GEN = tests/gen/notify/notify.proto tests/gen/notify/notify.pb-c.c tests/gen/notify/notify.pb-c.h \
	tests/gen/notify/notify.trpc.c tests/gen/notify/notify.trpc.h
NOTIFY_GEN_RUN = gen/trpc-gen -o tests/gen/notify $(srcdir)/tests/gen/good/notify.trpc
$(srcdir)/tests/gen/good/notify.trpc: ;
tests/gen/notify/notify.stamp: $(srcdir)/tests/gen/good/notify.trpc gen/trpc-gen$(EXEEXT)
	@$(MKDIR_P) tests/gen/notify && rm -f $@.tmp && touch $@.tmp
	$(AM_V_GEN)$(NOTIFY_GEN_RUN) && mv -f $@.tmp $@
$(NOTIFY_GEN): tests/gen/notify/notify.stamp
	@stamp=tests/gen/notify/notify.stamp gen_run='$(NOTIFY_GEN_RUN)'; $(STUB_REMAKE)
CLEANFILES += $(NOTIFY_GEN) tests/gen/notify/notify.stamp tests/gen/notify/notify.stamp.tmp

check_PROGRAMS += tests/gen/stub_publish
tests_gen_stub_publish_SOURCES = tests/gen/stub_publish.c $(STUB_TEST_SOURCES)
nodist_tests_gen_stub_publish_SOURCES = tests/gen/notify/notify.trpc.c tests/gen/notify/notify.pb-c.c
tests_gen_stub_publish_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/gen/include -Itests/gen/notify $(PROTOBUF_C_CFLAGS)
tests_gen_stub_publish_LDADD = $(STUB_TEST_LIBS)
$(tests_gen_stub_publish_OBJECTS): $(NOTIFY_GEN)
TSAN_TESTS += tests/gen/stub_publish

# The shop example: Billing served by shop-server (run two) and called by shop-client, built from
# the generated stubs and libtrpc as a user would; tests/gen/shop_e2e.sh runs them on a real broker.
SHOP_EXAMPLE_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/gen/include -Iexamples/shop $(PROTOBUF_C_CFLAGS)
noinst_PROGRAMS += examples/shop/shop-server examples/shop/shop-client
examples_shop_shop_server_SOURCES = examples/shop/shop-server.c examples/shop/shop-streams.h
nodist_examples_shop_shop_server_SOURCES = examples/shop/shop.trpc.c examples/shop/shop.pb-c.c
examples_shop_shop_server_CPPFLAGS = $(SHOP_EXAMPLE_CPPFLAGS)
examples_shop_shop_server_LDADD = driver/libtrpc.la $(PROTOBUF_C_LIBS)
$(examples_shop_shop_server_OBJECTS): $(SHOP_GEN)
examples_shop_shop_client_SOURCES = examples/shop/shop-client.c
nodist_examples_shop_shop_client_SOURCES = examples/shop/shop.trpc.c examples/shop/shop.pb-c.c
examples_shop_shop_client_CPPFLAGS = $(SHOP_EXAMPLE_CPPFLAGS)
examples_shop_shop_client_LDADD = driver/libtrpc.la $(PROTOBUF_C_LIBS) -lpthread
$(examples_shop_shop_client_OBJECTS): $(SHOP_GEN)
TESTS += tests/gen/shop_e2e.sh

EXTRA_DIST += \
	$(TESTS_GEN_SH) \
	tests/gen/shop_e2e.sh \
	tests/gen/lib.sh \
	tests/gen/bad \
	tests/gen/good \
	tests/fuzz/gen.dict \
	examples/shop/shop.trpc
