/*
 * trpc_close while other threads sleep inside the client: synchronous requests, publishes waiting
 * for their PUBACK and a flush waiting for its PONG (trpc_request(3) documents CLOSED for a request
 * closed while waiting). trpc_close used to free the client as soon as it had failed them, while
 * they still had to take its locks on their way out; now it waits for them to leave. Each returns
 * its error, and nothing touches freed memory: the freed locks are touched inside libc, where
 * AddressSanitizer does not look; valgrind does (the old code: invalid reads in
 * pthread_cond_timedwait of a block freed by trpc_close). The broker is
 * tests/gen/wire_peer.h, which answers nothing but trpc_close's own PING.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/gen/wire_peer.h"
#include "tests/tap.h"
#include <trpc/trpc.h>

#define ROUNDS   20
#define SLEEPERS 16 /* many, so that some are still waking when trpc_close is done */

struct sleeper {
    trpc_client *c;
    pthread_t th;
    int rc;
};

static void *request_thread(void *arg)
{
    struct sleeper *s = arg;
    trpc_msg *reply = NULL;

    s->rc = trpc_request(s->c, "svc", "q", 1, 60000, &reply);
    trpc_msg_free(reply);
    return NULL;
}

static void *publish_thread(void *arg)
{
    struct sleeper *s = arg;

    s->rc = trpc_publish_sync(s->c, "t", NULL, 0, "p", 1, 60000, NULL);
    return NULL;
}

static void *flush_thread(void *arg)
{
    struct sleeper *s = arg;

    s->rc = trpc_flush(s->c, 60000);
    return NULL;
}

struct quiet_peer {
    struct wire_peer *p;
    uint64_t unanswered; /* the sleeping flush's PING */
    pthread_t th;
};

/* Answers every PING but the sleeping flush's (trpc_close flushes), until the client goes. */
static void *quiet_thread(void *arg)
{
    struct quiet_peer *q = arg;
    struct wire_frame f;

    while (wire_peer_read(q->p, 10000, &f) == 1) {
        if (f.type == WIRE_PING && f.id != q->unanswered) {
            struct wire_out pong = {.type = WIRE_PONG, .id = f.id};

            (void)wire_peer_send(q->p, &pong);
        }
    }
    return NULL;
}

static int one_round(struct wire_peer *p)
{
    struct wire_peer_accept_arg a = {.p = p};
    struct sleeper s[SLEEPERS];
    struct quiet_peer q = {.p = p};
    struct wire_frame f;
    void *(*fn[3])(void *) = {request_thread, publish_thread, flush_thread};
    bool is_flush;
    trpc_client *c;
    pthread_t th;
    int seen = 0, bad = 0;

    pthread_create(&th, NULL, wire_peer_accept_thread, &a);
    if (trpc_connect(&c, p->url, NULL) != 0)
        BAIL_OUT("connect: %s", trpc_last_error());
    pthread_join(th, NULL);
    if (a.rc != 0)
        BAIL_OUT("handshake");
    /* Requests and publishes, then one flush. */
    for (int i = 0; i < SLEEPERS; i++) {
        s[i] = (struct sleeper){.c = c, .rc = 1};
        pthread_create(&s[i].th, NULL, fn[i == SLEEPERS - 1 ? 2 : i % 2], &s[i]);
        /* The flush's PING, left unanswered, is the last frame; the others must be in before. */
        if (i == SLEEPERS - 2) {
            while (seen < SLEEPERS - 1 && wire_peer_read(p, 10000, &f) == 1)
                seen += f.type == WIRE_REQ || f.type == WIRE_PUB;
        }
    }
    /* Each call's frame reached the peer: each caller is on its way to sleep. */
    while (seen < SLEEPERS && wire_peer_read(p, 10000, &f) == 1) {
        if (f.type == WIRE_PING && f.id != 0) {
            q.unanswered = f.id;
            seen++;
        }
    }
    if (seen < SLEEPERS)
        BAIL_OUT("the frames did not come");
    pthread_create(&q.th, NULL, quiet_thread, &q);
    trpc_close(c);
    for (int i = 0; i < SLEEPERS; i++) {
        pthread_join(s[i].th, NULL);
        is_flush = i == SLEEPERS - 1;
        if (s[i].rc != -TRPC_E_CLOSED && !(is_flush && s[i].rc == -TRPC_E_CONNECTION_LOST)) {
            diag("caller %d (%s): %d", i, is_flush ? "flush" : i % 2 ? "publish" : "request", s[i].rc);
            bad++;
        }
    }
    pthread_join(q.th, NULL);
    wire_peer_drop(p);
    return bad;
}

int main(void)
{
    struct wire_peer p;
    int bad = 0;

    plan(1);
    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("listen");
    for (int i = 0; i < ROUNDS; i++)
        bad += one_round(&p);
    ok_eq(bad, 0, "%d rounds: the requests and the publishes returned CLOSED, the flush CLOSED or CONNECTION_LOST", ROUNDS);
    wire_peer_close(&p);
    return done_testing();
}
