/*
 * Minimal TAP producer for tests run by automake's tap-driver.sh. One test program checks one
 * behaviour; each ok() is one TAP point so a failure names the exact case.
 *
 *   int main(void) { plan(3); ok(1 + 1 == 2, "adds"); ...; return done_testing(); }
 *
 * skip_all() ends the program with a reason, as TAP's "1..0 # SKIP" does.
 */
#ifndef TRPC_TESTS_TAP_H
#define TRPC_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_run_;
static int tap_failed_;
static int tap_planned_ = -1;

static inline void plan(int n)
{
    tap_planned_ = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

__attribute__((format(printf, 4, 5))) static inline int ok_at(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    /* One line at a time: a diag() from another thread (a library callback) must not land in the
     * middle of it, where TAP would lose the result. */
    flockfile(stdout);
    tap_run_++;
    if (!cond)
        tap_failed_++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_run_);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond)
        printf("#   failed at %s:%d\n", file, line);
    fflush(stdout);
    funlockfile(stdout);
    return cond;
}

#define ok(cond, ...) ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Compares two integers and prints both on failure. */
#define ok_eq(got, want, ...)                                                                                                      \
    do {                                                                                                                           \
        long long got_ = (long long)(got), want_ = (long long)(want);                                                              \
        if (!ok(got_ == want_, __VA_ARGS__))                                                                                       \
            printf("#   got %lld, want %lld\n", got_, want_);                                                                      \
    } while (0)

__attribute__((format(printf, 1, 2))) static inline void diag(const char *fmt, ...)
{
    va_list ap;

    flockfile(stdout);
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    funlockfile(stdout);
}

/* n checks that cannot run here, each reported as TAP's "ok N # SKIP why". */
static inline void skip(int n, const char *why)
{
    for (int i = 0; i < n; i++)
        printf("ok %d # SKIP %s\n", ++tap_run_, why);
    fflush(stdout);
}

static inline void skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    exit(0);
}

/* Emits the plan if none was given up front; exit status says whether everything passed. */
static inline int done_testing(void)
{
    if (tap_planned_ < 0)
        printf("1..%d\n", tap_run_);
    else if (tap_planned_ != tap_run_)
        printf("# planned %d tests but ran %d\n", tap_planned_, tap_run_);
    return tap_failed_ || (tap_planned_ >= 0 && tap_planned_ != tap_run_) ? 1 : 0;
}

/* A fatal precondition inside a test: report and stop. */
#define BAIL_OUT(...)                                                                                                              \
    do {                                                                                                                           \
        printf("Bail out! ");                                                                                                      \
        printf(__VA_ARGS__);                                                                                                       \
        printf("\n");                                                                                                              \
        exit(99);                                                                                                                  \
    } while (0)

#endif
