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
	gen/proto.c
GEN_LIBS = gen/libtrpcgen.la driver/libtrpcwire.la

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
	tests/gen/imports.sh
TESTS += $(TESTS_GEN_SH)

check_PROGRAMS += tests/gen/protoc_build
tests_gen_protoc_build_SOURCES = tests/gen/protoc_build.c
tests_gen_protoc_build_CPPFLAGS = $(AM_CPPFLAGS) -DGEN_TEST_CC='"$(CC)"' \
	-DGEN_TEST_PROTOBUF_CFLAGS='"$(PROTOBUF_C_CFLAGS)"' -DGEN_TEST_PROTOBUF_LIBS='"$(PROTOBUF_C_LIBS)"'

check_PROGRAMS += tests/gen/lex_doc
tests_gen_lex_doc_LDADD = $(GEN_LIBS)

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

EXTRA_DIST += \
	$(TESTS_GEN_SH) \
	tests/gen/lib.sh \
	tests/gen/bad \
	tests/gen/good \
	tests/fuzz/gen.dict \
	examples/shop/shop.trpc
