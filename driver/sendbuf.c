/*
 * sendbuf: the application side of the send path.
 *
 * Application threads encode frames straight into c->fill under c->lock; the I/O side swaps
 * c->fill with its own c->out when its send completes, so a burst of publishes goes out in one
 * send and nothing is allocated per message (the buffers only grow, by doubling, up to the
 * send_buffer bound). The eventfd is written only when the I/O side said it had nothing to send
 * (c->send_idle), or when it holds a stream of publishes back for a larger batch (c->holding, io.c
 * swap_batch) and an append ends the hold: under load publishes cost no system call.
 *
 * Direct sends. Waking the I/O thread to send one frame costs a thread wake-up (tens of
 * microseconds on a virtual machine), and a request/reply round trip used to pay two of them, one
 * at each end. So a caller whose frame would be the only one to go, with nothing queued or in
 * flight (order holds), sends it itself with one non-blocking send(2), when it has nothing more
 * to add soon: a synchronous requester, which sleeps next anyway, or a dispatcher thread with an
 * empty queue (the last callback of a batch: a responder's REP, an async requester's next REQ).
 * What the kernel does not take at once stays in c->fill from fill.off on, and the I/O thread is
 * woken to send the rest as before. Callers that produce in bursts (publishers on application
 * threads, a dispatcher with callbacks still queued) keep batching through the I/O thread: one
 * send(2) per frame would cost them far more than the wake-up it saves.
 */
#include <assert.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/client.h"

int trpc__buf_reserve(struct trpc__buf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : TRPC__SENDBUF_MIN;
    uint8_t *p;

    if (b->len + more <= b->cap)
        return 0;
    while (cap < b->len + more)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return -TRPC_E_NO_MEMORY;
    b->data = p;
    b->cap = cap;
    return 0;
}

void trpc__buf_free(struct trpc__buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void trpc__wake(trpc_client *c)
{
    uint64_t one = 1;

    /* A blocking eventfd: the write only blocks at a counter of 2^64-2, never in practice. */
    while (write(c->wake_fd, &one, sizeof(one)) == -1)
        ;
}

/*
 * Appends frame o to c->fill; c->lock is held. force skips the send_buffer bound: frames the
 * library makes itself (PONG, keepalive PING, UNSUB) must not fail because publishers filled it.
 * *wake is set when the caller must trpc__wake() after unlocking.
 */
int trpc__enqueue_locked(trpc_client *c, const struct wire_out *o, bool force, bool *wake)
{
    ssize_t n = wire_encoded_len_memo(o, &c->out_memo);
    size_t unsent;
    int err;

    if (n < 0)
        return trpc__fail((int)n, "%s: %s", wire_type_name(o->type), trpc_strerror((int)n));
    if ((size_t)n > c->limits.max_frame)
        return trpc__fail(-TRPC_E_FRAME_TOO_LARGE, "%s of %zd bytes above the broker's max_frame %u", wire_type_name(o->type), n,
                          c->limits.max_frame);
    /* Only what is not sent yet counts: fill.off bytes left with a short direct send, and the
     * I/O side keeps out_unsent at what its batch still has to send. */
    unsent = c->fill.len - c->fill.off + c->out_unsent;
    if (!force && unsent + (size_t)n > c->opts.send_buffer)
        return trpc__fail(-TRPC_E_BUFFER_FULL, "send buffer full (%zu bytes not sent yet, bound %zu)", unsent, c->opts.send_buffer);
    err = trpc__buf_reserve(&c->fill, (size_t)n);
    if (err)
        return trpc__fail(err, "send buffer: out of memory");
    wire_encode_sized(c->fill.data + c->fill.len, c->fill.cap - c->fill.len, o, (size_t)n);
    c->fill.len += (size_t)n;
    if (o->type != WIRE_PUB || (o->flags & WIRE_F_ACK_REQ))
        c->fill_urgent = true;
    if (c->send_idle) {
        c->send_idle = false;
        *wake = true;
    } else if (c->holding && (c->fill_urgent || c->fill.len - c->fill.off >= trpc__hold_bytes(c))) {
        c->holding = false;
        *wake = true;
    }
    return 0;
}

bool trpc__direct_allowed(const trpc_client *c, bool waiter)
{
    if (c->direct_fd < 0 || !c->send_idle || c->fill.len != 0)
        return false;
    if (!c->has_io_thread || pthread_equal(pthread_self(), c->io_tid))
        return false; /* the I/O side sends anyway once its callbacks return */
    return waiter || trpc__disp_caller_idle(c);
}

int trpc__enqueue_direct_locked(trpc_client *c, const struct wire_out *o, bool waiter, bool *wake)
{
    bool direct = trpc__direct_allowed(c, waiter);
    int err;

    err = trpc__enqueue_locked(c, o, false, wake);
    if (err == 0 && direct)
        trpc__send_direct_locked(c, wake);
    return err;
}

void trpc__send_direct_locked(trpc_client *c, bool *wake)
{
    ssize_t n;

    assert(*wake);
    assert(c->fill.off == 0);
    n = send(c->direct_fd, c->fill.data, c->fill.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == (ssize_t)c->fill.len) {
        c->fill.len = 0;
        c->send_idle = true;
        *wake = false;
        return;
    }
    /* A short send, EAGAIN, or an error the I/O thread will meet on the socket too: it takes over
     * from the first byte not sent. */
    if (n > 0)
        c->fill.off = (size_t)n;
}

/*
 * After a connection loss only publishes stay buffered: SUB/UNSUB are replayed from the
 * subscription table, and REQ/REP/ACK/PING belong to the session that died.
 */
void trpc__keep_only_pubs(struct trpc__buf *b)
{
    size_t rd = 0, wr = 0;

    while (rd + WIRE_FIXED_LEN <= b->len) {
        const uint8_t *f = b->data + rd;
        uint32_t len = (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 | (uint32_t)f[3] << 24;

        assert(len >= WIRE_FIXED_LEN);
        assert(rd + len <= b->len);
        if (b->data[rd + 4] == WIRE_PUB) {
            if (wr != rd)
                memmove(b->data + wr, b->data + rd, len);
            wr += len;
        }
        rd += len;
    }
    assert(rd == b->len);
    b->len = wr;
}

/*
 * Drops the frames of b (whole ones, from fill.off 0: what a lost session left, and what was
 * appended while reconnecting) that lim refuses: frames above max_frame, topics above max_topic, header blocks
 * above max_header_bytes or max_headers. Returns how many went.
 */
size_t trpc__drop_over_limits(struct trpc__buf *b, const struct wire_limits *lim)
{
    size_t rd = 0, wr = 0, dropped = 0;

    assert(b->off == 0);
    while (rd + WIRE_FIXED_LEN <= b->len) {
        const uint8_t *f = b->data + rd;
        uint32_t len = (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 | (uint32_t)f[3] << 24;
        struct wire_frame fr;

        assert(len >= WIRE_FIXED_LEN);
        assert(rd + len <= b->len);
        if (wire_decode(b->data + rd, len, lim, &fr) == (ssize_t)len) {
            if (wr != rd)
                memmove(b->data + wr, b->data + rd, len);
            wr += len;
        } else {
            dropped++;
        }
        rd += len;
    }
    assert(rd == b->len);
    b->len = wr;
    return dropped;
}
