/*
 * Direct publishes: the copies of a PUB for another core's subscribers written by the publisher's
 * core itself, as MSG frames straight to their connections (docs/architecture.md, "Direct
 * publishes").
 *
 * Why: a copy handed to another core costs a second copy there (into the connection's output),
 * that core's match, its wake-ups, and the caches' traffic between the two threads: a publisher
 * and a subscriber on different cores cost the broker about 30% more CPU per message than on one
 * (docs/performance.md), and which of the two a client pair gets is chance. When the other core
 * sleeps, nothing of ours is on its way to it and the connection has nothing queued, the
 * publisher's core can write the frames through the connection's gate (direct.h) as it writes to
 * its own subscribers: one sendmsg per connection and loop iteration.
 *
 * The choice is made once per destination core and iteration, at its first copy: frames, or a
 * batch of copies (route.c). A copy is all frames or one copy, never part of each. Anything else
 * pushed to that core in the iteration pushes the frames first (X_FRAMES, which the owner queues
 * as they are), and so does a copy that does not fit (more than ROUTE_DIRECT_CONNS connections, a
 * connection with more than ROUTE_DIRECT_SIDS matching subscriptions, a message larger than a
 * write may be: direct_bytes()); the rest of the iteration's copies for that core then go in a
 * batch behind them, so the channel order holds. At the iteration's end each connection's frames are written if the core still
 * sleeps and the gate is idle (the owner has nothing queued or in flight), else pushed.
 *
 * Frames are made from this core's replica, so an UNSUB on its way here is not seen: the
 * subscriber may get a message for a subscription it has just left, as with direct requests
 * (request.c); libtrpc drops it. Delivery counters (per subscription, per connection) belong to
 * the subscriber's core: the counts are owed to it and go in one X_DCOUNT per destination core
 * when a timer of ROUTE_DIRECT_COUNT_NS started by the first of them fires, or sooner once
 * ROUTE_DIRECT_COUNTS subscriptions are owed to one core. Direct requests and replies
 * (request.c) owe theirs the same way.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "src/core.h"
#include "src/session.h"

#define PLAN_MAX (ROUTE_DIRECT_CONNS * ROUTE_DIRECT_SIDS) /* targets a copy may have on one core */

_Static_assert(ROUTE_DIRECT_CONNS <= UINT8_MAX, "xdirect.nconns holds the count");

/* Whether this core may start frames for d now (nothing made for d yet). */
static bool may_write(struct core *c, unsigned d)
{
    assert(c->route.xd[d].nconns == 0);
    return !c->direct.stage[d].staged && c->route.xb[d].b == NULL && uring_loop_slept_within(&c->loop, ROUTE_DIRECT_BUSY_ITERS) &&
           direct_ok(c, d, 0);
}

/* The choice for d, made at the iteration's first copy for it. */
static bool direct_on(struct core *c, unsigned d)
{
    struct xdirect *x = &c->route.xd[d];
    uint64_t it = c->loop.stats.iterations;

    if (x->decided != it) {
        x->decided = it;
        x->on = may_write(c, d);
    }
    return x->on;
}

bool route_direct_pending(const struct core *c, unsigned d)
{
    return c->route.xd != NULL && c->route.xd[d].nconns > 0;
}

/* Frames back to empty, the buffer kept. */
static void frames_reset(struct xframes *f)
{
    f->len = 0;
    f->nsids = 0;
}

static struct xframes *frames_grow(struct xframes *f, uint32_t need)
{
    uint32_t cap = f != NULL ? f->cap : 0;
    struct xframes *g;

    if (cap >= need)
        return f;
    if (cap < ROUTE_DIRECT_MIN_CAP)
        cap = ROUTE_DIRECT_MIN_CAP;
    while (cap < need)
        cap *= 2;
    g = realloc(f, sizeof(*g) + cap);
    if (g == NULL)
        return NULL;
    if (f == NULL)
        frames_reset(g);
    g->cap = cap;
    return g;
}

/* A connection's frames per write: as much as the owner sends at once, but a short write's rest
 * (the owner's from then on) passes max-output-bytes by a quarter of it at most. */
static uint64_t direct_bytes(const struct core *c)
{
    uint64_t quarter = c->cfg.max_output_bytes / 4;

    return quarter < ROUTE_DIRECT_BYTES ? quarter : ROUTE_DIRECT_BYTES;
}

/*
 * Where target (slot, gen, sid) goes among x's connections, made room for one more frame of flen
 * bytes on top of `want` (the bytes this copy puts there already); -E2BIG if the connection's
 * frames would pass direct_bytes(), -ENOSPC for any other reason it does not fit. want[]
 * and *nconns cover the connections this copy opened (committed only once every target fits).
 */
static int plan(struct core *c, unsigned d, unsigned *nconns, uint32_t *want, uint32_t slot, uint32_t gen, uint64_t sid,
                uint32_t flen, uint8_t *si)
{
    struct xdirect *x = &c->route.xd[d];
    unsigned i;
    struct xframes *f;

    for (i = 0; i < *nconns; i++)
        if (x->conn[i]->slot == slot && x->conn[i]->gen == gen)
            break;
    if (i == *nconns) {
        /* A gate not idle now (the owner has output queued or in flight; no gate at all with
         * user-space TLS) would only have the frames handed over, in buffers the copies'
         * recycling spares. */
        if (i == ROUTE_DIRECT_CONNS || !direct_gate_idle(c, d, slot, gen))
            return -ENOSPC;
        f = frames_grow(x->conn[i], ROUTE_DIRECT_MIN_CAP);
        if (f == NULL)
            return -ENOSPC;
        x->conn[i] = f;
        frames_reset(f);
        f->slot = slot;
        f->gen = gen;
        want[i] = 0;
        (*nconns)++;
    }
    f = x->conn[i];
    if ((uint64_t)f->len + want[i] + flen > direct_bytes(c))
        return -E2BIG;
    f = frames_grow(f, f->len + want[i] + flen);
    if (f == NULL)
        return -ENOSPC;
    x->conn[i] = f;
    want[i] += flen;
    for (*si = 0; *si < f->nsids && f->sid[*si] != sid; (*si)++)
        ;
    if (*si == f->nsids) {
        if (f->nsids == ROUTE_DIRECT_SIDS)
            return -ENOSPC;
        f->sid[f->nsids] = sid;
        f->bytes[f->nsids] = 0;
        f->n[f->nsids++] = 0;
    }
    return (int)i;
}

static void append(struct xframes *f, uint8_t si, const struct wire_frame *pub, const uint8_t *body, uint32_t body_len)
{
    uint8_t *p = f->data + f->len;

    assert(si < f->nsids && f->len + WIRE_FIXED_LEN + body_len <= f->cap);
    wire_put_fixed(p, WIRE_MSG, 0, WIRE_FIXED_LEN + body_len, pub->topic_len, pub->hdr_len, 0, f->sid[si], 0);
    memcpy(p + WIRE_FIXED_LEN, body, body_len);
    f->len += WIRE_FIXED_LEN + body_len;
    f->n[si]++;
    f->bytes[si] += WIRE_FIXED_LEN + body_len;
}

/* Where each target of the copy goes (ci, si: connection and subscription), making room; 0, or
 * plan()'s error. Connections opened on the way stay open, empty. */
static int plan_copy(struct core *c, unsigned d, uint32_t flen, size_t n, uint8_t *ci, uint8_t *si, unsigned *nt)
{
    struct xdirect *x = &c->route.xd[d];
    const struct tvec *t = &c->route.tv[d];
    uint32_t want[ROUTE_DIRECT_CONNS] = {0};
    unsigned nconns = x->nconns;
    int i = 0;

    *nt = 0;
    if (c->route.rplain[d] + t->n > PLAN_MAX)
        return -ENOSPC;
    for (size_t k = 0, left = c->route.rplain[d]; left > 0 && k < n && i >= 0; k++) {
        const struct rsub *r = c->route.match[k];

        if (r->owner != d || r->group_len > 0)
            continue;
        left--;
        i = plan(c, d, &nconns, want, r->slot, r->gen, r->sid, flen, &si[*nt]);
        if (i >= 0)
            ci[(*nt)++] = (uint8_t)i;
    }
    for (uint32_t k = 0; k < t->n && i >= 0; k++) {
        i = plan(c, d, &nconns, want, t->v[k].slot, t->v[k].gen, t->v[k].sid, flen, &si[*nt]);
        if (i >= 0)
            ci[(*nt)++] = (uint8_t)i;
    }
    x->nconns = (uint8_t)nconns;
    return i < 0 ? i : 0;
}

bool route_direct_copy(struct core *c, unsigned d, const struct wire_frame *f, const uint8_t *body, uint32_t body_len, size_t n)
{
    struct xdirect *x = &c->route.xd[d];
    uint8_t ci[PLAN_MAX], si[PLAN_MAX];
    unsigned nt;
    int ret;

    if (!direct_on(c, d))
        return false;
    ret = plan_copy(c, d, WIRE_FIXED_LEN + body_len, n, ci, si, &nt);
    if (ret == -E2BIG) {
        /* A long iteration (a core that was preempted reads much at once): what it has made so
         * far goes now, and the copy starts the next frames if the core may still write them. */
        route_direct_flush(c, d);
        x->on = may_write(c, d);
        if (!x->on)
            return false;
        ret = plan_copy(c, d, WIRE_FIXED_LEN + body_len, n, ci, si, &nt);
    }
    if (ret != 0) {
        /* Sids this copy added have n 0: X_FRAMES and the counts skip them. */
        route_direct_push(c, d);
        return false;
    }
    for (unsigned k = 0; k < nt; k++)
        append(x->conn[ci[k]], si[k], f, body, body_len);
    x->active = true;
    return true;
}

/* ---- leaving: pushed, or written at the iteration's end --------------------------------------- */

static void push_counts(struct core *c, unsigned d)
{
    struct xdirect *x = &c->route.xd[d];
    struct xdcounts *p = malloc(sizeof(*p));
    struct uring_xmsg m = {.type = X_DCOUNT, .ptr = p};

    /* Counters only: lost with no memory or no room, never worth a drop of a message. */
    if (p != NULL) {
        memcpy(p, &x->counts, sizeof(*p));
        if (core_push(c, d, &m, 0) != 0)
            free(p);
    }
    x->counts.n = 0;
}

static void owed_done(struct uring_timer *t, int res)
{
    struct core *c = (struct core *)(void *)((char *)t - offsetof(struct core, route.owed));

    if (res != 0 || c->timers_idle)
        return; /* stopping: counters only */
    for (unsigned d = 0; d < c->b->ncores; d++)
        if (c->route.xd[d].counts.n > 0)
            push_counts(c, d);
}

static void owe_one(struct core *c, unsigned d, const struct xdcount *v)
{
    struct xdirect *x = &c->route.xd[d];
    uint32_t j;

    for (j = 0; j < x->counts.n; j++)
        if (x->counts.v[j].sid == v->sid && x->counts.v[j].slot == v->slot && x->counts.v[j].gen == v->gen)
            break;
    if (j == ROUTE_DIRECT_COUNTS) {
        push_counts(c, d);
        j = 0;
    }
    if (j == x->counts.n) {
        x->counts.v[j] = (struct xdcount){.slot = v->slot, .gen = v->gen, .sid = v->sid};
        x->counts.n++;
    }
    x->counts.v[j].delivered += v->delivered;
    x->counts.v[j].msgs += v->msgs;
    x->counts.v[j].bytes += v->bytes;
    /* One push per destination and period at most, whatever the rate: the counts lag by up to
     * ROUTE_DIRECT_COUNT_NS, and the sleeping core wakes ten times a second, not per write. */
    route_direct_rearm(c);
}

void route_direct_rearm(struct core *c)
{
    if (uring_timer_is_armed(&c->route.owed) || c->stopping)
        return;
    /* Without an SQE now, the next iteration's flush tries again. */
    c->route.owed_unarmed = uring_timer_start(&c->loop, &c->route.owed, ROUTE_DIRECT_COUNT_NS, owed_done) != 0;
}

static void owe(struct core *c, unsigned d, const struct xframes *f)
{
    for (uint32_t k = 0; k < f->nsids; k++) {
        struct xdcount v = {
            .slot = f->slot, .gen = f->gen, .sid = f->sid[k], .delivered = f->n[k], .msgs = f->n[k], .bytes = f->bytes[k]};

        if (f->n[k] > 0)
            owe_one(c, d, &v);
    }
}

void route_direct_owe(struct core *c, unsigned d, uint32_t slot, uint32_t gen, uint64_t sid, uint64_t msgs, uint64_t bytes)
{
    struct xdcount v = {.slot = slot, .gen = gen, .sid = sid, .msgs = msgs, .bytes = bytes};

    if (route_scratch(c) == 0) /* else the counters miss it, as they would with no memory to push */
        owe_one(c, d, &v);
}

static uint32_t frames_msgs(const struct xframes *f)
{
    uint32_t n = 0;

    for (uint32_t k = 0; k < f->nsids; k++)
        n += f->n[k];
    return n;
}

/* Connection i's frames go to d's channel, the buffer with them. */
static void push_frames(struct core *c, unsigned d, unsigned i)
{
    struct xdirect *x = &c->route.xd[d];
    struct xframes *f = x->conn[i];
    struct uring_xmsg m = {.type = X_FRAMES, .ptr = f};
    uint32_t msgs = frames_msgs(f); /* f is d's once pushed */

    if (f->len == 0)
        return;
    x->conn[i] = NULL;
    if (core_push(c, d, &m, f->len) != 0) {
        STAT_ADD(c->st, drops, msgs);
        free(f);
        return;
    }
    STAT_ADD(c->st, direct_pub_handoffs, msgs);
}

void route_direct_push(struct core *c, unsigned d)
{
    struct xdirect *x = &c->route.xd[d];
    unsigned n = x->nconns;

    /* First, so that core_push (route_batch_pending) sees nothing left to push before these. */
    x->on = false;
    x->nconns = 0;
    for (unsigned i = 0; i < n; i++)
        push_frames(c, d, i);
}

void route_direct_flush(struct core *c, unsigned d)
{
    struct xdirect *x = &c->route.xd[d];
    unsigned n = x->nconns;
    bool ok;

    x->on = false;
    x->nconns = 0;
    ok = n > 0 && direct_ok(c, d, 0);
    for (unsigned i = 0; i < n; i++) {
        struct xframes *f = x->conn[i];
        struct iovec iov = {f->data, f->len};
        uint32_t msgs = frames_msgs(f);

        if (f->len == 0)
            continue;
        if (!ok || direct_send(c, d, f->slot, f->gen, &iov, 1) != 0) {
            push_frames(c, d, i);
            continue;
        }
        STAT_ADD(c->st, msgs_out, msgs);
        STAT_ADD(c->st, bytes_out, f->len);
        STAT_ADD(c->st, direct_pubs, msgs);
        owe(c, d, f);
        frames_reset(f);
    }
}

static void free_buffers(struct core *c, struct xdirect *x)
{
    for (unsigned i = x->nconns; i < ROUTE_DIRECT_CONNS; i++) {
        if (x->conn[i] != NULL)
            c->freed_bytes += sizeof(*x->conn[i]) + x->conn[i]->cap;
        free(x->conn[i]);
        x->conn[i] = NULL;
    }
}

void route_direct_sweep(struct core *c)
{
    for (unsigned d = 0; c->route.xd != NULL && d < c->b->ncores; d++) {
        struct xdirect *x = &c->route.xd[d];

        if (!x->active)
            free_buffers(c, x);
        x->active = false;
    }
}

/* A quiet core gives back its frame buffers. */
void route_direct_trim(struct core *c)
{
    for (unsigned d = 0; c->route.xd != NULL && d < c->b->ncores; d++)
        free_buffers(c, &c->route.xd[d]);
}

void route_direct_stop(struct core *c)
{
    if (uring_timer_is_armed(&c->route.owed))
        uring_timer_cancel(&c->route.owed);
}

void route_direct_fini(struct core *c)
{
    for (unsigned d = 0; c->route.xd != NULL && d < c->b->ncores; d++)
        for (unsigned i = 0; i < ROUTE_DIRECT_CONNS; i++)
            free(c->route.xd[d].conn[i]);
    free(c->route.xd);
    c->route.xd = NULL;
}

/* ---- on the subscriber's core ------------------------------------------------------------------ */

static void credit(struct session *s, uint64_t sid, uint64_t delivered, uint64_t msgs, uint64_t bytes)
{
    struct rsub *r = delivered > 0 ? idmap_get(&s->subs, sid) : NULL;

    if (r != NULL)
        r->delivered += delivered;
    s->msgs_out += msgs;
    s->bytes_out += bytes;
}

/* The frames whole; frame by frame where they pass this core's max-output-bytes on their own (a
 * setting lowered while they were made under the old one), so that only a connection that really
 * has too much queued is cut. Each frame is at most max-frame, which the bound is not below. */
static int frames_write(struct session *s, const struct xframes *f)
{
    uint32_t off = 0;
    int ret = 0;

    if (f->len <= s->core->cfg.max_output_bytes)
        return session_write2(s, f->data, f->len, NULL, 0);
    while (ret == 0 && off + WIRE_FIXED_LEN <= f->len) {
        const uint8_t *p = f->data + off;
        uint32_t len = wire_frame_length(p);

        assert(len >= WIRE_FIXED_LEN && len <= f->len - off); /* made by route_direct_copy */
        ret = session_write2(s, p, len, NULL, 0);
        off += len;
    }
    return ret;
}

void route_direct_frames_in(struct core *c, unsigned src, const struct uring_xmsg *m)
{
    struct xframes *f = m->ptr;
    struct session *s = core_session(c, f->slot, f->gen);
    uint32_t msgs = frames_msgs(f);

    (void)src;
    if (s == NULL || s->state != SESS_OPEN || frames_write(s, f) != 0) {
        STAT_ADD(c->st, drops, msgs);
    } else {
        for (uint32_t k = 0; k < f->nsids; k++)
            credit(s, f->sid[k], f->n[k], f->n[k], 0); /* session_write2 counted the bytes */
        STAT_ADD(c->st, msgs_out, msgs);
        STAT_ADD(c->st, bytes_out, f->len);
    }
    free(f);
}

void route_direct_counts_in(struct core *c, unsigned src, const struct uring_xmsg *m)
{
    struct xdcounts *p = m->ptr;

    (void)src;
    for (uint32_t k = 0; k < p->n; k++) {
        struct session *s = core_session(c, p->v[k].slot, p->v[k].gen);

        if (s != NULL)
            credit(s, p->v[k].sid, p->v[k].delivered, p->v[k].msgs, p->v[k].bytes);
    }
    free(p);
}
