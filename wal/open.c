/*
 * Open, close and the ring plumbing for callers that give the WAL a ring of its own (wal_poll).
 * Everything the writer needs is allocated here, once: two aligned batch buffers (registered with the
 * ring when possible) and their bounded waiter arrays.
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

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static int configure(struct wal *w, const struct wal_options *opt)
{
    w->segment_bytes = round_up(opt->segment_bytes ? opt->segment_bytes : DEFAULT_SEGMENT_BYTES, w->block);
    w->buffer_bytes = (uint32_t)round_up(opt->buffer_bytes ? opt->buffer_bytes : DEFAULT_BUFFER_BYTES, w->block);
    w->batch_records = opt->batch_records ? opt->batch_records : DEFAULT_BATCH_RECORDS;
    if (w->segment_bytes < 2ull * w->block || w->buffer_bytes < 2u * w->block || w->buffer_bytes > MAX_BUFFER_BYTES ||
        w->batch_records > MAX_BATCH_RECORDS)
        return -EINVAL;
    w->ud_base = opt->user_data_base ? opt->user_data_base : (uint64_t)(uintptr_t)w;
    if (w->ud_base & WAL_UD_MASK)
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
    struct iovec iov[2];
    int ret;

    for (int i = 0; i < 2; i++) {
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
    ret = io_uring_register_buffers(w->ring, iov, 2);
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
    w->fill = 0;
    w->flight = -1;
    return wal__buf_start(w, &w->bufs[0], last, w->fd, w->tail_off, NULL);
}

static void destroy(struct wal *w)
{
    if (w->own_buf_table)
        io_uring_unregister_buffers(w->ring);
    for (int i = 0; i < 2; i++) {
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
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->opt = *opt;
    w->ring = ring;
    w->fd = w->prev_fd = w->dir_fd = w->lock_fd = -1;
    w->flight = -1;
    w->dir = strdup(opt->dir);
    ret = w->dir ? open_dir(w) : -ENOMEM;
    if (ret == 0)
        ret = wal__probe_fs(w);
    if (ret == 0)
        ret = configure(w, opt);
    if (ret == 0)
        ret = alloc_buffers(w);
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
    /* Only an SQE that never reached the ring can be left: its batch was never written. */
    if (w->flight >= 0)
        wal__complete(&w->bufs[w->flight], -ECANCELED);
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

int wal_drain(struct wal *w)
{
    while (w->err == 0 && (w->flight >= 0 || w->bufs[w->fill].nrec > 0)) {
        int ret = wal_poll(w, true);
        if (ret < 0)
            return ret;
    }
    return w->err;
}
