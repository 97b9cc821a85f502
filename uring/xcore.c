/*
 * Cross-core channels (design.md section 4, Seastar's design): a bounded SPSC queue per ordered
 * pair of loops, and one IORING_OP_MSG_RING per batch as the doorbell. The src loop pushes during
 * an iteration; before its next submit it rings each dirty channel once (uring__xchan_ring_bells).
 * The doorbell CQE on the dst ring carries the channel pointer tagged URING_TAG_BELL; the dst
 * drains the queue in place.
 *
 * Credits: _bells counts doorbells sent and not yet consumed; the src rings only while
 * _bells < _credits, so the dst CQ holds at most _credits doorbell CQEs per channel. When the src
 * skips a ring because credits are used up, the dst is guaranteed to see the skipped messages:
 *   src: store _tail (seq_cst), then load _bells (seq_cst)
 *   dst: fetch_sub _bells (seq_cst), then load _tail (seq_cst)
 * In the single total order either the src load sees the decrement (and rings again) or the dst
 * load sees the new tail (and drains the message). A dst drains exactly the snapshot it loaded;
 * anything pushed later is followed by a load of _bells that sees the decrement, hence a ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "uring/internal.h"

static void bell_src_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    struct uring_xchan *ch = (struct uring_xchan *)(void *)((char *)op - offsetof(struct uring_xchan, _bell_op));

    (void)flags;
    if (res >= 0)
        return;
    /* The doorbell never reached the dst: give its credit back and ring again next iteration,
     * unless the dst ring is gone (then nothing will ever drain). */
    ch->bell_errors++;
    atomic_fetch_sub(&ch->_bells, 1);
    if ((res == -EOVERFLOW || res == -EAGAIN || res == -EBUSY) && !loop->_closing)
        if (ch->_bell_node.next == &ch->_bell_node)
            ulist_add_tail(&loop->_bells, &ch->_bell_node);
}

int uring_xchan_init(struct uring_xchan *ch, struct uring_loop *src, struct uring_loop *dst, unsigned capacity, unsigned credits,
                     uring_xchan_cb *cb)
{
    if (capacity == 0 || (capacity & (capacity - 1)) != 0 || credits == 0)
        return -EINVAL;
    memset(ch, 0, sizeof(*ch));
    ch->_slots = calloc(capacity, sizeof(*ch->_slots));
    if (ch->_slots == NULL)
        return -ENOMEM;
    ch->src = src;
    ch->dst = dst;
    ch->cb = cb;
    ch->_mask = capacity - 1;
    ch->_credits = credits;
    ch->_bell_op.cb = bell_src_done;
    ulist_init(&ch->_bell_node);
    atomic_init(&ch->_tail, 0);
    atomic_init(&ch->_head, 0);
    atomic_init(&ch->_bells, 0);
    return 0;
}

void uring_xchan_destroy(struct uring_xchan *ch)
{
    ulist_del(&ch->_bell_node);
    free(ch->_slots);
    ch->_slots = NULL;
}

unsigned uring_xchan_drain(struct uring_xchan *ch)
{
    uint32_t head = atomic_load(&ch->_head), tail = atomic_load(&ch->_tail);
    unsigned n = 0;

    URING_ASSERT(tail - head <= ch->_mask + 1);
    while (head != tail) {
        struct uring_xmsg msg = ch->_slots[head & ch->_mask];

        head++;
        atomic_store(&ch->_head, head);
        ch->cb(ch, &msg);
        n++;
    }
    return n;
}

int uring_xchan_push(struct uring_xchan *ch, const struct uring_xmsg *msg)
{
    uint32_t tail = atomic_load_explicit(&ch->_tail, memory_order_relaxed);

    if (tail - ch->_head_cache > ch->_mask) {
        ch->_head_cache = atomic_load_explicit(&ch->_head, memory_order_acquire);
        if (tail - ch->_head_cache > ch->_mask)
            return -EAGAIN;
    }
    ch->_slots[tail & ch->_mask] = *msg;
    atomic_store(&ch->_tail, tail + 1);
    if (ch->_bell_node.next == &ch->_bell_node)
        ulist_add_tail(&ch->src->_bells, &ch->_bell_node);
    return 0;
}

static void ring_one(struct uring_loop *loop, struct uring_xchan *ch)
{
    struct io_uring_sqe *sqe;
    uint32_t prev;

    if (atomic_load(&ch->_bells) >= ch->_credits)
        return;
    sqe = loop->cqe_skip ? uring__sqe_uncounted(loop, &ch->_bell_op) : uring_loop_sqe(loop, &ch->_bell_op);
    if (sqe == NULL) {
        ulist_add_tail(&loop->_bells, &ch->_bell_node);
        return;
    }
    prev = atomic_fetch_add(&ch->_bells, 1);
    URING_ASSERT(prev < ch->_credits);
    io_uring_prep_msg_ring(sqe, ch->dst->ring.ring_fd, 0, (uint64_t)(uintptr_t)ch | URING_TAG_BELL, 0);
    if (loop->cqe_skip)
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    URING_STAT_ADD(loop, bells_sent, 1);
}

void uring__xchan_ring_bells(struct uring_loop *loop)
{
    struct uring_list pending;

    /* Move the list aside: ring_one may put a channel back for the next iteration. */
    if (ulist_empty(&loop->_bells))
        return;
    pending = loop->_bells;
    pending.next->prev = &pending;
    pending.prev->next = &pending;
    ulist_init(&loop->_bells);
    while (!ulist_empty(&pending)) {
        struct uring_xchan *ch = ulist_entry(pending.next, struct uring_xchan, _bell_node);

        ulist_del(&ch->_bell_node);
        URING_ASSERT(ch->src == loop);
        ring_one(loop, ch);
    }
}

void uring__xchan_bell(struct uring_loop *loop, struct uring_xchan *ch)
{
    uint32_t head, tail;

    URING_ASSERT(ch->dst == loop);
    URING_STAT_ADD(loop, bells_received, 1);
    atomic_fetch_sub(&ch->_bells, 1);
    head = atomic_load_explicit(&ch->_head, memory_order_relaxed);
    tail = atomic_load(&ch->_tail);
    URING_ASSERT(tail - head <= ch->_mask + 1);
    while (head != tail) {
        struct uring_xmsg msg = ch->_slots[head & ch->_mask];

        /* The slot is copied out, but the head moves only once the callback has returned:
         * uring_xchan_quiet() promises the src that the message was handled, not just taken. */
        ch->cb(ch, &msg);
        head++;
        atomic_store_explicit(&ch->_head, head, memory_order_release);
    }
}

bool uring_xchan_quiet(struct uring_xchan *ch)
{
    uint32_t tail = atomic_load_explicit(&ch->_tail, memory_order_relaxed);

    if (ch->_head_cache == tail)
        return true;
    ch->_head_cache = atomic_load_explicit(&ch->_head, memory_order_acquire);
    return ch->_head_cache == tail;
}
