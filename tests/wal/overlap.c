/*
 * Two batch writes in flight. Driven CQE by CQE: a large batch sealed while the previous one is being
 * written goes out at once, except its first block, which it shares with the previous batch and which
 * is written only after the previous batch's write completed; a newer batch's completion acknowledges
 * nothing before the older batch is durable; a small batch waits. A failed newer write fails both and
 * acknowledges nothing. An older batch torn under a newer one that landed is cut as a torn tail at
 * open (not refused as corruption). Under load, with
 * max_inflight 2 batches overlap, callbacks stay in sequence order and every record reads back; with
 * max_inflight 1 none overlap; more than the bound is refused.
 */
#include "tests/wal/walt.h"
#include "wal/internal.h" /* WAL_OP_* and WAL_UD_MASK: the user_data tag of a CQE */

#define LEN 3000

static uint32_t len_step(uint64_t seq)
{
    return seq == 4 ? 100 : LEN;
}

static uint32_t len_load(uint64_t seq)
{
    return (uint32_t)(20000 + seq * 7919 % 30000);
}

static int tag_op(uint64_t user_data)
{
    return (int)((user_data & WAL_UD_MASK) >> 3);
}

static int tag_idx(uint64_t user_data)
{
    return (int)(user_data & 7);
}

/* The user_data of the last SQE placed on the ring and not yet submitted. */
static uint64_t last_sqe_data(struct io_uring *ring)
{
    return ring->sq.sqes[(ring->sq.sqe_tail - 1) & *ring->sq.kring_mask].user_data;
}

/* Submits and takes n CQEs off the ring without handing them to the WAL. */
static void reap(struct io_uring *ring, struct io_uring_cqe *out, unsigned n)
{
    struct io_uring_cqe *cqe;

    io_uring_submit(ring);
    for (unsigned i = 0; i < n; i++) {
        if (io_uring_wait_cqe(ring, &cqe))
            BAIL_OUT("wait_cqe");
        out[i] = *cqe;
        io_uring_cqe_seen(ring, cqe);
    }
}

static void stepwise(const struct walt_conf *c, const char *dir, struct io_uring *ring)
{
    struct wal *w;
    struct wal_options o = walt_options(dir, c);
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct wal_stats st;
    struct io_uring_cqe cqes[2], *older, *newer;
    uint64_t seq, data;
    int ret;

    o.fdatasync = false; /* one write per part is each part's durability point: fewer steps */
    o.buffer_bytes = 64 << 10;
    o.segment_bytes = 1 << 20; /* small: open reads the whole segment */
    o.overlap_min_bytes = 8 << 10;
    o.max_inflight = 2;
    if (wal_open(&o, ring, &w, &rec))
        BAIL_OUT("open");
    for (uint64_t s = 1; s <= 3; s++) /* batch 1 ends inside a block */
        walt_append(w, len_step(s), s, &acks, &seq);
    wal_flush(w);
    ok_eq(io_uring_sq_ready(ring), 1, "%s: batch 1 is one write", c->name);
    walt_append(w, len_step(4), 4, &acks, &seq);
    wal_flush(w);
    ok_eq(io_uring_sq_ready(ring), 1, "%s: a small batch does not join it", c->name);
    for (uint64_t s = 5; s <= 8; s++)
        walt_append(w, len_step(s), s, &acks, &seq);
    wal_flush(w);
    ok_eq(io_uring_sq_ready(ring), 2, "%s: batch 2 goes out while batch 1 is in flight", c->name);
    data = last_sqe_data(ring);
    ok(tag_op(data) == WAL_OP_BODY && tag_idx(data) == 1, "%s: without its first block (the shared one)", c->name);
    wal_get_stats(w, &st);
    ok_eq(st.overlapped_batches, 1, "%s: counted as overlapped", c->name);

    reap(ring, cqes, 2);
    older = tag_idx(cqes[0].user_data) == 0 ? &cqes[0] : &cqes[1];
    newer = older == &cqes[0] ? &cqes[1] : &cqes[0];
    ok(tag_idx(older->user_data) == 0 && tag_idx(newer->user_data) == 1, "%s: one CQE per batch", c->name);
    ok(wal_handle_cqe(w, newer), "%s: the newer batch's write completes first", c->name);
    ok_eq(acks.count, 0, "%s: which acknowledges nothing", c->name);
    ok_eq(io_uring_sq_ready(ring), 0, "%s: its shared block waits for the older write", c->name);
    ok(wal_handle_cqe(w, older), "%s: then the older batch's write", c->name);
    ok_eq(acks.count, 3, "%s: batch 1 acknowledged", c->name);
    ok_eq(io_uring_sq_ready(ring), 1, "%s: the shared block goes out now", c->name);
    data = last_sqe_data(ring);
    ok(tag_op(data) == WAL_OP_HEAD && tag_idx(data) == 1, "%s: as batch 2's head", c->name);
    reap(ring, cqes, 1);
    ok(wal_handle_cqe(w, &cqes[0]), "%s: head written", c->name);
    ok_eq(acks.count, 8, "%s: batch 2 acknowledged after its head", c->name);
    ok(!acks.out_of_order, "%s: in sequence order", c->name);
    ok(!wal_is_busy(w), "%s: nothing left in flight", c->name);
    ok_eq(wal_close(w), 0, "%s: close", c->name);

    ret = wal_open(&o, ring, &w, &rec);
    ok(ret == 0 && rec.next_seq == 9 && !rec.tail_cut, "%s: reopen finds all 8 records", c->name);
    if (ret == 0) {
        ok_eq(walt_verify(w, 1, 8, len_step), 0, "%s: the shared block holds both batches", c->name);
        wal_close(w);
    }
}

static int fail_first_write(void *arg, enum wal_fault_point point, int res)
{
    int *seen = arg;

    return point == WAL_FAULT_WRITE_CQE && ++*seen == 1 ? -EIO : res;
}

/* The newer batch's write fails while the older one is in flight: nothing is acknowledged, the error
 * reaches the caller, and the WAL stays busy until the older write's CQE has come back. */
static void fault_newer(const struct walt_conf *c, struct io_uring *ring)
{
    char dir[256];
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct io_uring_cqe cqes[2], *older, *newer;
    uint64_t seq;
    int seen = 0, ret;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    o = walt_options(dir, c);
    o.log = walt_silent_log;
    o.fdatasync = false;
    o.buffer_bytes = 64 << 10;
    o.segment_bytes = 1 << 20; /* small: open reads the whole segment */
    o.overlap_min_bytes = 8 << 10;
    o.fault = fail_first_write;
    o.fault_arg = &seen;
    if (wal_open(&o, ring, &w, &rec))
        BAIL_OUT("open");
    for (uint64_t s = 1; s <= 8; s++) {
        walt_append(w, len_step(s), s, &acks, &seq);
        if (s == 3 || s == 8)
            wal_flush(w);
    }
    ok_eq(io_uring_sq_ready(ring), 2, "%s: fault: two batches in flight", c->name);
    reap(ring, cqes, 2);
    older = tag_idx(cqes[0].user_data) == 0 ? &cqes[0] : &cqes[1];
    newer = older == &cqes[0] ? &cqes[1] : &cqes[0];
    wal_handle_cqe(w, newer);
    ok_eq(wal_flush(w), -EIO, "%s: fault: EIO on the newer write reaches the caller", c->name);
    ok(acks.count == 0 && acks.errors == 8, "%s: fault: both batches fail, none acknowledged", c->name);
    ok(wal_is_busy(w), "%s: fault: busy while the older write is out", c->name);
    ok_eq(wal_close(w), -EBUSY, "%s: fault: close refused meanwhile", c->name);
    ok(wal_handle_cqe(w, older), "%s: fault: the older CQE is still claimed", c->name);
    ok(!wal_is_busy(w) && acks.count == 0, "%s: fault: then idle, still nothing acknowledged", c->name);
    ok_eq(wal_close(w), 0, "%s: fault: close", c->name);
    o.fault = NULL;
    ret = wal_open(&o, ring, &w, &rec);
    ok_eq(ret, 0, "%s: fault: reopen", c->name);
    if (ret == 0)
        wal_close(w);
    walt_rmrf(dir);
}

/* Record 2 (batch 1) damaged as by a torn write, batch 2 (written beside it) intact: a torn tail. */
static void torn_older(const struct walt_conf *c, const char *dir, struct io_uring *ring)
{
    struct wal_options o = walt_options(dir, c);
    struct wal_recovery rec;
    struct wal *w;
    char path[320];
    uint8_t zero[64] = {0};
    uint64_t off = 4096 + 3024 + 40; /* inside record 2's payload */
    int fd, ret;

    o.log = walt_silent_log;
    o.segment_bytes = 1 << 20;
    snprintf(path, sizeof(path), "%s/0000000000000001.wal", dir);
    fd = open(path, O_WRONLY);
    ok(fd != -1 && pwrite(fd, zero, sizeof(zero), (off_t)off) == (ssize_t)sizeof(zero), "%s: record 2 damaged", c->name);
    if (fd != -1)
        close(fd);
    ret = wal_open(&o, ring, &w, &rec);
    ok_eq(ret, 0, "%s: open succeeds: batch 2's records count from batch 1", c->name);
    if (ret)
        return;
    ok(rec.tail_cut && rec.next_seq == 2, "%s: cut at record 2 (next %llu)", c->name, (unsigned long long)rec.next_seq);
    wal_close(w);
}

static void load(const struct walt_conf *c, const char *dir, struct io_uring *ring, uint32_t max_inflight)
{
    struct wal *w;
    struct wal_options o = walt_options(dir, c);
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct wal_stats st;
    uint64_t seq, first, n = 100;
    int ret = 0;

    o.buffer_bytes = 256 << 10;
    o.segment_bytes = 1 << 20;
    o.overlap_min_bytes = 32 << 10;
    o.max_inflight = max_inflight;
    if (wal_open(&o, ring, &w, &rec))
        BAIL_OUT("open");
    first = rec.next_seq;
    acks.last = first - 1;
    for (uint64_t s = first; s < first + n && ret == 0; s++) {
        ret = walt_append(w, len_load(s), s, &acks, &seq);
        if (s % 3 == 0)
            wal_poll(w, false);
    }
    ok_eq(ret, 0, "%s/%u: appends accepted", c->name, max_inflight);
    ok_eq(wal_drain(w), 0, "%s/%u: drained", c->name, max_inflight);
    wal_get_stats(w, &st);
    ok(acks.count == n && !acks.out_of_order, "%s/%u: all acknowledged, in order", c->name, max_inflight);
    if (max_inflight > 1)
        ok(st.overlapped_batches > 0, "%s/%u: batches overlapped (%llu of %llu)", c->name, max_inflight,
           (unsigned long long)st.overlapped_batches, (unsigned long long)st.batches);
    else
        ok_eq(st.overlapped_batches, 0, "%s/%u: no batch overlapped", c->name, max_inflight);
    ok_eq(walt_verify(w, first, first + n - 1, len_load), 0, "%s/%u: read back", c->name, max_inflight);
    wal_close(w);
    ret = wal_open(&o, ring, &w, &rec);
    ok(ret == 0 && rec.next_seq == first + n && !rec.tail_cut, "%s/%u: reopen finds every record", c->name, max_inflight);
    if (ret == 0) {
        ok_eq(walt_verify(w, first, first + n - 1, len_load), 0, "%s/%u: read back after reopen", c->name, max_inflight);
        wal_close(w);
    }
}

static void run(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal_options o;
    struct wal *w;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    stepwise(c, dir, &ring);
    torn_older(c, dir, &ring);
    fault_newer(c, &ring);
    walt_rmrf(dir);
    walt_mkdir(dir, sizeof(dir), c->base);
    load(c, dir, &ring, 2);
    load(c, dir, &ring, 1);
    o = walt_options(dir, c);
    o.max_inflight = 5;
    ok_eq(wal_open(&o, &ring, &w, NULL), -EINVAL, "%s: more than 4 in flight refused", c->name);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
