/* Over a Unix socketpair with a small send buffer, where the kernel takes part of a send (TCP on
 * loopback takes a whole 64 KiB send into one skb). A peer that does not read: writes queue up to
 * the connection's byte bound, the write that would pass it is refused whole with -ENOBUFS
 * ("full"; a two-piece uring_conn_write2 too), short sends resume where they stopped, and the peer
 * later receives exactly the accepted bytes, in order, before the flushing close. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/uring/helpers.h"

#define OUT_MAX (64 * 1024)
#define CHUNK   1000
#define TICK_NS (200 * 1000)

struct sf {
    struct th_pair p; /* loop, conn, tick, peer, closed_err */
    size_t accepted_bytes;
    size_t queued_at_full;
    int full_ret;
    atomic_int full;
    size_t client_got;
    size_t client_bad;
};

/* Writes until the bound says full, a few chunks per tick so sends overlap with writes. */
static void tick(struct uring_timer *t, int res)
{
    struct sf *s = t->data;
    unsigned char chunk[CHUNK];

    for (int n = 0; n < 16; n++) {
        int ret;

        for (size_t i = 0; i < CHUNK; i++)
            chunk[i] = th_pattern(s->accepted_bytes + i);
        /* Every other write in two pieces (uring_conn_write2), split where the stream has it, so
         * that the split meets the output's chunk boundaries at every offset. */
        if (n % 2 == 0) {
            size_t cut = s->accepted_bytes % (CHUNK + 1);

            ret = uring_conn_write2(&s->p.conn, chunk, cut, chunk + cut, CHUNK - cut);
        } else {
            ret = uring_conn_write(&s->p.conn, chunk, CHUNK);
        }
        if (ret != 0) {
            s->full_ret = ret;
            s->queued_at_full = uring_conn_out_queued(&s->p.conn);
            atomic_store(&s->full, 1);
            uring_conn_close(&s->p.conn, URING_CLOSE_FLUSH);
            return;
        }
        s->accepted_bytes += CHUNK;
    }
    uring_timer_start(&s->p.loop, t, TICK_NS, tick);
}

static void *client(void *arg)
{
    struct sf *s = arg;
    unsigned char buf[4096];
    int fd = s->p.peer;
    ssize_t n;

    while (!atomic_load(&s->full))
        usleep(1000);
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != th_pattern(s->client_got + (size_t)i))
                s->client_bad++;
        s->client_got += (size_t)n;
    }
    close(fd);
    return NULL;
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 1024};
    static struct sf s;
    pthread_t th;

    th_pair_start(&s.p, &o, 4096, OUT_MAX, TICK_NS, tick, &s);
    pthread_create(&th, NULL, client, &s);
    ok_eq(uring_loop_run(&s.p.loop), 0, "loop ran until stopped");
    pthread_join(th, NULL);
    ok_eq(s.full_ret, -ENOBUFS, "the write past the bound reports full");
    ok(s.queued_at_full <= OUT_MAX, "queued bytes never pass the bound (%zu)", s.queued_at_full);
    ok(s.queued_at_full + CHUNK > OUT_MAX, "full only when the write would pass the bound");
    ok(s.p.loop.stats.short_sends > 0, "short sends happened and were resumed (%llu)",
       (unsigned long long)s.p.loop.stats.short_sends);
    ok_eq(s.client_got, s.accepted_bytes, "the peer got exactly the accepted bytes");
    ok_eq(s.client_bad, 0, "in order and intact");
    ok_eq(s.p.closed_err, 0, "flushing close ended orderly");
    uring_loop_destroy(&s.p.loop);
    return done_testing();
}
