/*
 * The local deadline of a request (the broker's timeout plus a grace, for a broker that vanishes
 * without closing the connection) is computed in 64 bits: with timeout_ms INT_MAX it overflowed
 * an int into a deadline already past, and the I/O side's next deadline scan (every 50 ms) failed
 * the request with TIMEOUT at once. The broker is tests/gen/wire_peer.h, which answers after
 * several scans have had their chance.
 */
#include <limits.h>
#include <stdlib.h>

#include "tests/gen/wire_peer.h"
#include "tests/tap.h"
#include <trpc/trpc.h>

struct requester {
    trpc_client *c;
    pthread_t th;
    int rc;
    trpc_msg *reply;
};

static void *request_thread(void *arg)
{
    struct requester *r = arg;

    r->rc = trpc_request(r->c, "svc", "q", 1, INT_MAX, &r->reply);
    return NULL;
}

int main(void)
{
    struct wire_peer p;
    struct wire_peer_accept_arg a = {.p = &p};
    struct requester r = {0};
    struct wire_frame f;
    trpc_client *c;
    pthread_t th;
    uint64_t id;

    plan(3);
    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("listen");
    pthread_create(&th, NULL, wire_peer_accept_thread, &a);
    if (trpc_connect(&c, p.url, NULL) != 0)
        BAIL_OUT("connect: %s", trpc_last_error());
    pthread_join(th, NULL);
    if (a.rc != 0)
        BAIL_OUT("handshake");

    r.c = c;
    pthread_create(&r.th, NULL, request_thread, &r);
    if (wire_peer_next(&p, WIRE_REQ, 10000, &f) != 1)
        BAIL_OUT("no REQ");
    id = f.id;
    ok_eq(f.aux, (uint32_t)INT_MAX, "the REQ carries the timeout");
    usleep(300 * 1000); /* six deadline scans; a wrong deadline fails the request meanwhile */
    struct wire_out rep = {.type = WIRE_REP, .id = id, .payload = "ok", .payload_len = 2};
    if (wire_peer_send(&p, &rep) != 0)
        BAIL_OUT("send REP");
    pthread_join(r.th, NULL);
    ok_eq(r.rc, 0, "a request with timeout INT_MAX waits for its reply");
    ok(r.reply != NULL && trpc_msg_len(r.reply) == 2, "and gets it");
    trpc_msg_free(r.reply);

    pthread_create(&th, NULL, wire_peer_pong_thread, &p);
    trpc_close(c);
    pthread_join(th, NULL);
    wire_peer_close(&p);
    return done_testing();
}
