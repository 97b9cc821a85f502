/*
 * The client's message block cache (driver/msg.c, included): a freed message's block is handed out
 * again for the next message of its size class, with its contents rebuilt; the free blocks a
 * client keeps stay under CACHE_BYTES, the rest are freed; a message above the largest class is a
 * plain allocation; messages freed on other threads while the I/O side allocates go back to the
 * cache; and messages still held at close are freed (not cached) later, the last of them taking
 * the cache with it (ASan and TSan check that nothing leaks, nothing is used after free and the
 * cross-thread frees do not race).
 */
#include "driver/msg.c"

#include "tests/tap.h"
#include "tests/wire/frames.h"

#define MID     (64u << 10)
#define BIG     ((size_t)1536 << 10)
#define THREADS 4
#define PER     500

static uint8_t *payload;
static struct wire_limits lim;

/* A MSG frame with len payload bytes of fill, built into buf and decoded into *f. */
static void frame(uint8_t *buf, size_t len, uint8_t fill, struct wire_frame *f)
{
    struct fr_spec s = {.type = WIRE_MSG, .id = 7, .topic = "a.b", .topic_len = 3, .payload = payload, .payload_len = len};
    size_t n;

    memset(payload, fill, len);
    n = fr_build(buf, &s);
    if (wire_decode(buf, n, &lim, f) != (ssize_t)n)
        abort();
}

static bool msg_is(const trpc_msg *m, size_t len, uint8_t fill)
{
    const uint8_t *p = trpc_msg_data(m);
    size_t i;

    if (trpc_msg_len(m) != len || strcmp(trpc_msg_topic(m), "a.b") != 0)
        return false;
    for (i = 0; i < len; i++)
        if (p[i] != fill)
            return false;
    return true;
}

/* Bytes really cached: the shared count still holds what the I/O side took and has not settled. */
static size_t cached(const trpc_client *c)
{
    return atomic_load(&c->msg_cache->bytes) - c->msg_cache->owed_bytes;
}

/* The cache's references other than those the I/O side took ahead for blocks not out yet. */
static unsigned refs_held(const trpc_client *c)
{
    return atomic_load(&c->msg_cache->refs) - c->msg_cache->ref_credit;
}

static void recycle(trpc_client *c, uint8_t *buf)
{
    struct wire_frame f;
    trpc_msg *m, *again;
    void *block;

    frame(buf, MID, 1, &f);
    m = trpc__msg_from_frame(c, &f);
    ok(m != NULL && m->cache == c->msg_cache, "recycle: a 64 KiB message comes from the cache");
    block = m;
    trpc_msg_free(m);
    ok_eq(cached(c), class_size(class_of(sizeof(*m) + 4 + MID + 1)), "recycle: its block is cached");
    frame(buf, MID - 100, 2, &f);
    again = trpc__msg_from_frame(c, &f);
    ok(again == block, "recycle: the next message of the class gets the same block");
    ok_eq(c->msg_cache->recycled, 1, "recycle: counted");
    ok_eq(cached(c), 0, "recycle: nothing cached while it is out");
    ok(msg_is(again, MID - 100, 2), "recycle: contents rebuilt");
    frame(buf, 10, 3, &f);
    m = trpc__msg_from_frame(c, &f);
    ok(m != NULL && (void *)m != block && msg_is(m, 10, 3), "recycle: a small message gets its own class");
    trpc_msg_free(m);
    trpc_msg_free(again);
}

static void cap(trpc_client *c, uint8_t *buf)
{
    enum { N = 100 };
    trpc_msg *m[N];
    struct wire_frame f;
    size_t size, i;

    frame(buf, MID, 4, &f);
    for (i = 0; i < N; i++)
        m[i] = trpc__msg_from_frame(c, &f);
    size = class_size(m[0]->cache_class);
    ok(N * size > CACHE_BYTES, "cap: more blocks out than the cache may keep");
    for (i = 0; i < N; i++)
        trpc_msg_free(m[i]);
    ok(cached(c) <= CACHE_BYTES, "cap: cached bytes %zu within %zu", cached(c), CACHE_BYTES);
    ok(c->msg_cache->bytes + size > CACHE_BYTES, "cap: the cache filled up to the cap (unsettled bytes counted)");
    ok(c->msg_cache->owed_bytes < SETTLE_BYTES && c->msg_cache->owed_blocks < SETTLE_BLOCKS,
       "cap: at most %zu bytes unsettled (%zu)", SETTLE_BYTES, c->msg_cache->owed_bytes);
    ok_eq(refs_held(c), 1, "cap: every block's reference dropped");
}

static void big(trpc_client *c, uint8_t *buf)
{
    struct wire_frame f;
    trpc_msg *m;

    frame(buf, BIG, 5, &f);
    m = trpc__msg_from_frame(c, &f);
    ok(m != NULL && m->cache == NULL, "big: a message above 1 MiB is a plain allocation");
    ok(msg_is(m, BIG, 5), "big: contents intact");
    trpc_msg_free(m);
}

struct batch {
    trpc_msg *m[PER];
};

static void *free_batch(void *arg)
{
    struct batch *b = arg;
    size_t i;

    for (i = 0; i < PER; i++)
        trpc_msg_free(b->m[i]);
    return NULL;
}

/* Threads free while the I/O side (this thread) allocates; then some outlive the close. */
static void threads_and_close(trpc_client *c, uint8_t *buf)
{
    static struct batch b[THREADS], held;
    struct trpc__msg_cache *mc;
    pthread_t tid[THREADS];
    struct wire_frame f;
    size_t t, i, ok_count = 0;

    frame(buf, 200, 6, &f);
    for (t = 0; t < THREADS; t++)
        for (i = 0; i < PER; i++)
            b[t].m[i] = trpc__msg_from_frame(c, &f);
    for (t = 0; t < THREADS; t++)
        pthread_create(&tid[t], NULL, free_batch, &b[t]);
    for (i = 0; i < PER; i++) {
        held.m[i] = trpc__msg_from_frame(c, &f);
        ok_count += held.m[i] != NULL && msg_is(held.m[i], 200, 6);
    }
    for (t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    ok_eq(ok_count, PER, "threads: messages built while others are freed are intact");
    mc = c->msg_cache;
    ok_eq(refs_held(c), 1 + PER, "threads: one reference per message out, one for the client");
    ok(mc->ref_credit < SETTLE_BLOCKS, "threads: fewer than %u references taken ahead", SETTLE_BLOCKS);
    trpc__msg_cache_close(c);
    ok(c->msg_cache == NULL, "close: the client lets go of its cache");
    ok_eq(atomic_load(&mc->refs), PER, "close: messages out keep the cache");
    pthread_create(&tid[0], NULL, free_batch, &held);
    pthread_join(tid[0], NULL); /* the last free destroys the cache: ASan/LSan check it */
}

int main(void)
{
    size_t cap_bytes = BIG + 4096;
    trpc_client *c = calloc(1, sizeof(*c));
    uint8_t *buf = malloc(cap_bytes);

    payload = malloc(BIG);
    if (c == NULL || buf == NULL || payload == NULL)
        skip_all("out of memory");
    wire_limits_default(&lim);
    lim.max_frame = 2u << 20;
    recycle(c, buf);
    cap(c, buf);
    big(c, buf);
    threads_and_close(c, buf);
    free(payload);
    free(buf);
    free(c);
    return done_testing();
}
