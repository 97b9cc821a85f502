/* A tiny buffer ring drained again and again by a consumer that holds every buffer: recv stops
 * with ENOBUFS, is re-armed once buffers come back, and every byte arrives intact and in order.
 * Runs with multishot and with single-shot recv. */
#include <pthread.h>
#include <stdlib.h>

#include "tests/uring/helpers.h"

#define NBUFS      8
#define BUF_SIZE   256
#define TOTAL      (1024 * 1024)
#define RELEASE_NS (100 * 1000)

struct ex {
    struct uring_loop loop;
    struct uring_listener lst;
    struct uring_conn conn;
    struct uring_timer release;
    unsigned held[NBUFS];
    unsigned nheld;
    size_t got;
    size_t bad;
    int closed_err;
};

static void release_all(struct uring_timer *t, int res)
{
    struct ex *e = t->data;

    for (unsigned i = 0; i < e->nheld; i++)
        uring_buf_put(&e->loop, e->held[i]);
    e->nheld = 0;
}

static void ex_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    struct ex *e = c->data;
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++)
        if (p[i] != th_pattern(e->got + i))
            e->bad++;
    e->got += len;
    if (e->nheld >= NBUFS)
        BAIL_OUT("more buffers held than the ring has");
    e->held[e->nheld++] = bid;
    /* Hold every buffer until the timer: the ring runs dry while the socket still has data. */
    if (!uring_timer_is_armed(&e->release) && uring_timer_start(&e->loop, &e->release, RELEASE_NS, release_all) != 0)
        BAIL_OUT("timer start");
}

static void ex_close(struct uring_conn *c, int err)
{
    struct ex *e = c->data;

    e->closed_err = err;
    if (uring_timer_is_armed(&e->release))
        uring_timer_cancel(&e->release);
    uring_listener_close(&e->lst);
}

static const struct uring_conn_cbs ex_cbs = {.on_recv = ex_recv, .on_close = ex_close};

static void on_accept(struct uring_listener *l, int fd)
{
    struct ex *e = l->data;

    e->conn.data = e;
    if (uring_conn_start(&e->conn, l->loop, fd, &ex_cbs, 0) != 0)
        BAIL_OUT("uring_conn_start");
}

static void on_lst_close(struct uring_listener *l)
{
    struct ex *e = l->data;

    uring_loop_stop(&e->loop);
}

static const struct uring_listener_cbs lst_cbs = {.on_accept = on_accept, .on_close = on_lst_close};

static void run(unsigned flags, const char *mode)
{
    struct uring_loop_opts o = {.buf_count = NBUFS, .buf_size = BUF_SIZE, .flags = flags};
    static struct ex e;
    struct th_pattern_stream ps = {.total = TOTAL};
    pthread_t th;

    memset(&e, 0, sizeof(e));
    if (uring_loop_init(&e.loop, &o) != 0)
        BAIL_OUT("loop init");
    e.release.data = &e;
    e.lst.data = &e;
    if (uring_listener_start(&e.lst, &e.loop, uring_listen_tcp("127.0.0.1", 0, 4), &lst_cbs) != 0)
        BAIL_OUT("listener");
    ps.port = th_port_of(e.lst.fd);
    pthread_create(&th, NULL, th_pattern_sender, &ps);
    ok_eq(uring_loop_run(&e.loop), 0, "%s: loop ran until stopped", mode);
    pthread_join(th, NULL);
    ok_eq(e.got, TOTAL, "%s: every byte arrived", mode);
    ok_eq(e.bad, 0, "%s: every byte intact and in order", mode);
    ok(e.loop.stats.enobufs > 0, "%s: the ring ran dry (%llu ENOBUFS)", mode, (unsigned long long)e.loop.stats.enobufs);
    ok_eq(e.closed_err, 0, "%s: orderly close at EOF", mode);
    ok_eq(uring_loop_bufs_out(&e.loop), 0, "%s: every buffer back", mode);
    uring_loop_destroy(&e.loop);
}

int main(void)
{
    struct uring_features f = th_require_t0();

    if (f.multishot_recv)
        run(0, "multishot");
    run(URING_LOOP_SINGLESHOT_RECV, "single-shot");
    return done_testing();
}
