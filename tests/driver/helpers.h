/*
 * helpers for the driver's tests: a real broker (tests/harness), an inbox that a subscription
 * callback fills and a test waits on, a responder that echoes, and large messages checked byte by
 * byte. Every wait is bounded, so a missing message fails its test point instead of hanging the
 * program.
 */
#ifndef TRPC_TESTS_DRIVER_HELPERS_H
#define TRPC_TESTS_DRIVER_HELPERS_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/broker_proc.h"
#include "tests/tap.h"
#include <trpc/trpc.h>

struct inbox {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int count;
    char topic[256];
    char data[256];
    size_t len;
    int subs_seen; /* distinct subscription handles seen, up to 4 */
    trpc_sub *subs[4];
    int per_sub[4];
};

#define INBOX_INIT                                                                                                                 \
    {                                                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, "", "", 0, 0, {NULL},                                              \
        {                                                                                                                          \
            0                                                                                                                      \
        }                                                                                                                          \
    }

static inline void inbox_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    struct inbox *b = ud;
    int i;

    (void)c;
    pthread_mutex_lock(&b->lock);
    b->count++;
    snprintf(b->topic, sizeof(b->topic), "%s", trpc_msg_topic(m));
    b->len = trpc_msg_len(m);
    snprintf(b->data, sizeof(b->data), "%.*s", (int)b->len, (const char *)trpc_msg_data(m));
    for (i = 0; i < b->subs_seen && b->subs[i] != sub; i++)
        ;
    if (i == b->subs_seen && i < 4)
        b->subs[b->subs_seen++] = sub;
    if (i < 4)
        b->per_sub[i]++;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    trpc_msg_free(m);
}

static inline void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits until the inbox holds at least n messages; returns the count it saw. */
static inline int inbox_wait(struct inbox *b, int n, int timeout_ms)
{
    struct timespec ts;
    int got;

    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&b->lock);
    while (b->count < n && pthread_cond_timedwait(&b->cond, &b->lock, &ts) != ETIMEDOUT)
        ;
    got = b->count;
    pthread_mutex_unlock(&b->lock);
    return got;
}

static inline int inbox_count(struct inbox *b)
{
    int n;

    pthread_mutex_lock(&b->lock);
    n = b->count;
    pthread_mutex_unlock(&b->lock);
    return n;
}

/* What an asynchronous request's callback saw: filled by reply_box_cb. */
struct reply_box {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls;
    int err;
    char data[64];
};

#define REPLY_BOX_INIT                                                                                                             \
    {                                                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 1, ""                                                              \
    }

static inline void reply_box_cb(trpc_client *c, int err, trpc_msg *reply, void *ud)
{
    struct reply_box *r = ud;

    (void)c;
    pthread_mutex_lock(&r->lock);
    r->calls++;
    r->err = err;
    if (reply)
        snprintf(r->data, sizeof(r->data), "%.*s", (int)trpc_msg_len(reply), (const char *)trpc_msg_data(reply));
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    trpc_msg_free(reply);
}

/* Waits until the callback has run at least once; returns how often it ran. */
static inline int reply_box_wait(struct reply_box *r, int timeout_ms)
{
    struct timespec ts;
    int calls;

    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&r->lock);
    while (r->calls == 0 && pthread_cond_timedwait(&r->cond, &r->lock, &ts) != ETIMEDOUT)
        ;
    calls = r->calls;
    pthread_mutex_unlock(&r->lock);
    return calls;
}

/* A responder's callback: a request is answered with its own data; other messages are dropped. */
static inline void echo_respond_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    if (trpc_msg_is_request(m))
        trpc_respond(m, trpc_msg_data(m), trpc_msg_len(m));
    trpc_msg_free(m);
}

/* A large payload's byte i: a function of i, so that a byte lost or out of place shows. */
static inline uint8_t pattern_byte(size_t i)
{
    return (uint8_t)(i * 13 + 1);
}

/* len bytes of the pattern, malloc'ed (the test frees them). */
static inline uint8_t *pattern_new(size_t len)
{
    uint8_t *p = malloc(len);

    if (p == NULL)
        BAIL_OUT("malloc %zu: out of memory", len);
    for (size_t i = 0; i < len; i++)
        p[i] = pattern_byte(i);
    return p;
}

/* The last message big_box_cb got: its length, and whether it was the pattern throughout. */
struct big_box {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t len;
    bool intact;
};

#define BIG_BOX_INIT                                                                                                               \
    {                                                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false                                                              \
    }

static inline void big_box_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    struct big_box *b = ud;
    const uint8_t *p = trpc_msg_data(m);
    bool intact = true;

    (void)c;
    (void)sub;
    for (size_t i = 0; i < trpc_msg_len(m) && intact; i++)
        intact = p[i] == pattern_byte(i);
    pthread_mutex_lock(&b->lock);
    b->len = trpc_msg_len(m);
    b->intact = intact;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    trpc_msg_free(m);
}

/* Waits up to timeout_ms for a message: its length (0: none came), and *intact. */
static inline size_t big_box_wait(struct big_box *b, int timeout_ms, bool *intact)
{
    struct timespec ts;
    size_t len;

    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&b->lock);
    while (b->len == 0 && pthread_cond_timedwait(&b->cond, &b->lock, &ts) != ETIMEDOUT)
        ;
    len = b->len;
    *intact = b->intact;
    pthread_mutex_unlock(&b->lock);
    return len;
}

static inline void broker_up(struct broker_proc *b, const char *const *args)
{
    int err = broker_proc_start(b, args);

    if (err)
        BAIL_OUT("cannot start the broker: %s", strerror(-err));
}

static inline trpc_client *connect_or_bail(const struct broker_proc *b, const trpc_options *o)
{
    trpc_client *c = NULL;
    int err = trpc_connect(&c, b->url, o);

    if (err)
        BAIL_OUT("trpc_connect %s: %s (%s)", b->url, trpc_strerror(err), trpc_last_error());
    return c;
}

/* Runs shell command cmd, its output into out[0, len) (NUL-terminated): its exit status, or -1. */
static inline int run_capture(const char *cmd, char *out, size_t len)
{
    size_t n = 0;
    FILE *f = popen(cmd, "r");
    int st;

    if (f == NULL)
        return -1;
    while (n + 1 < len && fgets(out + n, (int)(len - n), f) != NULL)
        n += strlen(out + n);
    out[n] = '\0';
    st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Polls cond() every 10 ms for up to timeout_ms. */
static inline bool wait_for(bool (*cond)(void *), void *arg, int timeout_ms)
{
    int waited;

    for (waited = 0; waited < timeout_ms; waited += 10) {
        if (cond(arg))
            return true;
        usleep(10000);
    }
    return cond(arg);
}

#endif
