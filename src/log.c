/* One-line log records on stderr (see log.h). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "src/log.h"

/* Set by the control thread while cores log (the log-level setting is live). */
static _Atomic int log_level = CONFIG_LOG_INFO;
static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_set_level(int level)
{
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

bool log_enabled(int level)
{
    return level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

size_t log_printable(char *out, size_t outlen, const void *in, size_t inlen)
{
    const unsigned char *b = in;
    size_t n = inlen < outlen - 1 ? inlen : outlen - 1;

    for (size_t i = 0; i < n; i++)
        out[i] = b[i] > 0x20 && b[i] < 0x7f ? (char)b[i] : '?';
    out[n] = '\0';
    return n;
}

static void vlog(int level, int core, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    if (core == LOG_NO_CORE)
        r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s core=- ", ts.tv_nsec / 1000000, level_names[level]);
    else
        r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s core=%d ", ts.tv_nsec / 1000000, level_names[level], core);
    if (r > 0)
        n += (size_t)r;
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (r > 0)
        n += (size_t)r;
    if (n > sizeof(line) - 1)
        n = sizeof(line) - 1;
    line[n++] = '\n';
    /* A short or failed write to stderr has no better place to be reported. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}

void log_line(int level, int core, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    vlog(level, core, fmt, ap);
    va_end(ap);
}

void log_always(int core, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(CONFIG_LOG_INFO, core, fmt, ap);
    va_end(ap);
}
