# tests/fuzz/: libFuzzer targets for the topic syntax and the wire codec, with seed corpora and
# dictionaries. Every build replays the corpora in `make check` through replay.c (TAP, one point
# per input); a --enable-fuzzing build (CC=clang) also links the libFuzzer targets, listed in
# FUZZ_TARGETS for `make fuzz`, which tests/fuzz/run.sh runs for a bounded time.
noinst_HEADERS += tests/fuzz/fuzz.h

check_PROGRAMS += tests/fuzz/replay_topic tests/fuzz/replay_wire tests/fuzz/replay_config
tests_fuzz_replay_config_SOURCES = tests/fuzz/fuzz_config.c tests/fuzz/replay.c
tests_fuzz_replay_config_CPPFLAGS = $(AM_CPPFLAGS) -DREPLAY_CORPUS='"tests/fuzz/corpus/config"'
tests_fuzz_replay_config_LDADD = src/libtrpcbroker.la
tests_fuzz_replay_topic_SOURCES = tests/fuzz/fuzz_topic.c tests/fuzz/replay.c
tests_fuzz_replay_topic_CPPFLAGS = $(AM_CPPFLAGS) -DREPLAY_CORPUS='"tests/fuzz/corpus/topic"'
tests_fuzz_replay_topic_LDADD = $(TESTS_WIRE_LIBS)
tests_fuzz_replay_wire_SOURCES = tests/fuzz/fuzz_wire.c tests/fuzz/replay.c
tests_fuzz_replay_wire_CPPFLAGS = $(AM_CPPFLAGS) -DREPLAY_CORPUS='"tests/fuzz/corpus/wire"'
tests_fuzz_replay_wire_LDADD = $(TESTS_WIRE_LIBS)

# The delivery policy headers of a SUB (src/policy.c).
check_PROGRAMS += tests/fuzz/replay_policy
tests_fuzz_replay_policy_SOURCES = tests/fuzz/fuzz_policy.c tests/fuzz/replay.c
tests_fuzz_replay_policy_CPPFLAGS = $(AM_CPPFLAGS) -DREPLAY_CORPUS='"tests/fuzz/corpus/policy"'
tests_fuzz_replay_policy_LDADD = src/libtrpcbroker.la

# The admin API's request handler (src/admin_api.c), over the real modules.
check_PROGRAMS += tests/fuzz/replay_admin
tests_fuzz_replay_admin_SOURCES = tests/fuzz/fuzz_admin.c tests/fuzz/replay.c
tests_fuzz_replay_admin_CPPFLAGS = $(AM_CPPFLAGS) -DREPLAY_CORPUS='"tests/fuzz/corpus/admin"'
tests_fuzz_replay_admin_CFLAGS = $(URING_CFLAGS) $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_fuzz_replay_admin_LDADD = src/libtrpcd.la $(JANSSON_LIBS)

# The embedded store's file parser (src/store_file.c); make-store-seeds.py writes its corpus.
check_PROGRAMS += tests/fuzz/replay_store_file
tests_fuzz_replay_store_file_SOURCES = tests/fuzz/fuzz_store_file.c tests/fuzz/replay.c
tests_fuzz_replay_store_file_CPPFLAGS = $(AM_CPPFLAGS) -DREPLAY_CORPUS='"tests/fuzz/corpus/store_file"'
tests_fuzz_replay_store_file_LDADD = src/libtrpcstore.la

# A stream definition as the store holds it (src/stream_def.c).
check_PROGRAMS += tests/fuzz/replay_stream_def
tests_fuzz_replay_stream_def_SOURCES = tests/fuzz/fuzz_stream_def.c tests/fuzz/replay.c
tests_fuzz_replay_stream_def_CPPFLAGS = $(AM_CPPFLAGS) -DREPLAY_CORPUS='"tests/fuzz/corpus/stream_def"'
tests_fuzz_replay_stream_def_CFLAGS = $(URING_CFLAGS) $(AM_CFLAGS)
tests_fuzz_replay_stream_def_LDADD = src/libtrpcd.la

# A user record as the store holds it, with questions to its permissions, and tokens (src/auth.c).
check_PROGRAMS += tests/fuzz/replay_user
tests_fuzz_replay_user_SOURCES = tests/fuzz/fuzz_user.c tests/fuzz/replay.c
tests_fuzz_replay_user_CPPFLAGS = $(AM_CPPFLAGS) -DREPLAY_CORPUS='"tests/fuzz/corpus/user"'
tests_fuzz_replay_user_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_fuzz_replay_user_LDADD = src/libtrpcd.la $(JANSSON_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_user
FUZZ_TARGETS += tests/fuzz/fuzz_user$(EXEEXT)
tests_fuzz_fuzz_user_SOURCES = tests/fuzz/fuzz_user.c
tests_fuzz_fuzz_user_CFLAGS = $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_fuzz_fuzz_user_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_user_LDADD = src/libtrpcd.la $(JANSSON_LIBS)
noinst_PROGRAMS += tests/fuzz/fuzz_stream_def
FUZZ_TARGETS += tests/fuzz/fuzz_stream_def$(EXEEXT)
tests_fuzz_fuzz_stream_def_SOURCES = tests/fuzz/fuzz_stream_def.c
tests_fuzz_fuzz_stream_def_CFLAGS = $(URING_CFLAGS) $(AM_CFLAGS)
tests_fuzz_fuzz_stream_def_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_stream_def_LDADD = src/libtrpcd.la
noinst_PROGRAMS += tests/fuzz/fuzz_admin
FUZZ_TARGETS += tests/fuzz/fuzz_admin$(EXEEXT)
tests_fuzz_fuzz_admin_SOURCES = tests/fuzz/fuzz_admin.c
tests_fuzz_fuzz_admin_CFLAGS = $(URING_CFLAGS) $(JANSSON_CFLAGS) $(AM_CFLAGS)
tests_fuzz_fuzz_admin_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_admin_LDADD = src/libtrpcd.la $(JANSSON_LIBS)
noinst_PROGRAMS += tests/fuzz/fuzz_topic tests/fuzz/fuzz_wire tests/fuzz/fuzz_config
FUZZ_TARGETS += tests/fuzz/fuzz_topic$(EXEEXT) tests/fuzz/fuzz_wire$(EXEEXT) tests/fuzz/fuzz_config$(EXEEXT)
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_config_LDADD = src/libtrpcbroker.la
tests_fuzz_fuzz_topic_SOURCES = tests/fuzz/fuzz_topic.c
tests_fuzz_fuzz_topic_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_topic_LDADD = $(TESTS_WIRE_LIBS)
tests_fuzz_fuzz_wire_SOURCES = tests/fuzz/fuzz_wire.c
tests_fuzz_fuzz_wire_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_wire_LDADD = $(TESTS_WIRE_LIBS)
noinst_PROGRAMS += tests/fuzz/fuzz_policy
FUZZ_TARGETS += tests/fuzz/fuzz_policy$(EXEEXT)
tests_fuzz_fuzz_policy_SOURCES = tests/fuzz/fuzz_policy.c
tests_fuzz_fuzz_policy_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_policy_LDADD = src/libtrpcbroker.la
noinst_PROGRAMS += tests/fuzz/fuzz_store_file
FUZZ_TARGETS += tests/fuzz/fuzz_store_file$(EXEEXT)
tests_fuzz_fuzz_store_file_SOURCES = tests/fuzz/fuzz_store_file.c
tests_fuzz_fuzz_store_file_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_store_file_LDADD = src/libtrpcstore.la
endif

EXTRA_DIST += tests/fuzz/corpus tests/fuzz/admin.dict tests/fuzz/topic.dict tests/fuzz/wire.dict tests/fuzz/config.dict tests/fuzz/policy.dict tests/fuzz/store_file.dict tests/fuzz/user.dict tests/fuzz/run.sh \
	tests/fuzz/make-wire-seeds.py tests/fuzz/make-store-seeds.py
