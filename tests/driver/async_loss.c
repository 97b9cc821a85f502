/*
 * Asynchronous requests and acknowledged publishes while the connection keeps dropping. An entry
 * used to go into the pending table before the client lock was taken to queue its frame: the loss
 * of the session could fail it in between (its callback ran and freed it), and the caller, finding
 * the session gone, then unlinked the freed entry (or another request that reused the memory).
 * Now every call that returns 0 gets exactly one callback, every other none, and nothing touches
 * freed memory (the sanitizer build and valgrind see that part). The broker is
 * tests/gen/wire_peer.h, which accepts each reconnect and drops it again after a few frames.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/gen/wire_peer.h"
#include "tests/tap.h"
#include <trpc/trpc.h>

#define THREADS 3
#define DROPS   150

static atomic_bool stop;
static atomic_long issued, callbacks, failed;

static void on_reply(trpc_client *c, int err, trpc_msg *reply, void *ud)
{
    (void)c;
    (void)err;
    (void)ud;
    trpc_msg_free(reply);
    atomic_fetch_add(&callbacks, 1);
}

static void on_puback(trpc_client *c, int err, uint64_t seq, void *ud)
{
    (void)c;
    (void)err;
    (void)seq;
    (void)ud;
    atomic_fetch_add(&callbacks, 1);
}

static void *caller_thread(void *arg)
{
    trpc_client *c = arg;

    for (unsigned i = 0; !atomic_load(&stop); i++) {
        int rc = i % 2 ? trpc_request_async(c, "svc", "q", 1, 60000, on_reply, NULL)
                       : trpc_publish_async(c, "t", NULL, 0, "p", 1, 60000, on_puback, NULL);

        if (rc == 0) {
            atomic_fetch_add(&issued, 1);
        } else {
            atomic_fetch_add(&failed, 1);
            sched_yield();
        }
    }
    return NULL;
}

int main(void)
{
    struct wire_peer p;
    struct wire_peer_accept_arg a = {.p = &p};
    trpc_options *opts = NULL;
    pthread_t th[THREADS];
    struct wire_frame f;
    trpc_client *c;
    int drops = 0;

    plan(3);
    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("listen");
    trpc_options_create(&opts);
    trpc_options_set_reconnect(opts, -1, 1, 2);
    trpc_options_set_max_pending(opts, 100000);
    pthread_create(&th[0], NULL, wire_peer_accept_thread, &a);
    if (trpc_connect(&c, p.url, opts) != 0)
        BAIL_OUT("connect: %s", trpc_last_error());
    pthread_join(th[0], NULL);
    if (a.rc != 0)
        BAIL_OUT("handshake");

    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, caller_thread, c);
    for (; drops < DROPS; drops++) {
        /* Let a few frames of this session come, then cut it while the callers go on. */
        for (int n = 0; n < 3 && wire_peer_read(&p, 1000, &f) == 1; n++)
            ;
        wire_peer_drop(&p);
        if (wire_peer_accept(&p, 10000) != 0)
            break;
    }
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    ok_eq(drops, DROPS, "%d sessions dropped under the callers", DROPS);
    wire_peer_close(&p); /* no session to flush: trpc_close fails what is pending */
    trpc_close(c);
    diag("%ld calls took, %ld failed at once", atomic_load(&issued), atomic_load(&failed));
    ok(atomic_load(&issued) > 0, "calls were taken");
    ok_eq(atomic_load(&callbacks), atomic_load(&issued), "each call that returned 0 got one callback, no other call any");
    trpc_options_destroy(opts);
    return done_testing();
}
