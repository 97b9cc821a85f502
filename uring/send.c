/*
 * The send path of a connection. Two kinds of output share one byte stream:
 *
 * - copied bytes (uring_conn_write): appended to _out, a buffer that grows by doubling from
 *   URING_OUT_MIN up to _out_max bytes and is freed again once drained if it grew past
 *   URING_OUT_KEEP (so idle connections hold little); _out[0] is stream byte _out_base of the
 *   copied bytes. Everything queued in one iteration leaves in one IORING_OP_SEND. A buffer the
 *   kernel is reading is never moved: growing it during a send copies to a new buffer and frees
 *   the old one (_out_old) when that send completes;
 * - referenced payloads (uring_conn_write_ref, large, non-loopback peer): a slot in _zc, sent
 *   with IORING_OP_SEND_ZC straight from the caller's memory. The payload records in _at how
 *   many copied bytes precede it, so copied bytes queued before it go first and those queued
 *   after it wait until it has gone.
 *
 * At most one send (of either kind) is in flight per connection: _send_cur names it. Its CQE
 * says how many bytes the kernel took; the rest goes in the next send (short sends). A SEND_ZC
 * CQE with IORING_CQE_F_MORE announces a notification (IORING_CQE_F_NOTIF) for when the kernel
 * no longer reads the memory; a payload is released, in order, once every byte was sent and
 * every notification came. The byte bound (_out_max) counts copied and referenced bytes alike.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "uring/compat.h"
#include "uring/internal.h"

#define URING_OUT_MIN  1024
#define URING_OUT_KEEP (64 * 1024)

static void send_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags);
static void zc_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags);

static struct uring_zc *slot(const struct uring_conn *c, unsigned i)
{
    return &c->_zc[i % URING_ZC_SLOTS];
}

void uring__send_init(struct uring_conn *c)
{
    c->_send_op.cb = send_done;
    c->_out = NULL;
    c->_out_len = 0;
    c->_out_cap = 0;
    c->_out_old = NULL;
    c->_out_sending = 0;
    c->_out_base = 0;
    c->_send_cur = NULL;
    c->_zc = NULL;
    c->_zc_head = 0;
    c->_zc_send = 0;
    c->_zc_tail = 0;
    c->_zc_queued = 0;
    c->_zc_ok = 0;
}

bool uring__send_pending(const struct uring_conn *c)
{
    return c->_out_len > 0 || c->_zc_send != c->_zc_tail;
}

size_t uring_conn_out_queued(const struct uring_conn *c)
{
    return c->_out_len + c->_zc_queued;
}

static void start_copy(struct uring_conn *c, size_t n)
{
    struct io_uring_sqe *sqe;

    URING_ASSERT(n > 0);
    URING_ASSERT(n <= c->_out_len);
    sqe = uring_loop_sqe(c->loop, &c->_send_op);
    if (sqe == NULL) {
        uring__conn_fail(c, -EBUSY);
        return;
    }
    io_uring_prep_send(sqe, c->fd, c->_out, n, MSG_NOSIGNAL);
    c->_out_sending = n;
    c->_send_cur = &c->_send_op;
    c->_state |= CONN_SEND_INFLIGHT;
    c->loop->stats.sends++;
}

static void start_zc(struct uring_conn *c, struct uring_zc *z)
{
    struct io_uring_sqe *sqe;

    URING_ASSERT(z->_off < z->_len);
    sqe = uring_loop_sqe(c->loop, &z->_op);
    if (sqe == NULL) {
        uring__conn_fail(c, -EBUSY);
        return;
    }
    io_uring_prep_send_zc(sqe, c->fd, z->_data + z->_off, z->_len - z->_off, MSG_NOSIGNAL,
                          c->loop->zc_report ? IORING_SEND_ZC_REPORT_USAGE : 0);
    c->_out_sending = z->_len - z->_off;
    c->_send_cur = &z->_op;
    c->_state |= CONN_SEND_INFLIGHT;
    c->loop->stats.zc_sends++;
}

void uring__send_next(struct uring_conn *c)
{
    if (c->_state & (CONN_SEND_INFLIGHT | CONN_CLOSE_NOW) || c->loop->_closing)
        return;
    if (c->_zc_send != c->_zc_tail) {
        struct uring_zc *z = slot(c, c->_zc_send);

        URING_ASSERT(z->_at >= c->_out_base);
        if (z->_at == c->_out_base)
            start_zc(c, z);
        else
            start_copy(c, (size_t)(z->_at - c->_out_base));
        return;
    }
    if (c->_out_len > 0)
        start_copy(c, c->_out_len);
}

/* Common end of a send CQE: bookkeeping done by the caller; errors close the connection. */
static void sent(struct uring_conn *c, int res, size_t offered)
{
    c->_state &= ~CONN_SEND_INFLIGHT;
    c->_send_cur = NULL;
    c->_out_sending = 0;
    if (res > 0) {
        if ((size_t)res < offered)
            c->loop->stats.short_sends++;
        c->loop->stats.send_bytes += (uint64_t)res;
        if (uring__send_pending(c))
            uring__conn_queue_flush(c);
    } else if (!(c->_state & CONN_CLOSING) || res != -ECANCELED) {
        uring__conn_fail(c, res < 0 ? res : -EPIPE);
    }
}

static void send_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    struct uring_conn *c = (struct uring_conn *)(void *)((char *)op - offsetof(struct uring_conn, _send_op));
    size_t offered = c->_out_sending;

    URING_ASSERT(c->_state & CONN_SEND_INFLIGHT);
    URING_ASSERT(res <= (int)offered);
    free(c->_out_old); /* the kernel is done reading it; _out holds the same bytes */
    c->_out_old = NULL;
    if (res > 0) {
        memmove(c->_out, c->_out + res, c->_out_len - (size_t)res);
        c->_out_len -= (size_t)res;
        c->_out_base += (uint64_t)res;
    }
    if (c->_out_len == 0 && c->_out_cap > URING_OUT_KEEP) {
        free(c->_out);
        c->_out = NULL;
        c->_out_cap = 0;
    }
    sent(c, res, offered);
    uring__conn_maybe_finish(c);
}

/* Releases, in order, the payloads fully sent whose notifications all came. */
static void release_sent(struct uring_conn *c)
{
    while (c->_zc_head != c->_zc_send && slot(c, c->_zc_head)->_notifs == 0) {
        struct uring_zc *z = slot(c, c->_zc_head);

        c->_zc_head++;
        z->_release(z->_arg, 0);
    }
}

static void zc_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    struct uring_zc *z = (struct uring_zc *)(void *)op;
    struct uring_conn *c = z->_conn;
    size_t offered = c->_out_sending;

    if (flags & IORING_CQE_F_NOTIF) {
        URING_ASSERT(z->_notifs > 0);
        z->_notifs--;
        loop->stats.zc_notifs++;
        if (loop->zc_report && ((unsigned)res & IORING_NOTIF_USAGE_ZC_COPIED))
            loop->stats.zc_copied++;
    } else {
        URING_ASSERT(c->_state & CONN_SEND_INFLIGHT);
        URING_ASSERT(c->_send_cur == op);
        if (flags & IORING_CQE_F_MORE)
            z->_notifs++;
        if (res > 0) {
            z->_off += (size_t)res;
            c->_zc_queued -= (size_t)res;
            if (z->_off == z->_len)
                c->_zc_send++;
        }
        sent(c, res, offered);
    }
    release_sent(c);
    uring__conn_maybe_finish(c);
}

bool uring__send_release_all(struct uring_conn *c)
{
    int err = c->_err != 0 ? c->_err : -ECANCELED;

    release_sent(c);
    for (unsigned i = c->_zc_head; i != c->_zc_tail; i++)
        if (slot(c, i)->_notifs > 0)
            return false;
    while (c->_zc_head != c->_zc_tail) {
        struct uring_zc *z = slot(c, c->_zc_head);

        c->_zc_head++;
        z->_release(z->_arg, err);
    }
    c->_zc_send = c->_zc_tail;
    c->_zc_queued = 0;
    free(c->_zc);
    c->_zc = NULL;
    free(c->_out);
    c->_out = NULL;
    c->_out_len = 0;
    c->_out_cap = 0;
    free(c->_out_old);
    c->_out_old = NULL;
    return true;
}

/* Makes room for need bytes in _out without moving memory a send in flight reads. */
static int out_reserve(struct uring_conn *c, size_t need)
{
    size_t cap = c->_out_cap ? c->_out_cap : URING_OUT_MIN;
    unsigned char *nb;

    if (need <= c->_out_cap)
        return 0;
    while (cap < need)
        cap *= 2;
    if (cap > c->_out_max)
        cap = c->_out_max;
    URING_ASSERT(need <= cap);
    if ((c->_state & CONN_SEND_INFLIGHT) && c->_send_cur == &c->_send_op && c->_out_old == NULL) {
        nb = malloc(cap);
        if (nb == NULL)
            return -ENOMEM;
        memcpy(nb, c->_out, c->_out_len);
        c->_out_old = c->_out;
    } else {
        nb = realloc(c->_out, cap);
        if (nb == NULL)
            return -ENOMEM;
    }
    c->_out = nb;
    c->_out_cap = cap;
    return 0;
}

int uring_conn_write(struct uring_conn *c, const void *data, size_t len)
{
    if (c->_state & CONN_CLOSING)
        return -EPIPE;
    if (len > c->_out_max - uring_conn_out_queued(c))
        return -ENOBUFS;
    if (out_reserve(c, c->_out_len + len) != 0)
        return -ENOMEM;
    memcpy(c->_out + c->_out_len, data, len);
    c->_out_len += len;
    if (!(c->_state & CONN_SEND_INFLIGHT))
        uring__conn_queue_flush(c);
    return 0;
}

/* SEND_ZC costs more than a copy where nothing is offloaded: loopback, and Unix sockets (which
 * do not support it at all). Decided once per connection from its peer address. */
static bool peer_wants_zc(struct uring_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    bool loopback;

    if (c->_zc_ok != 0)
        return c->_zc_ok > 0;
    c->_zc_ok = -1;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == -1)
        return false;
    if (ss.ss_family == AF_INET) {
        loopback = (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

        loopback = IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    } else {
        return false;
    }
    if (!loopback || (c->loop->flags & URING_LOOP_ZC_LOOPBACK))
        c->_zc_ok = 1;
    return c->_zc_ok > 0;
}

int uring_conn_write_ref(struct uring_conn *c, const void *data, size_t len, uring_release_cb *release, void *arg)
{
    struct uring_zc *z;

    URING_ASSERT(release != NULL);
    if (c->_state & CONN_CLOSING)
        return -EPIPE;
    if (!c->loop->send_zc || len == 0 || len < c->loop->zc_threshold || !peer_wants_zc(c) ||
        c->_zc_tail - c->_zc_head == URING_ZC_SLOTS)
        return uring_conn_write(c, data, len);
    if (len > c->_out_max - uring_conn_out_queued(c))
        return -ENOBUFS;
    if (c->_zc == NULL) {
        c->_zc = calloc(URING_ZC_SLOTS, sizeof(*c->_zc));
        if (c->_zc == NULL)
            return uring_conn_write(c, data, len);
    }
    z = slot(c, c->_zc_tail);
    z->_op.cb = zc_done;
    z->_conn = c;
    z->_data = data;
    z->_len = len;
    z->_off = 0;
    z->_at = c->_out_base + c->_out_len;
    z->_notifs = 0;
    z->_release = release;
    z->_arg = arg;
    c->_zc_tail++;
    c->_zc_queued += len;
    if (!(c->_state & CONN_SEND_INFLIGHT))
        uring__conn_queue_flush(c);
    return URING_WRITE_HELD;
}
