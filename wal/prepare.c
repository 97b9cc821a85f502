/*
 * The next segment, prepared ahead on the caller's ring so that a roll-over is pointer work on the
 * core thread. Once the fill position passes half of the segment being written, IORING_OP_OPENAT
 * creates ".next-<id>.tmp" with the writer's flags, IORING_OP_FALLOCATE preallocates it to the full
 * segment size, and IORING_OP_FSYNC(DATASYNC) makes the allocation durable; each step is submitted after
 * the previous step's CQE (no links, no drain). The file has no name yet because its base sequence is
 * only known at the roll-over. The roll-over puts the segment header block at the start of the first
 * batch's buffer; once that batch's writes (and its fdatasync, in that mode) have completed,
 * IORING_OP_RENAMEAT gives the segment its name and an fsync of the directory makes the name durable,
 * and only then is the batch durable. So, as with synchronous creation, a segment that has its name
 * has a durable header, and a crash before the rename leaves a ".tmp" file that open deletes together
 * with the unacknowledged records in it. Batches never overlap across segments (writer.c), so at most
 * one segment is being named at a time, and it is the last one.
 *
 * A roll-over that finds no prepared segment ready (the segment filled faster than the preparation ran,
 * or options.no_prepare) does not create one on the core thread: it starts the preparation at once, or
 * lets the one running go on, and moves the fill buffer to the new segment without a descriptor
 * (w->roll_wait). Appends keep going into that buffer, with the header block at its start, until it is
 * full (then -EAGAIN, the usual back-pressure); it is sealed only once the preparation's fdatasync
 * completes and wal__roll_adopt hands it the descriptor. From there it is the prepared path: the
 * segment is named after its first batch. Such roll-overs count in wal_stats.segments_sync. Any error
 * of these requests fails the log, as a write error does. EOPNOTSUPP from fallocate (a filesystem
 * without it) is met with an ftruncate of the new file, the one synchronous call left, on those
 * filesystems only.
 *
 * Killed processes: the renameat runs in an io-wq worker, a thread of the process, so it is over by
 * the time the process can be reaped; the new segment's descriptor holds the writer's flock (segment.c)
 * for its writes, which may outlive the process.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "wal/internal.h"

#define NO_NAMING WAL_MAX_BUFS

static int fault(struct wal *w, int res)
{
    return w->opt.fault ? w->opt.fault(w->opt.fault_arg, WAL_FAULT_SEGMENT_CQE, res) : res;
}

/* Every opcode the WAL places after open: all in Linux 5.11, below the broker's minimum (5.19). There
 * is no synchronous fallback for rings without them. */
int wal__prep_init(struct wal *w)
{
    static const struct {
        int op;
        const char *name;
    } ops[] = {{IORING_OP_OPENAT, "openat"},
               {IORING_OP_FALLOCATE, "fallocate"},
               {IORING_OP_FSYNC, "fsync"},
               {IORING_OP_RENAMEAT, "renameat"},
               {IORING_OP_UNLINKAT, "unlinkat"}};
    struct io_uring_probe *p;
    int ret = 0;

    w->prep_fd = -1;
    w->naming = NO_NAMING;
    p = io_uring_get_probe_ring(w->ring);
    if (!p) {
        wal__log(w, WAL_LOG_ERR, "the ring has no opcode probe (Linux 5.6+ needed)");
        return -EOPNOTSUPP;
    }
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) && ret == 0; i++) {
        if (!io_uring_opcode_supported(p, ops[i].op)) {
            wal__log(w, WAL_LOG_ERR, "the ring lacks IORING_OP_%s (Linux 5.11+ needed)", ops[i].name);
            ret = -EOPNOTSUPP;
        }
    }
    io_uring_free_probe(p);
    return ret;
}

/* Starts the preparation when due (past half the segment, unless options.no_prepare; at once when a
 * roll-over waits for it), and places its next step. */
void wal__prep_pump(struct wal *w)
{
    const struct wal_buf *b = &w->bufs[w->fill];
    struct io_uring_sqe *sqe;
    int flags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC;

    if (w->prep_out || w->prep == WAL_PREP_READY)
        return;
    if (w->prep == WAL_PREP_IDLE) {
        if (!w->roll_wait && (w->opt.no_prepare || b->file_off + b->used <= b->seg_bytes / 2))
            return;
        w->prep_id++;
        wal__prep_name(w->prep_name, sizeof(w->prep_name), w->prep_id);
        w->prep = WAL_PREP_OPEN;
    }
    sqe = wal__get_sqe(w);
    if (!sqe)
        return;
    switch (w->prep) {
    case WAL_PREP_OPEN:
        /* The flags of wal__seg_open_rw: this descriptor becomes the writer's. */
        flags |= (w->direct ? O_DIRECT : 0) | (w->opt.fdatasync ? 0 : O_DSYNC);
        io_uring_prep_openat(sqe, w->dir_fd, w->prep_name, flags, 0644);
        wal__tag(w, sqe, WAL_OP_SEG, WAL_SEG_OPEN);
        break;
    case WAL_PREP_FALLOCATE:
        io_uring_prep_fallocate(sqe, w->prep_fd, 0, 0, (off_t)w->segment_bytes);
        wal__tag(w, sqe, WAL_OP_SEG, WAL_SEG_FALLOCATE);
        break;
    default:
        assert(w->prep == WAL_PREP_SYNC);
        io_uring_prep_fsync(sqe, w->prep_fd, IORING_FSYNC_DATASYNC);
        wal__tag(w, sqe, WAL_OP_SEG, WAL_SEG_SYNC);
        break;
    }
    w->prep_out = true;
}

/* Places the next naming step of the segment whose first batch is buffer idx (its writes are done). */
void wal__naming_pump(struct wal *w, uint32_t idx)
{
    const struct wal_buf *b = &w->bufs[idx];
    struct io_uring_sqe *sqe;

    assert(b->name_id != 0);
    assert(w->naming == NO_NAMING || w->naming == idx);
    if (w->naming_out)
        return;
    if (w->naming == NO_NAMING) {
        w->naming = idx;
        w->naming_step = WAL_SEG_RENAME;
    }
    sqe = wal__get_sqe(w);
    if (!sqe)
        return;
    if (w->naming_step == WAL_SEG_RENAME) {
        /* The segment's base is its first batch's first sequence, as in the header written with it. */
        wal__prep_name(w->ren_from, sizeof(w->ren_from), b->name_id);
        wal__seg_name(w->ren_to, sizeof(w->ren_to), b->first_seq);
        io_uring_prep_renameat(sqe, w->dir_fd, w->ren_from, w->dir_fd, w->ren_to, 0);
    } else {
        io_uring_prep_fsync(sqe, w->dir_fd, 0);
    }
    wal__tag(w, sqe, WAL_OP_SEG, w->naming_step);
    w->naming_out = true;
}

static void naming_cqe(struct wal *w, uint32_t step, int res)
{
    assert(w->naming_out);
    assert(w->naming < w->nbufs);
    w->naming_out = false;
    if (w->err)
        return;
    res = fault(w, res);
    if (res < 0) {
        wal__log(w, WAL_LOG_ERR, "naming segment %s failed: %s", w->ren_to, strerror(-res));
        wal__fail(w, res);
        return;
    }
    if (step == WAL_SEG_RENAME) {
        w->naming_step = WAL_SEG_DIRSYNC;
        return;
    }
    w->bufs[w->naming].named = true;
    w->naming = NO_NAMING;
}

/* fallocate is not supported here: size the file with ftruncate instead (synchronous, but only on
 * such filesystems; writes then fill holes). Returns 0 or -errno. */
static int no_fallocate(struct wal *w)
{
    if (!w->no_fallocate_logged)
        wal__log(w, WAL_LOG_INFO, "fallocate not supported: segments are sized with ftruncate");
    w->no_fallocate_logged = true;
    return ftruncate(w->prep_fd, (off_t)w->segment_bytes) == -1 ? -errno : 0;
}

void wal__prep_cqe(struct wal *w, uint32_t step, int res)
{
    int got = res;

    if (step >= WAL_SEG_RENAME) {
        naming_cqe(w, step, res);
        return;
    }
    assert(w->prep_out);
    assert(step + 1 == (uint32_t)w->prep);
    w->prep_out = false;
    res = w->err ? -ECANCELED : fault(w, res);
    if (step == WAL_SEG_OPEN && got >= 0 && res < 0)
        close(got); /* opened, but failed by the hook or by the log's earlier failure */
    if (w->err)
        return;
    if (step == WAL_SEG_FALLOCATE && res == -EOPNOTSUPP)
        res = no_fallocate(w);
    if (res < 0) {
        wal__log(w, WAL_LOG_ERR, "preparing segment %s failed: %s", w->prep_name, strerror(-res));
        wal__fail(w, res);
        return;
    }
    if (step == WAL_SEG_OPEN) {
        w->prep_fd = res;
        /* The writer descriptor's lock (segment.c); never contended on a file this new. */
        if (flock(w->prep_fd, LOCK_EX | LOCK_NB) == -1) {
            wal__fail(w, -errno);
            return;
        }
    }
    w->prep = step == WAL_SEG_SYNC ? WAL_PREP_READY : (enum wal_prep_state)(w->prep + 1);
    if (w->prep == WAL_PREP_READY && w->roll_wait) {
        uint32_t name_id;
        int fd = wal__prep_take(w, &name_id);

        wal__roll_adopt(w, fd, name_id);
    }
}

/* Hands the prepared segment's descriptor over for a roll-over: returns it and its name id, or -1
 * when none is ready. */
int wal__prep_take(struct wal *w, uint32_t *name_id)
{
    int fd = w->prep_fd;

    if (w->prep != WAL_PREP_READY)
        return -1;
    assert(fd >= 0);
    *name_id = w->prep_id;
    w->prep_fd = -1;
    w->prep = WAL_PREP_IDLE;
    return fd;
}

void wal__prep_destroy(struct wal *w)
{
    if (w->prep_fd == -1)
        return;
    close(w->prep_fd);
    w->prep_fd = -1;
    unlinkat(w->dir_fd, w->prep_name, 0);
}
