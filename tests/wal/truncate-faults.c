/*
 * Faults injected on a truncation's requests through the fault hook (which rewrites the result of a
 * request the kernel has carried out). EIO on the second unlink of a truncation: the callback gets
 * -EIO, a truncation queued behind it -ECANCELED; nothing after the failed unlink is tried, so the
 * segments after it stay on disk, below the first sequence; the log is not failed (appends go on and
 * are acknowledged); a reopen finds the leftovers (the log starts at the oldest, no gap) and every
 * record; a later truncation removes them. EIO on the directory fsync: the callback gets
 * it, the files are gone, appends go on, the log reopens. A segment already removed by hand (ENOENT)
 * counts as removed.
 */
#include "tests/wal/walt.h"

#define NREC 400

struct fault {
    enum wal_fault_point point;
    int nth;
    int res;
    int seen;
};

static int hook(void *arg, enum wal_fault_point point, int res)
{
    struct fault *f = arg;

    if (point != f->point || ++f->seen != f->nth)
        return res;
    return f->res;
}

/* A fresh log of NREC records in small segments, with f as its fault hook. */
static void setup(const struct walt_conf *c, char *dir, size_t n, struct io_uring *ring, struct wal **w, struct wal_options *o,
                  struct fault *f)
{
    if (walt_mkdir(dir, n, c->base))
        BAIL_OUT("mkdir under %s", c->base);
    *o = walt_small_options(dir, c);
    o->log = walt_silent_log;
    o->fault = hook;
    o->fault_arg = f;
    walt_open_filled(o, ring, w, NREC, walt_len_mixed);
}

/* Appends records from..to and checks they are all acknowledged: the log is not failed. */
static int appends_go_on(struct wal *w, uint64_t from, uint64_t to)
{
    struct walt_acks acks = {0};

    return walt_append_range(w, from, to, walt_len_mixed, &acks) == 0 && acks.count == to - from + 1 && acks.errors == 0;
}

static void unlink_fails(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct fault f = {WAL_FAULT_TRUNC_UNLINK_CQE, 2, -EIO, 0};
    struct walt_trunc t1 = {0}, t2 = {0}, t3 = {0};
    uint64_t b2, b4, b6;
    int segs, n1, n2, ret;

    setup(c, dir, sizeof(dir), &ring, &w, &o, &f);
    segs = walt_file_count(dir);
    b2 = walt_segment_base(dir, 2);
    b4 = walt_segment_base(dir, 4);
    b6 = walt_segment_base(dir, 6);
    n1 = wal_truncate_before(w, b4, walt_trunc_cb, &t1);
    n2 = wal_truncate_before(w, b6, walt_trunc_cb, &t2);
    ok(n1 == 4 && n2 == 2 && wal_first_seq(w) == b6, "%s: unlink: two truncations queued (4 and 2 segments)", c->name);
    ok_eq(wal_drain(w), 0, "%s: unlink: drained (the log itself is fine)", c->name);
    ok(t1.calls == 1 && t1.res == -EIO, "%s: unlink: the error reaches the callback", c->name);
    ok(t2.calls == 1 && t2.res == -ECANCELED, "%s: unlink: the queued truncation is cancelled", c->name);
    ok(walt_file_count(dir) == segs - 2 && walt_segment_base(dir, 0) == b2, "%s: unlink: nothing unlinked after the failed one",
       c->name);
    ok_eq(wal_first_seq(w), b6, "%s: unlink: the leftovers stay below the first sequence", c->name);
    ok_eq(walt_verify(w, b6, NREC, walt_len_mixed), 0, "%s: unlink: the log reads from there", c->name);
    ok(appends_go_on(w, NREC + 1, NREC + 50), "%s: unlink: appends go on", c->name);
    ok_eq(wal_close(w), 0, "%s: unlink: close", c->name);
    o.fault = NULL;
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.first_seq == b2 && rec.next_seq == NREC + 51, "%s: unlink: reopen starts at the oldest leftover", c->name);
    if (ret == 0) {
        ok_eq(walt_verify(w, b2, NREC + 50, walt_len_mixed), 0, "%s: unlink: every record from there reads back", c->name);
        segs = walt_file_count(dir);
        ok_eq(wal_truncate_before(w, b6, walt_trunc_cb, &t3), 4, "%s: unlink: a later truncation takes the leftovers", c->name);
        ok(wal_drain(w) == 0 && t3.calls == 1 && t3.res == 4, "%s: unlink: and completes", c->name);
        ok(walt_file_count(dir) == segs - 4 && walt_segment_base(dir, 0) == b6, "%s: unlink: files gone", c->name);
        wal_close(w);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

static void dirsync_fails(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct fault f = {WAL_FAULT_TRUNC_DIRSYNC_CQE, 1, -EIO, 0};
    struct walt_trunc t = {0};
    uint64_t b3;
    int segs, n, ret;

    setup(c, dir, sizeof(dir), &ring, &w, &o, &f);
    segs = walt_file_count(dir);
    b3 = walt_segment_base(dir, 3);
    n = wal_truncate_before(w, b3, walt_trunc_cb, &t);
    ok_eq(n, 3, "%s: dirsync: truncation of 3 segments", c->name);
    ok_eq(wal_drain(w), 0, "%s: dirsync: drained", c->name);
    ok(f.seen == 1 && t.calls == 1 && t.res == -EIO, "%s: dirsync: the error reaches the callback", c->name);
    ok_eq(walt_file_count(dir), segs - 3, "%s: dirsync: the unlinks were done", c->name);
    ok(appends_go_on(w, NREC + 1, NREC + 50), "%s: dirsync: appends go on", c->name);
    ok_eq(wal_close(w), 0, "%s: dirsync: close", c->name);
    o.fault = NULL;
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.first_seq == b3 && rec.next_seq == NREC + 51, "%s: dirsync: reopen", c->name);
    if (ret == 0) {
        ok_eq(walt_verify(w, b3, NREC + 50, walt_len_mixed), 0, "%s: dirsync: every record kept reads back", c->name);
        wal_close(w);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

static void already_gone(const struct walt_conf *c)
{
    char dir[256], path[300];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct fault f = {0, 0, 0, 0};
    struct walt_trunc t = {0};
    int segs;

    setup(c, dir, sizeof(dir), &ring, &w, &o, &f);
    segs = walt_file_count(dir);
    snprintf(path, sizeof(path), "%s/%016llx.wal", dir, (unsigned long long)walt_segment_base(dir, 0));
    ok_eq(unlink(path), 0, "%s: enoent: oldest segment removed by hand", c->name);
    ok_eq(wal_truncate_before(w, walt_segment_base(dir, 2), walt_trunc_cb, &t), 3, "%s: enoent: truncation of 3 segments", c->name);
    ok(wal_drain(w) == 0 && t.calls == 1 && t.res == 3, "%s: enoent: completes with 3", c->name);
    ok_eq(walt_file_count(dir), segs - 3, "%s: enoent: files gone", c->name);
    wal_close(w);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

static void run(const struct walt_conf *c)
{
    unlink_fails(c);
    dirsync_fails(c);
    already_gone(c);
}

int main(void)
{
    return walt_for_all_configs(run);
}
