/* Request/reply: a responder subscribed in a group answers synchronous and asynchronous
 * requests, with headers; a second answer is refused; replies carry no topic. */
#include "tests/driver/helpers.h"

static void echo_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    size_t len = 0;
    const void *tag = trpc_msg_header(m, "tag", &len);
    int *second = ud;

    if (trpc_msg_is_request(m)) {
        if (tag != NULL)
            trpc_respond(m, tag, len);
        else
            trpc_respond(m, trpc_msg_data(m), trpc_msg_len(m));
        __atomic_store_n(second, trpc_respond(m, "again", 5), __ATOMIC_SEQ_CST);
    }
    trpc_msg_free(m);
}

int main(void)
{
    struct reply_box r = REPLY_BOX_INIT;
    trpc_header tag = {"tag", "tagged", 6};
    struct broker_proc b;
    trpc_client *svc, *cli;
    trpc_msg *reply = NULL;
    trpc_sub *s;
    int second = 1, i, err;

    broker_up(&b, NULL);
    svc = connect_or_bail(&b, NULL);
    cli = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe_group(svc, "svc.echo", "echo", echo_cb, &second, &s), 0, "responder subscribes in a group");
    ok_eq(trpc_flush(svc, 5000), 0, "flush");

    err = trpc_request(cli, "svc.echo", "ping", 4, 5000, &reply);
    ok_eq(err, 0, "request answered (%s)", trpc_last_error());
    ok(reply != NULL && trpc_msg_len(reply) == 4 && memcmp(trpc_msg_data(reply), "ping", 4) == 0, "reply carries the echo");
    ok(reply != NULL && strcmp(trpc_msg_topic(reply), "") == 0, "a reply has no topic");
    ok_eq(trpc_msg_error_code(reply), 0, "no error code");
    trpc_msg_free(reply);
    reply = NULL;
    /* The reply can reach us before the responder's callback has made its second attempt. */
    for (i = 0; i < 5000 && __atomic_load_n(&second, __ATOMIC_SEQ_CST) == 1; i++)
        usleep(1000);
    ok_eq(__atomic_load_n(&second, __ATOMIC_SEQ_CST), -TRPC_E_INVALID_ARGUMENT, "a second trpc_respond is refused");

    err = trpc_request_msg(cli, "svc.echo", &tag, 1, "body", 4, 5000, &reply);
    ok_eq(err, 0, "request with a header answered");
    ok(reply != NULL && trpc_msg_len(reply) == 6 && memcmp(trpc_msg_data(reply), "tagged", 6) == 0, "the responder saw the header");
    trpc_msg_free(reply);

    for (i = 0; i < 50; i++) {
        err = trpc_request(cli, "svc.echo", "x", 1, 5000, &reply);
        if (err)
            break;
        trpc_msg_free(reply);
    }
    ok_eq(i, 50, "50 requests in a row answered");

    ok_eq(trpc_request_async(cli, "svc.echo", "async", 5, 5000, reply_box_cb, &r), 0, "async request sent");
    ok_eq(reply_box_wait(&r, 10000), 1, "callback ran once");
    ok_eq(r.err, 0, "with success");
    ok(strcmp(r.data, "async") == 0, "and the reply");
    ok_eq(trpc_request_async(cli, "svc.echo", "x", 1, 5000, NULL, NULL), -TRPC_E_INVALID_ARGUMENT,
          "async without callback refused");

    trpc_close(cli);
    trpc_close(svc);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
