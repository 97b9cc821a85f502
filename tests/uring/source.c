/*
 * CQE sources (uring_loop_register_source): ids are handed out and taken back, at most
 * URING_SOURCES_MAX at a time; each source gets exactly its own CQEs with the payload its SQE carried
 * (0, small, and the widest 48-bit value), while the loop's own ops keep theirs; the flush hook runs
 * every iteration; destruction waits for a source that says it is busy.
 */
#include "tests/uring/helpers.h"

#define NPAY 3

struct src {
    struct uring_source s;
    uint64_t got[8];
    int res[8];
    unsigned n;
    unsigned flushes;
    unsigned outstanding;
};

static void src_cqe(struct uring_source *s, uint64_t payload, int res, unsigned flags)
{
    struct src *x = s->data;

    (void)flags;
    if (x->n < 8) {
        x->got[x->n] = payload;
        x->res[x->n] = res;
    }
    x->n++;
    x->outstanding--;
}

static void src_flush(struct uring_source *s)
{
    struct src *x = s->data;

    x->flushes++;
}

static bool src_busy(const struct uring_source *s)
{
    const struct src *x = s->data;

    return x->outstanding > 0;
}

static void src_init(struct src *x)
{
    memset(x, 0, sizeof(*x));
    x->s.on_cqe = src_cqe;
    x->s.on_flush = src_flush;
    x->s.is_busy = src_busy;
    x->s.data = x;
}

static void nop(struct uring_loop *loop, struct src *x, uint64_t payload)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

    if (sqe == NULL)
        BAIL_OUT("sqe");
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, uring_source_user_data(&x->s, payload));
    x->outstanding++;
}

static int op_calls;

static void op_cb(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    (void)loop;
    (void)op;
    (void)flags;
    if (res == 0)
        op_calls++;
}

int main(void)
{
    static const uint64_t pay[NPAY] = {0, 42, (1ULL << URING_SOURCE_PAYLOAD_BITS) - 1};
    struct uring_loop_opts o = {.buf_count = 16, .buf_size = 2048};
    static struct src many[URING_SOURCES_MAX + 1];
    struct src a, b;
    struct uring_loop loop;
    struct uring_op op = {.cb = op_cb};
    struct io_uring_sqe *sqe;
    unsigned freed_id;

    th_require_t0();
    if (uring_loop_init(&loop, &o) != 0)
        BAIL_OUT("loop init");

    src_init(&a);
    a.s.on_cqe = NULL;
    ok_eq(uring_loop_register_source(&loop, &a.s), -EINVAL, "a source without on_cqe is refused");
    for (unsigned i = 0; i < URING_SOURCES_MAX; i++) {
        src_init(&many[i]);
        if (uring_loop_register_source(&loop, &many[i].s) != 0)
            BAIL_OUT("register %u", i);
    }
    src_init(&many[URING_SOURCES_MAX]);
    ok_eq(uring_loop_register_source(&loop, &many[URING_SOURCES_MAX].s), -ENOSPC, "at most URING_SOURCES_MAX sources");
    ok_eq(uring_loop_register_source(&loop, &many[0].s), -EINVAL, "a registered source is not registered twice");
    freed_id = many[3].s._id;
    uring_loop_unregister_source(&loop, &many[3].s);
    ok_eq(many[3].s._id, 0, "unregistering clears the id");
    ok_eq(uring_loop_register_source(&loop, &many[URING_SOURCES_MAX].s), 0, "a freed slot is taken again");
    ok_eq(many[URING_SOURCES_MAX].s._id, freed_id, "with the freed id");
    for (unsigned i = 0; i <= URING_SOURCES_MAX; i++)
        uring_loop_unregister_source(&loop, &many[i].s);

    src_init(&a);
    src_init(&b);
    ok_eq(uring_loop_register_source(&loop, &a.s), 0, "source a registered");
    ok_eq(uring_loop_register_source(&loop, &b.s), 0, "source b registered");
    ok(a.s._id != b.s._id, "distinct ids");
    for (int i = 0; i < NPAY; i++) {
        nop(&loop, &a, pay[i]);
        nop(&loop, &b, pay[NPAY - 1 - i]);
    }
    sqe = uring_loop_sqe(&loop, &op);
    io_uring_prep_nop(sqe);
    while (a.outstanding > 0 || b.outstanding > 0 || uring_loop_inflight(&loop) > 0)
        if (uring_loop_run_once(&loop, true) < 0)
            BAIL_OUT("run_once");
    ok_eq(a.n, NPAY, "a got its CQEs, no more");
    ok_eq(b.n, NPAY, "b got its CQEs, no more");
    for (int i = 0; i < NPAY; i++) {
        ok_eq(a.got[i], pay[i], "a: payload %d intact", i);
        ok_eq(b.got[i], pay[NPAY - 1 - i], "b: payload %d intact", i);
        ok_eq(a.res[i], 0, "a: res %d", i);
    }
    ok_eq(op_calls, 1, "the loop's own op completed through its callback");
    ok(a.flushes >= 1, "the flush hook runs each iteration (%u)", a.flushes);
    ok_eq(a.flushes, b.flushes, "for every source");

    /* Destruction with a source's request placed but not even submitted: it waits for the CQE. */
    nop(&loop, &a, 7);
    uring_loop_unregister_source(&loop, &b.s);
    uring_loop_destroy(&loop);
    ok_eq(a.n, NPAY + 1, "destroy dispatched the busy source's last CQE");
    ok_eq(a.outstanding, 0, "nothing of the source left on the ring");
    return done_testing();
}
