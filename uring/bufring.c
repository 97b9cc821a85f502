/*
 * The loop's provided buffer ring (group URING_BGID): buf_count buffers of buf_size bytes in one
 * mapping, registered once at loop start. The kernel picks a buffer per received chunk and names
 * it in the CQE (IORING_CQE_F_BUFFER, id in the upper 16 bits); from then on it is the consumer's
 * until uring_buf_put() gives it back. Only the loop's own thread touches the ring tail.
 */
#include <errno.h>
#include <sys/mman.h>

#include "uring/compat.h"
#include "uring/internal.h"

#define URING_BGID 0

static void add_buf(struct uring_loop *loop, unsigned bid, int offset)
{
    io_uring_buf_ring_add(loop->_br, loop->_bufs + (size_t)bid * loop->_buf_size, loop->_buf_size, (unsigned short)bid,
                          io_uring_buf_ring_mask(loop->_buf_count), offset);
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
    loop->_br = compat_setup_buf_ring(&loop->ring, count, URING_BGID, 0, &err);
    if (loop->_br == NULL) {
        munmap(loop->_bufs, loop->_bufs_len);
        loop->_bufs = NULL;
        return err;
    }
    loop->_buf_count = count;
    loop->_buf_size = size;
    for (unsigned i = 0; i < count; i++)
        add_buf(loop, i, (int)i);
    io_uring_buf_ring_advance(loop->_br, (int)count);
    return 0;
}

void uring__bufring_free(struct uring_loop *loop)
{
    if (loop->_br != NULL)
        compat_free_buf_ring(&loop->ring, loop->_br, loop->_buf_count, URING_BGID);
    loop->_br = NULL;
    if (loop->_bufs != NULL)
        munmap(loop->_bufs, loop->_bufs_len);
    loop->_bufs = NULL;
}

void uring__buf_taken(struct uring_loop *loop, unsigned bid)
{
    URING_ASSERT(bid < loop->_buf_count);
    URING_ASSERT(loop->_bufs_out < loop->_buf_count);
    loop->_bufs_out++;
}

unsigned uring__bufs_free(const struct uring_loop *loop)
{
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
    add_buf(loop, bid, 0);
    io_uring_buf_ring_advance(loop->_br, 1);
}

unsigned uring_loop_bufs_out(const struct uring_loop *loop)
{
    return loop->_bufs_out;
}
