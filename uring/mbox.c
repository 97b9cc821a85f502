/*
 * Mailboxes (docs/uring.md section 8b): a bounded MPSC queue of struct uring_xmsg that any thread
 * may post to, with an eventfd as the doorbell. uring_mbox_post() from any thread; the consumer is
 * either a loop (uring_mbox_attach, loop thread) or one plain thread (uring_mbox_fd +
 * uring_mbox_drain); uring_mbox_init/destroy around all of it. uring/uring.h has the contract.
 *
 * The queue is Dmitry Vyukov's bounded MPMC array queue, used with one consumer: slot i's seq
 * starts at i. A producer claims position pos when slot[pos & mask].seq == pos (CAS on _tail),
 * writes the message and stores seq = pos + 1 (release). The consumer at _head takes the slot when
 * seq == head + 1 (acquire), copies the message out and stores seq = head + capacity (release),
 * handing the slot to the producer of the next lap. A slot whose seq is still behind pos means the
 * queue is full: post returns -EAGAIN and never waits.
 *
 * The doorbell. _rung is true from a producer's ring until the consumer next finds the queue
 * empty, and every access to it is a sequentially consistent read-modify-write (or, in ring_self,
 * a store by the consumer, which only causes a wake-up):
 *   producer: publish the slot (release); if exchange(_rung, true) returned false, write the eventfd
 *   consumer: (the eventfd read completed or was reset) drain until the queue looks empty, then
 *             exchange(_rung, false), then drain again
 * Why no wake-up is lost. All exchanges on _rung form one modification order M, and each reads
 * the value just before it in M; since they are all read-modify-writes, a consumer exchange C
 * synchronises with every producer exchange before it in M, so a drain begun after C sees every
 * message whose post's exchange is before C in M. Take a message m whose exchange P is after the
 * consumer's latest C in M. If P read false, its producer rings. If P read true, the first
 * exchange after C (some P' <= P) read C's false and rang. Either way a ring follows, whose
 * eventfd write comes after P' in M; the consumer's next exchange comes after it reads the
 * eventfd, so after P' in M -- and, repeating the argument for the finite number of producer
 * exchanges between, eventually after P: m is drained. Spurious wake-ups (a ring whose messages a
 * drain already took) cost one empty drain and are harmless. A drain stops at a claimed slot not
 * yet filled; that slot's producer exchanges after filling it, which by the same argument causes
 * another drain.
 * (Messages taken before the clear need no argument: they were taken.) Clearing only once the
 * queue looked empty keeps _rung true while the consumer is busy, so posts then cost no syscall:
 * one eventfd write per wake-up of a consumer that had caught up, not per message (mb->bells
 * counts them). A loop that stops after one capacity's worth (perhaps before it cleared _rung) sets
 * _rung and writes the eventfd itself (ring_self), so it comes back after its other CQEs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "uring/internal.h"

int uring_mbox_init(struct uring_mbox *mb, unsigned capacity, uring_mbox_cb *cb)
{
    struct uring_mbox_slot *slots;
    int efd;

    if (capacity == 0 || (capacity & (capacity - 1)) != 0 || capacity > (1U << 30) || cb == NULL)
        return -EINVAL;
    slots = calloc(capacity, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd == -1) {
        int err = -errno;

        free(slots);
        return err;
    }
    memset(mb, 0, sizeof(*mb));
    for (unsigned i = 0; i < capacity; i++)
        atomic_init(&slots[i].seq, i);
    atomic_init(&mb->_tail, 0);
    atomic_init(&mb->_rung, false);
    atomic_init(&mb->bells, 0);
    mb->_slots = slots;
    mb->_mask = capacity - 1;
    mb->_efd = efd;
    mb->cb = cb;
    return 0;
}

static void ring(struct uring_mbox *mb)
{
    uint64_t one = 1;

    if (atomic_exchange(&mb->_rung, true))
        return;
    atomic_fetch_add_explicit(&mb->bells, 1, memory_order_relaxed);
    /* An eventfd write fails or blocks only when the counter would pass 2^64 - 2: one write per
     * drain never gets there. */
    if (write(mb->_efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        URING_ASSERT(!"eventfd write failed");
}

int uring_mbox_post(struct uring_mbox *mb, const struct uring_xmsg *msg)
{
    uint32_t pos = atomic_load_explicit(&mb->_tail, memory_order_relaxed);
    struct uring_mbox_slot *s;

    for (;;) {
        uint32_t seq;
        int32_t dif;

        s = &mb->_slots[pos & mb->_mask];
        seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        dif = (int32_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&mb->_tail, &pos, pos + 1, memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return -EAGAIN; /* the consumer has not taken this slot's message of the last lap */
        } else {
            pos = atomic_load_explicit(&mb->_tail, memory_order_relaxed);
        }
    }
    s->msg = *msg;
    atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
    ring(mb);
    return 0;
}

/* Consumer: takes the next message if it is there. */
static bool take(struct uring_mbox *mb, struct uring_xmsg *out)
{
    struct uring_mbox_slot *s = &mb->_slots[mb->_head & mb->_mask];
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);

    if (seq != mb->_head + 1)
        return false;
    *out = s->msg;
    atomic_store_explicit(&s->seq, mb->_head + mb->_mask + 1, memory_order_release);
    mb->_head++;
    return true;
}

/* Consumer: hands up to `max` messages to cb; the slot is free again before cb runs, so cb may
 * post to this mailbox. The doorbell is cleared only once the queue looked empty (or stopped at a
 * slot not yet filled), and the queue looked at again after: while the consumer keeps finding
 * messages, posts find _rung true and make no syscall. */
static unsigned drain_upto(struct uring_mbox *mb, unsigned max)
{
    struct uring_xmsg msg;
    unsigned n = 0;
    bool cleared = false;

    while (n < max) {
        if (!take(mb, &msg)) {
            if (cleared)
                break;
            atomic_exchange(&mb->_rung, false);
            cleared = true;
            continue;
        }
        n++;
        mb->drained++;
        mb->cb(mb, &msg);
    }
    return n;
}

/* The consumer stopped at its budget, perhaps with messages left and _rung still true, which keeps
 * producers from ringing: it writes the eventfd itself. */
static void ring_self(struct uring_mbox *mb)
{
    uint64_t one = 1;

    atomic_store(&mb->_rung, true);
    atomic_fetch_add_explicit(&mb->bells, 1, memory_order_relaxed);
    if (write(mb->_efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        URING_ASSERT(!"eventfd write failed");
}

static int arm(struct uring_mbox *mb)
{
    struct io_uring_sqe *sqe = uring_loop_sqe(mb->loop, &mb->_op);

    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_read(sqe, mb->_efd, &mb->_efd_value, sizeof(mb->_efd_value), 0);
    mb->_armed = true;
    return 0;
}

/* The eventfd read completed: the counter is reset (res 8), so a ring from now on completes the
 * next read. Drain one lap at most; if more wait, ring ourselves so the loop comes back to them
 * after the other CQEs of this iteration. */
static void read_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    struct uring_mbox *mb = (struct uring_mbox *)(void *)((char *)op - offsetof(struct uring_mbox, _op));

    (void)flags;
    URING_ASSERT(mb->loop == loop);
    mb->_armed = false;
    if (res == -ECANCELED)
        return; /* the loop is being destroyed; uring_mbox_destroy discards what is left */
    if (drain_upto(mb, mb->_mask + 1) == mb->_mask + 1)
        ring_self(mb); /* more may wait, and _rung may still be true: come back */
    if (loop->_closing)
        return;
    /* A read that failed for good would fail again at once: stop rather than spin. */
    if ((res < 0 && res != -EINTR && res != -EAGAIN) || arm(mb) != 0)
        mb->arm_errors++;
}

int uring_mbox_attach(struct uring_mbox *mb, struct uring_loop *loop)
{
    int fl = fcntl(mb->_efd, F_GETFL);

    URING_ASSERT(mb->loop == NULL);
    URING_ASSERT(!mb->_armed);
    if (fl == -1 || fcntl(mb->_efd, F_SETFL, fl & ~O_NONBLOCK) == -1)
        return -errno;
    mb->loop = loop;
    mb->_op.cb = read_done;
    if (arm(mb) != 0) {
        mb->loop = NULL;
        fcntl(mb->_efd, F_SETFL, fl);
        return -EBUSY;
    }
    return 0;
}

int uring_mbox_fd(const struct uring_mbox *mb)
{
    return mb->_efd;
}

unsigned uring_mbox_drain(struct uring_mbox *mb)
{
    uint64_t v;

    URING_ASSERT(mb->loop == NULL);
    /* Reset the counter before _rung is cleared: a ring after the clear makes the fd readable
     * again. */
    if (read(mb->_efd, &v, sizeof(v)) == -1)
        URING_ASSERT(errno == EAGAIN);
    return drain_upto(mb, UINT32_MAX);
}

unsigned uring_mbox_drain_max(struct uring_mbox *mb, unsigned max)
{
    uint64_t v;
    unsigned n;

    URING_ASSERT(mb->loop == NULL);
    if (read(mb->_efd, &v, sizeof(v)) == -1)
        URING_ASSERT(errno == EAGAIN);
    n = drain_upto(mb, max);
    if (n == max)
        ring_self(mb); /* stopped at the budget: the fd says so, as for an attached loop */
    return n;
}

unsigned uring_mbox_destroy(struct uring_mbox *mb, uring_mbox_cb *discard)
{
    struct uring_xmsg msg;
    unsigned n = 0;

    if (mb->_slots == NULL)
        return 0; /* all-zero, or destroyed already */
    URING_ASSERT(!mb->_armed);
    while (take(mb, &msg)) {
        n++;
        if (discard != NULL)
            discard(mb, &msg);
    }
    close(mb->_efd);
    mb->_efd = -1;
    free(mb->_slots);
    mb->_slots = NULL;
    mb->loop = NULL;
    return n;
}
