/*
 * The loop: one ring per core thread, created in that thread. One iteration:
 *   1. flush: ring xchan doorbells, take back gates whose foreign sender has left, start the
 *      sends queued this iteration, re-arm recvs that waited for buffers (uring__xchan_ring_bells,
 *      uring__conn_flush), and again while connections closed in it (flush_phase)
 *   2. submit and wait for at least one CQE (io_uring_submit_and_wait; with DEFER_TASKRUN this
 *      is also where the kernel runs our task work), for at most GATE_RETRY_NS while a connection
 *      waits for its gate: a foreign sender's release posts no CQE here
 *   3. dispatch every ready CQE through the op its user_data points at (or, tagged
 *      URING_TAG_SOURCE, to the registered source its id names), then advance the CQ
 * SQEs count as "in flight" from uring_loop_sqe() until a CQE without IORING_CQE_F_MORE.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "uring/compat.h"
#include "uring/internal.h"

#define DEFAULT_SQ        256
#define DEFAULT_BUF_COUNT 1024
#define DEFAULT_BUF_SIZE  16384
#define DEFAULT_OUT_CACHE (16u << 20)
#define GATE_RETRY_NS     50000 /* the wait's bound while a connection waits for its gate */

/* Setup flags in order of preference; the first the kernel accepts wins (EINVAL: too old). */
static int ring_setup(struct uring_loop *loop, unsigned sq, unsigned cq, unsigned lflags)
{
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int ret = -EINVAL;

    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        struct io_uring_params p = {0};

        if ((lflags & URING_LOOP_NO_DEFER) && (tries[i] & IORING_SETUP_DEFER_TASKRUN))
            continue;
        p.flags = tries[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = cq;
        ret = io_uring_queue_init_params(sq, &loop->ring, &p);
        if (ret == 0) {
            loop->setup_flags = p.flags;
            loop->cqe_skip = (p.features & IORING_FEAT_CQE_SKIP) != 0;
            return 0;
        }
        if (ret != -EINVAL)
            return ret;
    }
    return ret;
}

/*
 * Loops given no probe result share one per process: the kernel's features do not change under us,
 * and probing makes and tears down a ring, buffer rings and a socket pair. Loops starting together
 * in several threads each probing at once also defeated ThreadSanitizer, which cannot see
 * liburing's own mmap() and munmap(): one thread's probe ring unmapped and another thread's ring
 * mapped at the same address read as a data race between the two threads. A probe that failed is
 * not kept: it may have failed for want of a file descriptor or locked memory, which come back.
 */
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uring_features probed;
static bool probed_ok;

static void probe_shared(struct uring_features *f)
{
    pthread_mutex_lock(&probe_lock);
    if (!probed_ok)
        probed_ok = uring_probe(&probed) >= 0;
    *f = probed;
    pthread_mutex_unlock(&probe_lock);
}

int uring_loop_init(struct uring_loop *loop, const struct uring_loop_opts *opts)
{
    struct uring_loop_opts o = {0};
    struct uring_features f;
    int ret;

    if (opts != NULL)
        o = *opts;
    o.sq_entries = o.sq_entries ? o.sq_entries : DEFAULT_SQ;
    o.cq_entries = o.cq_entries ? o.cq_entries : 16 * o.sq_entries;
    o.buf_count = o.buf_count ? o.buf_count : DEFAULT_BUF_COUNT;
    o.buf_size = o.buf_size ? o.buf_size : DEFAULT_BUF_SIZE;
    o.out_cache_bytes = o.out_cache_bytes ? o.out_cache_bytes : DEFAULT_OUT_CACHE;
    if (o.buf_count > 32768 || (o.buf_count & (o.buf_count - 1)) != 0)
        return -EINVAL;
    if (o.features != NULL) {
        f = *o.features;
    } else {
        probe_shared(&f);
    }
    if (f.tier < URING_TIER_0)
        return -ENOSYS;
    memset(loop, 0, sizeof(*loop));
    ulist_init(&loop->_flush);
    ulist_init(&loop->_nobuf);
    ulist_init(&loop->_bells);
    ulist_init(&loop->_gate_wait);
    ret = ring_setup(loop, o.sq_entries, o.cq_entries, o.flags);
    if (ret != 0)
        return ret;
    loop->multishot_recv = f.multishot_recv && !(o.flags & URING_LOOP_SINGLESHOT_RECV);
    loop->send_zc = f.send_zc && o.zc_threshold > 0;
    loop->zc_report = f.send_zc_report;
    loop->zc_threshold = o.zc_threshold;
    loop->flags = o.flags;
    uring__send_pool_init(loop, o.out_cache_bytes);
    ret = uring__bufring_init(loop, o.buf_count, o.buf_size);
    if (ret != 0)
        goto out_exit_ring;
    return 0;

out_exit_ring:
    io_uring_queue_exit(&loop->ring);
    return ret;
}

static struct io_uring_sqe *get_sqe(struct uring_loop *loop)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

    if (sqe == NULL) {
        io_uring_submit(&loop->ring);
        sqe = io_uring_get_sqe(&loop->ring);
    }
    return sqe;
}

struct io_uring_sqe *uring_loop_sqe(struct uring_loop *loop, struct uring_op *op)
{
    struct io_uring_sqe *sqe = get_sqe(loop);

    if (sqe == NULL)
        return NULL;
    io_uring_sqe_set_data(sqe, op);
    loop->_inflight++;
    loop->_armed++;
    return sqe;
}

struct io_uring_sqe *uring__sqe_uncounted(struct uring_loop *loop, struct uring_op *op)
{
    struct io_uring_sqe *sqe = get_sqe(loop);

    if (sqe == NULL)
        return NULL;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | URING_TAG_UNCOUNTED);
    return sqe;
}

int uring_loop_register_source(struct uring_loop *loop, struct uring_source *src)
{
    if (src->on_cqe == NULL || src->_id != 0)
        return -EINVAL;
    if (loop->_closing)
        return -ECANCELED;
    for (unsigned i = 0; i < URING_SOURCES_MAX; i++) {
        if (loop->_sources[i] == NULL) {
            loop->_sources[i] = src;
            src->_loop = loop;
            src->_id = i + 1;
            return 0;
        }
    }
    return -ENOSPC;
}

void uring_loop_unregister_source(struct uring_loop *loop, struct uring_source *src)
{
    if (src->_id == 0 || src->_loop != loop)
        return;
    URING_ASSERT(loop->_sources[src->_id - 1] == src);
    URING_ASSERT(src->is_busy == NULL || !src->is_busy(src));
    loop->_sources[src->_id - 1] = NULL;
    src->_id = 0;
    src->_loop = NULL;
}

static void sources_flush(struct uring_loop *loop)
{
    for (unsigned i = 0; i < URING_SOURCES_MAX; i++) {
        struct uring_source *src = loop->_sources[i];

        if (src != NULL && src->on_flush != NULL)
            src->on_flush(src);
    }
}

static bool sources_busy(const struct uring_loop *loop)
{
    for (unsigned i = 0; i < URING_SOURCES_MAX; i++) {
        const struct uring_source *src = loop->_sources[i];

        if (src != NULL && src->is_busy != NULL && src->is_busy(src))
            return true;
    }
    return false;
}

/* A CQE of a registered source: its id must name one (a CQE for a free slot is misrouted). */
static void dispatch_source(struct uring_loop *loop, uint64_t user_data, int res, unsigned flags)
{
    unsigned id = (unsigned)((user_data & ((1ULL << URING_SOURCE_PAYLOAD_SHIFT) - 1)) >> URING_SOURCE_ID_SHIFT);
    struct uring_source *src;

    URING_ASSERT(id >= 1);
    URING_ASSERT(id <= URING_SOURCES_MAX);
    if (id < 1 || id > URING_SOURCES_MAX)
        return;
    src = loop->_sources[id - 1];
    URING_ASSERT(src != NULL);
    if (src == NULL)
        return;
    URING_ASSERT(src->_id == id);
    src->on_cqe(src, user_data >> URING_SOURCE_PAYLOAD_SHIFT, res, flags);
}

static void dispatch(struct uring_loop *loop, uint64_t user_data, int res, unsigned flags)
{
    uintptr_t p = (uintptr_t)(user_data & ~(uint64_t)URING_TAG_MASK);
    unsigned tag = (unsigned)(user_data & URING_TAG_MASK);

    URING_ASSERT(tag <= URING_TAG_SOURCE); /* 4..7 are nobody's */
    if (tag == URING_TAG_SOURCE) {
        dispatch_source(loop, user_data, res, flags);
        return;
    }
    if (tag == URING_TAG_BELL) {
        uring__xchan_bell(loop, (struct uring_xchan *)p);
        return;
    }
    if (tag == URING_TAG_OP && !(flags & IORING_CQE_F_MORE)) {
        URING_ASSERT(loop->_inflight > 0);
        loop->_inflight--;
    }
    if (p == 0)
        return;
    struct uring_op *op = (struct uring_op *)p;
    op->cb(loop, op, res, flags);
}

/* Waits for one CQE, or for GATE_RETRY_NS while a gate is to be taken back (the timeout goes in
 * io_uring_enter's extended argument, IORING_FEAT_EXT_ARG since 5.11: no SQE, no CQE). */
static int submit_and_wait(struct uring_loop *loop)
{
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = GATE_RETRY_NS};
    struct io_uring_cqe *cqe;

    if (ulist_empty(&loop->_gate_wait))
        return io_uring_submit_and_wait(&loop->ring, 1);
    if (!(loop->ring.features & IORING_FEAT_EXT_ARG))
        return io_uring_submit_and_get_events(&loop->ring);
    return io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
}

/*
 * The flush phase. A connection that ends with nothing in flight has its on_close called from
 * uring__conn_flush, after the doorbells rang and the sources flushed: what it pushes to another
 * loop, appends to a log or stages would wait for this loop's next completion, which may be far
 * off. So the phase goes round again while connections closed in it, a bounded number of times;
 * false when it stopped at the bound with closes still coming (the caller then does not wait).
 */
#define FLUSH_ROUNDS_MAX 8

static bool flush_phase(struct uring_loop *loop)
{
    for (unsigned round = 0; round < FLUSH_ROUNDS_MAX; round++) {
        uint64_t closes = loop->_closes;

        if (loop->on_flush != NULL)
            loop->on_flush(loop);
        sources_flush(loop);
        uring__xchan_ring_bells(loop);
        if (loop->_bufs_refill)
            uring__bufring_refill(loop);
        uring__conn_flush(loop);
        if (loop->_closes == closes)
            return true;
    }
    return false;
}

int uring_loop_run_once(struct uring_loop *loop, bool wait)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    int ret;

    URING_STAT_ADD(loop, iterations, 1);
    if (!flush_phase(loop))
        wait = false;
    uring__send_pool_trim(loop);
    /* A callback of the flush phase (an on_close) may have stopped the loop: then waiting could
     * block for good with nothing in flight. */
    if (wait && !loop->_stop) {
        uint64_t t0 = uring_now_ns();

        atomic_store_explicit(&loop->_asleep, true, memory_order_relaxed);
        ret = submit_and_wait(loop);
        atomic_store_explicit(&loop->_asleep, false, memory_order_relaxed);
        /* With DEFER_TASKRUN completions may wait as task work, which the CQ does not show before
         * the call: only the time tells a wait that blocked from one that found work. */
        if (uring_now_ns() - t0 >= URING_SLEEP_NS)
            loop->_slept_at = loop->stats.iterations;
    } else {
        ret = io_uring_submit_and_get_events(&loop->ring);
    }
    if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EBUSY && ret != -EAGAIN)
        return ret;
    /* Callbacks may take SQEs but never touch the CQ, so walking it in place is safe. */
    io_uring_for_each_cqe(&loop->ring, head, cqe)
    {
        uint64_t ud = cqe->user_data;
        int res = cqe->res;
        unsigned flags = cqe->flags;

        n++;
        loop->_cq_dispatched = n; /* the CQEs up to this one are not pending (bufring.c) */
        dispatch(loop, ud, res, flags);
    }
    io_uring_cq_advance(&loop->ring, n);
    loop->_cq_dispatched = 0;
    URING_STAT_ADD(loop, cqes, n);
    return (int)n;
}

int uring_loop_run(struct uring_loop *loop)
{
    loop->_stop = false;
    while (!loop->_stop) {
        int ret = uring_loop_run_once(loop, true);

        if (ret < 0)
            return ret;
    }
    /* What the last callbacks queued (doorbells, sends) still goes out. */
    flush_phase(loop);
    io_uring_submit(&loop->ring);
    return 0;
}

bool uring_loop_slept_within(const struct uring_loop *loop, uint64_t n)
{
    return loop->stats.iterations - loop->_slept_at <= n;
}

bool uring_loop_asleep(const struct uring_loop *loop)
{
    return atomic_load_explicit(&loop->_asleep, memory_order_relaxed);
}

void uring_loop_stop(struct uring_loop *loop)
{
    loop->_stop = true;
}

/* Cancels everything, then waits for every CQE (the loop's ops, and the requests registered sources
 * say they have on the ring): the memory those SQEs point to belongs to their owners, who may free it
 * only once its CQE has been seen. A new cancel goes out only when
 * callbacks armed something since the last one, so an op that completes late costs waits, not
 * a busy loop. */
void uring_loop_destroy(struct uring_loop *loop)
{
    uint64_t cancelled_upto = 0;
    bool first = true;

    loop->_closing = true;
    /* A connection waiting for its gate closes only once it has it back (conn.c). */
    while (loop->_inflight > 0 || sources_busy(loop) || !ulist_empty(&loop->_gate_wait)) {
        if (first || loop->_armed != cancelled_upto) {
            struct io_uring_sqe *sqe = uring_loop_sqe(loop, NULL);

            if (sqe != NULL)
                io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
            cancelled_upto = loop->_armed;
            first = false;
        }
        if (uring_loop_run_once(loop, true) < 0)
            break;
    }
    URING_ASSERT(loop->_inflight == 0);
    uring__send_pool_free(loop);
    uring__bufring_free(loop);
    io_uring_queue_exit(&loop->ring);
}

unsigned uring_loop_inflight(const struct uring_loop *loop)
{
    return loop->_inflight;
}
