# driver/: the wire codec and topic syntax shared with the broker (libtrpcwire, a convenience
# library linked into both), and the error list. The client proper (libtrpc.so) joins here.
noinst_LTLIBRARIES += driver/libtrpcwire.la
driver_libtrpcwire_la_SOURCES = \
	driver/errors.c \
	driver/wire.c \
	driver/wire_reader.c \
	driver/wire.h \
	driver/topic.c \
	driver/topic.h

trpcincludedir = $(includedir)/trpc
trpcinclude_HEADERS = driver/include/trpc/errors.h
