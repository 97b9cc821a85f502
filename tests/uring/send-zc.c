/* Referenced payloads: with SEND_ZC allowed (forced on loopback by URING_LOOP_ZC_LOOPBACK, as
 * nothing else is reachable here), large payloads go out with SEND_ZC, interleaved in order with
 * copied writes, and each is released only after its notification; without the flag a loopback
 * peer gets copies and no release. Destroying the loop with payloads in flight releases them with
 * an error. */
#include <pthread.h>

#include "tests/uring/helpers.h"

#define THRESHOLD 4096
#define SMALL     100
#define BIG_A     (64 * 1024)
#define BIG_B     (200 * 1024)
#define MID       1000
#define TOTAL     (SMALL + BIG_A + SMALL + BIG_B + MID + SMALL)

static unsigned char stream[TOTAL];

struct zt {
    struct uring_loop loop;
    struct uring_listener lst;
    struct uring_conn conn;
    int held;
    int copied_refs;
    int releases;
    int release_errs;
    uint64_t notifs_at_release;
    int closed_err;
    unsigned port;
    size_t client_got;
    size_t client_bad;
};

static void on_release(void *arg, int err)
{
    struct zt *z = arg;

    z->releases++;
    if (err != 0)
        z->release_errs++;
    if (z->releases == 1)
        z->notifs_at_release = z->loop.stats.zc_notifs;
}

static void z_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    uring_buf_put(c->loop, bid);
}

static void z_close(struct uring_conn *c, int err)
{
    struct zt *z = c->data;

    z->closed_err = err;
    if (z->lst.loop != NULL)
        uring_listener_close(&z->lst);
}

static const struct uring_conn_cbs z_cbs = {.on_recv = z_recv, .on_close = z_close};

static void write_ref(struct zt *z, size_t off, size_t len)
{
    int ret = uring_conn_write_ref(&z->conn, stream + off, len, on_release, z);

    if (ret == URING_WRITE_HELD)
        z->held++;
    else if (ret == 0)
        z->copied_refs++;
    else
        BAIL_OUT("write_ref: %d", ret);
}

static void on_accept(struct uring_listener *l, int fd)
{
    struct zt *z = l->data;
    size_t off = 0;

    z->conn.data = z;
    if (uring_conn_start(&z->conn, l->loop, fd, &z_cbs, 512 * 1024) != 0)
        BAIL_OUT("conn start");
    uring_conn_write(&z->conn, stream, SMALL);
    off += SMALL;
    write_ref(z, off, BIG_A);
    off += BIG_A;
    uring_conn_write(&z->conn, stream + off, SMALL);
    off += SMALL;
    write_ref(z, off, BIG_B);
    off += BIG_B;
    write_ref(z, off, MID); /* below the threshold: copied */
    off += MID;
    uring_conn_write(&z->conn, stream + off, SMALL);
    uring_conn_close(&z->conn, URING_CLOSE_FLUSH);
}

static void on_lst_close(struct uring_listener *l)
{
    uring_loop_stop(l->loop);
}

static const struct uring_listener_cbs lst_cbs = {.on_accept = on_accept, .on_close = on_lst_close};

static void *client(void *arg)
{
    struct zt *z = arg;
    unsigned char buf[16384];
    int fd = th_connect(z->port);
    ssize_t n;

    if (fd < 0)
        BAIL_OUT("connect");
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (z->client_got + (size_t)i >= TOTAL || buf[i] != stream[z->client_got + (size_t)i])
                z->client_bad++;
        z->client_got += (size_t)n;
    }
    close(fd);
    return NULL;
}

static void run(unsigned flags, const char *mode)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 1024, .flags = flags, .zc_threshold = THRESHOLD};
    static struct zt z;
    bool zc = (flags & URING_LOOP_ZC_LOOPBACK) != 0;
    pthread_t th;

    memset(&z, 0, sizeof(z));
    if (uring_loop_init(&z.loop, &o) != 0)
        BAIL_OUT("loop init");
    z.lst.data = &z;
    if (uring_listener_start(&z.lst, &z.loop, uring_listen_tcp("127.0.0.1", 0, 4), &lst_cbs) != 0)
        BAIL_OUT("listener");
    z.port = th_port_of(z.lst.fd);
    pthread_create(&th, NULL, client, &z);
    ok_eq(uring_loop_run(&z.loop), 0, "%s: loop ran until stopped", mode);
    pthread_join(th, NULL);
    ok_eq(z.client_got, TOTAL, "%s: the peer got every byte", mode);
    ok_eq(z.client_bad, 0, "%s: copied and referenced bytes in order", mode);
    ok_eq(z.closed_err, 0, "%s: flushing close ended orderly", mode);
    ok_eq(z.held, zc ? 2 : 0, "%s: large payloads referenced only where SEND_ZC applies", mode);
    ok_eq(z.copied_refs, zc ? 1 : 3, "%s: the others copied", mode);
    ok_eq(z.releases, z.held, "%s: every referenced payload released once", mode);
    ok_eq(z.release_errs, 0, "%s: released as sent", mode);
    if (zc) {
        ok(z.loop.stats.zc_sends >= 2, "%s: SEND_ZC used (%llu)", mode, (unsigned long long)z.loop.stats.zc_sends);
        ok_eq(z.loop.stats.zc_notifs, z.loop.stats.zc_sends, "%s: one notification per SEND_ZC", mode);
        ok(z.notifs_at_release >= 1, "%s: first release after a notification", mode);
        diag("%s: %llu of %llu notifications say the kernel copied", mode, (unsigned long long)z.loop.stats.zc_copied,
             (unsigned long long)z.loop.stats.zc_notifs);
    } else {
        ok_eq(z.loop.stats.zc_sends, 0, "%s: no SEND_ZC to a loopback peer", mode);
    }
    ok_eq(uring_loop_inflight(&z.loop), 0, "%s: nothing in flight", mode);
    uring_loop_destroy(&z.loop);
}

/* A peer that never reads: one payload blocked in flight, one queued; destroy releases both. */
static void run_abort(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 1024, .flags = URING_LOOP_ZC_LOOPBACK, .zc_threshold = THRESHOLD};
    static struct zt z;
    int lfd, cfd, sfd, small = 4096;

    memset(&z, 0, sizeof(z));
    if (uring_loop_init(&z.loop, &o) != 0)
        BAIL_OUT("loop init");
    lfd = uring_listen_tcp("127.0.0.1", 0, 4);
    cfd = th_connect(th_port_of(lfd));
    sfd = accept(lfd, NULL, NULL);
    if (lfd < 0 || cfd < 0 || sfd < 0)
        BAIL_OUT("socket setup");
    setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    z.conn.data = &z;
    if (uring_conn_start(&z.conn, &z.loop, sfd, &z_cbs, 512 * 1024) != 0)
        BAIL_OUT("conn start");
    write_ref(&z, 0, BIG_B);
    write_ref(&z, 0, BIG_B);
    for (int i = 0; i < 8; i++)
        uring_loop_run_once(&z.loop, false);
    ok_eq(z.held, 2, "abort: two payloads referenced");
    ok(uring_conn_out_queued(&z.conn) > 0, "abort: the peer does not read, bytes stay queued");
    uring_loop_destroy(&z.loop);
    ok_eq(z.releases, 2, "abort: destroy released both");
    ok_eq(z.release_errs, 2, "abort: with an error");
    ok_eq(z.closed_err, -ECANCELED, "abort: the connection closed with -ECANCELED");
    close(cfd);
    close(lfd);
}

int main(void)
{
    struct uring_features f = th_require_t0();

    if (!f.send_zc)
        skip_all("no IORING_OP_SEND_ZC (below T1)");
    for (size_t i = 0; i < TOTAL; i++)
        stream[i] = th_pattern(i);
    run(URING_LOOP_ZC_LOOPBACK, "zc");
    run(0, "copy");
    run_abort();
    return done_testing();
}
