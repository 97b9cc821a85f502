/* The output chunk cache shrinks only when idle: after a 2 MiB burst has drained, the loop keeps all
 * its chunks while output keeps coming (a small write every tick), and once no connection has held
 * output for a second it goes down to 1 MiB. */
#include <pthread.h>
#include <stdlib.h>

#include "tests/uring/helpers.h"

#define BURST     (2u << 20)
#define IDLE_KEEP (1u << 20)
#define TICK_NS   (20 * 1000 * 1000)

struct oi {
    struct th_pair p; /* loop, conn, tick, peer, closed_err */
    int phase;
    int ticks;
    size_t cached_drained, cached_busy_min, cached_idle;
    int write_err;
    size_t peer_got;
};

/* Phase 0: the burst. 1: wait until it drained. 2: one byte a tick for 60 ticks (1.2 s), so output
 * never stays away for a second. 3: nothing for 60 ticks, then close. */
static void tick(struct uring_timer *t, int res)
{
    static unsigned char burst[64 * 1024];
    struct oi *s = t->data;
    size_t cached = uring_loop_out_cached(&s->p.loop);

    if (res != 0)
        return;
    if (s->phase == 0) {
        for (size_t n = 0; n < BURST && s->write_err == 0; n += sizeof(burst))
            s->write_err = uring_conn_write(&s->p.conn, burst, sizeof(burst));
        s->phase = 1;
    } else if (s->phase == 1 && uring_conn_out_queued(&s->p.conn) == 0) {
        s->cached_drained = cached;
        s->cached_busy_min = cached;
        s->phase = 2;
    } else if (s->phase == 2) {
        if (cached < s->cached_busy_min)
            s->cached_busy_min = cached;
        if (++s->ticks == 60)
            s->phase = 3;
        if (s->write_err == 0)
            s->write_err = uring_conn_write(&s->p.conn, "x", 1);
    } else if (s->phase == 3 && ++s->ticks == 120) {
        s->cached_idle = cached;
        uring_conn_close(&s->p.conn, URING_CLOSE_FLUSH);
        return;
    }
    uring_timer_start(&s->p.loop, t, TICK_NS, tick);
}

static void *peer(void *arg)
{
    struct oi *s = arg;
    unsigned char buf[65536];
    ssize_t n;

    while ((n = read(s->p.peer, buf, sizeof(buf))) > 0)
        s->peer_got += (size_t)n;
    close(s->p.peer);
    return NULL;
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 1024}; /* default cache: 16 MiB */
    static struct oi s;
    pthread_t th;

    th_pair_start(&s.p, &o, 0, 4u << 20, TICK_NS, tick, &s);
    pthread_create(&th, NULL, peer, &s);
    ok_eq(uring_loop_run(&s.p.loop), 0, "loop ran until stopped");
    pthread_join(th, NULL);
    ok_eq(s.write_err, 0, "every write was accepted");
    ok_eq(s.peer_got, (size_t)BURST + 60, "the peer got every byte");
    ok(s.cached_drained >= BURST, "drained, the loop keeps the burst's chunks (%zu)", s.cached_drained);
    ok_eq(s.cached_busy_min, s.cached_drained, "while output keeps coming the cache stays warm");
    ok_eq(s.cached_idle, IDLE_KEEP, "after a second without output the cache is down to 1 MiB");
    uring_loop_destroy(&s.p.loop);
    return done_testing();
}
