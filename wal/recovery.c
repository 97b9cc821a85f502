/*
 * Recovery at open: find the durable end of the log, cut a torn tail, refuse (or, asked to, repair)
 * corruption of durable records. The rules are in the format comment at the top of format.c.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "wal/internal.h"

struct image {
    uint8_t *mem;
    uint64_t cap;
    uint32_t idx; /* segment held, UINT32_MAX for none */
    struct wal_seg_hdr hdr;
};

/* Reads segment idx whole into im. -EBADMSG when its header is invalid or names another base. */
static int load(struct wal *w, uint32_t idx, struct image *im)
{
    uint8_t raw[WAL_SEG_HDR_BYTES];
    int fd, ret;

    if (im->idx == idx)
        return 0;
    im->idx = UINT32_MAX;
    fd = wal__seg_open_ro(w, idx);
    if (fd < 0)
        return fd;
    ret = wal__pread_full(fd, raw, sizeof(raw), 0);
    if (ret == 0)
        ret = wal__seg_hdr_decode(raw, &im->hdr);
    if (ret == 0 && im->hdr.base_seq != w->segs[idx].base_seq)
        ret = -EBADMSG;
    if (ret == 0 && im->hdr.segment_bytes > im->cap) {
        void *m;
        free(im->mem);
        im->mem = NULL;
        im->cap = 0;
        /* Aligned so that the tail can be zeroed with O_DIRECT straight from it. */
        if (posix_memalign(&m, w->block, im->hdr.segment_bytes) != 0)
            ret = -ENOMEM;
        else {
            im->mem = m;
            im->cap = im->hdr.segment_bytes;
        }
    }
    if (ret == 0)
        ret = wal__pread_full(fd, im->mem, im->hdr.segment_bytes, 0);
    close(fd);
    if (ret == 0) {
        im->idx = idx;
        w->segs[idx].bytes = im->hdr.segment_bytes;
        w->segs[idx].block_bytes = im->hdr.block_bytes;
    }
    return ret;
}

/* Validates the record at off against the expected sequence (0: any sequence above min_seq whose batch
 * began above min_seq, the test for later writes). */
static bool record_ok(const struct image *im, uint64_t off, uint64_t expect, uint64_t min_seq, struct wal_rec_hdr *h)
{
    if (off + WAL_REC_HDR_BYTES > im->hdr.segment_bytes)
        return false;
    wal__rec_hdr_decode(im->mem + off, h);
    if (!wal__rec_hdr_plausible(h, off, im->hdr.segment_bytes))
        return false;
    if (expect != 0 && h->seq != expect)
        return false;
    if (expect == 0 && (h->seq <= min_seq || h->seq - h->batch_delta <= min_seq))
        return false;
    return wal__rec_crc_ok(im->mem + off, h);
}

/* Walks the valid records from the data start; returns the end offset and the next sequence. */
static uint64_t scan(const struct image *im, uint64_t *next_seq)
{
    uint64_t off = im->hdr.block_bytes, seq = im->hdr.base_seq;
    struct wal_rec_hdr h;

    while (record_ok(im, off, seq, 0, &h)) {
        /* The pair of the check wal__rec_encode made before the write. */
        assert(h.seq == seq);
        assert(off % WAL_REC_ALIGN == 0);
        off += wal__rec_bytes(h.len);
        seq++;
    }
    *next_seq = seq;
    return off;
}

/* A valid record past off written by a batch that began after seq: proof that seq was durable. */
static bool later_write_in(const struct image *im, uint64_t off, uint64_t seq)
{
    struct wal_rec_hdr h;

    for (uint64_t p = off + WAL_REC_ALIGN; p + WAL_REC_HDR_BYTES <= im->hdr.segment_bytes; p += WAL_REC_ALIGN) {
        uint64_t seq_field;

        memcpy(&seq_field, im->mem + p + 8, sizeof(seq_field));
        if (seq_field == 0) /* the usual case, zeros: skip without decoding */
            continue;
        if (record_ok(im, p, 0, seq, &h))
            return true;
    }
    return false;
}

static bool has_first_record(struct wal *w, uint32_t idx, struct image *im)
{
    struct wal_rec_hdr h;

    if (load(w, idx, im) != 0)
        return true; /* a named segment with a bad header is itself corruption: not a tail */
    return record_ok(im, im->hdr.block_bytes, im->hdr.base_seq, 0, &h);
}

/* One past the last non-zero byte at or after off (off when there is none). */
static uint64_t last_nonzero_end(const struct image *im, uint64_t off)
{
    uint64_t end = im->hdr.segment_bytes;

    while (end >= off + 8) {
        uint64_t word;
        memcpy(&word, im->mem + end - 8, sizeof(word));
        if (word != 0)
            break;
        end -= 8;
    }
    while (end > off && im->mem[end - 1] == 0)
        end--;
    return end;
}

/*
 * Writes the zeroed bytes [off, end) of the image back. With O_DIRECT when the log uses it: dirty page
 * cache under the writer's direct writes can fail their page cache invalidation, which the kernel
 * reports as EIO on the next sync. Both are synced here: the writer's O_DSYNC overwrites of blocks
 * already allocated go out as FUA writes, which make only themselves durable, not a device cache
 * the zeros may still sit in; a power loss after new batches landed could then bring back, beyond
 * them, records of a batch that was cut (once per open, so the cost does not matter).
 */
static int zero_tail(struct wal *w, uint32_t idx, const struct image *im, uint64_t off, uint64_t end)
{
    uint64_t start = off / w->block * w->block, stop = (end + w->block - 1) / w->block * w->block;
    int fd, ret;

    if (w->direct && stop <= im->hdr.segment_bytes) {
        fd = wal__seg_open_rw(w, idx, false);
        if (fd < 0)
            return fd;
        ret = wal__pwrite_full(fd, im->mem + start, stop - start, start);
        if (ret == 0 && fdatasync(fd) == -1)
            ret = -errno;
    } else {
        fd = wal__seg_open_wr_buffered(w, idx);
        if (fd < 0)
            return fd;
        ret = wal__pwrite_full(fd, im->mem + off, end - off, off);
        /* An O_DSYNC write syncs only its own range: dirty zeros past it could be lost with the power
         * and let stale records reappear after new ones. */
        if (ret == 0 && fdatasync(fd) == -1)
            ret = -errno;
    }
    close(fd);
    return ret;
}

/* The log ends in segment idx at off: zero what lies beyond (remains of a torn batch) and set the
 * writer's starting point. */
static int set_tail(struct wal *w, uint32_t idx, uint64_t off, uint64_t next_seq, struct image *im, struct wal_recovery *rec)
{
    uint64_t end;
    int ret;

    ret = load(w, idx, im);
    if (ret)
        return ret;
    end = last_nonzero_end(im, off);
    if (end > off) {
        memset(im->mem + off, 0, end - off);
        ret = zero_tail(w, idx, im, off, end);
        if (ret)
            return ret;
        rec->tail_cut = true;
        rec->bad_segment = w->segs[idx].base_seq;
        rec->bad_offset = off;
        snprintf(rec->message, sizeof(rec->message),
                 "torn tail cut in segment %016" PRIx64 " at offset %" PRIu64 " (%" PRIu64 " bytes), next sequence %" PRIu64,
                 w->segs[idx].base_seq, off, end - off, next_seq);
        wal__log(w, WAL_LOG_WARN, "%s", rec->message);
    }
    if (idx + 1 < w->nsegs) {
        ret = wal__seg_delete(w, idx + 1, w->nsegs - idx - 1);
        if (ret)
            return ret;
    }
    w->tail_off = off;
    w->next_seq = next_seq;
    w->durable_seq = next_seq - 1;
    w->first_seq = w->segs[0].base_seq;
    return 0;
}

/* Durable data is damaged at (idx, off): fail, or with options.repair cut the log there. */
static int corrupt(struct wal *w, uint32_t idx, uint64_t off, uint64_t next_seq, struct image *im, struct wal_recovery *rec)
{
    uint64_t base = w->segs[idx].base_seq;
    int ret;

    rec->bad_segment = base;
    rec->bad_offset = off;
    snprintf(rec->message, sizeof(rec->message),
             "corrupt %s in segment %016" PRIx64 " at offset %" PRIu64 " (expected sequence %" PRIu64 ")%s",
             off == 0 ? "header" : "record", base, off, next_seq, w->opt.repair ? ": repaired by truncation" : "");
    wal__log(w, WAL_LOG_ERR, "%s", rec->message);
    if (!w->opt.repair)
        return -EBADMSG;
    rec->repaired = true;
    if (off != 0)
        return set_tail(w, idx, off, next_seq, im, rec);
    /* A bad header loses the whole segment: the log ends where the previous one does. */
    ret = wal__seg_delete(w, idx, w->nsegs - idx);
    if (ret)
        return ret;
    im->idx = UINT32_MAX;
    if (idx == 0) {
        ret = wal__seg_create(w, base);
        if (ret)
            return ret;
        return set_tail(w, 0, w->block, base, im, rec);
    }
    ret = load(w, idx - 1, im);
    if (ret)
        return ret;
    off = scan(im, &next_seq);
    return set_tail(w, idx - 1, off, next_seq, im, rec);
}

static int recover_segments(struct wal *w, struct image *im, struct wal_recovery *rec)
{
    for (uint32_t i = 0;; i++) {
        uint64_t off, next_seq;
        int ret;

        assert(i < w->nsegs);
        ret = load(w, i, im);
        if (ret == -EBADMSG)
            return corrupt(w, i, 0, w->segs[i].base_seq, im, rec);
        if (ret)
            return ret;
        off = scan(im, &next_seq);
        if (later_write_in(im, off, next_seq))
            return corrupt(w, i, off, next_seq, im, rec);
        if (i + 1 == w->nsegs)
            return set_tail(w, i, off, next_seq, im, rec);
        if (w->segs[i + 1].base_seq == next_seq)
            continue;
        /* Records missing at the end of segment i: fine only if nothing was written after them. */
        for (uint32_t j = i + 1; j < w->nsegs; j++)
            if (has_first_record(w, j, im))
                return corrupt(w, i, off, next_seq, im, rec);
        return set_tail(w, i, off, next_seq, im, rec);
    }
}

int wal__recover(struct wal *w, struct wal_recovery *rec)
{
    struct image im = {.idx = UINT32_MAX};
    int ret;

    memset(rec, 0, sizeof(*rec));
    ret = wal__seg_list(w);
    if (ret)
        return ret;
    ret = wal__seg_wait_io(w);
    if (ret)
        return ret;
    if (w->nsegs == 0) {
        ret = wal__seg_create(w, 1);
        if (ret)
            return ret;
    }
    ret = recover_segments(w, &im, rec);
    free(im.mem);
    if (ret)
        return ret;
    assert(w->nsegs > 0);
    assert(w->next_seq >= w->first_seq);
    rec->first_seq = w->first_seq;
    rec->next_seq = w->next_seq;
    rec->segments = w->nsegs;
    return 0;
}
