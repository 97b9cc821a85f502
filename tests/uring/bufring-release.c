/* uring_loop_bufs_release() gives the buffer pages back and receiving goes on. A stream of many
 * times the ring's bytes touches every buffer (mincore: all resident); with one buffer held the
 * release is refused (-EBUSY); once it is back the release leaves no buffer page resident while the
 * connection's recv stays armed; a second stream then arrives intact; and a third is received while
 * a timer releases every 200 us, swaps racing with arriving data. Every byte is checked against the
 * pattern, in order. Runs with multishot and single-shot recv, and without DEFER_TASKRUN (where
 * task work runs on any return to user space, so recvs also complete inside the swap). */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "tests/uring/helpers.h"

#define NBUFS      64
#define BUF_SIZE   4096
#define RING_BYTES ((size_t)NBUFS * BUF_SIZE)
#define TOTAL_A    (4 * RING_BYTES)
#define TOTAL_B    (4 * RING_BYTES)
#define TOTAL_C    (8u << 20)
#define STRESS_NS  (200 * 1000)

struct rel {
    struct uring_loop loop;
    struct uring_conn conn;
    struct uring_timer tick;
    int peer; /* the sender's end */
    int ctl[2];
    size_t got, bad, phase_end;
    unsigned held; /* a buffer kept at the end of stream A; NBUFS: none */
    unsigned phase;
    size_t resident_a, resident_released, resident_b;
    int busy_ret, release_ret;
    unsigned stress_ok, stress_busy, stress_err;
    int closed_err;
};

static size_t resident_pages(const struct uring_loop *loop)
{
    size_t n = loop->_bufs_len / 4096, count = 0;
    unsigned char vec[RING_BYTES / 4096];

    if (n > sizeof(vec) || mincore(loop->_bufs, loop->_bufs_len, vec) != 0)
        BAIL_OUT("mincore: %s", strerror(errno));
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    return count;
}

/* Tells the sender how many bytes to send next (0: close). */
static void go(struct rel *r, size_t bytes)
{
    if (write(r->ctl[1], &bytes, sizeof(bytes)) != (ssize_t)sizeof(bytes))
        BAIL_OUT("ctl write");
}

static void stress(struct uring_timer *t, int res)
{
    struct rel *r = t->data;
    int ret;

    if (res == -ECANCELED || r->phase != 2)
        return;
    ret = uring_loop_bufs_release(&r->loop);
    if (ret == 0)
        r->stress_ok++;
    else if (ret == -EBUSY)
        r->stress_busy++;
    else
        r->stress_err++;
    if (uring_timer_start(&r->loop, &r->tick, STRESS_NS, stress) != 0)
        BAIL_OUT("timer start");
}

/* End of stream A, once the CQ is quiet: the refused and the real release. */
static void after_a(struct uring_timer *t, int res)
{
    struct rel *r = t->data;

    (void)res;
    r->resident_a = resident_pages(&r->loop);
    r->busy_ret = uring_loop_bufs_release(&r->loop);
    uring_buf_put(&r->loop, r->held);
    r->held = NBUFS;
    r->release_ret = uring_loop_bufs_release(&r->loop);
    r->resident_released = resident_pages(&r->loop);
    r->phase = 1;
    r->phase_end += TOTAL_B;
    go(r, TOTAL_B);
}

static void rel_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    struct rel *r = c->data;
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++)
        if (p[i] != th_pattern(r->got + i))
            r->bad++;
    r->got += len;
    if (r->got != r->phase_end) {
        uring_buf_put(c->loop, bid);
        return;
    }
    if (r->phase == 0) {
        r->held = bid;
        if (uring_timer_start(c->loop, &r->tick, 1000000, after_a) != 0)
            BAIL_OUT("timer start");
        return;
    }
    uring_buf_put(c->loop, bid);
    if (r->phase == 1) {
        r->resident_b = resident_pages(&r->loop);
        r->phase = 2;
        r->phase_end += TOTAL_C;
        go(r, TOTAL_C);
        if (uring_timer_start(c->loop, &r->tick, STRESS_NS, stress) != 0)
            BAIL_OUT("timer start");
    } else {
        r->phase = 3;
        go(r, 0);
    }
}

static void rel_close(struct uring_conn *c, int err)
{
    struct rel *r = c->data;

    r->closed_err = err;
    if (uring_timer_is_armed(&r->tick))
        uring_timer_cancel(&r->tick);
    uring_loop_stop(c->loop);
}

static const struct uring_conn_cbs rel_cbs = {.on_recv = rel_recv, .on_close = rel_close};

static void *sender(void *arg)
{
    struct rel *r = arg;
    size_t off = 0, bytes;
    unsigned char *buf = malloc(TOTAL_C);

    if (buf == NULL)
        BAIL_OUT("malloc");
    while (th_read_all(r->ctl[0], &bytes, sizeof(bytes)) == 0 && bytes > 0) {
        for (size_t i = 0; i < bytes; i++)
            buf[i] = th_pattern(off + i);
        /* In pieces of varying size, so that recvs and releases interleave. */
        for (size_t done = 0, piece = 1000; done < bytes; done += piece, piece = piece * 7 % 30011 + 1)
            if (th_write_all(r->peer, buf + done, piece < bytes - done ? piece : bytes - done) != 0)
                BAIL_OUT("sender write");
        off += bytes;
    }
    close(r->peer);
    free(buf);
    return NULL;
}

static void run(unsigned flags, const char *mode)
{
    struct uring_loop_opts o = {.buf_count = NBUFS, .buf_size = BUF_SIZE, .flags = flags};
    static struct rel r;
    pthread_t th;
    int sv[2];

    memset(&r, 0, sizeof(r));
    r.held = NBUFS;
    if (uring_loop_init(&r.loop, &o) != 0)
        BAIL_OUT("loop init");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || pipe(r.ctl) != 0)
        BAIL_OUT("socketpair or pipe");
    r.peer = sv[1];
    r.conn.data = &r;
    r.tick.data = &r;
    if (uring_conn_start(&r.conn, &r.loop, sv[0], &rel_cbs, 0) != 0)
        BAIL_OUT("uring_conn_start");
    pthread_create(&th, NULL, sender, &r);
    r.phase_end = TOTAL_A;
    go(&r, TOTAL_A);
    ok_eq(uring_loop_run(&r.loop), 0, "%s: loop ran until stopped", mode);
    pthread_join(th, NULL);
    ok_eq(r.resident_a, RING_BYTES / 4096, "%s: a stream of 4 rings' bytes left every buffer page resident", mode);
    ok_eq(r.busy_ret, -EBUSY, "%s: release refused while a buffer is held", mode);
    ok_eq(r.release_ret, 0, "%s: release once every buffer is back", mode);
    ok_eq(r.resident_released, 0, "%s: no buffer page resident after the release", mode);
    ok(r.resident_b > 0, "%s: the buffers were used again (%zu pages resident)", mode, r.resident_b);
    ok_eq(r.phase, 3, "%s: every stream ended", mode);
    ok_eq(r.got, TOTAL_A + TOTAL_B + TOTAL_C, "%s: every byte arrived", mode);
    ok_eq(r.bad, 0, "%s: every byte intact and in order", mode);
    ok(r.stress_ok > 0, "%s: releases while receiving: %u done, %u refused", mode, r.stress_ok, r.stress_busy);
    ok_eq(r.stress_err, 0, "%s: no release failed", mode);
    diag("%s: ENOBUFS %llu, recv re-arms %llu", mode, (unsigned long long)r.loop.stats.enobufs,
         (unsigned long long)r.loop.stats.recv_rearms);
    ok_eq(r.closed_err, 0, "%s: orderly close at EOF", mode);
    ok_eq(uring_loop_bufs_out(&r.loop), 0, "%s: every buffer back", mode);
    uring_loop_destroy(&r.loop);
    close(r.ctl[0]);
    close(r.ctl[1]);
}

int main(void)
{
    struct uring_features f = th_require_t0();

    if (f.multishot_recv) {
        run(0, "multishot");
        run(URING_LOOP_NO_DEFER, "multishot, no DEFER_TASKRUN");
    }
    run(URING_LOOP_SINGLESHOT_RECV, "single-shot");
    return done_testing();
}
