/* A request that reaches a responder after it unsubscribed (the broker had sent it first) is
 * answered by the library with REP ERROR NO_RESPONDERS, so the requester hears at once rather than
 * at its deadline. The responder runs in external-loop mode, so the test decides when it reads:
 * the request is in its socket before it unsubscribes and reads. */
#include <poll.h>

#include "tests/driver/helpers.h"

static int handled;

static void on_req(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)sub;
    (void)ud;
    (void)c;
    handled++;
    trpc_respond(m, "ok", 2);
    trpc_msg_free(m);
}

/* Runs the responder's loop until the reply box has an answer or timeout_ms passed. */
static bool spin_until_reply(trpc_client *resp, struct reply_box *r, int timeout_ms)
{
    struct pollfd pfd = {.fd = trpc_client_fd(resp), .events = POLLIN};

    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pthread_mutex_lock(&r->lock);
        bool done = r->calls > 0;
        pthread_mutex_unlock(&r->lock);
        if (done)
            return true;
        poll(&pfd, 1, 10);
        if (trpc_client_process(resp) != 0)
            return false;
    }
    return false;
}

int main(void)
{
    struct broker_proc b;
    trpc_options *o;
    trpc_client *resp, *req;
    trpc_sub *s;
    struct pollfd pfd;
    int tries = 0;

    plan(8);
    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_external_loop(o, true);
    resp = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    req = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe_group(resp, "svc.gone", "g", on_req, NULL, &s), 0, "the responder subscribes");

    /* Until the subscription is in force everywhere, a request may find no responder. */
    for (;;) {
        struct reply_box r = REPLY_BOX_INIT;

        tries++;
        if (trpc_request_async(req, "svc.gone", "probe", 5, 5000, reply_box_cb, &r) != 0 || !spin_until_reply(resp, &r, 10000))
            BAIL_OUT("probe request");
        if (r.err == 0 || tries == 100) {
            ok(r.err == 0 && handled == 1, "a request is answered (try %d)", tries);
            break;
        }
        usleep(10000);
    }

    struct reply_box late = REPLY_BOX_INIT;

    ok_eq(trpc_request_async(req, "svc.gone", "late", 4, 20000, reply_box_cb, &late), 0, "a second request, 20 s deadline");
    pfd = (struct pollfd){.fd = trpc_client_fd(resp), .events = POLLIN};
    ok(poll(&pfd, 1, 10000) == 1, "it reached the responder's socket, unread");
    ok_eq(trpc_unsubscribe(s), 0, "the responder unsubscribes before reading it");
    ok(spin_until_reply(resp, &late, 10000), "the requester hears back without waiting for its deadline");
    ok(late.err == -TRPC_E_NO_RESPONDERS && handled == 1, "with NO_RESPONDERS, the callback not called (%s)",
       trpc_strerror(late.err));
    trpc_sub_destroy(s);
    trpc_close(req);
    trpc_close(resp);
    ok(broker_proc_stop(&b) == 0, "broker stops cleanly");
    return done_testing();
}
