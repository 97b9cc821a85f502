/* While the broker is down, publishes fill the send buffer up to its bound and then fail at
 * once with BUFFER_FULL; once the broker is back, the buffered publishes are delivered, after
 * the client's own subscriptions were restored (so it receives its own backlog). */
#include "tests/driver/helpers.h"

static struct inbox got = INBOX_INIT;

static bool connected(void *c)
{
    return trpc_client_state(c) == TRPC_STATE_CONNECTED;
}

static bool reconnecting(void *c)
{
    return trpc_client_state(c) == TRPC_STATE_RECONNECTING;
}

int main(void)
{
    char payload[1000];
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c;
    trpc_sub *s;
    int i, err = 0, queued = 0;

    memset(payload, 'p', sizeof(payload));
    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_send_buffer(o, 64 << 10);
    trpc_options_set_reconnect(o, -1, 20, 100);
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    ok_eq(trpc_subscribe(c, "buf.data", inbox_cb, &got, &s), 0, "subscribe to our own topic");
    ok_eq(trpc_flush(c, 5000), 0, "flush");

    ok_eq(broker_proc_kill(&b), 0, "broker SIGKILLed");
    ok(wait_for(reconnecting, c, 5000), "client is reconnecting");
    for (i = 0; i < 1000; i++) {
        err = trpc_publish(c, "buf.data", payload, sizeof(payload));
        if (err)
            break;
        queued++;
    }
    ok_eq(err, -TRPC_E_BUFFER_FULL, "the bound is reached: BUFFER_FULL");
    ok(queued >= 50 && queued <= 64, "about 64 KiB were buffered (%d messages)", queued);
    ok(strstr(trpc_last_error(), "buffer") != NULL, "detail: %s", trpc_last_error());

    ok_eq(broker_proc_restart(&b), 0, "broker restarted");
    ok(wait_for(connected, c, 10000), "client reconnects");
    ok_eq(trpc_flush(c, 5000), 0, "the backlog is flushed");
    ok_eq(inbox_wait(&got, queued, 10000), queued, "every buffered publish is delivered");
    for (i = 0; i < 50; i++) /* 50 KB: fits the 64 KiB bound only if the backlog left it */
        if (trpc_publish(c, "buf.data", payload, sizeof(payload)) != 0)
            break;
    ok_eq(i, 50, "after the backlog drained, the buffer has room again");
    ok_eq(inbox_wait(&got, queued + 50, 10000), queued + 50, "and those are delivered too");
    trpc_close(c);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
