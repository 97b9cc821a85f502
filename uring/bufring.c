/*
 * The loop's provided buffer ring (group URING_BGID): buf_count buffers of buf_size bytes in one
 * mapping, registered at loop start. The kernel picks a buffer per received chunk and names it in
 * the CQE (IORING_CQE_F_BUFFER, id in the upper 16 bits); from then on it is the consumer's until
 * uring_buf_put() gives it back. Only the loop's own thread touches the ring tail.
 *
 * uring_loop_bufs_release() gives the pages back once a load ended: the kernel consumes the ring
 * in order, so any sustained load touches every buffer, and those pages stay resident. It swaps
 * the registered ring for a fresh one over the same buffers, madvise()d in between (see there).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "uring/compat.h"
#include "uring/internal.h"

#define URING_BGID 0

static void add_buf(struct uring_loop *loop, unsigned bid, int offset)
{
    io_uring_buf_ring_add(loop->_br, loop->_bufs + (size_t)bid * loop->_buf_size, loop->_buf_size, (unsigned short)bid,
                          io_uring_buf_ring_mask(loop->_buf_count), offset);
}

/* Marks a buffer that went through a consumer since the last release: the refill leaves it alone
 * (it is out, or uring_buf_put added it to the new ring already). */
static void touch(struct uring_loop *loop, unsigned bid)
{
    loop->_bufs_touched[bid / 64] |= 1ULL << (bid % 64);
}

int uring__bufring_init(struct uring_loop *loop, unsigned count, unsigned size)
{
    int err = 0;

    URING_ASSERT(count > 0);
    URING_ASSERT((count & (count - 1)) == 0);
    loop->_bufs_len = (size_t)count * size;
    loop->_bufs = mmap(NULL, loop->_bufs_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (loop->_bufs == MAP_FAILED) {
        loop->_bufs = NULL;
        return -errno;
    }
    loop->_bufs_touched = calloc((count + 63) / 64, sizeof(uint64_t));
    if (loop->_bufs_touched == NULL) {
        err = -ENOMEM;
        goto out_unmap;
    }
    loop->_br = compat_setup_buf_ring(&loop->ring, count, URING_BGID, 0, &err);
    if (loop->_br == NULL)
        goto out_free_touched;
    loop->_buf_count = count;
    loop->_buf_size = size;
    for (unsigned i = 0; i < count; i++)
        add_buf(loop, i, (int)i);
    io_uring_buf_ring_advance(loop->_br, (int)count);
    return 0;

out_free_touched:
    free(loop->_bufs_touched);
    loop->_bufs_touched = NULL;
out_unmap:
    munmap(loop->_bufs, loop->_bufs_len);
    loop->_bufs = NULL;
    return err;
}

void uring__bufring_free(struct uring_loop *loop)
{
    if (loop->_br != NULL)
        compat_free_buf_ring(&loop->ring, loop->_br, loop->_buf_count, URING_BGID);
    loop->_br = NULL;
    if (loop->_bufs != NULL)
        munmap(loop->_bufs, loop->_bufs_len);
    loop->_bufs = NULL;
    free(loop->_bufs_touched);
    loop->_bufs_touched = NULL;
}

void uring__buf_taken(struct uring_loop *loop, unsigned bid)
{
    URING_ASSERT(bid < loop->_buf_count);
    URING_ASSERT(loop->_bufs_out < loop->_buf_count);
    loop->_bufs_out++;
    URING_STAT_ADD(loop, recv_bufs, 1);
    if (loop->_bufs_refill)
        touch(loop, bid);
}

/* While a refill is due the ring does not hold the free buffers: a conn waiting for buffers would
 * only get ENOBUFS again, so it waits for the refill. */
unsigned uring__bufs_free(const struct uring_loop *loop)
{
    if (loop->_bufs_refill)
        return 0;
    return loop->_buf_count - loop->_bufs_out;
}

void *uring_buf_data(const struct uring_loop *loop, unsigned bid)
{
    URING_ASSERT(bid < loop->_buf_count);
    return loop->_bufs + (size_t)bid * loop->_buf_size;
}

void uring_buf_put(struct uring_loop *loop, unsigned bid)
{
    URING_ASSERT(bid < loop->_buf_count);
    URING_ASSERT(loop->_bufs_out > 0);
    loop->_bufs_out--;
    if (loop->_bufs_refill)
        touch(loop, bid);
    if (loop->_br == NULL)
        return; /* no ring (its registration failed): the next release or refill adds it */
    add_buf(loop, bid, 0);
    io_uring_buf_ring_advance(loop->_br, 1);
}

unsigned uring_loop_bufs_out(const struct uring_loop *loop)
{
    return loop->_bufs_out;
}

/*
 * Whether a CQE the loop has not dispatched yet may name a buffer: one after the CQE being
 * dispatched now (the loop walks the CQ in place and advances it at the end, loop.c), or one the
 * kernel holds in its overflow list, whose buffer ids we cannot see.
 */
static bool buf_cqe_pending(const struct uring_loop *loop)
{
    const struct io_uring_cq *cq = &loop->ring.cq;
    unsigned head = *cq->khead + loop->_cq_dispatched;
    unsigned tail = __atomic_load_n(cq->ktail, __ATOMIC_ACQUIRE);

    if (io_uring_cq_has_overflow(&loop->ring))
        return true;
    for (; head != tail; head++)
        if (cq->cqes[head & cq->ring_mask].flags & IORING_CQE_F_BUFFER)
            return true;
    return false;
}

/* Puts every buffer not touched since the release into the (empty) new ring. */
static void refill(struct uring_loop *loop)
{
    unsigned n = 0;

    URING_ASSERT(loop->_br != NULL);
    URING_ASSERT(loop->_bufs_refill);
    for (unsigned bid = 0; bid < loop->_buf_count; bid++)
        if (!(loop->_bufs_touched[bid / 64] & 1ULL << (bid % 64)))
            add_buf(loop, bid, (int)n++);
    io_uring_buf_ring_advance(loop->_br, (int)n);
    loop->_bufs_refill = false;
}

void uring__bufring_refill(struct uring_loop *loop)
{
    /* Called between iterations: the CQ is drained, so only the overflow list can still name a
     * buffer of the old ring. The new one stays empty meanwhile, so nothing else can. */
    if (loop->_br != NULL && !io_uring_cq_has_overflow(&loop->ring))
        refill(loop);
}

/*
 * Why swapping the ring under armed recvs is safe (checked against io_uring/kbuf.c and net.c,
 * 6.1 to 6.18): the kernel picks a buffer of a provided ring in io_buffer_select() /
 * io_ring_buffer_select() with ctx->uring_lock held, and io_unregister_pbuf_ring() runs under the
 * same lock (io_uring_register takes it), erasing the group and dropping its pages. A socket recv
 * is poll driven: it runs from task work (under DEFER_TASKRUN only when this thread enters the
 * kernel to wait), never from io-wq unless IOSQE_ASYNC, which we never set; the select, the copy
 * and the CQE (io_put_kbufs commits the head) happen in one locked pass. So once unregister
 * returns, no buffer of the old ring can be picked, and every one already picked is named by a
 * CQE in the CQ or in the overflow list. A recv that runs in the gap finds no group and completes
 * with -ENOBUFS without IORING_CQE_F_MORE, its bytes left in the socket: conn.c parks the conn on
 * loop->_nobuf and re-arms it at the next flush. Armed recvs look the group up by id at each
 * issue, so after the new registration they use the new ring.
 *
 * A CQE not yet dispatched may name a buffer (the pre-check sees those that were there before;
 * more may come from task work run on a return to user space before unregister, without
 * DEFER_TASKRUN). Such a buffer must neither be zeroed nor go into the new ring: then the new ring
 * starts empty, nothing is madvise()d, and the refill between iterations (uring__bufring_refill,
 * once the CQ and its overflow are drained) adds every buffer not handed out since.
 */
int uring_loop_bufs_release(struct uring_loop *loop)
{
    int err = 0;
    bool pending;

    URING_ASSERT(loop->_bufs != NULL);
    /* A refill still due with a ring registered waits for the CQ to drain; without a ring (its
     * registration failed) this is the retry. */
    if (loop->_bufs_out != 0 || (loop->_bufs_refill && loop->_br != NULL) || buf_cqe_pending(loop))
        return -EBUSY;
    if (loop->_br != NULL) {
        err = io_uring_unregister_buf_ring(&loop->ring, URING_BGID);
        if (err != 0)
            return err;
        munmap(loop->_br, (size_t)loop->_buf_count * sizeof(struct io_uring_buf));
        loop->_br = NULL;
    }
    pending = buf_cqe_pending(loop);
    if (!pending)
        madvise(loop->_bufs, loop->_bufs_len, MADV_DONTNEED);
    memset(loop->_bufs_touched, 0, (loop->_buf_count + 63) / 64 * sizeof(uint64_t));
    loop->_bufs_refill = true;
    loop->_br = compat_setup_buf_ring(&loop->ring, loop->_buf_count, URING_BGID, 0, &err);
    if (loop->_br == NULL)
        return err; /* every recv gets ENOBUFS until a release registers a ring again */
    if (pending)
        return -EBUSY;
    refill(loop);
    return 0;
}
