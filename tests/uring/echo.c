/* Echo over the loop, in both recv modes (multishot and the T0 single-shot path) and on the
 * fallback ring setup: every byte comes back in order, the server sees EOF and flushes before
 * closing, no buffer is left out. */
#include <pthread.h>

#include "tests/uring/helpers.h"

#define CHUNK  4096
#define CHUNKS 256

struct echo {
    struct uring_loop loop;
    struct uring_listener lst;
    struct uring_conn conn;
    int closed_err;
    int conns;
    int nodelay;
    unsigned port;
    int client_ok;
};

static void echo_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    if (uring_conn_write(c, data, len) != 0)
        uring_conn_close(c, URING_CLOSE_NOW);
    uring_buf_put(c->loop, bid);
}

static void echo_close(struct uring_conn *c, int err)
{
    struct echo *e = c->data;

    e->closed_err = err;
    uring_listener_close(&e->lst);
}

static const struct uring_conn_cbs echo_cbs = {.on_recv = echo_recv, .on_close = echo_close};

static void on_accept(struct uring_listener *l, int fd)
{
    struct echo *e = l->data;
    socklen_t len = sizeof(e->nodelay);

    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &e->nodelay, &len);
    if (e->conns++ > 0) {
        close(fd);
        return;
    }
    e->conn.data = e;
    if (uring_conn_start(&e->conn, l->loop, fd, &echo_cbs, 64 * 1024) != 0)
        BAIL_OUT("uring_conn_start");
}

static void on_lst_close(struct uring_listener *l)
{
    struct echo *e = l->data;

    uring_loop_stop(&e->loop);
}

static const struct uring_listener_cbs lst_cbs = {.on_accept = on_accept, .on_close = on_lst_close};

static void *client(void *arg)
{
    struct echo *e = arg;
    static unsigned char out[CHUNK], in[CHUNK];
    int fd = th_connect(e->port), good = 1;
    size_t off = 0;

    if (fd < 0)
        return NULL;
    for (int i = 0; i < CHUNKS && good; i++) {
        for (size_t j = 0; j < CHUNK; j++)
            out[j] = th_pattern(off + j);
        if (th_write_all(fd, out, CHUNK) != 0)
            good = 0;
        for (size_t got = 0; got < CHUNK && good;) {
            ssize_t n = read(fd, in + got, CHUNK - got);

            if (n <= 0)
                good = 0;
            else
                got += (size_t)n;
        }
        if (good && memcmp(in, out, CHUNK) != 0)
            good = 0;
        off += CHUNK;
    }
    shutdown(fd, SHUT_WR);
    if (good && read(fd, in, 1) != 0) /* the server closes after our EOF */
        good = 0;
    close(fd);
    e->client_ok = good;
    return NULL;
}

static void run(unsigned flags, const char *mode)
{
    struct uring_loop_opts o = {.buf_count = 16, .buf_size = 2048, .flags = flags};
    static struct echo e;
    pthread_t th;
    int fd;

    memset(&e, 0, sizeof(e));
    if (uring_loop_init(&e.loop, &o) != 0)
        BAIL_OUT("loop init");
    fd = uring_listen_tcp("127.0.0.1", 0, 16);
    ok(fd >= 0, "%s: listen", mode);
    e.port = th_port_of(fd);
    e.lst.data = &e;
    ok_eq(uring_listener_start(&e.lst, &e.loop, fd, &lst_cbs), 0, "%s: listener start", mode);
    pthread_create(&th, NULL, client, &e);
    ok_eq(uring_loop_run(&e.loop), 0, "%s: loop ran until stopped", mode);
    pthread_join(th, NULL);
    ok(e.client_ok, "%s: every byte echoed in order, then EOF", mode);
    ok_eq(e.closed_err, 0, "%s: orderly close", mode);
    ok(e.nodelay, "%s: accepted socket has TCP_NODELAY from the listener", mode);
    ok_eq(uring_loop_bufs_out(&e.loop), 0, "%s: every buffer back", mode);
    ok_eq(uring_loop_inflight(&e.loop), 0, "%s: nothing in flight", mode);
    if (flags & URING_LOOP_SINGLESHOT_RECV)
        ok(e.loop.stats.recv_rearms >= CHUNKS, "%s: recv re-armed after each CQE", mode);
    else
        ok(e.loop.multishot_recv, "%s: multishot recv in use", mode);
    uring_loop_destroy(&e.loop);
}

int main(void)
{
    struct uring_features f = th_require_t0();

    if (f.multishot_recv)
        run(0, "multishot");
    run(URING_LOOP_SINGLESHOT_RECV, "single-shot");
    if (f.multishot_recv)
        run(URING_LOOP_NO_DEFER, "multishot, COOP_TASKRUN ring");
    return done_testing();
}
