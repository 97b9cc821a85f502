/*
 * A request already in a dispatcher's queue when its subscription ends (trpc_unsubscribe from the
 * callback running before it) is answered by the library with REP ERROR NO_RESPONDERS, as one that
 * arrives after the unsubscribe is (tests/driver/request_unsubscribed): it used to be freed without
 * a word, and its requester waited for its whole deadline. The broker is tests/gen/wire_peer.h, so
 * the test sees the frames the responder sends.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/gen/wire_peer.h"
#include "tests/tap.h"
#include <trpc/trpc.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool entered, go, marked;
static int calls, unsub_rc = 1;

/* Waits up to 10 s for *flag, under lock. */
static bool wait_flag(bool *flag)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&lock);
    while (!*flag && pthread_cond_timedwait(&cond, &lock, &ts) == 0)
        ;
    bool v = *flag;
    pthread_mutex_unlock(&lock);
    return v;
}

static void set_flag(bool *flag)
{
    pthread_mutex_lock(&lock);
    *flag = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

/* The first request: waits until the second is queued behind it, then unsubscribes and answers. */
static void on_req(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)ud;
    calls++;
    set_flag(&entered);
    wait_flag(&go);
    unsub_rc = trpc_unsubscribe(sub);
    trpc_respond(m, "ok", 2);
    trpc_msg_free(m);
}

static void on_mark(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    trpc_msg_free(m);
    set_flag(&marked);
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

static void send_or_bail(struct wire_peer *p, const struct wire_out *o)
{
    if (wire_peer_send(p, o) != 0)
        BAIL_OUT("send %s", wire_type_name(o->type));
}

int main(void)
{
    struct wire_peer p;
    struct wire_peer_accept_arg a = {.p = &p};
    struct flusher fl = {0};
    trpc_options *o = NULL;
    trpc_sub *sa, *sb;
    uint64_t ida = 0, idb = 0;
    struct wire_frame f;
    trpc_client *c;
    pthread_t th;
    bool rep1 = false, rep2 = false, other = false;

    plan(5);
    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("listen");
    trpc_options_create(&o);
    trpc_options_set_dispatch(o, TRPC_DISPATCH_THREAD, 1); /* both subscriptions on one queue */
    pthread_create(&th, NULL, wire_peer_accept_thread, &a);
    if (trpc_connect(&c, p.url, o) != 0)
        BAIL_OUT("connect: %s", trpc_last_error());
    pthread_join(th, NULL);
    trpc_options_destroy(o);
    if (a.rc != 0)
        BAIL_OUT("handshake");
    if (trpc_subscribe(c, "svc", on_req, NULL, &sa) != 0 || trpc_subscribe(c, "mark", on_mark, NULL, &sb) != 0)
        BAIL_OUT("subscribe");
    while ((ida == 0 || idb == 0) && wire_peer_next(&p, WIRE_SUB, 10000, &f) == 1) {
        if (f.topic_len == 3)
            ida = f.id;
        else
            idb = f.id;
    }
    if (ida == 0 || idb == 0)
        BAIL_OUT("no SUBs");

    /* Two requests and a marker message, in that order on one dispatcher queue. */
    send_or_bail(
        &p, &(struct wire_out){.type = WIRE_MSG, .flags = WIRE_F_REQUEST, .id = ida, .seq = 1, .topic = "svc", .topic_len = 3});
    send_or_bail(
        &p, &(struct wire_out){.type = WIRE_MSG, .flags = WIRE_F_REQUEST, .id = ida, .seq = 2, .topic = "svc", .topic_len = 3});
    send_or_bail(&p, &(struct wire_out){.type = WIRE_MSG, .id = idb, .topic = "mark", .topic_len = 4});
    if (!wait_flag(&entered))
        BAIL_OUT("the first request's callback did not run");
    /* A flush returns once the MSGs received before its PONG are queued: the second request waits
     * behind the running callback. */
    fl.c = c;
    pthread_create(&fl.th, NULL, flush_thread, &fl);
    if (wire_peer_next(&p, WIRE_PING, 10000, &f) != 1)
        BAIL_OUT("no PING");
    pthread_join(fl.th, NULL);
    set_flag(&go);
    ok(wait_flag(&marked), "the marker after both requests ran");
    ok_eq(unsub_rc, 0, "the first request's callback unsubscribed");
    ok_eq(calls, 1, "the second request's callback did not run");

    /* Everything the responder sent before this flush's PING. */
    pthread_create(&fl.th, NULL, flush_thread, &fl);
    while (wire_peer_read(&p, 10000, &f) == 1 && !(f.type == WIRE_PING && f.id != 0)) {
        if (f.type == WIRE_REP && f.seq == 1 && f.flags == 0)
            rep1 = true;
        else if (f.type == WIRE_REP && f.seq == 2 && (f.flags & WIRE_F_ERROR) && f.aux == TRPC_E_NO_RESPONDERS)
            rep2 = true;
        else if (f.type != WIRE_UNSUB && f.type != WIRE_PING)
            other = true;
    }
    send_or_bail(&p, &(struct wire_out){.type = WIRE_PONG, .id = f.id});
    pthread_join(fl.th, NULL);
    ok(rep1 && !other, "the first request was answered");
    ok(rep2, "the queued one was answered with REP ERROR NO_RESPONDERS");

    trpc_sub_destroy(sa);
    trpc_sub_destroy(sb);
    pthread_create(&th, NULL, wire_peer_pong_thread, &p);
    trpc_close(c);
    pthread_join(th, NULL);
    wire_peer_close(&p);
    return done_testing();
}
