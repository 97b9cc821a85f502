/* Misuse returns errors and never crashes: NULL everywhere, bad topics and headers, a double
 * unsubscribe, trpc_close from a callback, and every call on a client that gave up (CLOSED). */
#include "tests/driver/helpers.h"

static int close_in_cb = 1;
static char close_in_cb_detail[256];
static struct inbox got = INBOX_INIT;

static void closing_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    trpc_close(c); /* refused: it would wait for this very callback */
    snprintf(close_in_cb_detail, sizeof(close_in_cb_detail), "%s", trpc_last_error());
    __atomic_store_n(&close_in_cb, 0, __ATOMIC_SEQ_CST);
    inbox_cb(c, sub, m, ud);
}

static bool closed(void *c)
{
    return trpc_client_state(c) == TRPC_STATE_CLOSED;
}

int main(void)
{
    const trpc_header colon = {":name", "x", 1};
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c;
    trpc_sub *s = NULL, *s2;
    trpc_msg *reply = NULL;

    ok_eq(trpc_publish(NULL, "a", "x", 1), -TRPC_E_INVALID_ARGUMENT, "publish on NULL");
    ok_eq(trpc_publish_msg(NULL, "a", NULL, 0, "x", 1), -TRPC_E_INVALID_ARGUMENT, "publish_msg on NULL");
    ok_eq(trpc_subscribe(NULL, "a", inbox_cb, NULL, &s), -TRPC_E_INVALID_ARGUMENT, "subscribe on NULL");
    ok_eq(trpc_subscribe_group(NULL, "a", "g", inbox_cb, NULL, &s), -TRPC_E_INVALID_ARGUMENT, "subscribe_group on NULL");
    ok_eq(trpc_unsubscribe(NULL), -TRPC_E_INVALID_ARGUMENT, "unsubscribe NULL");
    ok_eq(trpc_request(NULL, "a", "x", 1, 100, &reply), -TRPC_E_INVALID_ARGUMENT, "request on NULL");
    ok_eq(trpc_request_async(NULL, "a", "x", 1, 100, NULL, NULL), -TRPC_E_INVALID_ARGUMENT, "request_async on NULL");
    ok_eq(trpc_respond(NULL, "x", 1), -TRPC_E_INVALID_ARGUMENT, "respond to NULL");
    ok_eq(trpc_respond_error(NULL, 1, "x"), -TRPC_E_INVALID_ARGUMENT, "respond_error to NULL");
    ok_eq(trpc_ack(NULL), -TRPC_E_INVALID_ARGUMENT, "ack NULL");
    ok_eq(trpc_nack(NULL, 0), -TRPC_E_INVALID_ARGUMENT, "nack NULL");
    ok_eq(trpc_flush(NULL, 100), -TRPC_E_INVALID_ARGUMENT, "flush NULL");
    ok_eq(trpc_client_state(NULL), TRPC_STATE_CLOSED, "state of NULL is CLOSED");
    ok_eq(trpc_client_id(NULL), 0, "id of NULL is 0");
    ok_eq(trpc_client_fd(NULL), -TRPC_E_INVALID_ARGUMENT, "fd of NULL");
    ok_eq(trpc_client_process(NULL), -TRPC_E_INVALID_ARGUMENT, "process NULL");
    ok_eq(trpc_connect(NULL, "trpc://127.0.0.1:1", NULL), -TRPC_E_INVALID_ARGUMENT, "connect with NULL out");
    ok_eq(trpc_connect(&c, NULL, NULL), -TRPC_E_INVALID_ARGUMENT, "connect with NULL urls");
    ok(trpc_sub_pattern(NULL) == NULL, "pattern of NULL");
    ok(strcmp(trpc_msg_topic(NULL), "") == 0 && trpc_msg_data(NULL) != NULL && trpc_msg_len(NULL) == 0,
       "message accessors accept NULL");
    ok(!trpc_msg_is_request(NULL) && trpc_msg_header(NULL, "k", NULL) == NULL && trpc_msg_header_count(NULL) == 0,
       "more accessors accept NULL");
    trpc_msg_free(NULL);
    trpc_close(NULL);
    ok(1, "trpc_msg_free(NULL) and trpc_close(NULL) are no-ops");
    ok(strcmp(trpc_strerror(-TRPC_E_CLOSED), "client is closed") == 0, "trpc_strerror takes the negative code");

    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_reconnect(o, 0, 10, 10); /* give up at the first loss */
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    ok_eq(trpc_publish(c, "", "x", 1), -TRPC_E_TOPIC_REQUIRED, "empty topic");
    ok_eq(trpc_publish(c, "a b", "x", 1), -TRPC_E_BAD_TOPIC, "space in a topic");
    ok_eq(trpc_publish(c, "a", NULL, 5), -TRPC_E_INVALID_ARGUMENT, "NULL data with a length");
    ok_eq(trpc_publish_msg(c, "a", &colon, 1, "x", 1), -TRPC_E_BAD_HEADER, "a ':' header key is the protocol's");
    ok_eq(trpc_request(c, "a", "x", 1, -1, &reply), -TRPC_E_INVALID_ARGUMENT, "negative timeout");
    ok_eq(trpc_request(c, "a", "x", 1, 100, NULL), -TRPC_E_INVALID_ARGUMENT, "NULL reply pointer");
    ok_eq(trpc_client_fd(c), -TRPC_E_INVALID_ARGUMENT, "fd of a threaded client");
    ok_eq(trpc_client_process(c), -TRPC_E_INVALID_ARGUMENT, "process on a threaded client");

    ok_eq(trpc_subscribe(c, "m.x", inbox_cb, &got, &s), 0, "subscribe");
    ok_eq(trpc_unsubscribe(s), 0, "unsubscribe");
    ok_eq(trpc_unsubscribe(s), -TRPC_E_INVALID_ARGUMENT, "double unsubscribe refused");
    ok(strstr(trpc_last_error(), "already") != NULL, "detail: %s", trpc_last_error());

    ok_eq(trpc_subscribe(c, "m.close", closing_cb, &got, &s2), 0, "subscribe with a callback that closes");
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    ok_eq(trpc_publish(c, "m.close", "x", 1), 0, "publish to it");
    ok_eq(inbox_wait(&got, 1, 10000), 1, "callback ran and returned");
    ok_eq(__atomic_load_n(&close_in_cb, __ATOMIC_SEQ_CST), 0, "trpc_close in a callback returned");
    ok(strstr(close_in_cb_detail, "callback") != NULL, "and said why: %s", close_in_cb_detail);
    ok_eq(trpc_client_state(c), TRPC_STATE_CONNECTED, "the client is still connected");

    ok_eq(broker_proc_kill(&b), 0, "broker SIGKILLed");
    ok(wait_for(closed, c, 5000), "with reconnect 0 the client turns CLOSED");
    ok_eq(trpc_publish(c, "a", "x", 1), -TRPC_E_CLOSED, "publish on a closed client");
    ok_eq(trpc_subscribe(c, "a", inbox_cb, &got, &s), -TRPC_E_CLOSED, "subscribe on a closed client");
    ok_eq(trpc_request(c, "a", "x", 1, 100, &reply), -TRPC_E_CLOSED, "request on a closed client");
    ok_eq(trpc_flush(c, 100), -TRPC_E_CLOSED, "flush on a closed client");
    ok_eq(trpc_unsubscribe(s2), 0, "unsubscribe on a closed client still frees the callback");
    ok_eq(trpc_client_id(c), 0, "no session id");
    trpc_close(c);
    ok(1, "trpc_close of a closed client");
    broker_proc_stop(&b);
    return done_testing();
}
