/*
 * The writer: two batch buffers, registered with the caller's ring. Appends fill one; when nothing is
 * in flight, a flush (or a full buffer, or a roll-over) seals it: its blocks are written in one write.
 * By default the segment is open O_DSYNC, so that write's CQE is the durability point. With
 * options.fdatasync the write is plain and an fdatasync is submitted only after its CQE (io_uring does
 * not order independent requests; links and IOSQE_IO_DRAIN are not used). Once durable, the batch's
 * callbacks fire and the other buffer, filled meanwhile, is sealed next. A sealed batch's partly filled
 * last block is copied to the start of the other buffer, so the next batch rewrites it with identical
 * leading bytes.
 *
 * Why O_DSYNC by default: one request per batch instead of two, with no CQE round trip between write
 * and sync; measured with perf/wal-bench at about 1.3-1.4x the batched throughput (docs/wal.md). A
 * batch is a single write call in buffered mode too, so O_DSYNC still syncs once per batch there.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wal/internal.h"

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static int fault(struct wal *w, enum wal_fault_point point, int res)
{
    return w->opt.fault ? w->opt.fault(w->opt.fault_arg, point, res) : res;
}

void wal__complete(struct wal_buf *b, int res)
{
    for (uint32_t i = 0; i < b->nrec; i++)
        if (b->waiters[i].cb)
            b->waiters[i].cb(b->waiters[i].arg, b->first_seq + i, res);
    b->nrec = 0;
    b->payload = 0;
}

/* Marks the log failed: nothing queued or in flight will ever be durable. */
static void fail(struct wal *w, int err)
{
    assert(err < 0);
    if (w->err)
        return;
    w->err = err;
    wal__log(w, WAL_LOG_ERR, "I/O error %d: log failed, unacknowledged appends dropped", err);
    w->io = WAL_IO_IDLE;
    w->sqe_pending = false;
    if (w->flight >= 0) {
        int f = w->flight;
        w->flight = -1;
        wal__complete(&w->bufs[f], err);
    }
    wal__complete(&w->bufs[w->fill], err);
}

static struct io_uring_sqe *get_sqe(struct wal *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(w->ring);

    if (!sqe) { /* SQ full: hand the queued entries to the kernel to make room */
        io_uring_submit(w->ring);
        sqe = io_uring_get_sqe(w->ring);
    }
    return sqe;
}

static void submit_io(struct wal *w)
{
    struct wal_buf *b = &w->bufs[w->flight];
    struct io_uring_sqe *sqe;
    int ret;

    assert(w->flight >= 0);
    assert(w->io != WAL_IO_IDLE);
    ret = fault(w, WAL_FAULT_SUBMIT, 0);
    if (ret < 0) {
        fail(w, ret);
        return;
    }
    sqe = get_sqe(w);
    w->sqe_pending = sqe == NULL;
    if (!sqe)
        return;
    if (w->io == WAL_IO_WRITE && !w->opt.fdatasync && b->written == 0)
        clock_gettime(CLOCK_MONOTONIC, &w->fsync_start); /* the write is the durability point */
    if (w->io == WAL_IO_WRITE && w->fixed)
        io_uring_prep_write_fixed(sqe, b->fd, b->mem + b->written, b->write_len - b->written, b->file_off + b->written, w->flight);
    else if (w->io == WAL_IO_WRITE)
        io_uring_prep_write(sqe, b->fd, b->mem + b->written, b->write_len - b->written, b->file_off + b->written);
    else {
        io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
        clock_gettime(CLOCK_MONOTONIC, &w->fsync_start);
    }
    io_uring_sqe_set_data64(sqe, w->ud_base | (w->io == WAL_IO_WRITE ? WAL_UD_WRITE : WAL_UD_FSYNC));
}

/* Positions an empty buffer at segment offset off; the bytes of off's block before off are carry. */
int wal__buf_start(struct wal *w, struct wal_buf *b, uint32_t seg_idx, int fd, uint64_t off, const uint8_t *carry)
{
    b->seg_idx = seg_idx;
    b->fd = fd;
    b->file_off = off / w->block * w->block;
    b->carry = b->used = (uint32_t)(off - b->file_off);
    b->nrec = 0;
    b->payload = 0;
    assert(b->carry < w->block);
    assert(b->carry % WAL_REC_ALIGN == 0);
    if (b->carry == 0)
        return 0;
    if (carry) {
        memcpy(b->mem, carry, b->carry);
        return 0;
    }
    /* The descriptor may be O_DIRECT: read the whole aligned block. */
    return wal__pread_full(fd, b->mem, w->block, b->file_off);
}

/* Starts the fill buffer's batch: requires no I/O in flight and at least one record. */
static void seal(struct wal *w)
{
    struct wal_buf *b = &w->bufs[w->fill], *o = &w->bufs[1 - w->fill];
    uint32_t tail = b->used / w->block * w->block;

    assert(w->flight < 0);
    assert(!w->completing);
    assert(b->nrec > 0);
    b->write_len = (uint32_t)round_up(b->used, w->block);
    b->written = 0;
    memset(b->mem + b->used, 0, b->write_len - b->used);
    wal__buf_start(w, o, b->seg_idx, b->fd, b->file_off + b->used, b->mem + tail);
    w->flight = w->fill;
    w->fill = 1 - w->fill;
    w->io = WAL_IO_WRITE;
    submit_io(w);
}

static bool can_seal(const struct wal *w)
{
    return w->flight < 0 && !w->completing && w->err == 0;
}

static void record_fsync_latency(struct wal *w)
{
    struct timespec now;
    int64_t ns;
    uint64_t us;
    int bucket = 0;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ns = (int64_t)(now.tv_sec - w->fsync_start.tv_sec) * 1000000000 + (now.tv_nsec - w->fsync_start.tv_nsec);
    us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    if (us >= 2)
        bucket = 63 - __builtin_clzll(us);
    if (bucket >= WAL_HIST_BUCKETS)
        bucket = WAL_HIST_BUCKETS - 1;
    w->st.fsync_us_hist[bucket]++;
    if (us > w->st.fsync_us_max)
        w->st.fsync_us_max = us;
}

static void batch_durable(struct wal *w)
{
    struct wal_buf *b = &w->bufs[w->flight];

    assert(b->nrec > 0);
    assert(b->first_seq == w->durable_seq + 1);
    w->io = WAL_IO_IDLE;
    w->flight = -1;
    w->durable_seq = b->first_seq + b->nrec - 1;
    w->st.batches++;
    w->st.bytes_appended += b->payload;
    if (w->prev_fd != -1 && b->fd == w->prev_fd) {
        close(w->prev_fd);
        w->prev_fd = -1;
    }
    w->completing = true;
    wal__complete(b, 0);
    w->completing = false;
    if (can_seal(w) && w->bufs[w->fill].nrec > 0)
        seal(w);
}

bool wal_handle_cqe(struct wal *w, const struct io_uring_cqe *cqe)
{
    uint64_t kind = cqe->user_data & WAL_UD_MASK;
    struct wal_buf *b;
    int res = cqe->res;

    if ((cqe->user_data & ~(uint64_t)WAL_UD_MASK) != w->ud_base || (kind != WAL_UD_WRITE && kind != WAL_UD_FSYNC))
        return false;
    if (w->flight < 0) /* the log failed while this was in flight */
        return true;
    b = &w->bufs[w->flight];
    if (kind == WAL_UD_FSYNC) {
        assert(w->io == WAL_IO_FSYNC);
        record_fsync_latency(w);
        res = fault(w, WAL_FAULT_FSYNC_CQE, res);
        if (res < 0)
            fail(w, res);
        else
            batch_durable(w);
        return true;
    }
    assert(w->io == WAL_IO_WRITE);
    res = fault(w, WAL_FAULT_WRITE_CQE, res);
    if (res < 0 || res == 0 || (uint32_t)res > b->write_len - b->written ||
        (w->direct && (uint32_t)res % w->block != 0 && (uint32_t)res != b->write_len - b->written)) {
        if (res >= 0) /* a short O_DIRECT write that leaves a misaligned rest cannot go on */
            wal__log(w, WAL_LOG_ERR, "write returned %d of %u bytes", res, b->write_len - b->written);
        fail(w, res < 0 ? res : -EIO);
        return true;
    }
    b->written += (uint32_t)res;
    w->st.bytes_written += (uint64_t)res;
    if (b->written == b->write_len && !w->opt.fdatasync) {
        record_fsync_latency(w);
        batch_durable(w);
        return true;
    }
    if (b->written == b->write_len)
        w->io = WAL_IO_FSYNC;
    submit_io(w);
    return true;
}

/* Moves the fill buffer (which must be empty) to a new segment starting at next_seq. */
static int roll(struct wal *w)
{
    struct wal_buf *b = &w->bufs[w->fill];
    int fd, ret;

    assert(b->nrec == 0);
    assert(w->prev_fd == -1);
    ret = wal__seg_create(w, w->next_seq);
    if (ret)
        return ret;
    fd = wal__seg_open_rw(w, w->nsegs - 1, true);
    if (fd < 0)
        return fd;
    if (w->flight >= 0 && w->bufs[w->flight].fd == w->fd)
        w->prev_fd = w->fd;
    else
        close(w->fd);
    w->fd = fd;
    return wal__buf_start(w, b, w->nsegs - 1, fd, w->segs[w->nsegs - 1].block_bytes, NULL);
}

/* Makes room for need bytes in the fill buffer: seals or rolls over as needed. */
static int make_room(struct wal *w, size_t need)
{
    struct wal_buf *b = &w->bufs[w->fill];

    if (b->file_off + b->used + need > w->segs[b->seg_idx].bytes) {
        if (b->nrec > 0) {
            if (!can_seal(w))
                return -EAGAIN;
            seal(w);
            if (w->err)
                return w->err;
            b = &w->bufs[w->fill];
        }
        if (w->prev_fd != -1) /* the previous roll's last batch is still in flight */
            return -EAGAIN;
        return roll(w);
    }
    if (b->used + need > w->buffer_bytes || b->nrec == w->batch_records) {
        if (!can_seal(w))
            return -EAGAIN;
        seal(w);
        return w->err;
    }
    return 0;
}

static void kick(struct wal *w)
{
    if (w->sqe_pending && w->err == 0)
        submit_io(w);
}

int wal_append(struct wal *w, uint16_t type, const void *data, uint32_t len, wal_append_cb *cb, void *arg, uint64_t *seq)
{
    struct wal_buf *b;
    size_t need = wal__rec_bytes(len);
    int ret;

    if (w->err)
        return w->err;
    if (len > wal_max_record(w))
        return -EMSGSIZE;
    if (type == WAL_TYPE_RESERVED_LOW || type == WAL_TYPE_RESERVED_HIGH || (len > 0 && !data))
        return -EINVAL;
    kick(w);
    ret = make_room(w, need);
    if (ret == -EAGAIN)
        w->st.eagain++;
    if (ret)
        return ret;
    b = &w->bufs[w->fill];
    assert(b->used + need <= w->buffer_bytes);
    assert(b->file_off + b->used + need <= w->segs[b->seg_idx].bytes);
    if (b->nrec == 0)
        b->first_seq = w->next_seq;
    wal__rec_encode(b->mem + b->used, w->next_seq, b->nrec, type, data, len);
    b->waiters[b->nrec].cb = cb;
    b->waiters[b->nrec].arg = arg;
    b->nrec++;
    b->used += (uint32_t)need;
    b->payload += len;
    w->st.appends++;
    *seq = w->next_seq++;
    return 0;
}

int wal_flush(struct wal *w)
{
    if (w->err)
        return w->err;
    kick(w);
    if (can_seal(w) && w->bufs[w->fill].nrec > 0)
        seal(w);
    return w->err;
}

bool wal_is_busy(const struct wal *w)
{
    return w->flight >= 0 && !w->sqe_pending;
}

uint32_t wal_max_record(const struct wal *w)
{
    uint64_t room = w->buffer_bytes - w->block + WAL_REC_ALIGN;

    if (w->segment_bytes - w->block < room)
        room = w->segment_bytes - w->block;
    return (uint32_t)(room - WAL_REC_HDR_BYTES);
}
