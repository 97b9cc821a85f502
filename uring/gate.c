/*
 * Gates: foreign sends on a connection (uring.h, "foreign sends"). The gate word is
 * gen << 32 | state:
 *
 *   CLOSED   no connection uses the gate (zeroed memory, or its connection is closing)
 *   IDLE     the owner has nothing queued or in flight: a foreign sender may take it
 *   OWNER    the owner's send path holds it (send.c: CONN_GATE_HELD)
 *   FOREIGN  a foreign sender is inside its sendmsg
 *   REST     a foreign send was short: _rest holds what is left, for the owner alone
 *
 * Foreign: IDLE -> FOREIGN (acquire), then FOREIGN -> IDLE or REST (release). Owner: IDLE -> OWNER
 * (acquire), REST -> OWNER (acquire, takes the rest), OWNER -> IDLE when drained, OWNER -> CLOSED
 * before the fd closes. Every transition checks gen, so a sender holding an old generation finds
 * nothing to take; _fd and _rest are written by the side that holds the gate and read by the next
 * holder after its acquire, so neither needs to be atomic.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "uring/internal.h"

int uring_gate_send(struct uring_gate *g, uint32_t gen, const struct iovec *iov, unsigned n)
{
    uint64_t w = gate_word(gen, GATE_IDLE);
    struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
    size_t total = 0, skip;
    unsigned char *rest;
    ssize_t ret;

    for (unsigned i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (!atomic_compare_exchange_strong_explicit(&g->_word, &w, gate_word(gen, GATE_FOREIGN), memory_order_acquire,
                                                 memory_order_relaxed))
        return -EBUSY;
    do
        ret = sendmsg(g->_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (ret < 0 && errno == EINTR);
    if (ret < 0 || (size_t)ret == total) {
        int err = ret < 0 ? -errno : URING_GATE_SENT;

        atomic_store_explicit(&g->_word, gate_word(gen, GATE_IDLE), memory_order_release);
        return err;
    }
    /* The peer's socket took part of it: the stream now ends inside a frame, and only the owner
     * may go on. A rest that cannot be kept (no memory) makes the owner cut the connection. */
    skip = (size_t)ret;
    rest = malloc(total - skip);
    if (rest != NULL) {
        size_t at = 0;

        for (unsigned i = 0; i < n; i++) {
            size_t len = iov[i].iov_len, off = 0;

            if (skip >= len) {
                skip -= len;
                continue;
            }
            off = skip;
            skip = 0;
            memcpy(rest + at, (const unsigned char *)iov[i].iov_base + off, len - off);
            at += len - off;
        }
    }
    g->_rest = rest;
    g->_rest_len = (uint32_t)(total - (size_t)ret);
    atomic_store_explicit(&g->_word, gate_word(gen, GATE_REST), memory_order_release);
    return URING_GATE_REST;
}

/* ---- the owner's side ------------------------------------------------------------------------- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void uring_conn_gate_open(struct uring_conn *c, struct uring_gate *g, uint32_t gen)
{
    bool busy = uring__send_pending(c) || (c->_state & CONN_SEND_INFLIGHT);

    URING_ASSERT(c->_gate == NULL && gen != 0);
    URING_ASSERT((atomic_load_explicit(&g->_word, memory_order_relaxed) & 0xff) == GATE_CLOSED);
    if (c->_state & CONN_CLOSING)
        return;
    g->_fd = c->fd;
    g->_rest = NULL;
    g->_rest_len = 0;
    c->_gate = g;
    c->_gate_gen = gen;
    if (busy)
        c->_state |= CONN_GATE_HELD;
    atomic_store_explicit(&g->_word, gate_word(gen, busy ? GATE_OWNER : GATE_IDLE), memory_order_release);
}

/* A short foreign send's rest goes out first. */
static void take_rest(struct uring_conn *c, struct uring_gate *g)
{
    unsigned char *rest = g->_rest;
    size_t len = g->_rest_len;

    URING_ASSERT(c->_head == NULL);
    g->_rest = NULL;
    g->_rest_len = 0;
    c->loop->stats.gate_rests++;
    if (rest == NULL || uring__send_prepend(c, rest, len) != 0) {
        free(rest);
        uring__conn_fail(c, -ENOMEM); /* the peer's stream ends inside a frame */
        return;
    }
    free(rest);
}

/*
 * A foreign sender holds the gate across one non-blocking sendmsg, so waiting for it is waiting
 * for one syscall on another core: pause a little, then yield in case that thread was preempted
 * on this CPU. Writes meet a foreign sender only when both aim at the same connection at the same
 * instant (gate_waits counts them).
 */
void uring__gate_hold(struct uring_conn *c)
{
    struct uring_gate *g = c->_gate;
    bool waited = false;

    if (g == NULL || (c->_state & CONN_GATE_HELD))
        return;
    for (unsigned spins = 0;; spins++) {
        uint64_t w = atomic_load_explicit(&g->_word, memory_order_relaxed);
        unsigned st = (unsigned)(w & 0xff);

        URING_ASSERT((uint32_t)(w >> 32) == c->_gate_gen);
        if (st == GATE_IDLE || st == GATE_REST) {
            if (!atomic_compare_exchange_strong_explicit(&g->_word, &w, gate_word(c->_gate_gen, GATE_OWNER), memory_order_acquire,
                                                         memory_order_relaxed))
                continue;
            c->_state |= CONN_GATE_HELD;
            if (st == GATE_REST)
                take_rest(c, g);
            break;
        }
        URING_ASSERT(st == GATE_FOREIGN);
        waited = true;
        if (spins < 64)
            cpu_relax();
        else
            sched_yield();
    }
    if (waited)
        c->loop->stats.gate_waits++;
}

void uring__gate_release(struct uring_conn *c)
{
    if (!(c->_state & CONN_GATE_HELD) || (c->_state & (CONN_CLOSING | CONN_SEND_INFLIGHT)) || uring__send_pending(c))
        return;
    c->_state &= ~CONN_GATE_HELD;
    atomic_store_explicit(&c->_gate->_word, gate_word(c->_gate_gen, GATE_IDLE), memory_order_release);
}

void uring__gate_close(struct uring_conn *c)
{
    if (c->_gate == NULL)
        return;
    URING_ASSERT(c->_state & CONN_GATE_HELD); /* taken by uring_conn_close */
    atomic_store_explicit(&c->_gate->_word, gate_word(c->_gate_gen, GATE_CLOSED), memory_order_release);
    c->_gate = NULL;
}

void uring_conn_gate_poll(struct uring_conn *c)
{
    struct uring_gate *g = c->_gate;

    if (g == NULL || (c->_state & CONN_GATE_HELD))
        return;
    if ((atomic_load_explicit(&g->_word, memory_order_relaxed) & 0xff) != GATE_REST)
        return;
    uring__gate_hold(c);
    if (!(c->_state & CONN_SEND_INFLIGHT) && uring__send_pending(c))
        uring__conn_queue_flush(c);
}
