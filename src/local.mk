# src/: trpc-broker. Its parts are built into a convenience library that the daemon and the unit
# tests both link.
noinst_LTLIBRARIES += src/libtrpcbroker.la
src_libtrpcbroker_la_SOURCES = \
	src/config.c \
	src/config.h \
	src/trie.c \
	src/trie.h
src_libtrpcbroker_la_LIBADD = driver/libtrpcwire.la

check_PROGRAMS += tests/broker/trie_match tests/broker/trie_churn tests/broker/trie_deep
tests_broker_trie_match_LDADD = src/libtrpcbroker.la
tests_broker_trie_churn_LDADD = src/libtrpcbroker.la
tests_broker_trie_deep_LDADD = src/libtrpcbroker.la

check_PROGRAMS += tests/broker/config_file tests/broker/config_errors tests/broker/config_args
tests_broker_config_file_LDADD = src/libtrpcbroker.la
tests_broker_config_errors_LDADD = src/libtrpcbroker.la
tests_broker_config_args_LDADD = src/libtrpcbroker.la
