/*
 * Requests and replies up to 900 KiB against a real broker, with publishes from another thread on
 * the requesting client meanwhile. Synchronous requests and replies sent from an idle dispatcher
 * leave from the caller's thread (driver/sendbuf.c) while the publishes go through the I/O thread,
 * so both paths take turns on one socket. A byte lost, doubled or interleaved would make the
 * broker refuse the stream (and close the connection), or show in a reply's or message's
 * contents. (Loopback takes these frames whole; tests/driver/direct_send covers a send the
 * kernel takes only in part.)
 */
#include <stdlib.h>

#include "tests/driver/helpers.h"

#define MAX_LEN (900u << 10)
#define ROUNDS  40
#define PUBS    2000

static uint8_t pattern_at(size_t seed, size_t i)
{
    return (uint8_t)((seed * 131 + i * 7) ^ (i >> 9));
}

/* A payload of len bytes whose contents depend on seed, and a check of one. */
static void fill_payload(uint8_t *p, size_t len, size_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = pattern_at(seed, i);
}

static bool payload_is(const uint8_t *p, size_t len, size_t seed)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern_at(seed, i))
            return false;
    return true;
}

/* Lengths from 1 B to MAX_LEN, mixed so that small frames follow large ones. */
static size_t len_of(unsigned round)
{
    return round % 3 == 0 ? 1 + round : MAX_LEN - round * 997;
}

static void echo_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    if (trpc_msg_is_request(m) && trpc_respond(m, trpc_msg_data(m), trpc_msg_len(m)) != 0)
        atomic_fetch_add((atomic_int *)ud, 1);
    trpc_msg_free(m);
}

/* Publishes on the requesting client while it requests: the batched path beside the direct one. */
struct publisher {
    trpc_client *c;
    int sent;
};

static void *publish_loop(void *arg)
{
    struct publisher *p = arg;
    uint8_t buf[512];

    for (int i = 0; i < PUBS; i++) {
        fill_payload(buf, sizeof(buf), (size_t)i);
        while (trpc_publish(p->c, "large.pub", buf, sizeof(buf)) == -TRPC_E_BUFFER_FULL)
            usleep(1000);
        p->sent++;
        if (i % 64 == 0)
            usleep(200);
    }
    return NULL;
}

struct pub_check {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int got;
    int bad;
};

static void pub_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    struct pub_check *k = ud;

    (void)c;
    (void)sub;
    pthread_mutex_lock(&k->lock);
    if (trpc_msg_len(m) != 512 || !payload_is(trpc_msg_data(m), 512, (size_t)k->got))
        k->bad++;
    k->got++;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->lock);
    trpc_msg_free(m);
}

/* Async requests chained from their own callbacks: the next REQ leaves from the dispatcher. */
struct chain {
    trpc_client *c;
    uint8_t *buf;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned round;
    int bad;
    bool done;
};

static void chain_cb(trpc_client *c, int err, trpc_msg *reply, void *ud)
{
    struct chain *ch = ud;
    size_t len = len_of(ch->round);
    bool good = err == 0 && reply != NULL && trpc_msg_len(reply) == len && payload_is(trpc_msg_data(reply), len, ch->round);

    (void)c;
    trpc_msg_free(reply);
    pthread_mutex_lock(&ch->lock);
    if (!good)
        ch->bad++;
    if (++ch->round == ROUNDS || !good) {
        ch->done = true;
        pthread_cond_broadcast(&ch->cond);
        pthread_mutex_unlock(&ch->lock);
        return;
    }
    len = len_of(ch->round);
    fill_payload(ch->buf, len, ch->round);
    pthread_mutex_unlock(&ch->lock);
    if (trpc_request_async(ch->c, "large.echo", ch->buf, len, 10000, chain_cb, ch) != 0) {
        pthread_mutex_lock(&ch->lock);
        ch->bad++;
        ch->done = true;
        pthread_cond_broadcast(&ch->cond);
        pthread_mutex_unlock(&ch->lock);
    }
}

int main(void)
{
    struct chain ch = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct pub_check pk = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct publisher pp;
    struct broker_proc b;
    trpc_client *svc, *cli, *sink;
    trpc_sub *s1, *s2;
    atomic_int respond_errors = 0;
    uint8_t *buf = malloc(MAX_LEN);
    pthread_t pt;
    struct timespec ts;
    unsigned i;
    int bad = 0, failed = 0;

    if (buf == NULL)
        return 99;
    broker_up(&b, NULL);
    svc = connect_or_bail(&b, NULL);
    cli = connect_or_bail(&b, NULL);
    sink = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe_group(svc, "large.echo", "echo", echo_cb, &respond_errors, &s1), 0, "responder subscribes");
    ok_eq(trpc_subscribe(sink, "large.pub", pub_cb, &pk, &s2), 0, "sink subscribes");
    ok_eq(trpc_flush(svc, 5000), 0, "responder flushed");
    ok_eq(trpc_flush(sink, 5000), 0, "sink flushed");

    pp.c = cli;
    pp.sent = 0;
    if (pthread_create(&pt, NULL, publish_loop, &pp) != 0)
        return 99;
    for (i = 0; i < ROUNDS; i++) {
        size_t len = len_of(i);
        trpc_msg *reply = NULL;

        fill_payload(buf, len, i + 1000);
        if (trpc_request(cli, "large.echo", buf, len, 10000, &reply) != 0) {
            diag("request %u of %zu B: %s", i, len, trpc_last_error());
            failed++;
            continue;
        }
        if (trpc_msg_len(reply) != len || !payload_is(trpc_msg_data(reply), len, i + 1000))
            bad++;
        trpc_msg_free(reply);
    }
    ok_eq(failed, 0, "%d synchronous requests of 1 B to 900 KiB answered", ROUNDS);
    ok_eq(bad, 0, "every reply is its request's payload");

    ch.c = cli;
    ch.buf = malloc(MAX_LEN);
    if (ch.buf == NULL)
        return 99;
    fill_payload(ch.buf, len_of(0), 0);
    ok_eq(trpc_request_async(cli, "large.echo", ch.buf, len_of(0), 10000, chain_cb, &ch), 0, "first chained request");
    deadline_in(&ts, 60000);
    pthread_mutex_lock(&ch.lock);
    while (!ch.done && pthread_cond_timedwait(&ch.cond, &ch.lock, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&ch.lock);
    ok_eq(ch.round, ROUNDS, "%d requests chained from their callbacks", ROUNDS);
    ok_eq(ch.bad, 0, "each answered with its payload");

    pthread_join(pt, NULL);
    ok_eq(pp.sent, PUBS, "publisher thread done");
    deadline_in(&ts, 20000);
    pthread_mutex_lock(&pk.lock);
    while (pk.got < PUBS && pthread_cond_timedwait(&pk.cond, &pk.lock, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&pk.lock);
    ok_eq(pk.got, PUBS, "every publish delivered");
    ok_eq(pk.bad, 0, "in order and intact");
    ok_eq(atomic_load(&respond_errors), 0, "no trpc_respond failed");
    ok_eq(broker_proc_log_count(&b, "malformed"), 0, "the broker saw no malformed frame");

    trpc_close(cli);
    trpc_close(svc);
    trpc_close(sink);
    broker_proc_stop(&b);
    free(ch.buf);
    free(buf);
    return done_testing();
}
