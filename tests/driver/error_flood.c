/*
 * The error events a broker's ERR frames make are bounded: while the error callback blocks, a peer
 * sends FLOOD non-fatal ERRs; the client keeps at most TRPC__ERROR_EVENTS (1024) of them waiting
 * and counts the rest, and the next callback to run says how many were dropped. Every ERR is told
 * or counted, and once the callback keeps up, errors come whole again. The peer is
 * tests/gen/wire_peer.h; without the bound the client held every one (FLOOD events of 240 bytes).
 */
#include <pthread.h>
#include <stdlib.h>

#include "tests/driver/helpers.h"
#include "tests/gen/wire_peer.h"

#define FLOOD 20000
#define BATCH 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool released, last_seen;
static int calls;
static long told_dropped;

static void on_error(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    const char *d = strstr(text, "(and ");

    (void)c;
    (void)sub;
    (void)err;
    (void)ud;
    pthread_mutex_lock(&lock);
    calls++;
    if (d != NULL)
        told_dropped += strtol(d + 5, NULL, 10);
    if (strstr(text, "the last one") != NULL && d == NULL)
        last_seen = true;
    while (!released)
        pthread_cond_wait(&cond, &lock);
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static int calls_now(void)
{
    int n;

    pthread_mutex_lock(&lock);
    n = calls;
    pthread_mutex_unlock(&lock);
    return n;
}

static bool is_last_seen(void *arg)
{
    bool v;

    (void)arg;
    pthread_mutex_lock(&lock);
    v = last_seen;
    pthread_mutex_unlock(&lock);
    return v;
}

/* The first callback and the 1024 that waited behind it have run. */
static bool drained(void *arg)
{
    (void)arg;
    return calls_now() >= 1 + 1024;
}

static bool first_called(void *arg)
{
    (void)arg;
    return calls_now() >= 1;
}

/* ERRs (TRPC_E_INVALID_ARGUMENT, id 0: about no subscription, not fatal) with text, n of them. */
static void send_errs(struct wire_peer *p, int n, const char *text)
{
    struct wire_out e = {
        .type = WIRE_ERR, .aux = TRPC_E_INVALID_ARGUMENT, .payload = (const uint8_t *)text, .payload_len = (uint32_t)strlen(text)};
    static uint8_t frames[BATCH * 128];
    ssize_t one = wire_encode(frames, 128, &e);

    if (one <= 0)
        BAIL_OUT("encode");
    for (int i = 1; i < BATCH; i++)
        memcpy(frames + i * one, frames, (size_t)one);
    for (int done = 0; done < n;) {
        int k = n - done < BATCH ? n - done : BATCH;

        if (send(p->fd, frames, (size_t)(k * one), MSG_NOSIGNAL) != k * one)
            BAIL_OUT("send: %s", strerror(errno));
        done += k;
    }
}

int main(void)
{
    struct wire_peer p;
    struct wire_peer_accept_arg a = {.p = &p};
    struct wire_out ping = {.type = WIRE_PING, .id = 7};
    struct wire_frame f;
    trpc_options *o;
    trpc_client *c;
    pthread_t th;
    int during;

    plan(7);
    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("listen");
    trpc_options_create(&o);
    trpc_options_set_error_cb(o, on_error, NULL);
    pthread_create(&th, NULL, wire_peer_accept_thread, &a);
    if (trpc_connect(&c, p.url, o) != 0)
        BAIL_OUT("connect: %s", trpc_last_error());
    trpc_options_destroy(o);
    pthread_join(th, NULL);
    if (a.rc != 0)
        BAIL_OUT("handshake");

    send_errs(&p, 1, "the first");
    ok(wait_for(first_called, NULL, 10000), "the error callback runs, and blocks");
    send_errs(&p, FLOOD, "one of many");
    /* The client answers a PING once it has taken every frame before it. */
    if (wire_peer_send(&p, &ping) != 0 || wire_peer_next(&p, WIRE_PONG, 10000, &f) != 1)
        BAIL_OUT("no PONG");
    during = calls_now();
    pthread_mutex_lock(&lock);
    released = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    ok(wait_for(drained, NULL, 20000), "once it returns, the 1024 errors that waited run");
    send_errs(&p, 1, "the last one");
    ok(wait_for(is_last_seen, NULL, 10000), "then one sent after, whole");
    pthread_mutex_lock(&lock);
    ok_eq(during, 1, "one callback ran while the flood came");
    ok_eq(calls, 1 + 1024 + 1, "the first, 1024 that waited, and the last: %d callbacks for %d errors", calls, FLOOD + 2);
    ok_eq(told_dropped, (long)FLOOD - 1024, "the rest were counted as dropped, and said so (%ld)", told_dropped);
    pthread_mutex_unlock(&lock);
    ok(trpc_client_state(c) == TRPC_STATE_CONNECTED, "the connection stays up");

    wire_peer_drop(&p);
    trpc_close(c);
    wire_peer_close(&p);
    return done_testing();
}
