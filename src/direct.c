/*
 * Direct sends (direct.h; docs/architecture.md, "Direct sends").
 *
 * Why stage: a request or reply that is the only message for its destination core in a loop
 * iteration would cost that core a wake-up (a MSG_RING, then its own send). Written straight to
 * the connection by the core that has it, the round trip skips a thread hand-off. When more
 * than one message goes to that core in the iteration, pushing them batches better, so the
 * staged one is pushed as soon as a second message for the same core shows up (core_push calls
 * direct_unstage first, which keeps the order).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "src/core.h"
#include "src/session.h"

/* The staged message for dst leaves through its type's unstage handler (pushed, or written
 * directly when `direct`). */
static void unstage(struct core *c, unsigned dst, bool direct)
{
    struct direct_stage *st = &c->direct.stage[dst];
    struct uring_xmsg m = st->msg;

    assert(st->staged);
    st->staged = false;
    c->b->xtypes[m.type].unstage(c, dst, &m, st->cost, direct);
}

void direct_unstage(struct core *c, unsigned dst)
{
    unstage(c, dst, false);
}

int direct_stage(struct core *c, unsigned dst, struct uring_xmsg *msg, uint32_t cost)
{
    struct direct_stage *st = &c->direct.stage[dst];

    assert(msg->type < X_NTYPES && c->b->xtypes[msg->type].unstage != NULL);
    /* PUB copies batched for dst go with it, and before it (core_push). */
    if (!c->cfg.direct_sends || c->stopping || st->staged || c->out[dst].pushed_at == c->loop.stats.iterations ||
        route_batch_pending(c, dst))
        return core_push(c, dst, msg, cost);
    st->staged = true;
    st->cost = cost;
    st->msg = *msg;
    c->direct.staged[c->direct.nstaged++] = dst;
    return 0;
}

/* End of an iteration, before the doorbells: what was staged and stayed alone goes. */
static void direct_flush(struct core *c)
{
    for (unsigned i = 0; i < c->direct.nstaged; i++)
        if (c->direct.stage[c->direct.staged[i]].staged)
            unstage(c, c->direct.staged[i], true);
    c->direct.nstaged = 0;
}

bool direct_ok(struct core *c, unsigned dst, size_t len)
{
    struct core *d = c->b->cores[dst];

    assert(dst != c->id && dst < c->b->ncores);
    if (!c->cfg.direct_sends || c->stopping || len > BROKER_DIRECT_MAX)
        return false;
    /* Only a core that sleeps costs a wake-up to hand the frame to; a busy one batches it with
     * the rest of its output, which one syscall per frame from here would not. */
    if (!uring_loop_asleep(&d->loop))
        return false;
    /* A message of ours still on its way to dst may be for this connection: it goes first. */
    return core_out_quiet(c, dst);
}

int direct_send(struct core *c, unsigned dst, uint32_t slot, uint32_t gen, const struct iovec *iov, unsigned n)
{
    struct core *d = c->b->cores[dst];
    int ret;

    if (slot >= d->direct.ngates)
        return -EAGAIN;
    /* A short send must be able to tell the owner (X_GATE), or the peer waits mid-frame. */
    if (core_reserve(c, 1) != 0)
        return -ENOMEM;
    ret = uring_gate_send(&d->direct.gates[slot], gen, iov, n);
    if (ret < 0)
        return ret;
    STAT_ADD(c->st, direct_sends, 1);
    if (ret == URING_GATE_REST) {
        struct uring_xmsg m = {.type = X_GATE, .u64 = (uint64_t)slot << 32 | gen};

        STAT_ADD(c->st, direct_rests, 1);
        ret = core_push(c, dst, &m, 0);
        assert(ret == 0); /* cost 0 with a backlog entry reserved */
    }
    return 0;
}

bool direct_gate_idle(struct core *c, unsigned dst, uint32_t slot, uint32_t gen)
{
    struct core *d = c->b->cores[dst];

    return slot < d->direct.ngates && uring_gate_idle(&d->direct.gates[slot], gen);
}

/* X_GATE: the owner's side of a short direct send. */
static void gate_poll(struct core *c, unsigned src, const struct uring_xmsg *m)
{
    struct session *s = core_session(c, (uint32_t)(m->u64 >> 32), (uint32_t)m->u64);

    (void)src;
    if (s != NULL)
        uring_conn_gate_poll(&s->conn);
}

void direct_gate_open(struct session *s)
{
    struct core *c = s->core;

    if (c->cfg.direct_sends && s->slot < c->direct.ngates && s->gen != 0)
        uring_conn_gate_open(&s->conn, &c->direct.gates[s->slot], s->gen);
}

/* The gate table: one gate per possible slot, in pages the kernel fills on first touch, so an
 * idle broker pays for the connections it has had, not for max_connections. Allocated on the
 * core's thread before the start barrier, so before any other core can look at it. */
static int direct_init(struct core *c)
{
    size_t n = (size_t)c->cfg.max_connections + 1;
    void *p;

    c->direct.stage = calloc(c->b->ncores, sizeof(*c->direct.stage));
    c->direct.staged = calloc(c->b->ncores, sizeof(*c->direct.staged));
    if (c->direct.stage == NULL || c->direct.staged == NULL)
        return -ENOMEM;
    p = mmap(NULL, n * sizeof(struct uring_gate), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    c->direct.gates = p;
    c->direct.ngates = (uint32_t)n;
    return 0;
}

/* Past the stop barrier no core runs its loop, so nobody writes through our gates any more. */
static void direct_fini(struct core *c)
{
    if (c->direct.gates != NULL)
        munmap(c->direct.gates, (size_t)c->direct.ngates * sizeof(struct uring_gate));
    free(c->direct.stage);
    free(c->direct.staged);
    c->direct = (struct direct_core){0};
}

static const struct core_xtype direct_xtypes[] = {
    {.type = X_GATE, .on_msg = gate_poll},
};

const struct core_module direct_module = {
    .name = "direct",
    .xtypes = direct_xtypes,
    .nxtypes = sizeof(direct_xtypes) / sizeof(direct_xtypes[0]),
    .init = direct_init,
    .flush = direct_flush,
    .fini = direct_fini,
};
