/* Destroying a loop with work in flight (multishot accept, armed recvs, a send blocked on a full
 * peer, timers, held buffers): every op completes with its callback, every connection and the
 * listener report their close, held buffers come back, and no descriptor or memory is left (the
 * sanitizer build checks the memory). */
#include <stdlib.h>

#include "tests/uring/helpers.h"

#define NCONN   8
#define NTIMERS 4
#define OUT_MAX (256 * 1024)

struct held_conn {
    struct uring_conn c;
    int held_bid;
};

static int accepted, closed, cancelled_closes, lst_closed, timer_cancels, timer_fires;
static struct uring_timer timers[NTIMERS];

static void h_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    struct held_conn *h = (struct held_conn *)c;

    if (h->held_bid >= 0)
        uring_buf_put(c->loop, (unsigned)h->held_bid);
    h->held_bid = (int)bid; /* held until close, as a parser waiting for the rest of a frame would */
}

static void h_close(struct uring_conn *c, int err)
{
    struct held_conn *h = (struct held_conn *)c;

    closed++;
    if (err == -ECANCELED)
        cancelled_closes++;
    if (h->held_bid >= 0)
        uring_buf_put(c->loop, (unsigned)h->held_bid);
    free(h);
}

static const struct uring_conn_cbs h_cbs = {.on_recv = h_recv, .on_close = h_close};

static struct held_conn *start_conn(struct uring_loop *loop, int fd)
{
    struct held_conn *h = calloc(1, sizeof(*h));

    if (h == NULL)
        BAIL_OUT("calloc");
    h->held_bid = -1;
    if (uring_conn_start(&h->c, loop, fd, &h_cbs, OUT_MAX) != 0)
        BAIL_OUT("conn start");
    return h;
}

static void on_accept(struct uring_listener *l, int fd)
{
    accepted++;
    start_conn(l->loop, fd);
}

static void on_lst_close(struct uring_listener *l)
{
    lst_closed++;
}

static const struct uring_listener_cbs lst_cbs = {.on_accept = on_accept, .on_close = on_lst_close};

static void on_timer(struct uring_timer *t, int res)
{
    if (res == -ECANCELED)
        timer_cancels++;
    else
        timer_fires++;
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 16, .buf_size = 512};
    static unsigned char big[OUT_MAX];
    struct uring_listener lst = {0};
    struct uring_loop loop;
    struct held_conn *blocked;
    int base, clients[NCONN], sv[2], small = 4096;
    unsigned inflight;

    th_require_t0();
    base = th_count_fds();
    if (uring_loop_init(&loop, &o) != 0)
        BAIL_OUT("loop init");
    if (uring_listener_start(&lst, &loop, uring_listen_tcp("127.0.0.1", 0, 16), &lst_cbs) != 0)
        BAIL_OUT("listener");
    for (int i = 0; i < NCONN; i++) {
        clients[i] = th_connect(th_port_of(lst.fd));
        if (clients[i] < 0 || write(clients[i], "hello", 5) != 5)
            BAIL_OUT("client");
    }
    /* A send that cannot finish: a socketpair with a small buffer whose peer never reads. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        BAIL_OUT("socketpair");
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    blocked = start_conn(&loop, sv[0]);
    ok_eq(uring_conn_write(&blocked->c, big, sizeof(big)), 0, "a large write queued");
    for (int i = 0; i < NTIMERS; i++)
        uring_timer_start(&loop, &timers[i], 10ULL * 1000 * 1000 * 1000, on_timer);
    while (accepted < NCONN || uring_loop_bufs_out(&loop) < NCONN)
        if (uring_loop_run_once(&loop, true) < 0)
            BAIL_OUT("run_once");
    for (int i = 0; i < 4; i++)
        uring_loop_run_once(&loop, false);

    inflight = uring_loop_inflight(&loop);
    ok(inflight >= 1 + NCONN + 1 + NTIMERS, "accept, recvs, timers and sends in flight (%u)", inflight);
    ok(uring_conn_out_queued(&blocked->c) > 0, "the blocked send still has bytes queued");
    uring_loop_destroy(&loop);

    ok_eq(closed, NCONN + 1, "every connection reported its close");
    ok_eq(cancelled_closes, NCONN + 1, "with -ECANCELED");
    ok_eq(lst_closed, 1, "the listener reported its close");
    ok_eq(timer_cancels, NTIMERS, "every timer reported -ECANCELED");
    ok_eq(timer_fires, 0, "no timer fired");
    for (int i = 0; i < NCONN; i++)
        close(clients[i]);
    close(sv[1]);
    ok_eq(th_count_fds(), base, "no descriptor left");
    return done_testing();
}
