/*
 * Truncation beside the writer. Appends during a truncation: records appended and acknowledged while
 * the unlinks and the directory fsync are on the ring, all in order, the truncation completes with its
 * count, everything kept reads back before and after reopen. Truncation racing a roll-over: with the
 * segment requests held back (hold.h) and no segment prepared ahead, a roll-over waits for its segment; a truncation of everything
 * then keeps the segment being written and the one before it, since the new segment has no name yet
 * (a crash must leave a named segment where the log ends); once the segment requests complete, the
 * records are acknowledged, a later truncation drops the old segment, and a reopen continues the
 * sequence.
 */
#include "tests/wal/hold.h"

static void open_log(const struct walt_conf *c, const char *dir, struct io_uring *ring, struct wal **w, struct wal_options *o)
{
    *o = walt_small_options(dir, c);
    walt_open_filled(o, ring, w, 0, NULL);
}

static void appends_during(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct walt_trunc tr = {0};
    uint64_t seq, s, first;
    int n, ret = 0;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    open_log(c, dir, &ring, &w, &o);
    if (walt_append_range(w, 1, 300, walt_len_mixed, &acks))
        BAIL_OUT("append");
    n = wal_truncate_before(w, 250, walt_trunc_cb, &tr);
    first = wal_first_seq(w);
    ok(n > 3, "%s: appends during: truncation of %d segments started", c->name, n);
    /* Appends go into the same submissions as the unlinks, one poll each. */
    for (s = 301; s <= 600 && ret == 0; s++) {
        ret = walt_append(w, walt_len_mixed(s), s, &acks, &seq);
        if (ret == 0)
            ret = wal_poll(w, false) < 0;
    }
    ok_eq(ret, 0, "%s: appends during: appends accepted", c->name);
    ok_eq(wal_drain(w), 0, "%s: appends during: drained", c->name);
    ok(tr.calls == 1 && tr.res == n, "%s: appends during: truncation completed with %d", c->name, n);
    ok(acks.count == 600 && acks.last == 600 && !acks.out_of_order && acks.errors == 0,
       "%s: appends during: every append acknowledged, in order", c->name);
    ok_eq(walt_verify(w, first, 600, walt_len_mixed), 0, "%s: appends during: records kept read back", c->name);
    wal_close(w);
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.first_seq == first && rec.next_seq == 601, "%s: appends during: reopen", c->name);
    if (ret == 0) {
        ok_eq(walt_verify(w, first, 600, walt_len_mixed), 0, "%s: appends during: read back after reopen", c->name);
        wal_close(w);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

static void racing_roll(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct walt_trunc tr = {0};
    struct hold h = {0};
    struct wal_stats st;
    uint64_t s, base, last_old;
    int n, segs, ret = 0;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    open_log(c, dir, &ring, &w, &o);
    /* No segment prepared ahead: the next roll-over waits for one whatever the timing. */
    wal_close(w);
    o.no_prepare = true;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    if (walt_append_range(w, 1, 200, walt_len_mixed, &acks))
        BAIL_OUT("append");
    segs = walt_file_count(dir);
    h.op = WAL_OP_SEG;
    wal_get_stats(w, &st);
    for (s = 201; st.segments_sync == (uint64_t)segs - 1 && s < 1000 && ret == 0; s++) {
        ret = hold_append(w, &ring, &h, walt_len_mixed(s), s, &acks);
        wal_get_stats(w, &st);
    }
    ok(ret == 0 && w->roll_wait, "%s: racing roll: a roll-over waits for its segment", c->name);
    base = w->segs[w->nsegs - 1].base_seq;
    hold_settle(w, &ring, &h);
    last_old = acks.last;
    ok_eq(last_old, base - 1, "%s: racing roll: the old segment acknowledged", c->name);
    n = wal_truncate_before(w, UINT64_MAX, walt_trunc_cb, &tr);
    ok_eq(n, segs - 1, "%s: racing roll: truncation takes all but the last named segment", c->name);
    hold_settle(w, &ring, &h);
    ok(tr.calls == 1 && tr.res == n, "%s: racing roll: truncation completed while the roll-over waits", c->name);
    ok(walt_file_count(dir) == 1 && w->roll_wait, "%s: racing roll: one named segment left, where the log ends", c->name);
    ok_eq(wal_first_seq(w), w->segs[0].base_seq, "%s: racing roll: first sequence at it", c->name);
    hold_release(w, &h);
    ok_eq(wal_drain(w), 0, "%s: racing roll: drained once the segment requests complete", c->name);
    ok(acks.last == s - 1 && acks.count == s - 1 && !acks.out_of_order, "%s: racing roll: everything acknowledged", c->name);
    n = wal_truncate_before(w, UINT64_MAX, walt_trunc_cb, &tr);
    ok_eq(wal_drain(w), 0, "%s: racing roll: drained", c->name);
    ok(n == 1 && tr.calls == 2 && tr.res == 1, "%s: racing roll: the old segment goes once the new one is named", c->name);
    ok_eq(walt_file_count(dir), 1, "%s: racing roll: one segment", c->name);
    wal_close(w);
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.first_seq == base && rec.next_seq == s, "%s: racing roll: reopen continues the sequence", c->name);
    if (ret == 0) {
        ok_eq(walt_verify(w, base, s - 1, walt_len_mixed), 0, "%s: racing roll: read back after reopen", c->name);
        wal_close(w);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

static void run(const struct walt_conf *c)
{
    appends_during(c);
    racing_roll(c);
}

int main(void)
{
    return walt_for_all_configs(run);
}
