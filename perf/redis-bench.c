/*
 * redis-bench: the bench's workloads (perf/bench.c) on Redis.
 *
 * durable: Redis streams, to compare TRPC's streams with Redis's append-only file (appendfsync
 * always: fsync before a write is answered; everysec: once a second). A publish is XADD,
 * pipelined: each connection's I/O thread sends every queued XADD in one write and reads their
 * answers in order, so that many are in flight as with TRPC's PUBACKs. A consumer is a member of a
 * Redis consumer group (XREADGROUP ... >, COUNT 512), acknowledging each batch with one XACK.
 *
 * pubsub: PUBLISH, pipelined the same way, and SUBSCRIBE, each subscriber connection read by a
 * thread of its own. Redis's pub/sub has no queue groups and Redis no request/reply: --group and
 * the request workload are unsupported.
 */
#include "perf/bench.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH_MAX 4096
#define READ_MAX  512

enum { RB_ERR_REDIS = 1, RB_ERR_UNSUPPORTED, RB_ERR_NOMEM, RB_ERR_URL };

struct pub {
    bench_reply_fn *fn;
    void *ud;
    size_t len;
    char *data;
};

struct conn {
    redisContext *rc; /* the I/O thread's (the caller's until it starts) */
    char host[256];
    int port;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    /* publisher: what waits to be sent, in order; channel: PUBLISH there (pubsub), else XADD */
    struct pub *q;
    size_t nq, capq;
    char key[128];
    char channel[256];
    bool subscriber;       /* its I/O thread reads SUBSCRIBE's messages */
    atomic_bool unsubbing; /* rb_close ends that read: no loss to report */
    /* consumer */
    char group[64], name[64];
    bench_msg_fn *msg_fn;
    void *msg_ud;
};

static const char *last_text = "";
static pthread_mutex_t text_lock = PTHREAD_MUTEX_INITIALIZER; /* publishers fail on threads of their own */

static int fail_reply(redisContext *rc, redisReply *r)
{
    static char text[256]; /* the first failure's: the bench stops at it */

    pthread_mutex_lock(&text_lock);
    if (last_text[0] == '\0') {
        snprintf(text, sizeof(text), "%s", r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : rc->errstr);
        last_text = text;
    }
    pthread_mutex_unlock(&text_lock);
    if (r != NULL)
        freeReplyObject(r);
    return -RB_ERR_REDIS;
}

static int rb_connect(void **out, const char *url, const char *name, bool inline_cb)
{
    struct conn *k = calloc(1, sizeof(*k));
    const char *hp = strncmp(url, "redis://", 8) == 0 ? url + 8 : url, *colon = strrchr(hp, ':');

    (void)inline_cb;
    if (k == NULL)
        return -RB_ERR_NOMEM;
    if (colon == NULL || (size_t)(colon - hp) >= sizeof(k->host)) {
        free(k);
        return -RB_ERR_URL;
    }
    memcpy(k->host, hp, (size_t)(colon - hp));
    k->port = atoi(colon + 1);
    snprintf(k->name, sizeof(k->name), "%s", name);
    unsigned ms = bench_connect_timeout_ms != 0 ? bench_connect_timeout_ms : 5000;
    k->rc = redisConnectWithTimeout(k->host, k->port, (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000});
    if (k->rc == NULL || k->rc->err) {
        last_text = k->rc != NULL ? "cannot connect" : "out of memory";
        if (k->rc != NULL)
            redisFree(k->rc);
        free(k);
        return -RB_ERR_REDIS;
    }
    redisSetTimeout(k->rc, (struct timeval){.tv_sec = 10}); /* a lost server ends the bench, not hangs it */
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->cond, NULL);
    *out = k;
    return 0;
}

/* Ends the connection's I/O thread: the caller has the context to itself afterwards. */
static void stop_thread(struct conn *k)
{
    if (!k->running)
        return;
    if (k->subscriber) { /* it waits in a read: end the read */
        atomic_store(&k->unsubbing, true);
        shutdown(k->rc->fd, SHUT_RDWR);
    }
    pthread_mutex_lock(&k->lock);
    k->stop = true;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->lock);
    pthread_join(k->thread, NULL);
    k->running = false;
}

static void rb_close(void *conn)
{
    struct conn *k = conn;

    stop_thread(k);
    for (size_t i = 0; i < k->nq; i++)
        free(k->q[i].data);
    free(k->q);
    redisFree(k->rc);
    pthread_mutex_destroy(&k->lock);
    pthread_cond_destroy(&k->cond);
    free(k);
}

/* ---- publishing --------------------------------------------------------------------------------- */

/* Sends what is queued in one write, then answers each in order, the lock not held. */
static void *pub_thread(void *arg)
{
    struct conn *k = arg;
    struct pub *batch = calloc(BATCH_MAX, sizeof(*batch));

    if (batch == NULL)
        return NULL; /* the publishes wait for their answers: the bench's drain gives up on them */
    for (;;) {
        size_t n;

        pthread_mutex_lock(&k->lock);
        while (k->nq == 0 && !k->stop)
            pthread_cond_wait(&k->cond, &k->lock);
        if (k->stop) {
            pthread_mutex_unlock(&k->lock);
            break;
        }
        n = k->nq < BATCH_MAX ? k->nq : BATCH_MAX;
        memcpy(batch, k->q, n * sizeof(*batch));
        memmove(k->q, k->q + n, (k->nq - n) * sizeof(*k->q));
        k->nq -= n;
        pthread_mutex_unlock(&k->lock);
        for (size_t i = 0; i < n; i++) {
            if (k->channel[0] != '\0')
                redisAppendCommand(k->rc, "PUBLISH %s %b", k->channel, batch[i].data, batch[i].len);
            else
                redisAppendCommand(k->rc, "XADD %s * d %b", k->key, batch[i].data, batch[i].len);
        }
        for (size_t i = 0; i < n; i++) {
            int want = k->channel[0] != '\0' ? REDIS_REPLY_INTEGER : REDIS_REPLY_STRING;
            redisReply *r = NULL;
            int err = 0;

            if (redisGetReply(k->rc, (void **)&r) != REDIS_OK || r == NULL || r->type != want)
                err = fail_reply(k->rc, r); /* frees r */
            else
                freeReplyObject(r);
            free(batch[i].data);
            if (batch[i].fn != NULL)
                batch[i].fn(batch[i].ud, err, NULL, 0);
        }
    }
    free(batch);
    return NULL;
}

/* Queues a copy of data for the connection's I/O thread, started on the first. */
static int enqueue(struct conn *k, const void *data, size_t len, bench_reply_fn *fn, void *ud)
{
    struct pub p = {.fn = fn, .ud = ud, .len = len, .data = malloc(len ? len : 1)};

    if (p.data == NULL)
        return -RB_ERR_NOMEM;
    memcpy(p.data, data, len);
    pthread_mutex_lock(&k->lock);
    if (!k->running) {
        k->running = pthread_create(&k->thread, NULL, pub_thread, k) == 0;
        if (!k->running) {
            pthread_mutex_unlock(&k->lock);
            free(p.data);
            return -RB_ERR_NOMEM;
        }
    }
    if (k->nq == k->capq) {
        size_t cap = k->capq ? k->capq * 2 : 1024;
        struct pub *q = realloc(k->q, cap * sizeof(*q));

        if (q == NULL) {
            pthread_mutex_unlock(&k->lock);
            free(p.data);
            return -RB_ERR_NOMEM;
        }
        k->q = q;
        k->capq = cap;
    }
    k->q[k->nq++] = p;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->lock);
    return 0;
}

static int rb_publish_acked(void *conn, const char *topic, const void *data, size_t len, int timeout_ms, bench_reply_fn *fn,
                            void *ud)
{
    (void)topic;
    (void)timeout_ms;
    return enqueue(conn, data, len, fn, ud);
}

/* A plain publish: PUBLISH, nothing waits for its answer (the count of receivers). */
static int rb_publish(void *conn, const char *topic, const void *data, size_t len)
{
    struct conn *k = conn;

    if (k->channel[0] == '\0')
        snprintf(k->channel, sizeof(k->channel), "%s", topic);
    if (strcmp(k->channel, topic) != 0) {
        last_text = "redis-bench publishes on one channel per connection";
        return -RB_ERR_UNSUPPORTED;
    }
    return enqueue(k, data, len, NULL, NULL);
}

/* ---- pub/sub ---------------------------------------------------------------------------------- */

/* Reads the messages SUBSCRIBE brings until the connection is shut down. Redis drops a
 * subscriber that falls behind its output buffer limit (client-output-buffer-limit pubsub): said
 * on stderr, so that the loss the bench then reports has its reason. */
static void *sub_thread(void *arg)
{
    struct conn *k = arg;
    redisReply *r;

    while (redisGetReply(k->rc, (void **)&r) == REDIS_OK && r != NULL) {
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[0]->str, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING)
            k->msg_fn(k->msg_ud, r->element[2]->str, r->element[2]->len);
        freeReplyObject(r);
    }
    if (!atomic_load(&k->unsubbing))
        fprintf(stderr, "redis-bench: subscriber %s lost its connection: %s\n", k->name,
                k->rc->errstr[0] != '\0' ? k->rc->errstr : "closed by the server");
    return NULL;
}

static int rb_subscribe(void *conn, const char *topic, const char *group, bench_msg_fn *fn, void *ud)
{
    struct conn *k = conn;
    redisReply *r;

    if (group != NULL) {
        last_text = "Redis pub/sub has no queue groups";
        return -RB_ERR_UNSUPPORTED;
    }
    r = redisCommand(k->rc, "SUBSCRIBE %s", topic);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return fail_reply(k->rc, r);
    freeReplyObject(r);
    /* An idle subscriber is no lost server: the read waits as long as the run does. */
    redisSetTimeout(k->rc, (struct timeval){0});
    k->msg_fn = fn;
    k->msg_ud = ud;
    k->subscriber = true;
    k->running = pthread_create(&k->thread, NULL, sub_thread, k) == 0;
    return k->running ? 0 : -RB_ERR_NOMEM;
}

/* ---- streams and consumers -------------------------------------------------------------------- */

static int command(struct conn *k, const char *fmt, const char *a, const char *b)
{
    redisReply *r = redisCommand(k->rc, fmt, a, b);

    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        return fail_reply(k->rc, r);
    freeReplyObject(r);
    return 0;
}

static int rb_stream_delete(void *conn, const char *name)
{
    struct conn *k = conn;

    stop_thread(k); /* its publishes may still wait for answers on the same context */
    return command(k, "DEL %s%s", "bench:", name);
}

static int rb_stream_create(void *conn, const char *name, const char *subject)
{
    struct conn *k = conn;
    int rc;

    (void)subject;
    snprintf(k->key, sizeof(k->key), "bench:%s", name);
    rc = command(k, "XGROUP CREATE %s %s 0 MKSTREAM", k->key, "bench");
    return rc != 0 && strncmp(last_text, "BUSYGROUP", 9) == 0 ? 0 : rc; /* it exists (--keep left it) */
}

static void *cons_thread(void *arg)
{
    struct conn *k = arg;

    for (;;) {
        redisReply *r, *entries;
        size_t acks;
        bool stop;

        pthread_mutex_lock(&k->lock);
        stop = k->stop;
        pthread_mutex_unlock(&k->lock);
        if (stop)
            break;
        r = redisCommand(k->rc, "XREADGROUP GROUP %s %s COUNT %d BLOCK 100 STREAMS %s >", k->group, k->name, READ_MAX, k->key);
        if (r == NULL)
            break;
        if (r->type == REDIS_REPLY_ERROR) { /* no group (the stream was deleted): wait for the stop */
            freeReplyObject(r);
            usleep(10000);
            continue;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 || r->element[0]->type != REDIS_REPLY_ARRAY ||
            r->element[0]->elements < 2 || r->element[0]->element[1]->type != REDIS_REPLY_ARRAY ||
            r->element[0]->element[1]->elements == 0) {
            freeReplyObject(r);
            continue;
        }
        entries = r->element[0]->element[1];
        acks = 0;
        for (size_t i = 0; i < entries->elements; i++) {
            redisReply *e = entries->element[i], *fields;

            if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING)
                continue;
            fields = e->element[1];
            redisAppendCommand(k->rc, "XACK %s %s %s", k->key, k->group, e->element[0]->str);
            acks++;
            if (fields->type == REDIS_REPLY_ARRAY && fields->elements >= 2 && fields->element[1]->type == REDIS_REPLY_STRING)
                k->msg_fn(k->msg_ud, fields->element[1]->str, fields->element[1]->len);
        }
        for (size_t i = 0; i < acks; i++) {
            redisReply *a = NULL;

            if (redisGetReply(k->rc, (void **)&a) == REDIS_OK)
                freeReplyObject(a);
        }
        freeReplyObject(r);
    }
    return NULL;
}

static int rb_subscribe_durable(void *conn, const char *topic, const char *group, bench_msg_fn *fn, void *ud)
{
    struct conn *k = conn;

    (void)topic;
    snprintf(k->key, sizeof(k->key), "bench:%s", "bench");
    snprintf(k->group, sizeof(k->group), "%s", group);
    k->msg_fn = fn;
    k->msg_ud = ud;
    k->running = pthread_create(&k->thread, NULL, cons_thread, k) == 0;
    return k->running ? 0 : -RB_ERR_NOMEM;
}

/* ---- the rest of the bench's backend ---------------------------------------------------------- */

static int rb_unsupported(void)
{
    last_text = "Redis has no request/reply";
    return -RB_ERR_UNSUPPORTED;
}

static int rb_serve(void *conn, const char *topic, const char *group, bench_served_fn *fn, void *ud)
{
    (void)conn, (void)topic, (void)group, (void)fn, (void)ud;
    return rb_unsupported();
}

static int rb_request(void *conn, const char *topic, const void *data, size_t len, int timeout_ms, bench_reply_fn *fn, void *ud)
{
    (void)conn, (void)topic, (void)data, (void)len, (void)timeout_ms, (void)fn, (void)ud;
    return rb_unsupported();
}

static int rb_flush(void *conn, int timeout_ms)
{
    (void)conn, (void)timeout_ms;
    return 0; /* a consumer reads from its group: nothing to wait for */
}

static const char *rb_strerror(int err)
{
    return err == -RB_ERR_NOMEM ? "out of memory" : err == -RB_ERR_URL ? "not a redis://HOST:PORT URL" : last_text;
}

int main(int argc, char **argv)
{
    static const struct bench_backend redis = {
        .prog = "redis-bench",
        .system = "Redis",
        .url_default = "redis://127.0.0.1:6379",
        .connect = rb_connect,
        .close = rb_close,
        .subscribe = rb_subscribe,
        .serve = rb_serve,
        .publish = rb_publish,
        .request = rb_request,
        .flush = rb_flush,
        .strerror = rb_strerror,
        .stream_create = rb_stream_create,
        .stream_delete = rb_stream_delete,
        .publish_acked = rb_publish_acked,
        .subscribe_durable = rb_subscribe_durable,
    };

    return bench_main(&redis, argc, argv);
}
