/*
 * Reading durable records back (replay at start-up, tools), and stats.
 * Reads are synchronous preads on their own descriptors: replay happens before the loop runs.
 * Every record read is checked again (the pair of the check made before it was written).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wal/internal.h"

struct wal_iter {
    struct wal *w;
    uint64_t seq;      /* the next record's sequence */
    uint64_t seg_base; /* base of the open segment, 0 when none */
    uint64_t seg_bytes;
    uint64_t off;
    int fd;
    uint8_t *buf;
    size_t cap;
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

int wal_iter_next(struct wal_iter *it, struct wal_record *rec)
{
    const struct wal *w = it->w;
    struct wal_rec_hdr h;
    size_t total;
    int ret;

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

void wal_iter_close(struct wal_iter *it)
{
    if (!it)
        return;
    if (it->fd != -1)
        close(it->fd);
    free(it->buf);
    free(it);
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
