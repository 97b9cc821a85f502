/* trpc_subscribe_msg: a SUB with the delivery policy headers is accepted by the real broker
 * (no ERR), delivery works for a group and a fan-out subscription, the header bounds are the
 * broker's, and after a broker SIGKILL+restart the subscriptions with headers are restored. */
#include "tests/driver/helpers.h"

static struct inbox fan = INBOX_INIT;
static struct inbox grp = INBOX_INIT;
static atomic_int errors;

static void error_cb(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)ud;
    diag("error callback: %s: %s", trpc_strerror(err), text);
    if (sub != NULL) /* the broker refused a subscription (reconnect failures name none) */
        atomic_fetch_add(&errors, 1);
}

static bool is_connected(void *arg)
{
    return trpc_client_state(arg) == TRPC_STATE_CONNECTED;
}

/* Publishes on topic until the inbox grows (the SUB of a restored session may trail the CONNACK). */
static bool delivered(trpc_client *c, struct inbox *in, const char *topic)
{
    int before = inbox_count(in), i;

    for (i = 0; i < 50; i++) {
        if (trpc_publish(c, topic, "p", 1) != 0)
            return false;
        if (inbox_wait(in, before + 1, 100) > before)
            return true;
    }
    return false;
}

int main(void)
{
    static const trpc_header policy[] = {
        {"trpc-durable", "true", 4},
        {"trpc-max-deliveries", "5", 1},
        {"trpc-backoff", "100,2,30000", 11},
        {"trpc-dlq", "orders.dead", 11},
    };
    static char big[20 << 10];
    trpc_header many[80], bad = {":group", "x", 1}, huge = {"trpc-big", big, sizeof(big)};
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c;
    trpc_sub *s_grp, *s_fan, *s_echo, *s = NULL;
    trpc_msg *reply = NULL;
    size_t i;
    int err;

    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_reconnect(o, -1, 20, 200);
    trpc_options_set_error_cb(o, error_cb, NULL);
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);

    ok_eq(trpc_subscribe_msg(c, "sm.grp", "workers", policy, 4, inbox_cb, &grp, &s_grp), 0, "group subscription with policy");
    ok_eq(trpc_subscribe_msg(c, "sm.fan.*", NULL, policy, 4, inbox_cb, &fan, &s_fan), 0, "fan-out subscription with policy");
    ok_eq(trpc_subscribe_msg(c, "sm.echo", "svc", policy + 1, 1, echo_respond_cb, NULL, &s_echo), 0, "responder with a header");
    ok_eq(trpc_flush(c, 5000), 0, "flush: the broker read the SUBs");
    ok(delivered(c, &grp, "sm.grp"), "the group subscription gets messages");
    ok(delivered(c, &fan, "sm.fan.x"), "the fan-out subscription gets messages");
    err = trpc_request(c, "sm.echo", "hi", 2, 5000, &reply);
    ok_eq(err, 0, "a request reaches the responder (%s)", trpc_last_error());
    trpc_msg_free(reply);
    ok_eq(atomic_load(&errors), 0, "the broker refused none of them");

    for (i = 0; i < 80; i++)
        many[i] = (trpc_header){"x-k", "v", 1}; /* not trpc-*: the broker refuses unknown policy keys */
    ok_eq(trpc_subscribe_msg(c, "sm.many", NULL, many, 64, inbox_cb, &fan, &s), 0, "max_headers (64) headers: accepted");
    trpc_sub_destroy(s);
    ok_eq(trpc_subscribe_msg(c, "sm.many", "g", many, 64, inbox_cb, &fan, &s), -TRPC_E_TOO_MANY_HEADERS,
          "64 headers plus :group: too many");
    ok_eq(trpc_subscribe_msg(c, "sm.many", NULL, many, 80, inbox_cb, &fan, &s), -TRPC_E_TOO_MANY_HEADERS, "80 headers: too many");
    ok_eq(trpc_subscribe_msg(c, "sm.big", NULL, &huge, 1, inbox_cb, &fan, &s), -TRPC_E_HEADERS_TOO_LARGE,
          "a header block above max_header_bytes");
    ok_eq(trpc_subscribe_msg(c, "sm.bad", NULL, &bad, 1, inbox_cb, &fan, &s), -TRPC_E_BAD_HEADER, "a ':' key is refused");
    ok_eq(trpc_subscribe_msg(c, "sm.bad", NULL, NULL, 1, inbox_cb, &fan, &s), -TRPC_E_INVALID_ARGUMENT,
          "NULL headers with a count");

    ok_eq(broker_proc_kill(&b), 0, "broker SIGKILLed");
    usleep(100000);
    ok_eq(broker_proc_restart(&b), 0, "broker restarted on the same port");
    ok(wait_for(is_connected, c, 10000), "client reconnects");
    ok(delivered(c, &grp, "sm.grp"), "group subscription with headers restored");
    ok(delivered(c, &fan, "sm.fan.y"), "fan-out subscription with headers restored");
    err = trpc_request(c, "sm.echo", "hi", 2, 5000, &reply);
    ok_eq(err, 0, "responder with a header restored (%s)", trpc_last_error());
    trpc_msg_free(reply);
    ok_eq(trpc_flush(c, 5000), 0, "flush after the restore");
    ok_eq(atomic_load(&errors), 0, "the broker refused no restored SUB");

    trpc_sub_destroy(s_grp);
    trpc_sub_destroy(s_fan);
    trpc_sub_destroy(s_echo);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
