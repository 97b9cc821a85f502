/*
 * wal_truncate_before drops whole segments whose records all lie below the sequence, never the one
 * being written, asynchronously: the call itself removes nothing (its unlinks are only placed on the
 * ring) but moves the first sequence at once; the callback then reports the count, after one unlinkat
 * per segment and one directory fsync placed after the last unlink completed (counted through the
 * fault hook). Iteration then starts at the oldest record kept, from any sequence; the first sequence
 * survives a reopen.
 */
#include "tests/wal/walt.h"

#define NREC 400

static uint32_t len_of(uint64_t seq)
{
    return (uint32_t)(seq * 31 % 900);
}

/* Counts the truncation requests' completions, and the files left when the directory fsync is done. */
struct ops {
    const char *dir;
    int unlinks;
    int dirsyncs;
    int files_at_dirsync;
};

static int hook(void *arg, enum wal_fault_point point, int res)
{
    struct ops *o = arg;

    if (point == WAL_FAULT_TRUNC_UNLINK_CQE)
        o->unlinks += res == 0;
    if (point == WAL_FAULT_TRUNC_DIRSYNC_CQE) {
        o->dirsyncs += res == 0;
        o->files_at_dirsync = walt_file_count(o->dir);
    }
    return res;
}

static void run(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_trunc tr = {0};
    struct ops ops = {0};
    struct wal_iter *it;
    struct wal_record r;
    uint64_t seq, first;
    int segs, n, ret;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    o = walt_small_options(dir, c);
    ops.dir = dir;
    o.fault = hook;
    o.fault_arg = &ops;
    walt_open_filled(&o, &ring, &w, NREC, len_of);
    segs = walt_file_count(dir);
    ok(segs > 4, "%s: %d segments written", c->name, segs);
    ok_eq(wal_truncate_before(w, 1, walt_trunc_cb, &tr), 0, "%s: nothing below the first record to drop", c->name);
    n = wal_truncate_before(w, 200, walt_trunc_cb, &tr);
    ok(n > 0, "%s: segments below 200 to drop (%d)", c->name, n);
    ok(wal_is_busy(w) && walt_file_count(dir) == segs, "%s: the call removed nothing itself: the unlink is on the ring", c->name);
    first = wal_first_seq(w);
    ok(first > 1 && first <= 200, "%s: first sequence %llu (at most 200) moved at once", c->name, (unsigned long long)first);
    ok_eq(wal_truncate_before(w, 200, walt_trunc_cb, &tr), 0, "%s: the same again: nothing more to drop", c->name);
    ok_eq(tr.calls, 0, "%s: no callback before the ring completes", c->name);
    ok_eq(wal_drain(w), 0, "%s: drained", c->name);
    ok(tr.calls == 1 && tr.res == n, "%s: the callback reports the %d segments once", c->name, n);
    ok_eq(walt_file_count(dir), segs - n, "%s: their files are gone", c->name);
    ok(ops.unlinks == n && ops.dirsyncs == 1, "%s: one unlinkat per segment (%d), one directory fsync (%d)", c->name, ops.unlinks,
       ops.dirsyncs);
    ok_eq(ops.files_at_dirsync, segs - n, "%s: the directory fsync came after every unlink", c->name);
    ok_eq(walt_verify(w, first, NREC, len_of), 0, "%s: everything from the first kept record reads back", c->name);
    ret = wal_iter_open(w, 1, &it);
    ok(ret == 0 && wal_iter_next(it, &r) == 1 && r.seq == first, "%s: iterating from below starts at the first kept", c->name);
    if (ret == 0)
        wal_iter_close(it);
    ret = wal_iter_open(w, NREC + 1, &it);
    ok(ret == 0 && wal_iter_next(it, &r) == 0, "%s: iterating from the end yields nothing", c->name);
    if (ret == 0)
        wal_iter_close(it);
    n = wal_truncate_before(w, UINT64_MAX, walt_trunc_cb, &tr);
    ok_eq(wal_drain(w), 0, "%s: drained again", c->name);
    ok(tr.calls == 2 && tr.res == n, "%s: the second truncation reports %d", c->name, n);
    ok_eq(walt_file_count(dir), 1, "%s: the segment being written always stays", c->name);
    ok_eq(walt_verify(w, wal_first_seq(w), NREC, len_of), 0, "%s: and reads back", c->name);
    first = wal_first_seq(w);
    wal_close(w);
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.first_seq == first && rec.next_seq == NREC + 1, "%s: reopen keeps the first and next sequence", c->name);
    if (ret == 0) {
        ok_eq(wal_append(w, 1, "x", wal_max_record(w) + 1, NULL, NULL, &seq), -EMSGSIZE, "%s: oversized record refused", c->name);
        ok_eq(walt_verify(w, first, NREC, len_of), 0, "%s: reads back after reopen", c->name);
        wal_close(w);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
