/* Reconnect: the broker is SIGKILLed and restarted on the same port while the client publishes
 * and holds subscriptions. Pending requests fail with CONNECTION_LOST, the state callback sees
 * the outage, subscriptions (plain and group) come back, traffic resumes, nothing crashes. */
#include "tests/driver/helpers.h"

static struct inbox got = INBOX_INIT;
static int states[8];
static atomic_int stop_pub;
static atomic_int published;

static void state_cb(trpc_client *c, trpc_state st, void *ud)
{
    if ((int)st >= 0 && st < 8)
        __atomic_add_fetch(&states[st], 1, __ATOMIC_SEQ_CST);
}

static void echo_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    if (trpc_msg_is_request(m))
        trpc_respond(m, trpc_msg_data(m), trpc_msg_len(m));
    trpc_msg_free(m);
}

static void silent_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    trpc_msg_free(m);
}

static void *publisher(void *arg)
{
    trpc_client *c = arg;

    while (!atomic_load(&stop_pub)) {
        if (trpc_publish(c, "r.tick", "t", 1) == 0)
            atomic_fetch_add(&published, 1);
        usleep(1000);
    }
    return NULL;
}

static bool is_state(void *arg)
{
    void **a = arg;
    return trpc_client_state(a[0]) == *(trpc_state *)a[1];
}

int main(void)
{
    struct reply_box r = REPLY_BOX_INIT;
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c;
    trpc_sub *s1, *s2, *s3;
    trpc_msg *reply = NULL;
    trpc_state want;
    void *args[2];
    pthread_t th;
    int before, err;

    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_reconnect(o, -1, 20, 200);
    trpc_options_set_state_cb(o, state_cb, NULL);
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    args[0] = c;
    args[1] = &want;

    ok_eq(trpc_subscribe(c, "r.*", inbox_cb, &got, &s1), 0, "plain subscription");
    ok_eq(trpc_subscribe_group(c, "r.echo", "svc", echo_cb, NULL, &s2), 0, "group subscription (responder)");
    ok_eq(trpc_subscribe_group(c, "r.silent", "svc", silent_cb, NULL, &s3), 0, "silent responder");
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    pthread_create(&th, NULL, publisher, c);
    ok(inbox_wait(&got, 20, 10000) >= 20, "traffic flows before the outage");
    ok_eq(trpc_request_async(c, "r.silent", "x", 1, 15000, reply_box_cb, &r), 0, "a request left pending");
    usleep(100000);

    ok_eq(broker_proc_kill(&b), 0, "broker SIGKILLed");
    want = TRPC_STATE_RECONNECTING;
    ok(wait_for(is_state, args, 5000), "client notices: RECONNECTING");
    ok_eq(reply_box_wait(&r, 5000), 1, "the pending request completed once");
    ok_eq(r.err, -TRPC_E_CONNECTION_LOST, "with CONNECTION_LOST");
    err = trpc_request(c, "r.echo", "x", 1, 1000, &reply);
    ok_eq(err, -TRPC_E_CONNECTION_LOST, "a request while reconnecting fails at once");
    ok_eq(trpc_publish(c, "r.tick", "t", 1), 0, "publishing while disconnected is buffered");
    usleep(300000); /* a few failed attempts, with backoff */

    ok_eq(broker_proc_restart(&b), 0, "broker restarted on the same port");
    want = TRPC_STATE_CONNECTED;
    ok(wait_for(is_state, args, 10000), "client reconnects");
    before = inbox_count(&got);
    ok(inbox_wait(&got, before + 50, 10000) >= before + 50, "traffic resumes: the plain subscription is back");
    err = trpc_request(c, "r.echo", "back", 4, 5000, &reply);
    ok_eq(err, 0, "the group subscription is back: request answered (%s)", trpc_last_error());
    trpc_msg_free(reply);
    atomic_store(&stop_pub, 1);
    pthread_join(th, NULL);
    ok(__atomic_load_n(&states[TRPC_STATE_RECONNECTING], __ATOMIC_SEQ_CST) >= 1, "state callback saw RECONNECTING");
    ok(__atomic_load_n(&states[TRPC_STATE_CONNECTED], __ATOMIC_SEQ_CST) >= 2, "state callback saw CONNECTED twice");
    ok(trpc_client_id(c) != 0, "a new session id");
    trpc_close(c);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
