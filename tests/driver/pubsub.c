/* Publish and subscribe on a literal topic: payload, topic and headers arrive intact, flush
 * returns once the broker has everything, and the session reports itself. */
#include "tests/driver/helpers.h"

static struct inbox got = INBOX_INIT;

/* Keeps the first message for inspection after the callback returned (it is ours to free). */
static struct inbox kept_box = INBOX_INIT;
static trpc_msg *kept;

static void keep_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    pthread_mutex_lock(&kept_box.lock);
    if (kept == NULL) {
        kept = m;
        m = NULL;
    }
    kept_box.count++;
    pthread_cond_broadcast(&kept_box.cond);
    pthread_mutex_unlock(&kept_box.lock);
    trpc_msg_free(m);
}

int main(void)
{
    struct broker_proc b;
    trpc_header hdrs[2] = {{"color", "blue", 4}, {"empty", "", 0}};
    const char *key = NULL;
    const void *val;
    size_t vlen = 99;
    trpc_client *c;
    trpc_sub *s1, *s2;
    int i;

    broker_up(&b, NULL);
    c = connect_or_bail(&b, NULL);
    ok_eq(trpc_client_state(c), TRPC_STATE_CONNECTED, "connected after trpc_connect");
    ok(trpc_client_id(c) != 0, "the broker named the session");

    ok_eq(trpc_subscribe(c, "greet.plain", inbox_cb, &got, &s1), 0, "subscribe");
    ok(strcmp(trpc_sub_pattern(s1), "greet.plain") == 0, "trpc_sub_pattern gives the pattern back");
    ok_eq(trpc_flush(c, 5000), 0, "flush after subscribe");
    for (i = 0; i < 100; i++)
        if (trpc_publish(c, "greet.plain", "hello", 5) != 0)
            break;
    ok_eq(i, 100, "100 publishes queued");
    ok_eq(trpc_flush(c, 5000), 0, "flush after publishing");
    ok_eq(inbox_wait(&got, 100, 10000), 100, "all 100 delivered");
    pthread_mutex_lock(&got.lock);
    ok(strcmp(got.topic, "greet.plain") == 0, "topic is the published one");
    ok(got.len == 5 && strcmp(got.data, "hello") == 0, "payload intact");
    pthread_mutex_unlock(&got.lock);

    ok_eq(trpc_publish(c, "greet.plain", NULL, 0), 0, "empty payload publishes");
    ok_eq(inbox_wait(&got, 101, 10000), 101, "empty payload delivered");
    pthread_mutex_lock(&got.lock);
    ok_eq(got.len, 0, "its length is 0");
    pthread_mutex_unlock(&got.lock);

    ok_eq(trpc_subscribe(c, "greet.headers", keep_cb, NULL, &s2), 0, "subscribe for headers");
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    ok_eq(trpc_publish_msg(c, "greet.headers", hdrs, 2, "x", 1), 0, "publish with 2 headers");
    ok_eq(inbox_wait(&kept_box, 1, 10000), 1, "message with headers delivered");
    pthread_mutex_lock(&kept_box.lock);
    if (kept == NULL)
        BAIL_OUT("no message kept");
    ok(strcmp(trpc_msg_topic(kept), "greet.headers") == 0, "trpc_msg_topic");
    ok(trpc_msg_len(kept) == 1 && memcmp(trpc_msg_data(kept), "x", 1) == 0, "trpc_msg_data and trpc_msg_len");
    ok(trpc_msg_header_count(kept) >= 2, "trpc_msg_header_count counts both headers");
    val = trpc_msg_header(kept, "color", &vlen);
    ok(val != NULL && vlen == 4 && memcmp(val, "blue", 4) == 0, "trpc_msg_header finds 'color'");
    val = trpc_msg_header(kept, "empty", &vlen);
    ok(val != NULL && vlen == 0, "an empty header value is found, length 0");
    ok(trpc_msg_header(kept, "missing", NULL) == NULL, "an absent header is NULL");
    for (i = 0; trpc_msg_header_at(kept, (size_t)i, &key, &val, &vlen); i++)
        if (strcmp(key, "color") == 0)
            break;
    ok(key != NULL && strcmp(key, "color") == 0 && vlen == 4, "trpc_msg_header_at walks to 'color'");
    ok(!trpc_msg_header_at(kept, 1000, &key, &val, &vlen), "trpc_msg_header_at past the end is false");
    ok(!trpc_msg_is_request(kept), "a publish is not a request");
    ok_eq(trpc_msg_deadline_ms(kept), 0, "no deadline");
    ok_eq(trpc_msg_error_code(kept), 0, "no error code");
    ok_eq(trpc_msg_delivery(kept), 0, "not a durable delivery");
    ok_eq(trpc_respond(kept, "r", 1), -TRPC_E_INVALID_ARGUMENT, "responding to a publish is refused");
    ok_eq(trpc_ack(kept), -TRPC_E_INVALID_ARGUMENT, "acknowledging a plain delivery is refused");
    trpc_msg_free(kept);
    pthread_mutex_unlock(&kept_box.lock);

    ok_eq(trpc_unsubscribe(s2), 0, "unsubscribe");
    ok_eq(trpc_unsubscribe(s1), 0, "unsubscribe the first");
    ok_eq(trpc_publish(c, "greet.plain", "late", 4), 0, "publish after unsubscribe");
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    usleep(100000);
    ok_eq(inbox_count(&got), 101, "nothing delivered after unsubscribe");
    trpc_close(c);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
