/*
 * The limits a CONNACK announces. Limits no broker may send (max_frame below a CONNACK frame,
 * max_topic 0) fail the connection as a protocol error: the client used to take them, and then
 * its encoder refused even the frames it must send (UNSUB, PING, PONG), silently. And publishes
 * buffered while reconnecting, under the last broker's limits, that the next broker's smaller
 * max_frame refuses are dropped (the error callback hears how many) instead of sent: the broker
 * would end the session over each. The broker is tests/gen/wire_peer.h.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/gen/wire_peer.h"
#include "tests/tap.h"
#include <trpc/trpc.h>

struct acceptor {
    struct wire_peer *p;
    struct wire_connack ca;
    pthread_t th;
    int rc;
};

/* Accepts a client and answers its CONNECT with a CONNACK announcing a->ca. */
static void *accept_thread(void *arg)
{
    struct acceptor *a = arg;
    struct wire_peer *p = a->p;
    struct pollfd pfd = {.fd = p->lfd, .events = POLLIN};
    uint8_t payload[WIRE_CONNACK_PAYLOAD_LEN];
    struct wire_out o = {.type = WIRE_CONNACK, .aux = WIRE_VERSION_MIN, .payload = payload, .payload_len = sizeof(payload)};
    struct wire_frame f;
    struct wire_limits lim;

    a->rc = -1;
    if (poll(&pfd, 1, 10000) <= 0)
        return NULL;
    if (p->fd >= 0)
        close(p->fd);
    p->fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (p->fd < 0)
        return NULL;
    wire_reader_free(&p->r);
    wire_limits_default(&lim);
    wire_reader_init(&p->r, &lim);
    if (wire_peer_next(p, WIRE_CONNECT, 10000, &f) != 1)
        return NULL;
    wire_connack_put(payload, &a->ca);
    a->rc = wire_peer_send(p, &o);
    return NULL;
}

static struct wire_connack limits(uint32_t max_frame, uint16_t max_topic)
{
    return (struct wire_connack){max_frame, max_frame < 4096 ? max_frame : 4096, max_topic, 64, 0, 42};
}

static int connect_with(struct wire_peer *p, struct wire_connack ca, const trpc_options *opts, trpc_client **c)
{
    struct acceptor a = {.p = p, .ca = ca};
    int rc;

    pthread_create(&a.th, NULL, accept_thread, &a);
    rc = trpc_connect(c, p->url, opts);
    pthread_join(a.th, NULL);
    return rc;
}

static atomic_int too_large;

static void on_error(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    diag("error callback: %s", text);
    if (err == -TRPC_E_FRAME_TOO_LARGE)
        atomic_fetch_add(&too_large, 1);
}

int main(void)
{
    static uint8_t big[2000];
    struct wire_peer p;
    trpc_options *opts = NULL;
    struct acceptor a;
    struct wire_frame f;
    trpc_client *c = NULL;
    pthread_t th;
    int rc;

    plan(6);
    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("listen");

    rc = connect_with(&p, limits(16, 128), NULL, &c);
    ok_eq(rc, -TRPC_E_PROTOCOL, "CONNACK with max_frame 16: trpc_connect fails with PROTOCOL (%s)", trpc_last_error());
    rc = connect_with(&p, limits(1 << 20, 0), NULL, &c);
    ok_eq(rc, -TRPC_E_PROTOCOL, "CONNACK with max_topic 0: PROTOCOL (%s)", trpc_last_error());

    trpc_options_create(&opts);
    trpc_options_set_error_cb(opts, on_error, NULL);
    trpc_options_set_reconnect(opts, -1, 10, 50);
    if (connect_with(&p, limits(1 << 20, 128), opts, &c) != 0)
        BAIL_OUT("connect: %s", trpc_last_error());

    /* The session drops; two publishes wait for the next one, one of them above its max_frame. */
    wire_peer_drop(&p);
    for (int i = 0; i < 10000 && trpc_client_state(c) == TRPC_STATE_CONNECTED; i++)
        usleep(1000);
    if (trpc_publish(c, "big", big, sizeof(big)) != 0 || trpc_publish(c, "small", "s", 1) != 0)
        BAIL_OUT("publish while reconnecting: %s", trpc_last_error());
    a = (struct acceptor){.p = &p, .ca = limits(1024, 128)};
    pthread_create(&a.th, NULL, accept_thread, &a);
    pthread_join(a.th, NULL);
    if (a.rc != 0)
        BAIL_OUT("second handshake");
    rc = wire_peer_next(&p, WIRE_PUB, 10000, &f);
    ok(rc == 1 && f.topic_len == 5 && memcmp(f.topic, "small", 5) == 0, "the next broker gets the publish that fits (%.*s)",
       rc == 1 ? (int)f.topic_len : 0, rc == 1 ? f.topic : "");
    ok(trpc_client_state(c) == TRPC_STATE_CONNECTED, "and the session stays up");
    ok_eq(trpc_publish(c, "big", big, sizeof(big)), -TRPC_E_FRAME_TOO_LARGE, "a new publish above it is refused at once");

    pthread_create(&th, NULL, wire_peer_pong_thread, &p);
    trpc_close(c);
    pthread_join(th, NULL);
    ok_eq(atomic_load(&too_large), 1, "the error callback heard of the dropped publish");
    trpc_options_destroy(opts);
    wire_peer_close(&p);
    return done_testing();
}
