/*
 * trpc_in_progress() and trpc_term() (protocol version 2): a member that keeps saying it is still
 * working on a message holds it past the group's ack wait without a redelivery, while one held
 * silently comes again once the ack wait passes; a TERM sends the message to the dead-letter
 * stream at once, whatever max_deliveries says, with reason "term" and the member's text.
 */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

static struct {
    pthread_mutex_t lock;
    trpc_msg *held[4]; /* by payload: "0" worked on, "1" terminated, "2" held silently */
    int deliveries[4];
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    int k = trpc_msg_len(m) == 1 ? ((const char *)trpc_msg_data(m))[0] - '0' : -1;

    (void)c;
    (void)sub;
    (void)ud;
    pthread_mutex_lock(&seen.lock);
    if (k >= 0 && k < 4) {
        seen.deliveries[k]++;
        if (seen.held[k] == NULL) {
            seen.held[k] = m;
            m = NULL;
        }
    }
    pthread_mutex_unlock(&seen.lock);
    if (m != NULL) {
        trpc_ack(m); /* a redelivery: settled */
        trpc_msg_free(m);
    }
}

static int deliveries(int k)
{
    int n;

    pthread_mutex_lock(&seen.lock);
    n = seen.deliveries[k];
    pthread_mutex_unlock(&seen.lock);
    return n;
}

static bool all_held(void *arg)
{
    bool done;

    (void)arg;
    pthread_mutex_lock(&seen.lock);
    done = seen.held[0] != NULL && seen.held[1] != NULL && seen.held[2] != NULL;
    pthread_mutex_unlock(&seen.lock);
    return done;
}

/* The value of header key in a stream.get reply, or "". */
static const char *header_of(json_t *j, const char *key)
{
    json_t *list = json_object_get(j, "headers"), *h;
    size_t i;

    json_array_foreach(list, i, h)
    {
        if (strcmp(json_string_value(json_object_get(h, "key")), key) == 0)
            return json_string_value(json_object_get(h, "value"));
    }
    return "";
}

static bool dead_one(void *arg)
{
    json_t *st = adminc_stream(arg, "dead");
    bool done = adminc_int(st, "last_seq") == 1; /* durable: stream.get reads it */

    json_decref(st);
    return done;
}

int main(void)
{
    static const trpc_header policy[] = {
        {"trpc-ack-wait", "1000", 4}, {"trpc-max-deliveries", "5", 1}, {"trpc-dlq", "dead.jobs", 9}};
    struct broker_proc b;
    trpc_client *c;
    trpc_sub *sub;
    json_t *j;
    int err = 0;

    plan(10);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);
    adminc_stream_add(c, "{\"name\": \"jobs\", \"subjects\": [\"jobs.>\"]}");
    adminc_stream_add(c, "{\"name\": \"dead\", \"subjects\": [\"dead.>\"]}");
    if (trpc_subscribe_durable(c, "jobs.>", "workers", 8, policy, 3, on_msg, NULL, &sub) != 0 || trpc_flush(c, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    usleep(100000);
    for (int k = 0; k < 3; k++) {
        char d = (char)('0' + k);

        if (trpc_publish_sync(c, "jobs.x", NULL, 0, &d, 1, 5000, NULL) != 0)
            BAIL_OUT("publish: %s", trpc_last_error());
    }
    ok(wait_for(all_held, NULL, 5000), "three messages delivered and held");

    ok(trpc_term(seen.held[1], "cannot parse order 1") == 0, "trpc_term with a reason");
    ok(wait_for(dead_one, c, 5000), "the terminated message is on the dead-letter stream at once");
    j = adminc_call(c, "stream.get", "{\"name\": \"dead\", \"seq\": 1}");
    ok(strcmp(header_of(j, "trpc-dlq-reason"), "term") == 0 && strcmp(header_of(j, "trpc-dlq-deliveries"), "1") == 0 &&
           strcmp(header_of(j, "trpc-dlq-term-reason"), "cannot parse order 1") == 0,
       "reason term, after 1 delivery, with the member's text (%s, %s, %s)", header_of(j, "trpc-dlq-reason"),
       header_of(j, "trpc-dlq-deliveries"), header_of(j, "trpc-dlq-term-reason"));
    json_decref(j);
    j = adminc_call(c, "group.list", "{\"stream\": \"jobs\"}");
    ok(adminc_int(json_array_get(json_object_get(j, "groups"), 0), "termed") == 1, "group.list counts it as termed");
    json_decref(j);
    /* 2 s of work, told every 200 ms, against an ack wait of 1 s (room for a slow sanitizer run). */
    for (int i = 0; i < 10 && err == 0; i++) {
        err = trpc_in_progress(seen.held[0]);
        usleep(200000);
    }
    ok(err == 0, "trpc_in_progress every 200 ms for 2 s (%s)", trpc_strerror(err));
    ok(deliveries(0) == 1, "the message worked on was not delivered again (%d)", deliveries(0));
    ok(deliveries(2) >= 2, "the one held silently came again after the ack wait (%d deliveries)", deliveries(2));
    ok(trpc_ack(seen.held[0]) == 0, "then acknowledged");

    ok(trpc_ack(seen.held[1]) == 0 && trpc_ack(seen.held[2]) == 0, "acknowledging settled ones is harmless");
    for (int k = 0; k < 3; k++)
        trpc_msg_free(seen.held[k]);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
