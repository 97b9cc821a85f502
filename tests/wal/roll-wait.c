/*
 * The roll-over fallback under an injected delay: the CQEs of the segment requests are held back, so
 * the segment prepared ahead (or, with no_prepare, the one started at the roll-over) is not ready when
 * the log rolls over. The roll-over creates nothing on the caller's thread and is counted in
 * segments_sync; the records of the old segment are acknowledged; appends keep accumulating in the
 * waiting batch, unacknowledged, until its buffer is full and appends get -EAGAIN (counted); no new
 * segment is named. Once the CQEs arrive the openat/fallocate/fdatasync chain completes, the batch goes
 * out in the new segment, which is named (renameat, directory fsync: five segment requests in all),
 * everything is acknowledged in order, and a reopen reads every record back.
 */
#include "tests/wal/hold.h"

#define SEG (64 << 10)

static uint32_t len_of(uint64_t seq)
{
    return (uint32_t)(1 + seq * 2731 % 3000);
}

static int count_seg_cqes(void *arg, enum wal_fault_point point, int res)
{
    *(int *)arg += point == WAL_FAULT_SEGMENT_CQE;
    return res;
}

static void scenario(const struct walt_conf *c, bool no_prepare)
{
    const char *what = no_prepare ? "no_prepare" : "prepared late";
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct wal_stats st;
    struct hold h = {.op = WAL_OP_SEG};
    uint64_t s = 1, base, eagain0;
    int seg_cqes = 0, ret = 0;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.segment_bytes = SEG;
    o.buffer_bytes = 16 << 10;
    o.no_prepare = no_prepare;
    o.fault = count_seg_cqes;
    o.fault_arg = &seg_cqes;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    for (st.segments_sync = 0; st.segments_sync == 0 && s < 400 && ret == 0; s++) {
        ret = hold_append(w, &ring, &h, len_of(s), s, &acks);
        hold_poll(w, &ring, &h, false);
        wal_get_stats(w, &st);
    }
    ok(ret == 0 && st.segments_sync == 1 && st.segments_prepared == 0, "%s: %s: the roll-over found no segment ready", c->name,
       what);
    base = w->segs[w->nsegs - 1].base_seq;
    ok(w->roll_wait && w->nsegs == 2, "%s: %s: its first batch waits for the new segment", c->name, what);
    hold_settle(w, &ring, &h);
    ok_eq(acks.count, base - 1, "%s: %s: the old segment's records are acknowledged", c->name, what);
    eagain0 = st.eagain;
    for (ret = 0; ret == 0 && s < 1000; s++)
        ret = hold_append(w, &ring, &h, len_of(s), s, &acks);
    s--; /* the refused one */
    ok_eq(ret, -EAGAIN, "%s: %s: appends accumulate until the buffers are full, then -EAGAIN", c->name, what);
    ok(s > base, "%s: %s: %llu records accumulated meanwhile", c->name, what, (unsigned long long)(s - base));
    wal_get_stats(w, &st);
    ok(st.eagain > eagain0, "%s: %s: the refusal is counted", c->name, what);
    hold_settle(w, &ring, &h);
    ok(acks.count == base - 1 && acks.errors == 0, "%s: %s: none of them acknowledged", c->name, what);
    ok_eq(walt_file_count(dir), 1, "%s: %s: no segment named", c->name, what);
    ok(w->roll_wait && h.n == 1 && seg_cqes == 0, "%s: %s: still waiting, on the held CQE", c->name, what);
    hold_release(w, &h);
    ok_eq(wal_drain(w), 0, "%s: %s: drained once the CQEs arrive", c->name, what);
    ok_eq(wal_append(w, 1, "x", 1, walt_ack_cb, &acks, &base), 0, "%s: %s: appends accepted again", c->name, what);
    ok_eq(wal_drain(w), 0, "%s: %s: drained", c->name, what);
    ok(acks.count == s && acks.last == s && !acks.out_of_order, "%s: %s: all %llu acknowledged, in order", c->name, what,
       (unsigned long long)s);
    ok_eq(seg_cqes, 5, "%s: %s: openat, fallocate, fdatasync, renameat, directory fsync on the ring", c->name, what);
    ok_eq(walt_file_count(dir), 2, "%s: %s: the new segment is named", c->name, what);
    ok_eq(walt_verify(w, 1, s - 1, len_of), 0, "%s: %s: records read back", c->name, what);
    ok_eq(wal_close(w), 0, "%s: %s: close", c->name, what);
    o.fault = NULL;
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.next_seq == s + 1 && rec.segments == 2 && !rec.tail_cut, "%s: %s: reopen finds every record", c->name, what);
    if (ret == 0) {
        ok_eq(walt_verify(w, 1, s - 1, len_of), 0, "%s: %s: records read back after reopen", c->name, what);
        wal_close(w);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

static void run(const struct walt_conf *c)
{
    scenario(c, false);
    scenario(c, true);
}

int main(void)
{
    return walt_for_all_configs(run);
}
