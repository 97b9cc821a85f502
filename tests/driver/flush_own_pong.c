/*
 * trpc_flush returns on the PONG of its own PING, not on any PONG with a higher id: against a
 * peer that answers out of order (an older broker did, under load), two flushes from two threads
 * send PINGs 1 and 2; the peer answers 2 only, and the flush waiting for 1 must go on waiting
 * until its own PONG comes. The peer is tests/gen/wire_peer.h, whose frames this test reads by
 * hand so that no PING is answered by itself.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/gen/wire_peer.h"
#include "tests/tap.h"
#include <trpc/trpc.h>

struct flusher {
    trpc_client *c;
    pthread_t th;
    atomic_bool done;
    int rc;
};

static void *flush_thread(void *arg)
{
    struct flusher *f = arg;

    f->rc = trpc_flush(f->c, 20000);
    atomic_store(&f->done, true);
    return NULL;
}

/* The next PING with a non-zero id (keepalive PINGs carry 0), unanswered; 0 when none came. */
static uint64_t next_ping(struct wire_peer *p, int timeout_ms)
{
    struct wire_frame f;

    while (wire_peer_read(p, timeout_ms, &f) == 1)
        if (f.type == WIRE_PING && f.id != 0)
            return f.id;
    return 0;
}

static int pong(struct wire_peer *p, uint64_t id)
{
    struct wire_out o = {.type = WIRE_PONG, .id = id};

    return wire_peer_send(p, &o);
}

int main(void)
{
    struct wire_peer p;
    struct wire_peer_accept_arg a = {.p = &p};
    struct flusher f1 = {0}, f2 = {0};
    pthread_t th;
    trpc_client *c;
    uint64_t id1, id2;

    plan(7);
    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("listen");
    pthread_create(&th, NULL, wire_peer_accept_thread, &a);
    if (trpc_connect(&c, p.url, NULL) != 0)
        BAIL_OUT("connect: %s", trpc_last_error());
    pthread_join(th, NULL);
    if (a.rc != 0)
        BAIL_OUT("handshake");

    f1.c = c;
    f2.c = c;
    pthread_create(&f1.th, NULL, flush_thread, &f1);
    id1 = next_ping(&p, 10000);
    pthread_create(&f2.th, NULL, flush_thread, &f2);
    id2 = next_ping(&p, 10000);
    ok(id1 != 0 && id2 != 0 && id1 != id2, "two flushes sent two PINGs (%llu, %llu)", (unsigned long long)id1,
       (unsigned long long)id2);

    pong(&p, id2);
    pthread_join(f2.th, NULL);
    ok_eq(f2.rc, 0, "the flush whose PONG came returned 0");
    /* A flush that took the other PONG for its own would return now, once woken with the first. */
    usleep(200 * 1000);
    ok(!atomic_load(&f1.done), "the flush whose PING is unanswered goes on waiting");

    pong(&p, id1);
    pthread_join(f1.th, NULL);
    ok_eq(f1.rc, 0, "it returns 0 on its own PONG");

    /* A stray PONG that answers no PING of ours ends no flush either. */
    atomic_store(&f1.done, false);
    pthread_create(&f1.th, NULL, flush_thread, &f1);
    id1 = next_ping(&p, 10000);
    pong(&p, id1 + 1000);
    usleep(200 * 1000);
    ok(!atomic_load(&f1.done), "a PONG with an id nobody sent ends no flush");
    pong(&p, id1);
    pthread_join(f1.th, NULL);
    ok_eq(f1.rc, 0, "the flush returns on its own PONG after the stray one");

    trpc_close(c);
    wire_peer_close(&p);
    ok(1, "closed");
    return done_testing();
}
