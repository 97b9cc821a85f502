/*
 * wal_close with a truncation in flight: it refuses with -EBUSY (nothing freed, the callback not
 * called) while the unlink is on the ring, also once the CQE has arrived but has not been handed to
 * the WAL; after the CQE is handled and the rest drained, the callback fires once and close succeeds
 * (ASan checks that nothing is used after it is freed). A truncation callback may start another
 * truncation (re-entry), which completes too.
 */
#include "tests/wal/walt.h"
#include "wal/internal.h" /* WAL_OP_TRUNC: the user_data tag of a CQE */

#define NREC 300

struct again {
    struct wal *w;
    struct walt_trunc first, second;
    int second_ret;
};

static void first_done(void *arg, int res)
{
    struct again *a = arg;

    walt_trunc_cb(&a->first, res);
    a->second_ret = wal_truncate_before(a->w, UINT64_MAX, walt_trunc_cb, &a->second);
}

static void run(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct io_uring_cqe *cqe, held;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct again a = {0};
    int segs, n;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    o = walt_small_options(dir, c);
    walt_open_filled(&o, &ring, &w, NREC, walt_len_mixed);
    segs = walt_file_count(dir);
    a.w = w;
    n = wal_truncate_before(w, 150, first_done, &a);
    ok(n > 0, "%s: truncation of %d segments started", c->name, n);
    ok_eq(wal_close(w), -EBUSY, "%s: close refuses while the unlink is on the ring", c->name);
    io_uring_submit(&ring);
    if (io_uring_wait_cqe(&ring, &cqe))
        BAIL_OUT("wait_cqe");
    held = *cqe;
    io_uring_cqe_seen(&ring, cqe);
    ok_eq((held.user_data & WAL_UD_MASK) >> 3, WAL_OP_TRUNC, "%s: the CQE is the unlink's", c->name);
    ok_eq(wal_close(w), -EBUSY, "%s: close refuses while the CQE is not handled", c->name);
    ok_eq(a.first.calls, 0, "%s: no callback yet", c->name);
    ok(wal_handle_cqe(w, &held), "%s: the CQE handled", c->name);
    ok_eq(wal_drain(w), 0, "%s: drained", c->name);
    ok(a.first.calls == 1 && a.first.res == n, "%s: the callback fired once with %d", c->name, n);
    ok(a.second_ret > 0 && a.second.calls == 1 && a.second.res == a.second_ret, "%s: the truncation it started completed (%d)",
       c->name, a.second_ret);
    ok_eq(walt_file_count(dir), segs - n - a.second_ret, "%s: files of both gone", c->name);
    ok_eq(walt_file_count(dir), 1, "%s: all but the segment being written", c->name);
    ok_eq(wal_close(w), 0, "%s: close once nothing is in flight", c->name);
    ok(a.first.calls == 1 && a.second.calls == 1, "%s: close called nothing again", c->name);
    if (wal_open(&o, &ring, &w, &rec) == 0) {
        ok(rec.next_seq == NREC + 1 && rec.segments == 1, "%s: reopens with one segment, every record", c->name);
        ok_eq(walt_verify(w, rec.first_seq, NREC, walt_len_mixed), 0, "%s: kept records read back", c->name);
        wal_close(w);
    } else {
        ok(0, "%s: reopen", c->name);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
