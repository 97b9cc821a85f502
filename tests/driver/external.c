/* External-loop mode: no library threads; the application polls trpc_client_fd() and calls
 * trpc_client_process(). Publish, subscribe and an async request work, and callbacks run inside
 * trpc_client_process() on the calling thread, where a synchronous request or a flush is refused. */
#include <poll.h>

#include "tests/driver/helpers.h"

static struct inbox got = INBOX_INIT;
static pthread_t loop_thread;
static int wrong_thread;
static int replies, reply_err = 1;

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    if (!pthread_equal(pthread_self(), loop_thread))
        wrong_thread++;
    if (trpc_msg_is_request(m)) {
        trpc_msg *r = NULL;
        /* A synchronous request here would wait for this very loop: refused. */
        if (trpc_request(c, "ext.echo", "x", 1, 100, &r) != -TRPC_E_INVALID_ARGUMENT)
            wrong_thread += 100;
        /* So would a flush (it used to wait its whole timeout, then fail with TIMEOUT). */
        if (trpc_flush(c, 2000) != -TRPC_E_INVALID_ARGUMENT)
            wrong_thread += 1000;
        trpc_respond(m, trpc_msg_data(m), trpc_msg_len(m));
        trpc_msg_free(m);
        return;
    }
    inbox_cb(c, sub, m, ud);
}

static void on_reply(trpc_client *c, int err, trpc_msg *reply, void *ud)
{
    replies++;
    reply_err = err;
    trpc_msg_free(reply);
}

/* Runs the loop until cond holds or timeout_ms passed. */
static bool spin(trpc_client *c, bool (*cond)(void), int timeout_ms)
{
    struct pollfd pfd = {.fd = trpc_client_fd(c), .events = POLLIN};
    int waited = 0;

    while (!cond() && waited < timeout_ms) {
        if (poll(&pfd, 1, 10) == 0)
            waited += 10;
        if (trpc_client_process(c) != 0)
            return false;
    }
    return cond();
}

static bool got_10(void)
{
    return inbox_count(&got) >= 10;
}

static bool got_reply(void)
{
    return replies > 0;
}

int main(void)
{
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c;
    trpc_sub *s1, *s2;
    int fd, i;

    loop_thread = pthread_self();
    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_external_loop(o, true);
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    fd = trpc_client_fd(c);
    ok(fd >= 0, "trpc_client_fd gives a descriptor");
    ok_eq(trpc_client_state(c), TRPC_STATE_CONNECTED, "connected");
    ok_eq(trpc_subscribe(c, "ext.>", on_msg, &got, &s1), 0, "subscribe");
    ok_eq(trpc_subscribe_group(c, "ext.echo", "g", on_msg, &got, &s2), 0, "respond in a group");
    for (i = 0; i < 10; i++)
        ok_eq(trpc_publish(c, "ext.data", "d", 1), 0, "publish %d", i);
    ok(spin(c, got_10, 10000), "10 messages came back through poll + process");
    ok_eq(trpc_request_async(c, "ext.echo", "ping", 4, 5000, on_reply, NULL), 0, "async request");
    ok(spin(c, got_reply, 10000), "its reply came");
    ok_eq(reply_err, 0, "successfully");
    ok_eq(wrong_thread, 0, "callbacks ran on the loop thread, and a sync request and a flush there were refused");
    ok_eq(trpc_client_fd(c), fd, "the descriptor is stable");
    {
        struct inbox last = INBOX_INIT;
        trpc_client *watcher = connect_or_bail(&b, NULL);
        trpc_sub *ws;

        ok_eq(trpc_subscribe(watcher, "ext.last", inbox_cb, &last, &ws), 0, "a threaded client watches ext.last");
        ok_eq(trpc_flush(watcher, 5000), 0, "flush");
        ok_eq(trpc_publish(c, "ext.last", "bye", 3), 0, "publish right before close");
        trpc_close(c);
        ok_eq(inbox_wait(&last, 1, 10000), 1, "trpc_close sent what was buffered");
        trpc_close(watcher);
    }
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
