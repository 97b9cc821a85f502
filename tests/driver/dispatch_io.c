/* TRPC_DISPATCH_IO: callbacks run on the I/O thread itself; a synchronous request or flush from
 * there is refused (it would wait for itself) while asynchronous ones work. */
#include "tests/driver/helpers.h"

static struct inbox got = INBOX_INIT;
static int sync_err = 1, flush_err = 1, async_err = 1;
static struct inbox replies = INBOX_INIT;

static void on_reply(trpc_client *c, int err, trpc_msg *reply, void *ud)
{
    __atomic_store_n(&async_err, err, __ATOMIC_SEQ_CST);
    trpc_msg_free(reply);
    pthread_mutex_lock(&replies.lock);
    replies.count++;
    pthread_cond_broadcast(&replies.cond);
    pthread_mutex_unlock(&replies.lock);
}

static void echo_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    if (trpc_msg_is_request(m))
        trpc_respond(m, trpc_msg_data(m), trpc_msg_len(m));
    trpc_msg_free(m);
}

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    trpc_msg *r = NULL;

    __atomic_store_n(&sync_err, trpc_request(c, "io.echo", "x", 1, 1000, &r), __ATOMIC_SEQ_CST);
    __atomic_store_n(&flush_err, trpc_flush(c, 1000), __ATOMIC_SEQ_CST);
    trpc_request_async(c, "io.echo", "y", 1, 5000, on_reply, NULL);
    inbox_cb(c, sub, m, ud);
}

int main(void)
{
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c, *svc;
    trpc_sub *s1, *s2;

    broker_up(&b, NULL);
    svc = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe_group(svc, "io.echo", "g", echo_cb, NULL, &s2), 0, "responder");
    ok_eq(trpc_flush(svc, 5000), 0, "flush");
    trpc_options_create(&o);
    ok_eq(trpc_options_set_dispatch(o, TRPC_DISPATCH_IO, 0), 0, "dispatch on the I/O thread");
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    ok_eq(trpc_subscribe(c, "io.in", on_msg, &got, &s1), 0, "subscribe");
    ok_eq(trpc_flush(c, 5000), 0, "flush from the application thread works");
    ok_eq(trpc_publish(c, "io.in", "go", 2), 0, "publish");
    ok_eq(inbox_wait(&got, 1, 10000), 1, "callback ran");
    ok_eq(__atomic_load_n(&sync_err, __ATOMIC_SEQ_CST), -TRPC_E_INVALID_ARGUMENT, "sync request on the I/O thread refused");
    ok_eq(__atomic_load_n(&flush_err, __ATOMIC_SEQ_CST), -TRPC_E_INVALID_ARGUMENT, "flush on the I/O thread refused");
    ok_eq(inbox_wait(&replies, 1, 10000), 1, "async request from the I/O thread completed");
    ok_eq(__atomic_load_n(&async_err, __ATOMIC_SEQ_CST), 0, "successfully");
    trpc_close(c);
    trpc_close(svc);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
