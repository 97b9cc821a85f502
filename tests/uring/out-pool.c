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
    struct uring_loop loop;
    struct uring_conn conn;
    struct uring_timer tick;
    int phase;
    size_t written;
    uint64_t allocs1, allocs2;
    size_t cached1, cached2, max_cached;
    bool drained_empty1, drained_empty2;
    int write_err;
    int closed_err;
    int peer;
    size_t peer_got, peer_bad;
};

static void op_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    uring_buf_put(c->loop, bid);
}

static void op_close(struct uring_conn *c, int err)
{
    struct op *s = c->data;

    s->closed_err = err;
    uring_loop_stop(c->loop);
}

static const struct uring_conn_cbs op_cbs = {.on_recv = op_recv, .on_close = op_close};

/* Writes total bytes of the pattern in pieces of varying size (1 B to ~40 KiB). */
static void burst(struct op *s, size_t total)
{
    static unsigned char piece[40000];
    size_t end = s->written + total, n = 1;

    while (s->written < end && s->write_err == 0) {
        size_t len = n < end - s->written ? n : end - s->written;

        for (size_t i = 0; i < len; i++)
            piece[i] = th_pattern(s->written + i);
        s->write_err = uring_conn_write(&s->conn, piece, len);
        s->written += len;
        n = (n * 7 + 13) % sizeof(piece);
    }
}

static void tick(struct uring_timer *t, int res)
{
    struct op *s = t->data;
    size_t cached = uring_loop_out_cached(&s->loop);

    if (cached > s->max_cached)
        s->max_cached = cached;
    if (res != 0)
        return;
    if (s->phase == 0) {
        burst(s, BURST1);
        s->phase = 1;
    } else if (uring_conn_out_queued(&s->conn) == 0 && s->phase == 1) {
        s->allocs1 = s->loop.stats.out_chunk_allocs;
        s->cached1 = cached;
        s->drained_empty1 = s->conn._head == NULL && s->conn._sv == NULL;
        burst(s, BURST2);
        s->phase = 2;
    } else if (uring_conn_out_queued(&s->conn) == 0 && s->phase == 2) {
        s->allocs2 = s->loop.stats.out_chunk_allocs;
        s->cached2 = cached;
        s->drained_empty2 = s->conn._head == NULL && s->conn._sv == NULL;
        uring_conn_close(&s->conn, URING_CLOSE_FLUSH);
        return;
    }
    uring_timer_start(&s->loop, t, TICK_NS, tick);
}

static void *peer(void *arg)
{
    struct op *s = arg;
    unsigned char buf[8192];
    ssize_t n;

    while ((n = read(s->peer, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != th_pattern(s->peer_got + (size_t)i))
                s->peer_bad++;
        s->peer_got += (size_t)n;
    }
    close(s->peer);
    return NULL;
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 1024, .out_cache_bytes = CACHE_BYTES};
    static struct op s;
    int sv[2];
    pthread_t th;

    th_require_t0();
    if (uring_loop_init(&s.loop, &o) != 0)
        BAIL_OUT("loop init");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        BAIL_OUT("socketpair");
    s.peer = sv[1];
    s.tick.data = &s;
    s.conn.data = &s;
    if (uring_conn_start(&s.conn, &s.loop, sv[0], &op_cbs, 1u << 20) != 0 ||
        uring_timer_start(&s.loop, &s.tick, TICK_NS, tick) != 0)
        BAIL_OUT("conn or timer start");
    pthread_create(&th, NULL, peer, &s);
    ok_eq(uring_loop_run(&s.loop), 0, "loop ran until stopped");
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
    ok_eq(s.closed_err, 0, "flushing close ended orderly");
    uring_loop_destroy(&s.loop);
    ok_eq(uring_loop_out_cached(&s.loop), 0, "destroy empties the cache");
    return done_testing();
}
