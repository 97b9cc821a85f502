/*
 * The writer: max_inflight + 1 batch buffers, registered with the caller's ring and used as a ring:
 * up to max_inflight sealed batches being written (oldest first), then the one appends fill. A flush
 * (or a full buffer, or a roll-over) seals the filling batch when nothing is in flight, or, for a batch
 * of at least overlap_min_bytes in the same segment, while fewer than max_inflight are. Its blocks are
 * then written. By default the segment is open O_DSYNC, so a write's CQE is its durability point. With
 * options.fdatasync the writes are plain and an fdatasync is submitted only after the batch's last
 * write CQE (io_uring does not order independent requests; links and IOSQE_IO_DRAIN are not used). A
 * batch's callbacks fire once it and every older batch are durable, so completions keep sequence order
 * however the CQEs arrive.
 *
 * The shared tail block. A sealed batch's partly filled last block is copied to the start of the next
 * buffer, so the next batch rewrites that block with identical leading bytes. Two writes of the same
 * block must never be on the ring together: the kernel may complete them in either order, and the
 * older content landing last would erase records already acknowledged. So a batch sealed while the
 * previous batch's writes are out is written in two parts: its body (every block after the shared
 * one) goes out at once, its head (the shared block) only after the previous batch's writes have all
 * completed. Any mix of the two versions of that block, torn or not, holds the older batch's bytes.
 *
 * Batch delta and overlap. Recovery takes a valid record whose batch delta says its batch began after
 * a damaged record as proof that the damaged record was durable (format.c). A record appended while
 * batches are in flight may end up in a batch written beside them; its delta is therefore counted from
 * the oldest sequence not yet durable at the time of the append (durable_seq + 1), which is at most
 * the first sequence of any batch still in flight, so the proof still holds. A record appended with
 * nothing in flight counts from its own batch's first sequence, as before. Batches in different
 * segments never overlap: recovery reads a later segment's first record as proof that the earlier
 * segment is complete.
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

static struct wal_buf *buf_at(struct wal *w, uint32_t k)
{
    assert(k < w->ninflight);
    return &w->bufs[(w->oldest + k) % w->nbufs];
}

void wal__complete(struct wal_buf *b, int res)
{
    for (uint32_t i = 0; i < b->nrec; i++)
        if (b->waiters[i].cb)
            b->waiters[i].cb(b->waiters[i].arg, b->first_seq + i, res);
    b->nrec = 0;
    b->payload = 0;
}

/* Marks the log failed: nothing queued or in flight will ever be durable. Requests still on the ring
 * keep their buffers: wal_is_busy stays true until their CQEs are handled. */
void wal__fail(struct wal *w, int err)
{
    assert(err < 0);
    if (w->err)
        return;
    /* wal_append's -EAGAIN means "the buffers are busy: call again". A failure that happens to be
     * EAGAIN (flock's EWOULDBLOCK, a CQE) must not read as that, or a caller waits for ever. */
    w->err = err == -EAGAIN ? -EIO : err;
    wal__log(w, WAL_LOG_ERR, "I/O error %d: log failed, unacknowledged appends dropped", err);
    w->completing = true;
    for (uint32_t k = 0; k < w->ninflight; k++)
        wal__complete(buf_at(w, k), w->err);
    wal__complete(&w->bufs[w->fill], w->err);
    w->completing = false;
}

/* An SQE for one of the WAL's requests, tagged later by wal__tag; NULL when the submission fault hook
 * failed the log or the SQ stays full (the request is placed again at the next entry point). */
struct io_uring_sqe *wal__get_sqe(struct wal *w)
{
    int ret = fault(w, WAL_FAULT_SUBMIT, 0);

    if (ret < 0) {
        wal__fail(w, ret);
        return NULL;
    }
    return wal__ring_sqe(w);
}

/* An SQE, submitting what is queued when the SQ is full; NULL when it stays full. Without the
 * submission hook: truncations use it, and their failures never fail the log. */
struct io_uring_sqe *wal__ring_sqe(struct wal *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(w->ring);

    if (!sqe) { /* SQ full: hand the queued entries to the kernel to make room */
        io_uring_submit(w->ring);
        sqe = io_uring_get_sqe(w->ring);
    }
    return sqe;
}

void wal__tag(struct wal *w, struct io_uring_sqe *sqe, uint32_t op, uint32_t idx)
{
    assert(op >= WAL_OP_BODY);
    assert(op <= WAL_OP_READ);
    assert(idx < 8);
    io_uring_sqe_set_data64(sqe, w->ud_base | (uint64_t)(op << 3 | idx) << w->ud_shift);
    w->nout++;
}

static bool writes_done(const struct wal_buf *b)
{
    return b->head_done == b->head_len && b->body_done == b->write_len - b->head_len;
}

static bool durable(const struct wal *w, const struct wal_buf *b)
{
    return writes_done(b) && (b->synced || !w->opt.fdatasync) && (b->named || b->name_id == 0);
}

/* Places the rest of the head or the body of buffer idx. */
static void write_part(struct wal *w, uint32_t idx, uint32_t op)
{
    struct wal_buf *b = &w->bufs[idx];
    uint32_t start = op == WAL_OP_HEAD ? b->head_done : b->head_len + b->body_done;
    uint32_t end = op == WAL_OP_HEAD ? b->head_len : b->write_len;
    struct io_uring_sqe *sqe;

    assert(start < end);
    assert(start % w->block == 0 || !w->direct);
    sqe = wal__get_sqe(w);
    if (!sqe)
        return;
    if (w->fixed)
        io_uring_prep_write_fixed(sqe, b->fd, b->mem + start, end - start, b->file_off + start, (int)idx);
    else
        io_uring_prep_write(sqe, b->fd, b->mem + start, end - start, b->file_off + start);
    wal__tag(w, sqe, op, idx);
    b->out |= 1u << op;
}

/* Places whatever the k-th batch in flight needs next and is allowed to have. */
static void pump_buf(struct wal *w, uint32_t k)
{
    uint32_t idx = (w->oldest + k) % w->nbufs;
    struct wal_buf *b = &w->bufs[idx];

    if (b->body_done < b->write_len - b->head_len && !(b->out & 1u << WAL_OP_BODY))
        write_part(w, idx, WAL_OP_BODY);
    if (!w->err && b->head_done < b->head_len && !(b->out & 1u << WAL_OP_HEAD) && (k == 0 || writes_done(buf_at(w, k - 1))))
        write_part(w, idx, WAL_OP_HEAD);
    if (!w->err && w->opt.fdatasync && writes_done(b) && !b->synced && !(b->out & 1u << WAL_OP_FSYNC)) {
        struct io_uring_sqe *sqe = wal__get_sqe(w);

        if (sqe) {
            io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
            wal__tag(w, sqe, WAL_OP_FSYNC, idx);
            b->out |= 1u << WAL_OP_FSYNC;
            clock_gettime(CLOCK_MONOTONIC, &b->t0);
        }
    }
    if (!w->err && b->name_id != 0 && !b->named && writes_done(b) && (b->synced || !w->opt.fdatasync))
        wal__naming_pump(w, idx);
}

/* Places every request that is due. Idempotent: called at each entry point, it also retries requests
 * that found the SQ full. */
static void pump(struct wal *w)
{
    for (uint32_t k = 0; k < w->ninflight && !w->err; k++)
        pump_buf(w, k);
    if (!w->err)
        wal__prep_pump(w);
}

/* Positions an empty buffer at segment offset off; the bytes of off's block before off are carry.
 * The caller sets b->seg_bytes. */
int wal__buf_start(struct wal *w, struct wal_buf *b, int fd, uint64_t off, const uint8_t *carry)
{
    assert(b->out == 0);
    b->fd = fd;
    b->file_off = off / w->block * w->block;
    b->carry = b->used = (uint32_t)(off - b->file_off);
    b->nrec = 0;
    b->payload = 0;
    b->name_id = 0;
    b->head_len = b->head_done = b->body_done = b->write_len = 0;
    b->synced = b->named = false;
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

static bool can_seal(struct wal *w)
{
    const struct wal_buf *b = &w->bufs[w->fill], *newest;

    if (w->err || w->completing || w->roll_wait || b->nrec == 0)
        return false;
    if (w->ninflight == 0)
        return true;
    if (w->ninflight >= w->max_inflight)
        return false;
    newest = buf_at(w, w->ninflight - 1);
    return newest->fd == b->fd && round_up(b->used, w->block) - b->carry >= w->overlap_min_bytes;
}

/* Starts the filling batch's writes (can_seal must hold) and moves the appends to the next buffer. */
static void seal(struct wal *w)
{
    struct wal_buf *b = &w->bufs[w->fill], *o;
    uint32_t tail = b->used / w->block * w->block, next = (w->fill + 1) % w->nbufs;

    assert(b->nrec > 0);
    assert(w->ninflight < w->max_inflight);
    assert(w->fill == (w->oldest + w->ninflight) % w->nbufs);
    b->write_len = (uint32_t)round_up(b->used, w->block);
    /* The first block is the previous batch's tail block: while that batch's writes are out it is
     * written separately, after them (the format comment in format.c says why). */
    if (w->ninflight > 0) {
        w->st.overlapped_batches++;
        if (b->carry > 0 && !writes_done(buf_at(w, w->ninflight - 1)))
            b->head_len = w->block;
    }
    memset(b->mem + b->used, 0, b->write_len - b->used);
    clock_gettime(CLOCK_MONOTONIC, &b->t0);
    o = &w->bufs[next];
    assert(o->nrec == 0);
    wal__buf_start(w, o, b->fd, b->file_off + b->used, b->mem + tail);
    o->seg_bytes = b->seg_bytes;
    w->ninflight++;
    w->fill = next;
    pump(w);
}

/* Microseconds since b started, into a log2 histogram (bucket 0: under 2 us) and its sum. */
static uint64_t record_latency(const struct wal_buf *b, uint64_t *hist, uint64_t *sum)
{
    struct timespec now;
    int64_t ns;
    uint64_t us;
    int bucket = 0;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ns = (int64_t)(now.tv_sec - b->t0.tv_sec) * 1000000000 + (now.tv_nsec - b->t0.tv_nsec);
    us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    if (us >= 2)
        bucket = 63 - __builtin_clzll(us);
    if (bucket >= WAL_HIST_BUCKETS)
        bucket = WAL_HIST_BUCKETS - 1;
    hist[bucket]++;
    *sum += us;
    return us;
}

/* The batch is durable now: its write (O_DSYNC) or its fdatasync completed. */
static void record_durable(struct wal *w, const struct wal_buf *b)
{
    uint64_t us = record_latency(b, w->st.fsync_us_hist, &w->st.fsync_us_sum);

    if (us > w->st.fsync_us_max)
        w->st.fsync_us_max = us;
}

static bool fd_in_flight(struct wal *w, int fd)
{
    for (uint32_t k = 0; k < w->ninflight; k++)
        if (buf_at(w, k)->fd == fd)
            return true;
    return false;
}

/* Completes durable batches from the oldest on, stopping at the first that is not. */
static void retire(struct wal *w)
{
    while (w->ninflight > 0 && w->err == 0) {
        struct wal_buf *b = &w->bufs[w->oldest];

        if (!durable(w, b))
            break;
        assert(b->out == 0);
        assert(b->first_seq == w->durable_seq + 1);
        w->durable_seq = b->first_seq + b->nrec - 1;
        w->st.batches++;
        w->st.bytes_appended += b->payload;
        w->oldest = (w->oldest + 1) % w->nbufs;
        w->ninflight--;
        w->completing = true;
        wal__complete(b, 0);
        w->completing = false;
    }
    if (w->prev_fd != -1 && !fd_in_flight(w, w->prev_fd)) {
        close(w->prev_fd);
        w->prev_fd = -1;
    }
}

/* A write or fdatasync CQE of buffer b. */
static void buf_cqe(struct wal *w, struct wal_buf *b, uint32_t op, int res)
{
    uint32_t left;

    if (op == WAL_OP_FSYNC) {
        res = fault(w, WAL_FAULT_FSYNC_CQE, res);
        if (res < 0) {
            wal__fail(w, res);
            return;
        }
        b->synced = true;
        record_durable(w, b);
        return;
    }
    res = fault(w, WAL_FAULT_WRITE_CQE, res);
    left = op == WAL_OP_HEAD ? b->head_len - b->head_done : b->write_len - b->head_len - b->body_done;
    if (res <= 0 || (uint32_t)res > left || (w->direct && (uint32_t)res % w->block != 0 && (uint32_t)res != left)) {
        if (res >= 0) /* a short O_DIRECT write that leaves a misaligned rest cannot go on */
            wal__log(w, WAL_LOG_ERR, "write returned %d of %u bytes", res, left);
        wal__fail(w, res < 0 ? res : -EIO);
        return;
    }
    if (op == WAL_OP_HEAD)
        b->head_done += (uint32_t)res;
    else
        b->body_done += (uint32_t)res;
    w->st.bytes_written += (uint64_t)res;
    if (!writes_done(b))
        return;
    record_latency(b, w->st.write_us_hist, &w->st.write_us_sum);
    if (!w->opt.fdatasync)
        record_durable(w, b);
}

bool wal_handle_cqe(struct wal *w, const struct io_uring_cqe *cqe)
{
    uint64_t mask = (uint64_t)WAL_UD_MASK << w->ud_shift;
    uint32_t tag = (uint32_t)((cqe->user_data & mask) >> w->ud_shift), op = tag >> 3, idx = tag & 7;

    if ((cqe->user_data & ~mask) != w->ud_base || op < WAL_OP_BODY || op > WAL_OP_READ)
        return false;
    if (op == WAL_OP_SEG     ? idx >= WAL_SEG_NSTEPS
        : op == WAL_OP_TRUNC ? idx >= WAL_TRUNC_NSTEPS
        : op == WAL_OP_READ  ? idx >= WAL_ITER_ASYNC_MAX || w->iters[idx] == NULL
                             : idx >= w->nbufs)
        return false;
    assert(w->nout > 0);
    w->nout--;
    if (op == WAL_OP_READ) {
        wal__iter_cqe(w, idx, cqe->res);
    } else if (op == WAL_OP_SEG) {
        wal__prep_cqe(w, idx, cqe->res);
    } else if (op == WAL_OP_TRUNC) {
        wal__trunc_cqe(w, idx, cqe->res);
    } else {
        struct wal_buf *b = &w->bufs[idx];

        assert(b->out & 1u << op);
        b->out &= (uint8_t) ~(1u << op);
        if (w->err == 0) /* after a failure, CQEs only give their buffers back */
            buf_cqe(w, b, op, cqe->res);
    }
    retire(w);
    if (can_seal(w))
        seal(w);
    else if (w->err == 0)
        pump(w);
    return true;
}

/* Gives the fill buffer, waiting at the start of the last segment, that segment's descriptor (prepared
 * ahead, or just now for a roll-over that found none ready): from here its first batch can be sealed,
 * and it is durable once the segment is named (prepare.c). */
void wal__roll_adopt(struct wal *w, int fd, uint32_t name_id)
{
    struct wal_buf *b = &w->bufs[w->fill];

    assert(fd >= 0);
    assert(name_id != 0);
    assert(b->fd == -1);
    assert(b->file_off == 0);
    b->fd = fd;
    b->name_id = name_id;
    w->fd = fd;
    w->roll_wait = false;
}

/* Moves the fill buffer (which must be empty) to a new segment starting at next_seq, with the segment
 * header as its first block. Pointer work either way: onto the segment prepared ahead when it is ready,
 * else onto the one being prepared (started now if need be), which the buffer waits for while appends
 * fill it (prepare.c). */
static int roll(struct wal *w)
{
    struct wal_buf *b = &w->bufs[w->fill];
    uint32_t name_id = 0;
    int fd, ret;

    assert(b->nrec == 0);
    assert(w->prev_fd == -1);
    assert(!w->roll_wait);
    fd = wal__prep_take(w, &name_id);
    ret = wal__seg_add(w, w->next_seq);
    if (ret) {
        if (fd >= 0)
            close(fd);
        return ret;
    }
    if (fd >= 0)
        w->st.segments_prepared++;
    else
        w->st.segments_sync++;
    if (fd_in_flight(w, w->fd))
        w->prev_fd = w->fd;
    else
        close(w->fd);
    w->fd = -1;
    ret = wal__buf_start(w, b, -1, 0, NULL);
    assert(ret == 0); /* offset 0: nothing to read */
    b->seg_bytes = w->segment_bytes;
    wal__seg_hdr_block(w, w->next_seq, b->mem);
    b->used = w->block;
    if (fd >= 0) {
        wal__roll_adopt(w, fd, name_id);
    } else {
        w->roll_wait = true;
        wal__prep_pump(w);
    }
    return w->err;
}

/* Makes room for need bytes in the fill buffer: seals or rolls over as needed. */
static int make_room(struct wal *w, size_t need)
{
    struct wal_buf *b = &w->bufs[w->fill];

    if (b->file_off + b->used + need > b->seg_bytes) {
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

int wal_append(struct wal *w, uint16_t type, const void *data, uint32_t len, wal_append_cb *cb, void *arg, uint64_t *seq)
{
    struct wal_buf *b;
    size_t need = wal__rec_bytes(len);
    uint64_t from;
    int ret;

    if (w->err)
        return w->err;
    if (len > wal_max_record(w))
        return -EMSGSIZE;
    if (type == WAL_TYPE_RESERVED_LOW || type == WAL_TYPE_RESERVED_HIGH || (len > 0 && !data))
        return -EINVAL;
    if (!w->completing)
        pump(w);
    ret = w->err ? w->err : make_room(w, need);
    if (ret == -EAGAIN)
        w->st.eagain++;
    if (ret)
        return ret;
    b = &w->bufs[w->fill];
    assert(b->used + need <= w->buffer_bytes);
    assert(b->file_off + b->used + need <= b->seg_bytes);
    if (b->nrec == 0)
        b->first_seq = w->next_seq;
    /* The batch delta's origin (see the top of this file). */
    from = w->ninflight > 0 ? w->durable_seq + 1 : b->first_seq;
    assert(from <= w->next_seq);
    assert(w->next_seq - from <= UINT32_MAX);
    wal__rec_encode(b->mem + b->used, w->next_seq, (uint32_t)(w->next_seq - from), type, data, len);
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
    wal__trunc_pump(w); /* truncations go on after a failure: they do not depend on the writer */
    if (w->err)
        return w->err;
    if (can_seal(w))
        seal(w);
    else
        pump(w);
    return w->err;
}

bool wal_is_busy(const struct wal *w)
{
    return w->nout > 0;
}

uint32_t wal_max_record(const struct wal *w)
{
    /* A buffer holds the record after up to one block of carried tail, or of segment header. */
    uint64_t room = w->buffer_bytes - w->block;

    if (w->segment_bytes - w->block < room)
        room = w->segment_bytes - w->block;
    return (uint32_t)(room - WAL_REC_HDR_BYTES);
}
