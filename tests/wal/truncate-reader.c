/*
 * The reader's side of a truncation: an iterator holding a position below the truncation point gets
 * -ENOENT from its next wal_iter_next, from the moment wal_truncate_before returns (before any unlink
 * has run), after the truncation has completed too, and again on every later call: it never reads a
 * record of a segment being removed. An iterator at or above the new first sequence reads on to the end
 * undisturbed, across the truncation; a new iterator from below starts at the first record kept.
 */
#include "tests/wal/walt.h"

#define NREC 300

static void run(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct walt_trunc tr = {0};
    struct wal_iter *low, *high, *it;
    struct wal_record r;
    uint64_t first, want;
    int n, ret;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    o = walt_small_options(dir, c);
    walt_open_filled(&o, &ring, &w, NREC, walt_len_mixed);
    if (wal_iter_open(w, 1, &low) || wal_iter_open(w, 250, &high))
        BAIL_OUT("iter_open");
    ok(wal_iter_next(low, &r) == 1 && r.seq == 1 && wal_iter_next(low, &r) == 1 && r.seq == 2, "%s: a reader at the start",
       c->name);
    ok(wal_iter_next(high, &r) == 1 && r.seq == 250, "%s: a reader past the truncation point", c->name);
    n = wal_truncate_before(w, 200, walt_trunc_cb, &tr);
    first = wal_first_seq(w);
    ok(n > 0 && first > 3 && first <= 200, "%s: %d segments to remove, first sequence now %llu", c->name, n,
       (unsigned long long)first);
    ok_eq(wal_iter_next(low, &r), -ENOENT, "%s: the reader below gets -ENOENT at once, unlinks not yet run", c->name);
    ok_eq(wal_drain(w), 0, "%s: truncation drained", c->name);
    ok(tr.calls == 1 && tr.res == n, "%s: truncation completed", c->name);
    ok_eq(wal_iter_next(low, &r), -ENOENT, "%s: and -ENOENT after the truncation completed", c->name);
    ok_eq(wal_iter_next(low, &r), -ENOENT, "%s: and again", c->name);
    wal_iter_close(low);
    for (want = 251; (ret = wal_iter_next(high, &r)) == 1 && r.seq == want && walt_check(r.data, r.len, want); want++)
        ;
    ok(ret == 0 && want == NREC + 1, "%s: the reader above read on to the end (%llu)", c->name, (unsigned long long)want);
    wal_iter_close(high);
    ret = wal_iter_open(w, 1, &it);
    ok(ret == 0 && wal_iter_next(it, &r) == 1 && r.seq == first, "%s: a new reader from below starts at the first kept", c->name);
    if (ret == 0)
        wal_iter_close(it);
    ok_eq(walt_verify(w, first, NREC, walt_len_mixed), 0, "%s: everything kept reads back", c->name);
    wal_close(w);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
