/*
 * Retention of streams: max_msgs and max_bytes with discard old (the oldest messages go, the
 * stream keeps at most its limit and at least 63/64 of it), discard new (STREAM_FULL, the text
 * naming the limit), max_age (messages go once older, with no publish needed to notice), a message
 * larger than max_bytes (MESSAGE_TOO_LARGE); what retention removed is gone from stream.get and
 * from a consumer group reading from the start, stays gone after kill -9 and a restart, and its
 * segments leave the disk.
 */
#include <dirent.h>
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

static bool found(trpc_client *c, const char *name, uint64_t seq)
{
    char doc[128];
    json_t *j;
    bool yes;

    snprintf(doc, sizeof(doc), "{\"name\": \"%s\", \"seq\": %llu}", name, (unsigned long long)seq);
    j = adminc_call(c, "stream.get", doc);
    yes = adminc_ok(j);
    json_decref(j);
    return yes;
}

static uint64_t pub(trpc_client *c, const char *topic, const void *data, size_t len)
{
    uint64_t seq = 0;
    int err = trpc_publish_sync(c, topic, NULL, 0, data, len, 5000, &seq);

    if (err != 0)
        BAIL_OUT("publish on %s: %s (%s)", topic, trpc_strerror(err), trpc_last_error());
    return seq;
}

static int dir_files(const struct broker_proc *b, const char *stream)
{
    char dir[512];
    struct dirent *e;
    int n = 0;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/streams/%s", b->data_dir, stream);
    if ((d = opendir(dir)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_type == DT_REG;
    closedir(d);
    return n;
}

static struct {
    pthread_mutex_t lock;
    int msgs;
    uint64_t first, last;
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    pthread_mutex_lock(&seen.lock);
    if (seen.msgs++ == 0)
        seen.first = trpc_msg_seq(m);
    seen.last = trpc_msg_seq(m);
    pthread_mutex_unlock(&seen.lock);
    trpc_ack(m);
    trpc_msg_free(m);
}

static bool got(void *arg)
{
    bool done;

    pthread_mutex_lock(&seen.lock);
    done = seen.msgs >= *(int *)arg;
    pthread_mutex_unlock(&seen.lock);
    return done;
}

static bool aged(void *arg)
{
    json_t *st = adminc_stream(arg, "fresh");
    bool done = adminc_int(st, "messages") == 0;

    json_decref(st);
    return done;
}

int main(void)
{
    static char big[64 << 10];
    struct broker_proc b;
    uint64_t seqs[300], seq;
    trpc_client *c;
    trpc_sub *sub;
    json_t *st, *j;
    int err, want;

    plan(22);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);

    /* max_msgs, discard old: 100 messages at most, chunks of 1 (100 / 64). */
    adminc_stream_add(c, "{\"name\": \"recent\", \"subjects\": [\"recent.>\"], \"max_msgs\": 100}");
    for (int i = 0; i < 300; i++)
        seqs[i] = pub(c, "recent.x", "m", 1);
    st = adminc_stream(c, "recent");
    ok(adminc_int(st, "messages") == 100 && adminc_int(st, "expired") == 200,
       "max_msgs 100: 100 kept of 300, 200 expired (%lld, %lld)", adminc_int(st, "messages"), adminc_int(st, "expired"));
    ok(adminc_int(st, "first_seq") == (long long)seqs[200] && adminc_int(st, "last_seq") >= (long long)seqs[299],
       "first_seq is the 201st message's (%lld, %llu)", adminc_int(st, "first_seq"), (unsigned long long)seqs[200]);
    ok(json_is_string(json_object_get(st, "discard")) && strcmp(json_string_value(json_object_get(st, "discard")), "old") == 0 &&
           adminc_int(st, "max_msgs") == 100,
       "stream.info shows the limits");
    json_decref(st);
    ok(!found(c, "recent", seqs[199]) && found(c, "recent", seqs[200]), "the 200th is gone, the 201st is there");

    /* A consumer group from the start reads what is kept, from the floor on. */
    if (trpc_subscribe_durable(c, "recent.>", "all", 0, NULL, 0, on_msg, NULL, &sub) != 0 || trpc_flush(c, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    want = 100;
    ok(wait_for(got, &want, 10000), "a group from the start gets the 100 kept");
    pthread_mutex_lock(&seen.lock);
    ok(seen.first == seqs[200] && seen.last == seqs[299], "from the 201st to the 300th (%llu..%llu)",
       (unsigned long long)seen.first, (unsigned long long)seen.last);
    pthread_mutex_unlock(&seen.lock);

    /* max_msgs with a larger limit: removed in steps of 1/64 of it. */
    adminc_stream_add(c, "{\"name\": \"steps\", \"subjects\": [\"steps.>\"], \"max_msgs\": 6400}");
    for (int i = 0; i < 7000; i++)
        if (trpc_publish(c, "steps.x", "m", 1) != 0)
            BAIL_OUT("publish: %s", trpc_last_error());
    seq = pub(c, "steps.x", "m", 1);
    st = adminc_stream(c, "steps");
    ok(adminc_int(st, "messages") <= 6400 && adminc_int(st, "messages") >= 6300,
       "max_msgs 6400 after 7001: between 6300 and 6400 kept (%lld)", adminc_int(st, "messages"));
    json_decref(st);

    /* max_bytes, discard new: ten bodies of 100 bytes (topic and payload) fit, the eleventh does not. */
    adminc_stream_add(c, "{\"name\": \"full\", \"subjects\": [\"full.>\"], \"max_bytes\": 1000, \"discard\": \"new\"}");
    for (int i = 0; i < 10; i++)
        pub(c, "full.x", big, 94);
    err = trpc_publish_sync(c, "full.x", NULL, 0, big, 94, 5000, &seq);
    ok(err == -TRPC_E_STREAM_FULL, "discard new: the 11th is refused with STREAM_FULL (%s)", trpc_strerror(err));
    ok(strstr(trpc_last_error(), "max_bytes") != NULL, "its text names the limit: %s", trpc_last_error());
    err = trpc_publish_sync(c, "full.x", NULL, 0, big, 2000, 5000, &seq);
    ok(err == -TRPC_E_MESSAGE_TOO_LARGE, "a message larger than max_bytes: MESSAGE_TOO_LARGE (%s)", trpc_strerror(err));
    st = adminc_stream(c, "full");
    /* The one too large is refused by the publisher's core before it reaches the stream. */
    ok(adminc_int(st, "messages") == 10 && adminc_int(st, "bytes") == 1000 && adminc_int(st, "refused") == 1,
       "10 messages, 1000 bytes kept, 1 refused when full (%lld, %lld, %lld)", adminc_int(st, "messages"), adminc_int(st, "bytes"),
       adminc_int(st, "refused"));
    json_decref(st);

    /* max_age: gone once older, without another publish. */
    adminc_stream_add(c, "{\"name\": \"fresh\", \"subjects\": [\"fresh.>\"], \"max_age_ms\": 300}");
    for (int i = 0; i < 5; i++)
        seq = pub(c, "fresh.x", "m", 1);
    st = adminc_stream(c, "fresh");
    ok(adminc_int(st, "messages") == 5, "max_age 300 ms: 5 messages at first");
    json_decref(st);
    ok(wait_for(aged, c, 5000), "none after their age passed");
    ok(!found(c, "fresh", seq), "stream.get finds the last one no more");

    /* max_bytes, discard old: the disk is freed segment by segment. */
    adminc_stream_add(c, "{\"name\": \"bulk\", \"subjects\": [\"bulk.>\"], \"max_bytes\": 8388608}");
    for (int i = 0; i < 640; i++)
        pub(c, "bulk.x", big, sizeof(big));
    usleep(300000);
    st = adminc_stream(c, "bulk");
    ok(adminc_int(st, "bytes") <= 8388608 && adminc_int(st, "bytes") >= 8388608 / 64 * 63 - 65536 * 2,
       "max_bytes 8 MiB after 40 MiB: at most 8 MiB kept (%lld)", adminc_int(st, "bytes"));
    json_decref(st);
    ok(dir_files(&b, "bulk") <= 8, "segments below the floor left the disk (%d files for 2 MiB segments)", dir_files(&b, "bulk"));

    /* kill -9 and restart: retention holds. */
    trpc_close(c);
    usleep(200000); /* the last floor record is durable */
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    c = connect_or_bail(&b, NULL);
    st = adminc_stream(c, "recent");
    ok(adminc_int(st, "messages") == 100 && adminc_int(st, "first_seq") == (long long)seqs[200],
       "after kill -9 and a restart: still 100, from the 201st (%lld, %lld)", adminc_int(st, "messages"),
       adminc_int(st, "first_seq"));
    json_decref(st);
    ok(!found(c, "recent", seqs[199]) && found(c, "recent", seqs[200]), "the 200th is still gone");
    st = adminc_stream(c, "full");
    ok(adminc_int(st, "messages") == 10 && adminc_int(st, "bytes") == 1000, "the full stream keeps its 10 messages and 1000 bytes");
    json_decref(st);
    err = trpc_publish_sync(c, "full.x", NULL, 0, big, 94, 5000, &seq);
    ok(err == -TRPC_E_STREAM_FULL, "and is still full (%s)", trpc_strerror(err));

    /* stream.purge empties it, and it stores again from the next sequence. */
    j = adminc_call(c, "stream.purge", "{\"name\": \"full\"}");
    ok(adminc_ok(j) && adminc_int(j, "purged") == 10 && adminc_int(json_object_get(j, "stream"), "messages") == 0,
       "stream.purge: 10 removed, none left");
    json_decref(j);
    seq = pub(c, "full.x", big, 94);
    st = adminc_stream(c, "full");
    ok(adminc_int(st, "messages") == 1 && adminc_int(st, "first_seq") == (long long)seq,
       "after it the stream stores again, its first message the new one (%llu)", (unsigned long long)seq);
    json_decref(st);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
