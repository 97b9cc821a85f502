/*
 * Open, close and the ring plumbing for callers that give the WAL a ring of its own (wal_poll).
 * Everything the writer needs is allocated here, once: max_inflight + 1 aligned batch buffers
 * (registered with the ring when possible) and their bounded waiter arrays.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wal/internal.h"

#define DEFAULT_SEGMENT_BYTES (64ull << 20)
#define DEFAULT_BUFFER_BYTES  (2u << 20)
#define DEFAULT_BATCH_RECORDS 8192u
#define MAX_BUFFER_BYTES      (1u << 30)
#define MAX_BATCH_RECORDS     (1u << 20)
#define DEFAULT_MAX_INFLIGHT  2u
#define DEFAULT_OVERLAP_BYTES (256u << 10)
#define WAL_STRUCT_ALIGN      64 /* the default user_data base is the address: low six bits zero */

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static int configure(struct wal *w, const struct wal_options *opt)
{
    w->segment_bytes = round_up(opt->segment_bytes ? opt->segment_bytes : DEFAULT_SEGMENT_BYTES, w->block);
    w->buffer_bytes = (uint32_t)round_up(opt->buffer_bytes ? opt->buffer_bytes : DEFAULT_BUFFER_BYTES, w->block);
    w->batch_records = opt->batch_records ? opt->batch_records : DEFAULT_BATCH_RECORDS;
    w->max_inflight = opt->max_inflight ? opt->max_inflight : DEFAULT_MAX_INFLIGHT;
    w->overlap_min_bytes = opt->overlap_min_bytes ? opt->overlap_min_bytes : DEFAULT_OVERLAP_BYTES;
    if (w->segment_bytes < 2ull * w->block || w->buffer_bytes < 2u * w->block || w->buffer_bytes > MAX_BUFFER_BYTES ||
        w->batch_records > MAX_BATCH_RECORDS || w->max_inflight > WAL_MAX_INFLIGHT)
        return -EINVAL;
    w->nbufs = w->max_inflight + 1;
    if (opt->user_data_shift > 64 - 6)
        return -EINVAL;
    w->ud_shift = opt->user_data_shift;
    w->ud_base = opt->user_data_base || opt->user_data_shift ? opt->user_data_base : (uint64_t)(uintptr_t)w;
    if (w->ud_base & (uint64_t)WAL_UD_MASK << w->ud_shift)
        return -EINVAL;
    return 0;
}

static int open_dir(struct wal *w)
{
    if (mkdir(w->dir, 0755) == -1 && errno != EEXIST)
        return -errno;
    w->dir_fd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dir_fd == -1)
        return -errno;
    return wal__dir_lock(w);
}

static int alloc_buffers(struct wal *w)
{
    struct iovec iov[WAL_MAX_BUFS];
    int ret;

    for (uint32_t i = 0; i < w->nbufs; i++) {
        void *mem;

        if (posix_memalign(&mem, w->block, w->buffer_bytes) != 0)
            return -ENOMEM;
        memset(mem, 0, w->buffer_bytes);
        w->bufs[i].mem = mem;
        w->bufs[i].waiters = calloc(w->batch_records, sizeof(*w->bufs[i].waiters));
        if (!w->bufs[i].waiters)
            return -ENOMEM;
        iov[i].iov_base = mem;
        iov[i].iov_len = w->buffer_bytes;
    }
    if (w->opt.no_fixed_buffers)
        return 0;
    ret = io_uring_register_buffers(w->ring, iov, w->nbufs);
    w->fixed = w->own_buf_table = ret == 0;
    if (ret)
        wal__log(w, WAL_LOG_INFO, "buffers not registered (%s): plain writes instead of WRITE_FIXED", strerror(-ret));
    return 0;
}

/* Opens the last segment for writing and positions the fill buffer at the recovered tail. */
static int start_writer(struct wal *w)
{
    uint32_t last = w->nsegs - 1;

    w->fd = wal__seg_open_rw(w, last, true);
    if (w->fd < 0)
        return w->fd;
    /* A segment cut short (by hand, or a crash during preallocation) gets its full size back, so
     * writes never extend the file. */
    if (fallocate(w->fd, 0, 0, (off_t)w->segs[last].bytes) == -1 && errno != EOPNOTSUPP)
        return -errno;
    w->fill = w->oldest = w->ninflight = 0;
    w->bufs[0].seg_bytes = w->segs[last].bytes;
    return wal__buf_start(w, &w->bufs[0], w->fd, w->tail_off, NULL);
}

static void destroy(struct wal *w)
{
    if (w->own_buf_table)
        io_uring_unregister_buffers(w->ring);
    wal__prep_destroy(w);
    for (uint32_t i = 0; i < WAL_MAX_BUFS; i++) {
        free(w->bufs[i].mem);
        free(w->bufs[i].waiters);
    }
    if (w->fd != -1)
        close(w->fd);
    if (w->prev_fd != -1)
        close(w->prev_fd);
    if (w->dir_fd != -1)
        close(w->dir_fd);
    if (w->lock_fd != -1)
        close(w->lock_fd);
    free(w->segs);
    free(w->dir);
    free(w);
}

int wal_open(const struct wal_options *opt, struct io_uring *ring, struct wal **out, struct wal_recovery *rec)
{
    struct wal_recovery scratch;
    struct wal *w;
    int ret;

    if (!opt || !opt->dir || !ring || !out)
        return -EINVAL;
    if (!rec)
        rec = &scratch;
    w = aligned_alloc(WAL_STRUCT_ALIGN, (sizeof(*w) + WAL_STRUCT_ALIGN - 1) / WAL_STRUCT_ALIGN * WAL_STRUCT_ALIGN);
    if (!w)
        return -ENOMEM;
    memset(w, 0, sizeof(*w));
    w->opt = *opt;
    w->ring = ring;
    w->fd = w->prev_fd = w->dir_fd = w->lock_fd = w->prep_fd = -1;
    w->dir = strdup(opt->dir);
    ret = w->dir ? open_dir(w) : -ENOMEM;
    if (ret == 0)
        ret = wal__probe_fs(w);
    if (ret == 0)
        ret = configure(w, opt);
    if (ret == 0)
        ret = alloc_buffers(w);
    if (ret == 0)
        ret = wal__prep_init(w);
    if (ret == 0)
        ret = wal__recover(w, rec);
    if (ret == 0)
        ret = start_writer(w);
    if (ret) {
        destroy(w);
        return ret;
    }
    assert(w->durable_seq + 1 == w->next_seq);
    assert(w->nsegs > 0);
    *out = w;
    return 0;
}

int wal_close(struct wal *w)
{
    if (wal_is_busy(w))
        return -EBUSY;
    wal__trunc_cancel(w);
    /* Only requests that never reached the ring can be left: those batches are not durable. */
    for (uint32_t k = 0; k < w->ninflight; k++)
        wal__complete(&w->bufs[(w->oldest + k) % w->nbufs], -ECANCELED);
    wal__complete(&w->bufs[w->fill], -ECANCELED);
    destroy(w);
    return 0;
}

int wal_poll(struct wal *w, bool wait)
{
    struct io_uring_cqe *cqe;
    int n = 0, ret;

    wal_flush(w);
    ret = io_uring_submit(w->ring);
    if (ret < 0 && ret != -EAGAIN && ret != -EBUSY && ret != -EINTR)
        return ret;
    if (wait && wal_is_busy(w)) {
        do
            ret = io_uring_wait_cqe(w->ring, &cqe);
        while (ret == -EINTR);
        if (ret < 0)
            return ret;
    }
    while (io_uring_peek_cqe(w->ring, &cqe) == 0) {
        bool mine = wal_handle_cqe(w, cqe);

        io_uring_cqe_seen(w->ring, cqe);
        if (!mine)
            return -EPROTO; /* wal_poll is for rings only the WAL uses */
        n++;
    }
    wal_flush(w);
    ret = io_uring_submit(w->ring);
    if (ret < 0 && ret != -EAGAIN && ret != -EBUSY && ret != -EINTR)
        return ret;
    return n;
}

/* Whether the WAL still has work to finish: requests on the ring, truncations queued (they go on after
 * a failure), and while healthy batches and a preparation under way. */
static bool pending(const struct wal *w)
{
    if (wal_is_busy(w) || w->ntrunc > 0)
        return true;
    if (w->err)
        return false;
    return w->ninflight > 0 || w->bufs[w->fill].nrec > 0 || (w->prep > WAL_PREP_IDLE && w->prep < WAL_PREP_READY);
}

int wal_drain(struct wal *w)
{
    /* After a failure, still wait until the ring has given back every request. */
    while (pending(w)) {
        int ret = wal_poll(w, true);
        if (ret < 0)
            return ret;
    }
    return w->err;
}
