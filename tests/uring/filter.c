/* Output filters (uring_conn_set_filter, the way user-space TLS sits on a connection): what the
 * owner writes reaches the filter in one batch per send, never more than a chunk per call, in
 * order; uring_conn_write_ref() copies, even where it would send zero-copy; raw writes skip the
 * filter; the gate is off for good; a flushing close lets the filter add its last bytes once,
 * before end of file, also when a send is still in flight at the close; a reserve committed empty
 * leaves nothing held; a filter error fails the connection with that error. The filter here frames
 * each batch as a 4-byte length and the bytes, written through raw_reserve/commit in pieces.
 *
 * Kernel TLS's side: after a handshake under the framing filter, a pass-through filter (no
 * encode) takes over: writes reach the peer as they are, write_ref still copies (where the same
 * loop would otherwise send zero-copy), and the gate opens again (also with no filter at all). A
 * flushing close calls drained() once, with the output all sent and uring_conn_out_idle() true, and
 * the bytes it writes on the fd come after all of it, then end of file; a close now never calls it,
 * nor does a failure. A recv that fails (the peer resets: ECONNRESET) goes to recv_failed(): its
 * error fails the connection; 0 after a flushing close closes it cleanly; 0 alone arms the recv
 * again, which then meets the end of file. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "tests/uring/gate-sim.h"

#define ZC_THRESHOLD 1024
#define DRAIN_BYTES  (1u << 20) /* queued before a flushing close: several sends' worth */

enum { RF_FAIL, RF_CLOSE, RF_KEEP }; /* what recv_failed() does: return the error, close and 0, just 0 */

struct ft {
    struct uring_loop loop;
    struct uring_conn conn;
    struct uring_gate gate;
    int peer;
    unsigned encodes, closings, closed;
    size_t biggest;
    int fail_with; /* non-zero: encode returns it */
    int close_err;
    unsigned releases;
    /* drained() */
    unsigned drains;
    bool drained_idle, drained_fd_open;
    ssize_t drained_sent;
    /* recv_failed() */
    unsigned recv_fails;
    int recv_err;
    int recv_mode; /* RF_* */
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

/* Kernel TLS's last words: a record written on the fd itself, past the ring. */
static void drained(struct uring_conn *c)
{
    struct ft *t = c->data;

    t->drains++;
    t->drained_idle = uring_conn_out_idle(c);
    t->drained_fd_open = c->fd >= 0 && fcntl(c->fd, F_GETFD) != -1;
    t->drained_sent = send(c->fd, "FIN", 3, MSG_NOSIGNAL);
}

static int recv_failed(struct uring_conn *c, int err)
{
    struct ft *t = c->data;

    t->recv_fails++;
    t->recv_err = err;
    if (t->recv_mode == RF_FAIL)
        return err;
    if (t->recv_mode == RF_CLOSE)
        uring_conn_close(c, URING_CLOSE_FLUSH);
    return 0;
}

static const struct uring_filter filter = {.encode = encode, .closing = closing};
static const struct uring_filter filter_drained = {.encode = encode, .closing = closing, .drained = drained};
static const struct uring_filter ktls = {.drained = drained, .recv_failed = recv_failed}; /* pass-through */

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

static void count_release(void *arg, int err)
{
    struct ft *t = arg;

    (void)err;
    t->releases++;
}

/* Runs the loop until the connection closed (the hang guard bounds it). Waits for completions only
 * while some are due: a close that needs only the flush phase ends in an iteration of its own. */
static void run_until_closed(struct ft *t)
{
    while (t->closed == 0)
        uring_loop_run_once(&t->loop, uring_loop_inflight(&t->loop) > 0);
}

/* Runs the loop until the connection's output went. Not with a gate open: the owner never holds
 * an idle gate, so the connection would never count as idle. */
static void run_until_idle(struct ft *t)
{
    while (!uring_conn_out_idle(&t->conn))
        uring_loop_run_once(&t->loop, true);
}

/* Starts conn on the accepted end of a loopback TCP connection; returns the client end (the peer,
 * blocking). TCP, not a socketpair: SEND_ZC applies to it (URING_LOOP_ZC_LOOPBACK), and a reset
 * reaches the other end's recv. */
static int tcp_pair(struct uring_loop *loop, struct uring_conn *conn, const struct uring_conn_cbs *cbs, void *data)
{
    int lfd = uring_listen_tcp("127.0.0.1", 0, 1), cfd, sfd;

    if (lfd < 0)
        BAIL_OUT("listen: %s", strerror(-lfd));
    cfd = th_connect(th_port_of(lfd));
    sfd = accept(lfd, NULL, NULL);
    if (cfd < 0 || sfd < 0)
        BAIL_OUT("connect or accept");
    close(lfd);
    conn->data = data;
    if (uring_conn_start(conn, loop, sfd, cbs, 0) != 0)
        BAIL_OUT("conn start");
    return cfd;
}

/* Closes fd with a reset (SO_LINGER {1, 0}): the other end's recv fails with ECONNRESET. */
static void close_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0)
        BAIL_OUT("SO_LINGER: %s", strerror(errno));
    close(fd);
}

/* The peer of the drain case, on a thread of its own: drained() writes on a blocking fd, which
 * needs the peer to read meanwhile. */
struct reader {
    int fd;
    char *buf;
    size_t cap;
    ssize_t got;
};

static void *read_to_eof(void *arg)
{
    struct reader *r = arg;

    r->got = th_read_to_eof(r->fd, r->buf, r->cap);
    return NULL;
}

/* Whether the peer has exactly len bytes s next (reads them). */
static bool peer_reads(int peer, const char *s, size_t len)
{
    char buf[64];

    return len <= sizeof(buf) && th_read_all(peer, buf, len) == 0 && memcmp(buf, s, len) == 0;
}

/* An encoding filter for a handshake, then a pass-through one: what kernel TLS does once the keys
 * are in the socket. On TCP with SEND_ZC allowed to loopback, so that write_ref would reference. */
static void swap_cases(struct ft *t, const struct uring_conn_cbs *cbs)
{
    static char ref[4 * ZC_THRESHOLD], want[4 * ZC_THRESHOLD], got[4 * ZC_THRESHOLD];
    struct iovec iov = {"foreign", 7};
    unsigned encodes;
    char buf[64];
    int ret;

    t->closed = 0;
    t->encodes = 0;
    t->drains = 0;
    t->releases = 0;
    t->peer = tcp_pair(&t->loop, &t->conn, cbs, t);
    uring_conn_set_filter(&t->conn, &filter);
    uring_conn_write_raw(&t->conn, "HELLO", 5);
    uring_conn_write(&t->conn, "keys", 4);
    run_until_idle(t);
    ok(peer_reads(t->peer, "HELLO", 5) && read_batch(t->peer, buf, sizeof(buf)) == 4 && memcmp(buf, "keys", 4) == 0,
       "the handshake goes out raw and encoded");

    uring_conn_set_filter(&t->conn, &ktls);
    encodes = t->encodes;
    for (size_t i = 0; i < sizeof(ref); i++)
        want[i] = ref[i] = (char)th_pattern(i);
    ok(uring_conn_write(&t->conn, "plain", 5) == 0, "after a swap to a pass-through filter, a write is taken");
    ret = uring_conn_write_ref(&t->conn, ref, sizeof(ref), count_release, t);
    memset(ref, 'X', sizeof(ref)); /* the caller's again at once: the bytes sent must be the ones at the call */
    ok(ret == 0 && t->releases == 0, "uring_conn_write_ref copies on a pass-through filter (returns %d, no release)", ret);
    uring_conn_write(&t->conn, "end", 3);
    run_until_idle(t);
    ok(t->encodes == encodes, "the pass-through filter encodes nothing");
    ok(peer_reads(t->peer, "plain", 5) && th_read_all(t->peer, got, sizeof(got)) == 0 && memcmp(got, want, sizeof(want)) == 0 &&
           peer_reads(t->peer, "end", 3),
       "writes reach the peer byte for byte, the referenced payload as it was at the call");
    ok(th_peer_quiet(t->peer) && t->releases == 0, "nothing else went, and release was never called");

    uring_conn_gate_open(&t->conn, &t->gate, 4);
    ok(uring_gate_send(&t->gate, 4, &iov, 1) == URING_GATE_SENT && peer_reads(t->peer, "foreign", 7),
       "a gate opened after the swap takes a foreign send");
    uring_conn_write(&t->conn, "owner", 5);
    pump(t);
    ok(peer_reads(t->peer, "owner", 5) && th_peer_quiet(t->peer), "and the owner's writes go out after it");

    /* The same call without a filter references the payload where SEND_ZC applies: what made the
     * one above copy was the filter. */
    uring_conn_set_filter(&t->conn, NULL);
    for (size_t i = 0; i < sizeof(ref); i++)
        ref[i] = want[i];
    ret = uring_conn_write_ref(&t->conn, ref, sizeof(ref), count_release, t);
    ok(ret == (t->loop.send_zc ? URING_WRITE_HELD : 0), "with no filter the same write_ref %s (returns %d)",
       t->loop.send_zc ? "is referenced" : "is copied (no SEND_ZC here)", ret);
    pump(t);
    ok(th_read_all(t->peer, got, sizeof(got)) == 0 && memcmp(got, want, sizeof(want)) == 0, "and its bytes arrive");
    while (ret == URING_WRITE_HELD && t->releases == 0)
        uring_loop_run_once(&t->loop, true);
    ok(t->releases == (ret == URING_WRITE_HELD ? 1u : 0u), "released once, after its send");

    /* A close now, with output queued, under the pass-through filter: no drained(). */
    uring_conn_set_filter(&t->conn, &ktls);
    uring_conn_write(&t->conn, "dropped", 7);
    uring_conn_close(&t->conn, URING_CLOSE_NOW);
    run_until_closed(t);
    ok(t->closed == 1 && t->close_err == 0 && t->drains == 0, "a close now does not call drained()");
    ok(th_read_to_eof(t->peer, buf, sizeof(buf)) == 0, "and the peer gets end of file, nothing before it");
    close(t->peer);
}

/* An encoding filter, then none: the gate opens again too. */
static void swap_to_none(struct ft *t, const struct uring_conn_cbs *cbs)
{
    struct iovec iov = {"foreign", 7};
    char buf[64];

    t->closed = 0;
    t->peer = th_conn_socketpair(&t->loop, &t->conn, cbs, t);
    uring_conn_set_filter(&t->conn, &filter);
    uring_conn_write(&t->conn, "hs", 2);
    pump(t);
    ok(read_batch(t->peer, buf, sizeof(buf)) == 2, "an encoding filter's batch went");
    uring_conn_set_filter(&t->conn, NULL);
    uring_conn_gate_open(&t->conn, &t->gate, 6);
    ok(uring_gate_send(&t->gate, 6, &iov, 1) == URING_GATE_SENT && peer_reads(t->peer, "foreign", 7),
       "after setting no filter, a gate open takes a foreign send");
    uring_conn_close(&t->conn, URING_CLOSE_FLUSH);
    run_until_closed(t);
    ok(t->close_err == 0 && th_read_to_eof(t->peer, buf, sizeof(buf)) == 0, "it closes cleanly");
    close(t->peer);
}

/* drained(): after a flushing close sent a megabyte, on a pass-through filter; then after an
 * encoding filter's closing(). */
static void drain_cases(struct ft *t, const struct uring_conn_cbs *cbs)
{
    static char got[DRAIN_BYTES + 64];
    struct reader r = {.buf = got, .cap = sizeof(got)};
    unsigned char piece[4096];
    bool same = true;
    pthread_t th;
    char buf[64];

    t->closed = 0;
    t->drains = 0;
    t->peer = th_conn_socketpair(&t->loop, &t->conn, cbs, t);
    uring_conn_set_filter(&t->conn, &ktls);
    uring_conn_set_out_max(&t->conn, 2 * DRAIN_BYTES);
    for (size_t at = 0; at < DRAIN_BYTES; at += sizeof(piece)) {
        for (size_t i = 0; i < sizeof(piece); i++)
            piece[i] = th_pattern(at + i);
        if (uring_conn_write(&t->conn, piece, sizeof(piece)) != 0)
            BAIL_OUT("write");
    }
    ok(!uring_conn_out_idle(&t->conn), "uring_conn_out_idle() is false with output queued");
    uring_conn_close(&t->conn, URING_CLOSE_FLUSH);
    r.fd = t->peer;
    if (pthread_create(&th, NULL, read_to_eof, &r) != 0)
        BAIL_OUT("pthread_create");
    run_until_closed(t);
    pthread_join(th, NULL);
    ok(t->drains == 1, "a flushing close calls drained() once");
    ok(t->drained_idle && t->drained_fd_open, "with the fd open and uring_conn_out_idle() true");
    ok(t->drained_sent == 3 && t->closed == 1 && t->close_err == 0, "its write went and the connection closed cleanly");
    for (size_t i = 0; i < DRAIN_BYTES && same; i++)
        same = (unsigned char)got[i] == th_pattern(i);
    ok(r.got == DRAIN_BYTES + 3 && same && memcmp(got + DRAIN_BYTES, "FIN", 3) == 0,
       "the peer reads all the output, then drained()'s bytes, then end of file (%zd bytes)", r.got);
    close(t->peer);

    t->closed = 0;
    t->drains = 0;
    t->closings = 0;
    t->peer = th_conn_socketpair(&t->loop, &t->conn, cbs, t);
    uring_conn_set_filter(&t->conn, &filter_drained);
    uring_conn_write(&t->conn, "last", 4);
    uring_conn_close(&t->conn, URING_CLOSE_FLUSH);
    run_until_closed(t);
    ok(t->closings == 1 && t->drains == 1 && t->close_err == 0, "with an encoding filter: closing() and drained() once each");
    ok(read_batch(t->peer, buf, sizeof(buf)) == 4 && memcmp(buf, "last", 4) == 0 &&
           th_read_to_eof(t->peer, buf, sizeof(buf)) == 6 && memcmp(buf, "BYEFIN", 6) == 0,
       "the output, then closing()'s bytes, then drained()'s, then end of file");
    close(t->peer);
}

/* recv_failed(): the peer resets the connection. */
static void recv_fail_case(struct ft *t, const struct uring_conn_cbs *cbs, int mode)
{
    t->closed = 0;
    t->drains = 0;
    t->recv_fails = 0;
    t->recv_err = 0;
    t->recv_mode = mode;
    t->peer = tcp_pair(&t->loop, &t->conn, cbs, t);
    uring_conn_set_filter(&t->conn, &ktls);
    close_reset(t->peer);
    run_until_closed(t);
}

static void recv_fail_cases(struct ft *t, const struct uring_conn_cbs *cbs)
{
    recv_fail_case(t, cbs, RF_FAIL);
    ok(t->recv_fails == 1 && t->recv_err == -ECONNRESET, "a reset reaches recv_failed() (%u calls, err %d)", t->recv_fails,
       t->recv_err);
    ok(t->closed == 1 && t->close_err == -ECONNRESET, "returning the error fails the connection with it (%d)", t->close_err);
    ok(t->drains == 0, "a failed connection gets no drained()");

    recv_fail_case(t, cbs, RF_CLOSE);
    ok(t->recv_fails == 1 && t->recv_err == -ECONNRESET, "again the hook sees the reset");
    ok(t->closed == 1 && t->close_err == 0, "returning 0 after a flushing close closes cleanly (%d)", t->close_err);

    recv_fail_case(t, cbs, RF_KEEP);
    ok(t->recv_fails == 1 && t->closed == 1 && t->close_err == 0,
       "returning 0 alone arms the recv again: it meets the end of file and closes cleanly (%u calls, %d)", t->recv_fails,
       t->close_err);
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

    plan(49);
    if (t == NULL)
        BAIL_OUT("calloc");
    {
        /* th_gate_loop_init's loop, with SEND_ZC allowed to loopback peers (TCP ones only: never on
         * a socketpair), so that a write_ref that copies is the filter's doing. */
        struct uring_loop_opts o = {
            .buf_count = 16, .buf_size = 4096, .flags = URING_LOOP_ZC_LOOPBACK, .zc_threshold = ZC_THRESHOLD};

        th_require_t0();
        alarm(TH_GATE_HANG_S);
        if (uring_loop_init(&t->loop, &o) != 0)
            BAIL_OUT("loop init");
    }
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
    t->fail_with = 0;

    swap_cases(t, &cbs);
    swap_to_none(t, &cbs);
    drain_cases(t, &cbs);
    recv_fail_cases(t, &cbs);

    uring_loop_destroy(&t->loop);
    free(t);
    return done_testing();
}
