/* trpc_unsubscribe() returns only after a callback of that subscription running on another
 * thread has returned, and no callback starts afterwards. */
#include "tests/driver/helpers.h"

static atomic_int started, finished, calls;

static void slow_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    atomic_fetch_add(&calls, 1);
    atomic_store(&started, 1);
    usleep(300000);
    atomic_store(&finished, 1);
    trpc_msg_free(m);
}

static bool has_started(void *unused)
{
    return atomic_load(&started) != 0;
}

int main(void)
{
    struct broker_proc b;
    trpc_client *c;
    trpc_sub *s;
    int i;

    broker_up(&b, NULL);
    c = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe(c, "slow", slow_cb, NULL, &s), 0, "subscribe");
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    for (i = 0; i < 5; i++)
        trpc_publish(c, "slow", "x", 1);
    ok(wait_for(has_started, NULL, 10000), "the callback is running");
    ok_eq(trpc_unsubscribe(s), 0, "unsubscribe while it runs");
    ok_eq(atomic_load(&finished), 1, "unsubscribe returned after the running callback did");
    i = atomic_load(&calls);
    usleep(500000);
    ok_eq(atomic_load(&calls), i, "no callback started after unsubscribe returned");
    ok(i < 5, "queued messages were dropped (%d of 5 ran)", i);
    trpc_close(c);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
