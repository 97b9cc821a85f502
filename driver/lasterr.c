/*
 * lasterr: the per-thread detail string behind trpc_last_error(), and the clock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "driver/client.h"

static __thread char last_error[512]; /* room for a TLS failure: host, port and OpenSSL's reason */

int trpc__fail(int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return err;
}

void trpc__clear_error(void)
{
    last_error[0] = '\0';
}

const char *trpc_last_error(void)
{
    return last_error;
}

int64_t trpc__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
