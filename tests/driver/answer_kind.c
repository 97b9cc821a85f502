/*
 * Requests and acknowledged publishes share one id space, so an answer of the wrong kind names a
 * live entry: a PUBACK with a request's id completed the request with 0 and no reply, and a REP
 * with a publish's id completed the publish (sequence 0) and leaked the reply. Now the entry stays
 * pending for its own answer, and the error callback hears PROTOCOL. The broker is
 * tests/gen/wire_peer.h.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/gen/wire_peer.h"
#include "tests/tap.h"
#include <trpc/trpc.h>

struct caller {
    trpc_client *c;
    pthread_t th;
    int rc;
    trpc_msg *reply;
    uint64_t seq;
};

static void *request_thread(void *arg)
{
    struct caller *r = arg;

    r->rc = trpc_request(r->c, "svc", "q", 1, 10000, &r->reply);
    return NULL;
}

static void *publish_thread(void *arg)
{
    struct caller *r = arg;

    r->rc = trpc_publish_sync(r->c, "t", NULL, 0, "p", 1, 10000, &r->seq);
    return NULL;
}

static atomic_int protocol_errors;

static void on_error(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    diag("error callback: %s", text);
    if (err == -TRPC_E_PROTOCOL)
        atomic_fetch_add(&protocol_errors, 1);
}

static void send_or_bail(struct wire_peer *p, const struct wire_out *o)
{
    if (wire_peer_send(p, o) != 0)
        BAIL_OUT("send %s", wire_type_name(o->type));
}

int main(void)
{
    struct wire_peer p;
    struct wire_peer_accept_arg a = {.p = &p};
    trpc_options *opts = NULL;
    struct caller r = {0}, pub = {0};
    struct wire_frame f;
    trpc_client *c;
    pthread_t th;

    plan(5);
    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("listen");
    trpc_options_create(&opts);
    trpc_options_set_error_cb(opts, on_error, NULL);
    pthread_create(&th, NULL, wire_peer_accept_thread, &a);
    if (trpc_connect(&c, p.url, opts) != 0)
        BAIL_OUT("connect: %s", trpc_last_error());
    pthread_join(th, NULL);
    if (a.rc != 0)
        BAIL_OUT("handshake");

    /* A request answered first by a PUBACK with its id, then by its REP. */
    r.c = c;
    pthread_create(&r.th, NULL, request_thread, &r);
    if (wire_peer_next(&p, WIRE_REQ, 10000, &f) != 1)
        BAIL_OUT("no REQ");
    uint64_t id = f.id;
    send_or_bail(&p, &(struct wire_out){.type = WIRE_PUBACK, .id = id, .seq = 7});
    send_or_bail(&p, &(struct wire_out){.type = WIRE_REP, .id = id, .payload = "ok", .payload_len = 2});
    pthread_join(r.th, NULL);
    ok(r.rc == 0 && r.reply != NULL && trpc_msg_len(r.reply) == 2 && memcmp(trpc_msg_data(r.reply), "ok", 2) == 0,
       "a PUBACK naming a request does not complete it: its REP does (rc %d, reply %p)", r.rc, (void *)r.reply);
    trpc_msg_free(r.reply);

    /* An acknowledged publish answered first by a REP with its id, then by its PUBACK. */
    pub.c = c;
    pthread_create(&pub.th, NULL, publish_thread, &pub);
    if (wire_peer_next(&p, WIRE_PUB, 10000, &f) != 1 || !(f.flags & WIRE_F_ACK_REQ))
        BAIL_OUT("no acknowledged PUB");
    id = f.id;
    send_or_bail(&p, &(struct wire_out){.type = WIRE_REP, .id = id, .payload = "stray", .payload_len = 5});
    send_or_bail(&p, &(struct wire_out){.type = WIRE_PUBACK, .id = id, .seq = 9});
    pthread_join(pub.th, NULL);
    ok(pub.rc == 0 && pub.seq == 9, "a REP naming a publish does not complete it: its PUBACK does (rc %d, seq %llu)", pub.rc,
       (unsigned long long)pub.seq);

    /* A REP with WIRE_F_ERROR and a text (a stream's refusal) names requests only, too. */
    pthread_create(&pub.th, NULL, publish_thread, &pub);
    if (wire_peer_next(&p, WIRE_PUB, 10000, &f) != 1)
        BAIL_OUT("no PUB");
    id = f.id;
    send_or_bail(
        &p, &(struct wire_out){
                .type = WIRE_REP, .flags = WIRE_F_ERROR, .aux = TRPC_E_STREAM_FULL, .id = id, .payload = "why", .payload_len = 3});
    send_or_bail(&p, &(struct wire_out){.type = WIRE_PUBACK, .id = id, .seq = 10});
    pthread_join(pub.th, NULL);
    ok(pub.rc == 0 && pub.seq == 10, "nor does a refusing REP with a text (rc %d, seq %llu)", pub.rc, (unsigned long long)pub.seq);

    /* An ERR refuses either kind. */
    pthread_create(&pub.th, NULL, publish_thread, &pub);
    if (wire_peer_next(&p, WIRE_PUB, 10000, &f) != 1)
        BAIL_OUT("no PUB");
    send_or_bail(&p, &(struct wire_out){.type = WIRE_ERR, .aux = TRPC_E_PERMISSION_DENIED, .id = f.id});
    pthread_join(pub.th, NULL);
    ok_eq(pub.rc, -TRPC_E_PERMISSION_DENIED, "an ERR still refuses a publish");

    pthread_create(&th, NULL, wire_peer_pong_thread, &p);
    trpc_close(c);
    pthread_join(th, NULL);
    ok_eq(atomic_load(&protocol_errors), 3, "the error callback heard PROTOCOL for each wrong answer");
    trpc_options_destroy(opts);
    wire_peer_close(&p);
    return done_testing();
}
