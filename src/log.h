/*
 * log: one line per event on stderr, `2026-11-25T06:10:00.123Z INFO core=1 accepted fd=12`.
 *
 * Each line is formatted into a stack buffer and written with one write(2), so lines from
 * different core threads never interleave. Lines longer than LOG_LINE_MAX are cut.
 */
#ifndef TRPC_SRC_LOG_H
#define TRPC_SRC_LOG_H

#include "src/config.h"

#define LOG_LINE_MAX 1024
#define LOG_NO_CORE  (-1) /* the main thread: printed as core=- */

/* Lines above this level (enum config_log_level) are dropped. Set once at start. */
void log_set_level(int level);
bool log_enabled(int level);

__attribute__((format(printf, 3, 4))) void log_line(int level, int core, const char *fmt, ...);
/* Bytes a client sent (a name, a header's value), fit for a log line: what is not printable ASCII
 * becomes '?', so that nothing forges a line. At most outlen - 1 of them; out is NUL-terminated.
 * Returns how many were written. */
size_t log_printable(char *out, size_t outlen, const void *in, size_t inlen);
/* An INFO line written whatever the level: start-up facts (version, io_uring tier, the address
 * listened on, which tools read for the port) and the final counters. */
__attribute__((format(printf, 2, 3))) void log_always(int core, const char *fmt, ...);

#define log_error(core, ...) log_line(CONFIG_LOG_ERROR, core, __VA_ARGS__)
#define log_warn(core, ...)  log_line(CONFIG_LOG_WARN, core, __VA_ARGS__)
#define log_info(core, ...)  log_line(CONFIG_LOG_INFO, core, __VA_ARGS__)
#define log_debug(core, ...)                                                                                                       \
    do {                                                                                                                           \
        if (log_enabled(CONFIG_LOG_DEBUG))                                                                                         \
            log_line(CONFIG_LOG_DEBUG, core, __VA_ARGS__);                                                                         \
    } while (0)

#endif
