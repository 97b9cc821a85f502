/* Output chunks come from the loop's bounded cache: a burst larger than the cache allocates chunks,
 * and once drained the loop keeps exactly out_cache_bytes of them (never more) while the
 * connection keeps none; a second burst that fits in the cache allocates nothing. Writes of odd
 * sizes straddle chunk boundaries and leave in vectored sends; the peer gets every byte in order. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/uring/helpers.h"

#define CACHE_BYTES (8 * 16384)
#define BURST1      (600 * 1024) /* well past the cache */
#define BURST2      (90 * 1024)  /* within it */
#define TICK_NS     (1000 * 1000)

struct op {
    struct th_pair p; /* loop, conn, tick, peer, closed_err */
    int phase;
    size_t written;
    uint64_t allocs1, allocs2;
    size_t cached1, cached2, max_cached;
    bool drained_empty1, drained_empty2;
    int write_err;
    size_t peer_got, peer_bad;
};

/* Writes total bytes of the pattern in pieces of varying size (1 B to ~40 KiB). */
static void burst(struct op *s, size_t total)
{
    static unsigned char piece[40000];
    size_t end = s->written + total, n = 1;

    while (s->written < end && s->write_err == 0) {
        size_t len = n < end - s->written ? n : end - s->written;

        for (size_t i = 0; i < len; i++)
            piece[i] = th_pattern(s->written + i);
        s->write_err = uring_conn_write(&s->p.conn, piece, len);
        s->written += len;
        n = (n * 7 + 13) % sizeof(piece);
    }
}

static void tick(struct uring_timer *t, int res)
{
    struct op *s = t->data;
    size_t cached = uring_loop_out_cached(&s->p.loop);

    if (cached > s->max_cached)
        s->max_cached = cached;
    if (res != 0)
        return;
    if (s->phase == 0) {
        burst(s, BURST1);
        s->phase = 1;
    } else if (uring_conn_out_queued(&s->p.conn) == 0 && s->phase == 1) {
        s->allocs1 = s->p.loop.stats.out_chunk_allocs;
        s->cached1 = cached;
        s->drained_empty1 = s->p.conn._head == NULL && s->p.conn._sv == NULL;
        burst(s, BURST2);
        s->phase = 2;
    } else if (uring_conn_out_queued(&s->p.conn) == 0 && s->phase == 2) {
        s->allocs2 = s->p.loop.stats.out_chunk_allocs;
        s->cached2 = cached;
        s->drained_empty2 = s->p.conn._head == NULL && s->p.conn._sv == NULL;
        uring_conn_close(&s->p.conn, URING_CLOSE_FLUSH);
        return;
    }
    uring_timer_start(&s->p.loop, t, TICK_NS, tick);
}

static void *peer(void *arg)
{
    struct op *s = arg;
    unsigned char buf[8192];
    ssize_t n;

    while ((n = read(s->p.peer, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != th_pattern(s->peer_got + (size_t)i))
                s->peer_bad++;
        s->peer_got += (size_t)n;
    }
    close(s->p.peer);
    return NULL;
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 1024, .out_cache_bytes = CACHE_BYTES};
    static struct op s;
    pthread_t th;

    th_pair_start(&s.p, &o, 0, 1u << 20, TICK_NS, tick, &s);
    pthread_create(&th, NULL, peer, &s);
    ok_eq(uring_loop_run(&s.p.loop), 0, "loop ran until stopped");
    pthread_join(th, NULL);
    ok_eq(s.write_err, 0, "every write was accepted");
    ok(s.allocs1 >= BURST1 / 16384, "the first burst allocated chunks (%llu)", (unsigned long long)s.allocs1);
    ok_eq(s.cached1, CACHE_BYTES, "drained, the loop keeps a full cache");
    ok(s.drained_empty1, "a drained connection holds no chunk and no send vector");
    ok_eq(s.allocs2, s.allocs1, "a burst that fits in the cache allocates nothing");
    ok(s.drained_empty2, "drained again, the connection holds nothing");
    ok_eq(s.cached2, CACHE_BYTES, "the chunks went back to the cache");
    ok(s.max_cached <= CACHE_BYTES, "the cache never passed its bound (%zu)", s.max_cached);
    ok_eq(s.peer_got, (size_t)BURST1 + BURST2, "the peer got every byte");
    ok_eq(s.peer_bad, 0, "in order and intact across chunk boundaries");
    ok_eq(s.p.closed_err, 0, "flushing close ended orderly");
    uring_loop_destroy(&s.p.loop);
    ok_eq(uring_loop_out_cached(&s.p.loop), 0, "destroy empties the cache");
    return done_testing();
}
