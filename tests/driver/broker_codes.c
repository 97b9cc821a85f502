/*
 * A broker's error code outside the wire's range: codes from 900 up are the client library's own
 * and never travel, and one above INT_MAX used to come out as a positive int (-(int)aux). Every
 * place that turns a broker's code into an error must give PROTOCOL instead: a REP with
 * WIRE_F_ERROR (with and without the broker's text), an ERR about the session (it reached the
 * error callback, which asserts a negative code), and an ERR in answer to CONNECT (trpc_connect
 * returned 1 and left *out unset). The broker is tests/gen/wire_peer.h.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/gen/wire_peer.h"
#include "tests/tap.h"
#include <trpc/trpc.h>

#define BIG_CODE 4294967295u /* -(int) of it is +1 */

struct requester {
    trpc_client *c;
    pthread_t th;
    int rc;
    trpc_msg *reply;
};

static void *request_thread(void *arg)
{
    struct requester *r = arg;

    r->rc = trpc_request(r->c, "svc", "q", 1, 10000, &r->reply);
    return NULL;
}

struct flusher {
    trpc_client *c;
    pthread_t th;
    int rc;
};

static void *flush_thread(void *arg)
{
    struct flusher *fl = arg;

    fl->rc = trpc_flush(fl->c, 10000);
    return NULL;
}

static atomic_int cb_err;

static void on_error(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    diag("error callback: %d %s", err, text);
    atomic_store(&cb_err, err);
}

/* Runs a request that the peer answers with a REP carrying WIRE_F_ERROR and code; returns its result. */
static int refused_request(struct wire_peer *p, trpc_client *c, uint32_t code, const char *why)
{
    struct requester r = {.c = c};
    struct wire_frame f;
    uint64_t id;

    pthread_create(&r.th, NULL, request_thread, &r);
    if (wire_peer_next(p, WIRE_REQ, 10000, &f) != 1)
        BAIL_OUT("no REQ");
    id = f.id;
    struct wire_out o = {
        .type = WIRE_REP, .flags = WIRE_F_ERROR, .aux = code, .id = id, .payload = why, .payload_len = why ? strlen(why) : 0};
    if (wire_peer_send(p, &o) != 0)
        BAIL_OUT("send REP");
    pthread_join(r.th, NULL);
    trpc_msg_free(r.reply);
    return r.rc;
}

struct refuser {
    struct wire_peer *p;
    int rc;
};

/* Accepts a client and answers its CONNECT with an ERR of code BIG_CODE. */
static void *refuse_thread(void *arg)
{
    struct refuser *a = arg;
    struct wire_peer *p = a->p;
    struct pollfd pfd = {.fd = p->lfd, .events = POLLIN};
    struct wire_out o = {.type = WIRE_ERR, .flags = WIRE_F_FATAL, .aux = BIG_CODE};
    struct wire_frame f;

    a->rc = -1;
    if (poll(&pfd, 1, 10000) <= 0)
        return NULL;
    p->fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (p->fd < 0 || wire_peer_next(p, WIRE_CONNECT, 10000, &f) != 1)
        return NULL;
    a->rc = wire_peer_send(p, &o);
    return NULL;
}

int main(void)
{
    struct wire_peer p;
    struct wire_peer_accept_arg a = {.p = &p};
    struct refuser rf = {.p = &p};
    trpc_options *opts = NULL;
    trpc_client *c, *c2 = (trpc_client *)&p;
    struct wire_frame f;
    pthread_t th;
    int rc;

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

    rc = refused_request(&p, c, BIG_CODE, NULL);
    ok_eq(rc, -TRPC_E_PROTOCOL, "REP ERROR with code %u: PROTOCOL", BIG_CODE);
    rc = refused_request(&p, c, TRPC_E_CLOSED, "why");
    ok_eq(rc, -TRPC_E_PROTOCOL, "REP ERROR with a client-only code and a text: PROTOCOL");

    struct wire_out err = {.type = WIRE_ERR, .aux = BIG_CODE};
    if (wire_peer_send(&p, &err) != 0)
        BAIL_OUT("send ERR");
    /* The flush's PONG is handled after the ERR, whose event is queued by then; trpc_close runs
     * what is queued before it returns. */
    struct flusher fl = {.c = c};
    pthread_create(&fl.th, NULL, flush_thread, &fl);
    if (wire_peer_next(&p, WIRE_PING, 10000, &f) != 1)
        BAIL_OUT("no PING");
    pthread_join(fl.th, NULL);
    if (fl.rc != 0)
        BAIL_OUT("flush: %d", fl.rc);
    pthread_create(&th, NULL, wire_peer_pong_thread, &p);
    trpc_close(c);
    pthread_join(th, NULL);
    ok_eq(atomic_load(&cb_err), -TRPC_E_PROTOCOL, "ERR with code %u: the error callback hears PROTOCOL", BIG_CODE);
    wire_peer_drop(&p);

    pthread_create(&th, NULL, refuse_thread, &rf);
    rc = trpc_connect(&c2, p.url, NULL);
    pthread_join(th, NULL);
    ok_eq(rc, -TRPC_E_PROTOCOL, "CONNECT answered by ERR with code %u: trpc_connect fails with PROTOCOL (%s)", BIG_CODE,
          trpc_last_error());
    ok(c2 == (trpc_client *)&p, "and leaves *out untouched");

    trpc_options_destroy(opts);
    wire_peer_close(&p);
    return done_testing();
}
