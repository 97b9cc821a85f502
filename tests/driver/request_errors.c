/* Request failures are told apart: no responders, timeout, an application error from the
 * responder (code and text in the reply), and a responder that disconnects. */
#include "tests/driver/helpers.h"

static void fail_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    if (trpc_msg_is_request(m))
        trpc_respond_error(m, 42, "no such item");
    trpc_msg_free(m);
}

/* Keeps requests unanswered (freed at once: the requester times out). */
static void silent_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    __atomic_add_fetch((int *)ud, 1, __ATOMIC_SEQ_CST);
    trpc_msg_free(m);
}

int main(void)
{
    struct reply_box r = REPLY_BOX_INIT;
    struct broker_proc b;
    trpc_client *svc, *cli, *doomed;
    trpc_msg *reply = (trpc_msg *)0x1;
    trpc_sub *s1, *s2, *s3;
    int seen = 0, lost_seen = 0, err;

    broker_up(&b, NULL);
    svc = connect_or_bail(&b, NULL);
    cli = connect_or_bail(&b, NULL);

    err = trpc_request(cli, "nobody.home", "x", 1, 2000, &reply);
    ok_eq(err, -TRPC_E_NO_RESPONDERS, "no responders (%s)", trpc_strerror(err));
    ok(reply == (trpc_msg *)0x1, "reply untouched");
    ok(strstr(trpc_last_error(), "nobody.home") != NULL, "detail names the topic: %s", trpc_last_error());

    ok_eq(trpc_subscribe_group(svc, "svc.fail", "g", fail_cb, NULL, &s1), 0, "failing responder");
    ok_eq(trpc_subscribe_group(svc, "svc.silent", "g", silent_cb, &seen, &s2), 0, "silent responder");
    ok_eq(trpc_flush(svc, 5000), 0, "flush");

    reply = NULL;
    err = trpc_request(cli, "svc.fail", "x", 1, 2000, &reply);
    ok_eq(err, -TRPC_E_RESPONDER_ERROR, "responder error (%s)", trpc_strerror(err));
    ok(reply != NULL, "the error comes with a reply");
    ok_eq(trpc_msg_error_code(reply), 42, "carrying the responder's code");
    ok(reply != NULL && trpc_msg_len(reply) == 12 && memcmp(trpc_msg_data(reply), "no such item", 12) == 0, "and its text");
    trpc_msg_free(reply);

    reply = (trpc_msg *)0x1;
    err = trpc_request(cli, "svc.silent", "x", 1, 300, &reply);
    ok_eq(err, -TRPC_E_TIMEOUT, "timeout (%s)", trpc_strerror(err));
    ok(reply == (trpc_msg *)0x1, "reply untouched");
    ok(__atomic_load_n(&seen, __ATOMIC_SEQ_CST) == 1, "the responder did get the request");

    /* A responder that goes away holding the request: RESPONDER_LOST from the broker. */
    doomed = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe_group(doomed, "svc.doomed", "g", silent_cb, &lost_seen, &s3), 0, "doomed responder");
    ok_eq(trpc_flush(doomed, 5000), 0, "flush");
    ok_eq(trpc_request_async(cli, "svc.doomed", "x", 1, 10000, reply_box_cb, &r), 0, "async request to it");
    for (int i = 0; i < 1000 && __atomic_load_n(&lost_seen, __ATOMIC_SEQ_CST) == 0; i++)
        usleep(10000);
    ok_eq(__atomic_load_n(&lost_seen, __ATOMIC_SEQ_CST), 1, "the responder holds the request");
    trpc_close(doomed);
    ok_eq(reply_box_wait(&r, 10000), 1, "the callback ran once");
    ok_eq(r.err, -TRPC_E_RESPONDER_LOST, "with RESPONDER_LOST (%s)", trpc_strerror(r.err));

    trpc_close(cli);
    trpc_close(svc);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
