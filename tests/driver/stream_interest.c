/*
 * Interest retention (stream "retention": "interest"): messages every consumer group has
 * acknowledged leave the stream, a chunk (1 MiB) at a time, and none that a group still needs: one
 * group done and another that has not read them keep them all; once the second has acknowledged
 * them too they go, and stay gone after kill -9.
 */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define N    200
#define SIZE 16384

static atomic_int acked;

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    if (trpc_ack(m) == 0)
        atomic_fetch_add(&acked, 1);
    trpc_msg_free(m);
}

static bool all_acked(void *arg)
{
    return atomic_load(&acked) >= *(int *)arg;
}

static long long stream_int(trpc_client *c, const char *key)
{
    json_t *st = adminc_stream(c, "iv");
    long long v = adminc_int(st, key);

    json_decref(st);
    return v;
}

struct few {
    trpc_client *c;
    long long at_most;
};

static bool few_left(void *arg)
{
    struct few *f = arg;

    return stream_int(f->c, "messages") <= f->at_most;
}

int main(void)
{
    struct broker_proc b;
    trpc_client *c, *m;
    trpc_sub *sa, *sb;
    static char payload[SIZE];
    struct few f;
    int want;
    json_t *j;

    plan(7);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);
    adminc_stream_add(c, "{\"name\": \"iv\", \"subjects\": [\"iv.>\"], \"retention\": \"interest\"}");
    j = adminc_call(c, "group.add", "{\"stream\": \"iv\", \"name\": \"a\"}");
    json_decref(j);
    j = adminc_call(c, "group.add", "{\"stream\": \"iv\", \"name\": \"b\"}");
    json_decref(j);
    ok(stream_int(c, "messages") == 0, "stream iv with interest retention and groups a and b");
    for (int i = 0; i < N; i++) {
        uint64_t seq;

        if (trpc_publish_sync(c, "iv.x", NULL, 0, payload, SIZE, 5000, &seq) != 0)
            BAIL_OUT("publish: %s", trpc_last_error());
    }
    m = connect_or_bail(&b, NULL);
    if (trpc_subscribe_durable(m, "iv.>", "a", 256, NULL, 0, on_msg, NULL, &sa) != 0)
        BAIL_OUT("subscribe a: %s", trpc_last_error());
    want = N;
    ok(wait_for(all_acked, &want, 10000), "group a acknowledges the %d messages", N);
    usleep(500000); /* several interest passes */
    ok(stream_int(c, "messages") == N, "group b has not read them: all %d kept", N);

    if (trpc_subscribe_durable(m, "iv.>", "b", 256, NULL, 0, on_msg, NULL, &sb) != 0)
        BAIL_OUT("subscribe b: %s", trpc_last_error());
    want = 2 * N;
    ok(wait_for(all_acked, &want, 10000), "group b acknowledges them too");
    f = (struct few){c, 1048576 / SIZE};
    ok(wait_for(few_left, &f, 5000), "then they leave the stream but the last chunk: %lld left (at most %lld)",
       stream_int(c, "messages"), f.at_most);
    ok(stream_int(c, "expired") >= N - f.at_most, "counted as expired (%lld)", stream_int(c, "expired"));
    usleep(300000); /* the floor record reaches the disk */
    trpc_close(m);
    trpc_close(c);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    c = connect_or_bail(&b, NULL);
    ok(stream_int(c, "messages") <= f.at_most, "after kill -9 they are still gone (%lld left)", stream_int(c, "messages"));
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
