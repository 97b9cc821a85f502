/*
 * Timers are IORING_OP_TIMEOUT requests with no completion count: the CQE comes with -ETIME when
 * the time is up, or -ECANCELED after an IORING_OP_TIMEOUT_REMOVE (or the loop's destruction).
 * The timespec lives in the timer because the kernel reads it after submission.
 */
#include <errno.h>

#include "uring/internal.h"

static void timer_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    struct uring_timer *t = (struct uring_timer *)(void *)((char *)op - offsetof(struct uring_timer, _op));

    (void)loop;
    (void)flags;
    URING_ASSERT(t->_armed);
    t->_armed = false;
    /* A cancel wins even where the time came first (its CQE was already on its way): the owner
     * that cancelled has moved on, and must not be called as if nothing happened. */
    t->cb(t, t->_cancelled ? -ECANCELED : res == -ETIME ? 0 : res);
}

static int arm(struct uring_loop *loop, struct uring_timer *t, uint64_t ns, unsigned tflags, uring_timer_cb *cb)
{
    struct io_uring_sqe *sqe;

    URING_ASSERT(!t->_armed);
    URING_ASSERT(cb != NULL);
    if (loop->_closing)
        return -ECANCELED;
    t->_op.cb = timer_done;
    sqe = uring_loop_sqe(loop, &t->_op);
    if (sqe == NULL)
        return -EBUSY;
    t->loop = loop;
    t->cb = cb;
    t->_ts.tv_sec = (long long)(ns / 1000000000ULL);
    t->_ts.tv_nsec = (long long)(ns % 1000000000ULL);
    t->_armed = true;
    t->_cancelled = false;
    io_uring_prep_timeout(sqe, &t->_ts, 0, tflags);
    return 0;
}

int uring_timer_start(struct uring_loop *loop, struct uring_timer *t, uint64_t after_ns, uring_timer_cb *cb)
{
    return arm(loop, t, after_ns, 0, cb);
}

int uring_timer_start_at(struct uring_loop *loop, struct uring_timer *t, uint64_t deadline_ns, uring_timer_cb *cb)
{
    /* CLOCK_MONOTONIC is the default clock of an absolute io_uring timeout. */
    return arm(loop, t, deadline_ns, IORING_TIMEOUT_ABS, cb);
}

int uring_timer_cancel(struct uring_timer *t)
{
    struct io_uring_sqe *sqe;

    if (!t->_armed)
        return -ENOENT;
    sqe = uring_loop_sqe(t->loop, NULL);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&t->_op, 0);
    t->_cancelled = true;
    return 0;
}

bool uring_timer_is_armed(const struct uring_timer *t)
{
    return t->_armed;
}
