/*
 * Reading durable records back (replay, redelivery, tools), and stats.
 * wal_iter_open: synchronous preads on the iterator's own descriptors (start-up, tools).
 * wal_iter_open_async: IORING_OP_READs on the WAL's ring into the iterator's buffer, records parsed
 * out of what came back; wal_iter_next says -EAGAIN while a read is in flight. A read only trusts the
 * records durable when it was placed: the bytes after them may be a batch still being written, so a
 * record past that point is read again.
 * Every record read is checked again (the pair of the check made before it was written).
 */
#include <assert.h>
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wal/internal.h"

#define ITER_CHUNK (64u << 10) /* bytes one asynchronous read asks for, unless a record is longer */

struct wal_iter {
    struct wal *w;
    uint64_t seq;      /* the next record's sequence */
    uint64_t seg_base; /* base of the open segment, 0 when none */
    uint64_t seg_bytes;
    uint64_t off; /* file offset of the next record */
    int fd;
    uint8_t *buf;
    size_t cap;
    /* asynchronous iterators only */
    bool async;
    bool inflight;        /* a read into buf + len is on the ring */
    bool closing;         /* closed while inflight: freed at the read's CQE */
    uint32_t slot;        /* in w->iters: the READ tag's index */
    int err;              /* sticky read error */
    uint64_t want;        /* records below it in the segment are skipped (entering a segment) */
    uint64_t buf_off;     /* file offset of buf[0] */
    size_t len;           /* bytes of buf read */
    uint64_t buf_durable; /* wal_durable_seq when the last read was placed: records up to it are whole */
    wal_iter_ready_cb *ready;
    void *arg;
};

static int find_seg(const struct wal *w, uint64_t seq, uint32_t *idx)
{
    for (uint32_t i = w->nsegs; i-- > 0;)
        if (w->segs[i].base_seq <= seq) {
            *idx = i;
            return 0;
        }
    return -ENOENT;
}

static int read_hdr(struct wal_iter *it, struct wal_rec_hdr *h)
{
    uint8_t raw[WAL_REC_HDR_BYTES];
    int ret = wal__pread_full(it->fd, raw, sizeof(raw), it->off);

    if (ret)
        return ret;
    wal__rec_hdr_decode(raw, h);
    if (!wal__rec_hdr_plausible(h, it->off, it->seg_bytes) || h->seq != it->seq)
        return -EBADMSG;
    return 0;
}

/* Opens the segment holding it->seq and walks its headers up to that record. */
static int enter_seg(struct wal_iter *it)
{
    const struct wal *w = it->w;
    struct wal_rec_hdr h;
    uint64_t want = it->seq;
    uint32_t idx;
    int ret;

    if (it->fd != -1)
        close(it->fd);
    it->fd = -1;
    ret = find_seg(w, want, &idx);
    if (ret)
        return ret;
    it->fd = wal__seg_open_ro(w, idx);
    if (it->fd < 0) {
        ret = it->fd;
        it->fd = -1;
        return ret;
    }
    it->seg_base = w->segs[idx].base_seq;
    it->seg_bytes = w->segs[idx].bytes;
    it->off = w->segs[idx].block_bytes;
    for (it->seq = it->seg_base; it->seq < want; it->seq++) {
        ret = read_hdr(it, &h);
        if (ret)
            return ret;
        it->off += wal__rec_bytes(h.len);
    }
    return 0;
}

int wal_iter_open(struct wal *w, uint64_t seq, struct wal_iter **out)
{
    struct wal_iter *it = calloc(1, sizeof(*it));
    int ret;

    if (!it)
        return -ENOMEM;
    it->w = w;
    it->fd = -1;
    it->seq = seq < w->first_seq ? w->first_seq : seq;
    ret = it->seq <= w->durable_seq ? enter_seg(it) : 0;
    if (ret) {
        wal_iter_close(it);
        return ret;
    }
    *out = it;
    return 0;
}

static int async_next(struct wal_iter *it, struct wal_record *rec);

int wal_iter_next(struct wal_iter *it, struct wal_record *rec)
{
    const struct wal *w = it->w;
    struct wal_rec_hdr h;
    size_t total;
    int ret;

    if (it->async)
        return async_next(it, rec);
    /* Truncated from under the iterator (truncate.c): a clear error, never a half-removed segment. */
    if (it->seq < w->first_seq)
        return -ENOENT;
    if (it->seq > w->durable_seq)
        return 0;
    if (it->fd == -1 || it->seq >= wal__seg_next_base(w, it->seg_base)) {
        ret = enter_seg(it);
        if (ret)
            return ret;
    }
    ret = read_hdr(it, &h);
    if (ret)
        return ret;
    total = WAL_REC_HDR_BYTES + (size_t)h.len;
    if (total > it->cap) {
        uint8_t *b = realloc(it->buf, total);
        if (!b)
            return -ENOMEM;
        it->buf = b;
        it->cap = total;
    }
    ret = wal__pread_full(it->fd, it->buf, total, it->off);
    if (ret)
        return ret;
    if (!wal__rec_crc_ok(it->buf, &h))
        return -EBADMSG;
    assert(h.seq == it->seq);
    assert(h.len <= it->seg_bytes);
    rec->seq = h.seq;
    rec->type = h.type;
    rec->len = h.len;
    rec->data = it->buf + WAL_REC_HDR_BYTES;
    it->off += wal__rec_bytes(h.len);
    it->seq++;
    return 1;
}

static void iter_free(struct wal_iter *it)
{
    if (it->async)
        it->w->iters[it->slot] = NULL;
    if (it->fd != -1)
        close(it->fd);
    free(it->buf);
    free(it);
}

void wal_iter_close(struct wal_iter *it)
{
    if (!it)
        return;
    if (it->inflight) {
        it->closing = true; /* the kernel still writes into buf */
        return;
    }
    iter_free(it);
}

int wal_iter_open_async(struct wal *w, uint64_t seq, wal_iter_ready_cb *ready, void *arg, struct wal_iter **out)
{
    struct wal_iter *it;
    uint32_t slot = 0;

    while (slot < WAL_ITER_ASYNC_MAX && w->iters[slot] != NULL)
        slot++;
    if (slot == WAL_ITER_ASYNC_MAX)
        return -EMFILE;
    it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->w = w;
    it->fd = -1;
    it->seq = seq < w->first_seq ? w->first_seq : seq;
    it->async = true;
    it->slot = slot;
    it->ready = ready;
    it->arg = arg;
    w->iters[slot] = it;
    *out = it;
    return 0;
}

/* Opens the segment holding `next`; its records before `next` are skipped as they are read. */
static int async_enter(struct wal_iter *it, uint64_t next)
{
    const struct wal *w = it->w;
    uint32_t idx;
    int ret;

    assert(!it->inflight);
    if (it->fd != -1)
        close(it->fd);
    it->fd = -1;
    ret = find_seg(w, next, &idx);
    if (ret)
        return ret;
    ret = wal__seg_open_ro(w, idx);
    if (ret < 0)
        return ret;
    it->fd = ret;
    it->seg_base = w->segs[idx].base_seq;
    it->seg_bytes = w->segs[idx].bytes;
    it->off = it->buf_off = w->segs[idx].block_bytes;
    it->len = 0;
    it->want = next;
    it->seq = it->seg_base;
    return 0;
}

/* Places a read of at least need bytes from it->off. The bytes read before are dropped, not kept: they
 * may come from a read placed when fewer records were durable, and everything in buf must come from
 * the read that buf_durable describes. Returns -EAGAIN once placed. */
static int async_read(struct wal_iter *it, size_t need)
{
    struct wal *w = it->w;
    size_t want = need > ITER_CHUNK ? need : ITER_CHUNK;
    struct io_uring_sqe *sqe;

    assert(it->off >= it->buf_off);
    it->buf_off = it->off;
    it->len = 0;
    if (it->buf_off + want > it->seg_bytes)
        want = (size_t)(it->seg_bytes - it->buf_off);
    if (want < need)
        return -EBADMSG; /* a record running past its segment: the header check prevents it */
    if (want > it->cap) {
        uint8_t *b = realloc(it->buf, want);

        if (!b)
            return -ENOMEM;
        it->buf = b;
        it->cap = want;
    }
    sqe = wal__ring_sqe(w);
    if (!sqe)
        return -EBUSY; /* the SQ stays full: call again */
    io_uring_prep_read(sqe, it->fd, it->buf + it->len, (unsigned)(want - it->len), it->buf_off + it->len);
    wal__tag(w, sqe, WAL_OP_READ, it->slot);
    it->inflight = true;
    it->buf_durable = w->durable_seq;
    return -EAGAIN;
}

static int async_next(struct wal_iter *it, struct wal_record *rec)
{
    const struct wal *w = it->w;
    struct wal_rec_hdr h;

    for (;;) {
        uint64_t next = it->seq < it->want ? it->want : it->seq;
        size_t pos = (size_t)(it->off - it->buf_off), need = WAL_REC_HDR_BYTES;

        if (it->err)
            return it->err;
        if (it->inflight)
            return -EAGAIN;
        if (next < w->first_seq)
            return -ENOENT;
        if (next > w->durable_seq)
            return 0;
        if (it->fd == -1 || next >= wal__seg_next_base(w, it->seg_base)) {
            int ret = async_enter(it, next);

            if (ret)
                return ret;
            continue;
        }
        if (it->seq > it->buf_durable)
            it->len = pos < it->len ? pos : it->len; /* read before this record was durable: again */
        if (pos + WAL_REC_HDR_BYTES <= it->len) {
            wal__rec_hdr_decode(it->buf + pos, &h);
            if (!wal__rec_hdr_plausible(&h, it->off, it->seg_bytes) || h.seq != it->seq)
                return -EBADMSG;
            need = WAL_REC_HDR_BYTES + (size_t)h.len;
            if (pos + need <= it->len) {
                if (!wal__rec_crc_ok(it->buf + pos, &h))
                    return -EBADMSG;
                it->off += wal__rec_bytes(h.len);
                it->seq++;
                if (h.seq < it->want)
                    continue;
                assert(h.len <= it->seg_bytes);
                rec->seq = h.seq;
                rec->type = h.type;
                rec->len = h.len;
                rec->data = it->buf + pos + WAL_REC_HDR_BYTES;
                return 1;
            }
        }
        return async_read(it, need);
    }
}

/* The CQE of an asynchronous iterator's read. */
void wal__iter_cqe(struct wal *w, uint32_t slot, int res)
{
    struct wal_iter *it = w->iters[slot];

    assert(it != NULL);
    assert(it->inflight);
    it->inflight = false;
    if (it->closing) {
        iter_free(it);
        return;
    }
    if (res < 0)
        it->err = res;
    else if (res == 0)
        it->err = -EIO; /* segments are preallocated: durable bytes are never past the end */
    else
        it->len += (size_t)res;
    if (it->ready)
        it->ready(it->arg, it);
}

uint64_t wal_durable_seq(const struct wal *w)
{
    return w->durable_seq;
}

uint64_t wal_first_seq(const struct wal *w)
{
    return w->first_seq;
}

void wal_get_stats(const struct wal *w, struct wal_stats *st)
{
    *st = w->st;
    st->direct = w->direct;
    st->durable = w->durable;
    st->fixed = w->fixed;
    st->block_bytes = w->block;
}
