/*
 * Truncation: whole segments below a sequence removed on the caller's ring, so the core thread never
 * blocks in unlink or in a directory fsync.
 *
 * A call takes (claims) the segments at the front of the log whose records all lie below the sequence,
 * except the segment being written and the previous one while its last batch is in flight, and moves
 * wal_first_seq past them at once: from then on readers treat their records as gone (wal_iter_next says
 * -ENOENT), whatever the unlinks have done, so no reader ever sees a segment half-removed. Requests
 * queue (at most WAL_TRUNC_QUEUE) and run one after another, each taking only segments no earlier one
 * took. A request places IORING_OP_UNLINKAT for its segments oldest first, each after the previous
 * one's CQE (io_uring does not order independent requests; no links, no drain), then one
 * IORING_OP_FSYNC of the directory once the last unlink has completed, then calls back.
 *
 * Oldest first is what makes a crash harmless: an unlink is a journalled directory change, so a crash
 * before the directory fsync can undo a suffix of them but never leave an older segment without a
 * newer one of the request; recovery accepts a log that starts late (a missing prefix) and refuses a
 * gap in the middle. Unlinks that did not become durable only bring old, intact records back.
 *
 * An error (of an unlink, ENOENT aside, or of the fsync) completes the request with it and every
 * queued one with -ECANCELED, and releases their claims: segments left on disk stay below
 * wal_first_seq, unreadable, until a later truncation takes them again or a reopen finds them. The log
 * itself is not failed: appends do not depend on truncation. Truncations keep running after the writer
 * has failed, so that wal_drain can finish them before wal_close.
 */
#include <assert.h>
#include <errno.h>
#include <liburing.h>
#include <string.h>

#include "wal/internal.h"

static int fault(struct wal *w, enum wal_fault_point point, int res)
{
    return w->opt.fault ? w->opt.fault(w->opt.fault_arg, point, res) : res;
}

/* Places the head request's next step, unless one is on the ring or the SQ stays full (then the next
 * wal_flush places it). */
void wal__trunc_pump(struct wal *w)
{
    const struct wal_trunc *t = &w->trunc[w->trunc_head];
    struct io_uring_sqe *sqe;

    if (w->ntrunc == 0 || w->trunc_out)
        return;
    sqe = wal__ring_sqe(w);
    if (!sqe)
        return;
    if (w->trunc_step == WAL_TRUNC_UNLINK) {
        assert(t->left > 0);
        assert(t->left <= w->trunc_claimed);
        assert(w->trunc_claimed < w->nsegs);
        /* The name is copied by the kernel at submission; it stays here until the CQE anyway. */
        wal__seg_name(w->trunc_name, sizeof(w->trunc_name), w->segs[0].base_seq);
        io_uring_prep_unlinkat(sqe, w->dir_fd, w->trunc_name, 0);
    } else {
        io_uring_prep_fsync(sqe, w->dir_fd, 0);
    }
    wal__tag(w, sqe, WAL_OP_TRUNC, w->trunc_step);
    w->trunc_out = true;
}

/* The oldest segment is unlinked: it leaves w->segs. */
static void drop_front(struct wal *w)
{
    assert(w->trunc_claimed > 0);
    assert(w->nsegs > 1);
    memmove(&w->segs[0], &w->segs[1], (w->nsegs - 1) * sizeof(*w->segs));
    w->nsegs--;
    w->trunc_claimed--;
    w->st.segments_deleted++;
}

/* Empties the queue, then calls back: the first request with res, the others with -ECANCELED. The
 * state is final before any callback runs, so a callback may truncate again. */
static void finish_all(struct wal *w, int res)
{
    struct wal_trunc done[WAL_TRUNC_QUEUE];
    uint32_t n = w->ntrunc;

    for (uint32_t i = 0; i < n; i++)
        done[i] = w->trunc[(w->trunc_head + i) % WAL_TRUNC_QUEUE];
    w->ntrunc = 0;
    w->trunc_head = 0;
    w->trunc_claimed = 0;
    w->trunc_step = WAL_TRUNC_UNLINK;
    for (uint32_t i = 0; i < n; i++)
        if (done[i].cb)
            done[i].cb(done[i].arg, i == 0 ? res : -ECANCELED);
}

/* The head request is complete: the next one starts before the callback runs. */
static void finish_head(struct wal *w)
{
    struct wal_trunc done = w->trunc[w->trunc_head];

    assert(done.left == 0);
    w->trunc_head = (w->trunc_head + 1) % WAL_TRUNC_QUEUE;
    w->ntrunc--;
    w->trunc_step = WAL_TRUNC_UNLINK;
    wal__trunc_pump(w);
    if (done.cb)
        done.cb(done.arg, (int)done.count);
}

void wal__trunc_cqe(struct wal *w, uint32_t step, int res)
{
    struct wal_trunc *t = &w->trunc[w->trunc_head];

    assert(w->trunc_out);
    assert(w->ntrunc > 0);
    assert(step == (uint32_t)w->trunc_step);
    w->trunc_out = false;
    if (step == WAL_TRUNC_UNLINK) {
        res = fault(w, WAL_FAULT_TRUNC_UNLINK_CQE, res);
        if (res == 0 || res == -ENOENT) { /* ENOENT: removed by hand, the goal holds */
            drop_front(w);
            if (--t->left == 0)
                w->trunc_step = WAL_TRUNC_DIRSYNC;
            wal__trunc_pump(w);
            return;
        }
        wal__log(w, WAL_LOG_ERR, "truncation: unlinking segment %s failed: %s", w->trunc_name, strerror(-res));
    } else {
        res = fault(w, WAL_FAULT_TRUNC_DIRSYNC_CQE, res);
        if (res == 0) {
            finish_head(w);
            return;
        }
        wal__log(w, WAL_LOG_ERR, "truncation: directory fsync failed: %s", strerror(-res));
    }
    finish_all(w, res < 0 ? res : -EIO);
}

/* wal_close: nothing is on the ring (wal_is_busy is false); requests never placed are cancelled. */
void wal__trunc_cancel(struct wal *w)
{
    assert(!w->trunc_out);
    if (w->ntrunc > 0)
        finish_all(w, -ECANCELED);
}

/* Whether the segment being written has its name: not while a roll-over waits for its file, nor until
 * its first batch is durable (prepare.c names it then). */
static bool last_named(const struct wal *w)
{
    if (w->roll_wait)
        return false;
    for (uint32_t k = 0; k <= w->ninflight; k++)
        if (w->bufs[(w->oldest + k) % w->nbufs].name_id != 0 && !w->bufs[(w->oldest + k) % w->nbufs].named)
            return false;
    return true;
}

int wal_truncate_before(struct wal *w, uint64_t seq, wal_truncate_cb *cb, void *arg)
{
    /* The segment being written stays; so does the previous one while its last batch is in flight, or
     * while the last has no name yet: a crash must always leave a named segment that ends where the
     * log ends, or a reopen would start the sequence again. */
    uint32_t keep = w->prev_fd != -1 || !last_named(w) ? 2 : 1, n = 0;
    struct wal_trunc *t;

    while (n + keep < w->nsegs && w->segs[n + 1].base_seq <= seq)
        n++;
    if (n <= w->trunc_claimed)
        return 0;
    if (w->ntrunc == WAL_TRUNC_QUEUE)
        return -EAGAIN;
    t = &w->trunc[(w->trunc_head + w->ntrunc) % WAL_TRUNC_QUEUE];
    t->count = t->left = n - w->trunc_claimed;
    t->cb = cb;
    t->arg = arg;
    w->ntrunc++;
    w->trunc_claimed = n;
    /* Readers stop short of the claimed segments from now on (the top of this file says why). */
    if (w->first_seq < w->segs[n].base_seq)
        w->first_seq = w->segs[n].base_seq;
    assert(w->first_seq <= w->next_seq);
    wal__trunc_pump(w);
    return (int)t->count;
}
