/*
 * Publisher deduplication: a PUB carrying header trpc-msg-id that repeats an id its stream stored
 * within the dedup window is not stored again and is acknowledged with the first one's sequence,
 * also when the repeats arrive while the first is still on its way to the disk, and after kill -9
 * and a restart; an id past the window, or a stream whose window is 0, stores again; an id longer
 * than 128 bytes is BAD_HEADER.
 */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define BURST 64

/* A publish with trpc-msg-id id (NULL: none): its sequence, or 0 with *err. */
static uint64_t pub_id(trpc_client *c, const char *topic, const char *id, int *err)
{
    trpc_header h = {"trpc-msg-id", id, id != NULL ? strlen(id) : 0};
    uint64_t seq = 0;

    *err = trpc_publish_sync(c, topic, id != NULL ? &h : NULL, id != NULL, "pay", 3, 5000, &seq);
    return *err == 0 ? seq : 0;
}

static struct {
    pthread_mutex_t lock;
    int calls, errs;
    uint64_t seqs[BURST];
} burst = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_ack(trpc_client *c, int err, uint64_t seq, void *ud)
{
    (void)c;
    pthread_mutex_lock(&burst.lock);
    burst.seqs[(uintptr_t)ud] = seq;
    burst.errs += err != 0;
    burst.calls++;
    pthread_mutex_unlock(&burst.lock);
}

static bool burst_done(void *arg)
{
    bool done;

    (void)arg;
    pthread_mutex_lock(&burst.lock);
    done = burst.calls == BURST;
    pthread_mutex_unlock(&burst.lock);
    return done;
}

int main(void)
{
    static const trpc_header same = {"trpc-msg-id", "order-7", 7};
    char longid[130];
    struct broker_proc b;
    uint64_t s1, s2, s3, s4;
    trpc_client *c;
    json_t *st;
    int err, e2, same_seq = 0;

    plan(14);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);
    adminc_stream_add(c, "{\"name\": \"pay\", \"subjects\": [\"pay.>\"]}");

    s1 = pub_id(c, "pay.x", "order-1", &err);
    s2 = pub_id(c, "pay.x", "order-1", &e2);
    ok(err == 0 && e2 == 0 && s1 != 0 && s2 == s1, "the same id twice: the first sequence both times (%llu, %llu)",
       (unsigned long long)s1, (unsigned long long)s2);
    s3 = pub_id(c, "pay.y", "order-1", &err);
    ok(err == 0 && s3 == s1, "on another topic of the stream too: the id is the stream's");
    s3 = pub_id(c, "pay.x", "order-2", &err);
    s4 = pub_id(c, "pay.x", NULL, &e2);
    ok(err == 0 && e2 == 0 && s3 > s1 && s4 > s3, "another id, and no id: stored (%llu, %llu)", (unsigned long long)s3,
       (unsigned long long)s4);

    /* Repeats while the first is on its way to the disk: one stored, every acknowledgement its. */
    for (uintptr_t i = 0; i < BURST; i++)
        if (trpc_publish_async(c, "pay.x", &same, 1, "pay", 3, 5000, on_ack, (void *)i) != 0)
            BAIL_OUT("publish_async: %s", trpc_last_error());
    ok(wait_for(burst_done, NULL, 10000), "%d acknowledgements of one id", BURST);
    pthread_mutex_lock(&burst.lock);
    for (int i = 0; i < BURST; i++)
        same_seq += burst.seqs[i] == burst.seqs[0] && burst.seqs[0] != 0;
    ok(burst.errs == 0 && same_seq == BURST, "all with the same sequence (%d of %d, %d errors)", same_seq, BURST, burst.errs);
    pthread_mutex_unlock(&burst.lock);
    st = adminc_stream(c, "pay");
    ok(adminc_int(st, "messages") == 4 && adminc_int(st, "duplicates") == BURST - 1 + 2,
       "4 messages stored, %d duplicates counted (%lld, %lld)", BURST + 1, adminc_int(st, "messages"),
       adminc_int(st, "duplicates"));
    ok(adminc_int(st, "dedup_window_ms") == 120000, "the default window: two minutes");
    json_decref(st);

    memset(longid, 'x', 129);
    longid[129] = '\0';
    pub_id(c, "pay.x", longid, &err);
    ok(err == -TRPC_E_BAD_HEADER, "a 129-byte id: BAD_HEADER (%s)", trpc_strerror(err));

    /* A short window, and none. */
    adminc_stream_add(c, "{\"name\": \"brief\", \"subjects\": [\"brief.>\"], \"dedup_window_ms\": 200}");
    adminc_stream_add(c, "{\"name\": \"nodup\", \"subjects\": [\"nodup.>\"], \"dedup_window_ms\": 0}");
    s1 = pub_id(c, "brief.x", "k", &err);
    usleep(1200000);
    s2 = pub_id(c, "brief.x", "k", &e2);
    ok(err == 0 && e2 == 0 && s2 > s1, "past the window the id stores again (%llu, %llu)", (unsigned long long)s1,
       (unsigned long long)s2);
    s1 = pub_id(c, "nodup.x", "k", &err);
    s2 = pub_id(c, "nodup.x", "k", &e2);
    ok(err == 0 && e2 == 0 && s2 > s1, "a window of 0: no deduplication");

    /* kill -9: the window's ids come back from the log. */
    trpc_close(c);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    c = connect_or_bail(&b, NULL);
    s2 = pub_id(c, "pay.x", "order-1", &err);
    st = adminc_stream(c, "pay");
    ok(err == 0 && s2 != 0 && adminc_int(st, "messages") == 4, "after kill -9 and a restart the id is still known (%llu)",
       (unsigned long long)s2);
    json_decref(st);
    s3 = pub_id(c, "pay.x", "order-7", &err);
    ok(err == 0 && s3 == burst.seqs[0], "and so is the burst's, with its sequence (%llu)", (unsigned long long)s3);
    s4 = pub_id(c, "pay.x", "order-3", &err);
    ok(err == 0 && s4 > s3, "a new id stores (%llu)", (unsigned long long)s4);
    st = adminc_stream(c, "pay");
    ok(adminc_int(st, "messages") == 5, "5 messages");
    json_decref(st);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
