/*
 * Gates: foreign sends on a connection (uring.h, "foreign sends"). Every transition of a gate is
 * made here. The gate word is gen << 32 | GATE_WANTED? | state:
 *
 *   CLOSED   no connection uses the gate (zeroed memory, or its connection is closing)
 *   IDLE     the owner has nothing queued or in flight: a foreign sender may take it
 *   OWNER    the owner holds it (CONN_GATE_HELD): output queued or in flight
 *   FOREIGN  a foreign sender is inside its sendmsg
 *   REST     a foreign send was short: _rest holds what is left, for the owner alone
 *
 * GATE_WANTED, set by the owner on FOREIGN, says the owner waits for the gate: the sender's release
 * keeps it, and a word with it set never matches a sender's expected IDLE, so no second foreign send
 * slips in before the owner takes the gate back.
 *
 * Foreign: IDLE -> FOREIGN (acquire), then FOREIGN -> IDLE or REST (release, GATE_WANTED kept).
 * Owner: IDLE or REST -> OWNER (acquire; from REST it takes the rest), FOREIGN -> FOREIGN|WANTED,
 * OWNER -> IDLE when drained, OWNER -> CLOSED before the fd closes (or for good, on
 * uring_conn_gate_close). Every transition checks gen, so a sender holding an old generation finds
 * nothing to take; _fd and _rest are written by the side that holds the gate and read by the next
 * holder after its acquire, so neither needs to be atomic.
 *
 * The owner never blocks on a foreign sender: it pauses for at most GATE_SPIN_NS (a sender holds
 * the gate across one non-blocking sendmsg, a few microseconds), and if the sender is still inside
 * (preempted in the syscall) its connection waits on loop->_gate_wait with CONN_GATE_WAIT: output
 * is queued but no send starts, and each iteration of the loop tries the gate again before it
 * flushes (uring__gate_retry), waiting for completions with a timeout meanwhile (loop.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "uring/internal.h"

#define GATE_SPIN_NS    4000U /* how long the owner pauses for a foreign sendmsg before deferring */
#define GATE_SPIN_CHECK 16U   /* pauses between two looks at the clock */

static unsigned gate_state(uint64_t w)
{
    return (unsigned)(w & GATE_STATE_MASK);
}

/* The foreign sender's release: to IDLE or REST, keeping GATE_WANTED if the owner set it meanwhile
 * (the only other change the word may see while FOREIGN). */
static void foreign_release(struct uring_gate *g, uint32_t gen, unsigned st)
{
    uint64_t w = gate_word(gen, GATE_FOREIGN);

    while (!atomic_compare_exchange_weak_explicit(&g->_word, &w, gate_word(gen, st) | (w & GATE_WANTED), memory_order_release,
                                                  memory_order_relaxed)) {
        URING_ASSERT(gate_state(w) == GATE_FOREIGN);
        URING_ASSERT((uint32_t)(w >> 32) == gen);
    }
}

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

        foreign_release(g, gen, GATE_IDLE);
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
    foreign_release(g, gen, GATE_REST);
    return URING_GATE_REST;
}

bool uring_gate_idle(const struct uring_gate *g, uint32_t gen)
{
    return atomic_load_explicit(&g->_word, memory_order_relaxed) == gate_word(gen, GATE_IDLE);
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

    if (c->_state & CONN_GATE_OFF)
        return;
    URING_ASSERT(c->_gate == NULL);
    URING_ASSERT(gen != 0);
    URING_ASSERT(gate_state(atomic_load_explicit(&g->_word, memory_order_relaxed)) == GATE_CLOSED);
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

/* A short foreign send's rest goes out before anything the owner queued. */
static void take_rest(struct uring_conn *c, struct uring_gate *g)
{
    unsigned char *rest = g->_rest;
    size_t len = g->_rest_len;

    g->_rest = NULL;
    g->_rest_len = 0;
    URING_STAT_ADD(c->loop, gate_rests, 1);
    if (rest == NULL || uring__send_prepend(c, rest, len) != 0) {
        free(rest);
        uring__conn_fail(c, -ENOMEM); /* the peer's stream ends inside a frame */
        return;
    }
    free(rest);
}

/*
 * One attempt: true once the owner holds the gate (a rest taken), false while a foreign sender is
 * inside, after marking the gate GATE_WANTED so the next sender stays out.
 */
static bool gate_take(struct uring_conn *c)
{
    struct uring_gate *g = c->_gate;
    uint64_t w = atomic_load_explicit(&g->_word, memory_order_relaxed);

    for (;;) {
        unsigned st = gate_state(w);

        URING_ASSERT((uint32_t)(w >> 32) == c->_gate_gen);
        if (st == GATE_FOREIGN) {
            if (w & GATE_WANTED)
                return false;
            if (atomic_compare_exchange_weak_explicit(&g->_word, &w, w | GATE_WANTED, memory_order_relaxed, memory_order_relaxed))
                return false;
            continue;
        }
        URING_ASSERT(st == GATE_IDLE || st == GATE_REST);
        if (atomic_compare_exchange_weak_explicit(&g->_word, &w, gate_word(c->_gate_gen, GATE_OWNER), memory_order_acquire,
                                                  memory_order_relaxed))
            break;
    }
    c->_state |= CONN_GATE_HELD;
    if (gate_state(w) == GATE_REST)
        take_rest(c, g);
    return true;
}

/*
 * Writes meet a foreign sender only when both aim at the same connection at the same instant
 * (gate_waits counts them); a sender preempted inside its sendmsg is rarer still (gate_defers).
 */
bool uring__gate_hold(struct uring_conn *c)
{
    uint64_t until = 0;

    if (c->_gate == NULL || (c->_state & CONN_GATE_HELD))
        return true;
    if (c->_state & CONN_GATE_WAIT)
        return false; /* the loop retries before its next flush */
    if (gate_take(c))
        return true;
    URING_STAT_ADD(c->loop, gate_waits, 1);
    for (;;) {
        uint64_t now;

        for (unsigned i = 0; i < GATE_SPIN_CHECK; i++) {
            cpu_relax();
            if (gate_take(c))
                return true;
        }
        now = uring_now_ns();
        if (until == 0)
            until = now + GATE_SPIN_NS;
        else if (now >= until)
            break;
    }
    c->_state |= CONN_GATE_WAIT;
    ulist_add_tail(&c->loop->_gate_wait, &c->_gate_node);
    URING_STAT_ADD(c->loop, gate_defers, 1);
    return false;
}

/* Before each flush: takes back the gates whose foreign sender has left; their output then goes
 * in this flush, a rest first. */
void uring__gate_retry(struct uring_loop *loop)
{
    struct uring_list *n = loop->_gate_wait.next;

    while (n != &loop->_gate_wait) {
        struct uring_conn *c = ulist_entry(n, struct uring_conn, _gate_node);

        n = n->next; /* nothing below frees a connection: on_close runs from the flush only */
        URING_ASSERT(c->_state & CONN_GATE_WAIT);
        if (!gate_take(c))
            continue;
        ulist_del(&c->_gate_node);
        c->_state &= ~CONN_GATE_WAIT;
        if (c->_state & CONN_GATE_OFF)
            uring__gate_close(c);   /* uring_conn_gate_close() came while the sender was inside */
        uring__conn_queue_flush(c); /* sends what waited, or finishes a close */
        uring__gate_release(c);     /* nothing queued after all: idle again */
    }
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
    URING_ASSERT(c->_state & CONN_GATE_HELD); /* taken by uring_conn_close or uring_conn_gate_close */
    atomic_store_explicit(&c->_gate->_word, gate_word(c->_gate_gen, GATE_CLOSED), memory_order_release);
    c->_gate = NULL;
    c->_state &= ~CONN_GATE_HELD;
}

/* The rest of a foreign send still waiting is the peer's stream: it is queued before the gate
 * closes. With a sender inside, the close completes in uring__gate_retry. */
void uring_conn_gate_close(struct uring_conn *c)
{
    URING_ASSERT(!(c->_state & CONN_CLOSED));
    c->_state |= CONN_GATE_OFF;
    if (uring__gate_hold(c))
        uring__gate_close(c);
}

void uring_conn_gate_poll(struct uring_conn *c)
{
    struct uring_gate *g = c->_gate;

    if (g == NULL || (c->_state & (CONN_GATE_HELD | CONN_GATE_WAIT)))
        return;
    if (gate_state(atomic_load_explicit(&g->_word, memory_order_relaxed)) != GATE_REST)
        return;
    uring__gate_hold(c);
    if (!(c->_state & CONN_SEND_INFLIGHT) && uring__send_pending(c))
        uring__conn_queue_flush(c);
}
