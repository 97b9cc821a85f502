/*
 * libtrpc's durable subscriptions (trpc_subscribe_durable): messages stored by a stream come to the
 * consumer group's member with trpc_msg_delivery() and trpc_msg_seq(); trpc_ack() retires them,
 * trpc_nack() brings them back (delivery 2), and after max_deliveries they land on the dead-letter
 * stream; the broker's refusal of a pattern no stream covers reaches the error callback with the
 * subscription.
 */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define N 10

struct seen {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int msgs, acks, nacks, bad;
    uint32_t deliveries[N + 1];
    int errs;
    int last_err;
    trpc_sub *err_sub;
};

static struct seen seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, {0}, 0, 0, NULL};

/* Odd sequences are acknowledged; even ones refused every time (so they run out of attempts). */
static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    uint64_t seq = trpc_msg_seq(m);
    uint32_t d = trpc_msg_delivery(m);
    int err;

    (void)c;
    (void)sub;
    (void)ud;
    err = seq % 2 ? trpc_ack(m) : trpc_nack(m, 0);
    pthread_mutex_lock(&seen.lock);
    seen.msgs++;
    if (seq < 1 || seq > N || d != seen.deliveries[seq] + 1 || err != 0)
        seen.bad++;
    else
        seen.deliveries[seq] = d;
    *(seq % 2 ? &seen.acks : &seen.nacks) += 1;
    pthread_cond_broadcast(&seen.cond);
    pthread_mutex_unlock(&seen.lock);
    trpc_msg_free(m);
}

static void on_error(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)text;
    (void)ud;
    pthread_mutex_lock(&seen.lock);
    seen.errs++;
    seen.last_err = err;
    seen.err_sub = sub;
    pthread_cond_broadcast(&seen.cond);
    pthread_mutex_unlock(&seen.lock);
}

static bool wait_msgs(int n, int ms)
{
    struct timespec ts;
    bool done;

    deadline_in(&ts, ms);
    pthread_mutex_lock(&seen.lock);
    while (seen.msgs < n && pthread_cond_timedwait(&seen.cond, &seen.lock, &ts) != ETIMEDOUT)
        ;
    done = seen.msgs >= n;
    pthread_mutex_unlock(&seen.lock);
    return done;
}

int main(void)
{
    static const trpc_header policy[] = {
        {"trpc-max-deliveries", "2", 1}, {"trpc-dlq", "dead.orders", 11}, {"trpc-ack-wait", "5000", 4}};
    struct broker_proc b;
    trpc_options *o = NULL;
    trpc_client *c;
    trpc_sub *sub, *nosub;
    json_t *j;
    int msgs, bad, errs, last_err;
    trpc_sub *err_sub;

    plan(10);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    if (trpc_options_create(&o) != 0)
        BAIL_OUT("options");
    trpc_options_set_error_cb(o, on_error, NULL);
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    j = adminc_call(c, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.>\"]}");
    ok(adminc_ok(j), "stream orders");
    json_decref(j);
    j = adminc_call(c, "stream.add", "{\"name\": \"dead\", \"subjects\": [\"dead.>\"]}");
    ok(adminc_ok(j), "stream dead");
    json_decref(j);

    ok(trpc_subscribe_durable(c, "orders.>", "bad name", 0, NULL, 0, on_msg, NULL, &nosub) == -TRPC_E_INVALID_ARGUMENT,
       "a name with a blank is refused before sending");
    ok(trpc_subscribe_durable(c, "orders.>", "billing", 4, policy, 3, on_msg, NULL, &sub) == 0, "subscribed to group billing");
    ok(trpc_flush(c, 5000) == 0, "flushed");
    usleep(100000); /* the join reaches the stream's core */
    for (int i = 1; i <= N; i++) {
        uint64_t seq = 0;

        if (trpc_publish_sync(c, "orders.x", NULL, 0, "m", 1, 5000, &seq) != 0 || seq != (uint64_t)i)
            BAIL_OUT("publish %d: %s", i, trpc_last_error());
    }
    ok(wait_msgs(N + N / 2, 10000), "every message, and the refused ones once more (%d)", N + N / 2);
    usleep(300000);
    pthread_mutex_lock(&seen.lock);
    msgs = seen.msgs;
    bad = seen.bad;
    pthread_mutex_unlock(&seen.lock);
    ok(msgs == N + N / 2 && bad == 0, "deliveries counted 1 then 2, sequences 1..%d, and no third (%d, %d off)", N, msgs, bad);
    j = adminc_call(c, "stream.info", "{\"name\": \"dead\"}");
    ok(json_integer_value(json_object_get(json_object_get(j, "stream"), "messages")) == N / 2,
       "the %d refused twice are on the dead-letter stream", N / 2);
    json_decref(j);

    ok(trpc_subscribe_durable(c, "elsewhere.>", "x", 0, NULL, 0, on_msg, NULL, &nosub) == 0, "a pattern no stream covers is sent");
    trpc_flush(c, 5000);
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&seen.lock);
        errs = seen.errs;
        last_err = seen.last_err;
        err_sub = seen.err_sub;
        pthread_mutex_unlock(&seen.lock);
        if (errs > 0)
            break;
        usleep(20000);
    }
    ok(errs == 1 && last_err == -TRPC_E_NO_STREAM && err_sub == nosub, "its refusal reaches the error callback: NO_STREAM");
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
