/* Output filters (uring_conn_set_filter, the way user-space TLS sits on a connection): what the
 * owner writes reaches the filter in one batch per send, never more than a chunk per call, in
 * order; uring_conn_write_ref() copies, even where it would send zero-copy; raw writes skip the
 * filter; the gate is off for good; a flushing close lets the filter add its last bytes once,
 * before end of file, also when a send is still in flight at the close; a reserve committed empty
 * leaves nothing held; a filter error fails the connection with that error. The filter here frames
 * each batch as a 4-byte length and the bytes, written through raw_reserve/commit in pieces. */
#include <stdint.h>
#include <stdio.h>

#include "tests/uring/gate-sim.h"

struct ft {
    struct uring_loop loop;
    struct uring_conn conn;
    struct uring_gate gate;
    int peer;
    unsigned encodes, closings, closed;
    size_t biggest;
    int fail_with; /* non-zero: encode returns it */
    int close_err;
};

static void on_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    (void)data;
    (void)len;
    uring_buf_put(c->loop, bid);
}

static void on_close(struct uring_conn *c, int err)
{
    struct ft *t = c->data;

    t->closed++;
    t->close_err = err;
}

static int put_raw(struct uring_conn *c, const unsigned char *p, size_t len)
{
    while (len > 0) {
        size_t room;
        unsigned char *dst = uring_conn_raw_reserve(c, &room);

        if (dst == NULL)
            return -ENOMEM;
        if (room > len)
            room = len;
        memcpy(dst, p, room);
        uring_conn_raw_commit(c, room);
        p += room;
        len -= room;
    }
    return 0;
}

static int encode(struct uring_conn *c, const void *data, size_t len)
{
    struct ft *t = c->data;
    unsigned char hdr[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len};

    t->encodes++;
    if (len > t->biggest)
        t->biggest = len;
    if (t->fail_with != 0)
        return t->fail_with;
    if (put_raw(c, hdr, sizeof(hdr)) != 0)
        return -ENOMEM;
    return put_raw(c, data, len);
}

static void closing(struct uring_conn *c)
{
    struct ft *t = c->data;

    t->closings++;
    uring_conn_write_raw(c, "BYE", 3);
}

static const struct uring_filter filter = {.encode = encode, .closing = closing};

static void pump(struct ft *t)
{
    for (int i = 0; i < 4; i++)
        uring_loop_run_once(&t->loop, false);
}

/* Reads one framed batch from the peer into buf: its length, or -1. */
static ssize_t read_batch(int fd, char *buf, size_t cap)
{
    unsigned char hdr[4];
    size_t len;

    if (th_xfer_all(fd, (char *)hdr, 4, true) != 0)
        return -1;
    len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    if (len > cap || th_xfer_all(fd, buf, len, true) != 0)
        return -1;
    return (ssize_t)len;
}

static void release_cb(void *arg, int err)
{
    (void)arg;
    (void)err;
}

int main(void)
{
    static const struct uring_conn_cbs cbs = {.on_recv = on_recv, .on_close = on_close};
    static char big[40000], got[40000];
    struct ft *t = calloc(1, sizeof(*t));
    struct iovec iov = {"x", 1};
    char buf[64];
    size_t total = 0;
    bool order = true;
    int ret;

    plan(20);
    if (t == NULL)
        BAIL_OUT("calloc");
    th_gate_loop_init(&t->loop);
    t->peer = th_conn_socketpair(&t->loop, &t->conn, &cbs, t);

    uring_conn_set_filter(&t->conn, &filter);
    uring_conn_gate_open(&t->conn, &t->gate, 3);
    ok(uring_gate_send(&t->gate, 3, &iov, 1) == -EBUSY, "a filtered connection takes no foreign send, even after a gate open");

    uring_conn_write(&t->conn, "aaa", 3);
    uring_conn_write(&t->conn, "bbb", 3);
    ret = uring_conn_write_ref(&t->conn, "ccc", 3, release_cb, NULL);
    ok(ret == 0, "uring_conn_write_ref copies on a filtered connection");
    ok(uring_conn_out_queued(&t->conn) == 9 && t->encodes == 0, "written bytes wait for the send, counted as queued");
    pump(t);
    ok(t->encodes == 1, "one iteration's writes reach the filter in one call");
    ok(read_batch(t->peer, buf, sizeof(buf)) == 9 && memcmp(buf, "aaabbbccc", 9) == 0, "and leave encoded, in order");
    ok(th_peer_quiet(t->peer) && uring_conn_out_queued(&t->conn) == 0, "nothing else went; nothing stays queued");

    uring_conn_write_raw(&t->conn, "RAW", 3);
    pump(t);
    ok(recv(t->peer, buf, sizeof(buf), MSG_DONTWAIT) == 3 && memcmp(buf, "RAW", 3) == 0, "a raw write skips the filter");

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 23);
    t->encodes = 0;
    ok(uring_conn_write(&t->conn, big, sizeof(big)) == 0, "a write of three chunks' worth is taken");
    pump(t);
    ok(t->encodes >= 3 && t->biggest <= 16384, "the filter gets it a chunk at a time (%u calls, largest %zu)", t->encodes,
       t->biggest);
    while (total < sizeof(big)) {
        ssize_t n = read_batch(t->peer, got + total, sizeof(got) - total);

        if (n <= 0) {
            order = false;
            break;
        }
        total += (size_t)n;
    }
    ok(order && total == sizeof(big) && memcmp(got, big, sizeof(big)) == 0, "every byte came through, in order");

    uring_conn_write(&t->conn, "last", 4);
    uring_conn_close(&t->conn, URING_CLOSE_FLUSH);
    pump(t);
    ok(t->closings == 1, "a flushing close calls closing() once");
    ok(read_batch(t->peer, buf, sizeof(buf)) == 4 && memcmp(buf, "last", 4) == 0, "what was written before the close goes first");
    ok(th_read_to_eof(t->peer, buf, sizeof(buf)) == 3 && memcmp(buf, "BYE", 3) == 0,
       "then the filter's last bytes, then end of file");
    ok(t->closed == 1 && t->close_err == 0, "the connection closed cleanly");
    close(t->peer);

    /* A flushing close while a send is in flight: closing() still runs once that send is done. */
    t->closed = 0;
    t->closings = 0;
    t->peer = th_conn_socketpair(&t->loop, &t->conn, &cbs, t);
    uring_conn_set_filter(&t->conn, &filter);
    uring_conn_set_out_max(&t->conn, 4u << 20);
    {
        static char sent[4096], seen[4 << 20];
        size_t have = 0;

        /* Fill the socket first, so the write below waits in the kernel until the peer reads,
         * and then goes whole, leaving nothing queued behind it. */
        memset(sent, 'q', sizeof(sent));
        while (send(t->conn.fd, sent, 4096, MSG_DONTWAIT) > 0)
            ;
        uring_conn_write(&t->conn, "tail", 4);
        uring_loop_run_once(&t->loop, false); /* the send starts and waits for room */
        uring_conn_close(&t->conn, URING_CLOSE_FLUSH);
        for (int i = 0; i < 100000 && t->closed == 0; i++) {
            ssize_t n = recv(t->peer, seen + have, sizeof(seen) - have, MSG_DONTWAIT);

            if (n > 0)
                have += (size_t)n;
            uring_loop_run_once(&t->loop, false);
        }
        for (ssize_t n; (n = recv(t->peer, seen + have, sizeof(seen) - have, MSG_DONTWAIT)) > 0;)
            have += (size_t)n;
        ok(t->closed == 1 && t->closings == 1, "a close while a send was in flight still calls closing()");
        ok(have > 3 && memcmp(seen + have - 3, "BYE", 3) == 0, "and its bytes come last (%zu bytes in all)", have);
    }
    close(t->peer);

    /* raw_reserve with nothing committed gives the chunk back. */
    t->closed = 0;
    t->peer = th_conn_socketpair(&t->loop, &t->conn, &cbs, t);
    uring_conn_set_filter(&t->conn, &filter);
    {
        size_t room, held = uring_loop_out_cached(&t->loop);

        ok(uring_conn_raw_reserve(&t->conn, &room) != NULL && room > 0, "raw_reserve gives room");
        uring_conn_raw_commit(&t->conn, 0);
        ok(uring_conn_out_queued(&t->conn) == 0 && uring_loop_out_cached(&t->loop) == held,
           "committing nothing puts the chunk back in the cache");
    }
    uring_conn_close(&t->conn, URING_CLOSE_NOW);
    pump(t);
    close(t->peer);

    /* A filter that fails. */
    t->closed = 0;
    t->fail_with = -EPROTO;
    t->peer = th_conn_socketpair(&t->loop, &t->conn, &cbs, t);
    uring_conn_set_filter(&t->conn, &filter);
    uring_conn_write(&t->conn, "doomed", 6);
    pump(t);
    ok(t->closed == 1 && t->close_err == -EPROTO, "an encode error fails the connection with it");
    ok(th_read_to_eof(t->peer, buf, sizeof(buf)) == 0, "and nothing of it reached the wire");
    close(t->peer);

    uring_loop_destroy(&t->loop);
    free(t);
    return done_testing();
}
