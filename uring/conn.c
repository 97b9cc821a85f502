/*
 * Connections: receive through the loop's buffer ring, send from a bounded output buffer.
 *
 * Receive: one recv with IOSQE_BUFFER_SELECT stays armed, multishot where the kernel has it (T1)
 * or single-shot (T0, or URING_LOOP_SINGLESHOT_RECV). Any CQE without IORING_CQE_F_MORE disarms
 * it and we re-arm, except: EOF (close, flushing output), -ENOBUFS (the ring ran dry: the bytes
 * stay in the socket, the conn waits on loop->_nobuf until a buffer is put back, then re-arms),
 * and errors (close), and a paused receive (uring_conn_recv_pause: the armed recv is cancelled,
 * bytes that had already arrived are still handed over, nothing more is read until resumed, so
 * the peer meets TCP's own backpressure).
 *
 * Send: send.c. Output waits on loop->_flush; the flush phase starts one send per conn.
 *
 * Invariant: output pending and no send in flight => the conn is on loop->_flush, or on
 * loop->_gate_wait while a foreign sender has its gate (gate.c).
 * Close never calls on_close itself: it queues the conn on loop->_flush, and the flush phase or
 * the op's last CQE finishes it once no op is in flight.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uring/internal.h"

#define DEFAULT_OUT_MAX (256 * 1024)

static void recv_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags);

static bool on_list(const struct uring_list *n)
{
    return n->next != n;
}

void uring__conn_queue_flush(struct uring_conn *c)
{
    if (!on_list(&c->_flush_node))
        ulist_add_tail(&c->loop->_flush, &c->_flush_node);
}

static int arm_recv(struct uring_conn *c)
{
    struct uring_loop *loop = c->loop;
    struct io_uring_sqe *sqe;
    bool multishot;

    URING_ASSERT(!(c->_state & CONN_RECV_ARMED));
    if (loop->_closing)
        return -ECANCELED;
    sqe = uring_loop_sqe(loop, &c->_recv_op);
    if (sqe == NULL)
        return -EBUSY;
    multishot = loop->multishot_recv && !c->recv_oneshot;
    io_uring_prep_recv(sqe, c->fd, NULL, multishot ? 0 : loop->_buf_size, 0);
    if (multishot)
        sqe->ioprio |= IORING_RECV_MULTISHOT;
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    c->_state |= CONN_RECV_ARMED;
    return 0;
}

static void cancel_op(struct uring_conn *c, struct uring_op *op)
{
    struct io_uring_sqe *sqe = uring_loop_sqe(c->loop, NULL);

    if (sqe != NULL) {
        io_uring_prep_cancel(sqe, op, 0);
        return;
    }
    /* No SQE: shutting the socket down ends its recv (EOF) and send (EPIPE) just as well. */
    shutdown(c->fd, SHUT_RDWR);
}

void uring_conn_close(struct uring_conn *c, int how)
{
    URING_ASSERT(!(c->_state & CONN_CLOSED));
    if (!(c->_state & CONN_CLOSING)) {
        c->_state |= CONN_CLOSING;
        uring__gate_hold(c); /* no foreign frame starts after this point; a rest waiting goes first */
        ulist_del(&c->_nobuf_node);
        if (c->_state & CONN_RECV_ARMED)
            cancel_op(c, &c->_recv_op);
    }
    if (how == URING_CLOSE_NOW && !(c->_state & CONN_CLOSE_NOW)) {
        c->_state |= CONN_CLOSE_NOW;
        if (c->_state & CONN_SEND_INFLIGHT)
            cancel_op(c, c->_send_cur);
    }
    uring__conn_queue_flush(c);
}

void uring__conn_fail(struct uring_conn *c, int err)
{
    if (c->_err == 0)
        c->_err = err;
    uring_conn_close(c, URING_CLOSE_NOW);
}

/* Ends a closing conn once nothing of it is in flight (SEND_ZC notifications included) and,
 * unless closing now, its output went. */
void uring__conn_maybe_finish(struct uring_conn *c)
{
    if (!(c->_state & CONN_CLOSING))
        return;
    if (c->_state & (CONN_RECV_ARMED | CONN_SEND_INFLIGHT))
        return;
    /* A foreign sender may still be about to use the fd: closing it now could hand its frame to a
     * new connection that reuses the number. gate.c's retry brings the conn back here. */
    if (c->_state & CONN_GATE_WAIT)
        return;
    if (uring__send_pending(c) && !(c->_state & CONN_CLOSE_NOW)) {
        if (!c->loop->_closing)
            return;
        if (c->_err == 0)
            c->_err = -ECANCELED; /* the loop goes away before the flush could finish */
    }
    uring__gate_close(c);
    if (!uring__send_release_all(c)) {
        /* Only SEND_ZC notifications are due. They come when the kernel frees the sent data,
         * which a peer that does not read never lets happen: dropping the connection (RST, so
         * the send queue goes at once) frees it. on_close still waits for them. */
        if (c->fd >= 0 && ((c->_state & CONN_CLOSE_NOW) || c->loop->_closing)) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};

            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(c->fd);
            c->fd = -1;
        }
        return;
    }
    ulist_del(&c->_flush_node);
    ulist_del(&c->_nobuf_node);
    URING_ASSERT(!on_list(&c->_gate_node));
    if (c->fd >= 0 && c->_filter != NULL && c->_filter->drained != NULL && !(c->_state & CONN_CLOSE_NOW) && !c->loop->_closing &&
        c->_err == 0)
        c->_filter->drained(c);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->_state = CONN_CLOSED;
    c->loop->_closes++;
    c->_cbs->on_close(c, c->_err);
}

int uring_conn_start(struct uring_conn *c, struct uring_loop *loop, int fd, const struct uring_conn_cbs *cbs, size_t out_max)
{
    int ret;

    URING_ASSERT(cbs->on_recv != NULL);
    URING_ASSERT(cbs->on_close != NULL);
    c->fd = fd;
    c->loop = loop;
    c->_cbs = cbs;
    c->_recv_op.cb = recv_done;
    ulist_init(&c->_flush_node);
    ulist_init(&c->_nobuf_node);
    ulist_init(&c->_gate_node);
    c->_state = 0;
    c->_err = 0;
    uring_conn_set_out_max(c, out_max);
    c->_gate = NULL;
    c->_gate_gen = 0;
    uring__send_init(c);
    ret = arm_recv(c);
    if (ret != 0)
        c->fd = -1;
    return ret;
}

void uring_conn_recv_pause(struct uring_conn *c)
{
    URING_ASSERT(!(c->_state & CONN_CLOSED));
    if (c->_state & (CONN_RECV_PAUSED | CONN_CLOSING))
        return;
    c->_state |= CONN_RECV_PAUSED;
    ulist_del(&c->_nobuf_node);
    if ((c->_state & CONN_RECV_ARMED) && !(c->_state & CONN_RECV_CANCEL)) {
        struct io_uring_sqe *sqe = uring_loop_sqe(c->loop, NULL);

        /* Without an SQE the recv stays armed: what it brings is still handed over, and the
         * consumer holds it, so the pause only comes later, never at the cost of bytes. */
        if (sqe != NULL) {
            io_uring_prep_cancel(sqe, &c->_recv_op, 0);
            c->_state |= CONN_RECV_CANCEL;
        }
    }
}

int uring_conn_recv_resume(struct uring_conn *c)
{
    int ret;

    URING_ASSERT(!(c->_state & CONN_CLOSED));
    if (!(c->_state & CONN_RECV_PAUSED))
        return 0;
    c->_state &= ~CONN_RECV_PAUSED;
    /* An armed recv (a cancel still on its way, or none could be sent) carries on by itself. */
    if (c->_state & (CONN_CLOSING | CONN_RECV_ARMED))
        return 0;
    URING_STAT_ADD(c->loop, recv_rearms, 1);
    ret = arm_recv(c);
    if (ret != 0)
        uring__conn_fail(c, ret);
    return ret;
}

bool uring_conn_recv_paused(const struct uring_conn *c)
{
    return (c->_state & CONN_RECV_PAUSED) != 0;
}

static void recv_data(struct uring_conn *c, int res, unsigned flags)
{
    struct uring_loop *loop = c->loop;
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

    uring__buf_taken(loop, bid);
    if (res > 0 && !(c->_state & CONN_CLOSING))
        c->_cbs->on_recv(c, uring_buf_data(loop, bid), (size_t)res, bid);
    else
        uring_buf_put(loop, bid);
}

/* A receive error: the one to fail the connection with, or 0 where the filter took it over. */
static int recv_error(struct uring_conn *c, int res)
{
    return c->_filter != NULL && c->_filter->recv_failed != NULL ? c->_filter->recv_failed(c, res) : res;
}

static void recv_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    struct uring_conn *c = (struct uring_conn *)(void *)((char *)op - offsetof(struct uring_conn, _recv_op));
    int ret;

    URING_ASSERT(c->_state & CONN_RECV_ARMED);
    if (!(flags & IORING_CQE_F_MORE)) {
        c->_state &= ~CONN_RECV_ARMED;
        c->_state &= ~CONN_RECV_CANCEL;
    }
    if (flags & IORING_CQE_F_BUFFER)
        recv_data(c, res, flags);
    if (c->_state & CONN_CLOSING) {
        uring__conn_maybe_finish(c);
        return;
    }
    if (res == 0) {
        uring_conn_close(c, URING_CLOSE_FLUSH);
    } else if (res == -ENOBUFS) {
        URING_STAT_ADD(loop, enobufs, 1);
        if (!(c->_state & CONN_RECV_PAUSED))
            ulist_add_tail(&loop->_nobuf, &c->_nobuf_node);
    } else if (res == -ECANCELED && !(c->_state & CONN_RECV_ARMED)) {
        /* Our pause's cancel; a resume that came meanwhile re-arms here. */
        if (!(c->_state & CONN_RECV_PAUSED)) {
            URING_STAT_ADD(loop, recv_rearms, 1);
            ret = arm_recv(c);
            if (ret != 0)
                uring__conn_fail(c, ret);
        }
    } else if (res < 0 && res != -EINTR && res != -EAGAIN && (ret = recv_error(c, res)) != 0) {
        uring__conn_fail(c, ret);
    } else if (c->_state & CONN_CLOSING) {
        uring__conn_maybe_finish(c); /* the filter took the error over and closed */
    } else if (!(c->_state & (CONN_RECV_ARMED | CONN_RECV_PAUSED))) {
        URING_STAT_ADD(loop, recv_rearms, 1);
        ret = arm_recv(c);
        if (ret != 0)
            uring__conn_fail(c, ret);
    }
}

static void flush_one(struct uring_conn *c)
{
    uring__send_next(c);
    uring__conn_maybe_finish(c);
}

void uring__conn_flush(struct uring_loop *loop)
{
    if (!ulist_empty(&loop->_gate_wait))
        uring__gate_retry(loop);
    /* Re-arms first: a failed one closes its conn, whose on_close may queue writes elsewhere. */
    while (!ulist_empty(&loop->_nobuf) && uring__bufs_free(loop) > 0) {
        struct uring_conn *c = ulist_entry(loop->_nobuf.next, struct uring_conn, _nobuf_node);
        int ret;

        ulist_del(&c->_nobuf_node);
        URING_STAT_ADD(loop, recv_rearms, 1);
        ret = arm_recv(c);
        if (ret != 0)
            uring__conn_fail(c, ret);
    }
    /* Pop from the head: a callback run from here may close (and free) any other conn. */
    while (!ulist_empty(&loop->_flush)) {
        struct uring_conn *c = ulist_entry(loop->_flush.next, struct uring_conn, _flush_node);

        ulist_del(&c->_flush_node);
        flush_one(c);
    }
}

void uring_conn_set_out_max(struct uring_conn *c, size_t out_max)
{
    c->_out_max = out_max ? out_max : DEFAULT_OUT_MAX;
}
