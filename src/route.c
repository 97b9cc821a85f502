/*
 * Routing: subscriptions, the per-core trie replicas and the fan-out of published messages.
 *
 * Every core's trie holds every subscription of the broker: its own sessions' (struct rsub with
 * sess set, also kept in the session's idmap by subscription id) and a replica of every other
 * core's (kept per remote connection in c->route.rconns). SUB, UNSUB and a closing connection (GONE)
 * are broadcast to the other cores, which apply them in channel order and confirm each with an
 * ACK; a PING is answered only once every broadcast its core sent before it has been confirmed,
 * so a client that saw its PONG knows its subscriptions are in force on every core.
 *
 * A PUB is matched once, on the publisher's core, against its replica:
 *   - plain subscriptions on this core get a MSG at once;
 *   - each queue group gets one member, chosen here (the replica has all members), so the choice
 *     is made once; a member on this core gets the MSG at once;
 *   - every other core with a matching plain subscription or a chosen member gets ONE copy of the
 *     message (struct xpub): the chosen members by name, plus a flag telling it to deliver to its
 *     own plain subscriptions, which it finds by matching its own trie (authoritative for its own
 *     sessions); or, when that core sleeps, the MSG frames themselves, written from here
 *     (route_direct.c).
 * Channels are FIFO per pair of cores, so messages of one publisher keep their order everywhere.
 *
 * Copies were malloc'd per message on one core and freed on another, where they landed in the
 * freeing thread's caches rather than the sender's, so the sender's heap kept growing (sysmalloc,
 * page faults: docs/performance.md). Blocks up to 1 MiB are therefore rounded up to a size class
 * and recycled per pair of cores: the receiver chains consumed blocks and hands them back in
 * batches of BROKER_RECYCLE_BATCH blocks or BROKER_RECYCLE_BATCH_BYTES (X_RECYCLE, on the reverse
 * channel, only when it has room: otherwise they are freed), and the sender keeps up to
 * BROKER_RECYCLE_BYTES of small blocks and BROKER_RECYCLE_LARGE_BYTES of large ones, all
 * destinations together, for its next copies. The small bound is sized for a bench window's worth
 * of 256 B copies: the number in flight swings by thousands, and a 256 KiB cache recycled almost
 * none. Large copies above 16 KiB were a malloc and a cross-thread free each (10 to 13 page faults
 * per 64 KiB message); their cache can hold many MiB, so a sweep without traffic empties it.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/topic.h"
#include "src/admin.h"
#include "src/core.h"
#include "src/log.h"
#include "src/session.h"
#include "src/trie.h"

static uint64_t rconn_key(uint32_t owner, uint32_t slot)
{
    return ((uint64_t)(owner + 1) << 32) | slot;
}

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static struct rsub *rsub_new(uint32_t owner, uint32_t slot, uint32_t gen, uint64_t sid, const char *pattern, size_t plen,
                             const char *group, size_t glen)
{
    struct rsub *r = malloc(sizeof(*r) + plen + glen);

    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->owner = owner;
    r->slot = slot;
    r->gen = gen;
    r->sid = sid;
    blist_init(&r->pending);
    r->pattern_len = (uint16_t)plen;
    r->group_len = (uint16_t)glen;
    memcpy(r->text, pattern, plen);
    if (glen > 0) {
        memcpy(r->text + plen, group, glen);
        r->group = r->text + plen;
        r->group_hash = fnv1a(group, glen);
    }
    return r;
}

static void delete_rsub(struct core *c, struct rsub *r, bool conn_gone)
{
    int ret = trie_remove(c->route.trie, r->text, r->pattern_len, r);

    assert(ret == 0);
    (void)ret;
    core_sub_gone(c, r, conn_gone);
    c->freed_bytes += sizeof(*r) + r->pattern_len + r->group_len + 64; /* and its share of trie nodes */
    free(r);
}

/* ---- broadcasts -------------------------------------------------------------------------------- */

/* Sends a copy of body (size bytes, starting with its uint64_t seq) to every other core. */
static void broadcast(struct core *c, uint32_t type, void *body, size_t size)
{
    if (c->b->ncores == 1 || c->stopped)
        return;
    c->route.bcast_seq++;
    memcpy(body, &c->route.bcast_seq, sizeof(c->route.bcast_seq));
    for (unsigned d = 0; d < c->b->ncores; d++) {
        struct uring_xmsg m = {.type = type};

        if (d == c->id)
            continue;
        m.ptr = malloc(size);
        if (m.ptr != NULL)
            memcpy(m.ptr, body, size);
        if (m.ptr == NULL || core_push(c, d, &m, 0) != 0) {
            /* A replica that misses an update would route wrongly for as long as it lives. */
            log_error(c->id, "out of memory broadcasting to core %u", d);
            abort();
        }
    }
}

static void send_ack(struct core *c, unsigned dst, uint64_t seq)
{
    struct uring_xmsg m = {.type = X_ACK, .u64 = seq};

    if (core_push(c, dst, &m, 0) != 0) {
        log_error(c->id, "out of memory acknowledging to core %u", dst);
        abort();
    }
}

static uint64_t min_acked(const struct core *c)
{
    uint64_t m = UINT64_MAX;

    for (unsigned i = 0; i < c->b->ncores; i++)
        if (i != c->id && c->route.acked[i] < m)
            m = c->route.acked[i];
    return m;
}

/*
 * A PONG goes out once every broadcast its core sent before the PING was confirmed by every other
 * core, and PONGs of one connection go in PING order (the core's FIFO is in broadcast order, and
 * an answer at once only happens when nothing is held). A connection holding BROKER_PONGS_MAX
 * stops being read until one goes (backpressure), rather than being answered early.
 */
void route_hold_pong(struct session *s, uint64_t id)
{
    struct core *c = s->core;
    struct pong_wait *w;

    if (c->b->ncores == 1 || min_acked(c) >= c->route.bcast_seq) {
        assert(s->pongs_held == 0);
        session_send_pong(s, id);
        return;
    }
    assert(s->pongs_held < BROKER_PONGS_MAX);
    if (c->route.pong_count == c->route.pong_cap &&
        fifo_grow((void **)&c->route.pongs, sizeof(*w), &c->route.pong_head, c->route.pong_count, &c->route.pong_cap, 64) != 0) {
        session_fail(s, id, TRPC_E_INTERNAL, "out of memory holding a PONG");
        return;
    }
    w = &c->route.pongs[(c->route.pong_head + c->route.pong_count) % c->route.pong_cap];
    w->slot = s->slot;
    w->gen = s->gen;
    w->id = id;
    w->seq = c->route.bcast_seq;
    c->route.pong_count++;
    if (++s->pongs_held == BROKER_PONGS_MAX)
        session_rx_pause(s);
}

static void release_pongs(struct core *c)
{
    uint64_t done = min_acked(c);

    while (c->route.pong_count > 0) {
        struct pong_wait *w = &c->route.pongs[c->route.pong_head];
        struct session *s;

        if (w->seq > done)
            break;
        s = core_session(c, w->slot, w->gen);
        if (s != NULL) {
            if (s->pongs_held-- == BROKER_PONGS_MAX && s->rx_paused && blist_empty(&s->rx_node))
                blist_add_tail(&c->route.rx_resume, &s->rx_node);
            session_send_pong(s, w->id);
        }
        c->route.pong_head = (c->route.pong_head + 1) % c->route.pong_cap;
        c->route.pong_count--;
    }
    /* After the ring walk: what a resumed session parses may hold new PONGs. */
    while (!blist_empty(&c->route.rx_resume)) {
        struct session *s = blist_entry(c->route.rx_resume.next, struct session, rx_node);

        blist_del(&s->rx_node);
        session_rx_resume(s);
    }
}

/* ---- subscribe --------------------------------------------------------------------------------- */

int route_sub(struct session *s, const struct wire_frame *f)
{
    struct core *c = s->core;
    struct wire_header g = {0};
    struct rsub *r;
    bool grouped;
    int ret;

    if (idmap_get(&s->subs, f->id) != NULL || group_has_sub(s, f->id))
        return BROKER_ETRPC(TRPC_E_DUPLICATE_SUBSCRIPTION);
    if (admin_reserved(f->topic, f->topic_len))
        return BROKER_ETRPC(TRPC_E_PERMISSION_DENIED);
    if (s->subs.count + s->dsubs.count >= c->cfg.max_subscriptions)
        return BROKER_ETRPC(TRPC_E_TOO_MANY_SUBSCRIPTIONS);
    grouped = wire_header_find(f, ":group", 6, &g);
    if (grouped && (g.val_len == 0 || g.val_len > BROKER_GROUP_MAX))
        return BROKER_ETRPC(TRPC_E_BAD_HEADER);
    r = rsub_new(c->id, s->slot, s->gen, f->id, f->topic, f->topic_len, (const char *)g.val, grouped ? g.val_len : 0);
    if (r == NULL)
        return -ENOMEM;
    r->sess = s;
    s->responder = s->responder || grouped;
    ret = idmap_put(&s->subs, f->id, r);
    if (ret != 0) {
        free(r);
        return ret;
    }
    ret = trie_insert(c->route.trie, f->topic, f->topic_len, r);
    if (ret != 0) {
        idmap_del(&s->subs, f->id);
        free(r);
        return ret;
    }
    STAT_ADD(c->st, subscriptions, 1);
    if (c->b->ncores > 1) {
        size_t size = sizeof(struct xsub) + r->pattern_len + r->group_len;
        struct xsub *x = malloc(size);

        if (x == NULL) {
            log_error(c->id, "out of memory broadcasting a subscription");
            abort();
        }
        x->slot = s->slot;
        x->gen = s->gen;
        x->sid = f->id;
        x->pattern_len = r->pattern_len;
        x->group_len = r->group_len;
        memcpy(x->text, r->text, r->pattern_len + r->group_len);
        broadcast(c, X_SUB, x, size);
        free(x);
    }
    return 0;
}

int route_unsub(struct session *s, uint64_t sid)
{
    struct core *c = s->core;
    struct rsub *r = idmap_del(&s->subs, sid);
    struct xunsub x = {.slot = s->slot, .gen = s->gen, .sid = sid};

    if (r == NULL)
        return BROKER_ETRPC(TRPC_E_UNKNOWN_SUBSCRIPTION);
    delete_rsub(c, r, false);
    STAT_SUB(c->st, subscriptions, 1);
    broadcast(c, X_UNSUB, &x, sizeof(x));
    return 0;
}

static void route_session_gone(struct session *s)
{
    struct core *c = s->core;
    struct xunsub x = {.slot = s->slot, .gen = s->gen};
    uint32_t pos = 0;
    struct rsub *r;

    /* A responder that unsubscribed may still hold requests delivered before (it may answer
     * them): every core hears of its close, to fail them with RESPONDER_LOST. */
    if (s->subs.count == 0 && !s->responder)
        return;
    STAT_SUB(c->st, subscriptions, s->subs.count);
    while ((r = idmap_next(&s->subs, &pos, NULL)) != NULL)
        delete_rsub(c, r, true);
    idmap_free(&s->subs);
    if (s->responder)
        core_conn_gone(c, c->id, s->slot, s->gen);
    broadcast(c, X_GONE, &x, sizeof(x));
}

/* ---- publish ----------------------------------------------------------------------------------- */

static void collect(void *entry, void *ctx)
{
    struct core *c = ctx;

    if (c->route.nmatch == c->route.match_cap) {
        size_t cap = c->route.match_cap ? c->route.match_cap * 2 : 64;
        struct rsub **m = realloc(c->route.match, cap * sizeof(*m));

        if (m == NULL)
            return; /* fewer deliveries rather than none; counted by the caller as drops */
        c->route.match = m;
        c->route.match_cap = cap;
    }
    c->route.match[c->route.nmatch++] = entry;
}

size_t route_match(struct core *c, const char *topic, size_t len)
{
    struct route_core *rt = &c->route;
    uint64_t gen = trie_generation(rt->trie);
    size_t visits;

    if (len == rt->memo_len && len > 0 && gen == rt->memo_gen && memcmp(topic, rt->memo_topic, len) == 0)
        return rt->nmatch;
    rt->nmatch = 0;
    visits = trie_match(rt->trie, topic, len, collect, c);
    rt->memo_len = 0;
    if (visits != rt->nmatch) {
        STAT_ADD(c->st, drops, visits - rt->nmatch);
    } else if (len <= sizeof(rt->memo_topic)) {
        memcpy(rt->memo_topic, topic, len);
        rt->memo_len = (uint16_t)len;
        rt->memo_gen = gen;
    }
    return rt->nmatch;
}

void route_match_forget(struct core *c)
{
    c->route.memo_len = 0;
}

/* To a subscription of a session of this core. */
static void deliver(struct rsub *r, uint16_t topic_len, uint32_t hdr_len, const uint8_t *body, uint32_t body_len)
{
    struct session *s = r->sess;
    struct core *c = s->core;
    uint8_t hdr[WIRE_FIXED_LEN];

    if (s->state != SESS_OPEN) {
        STAT_ADD(c->st, drops, 1);
        return;
    }
    wire_put_fixed(hdr, WIRE_MSG, 0, WIRE_FIXED_LEN + body_len, topic_len, hdr_len, 0, r->sid, 0);
    if (session_write2(s, hdr, sizeof(hdr), body, body_len) == 0) {
        r->delivered++;
        s->msgs_out++;
        STAT_ADD(c->st, msgs_out, 1);
        STAT_ADD(c->st, bytes_out, WIRE_FIXED_LEN + body_len);
    } else {
        STAT_ADD(c->st, drops, 1);
    }
}

static int cmp_group(const void *a, const void *b)
{
    const struct rsub *x = *(struct rsub *const *)a, *y = *(struct rsub *const *)b;

    if (x->group_hash != y->group_hash)
        return x->group_hash < y->group_hash ? -1 : 1;
    if (x->group_len != y->group_len)
        return x->group_len < y->group_len ? -1 : 1;
    return memcmp(x->group, y->group, x->group_len);
}

static bool same_group(const struct rsub *x, const struct rsub *y)
{
    return x->group_hash == y->group_hash && x->group_len == y->group_len && memcmp(x->group, y->group, x->group_len) == 0;
}

static int gm_push(struct core *c, struct rsub *r)
{
    if (c->route.ngm == c->route.gm_cap) {
        size_t cap = c->route.gm_cap ? c->route.gm_cap * 2 : 64;
        struct rsub **m = realloc(c->route.gm, cap * sizeof(*m));

        if (m == NULL)
            return -ENOMEM;
        c->route.gm = m;
        c->route.gm_cap = cap;
    }
    c->route.gm[c->route.ngm++] = r;
    return 0;
}

static int tv_push(struct tvec *t, const struct rsub *r)
{
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 16;
        struct xtarget *v = realloc(t->v, cap * sizeof(*v));

        if (v == NULL)
            return -ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = (struct xtarget){.slot = r->slot, .gen = r->gen, .sid = r->sid};
    return 0;
}

int route_scratch(struct core *c)
{
    if (c->route.rplain != NULL)
        return 0;
    c->route.rplain = calloc(c->b->ncores, sizeof(*c->route.rplain));
    c->route.tv = calloc(c->b->ncores, sizeof(*c->route.tv));
    c->route.xr = calloc(c->b->ncores, sizeof(*c->route.xr));
    c->route.xb = calloc(c->b->ncores, sizeof(*c->route.xb));
    c->route.xd = calloc(c->b->ncores, sizeof(*c->route.xd));
    if (c->route.rplain == NULL || c->route.tv == NULL || c->route.xr == NULL || c->route.xb == NULL || c->route.xd == NULL) {
        free(c->route.rplain);
        free(c->route.tv);
        free(c->route.xr);
        free(c->route.xb);
        free(c->route.xd);
        c->route.rplain = NULL;
        c->route.tv = NULL;
        c->route.xr = NULL;
        c->route.xb = NULL;
        c->route.xd = NULL;
        return -ENOMEM;
    }
    return 0;
}

_Static_assert(sizeof(struct xfree) <= ((size_t)1 << BROKER_RECYCLE_SHIFT), "a returned block holds its link");
_Static_assert(BROKER_RECYCLE_NCLS <= UINT8_MAX, "xpubs.cls holds a class");
_Static_assert(sizeof(struct xpub) % 8 == 0 && sizeof(struct xpubs) % 8 == 0, "copies stay 8-byte aligned in a batch");
_Static_assert(BROKER_RECYCLE_BYTES <= UINT32_MAX, "core.xr_cached holds the bound");
_Static_assert(BROKER_RECYCLE_LARGE_BYTES <= UINT32_MAX, "core.xr_cached_large holds the bound");

static bool class_large(unsigned cls)
{
    return cls >= BROKER_RECYCLE_NSMALL;
}

/* Powers of two up to 16 KiB; above, BROKER_RECYCLE_STEPS classes per doubling, so that a large
 * copy wastes at most a quarter of its block (64 KiB + header: 80 KiB, not 128 KiB). */
static size_t class_size(unsigned cls)
{
    size_t base;
    unsigned k;

    if (!class_large(cls))
        return (size_t)1 << (BROKER_RECYCLE_SHIFT + cls);
    k = cls - BROKER_RECYCLE_NSMALL;
    base = (size_t)1 << (BROKER_RECYCLE_SHIFT + BROKER_RECYCLE_NSMALL - 1 + k / BROKER_RECYCLE_STEPS);
    return base + (k % BROKER_RECYCLE_STEPS + 1) * (base / BROKER_RECYCLE_STEPS);
}

/* The smallest class that holds size, or BROKER_RECYCLE_NCLS when none does. */
static unsigned size_class(size_t size)
{
    unsigned cls = 0;

    while (cls < BROKER_RECYCLE_NCLS && class_size(cls) < size)
        cls++;
    return cls;
}

static void free_chain(struct xfree *b)
{
    while (b != NULL) {
        struct xfree *next = b->next;

        free(b);
        b = next;
    }
}

/* The cached bytes of cls's kind (small or large) and their bound. */
static uint32_t *cached_bytes(struct core *c, unsigned cls, uint32_t *bound)
{
    *bound = class_large(cls) ? BROKER_RECYCLE_LARGE_BYTES : BROKER_RECYCLE_BYTES;
    return class_large(cls) ? &c->route.xr_cached_large : &c->route.xr_cached;
}

/* A block for copies to core d: a recycled one of its class when we have one. */
static struct xpubs *xpubs_alloc(struct core *c, unsigned d, size_t size)
{
    unsigned cls = size_class(size);
    struct xrecycle *r = &c->route.xr[d];
    size_t cap = cls < BROKER_RECYCLE_NCLS ? class_size(cls) : size;
    struct xpubs *x;

    if (cls < BROKER_RECYCLE_NCLS && r->free[cls] != NULL) {
        struct xfree *b = r->free[cls];
        uint32_t bound;

        r->free[cls] = b->next;
        *cached_bytes(c, cls, &bound) -= (uint32_t)cap;
        c->route.xr_active = true;
        STAT_ADD(c->st, xblk_reused, 1);
        x = (struct xpubs *)(void *)b;
    } else {
        x = malloc(cap);
        if (cls < BROKER_RECYCLE_NCLS)
            STAT_ADD(c->st, xblk_alloc, 1);
        else
            STAT_ADD(c->st, xblk_oversize, 1);
    }
    if (x != NULL) {
        x->cls = (uint8_t)cls;
        x->n = 0;
        x->used = sizeof(*x);
        x->cap = (uint32_t)cap;
    }
    return x;
}

/* Core d handed back blocks we allocated for it: keep what the bounds allow. */
static void recycle_in(struct core *c, unsigned d, struct xfree *b)
{
    struct xrecycle *r;

    if (route_scratch(c) != 0) {
        free_chain(b);
        return;
    }
    r = &c->route.xr[d];
    c->route.xr_active = true;
    while (b != NULL) {
        struct xfree *next = b->next;
        uint32_t bound, *cached;

        assert(b->cls < BROKER_RECYCLE_NCLS);
        cached = cached_bytes(c, b->cls, &bound);
        if (*cached + class_size(b->cls) <= bound) {
            b->next = r->free[b->cls];
            r->free[b->cls] = b;
            *cached += (uint32_t)class_size(b->cls);
        } else {
            free(b);
        }
        b = next;
    }
    if (c->route.xr_cached_large > c->st->xblk_large_peak)
        STAT_ADD(c->st, xblk_large_peak, c->route.xr_cached_large - c->st->xblk_large_peak);
}

/* We are done with a copy from core src: hand its block back, a batch at a time (by count, or by
 * bytes so that a receiver of large copies holds at most about a MiB per source). */
static void recycle_out(struct core *c, unsigned src, struct xpubs *x)
{
    uint8_t cls = x->cls;
    struct xrecycle *r;
    struct xfree *b;
    struct uring_xmsg m = {.type = X_RECYCLE};

    if (cls >= BROKER_RECYCLE_NCLS || route_scratch(c) != 0) {
        free(x);
        return;
    }
    c->route.xr_active = true;
    r = &c->route.xr[src];
    b = (struct xfree *)(void *)x;
    b->cls = cls;
    b->next = r->ret;
    r->ret = b;
    r->ret_bytes += (uint32_t)class_size(cls);
    if (++r->nret < BROKER_RECYCLE_BATCH && r->ret_bytes < BROKER_RECYCLE_BATCH_BYTES)
        return;
    m.ptr = r->ret;
    r->ret = NULL;
    r->nret = 0;
    r->ret_bytes = 0;
    if (core_try_push(c, src, &m) != 0)
        free_chain(m.ptr); /* a busy channel carries messages, not returns; src mallocs anew */
}

/* Frees every cached block and every unreturned batch (whose senders malloc anew if traffic
 * resumes). Only after a whole sweep period without a copy: up to 20 MiB per core would otherwise
 * stay with a broker that has gone idle. */
static void route_recycle_trim(struct core *c)
{
    if (c->route.xr_active || c->route.xr == NULL) {
        c->route.xr_active = false;
        return;
    }
    if (c->route.xr_cached == 0 && c->route.xr_cached_large == 0) {
        bool held = false;

        for (unsigned d = 0; d < c->b->ncores && !held; d++)
            held = c->route.xr[d].ret != NULL;
        if (!held)
            return;
    }
    for (unsigned d = 0; d < c->b->ncores; d++) {
        struct xrecycle *r = &c->route.xr[d];

        for (unsigned cls = 0; cls < BROKER_RECYCLE_NCLS; cls++) {
            for (struct xfree *b = r->free[cls]; b != NULL; b = b->next)
                STAT_ADD(c->st, xblk_trimmed, 1);
            free_chain(r->free[cls]);
            r->free[cls] = NULL;
        }
        free_chain(r->ret);
        r->ret = NULL;
        r->nret = 0;
        r->ret_bytes = 0;
    }
    c->freed_bytes += c->route.xr_cached + c->route.xr_cached_large;
    c->route.xr_cached = 0;
    c->route.xr_cached_large = 0;
}

/* The match scratch arrays keep the size of the largest fan-out seen, and the PONG ring that of
 * the longest wait: given back when the core goes quiet (core.c, give_back), regrown by the next
 * burst. */
static void route_trim(struct core *c)
{
    route_direct_trim(c);
    if (c->route.pong_count == 0 && c->route.pong_cap > 0) {
        free(c->route.pongs);
        c->route.pongs = NULL;
        c->route.pong_cap = 0;
        c->route.pong_head = 0;
    }
    if (c->route.match_cap > 256) {
        free(c->route.match);
        c->route.match = NULL;
        c->route.match_cap = 0;
        route_match_forget(c);
    }
    if (c->route.gm_cap > 256) {
        free(c->route.gm);
        c->route.gm = NULL;
        c->route.gm_cap = 0;
    }
    for (unsigned d = 0; c->route.tv != NULL && d < c->b->ncores; d++) {
        if (c->route.tv[d].cap > 256) {
            free(c->route.tv[d].v);
            c->route.tv[d].v = NULL;
            c->route.tv[d].cap = 0;
        }
    }
}

/* Bytes of a copy in a batch, padded so that the next one is aligned. */
static size_t xpub_size(uint32_t ntargets, uint32_t body_len)
{
    return (sizeof(struct xpub) + ntargets * sizeof(struct xtarget) + body_len + 7) & ~(size_t)7;
}

void route_batch_push(struct core *c, unsigned dst)
{
    struct xpubs *b;
    struct uring_xmsg m = {.type = X_PUB};

    if (route_direct_pending(c, dst))
        route_direct_push(c, dst); /* an iteration has frames or a batch for dst, never both */
    b = c->route.xb != NULL ? c->route.xb[dst].b : NULL;
    if (b == NULL)
        return;
    c->route.xb[dst].b = NULL;
    m.ptr = b;
    if (core_push(c, dst, &m, b->cap) != 0) {
        STAT_ADD(c->st, drops, b->n);
        free(b);
    }
}

bool route_batch_pending(const struct core *c, unsigned dst)
{
    return c->route.xb != NULL && (c->route.xb[dst].b != NULL || route_direct_pending(c, dst));
}

/*
 * The copies for core d of one loop iteration share a block: one channel message, one wake-up and
 * one block to recycle for many small PUBs, where a message each made the cross-core path cost
 * several times the delivery (docs/performance.md). The batch goes at the iteration's end
 * (route_flush), when it is full, or before any other message for d (core_push), so the channel
 * still carries everything in the order it was made. A batch starts in the smallest block its
 * first copy fits, and each one that fills within the iteration doubles the next, up to
 * BROKER_XBATCH_BYTES: a lone copy costs no more memory, nor more of the bytes bound between two
 * cores, than it did on its own.
 */
static void send_copy(struct core *c, unsigned d, const struct wire_frame *f, const uint8_t *body, uint32_t body_len)
{
    struct tvec *t = &c->route.tv[d];
    size_t need = xpub_size(t->n, body_len);
    struct xpubs *b = c->route.xb[d].b;
    struct xpub *x;

    if (b != NULL && b->used + need > b->cap) {
        uint32_t grow = b->cap < BROKER_XBATCH_BYTES / 2 ? 2 * b->cap : BROKER_XBATCH_BYTES;

        route_batch_push(c, d);
        c->route.xb[d].grow = grow;
        b = NULL;
    }
    if (b == NULL) {
        size_t size = sizeof(*b) + need;

        /* A message staged for d before this copy was made goes first. */
        if (c->direct.stage[d].staged)
            direct_unstage(c, d);
        b = xpubs_alloc(c, d, size > c->route.xb[d].grow ? size : c->route.xb[d].grow);
        if (b == NULL) {
            STAT_ADD(c->st, drops, 1);
            return;
        }
        c->route.xb[d].b = b;
    }
    x = (struct xpub *)(void *)((uint8_t *)b + b->used);
    x->rematch = c->route.rplain[d] > 0;
    x->ntargets = t->n;
    x->topic_len = f->topic_len;
    x->hdr_len = f->hdr_len;
    x->body_len = body_len;
    if (t->n > 0)
        memcpy(x->targets, t->v, t->n * sizeof(struct xtarget));
    memcpy(x->targets + t->n, body, body_len);
    b->used += (uint32_t)need;
    b->n++;
}

/* End of an iteration: every batch goes (or its frames), and the next one starts small again. */
static void route_flush(struct core *c)
{
    if (c->route.owed_unarmed)
        route_direct_rearm(c);
    for (unsigned d = 0; c->route.xb != NULL && d < c->b->ncores; d++) {
        if (route_direct_pending(c, d))
            route_direct_flush(c, d);
        route_batch_push(c, d);
        c->route.xb[d].grow = 0;
    }
}

void route_pub(struct session *s, const struct wire_frame *f)
{
    struct core *c = s->core;
    const uint8_t *body = frame_body(f);
    uint32_t body_len = f->length - WIRE_FIXED_LEN;
    size_t n = route_match(c, f->topic, f->topic_len);
    bool remote = false;

    if (n == 0)
        return;
    if (c->b->ncores > 1 && route_scratch(c) != 0) {
        STAT_ADD(c->st, drops, n);
        return;
    }
    c->route.ngm = 0;
    for (size_t i = 0; i < n; i++) {
        struct rsub *r = c->route.match[i];

        if (r->sess == s && s->no_echo)
            continue;
        if (r->group_len > 0) {
            if (gm_push(c, r) != 0)
                STAT_ADD(c->st, drops, 1);
        } else if (r->owner == c->id) {
            deliver(r, f->topic_len, f->hdr_len, body, body_len);
        } else {
            c->route.rplain[r->owner]++;
            remote = true;
        }
    }
    if (c->route.ngm > 1)
        qsort(c->route.gm, c->route.ngm, sizeof(*c->route.gm), cmp_group);
    for (size_t i = 0; i < c->route.ngm;) {
        size_t j = i + 1;
        struct rsub *r;

        while (j < c->route.ngm && same_group(c->route.gm[i], c->route.gm[j]))
            j++;
        r = c->route.gm[i + core_random(c) % (j - i)];
        if (r->owner == c->id) {
            deliver(r, f->topic_len, f->hdr_len, body, body_len);
        } else if (tv_push(&c->route.tv[r->owner], r) == 0) {
            remote = true;
        } else {
            STAT_ADD(c->st, drops, 1);
        }
        i = j;
    }
    if (!remote)
        return;
    for (unsigned d = 0; d < c->b->ncores; d++) {
        if ((c->route.rplain[d] > 0 || c->route.tv[d].n > 0) && !route_direct_copy(c, d, f, body, body_len, n))
            send_copy(c, d, f, body, body_len);
        c->route.rplain[d] = 0;
        c->route.tv[d].n = 0;
    }
}

/* A copy from another core: its chosen group members here, and our own plain subscriptions. */
static void recv_pub(struct core *c, const struct xpub *x)
{
    const uint8_t *body = (const uint8_t *)(x->targets + x->ntargets);
    const char *topic = (const char *)body;

    if (x->rematch) {
        size_t n = route_match(c, topic, x->topic_len);

        for (size_t i = 0; i < n; i++) {
            struct rsub *r = c->route.match[i];

            if (r->owner == c->id && r->group_len == 0)
                deliver(r, x->topic_len, x->hdr_len, body, x->body_len);
        }
    }
    for (uint32_t i = 0; i < x->ntargets; i++) {
        struct session *s = core_session(c, x->targets[i].slot, x->targets[i].gen);
        struct rsub *r = s != NULL ? idmap_get(&s->subs, x->targets[i].sid) : NULL;

        if (r != NULL)
            deliver(r, x->topic_len, x->hdr_len, body, x->body_len);
        else
            STAT_ADD(c->st, drops, 1); /* the member left while the copy travelled */
    }
}

/* ---- replicas of the other cores' subscriptions ------------------------------------------------ */

static void rconn_drop(struct core *c, struct rconn *rc, bool conn_gone)
{
    uint32_t pos = 0;
    struct rsub *r;

    while ((r = idmap_next(&rc->subs, &pos, NULL)) != NULL)
        delete_rsub(c, r, conn_gone);
    idmap_free(&rc->subs);
    free(rc);
}

static void recv_sub(struct core *c, unsigned src, const struct xsub *x)
{
    uint64_t key = rconn_key(src, x->slot);
    struct rconn *rc = idmap_get(&c->route.rconns, key);
    struct rsub *r;

    if (rc != NULL && rc->gen != x->gen) {
        /* Cannot happen in channel order (GONE precedes a reuse of the slot); be safe anyway. */
        idmap_del(&c->route.rconns, key);
        rconn_drop(c, rc, true);
        rc = NULL;
    }
    if (rc == NULL) {
        rc = calloc(1, sizeof(*rc));
        if (rc == NULL || idmap_put(&c->route.rconns, key, rc) != 0)
            goto out_nomem;
        rc->owner = src;
        rc->slot = x->slot;
        rc->gen = x->gen;
    }
    r = rsub_new(src, x->slot, x->gen, x->sid, x->text, x->pattern_len, x->text + x->pattern_len, x->group_len);
    if (r == NULL || idmap_put(&rc->subs, x->sid, r) != 0 || trie_insert(c->route.trie, r->text, r->pattern_len, r) != 0)
        goto out_nomem;
    return;

out_nomem:
    log_error(c->id, "out of memory applying a subscription from core %u", src);
    abort();
}

static void recv_unsub(struct core *c, unsigned src, const struct xunsub *x, bool gone)
{
    uint64_t key = rconn_key(src, x->slot);
    struct rconn *rc = idmap_get(&c->route.rconns, key);
    struct rsub *r;

    if (gone)
        core_conn_gone(c, src, x->slot, x->gen); /* also when its last subscription went before */
    if (rc == NULL || rc->gen != x->gen)
        return;
    if (gone) {
        idmap_del(&c->route.rconns, key);
        rconn_drop(c, rc, true);
        return;
    }
    r = idmap_del(&rc->subs, x->sid);
    if (r != NULL)
        delete_rsub(c, r, false);
    if (rc->subs.count == 0) {
        idmap_del(&c->route.rconns, key);
        rconn_drop(c, rc, false);
    }
}

/* ---- messages from the other cores ------------------------------------------------------------- */

static void sub_in(struct core *c, unsigned src, const struct uring_xmsg *m)
{
    const struct xsub *x = m->ptr;

    recv_sub(c, src, x);
    send_ack(c, src, x->seq);
    free(m->ptr);
}

static void unsub_in(struct core *c, unsigned src, const struct uring_xmsg *m)
{
    const struct xunsub *x = m->ptr;

    recv_unsub(c, src, x, m->type == X_GONE);
    send_ack(c, src, x->seq);
    free(m->ptr);
}

static void ack_in(struct core *c, unsigned src, const struct uring_xmsg *m)
{
    if (m->u64 > c->route.acked[src])
        c->route.acked[src] = m->u64;
    release_pongs(c);
}

static void pub_in(struct core *c, unsigned src, const struct uring_xmsg *m)
{
    struct xpubs *b = m->ptr;
    size_t off = sizeof(*b);

    for (uint32_t i = 0; i < b->n; i++) {
        const struct xpub *x = (const struct xpub *)(const void *)((const uint8_t *)b + off);

        assert(off + xpub_size(x->ntargets, x->body_len) <= b->used);
        recv_pub(c, x);
        off += xpub_size(x->ntargets, x->body_len);
    }
    recycle_out(c, src, b);
}

static void recycle_msg_in(struct core *c, unsigned src, const struct uring_xmsg *m)
{
    recycle_in(c, src, m->ptr);
}

static void recycle_discard(const struct uring_xmsg *m)
{
    free_chain(m->ptr);
}

/* ---- the module -------------------------------------------------------------------------------- */

static void route_sweep(struct core *c)
{
    route_direct_sweep(c);
    route_recycle_trim(c);
}

static int route_init(struct core *c)
{
    c->route.trie = trie_new(c->cfg.limits.max_topic);
    c->route.acked = calloc(c->b->ncores, sizeof(*c->route.acked));
    blist_init(&c->route.rx_resume);
    return c->route.trie == NULL || c->route.acked == NULL ? -ENOMEM : 0;
}

static void route_fini(struct core *c)
{
    uint32_t pos = 0;
    struct rconn *rc;

    while ((rc = idmap_next(&c->route.rconns, &pos, NULL)) != NULL) {
        uint32_t p2 = 0;
        struct rsub *r;

        while ((r = idmap_next(&rc->subs, &p2, NULL)) != NULL)
            free(r); /* the trie goes whole; pending requests were released with their sessions */
        idmap_free(&rc->subs);
        free(rc);
    }
    idmap_free(&c->route.rconns);
    for (unsigned d = 0; c->route.tv != NULL && d < c->b->ncores; d++)
        free(c->route.tv[d].v);
    log_info(c->id, "recycled copies: reused=%llu allocated=%llu oversize=%llu trimmed=%llu large_peak=%llu",
             (unsigned long long)c->st->xblk_reused, (unsigned long long)c->st->xblk_alloc,
             (unsigned long long)c->st->xblk_oversize, (unsigned long long)c->st->xblk_trimmed,
             (unsigned long long)c->st->xblk_large_peak);
    for (unsigned d = 0; c->route.xr != NULL && d < c->b->ncores; d++) {
        for (unsigned cls = 0; cls < BROKER_RECYCLE_NCLS; cls++)
            free_chain(c->route.xr[d].free[cls]);
        free_chain(c->route.xr[d].ret);
        free(c->route.xb[d].b);
    }
    route_direct_fini(c);
    free(c->route.tv);
    free(c->route.xr);
    free(c->route.xb);
    free(c->route.rplain);
    free(c->route.gm);
    free(c->route.match);
    free(c->route.pongs);
    free(c->route.acked);
    trie_free(c->route.trie);
    c->route = (struct route_core){0};
}

static const struct core_xtype route_xtypes[] = {
    {.type = X_SUB, .on_msg = sub_in},
    {.type = X_UNSUB, .on_msg = unsub_in},
    {.type = X_GONE, .on_msg = unsub_in},
    {.type = X_ACK, .on_msg = ack_in},
    {.type = X_PUB, .on_msg = pub_in},
    {.type = X_RECYCLE, .on_msg = recycle_msg_in, .discard = recycle_discard},
    {.type = X_FRAMES, .on_msg = route_direct_frames_in},
    {.type = X_DCOUNT, .on_msg = route_direct_counts_in},
};

const struct core_module route_module = {
    .name = "route",
    .xtypes = route_xtypes,
    .nxtypes = sizeof(route_xtypes) / sizeof(route_xtypes[0]),
    .init = route_init,
    .session_gone = route_session_gone,
    .sweep = route_sweep,
    .trim = route_trim,
    .flush = route_flush,
    .stop = route_direct_stop,
    .fini = route_fini,
};
