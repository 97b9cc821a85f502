/*
 * libtrpc's acknowledged publishes (trpc_publish_sync, trpc_publish_async) against a broker with
 * streams: the stream sequence for a covered topic, 0 for another, the broker's refusal of a
 * payload above max_msg_size as its error code, thousands of async publishes from two threads each
 * answered once with distinct dense sequences, and a broker that dies with publishes in flight:
 * every callback still runs once, with an error or a sequence.
 */
#include <signal.h>
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define ASYNC_PER_THREAD 3000

struct acks {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls, good, errs;
    uint64_t max_seq;
    unsigned char *seen; /* by sequence */
    size_t seen_len;
    int dup;
};

static void ack_cb(trpc_client *c, int err, uint64_t seq, void *ud)
{
    struct acks *a = ud;

    (void)c;
    pthread_mutex_lock(&a->lock);
    a->calls++;
    if (err == 0) {
        a->good++;
        if (seq > a->max_seq)
            a->max_seq = seq;
        if (seq < a->seen_len && a->seen[seq]++)
            a->dup++;
    } else {
        a->errs++;
    }
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

/* Waits for n callbacks, then copies the counts into *snap (read under the lock: the callbacks
 * run on the client's threads). */
static bool acks_wait(struct acks *a, int n, int ms, struct acks *snap)
{
    struct timespec ts;
    bool done;

    deadline_in(&ts, ms);
    pthread_mutex_lock(&a->lock);
    while (a->calls < n && pthread_cond_timedwait(&a->cond, &a->lock, &ts) != ETIMEDOUT)
        ;
    done = a->calls >= n;
    snap->calls = a->calls;
    snap->good = a->good;
    snap->errs = a->errs;
    snap->max_seq = a->max_seq;
    snap->dup = a->dup;
    pthread_mutex_unlock(&a->lock);
    return done;
}

struct pub_thread {
    trpc_client *c;
    struct acks *a;
    int sent;
};

static void *publisher(void *arg)
{
    struct pub_thread *t = arg;

    for (int i = 0; i < ASYNC_PER_THREAD; i++) {
        int err;

        while ((err = trpc_publish_async(t->c, "orders.async", NULL, 0, "x", 1, 10000, ack_cb, t->a)) == -TRPC_E_TOO_MANY_REQUESTS)
            usleep(1000);
        if (err != 0)
            break;
        t->sent++;
    }
    return NULL;
}

int main(void)
{
    struct acks a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, NULL, 0, 0}, s;
    bool done;
    struct pub_thread th[2];
    pthread_t tid[2];
    struct broker_proc b;
    trpc_header h = {"k", "v", 1};
    trpc_client *c;
    uint64_t seq = 99;
    json_t *j;
    int err, n;

    plan(17);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);
    j = adminc_call(c, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.>\"], \"max_msg_size\": 100}");
    ok(adminc_ok(j), "stream orders declared");
    json_decref(j);

    err = trpc_publish_sync(c, "orders.one", &h, 1, "hello", 5, 5000, &seq);
    ok(err == 0 && seq == 1, "publish_sync on a stream's topic: sequence 1 (err %d, seq %llu)", err, (unsigned long long)seq);
    err = trpc_publish_sync(c, "orders.two", NULL, 0, "", 0, 0, &seq);
    ok(err == 0 && seq == 2, "an empty payload, default timeout: sequence 2");
    err = trpc_publish_sync(c, "elsewhere", NULL, 0, "x", 1, 5000, &seq);
    ok(err == 0 && seq == 0, "a topic no stream covers: acknowledged with 0");
    err = trpc_publish_sync(c, "orders.big", NULL, 0, (char[101]){0}, 101, 5000, NULL);
    ok(err == -TRPC_E_MESSAGE_TOO_LARGE, "101 bytes above max_msg_size 100: MESSAGE_TOO_LARGE (%s)", trpc_strerror(err));
    ok(strstr(trpc_last_error(), "orders.big") != NULL, "the error names the topic: %s", trpc_last_error());
    err = trpc_publish_sync(c, "orders.*", NULL, 0, "x", 1, 5000, NULL);
    ok(err == -TRPC_E_WILDCARD_NOT_ALLOWED, "a wildcard topic is refused before sending");
    err = trpc_publish_sync(c, "orders.neg", NULL, 0, "x", 1, -1, NULL);
    ok(err == -TRPC_E_INVALID_ARGUMENT, "a negative timeout is refused");
    ok(trpc_publish_async(c, "orders.x", NULL, 0, "x", 1, 0, NULL, NULL) == -TRPC_E_INVALID_ARGUMENT, "async needs a callback");

    /* Async from two threads. */
    a.seen_len = 2 * ASYNC_PER_THREAD + 3;
    a.seen = calloc(a.seen_len, 1);
    for (int i = 0; i < 2; i++) {
        th[i] = (struct pub_thread){c, &a, 0};
        pthread_create(&tid[i], NULL, publisher, &th[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);
    n = th[0].sent + th[1].sent;
    ok(n == 2 * ASYNC_PER_THREAD, "%d async publishes sent", n);
    done = acks_wait(&a, n, 30000, &s);
    ok(done, "every one answered (%d)", s.calls);
    ok(s.good == n && s.errs == 0 && s.dup == 0, "all stored, no sequence twice (%d good, %d errors, %d twice)", s.good, s.errs,
       s.dup);
    ok(s.max_seq == (uint64_t)n + 2, "sequences 3 .. %d: dense", n + 2);
    j = adminc_call(c, "stream.info", "{\"name\": \"orders\"}");
    ok(json_integer_value(json_object_get(json_object_get(j, "stream"), "messages")) == n + 2, "stream.info agrees: %d messages",
       n + 2);
    json_decref(j);

    /* The broker dies with publishes in flight: each callback runs once. */
    pthread_mutex_lock(&a.lock);
    a.calls = a.good = a.errs = a.dup = 0;
    memset(a.seen, 0, a.seen_len);
    pthread_mutex_unlock(&a.lock);
    n = 0;
    for (int i = 0; i < 500; i++)
        n += trpc_publish_async(c, "orders.dying", NULL, 0, "x", 1, 3000, ack_cb, &a) == 0;
    broker_proc_kill(&b);
    done = acks_wait(&a, n, 15000, &s);
    ok(done, "after kill -9, all %d callbacks ran (%d)", n, s.calls);
    ok(s.good + s.errs == n, "each once: %d stored, %d failed", s.good, s.errs);
    usleep(100000);
    acks_wait(&a, 0, 0, &s);
    ok(s.calls == n, "and no callback ran twice");
    trpc_close(c);
    broker_proc_stop(&b);
    free(a.seen);
    return done_testing();
}
