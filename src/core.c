/*
 * Core threads: each runs one uring_loop with its own listener, sessions, trie replica and
 * pending requests (broker.h). This file holds the thread's life (start, run, shutdown), the
 * session table, the per-core sweep timer (idle connections, closes that take too long) and the
 * cross-core channels with their bounded backlog.
 *
 * Start: the main thread makes every listening socket (so port 0 is resolved once and shared),
 * then each core thread creates its ring; the main thread wires the channels while the cores
 * wait at a barrier, because a channel needs both loops.
 *
 * Shutdown: the main thread sets b->stopping and writes each core's eventfd (read by an op on
 * the core's ring). The core stops accepting and answers every request its sessions are waiting
 * for with REP ERROR SHUTTING_DOWN (docs/protocol.md section 7: one REP per accepted REQ), but
 * for those a responder's core claimed, whose reply is the one REP (request.c); then it sends
 * every session ERR SHUTTING_DOWN and closes it with a flush (forced after
 * BROKER_CLOSE_GRACE_NS). A session with claimed entries gets its ERR once they are released
 * (stop_wait; at the latest after the grace). The core stops its loop once its last session and
 * its listener are released. Cores meet at stop_barrier before destroying their rings, so no core pushes to a
 * ring that is gone; messages still in channels are freed by core_join_all.
 *
 * Mailboxes: each core has one uring_mbox (created with the core, attached to its loop once the
 * loop runs, freed by core_join_all) through which threads that are not cores reach it
 * (core_post). Modules register a handler per message type before the cores start
 * (core_mbox_register); a core that has stopped discards through the handler's discard.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/broker.h"
#include "src/log.h"

#define LISTEN_BACKLOG 4096
#define XRETRY_NS      1000000 /* a full channel is tried again after 1 ms */

static void session_closed(struct uring_conn *conn, int err);
static void core_maybe_stop(struct core *c);

static const struct uring_conn_cbs session_cbs = {
    .on_recv = session_on_recv,
    .on_close = session_closed,
};

/* ---- random numbers ---------------------------------------------------------------------------- */

uint32_t core_secure_random(struct core *c)
{
    if (c->nrnd == 0) {
        ssize_t n = getrandom(c->rnd, sizeof(c->rnd), 0);

        /* getrandom on a buffer this small only fails before the pool is seeded, or with
         * ENOSYS; fall back on the fast generator rather than fail the request. */
        if (n != (ssize_t)sizeof(c->rnd))
            for (unsigned i = 0; i < 64; i++)
                c->rnd[i] = (uint32_t)core_random(c);
        c->nrnd = 64;
    }
    return c->rnd[--c->nrnd];
}

uint64_t core_random(struct core *c)
{
    uint64_t x = c->xs;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->xs = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* ---- the session table ------------------------------------------------------------------------- */

struct session *core_session(struct core *c, uint32_t slot, uint32_t gen)
{
    if (slot == 0 || slot >= c->nslots)
        return NULL;
    if (c->gens[slot] != gen || c->slots[slot] == NULL)
        return NULL;
    return c->slots[slot];
}

static int slot_alloc(struct core *c, uint32_t *out)
{
    if (c->nfree > 0) {
        *out = c->free_slots[--c->nfree];
        return 0;
    }
    if (c->nslots == c->slot_cap) {
        uint32_t cap = c->slot_cap ? c->slot_cap * 2 : 64;
        struct session **slots = realloc(c->slots, cap * sizeof(*slots));
        uint32_t *gens, *fr;

        if (slots == NULL)
            return -ENOMEM;
        c->slots = slots;
        gens = realloc(c->gens, cap * sizeof(*gens));
        if (gens == NULL)
            return -ENOMEM;
        c->gens = gens;
        fr = realloc(c->free_slots, cap * sizeof(*fr));
        if (fr == NULL)
            return -ENOMEM;
        c->free_slots = fr;
        for (uint32_t i = c->slot_cap; i < cap; i++) {
            c->slots[i] = NULL;
            c->gens[i] = 0;
        }
        c->slot_cap = cap;
        if (c->nslots == 0)
            c->nslots = 1; /* slot 0 stays unused: (core, 0) names no connection */
    }
    *out = c->nslots++;
    return 0;
}

static void format_peer(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
            port = ntohs(in6->sin6_port);
        }
    }
    snprintf(buf, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}

static void on_accept(struct uring_listener *l, int fd)
{
    struct core *c = l->data;
    struct broker *b = c->b;
    struct session *s;
    uint32_t slot;
    bool over;

    if (c->stopping) {
        close(fd);
        return;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || slot_alloc(c, &slot) != 0) {
        log_error(c->id, "out of memory accepting fd=%d", fd);
        free(s);
        close(fd);
        return;
    }
    s->core = c;
    s->slot = slot;
    s->gen = ++c->gens[slot];
    s->client_id = ((uint64_t)(c->id + 1) << 48) | ++c->next_client;
    s->state = SESS_NEW;
    s->last_rx_ns = uring_now_ns();
    s->conn.data = s;
    blist_init(&s->requests);
    blist_init(&s->rx_node);
    wire_reader_init(&s->rd, &b->cfg.limits);
    format_peer(fd, s->peer, sizeof(s->peer));
    over = atomic_fetch_add_explicit(&b->conns, 1, memory_order_relaxed) >= b->cfg.max_connections;
    s->counted = true;
    if (uring_conn_start(&s->conn, &c->loop, fd, &session_cbs, b->cfg.max_output_bytes + BROKER_OUT_RESERVE) != 0) {
        atomic_fetch_sub_explicit(&b->conns, 1, memory_order_relaxed);
        c->free_slots[c->nfree++] = slot;
        wire_reader_free(&s->rd);
        free(s);
        close(fd);
        return;
    }
    c->slots[slot] = s;
    c->nsessions++;
    blist_add_tail(&c->lru, &s->node);
    STAT_ADD(c->st, accepted, 1);
    STAT_ADD(c->st, connections, 1);
    log_info(c->id, "accepted fd=%d peer=%s client_id=%llu", fd, s->peer, (unsigned long long)s->client_id);
    if (over) {
        STAT_ADD(c->st, refused, 1);
        session_fail(s, 0, TRPC_E_TOO_MANY_CONNECTIONS, "connection limit reached");
    }
}

static void session_closed(struct uring_conn *conn, int err)
{
    struct session *s = conn->data;
    struct core *c = s->core;

    /* What runs from here on (a broadcast may push a staged message whose failure answers a
     * session) must not write to this one: its connection is closed and it is about to go. */
    s->state = SESS_CLOSING;
    blist_del(&s->node);
    /* What a session held, roughly (its output chunks went back to the loop's cache as sends
     * completed): counted for the sweep's malloc_trim. */
    c->freed_bytes += sizeof(*s) + wire_reader_held(&s->rd) + (uint64_t)s->subs.cap * 16 + 1024;
    route_session_gone(s);
    request_requester_gone(s);
    if (s->stop_wait) {
        /* Gone before its claimed replies were settled (the peer closed, or the grace ran out). */
        s->stop_wait = false;
        c->stop_waits--;
    }
    session_rx_release(s);
    wire_reader_free(&s->rd);
    idmap_free(&s->subs);
    assert(c->slots[s->slot] == s);
    c->slots[s->slot] = NULL;
    c->free_slots[c->nfree++] = s->slot;
    c->nsessions--;
    if (s->counted)
        atomic_fetch_sub_explicit(&c->b->conns, 1, memory_order_relaxed);
    STAT_ADD(c->st, closed, 1);
    STAT_SUB(c->st, connections, 1);
    if (err != 0)
        log_info(c->id, "closed client_id=%llu peer=%s: %s", (unsigned long long)s->client_id, s->peer, strerror(-err));
    else
        log_info(c->id, "closed client_id=%llu peer=%s", (unsigned long long)s->client_id, s->peer);
    free(s);
    if (c->stopping)
        core_maybe_stop(c);
}

/* ---- direct sends (broker.h) ------------------------------------------------------------------- */

bool core_direct_ok(struct core *c, unsigned dst, size_t len)
{
    struct core *d = c->b->cores[dst];
    struct xout *o = &c->out[dst];

    assert(dst != c->id && dst < c->b->ncores);
    if (!c->b->cfg.direct_sends || c->stopping || len > BROKER_DIRECT_MAX)
        return false;
    /* Only a core that sleeps costs a wake-up to hand the frame to; a busy one batches it with
     * the rest of its output, which one syscall per frame from here would not. */
    if (!uring_loop_asleep(&d->loop))
        return false;
    /* A message of ours still on its way to dst may be for this connection: it goes first. */
    return o->head == NULL && uring_xchan_quiet(o->ch);
}

int core_direct_send(struct core *c, unsigned dst, uint32_t slot, uint32_t gen, const struct iovec *iov, unsigned n)
{
    struct core *d = c->b->cores[dst];
    int ret;

    if (slot >= d->ngates)
        return -EAGAIN;
    /* A short send must be able to tell the owner (X_GATE), or the peer waits mid-frame. */
    if (core_reserve(c, 1) != 0)
        return -ENOMEM;
    ret = uring_gate_send(&d->gates[slot], gen, iov, n);
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

void core_gate_poll(struct core *c, uint32_t slot, uint32_t gen)
{
    struct session *s = core_session(c, slot, gen);

    if (s != NULL)
        uring_conn_gate_poll(&s->conn);
}

void core_gate_open(struct session *s)
{
    struct core *c = s->core;

    if (c->b->cfg.direct_sends && s->slot < c->ngates && s->gen != 0)
        uring_conn_gate_open(&s->conn, &c->gates[s->slot], s->gen);
}

/* The gate table: one gate per possible slot, in pages the kernel fills on first touch, so an
 * idle broker pays for the connections it has had, not for max_connections. */
static int gates_alloc(struct core *c)
{
    size_t n = (size_t)c->b->cfg.max_connections + 1;
    void *p = mmap(NULL, n * sizeof(struct uring_gate), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (p == MAP_FAILED)
        return -errno;
    c->gates = p;
    c->ngates = (uint32_t)n;
    return 0;
}

void core_free_gates(struct core *c)
{
    if (c->gates != NULL)
        munmap(c->gates, (size_t)c->ngates * sizeof(struct uring_gate));
    c->gates = NULL;
    c->ngates = 0;
}

/* ---- the sweep: idle sessions and closes that take too long ------------------------------------ */

static uint64_t sweep_period_ns(const struct core *c)
{
    uint64_t ms = c->b->cfg.keepalive_ms / 4;

    if (c->b->cfg.keepalive_ms == 0 || ms > 1000)
        ms = 1000;
    if (ms < 10)
        ms = 10;
    return ms * 1000000;
}

/*
 * The receive buffers: the kernel fills the ring's buffers in ring order, so a load touches up to
 * recv-buffers x recv-buffer-size per core (16 MiB by default), which stays resident. Once a core
 * is quiet and filled at least BROKER_BUF_RELEASE_RECVS buffers since the last time, the loop
 * swaps its ring for a fresh one over madvise()d buffers (uring_loop_bufs_release: safe with recvs
 * armed; -EBUSY while a session holds a buffer, then the next quiet sweep tries again). If the new
 * ring could not be registered, the core receives nothing: that is an error, retried every sweep.
 */
static void release_bufs(struct core *c, bool quiet)
{
    uint64_t recvs = c->loop.stats.recv_bufs - c->recv_bufs_at_release;
    uint64_t t0;
    int ret;

    if (!c->bufs_lost && (!quiet || recvs < BROKER_BUF_RELEASE_RECVS))
        return;
    t0 = uring_now_ns();
    ret = uring_loop_bufs_release(&c->loop);
    if (ret == -EBUSY)
        return;
    if (ret != 0) {
        STAT_ADD(c->st, buf_release_errors, 1);
        log_error(c->id, "receive buffer ring lost, receiving stalls until it is registered again: %s", strerror(-ret));
        c->bufs_lost = true;
        return;
    }
    if (c->bufs_lost)
        log_info(c->id, "receive buffer ring registered again");
    c->bufs_lost = false;
    c->recv_bufs_at_release = c->loop.stats.recv_bufs;
    STAT_ADD(c->st, buf_releases, 1);
    log_debug(c->id, "gave receive buffers back: %llu filled since the last time, took %llu us", (unsigned long long)recvs,
              (unsigned long long)((uring_now_ns() - t0) / 1000));
}

/*
 * Memory given back. The heap keeps what the program frees, and after a load (200,000
 * subscriptions, 10,000 connections, thousands of partial frames) the broker held 90 to 120 MiB
 * for good once idle. glibc gives back the free pages in the middle of a heap only on
 * malloc_trim(), which walks every arena's free lists under its lock (all cores' arenas, not only
 * ours) and costs a system call per free run: too dear for every sweep or every free. So each
 * core counts what it frees (an estimate: sessions, subscriptions, reassembly buffers, recycled
 * copy blocks, output chunks), and the sweep trims once that passes BROKER_TRIM_FREED_BYTES and
 * the core is quiet: nothing freed since the previous sweep (the burst is over) and fewer than
 * BROKER_TRIM_QUIET_CQES per second. The scratch arrays that keep their peak size (the PONG
 * queue, the match arrays) go then too. Tables that can shrink on removal do so themselves
 * (idmap.c, trie.c); the heap top is bounded by the thresholds set in main.c.
 */
static void give_back(struct core *c, bool freeing)
{
    uint64_t period_ns = sweep_period_ns(c);
    uint64_t cqes = c->loop.stats.cqes - c->cqes_at_sweep;
    size_t cached = uring_loop_out_cached(&c->loop);
    bool quiet = !freeing && cqes * 1000000000 / period_ns < BROKER_TRIM_QUIET_CQES;
    uint64_t t0, freed;

    if (cached < c->out_cached_at_sweep)
        c->freed_bytes += c->out_cached_at_sweep - cached;
    c->out_cached_at_sweep = cached;
    c->cqes_at_sweep = c->loop.stats.cqes;
    c->freed_at_sweep = c->freed_bytes;
    release_bufs(c, quiet);
    if (!quiet || c->freed_bytes < BROKER_TRIM_FREED_BYTES)
        return;
    if (c->pong_count == 0 && c->pong_cap > 0) {
        free(c->pongs);
        c->pongs = NULL;
        c->pong_cap = 0;
        c->pong_head = 0;
    }
    /* Backlog entries of a burst were allocated among everything else the burst made: a few
     * thousand of 40 bytes, kept, pinned as many pages of an otherwise free heap. Reservations
     * (core_reserve) are made and used within one callback, never across a sweep. */
    while (c->xw_free != NULL) {
        struct xwait *w = c->xw_free;

        c->xw_free = w->next;
        free(w);
    }
    c->xw_cached = 0;
    route_shrink(c);
    freed = c->freed_bytes;
    c->freed_bytes = 0;
    c->freed_at_sweep = 0;
    t0 = uring_now_ns();
    malloc_trim(0);
    STAT_ADD(c->st, heap_trims, 1);
    log_info(c->id, "gave memory back: about %llu KiB freed since the last time, malloc_trim took %llu us",
             (unsigned long long)(freed >> 10), (unsigned long long)((uring_now_ns() - t0) / 1000));
}

static void sweep_done(struct uring_timer *t, int res)
{
    struct core *c = t->data;
    uint64_t now = uring_now_ns();
    uint64_t idle_ns = (uint64_t)c->b->cfg.keepalive_ms * 2 * 1000000;

    size_t held;
    /* Whether anything was freed since the last sweep, before this one frees its own: the
     * sweep's trims say that a core is idle, not that it is busy. */
    bool freeing = c->freed_bytes != c->freed_at_sweep;

    c->sweep_armed = false;
    if (res == -ECANCELED || c->timers_idle)
        return;
    while (idle_ns > 0 && !blist_empty(&c->lru)) {
        struct session *s = blist_entry(c->lru.next, struct session, node);

        if (s->last_rx_ns + idle_ns > now)
            break;
        STAT_ADD(c->st, idle_timeouts, 1);
        session_fail(s, 0, TRPC_E_IDLE_TIMEOUT, "nothing received for twice the keepalive interval");
    }
    while (!blist_empty(&c->closing)) {
        struct session *s = blist_entry(c->closing.next, struct session, node);

        if (s->closing_ns + BROKER_CLOSE_GRACE_NS > now) /* closing_ns may be later than now */
            break;
        /* The peer does not read what is queued: give up on it. on_close follows. */
        blist_del(&s->node);
        uring_conn_close(&s->conn, URING_CLOSE_NOW);
    }
    /* A frame reader keeps its reassembly buffer between frames (up to max_frame): sessions that
     * received nothing for a while give it back, so idle connections stay small. The LRU is in
     * order of last receive, so the walk stops at the first recent one. */
    for (struct blist *n = c->lru.next; n != &c->lru; n = n->next) {
        struct session *s = blist_entry(n, struct session, node);

        if (s->last_rx_ns + BROKER_READER_TRIM_NS > now)
            break;
        held = wire_reader_held(&s->rd);
        if (wire_reader_trim(&s->rd))
            c->freed_bytes += held;
    }
    route_recycle_trim(c);
    request_reap(c);
    give_back(c, freeing);
    if (uring_timer_start(&c->loop, &c->sweep, sweep_period_ns(c), sweep_done) == 0)
        c->sweep_armed = true;
}

/* ---- cross-core channels ----------------------------------------------------------------------- */

static void xretry_done(struct uring_timer *t, int res);

static void xtimer_arm(struct core *c)
{
    if (c->xtimer_armed || c->timers_idle)
        return;
    if (uring_timer_start(&c->loop, &c->xtimer, XRETRY_NS, xretry_done) == 0)
        c->xtimer_armed = true;
}

/* Backlog entries come from a per-core free list: a burst that fills a channel waits in
 * thousands of them, and the next burst reuses the same memory. */
static struct xwait *xwait_get(struct core *c)
{
    struct xwait *w = c->xw_free;

    if (w == NULL)
        return malloc(sizeof(*w));
    c->xw_free = w->next;
    c->xw_cached--;
    return w;
}

static void xwait_put(struct core *c, struct xwait *w)
{
    if (c->xw_cached >= BROKER_XWAIT_CACHE) {
        free(w);
        return;
    }
    w->next = c->xw_free;
    c->xw_free = w;
    c->xw_cached++;
}

int core_reserve(struct core *c, unsigned n)
{
    assert(n <= BROKER_XWAIT_CACHE);
    while (c->xw_cached < n) {
        struct xwait *w = malloc(sizeof(*w));

        if (w == NULL)
            return -ENOMEM;
        xwait_put(c, w);
    }
    return 0;
}

static void xout_drain(struct core *c, struct xout *o)
{
    while (o->head != NULL && uring_xchan_push(o->ch, &o->head->msg) == 0) {
        struct xwait *w = o->head;

        o->head = w->next;
        if (o->head == NULL)
            o->tail = NULL;
        o->count--;
        xwait_put(c, w);
        STAT_ADD(c->st, xmsgs, 1);
    }
}

static void xretry_done(struct uring_timer *t, int res)
{
    struct core *c = t->data;
    bool left = false;

    c->xtimer_armed = false;
    if (res == -ECANCELED || c->timers_idle)
        return; /* past the stop barrier nothing may ring another core's ring */
    for (unsigned i = 0; i < c->b->ncores; i++) {
        if (i == c->id)
            continue;
        xout_drain(c, &c->out[i]);
        left = left || c->out[i].head != NULL;
    }
    if (left)
        xtimer_arm(c);
}

/* The staged message for dst leaves (pushed, or written directly when `direct`). */
static void unstage(struct core *c, unsigned dst, bool direct)
{
    struct xout *o = &c->out[dst];
    struct uring_xmsg m = o->staged_msg;

    o->staged = false;
    request_flush_staged(c, dst, &m, o->staged_cost, direct);
}

int core_stage(struct core *c, unsigned dst, struct uring_xmsg *msg, uint32_t cost)
{
    struct xout *o = &c->out[dst];

    if (!c->b->cfg.direct_sends || c->stopping || o->staged || o->pushed_at == c->loop.stats.iterations)
        return core_push(c, dst, msg, cost);
    o->staged = true;
    o->staged_cost = cost;
    o->staged_msg = *msg;
    c->staged[c->nstaged++] = dst;
    return 0;
}

/* End of an iteration, before the doorbells: what was staged and stayed alone goes. */
static void core_flush(struct uring_loop *loop)
{
    struct core *c = (struct core *)(void *)((char *)loop - offsetof(struct core, loop));

    for (unsigned i = 0; i < c->nstaged; i++)
        if (c->out[c->staged[i]].staged)
            unstage(c, c->staged[i], true);
    c->nstaged = 0;
}

int core_push(struct core *c, unsigned dst, struct uring_xmsg *msg, uint32_t cost)
{
    struct xout *o = &c->out[dst];
    _Atomic uint64_t *bytes = &c->b->xbytes[c->id * c->b->ncores + dst].v;
    struct xwait *w;

    assert(dst != c->id);
    assert(dst < c->b->ncores);
    if (o->staged)
        unstage(c, dst, false); /* it came first */
    o->pushed_at = c->loop.stats.iterations;
    msg->u32 = cost;
    if (cost > 0) {
        if (atomic_load_explicit(bytes, memory_order_relaxed) + cost > BROKER_XBYTES_MAX)
            return -ENOBUFS;
        if (o->head != NULL && o->count >= BROKER_XBACKLOG_MAX)
            return -ENOBUFS;
        atomic_fetch_add_explicit(bytes, cost, memory_order_relaxed);
    }
    if (o->head == NULL && uring_xchan_push(o->ch, msg) == 0) {
        STAT_ADD(c->st, xmsgs, 1);
        return 0;
    }
    /* The channel is full, or older messages wait: keep the order, wait behind them. */
    w = xwait_get(c);
    if (w == NULL) {
        atomic_fetch_sub_explicit(bytes, cost, memory_order_relaxed);
        return -ENOBUFS;
    }
    w->next = NULL;
    w->msg = *msg;
    if (o->tail != NULL)
        o->tail->next = w;
    else
        o->head = w;
    o->tail = w;
    o->count++;
    STAT_ADD(c->st, xbacklog, 1);
    xtimer_arm(c);
    return 0;
}

int core_try_push(struct core *c, unsigned dst, struct uring_xmsg *msg)
{
    struct xout *o = &c->out[dst];

    assert(dst != c->id);
    assert(dst < c->b->ncores);
    msg->u32 = 0;
    if (o->staged)
        unstage(c, dst, false);
    if (o->head != NULL || uring_xchan_push(o->ch, msg) != 0)
        return -EAGAIN;
    o->pushed_at = c->loop.stats.iterations;
    STAT_ADD(c->st, xmsgs, 1);
    return 0;
}

void core_xmsg_done(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    if (msg->u32 > 0)
        atomic_fetch_sub_explicit(&c->b->xbytes[src * c->b->ncores + c->id].v, msg->u32, memory_order_relaxed);
}

static void xchan_cb(struct uring_xchan *ch, const struct uring_xmsg *msg)
{
    struct core *c = (struct core *)(void *)((char *)ch->dst - offsetof(struct core, loop));

    if (c->stopped) {
        route_xmsg_discard(msg); /* the broker is going away: nobody is left to deliver to */
        return;
    }
    route_xmsg(c, (unsigned)(uintptr_t)ch->data, msg);
}

/* ---- shutdown ---------------------------------------------------------------------------------- */

static void core_maybe_stop(struct core *c)
{
    if (c->nsessions > 0 || c->listening || c->stopped)
        return;
    assert(c->stop_waits == 0);
    c->stopped = true;
    c->timers_idle = true;
    if (c->sweep_armed)
        uring_timer_cancel(&c->sweep);
    if (c->xtimer_armed)
        uring_timer_cancel(&c->xtimer);
    if (c->stop_timer_armed)
        uring_timer_cancel(&c->stop_timer);
    request_timer_stop(c);
    uring_loop_stop(&c->loop);
}

static void listener_closed(struct uring_listener *l)
{
    struct core *c = l->data;

    c->listening = false;
    core_maybe_stop(c);
}

static const struct uring_listener_cbs listener_cbs = {
    .on_accept = on_accept,
    .on_close = listener_closed,
};

static void stop_fail(struct session *s)
{
    session_fail(s, 0, TRPC_E_SHUTTING_DOWN, NULL); /* the code's text says it all */
}

void core_stop_wait_done(struct session *s)
{
    struct core *c = s->core;

    assert(s->stop_wait);
    assert(c->stop_waits > 0);
    s->stop_wait = false;
    c->stop_waits--;
    stop_fail(s);
}

/*
 * While sessions wait for claimed replies: a claimant that wrote the reply only pushes the entry
 * on our reap stack, which wakes nobody, so look every millisecond. A reply handed back arrives
 * as X_REP on its own. Past the close grace (a claimant stopped with the handback still in its
 * backlog), the ERR goes without it.
 */
static void stop_timer_done(struct uring_timer *t, int res)
{
    struct core *c = t->data;

    c->stop_timer_armed = false;
    if (res == -ECANCELED || c->timers_idle)
        return;
    request_reap(c);
    if (c->stop_waits > 0 && uring_now_ns() > c->stop_began_ns + BROKER_CLOSE_GRACE_NS) {
        struct blist *n, *next;

        for (n = c->lru.next; n != &c->lru; n = next) {
            struct session *s = blist_entry(n, struct session, node);

            next = n->next;
            if (!s->stop_wait)
                continue;
            log_warn(c->id, "client_id=%llu: claimed replies not settled at shutdown", (unsigned long long)s->client_id);
            core_stop_wait_done(s);
        }
    }
    if (c->stop_waits > 0 && uring_timer_start(&c->loop, &c->stop_timer, XRETRY_NS, stop_timer_done) == 0)
        c->stop_timer_armed = true;
}

/*
 * Every request a session of ours waits for gets its one REP before the session's ERR: first
 * every open entry is answered, then the sessions are failed, but for those with entries another
 * core claimed (request_requester_stop): they stay open until those replies are settled.
 */
static void core_begin_stop(struct core *c)
{
    struct blist *n, *next;

    if (c->stopping)
        return;
    c->stopping = true;
    c->stop_began_ns = uring_now_ns();
    log_info(c->id, "shutting down: %u connections", c->nsessions);
    if (c->listening)
        uring_listener_close(&c->listener);
    for (n = c->lru.next; n != &c->lru; n = next) {
        struct session *s = blist_entry(n, struct session, node);

        next = n->next; /* a slow consumer cut by its REPs moves to c->closing */
        if (request_requester_stop(s) > 0 && s->state == SESS_OPEN) {
            s->stop_wait = true;
            c->stop_waits++;
        }
    }
    for (n = c->lru.next; n != &c->lru; n = next) {
        struct session *s = blist_entry(n, struct session, node);

        next = n->next;
        if (!s->stop_wait)
            stop_fail(s);
    }
    if (c->stop_waits > 0 && uring_timer_start(&c->loop, &c->stop_timer, XRETRY_NS, stop_timer_done) == 0)
        c->stop_timer_armed = true;
    core_maybe_stop(c);
}

static void wake_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    struct core *c = (struct core *)(void *)((char *)loop - offsetof(struct core, loop));

    (void)op;
    (void)flags;
    if (res == -ECANCELED)
        return;
    core_begin_stop(c);
}

/* ---- the mailbox: messages from threads that are not cores ------------------------------------- */

int core_mbox_register(struct broker *b, uint32_t type, core_mbox_fn *on_msg, core_mbox_discard_fn *discard)
{
    assert(!b->started);
    if (type == 0 || type >= BROKER_MBOX_TYPES || on_msg == NULL)
        return -EINVAL;
    if (b->mbox_handlers[type].on_msg != NULL)
        return -EEXIST;
    b->mbox_handlers[type].on_msg = on_msg;
    b->mbox_handlers[type].discard = discard;
    return 0;
}

int core_post(struct broker *b, unsigned dst, const struct uring_xmsg *msg)
{
    if (dst >= b->ncores || msg->type == 0 || msg->type >= BROKER_MBOX_TYPES || b->mbox_handlers[msg->type].on_msg == NULL)
        return -EINVAL;
    return uring_mbox_post(&b->cores[dst]->mbox, msg);
}

static void mbox_discard(struct uring_mbox *mb, const struct uring_xmsg *msg)
{
    struct core *c = mb->data;
    const struct core_mbox_handler *h = &c->b->mbox_handlers[msg->type];

    assert(msg->type < BROKER_MBOX_TYPES);
    assert(h->on_msg != NULL);
    if (h->discard != NULL)
        h->discard(c->b, msg);
}

static void mbox_cb(struct uring_mbox *mb, const struct uring_xmsg *msg)
{
    struct core *c = mb->data;

    assert(msg->type < BROKER_MBOX_TYPES);
    if (c->stopped) {
        mbox_discard(mb, msg); /* the loop is being destroyed: nobody is left to handle it */
        return;
    }
    c->b->mbox_handlers[msg->type].on_msg(c, msg);
}

void core_free_mbox(struct core *c)
{
    uring_mbox_destroy(&c->mbox, mbox_discard);
}

static int arm_wake(struct core *c)
{
    struct io_uring_sqe *sqe = uring_loop_sqe(&c->loop, &c->wake.op);

    if (sqe == NULL)
        return -EBUSY;
    c->wake.op.cb = wake_done;
    io_uring_prep_read(sqe, c->efd, &c->wake.value, sizeof(c->wake.value), 0);
    return 0;
}

/* ---- the thread -------------------------------------------------------------------------------- */

static int core_init(struct core *c)
{
    struct broker *b = c->b;
    int ret;

    c->trie = trie_new(b->cfg.limits.max_topic);
    c->out = calloc(b->ncores, sizeof(*c->out));
    c->staged = calloc(b->ncores, sizeof(*c->staged));
    c->acked = calloc(b->ncores, sizeof(*c->acked));
    if (c->trie == NULL || c->out == NULL || c->staged == NULL || c->acked == NULL)
        return -ENOMEM;
    ret = request_init(c);
    if (ret != 0)
        return ret;
    ret = uring_loop_init(&c->loop, &b->loop_opts);
    if (ret != 0)
        return ret;
    c->loop.on_flush = core_flush;
    return 0;
}

static void pin(struct core *c)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;

    if (n <= 0)
        return;
    CPU_ZERO(&set);
    CPU_SET((int)(c->id % (unsigned long)n), &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
        log_warn(c->id, "cannot pin to cpu %ld", (long)(c->id % (unsigned long)n));
}

static void core_free(struct core *c)
{
    for (unsigned i = 0; c->out != NULL && i < c->b->ncores; i++) {
        while (c->out[i].head != NULL) {
            struct xwait *w = c->out[i].head;

            c->out[i].head = w->next;
            route_xmsg_discard(&w->msg);
            free(w);
        }
    }
    while (c->xw_free != NULL) {
        struct xwait *w = c->xw_free;

        c->xw_free = w->next;
        free(w);
    }
    c->xw_cached = 0;
    route_free_core(c);
    request_free(c);
    trie_free(c->trie);
    c->trie = NULL;
    free(c->out);
    free(c->staged);
    free(c->acked);
    free(c->match);
    free(c->pongs);
    free(c->slots);
    free(c->gens);
    free(c->free_slots);
    c->out = NULL;
    c->acked = NULL;
    c->match = NULL;
    c->pongs = NULL;
    c->slots = NULL;
    c->gens = NULL;
    c->free_slots = NULL;
}

static void *core_main(void *arg)
{
    struct core *c = arg;
    struct broker *b = c->b;
    bool loop_ok = false;
    int ret;

    pin(c);
    c->init_err = core_init(c);
    loop_ok = c->init_err == 0;
    pthread_barrier_wait(&b->barrier); /* the main thread wires the channels */
    pthread_barrier_wait(&b->barrier);
    if (b->abort_start)
        goto out_destroy;
    c->sweep.data = c;
    c->xtimer.data = c;
    c->stop_timer.data = c;
    c->listener.data = c;
    ret = uring_listener_start(&c->listener, &c->loop, c->listen_fd, &listener_cbs);
    if (ret == 0) {
        c->listening = true;
        c->listen_fd = -1;
        ret = arm_wake(c);
    }
    if (ret == 0)
        ret = uring_mbox_attach(&c->mbox, &c->loop);
    if (ret == 0 && uring_timer_start(&c->loop, &c->sweep, sweep_period_ns(c), sweep_done) == 0)
        c->sweep_armed = true;
    if (ret == 0)
        ret = uring_loop_run(&c->loop);
    if (ret != 0) {
        log_error(c->id, "core loop failed: %s", strerror(-ret));
        atomic_store(&b->failed, true);
        kill(getpid(), SIGTERM);
    }
    c->stopped = true;
    c->timers_idle = true;
    pthread_barrier_wait(&b->stop_barrier);
out_destroy:
    c->stopped = true;
    if (loop_ok)
        uring_loop_destroy(&c->loop);
    core_free(c);
    return NULL;
}

static int open_listeners(struct broker *b)
{
    const char *host = b->cfg.listen_host;
    unsigned port = b->cfg.listen_port;

    for (unsigned i = 0; i < b->ncores; i++) {
        int fd = uring_listen_tcp(host, port, LISTEN_BACKLOG);

        if (fd < 0) {
            log_error(LOG_NO_CORE, "cannot listen on %s:%u: %s", host, port, strerror(-fd));
            return fd;
        }
        b->cores[i]->listen_fd = fd;
        if (port == 0) {
            /* Bind the others to the port the kernel picked for the first. */
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);

            if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
                return -errno;
            port =
                ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    b->port = port;
    return 0;
}

static int wire_channels(struct broker *b)
{
    unsigned n = b->ncores;

    b->chans = calloc((size_t)n * n, sizeof(*b->chans));
    b->xbytes = aligned_alloc(64, (size_t)n * n * sizeof(*b->xbytes));
    if (b->chans == NULL || b->xbytes == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < n * n; i++)
        atomic_init(&b->xbytes[i].v, 0);
    for (unsigned s = 0; s < n; s++) {
        for (unsigned d = 0; d < n; d++) {
            struct uring_xchan *ch = &b->chans[s * n + d];
            int ret;

            if (s == d)
                continue;
            ret = uring_xchan_init(ch, &b->cores[s]->loop, &b->cores[d]->loop, BROKER_XCHAN_SLOTS, 1, xchan_cb);
            if (ret != 0)
                return ret;
            ch->data = (void *)(uintptr_t)s;
            b->cores[s]->out[d].ch = ch;
        }
    }
    return 0;
}

int core_start_all(struct broker *b)
{
    unsigned n = b->ncores;
    int ret;

    b->cores = calloc(n, sizeof(*b->cores));
    b->stats = aligned_alloc(64, n * sizeof(*b->stats));
    if (b->cores == NULL || b->stats == NULL)
        return -ENOMEM;
    memset(b->stats, 0, n * sizeof(*b->stats));
    for (unsigned i = 0; i < n; i++) {
        struct core *c = aligned_alloc(64, (sizeof(*c) + 63) / 64 * 64);

        if (c == NULL)
            return -ENOMEM;
        memset(c, 0, sizeof(*c));
        c->b = b;
        c->id = i;
        c->listen_fd = -1;
        c->efd = -1;
        c->st = &b->stats[i];
        c->xs = ((uint64_t)i + 1) * UINT64_C(0x9E3779B97F4A7C15);
        blist_init(&c->lru);
        blist_init(&c->closing);
        blist_init(&c->rx_resume);
        b->cores[i] = c;
        c->efd = eventfd(0, EFD_CLOEXEC);
        if (c->efd == -1)
            return -errno;
        ret = uring_mbox_init(&c->mbox, BROKER_MBOX_SLOTS, mbox_cb);
        if (ret != 0)
            return ret;
        c->mbox.data = c;
        if (getrandom(&c->xs, sizeof(c->xs), 0) != (ssize_t)sizeof(c->xs) || c->xs == 0)
            c->xs = ((uint64_t)i + 1) * UINT64_C(0x9E3779B97F4A7C15);
        ret = gates_alloc(c);
        if (ret != 0)
            return ret;
    }
    ret = open_listeners(b);
    if (ret != 0)
        return ret;
    if (pthread_barrier_init(&b->barrier, NULL, n + 1) != 0 || pthread_barrier_init(&b->stop_barrier, NULL, n) != 0)
        return -ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&b->cores[i]->thread, NULL, core_main, b->cores[i]) != 0) {
            log_error(LOG_NO_CORE, "cannot start core thread %u", i);
            exit(1); /* the threads already started wait at a barrier sized for all of them */
        }
    }
    b->started = true;
    pthread_barrier_wait(&b->barrier);
    ret = 0;
    for (unsigned i = 0; i < n; i++) {
        if (b->cores[i]->init_err != 0 && ret == 0) {
            ret = b->cores[i]->init_err;
            log_error(i, "cannot start: %s", strerror(-ret));
        }
    }
    if (ret == 0)
        ret = wire_channels(b);
    b->abort_start = ret != 0;
    pthread_barrier_wait(&b->barrier);
    return ret;
}

void core_wake_all(struct broker *b)
{
    uint64_t one = 1;

    atomic_store_explicit(&b->stopping, true, memory_order_release);
    for (unsigned i = 0; i < b->ncores; i++)
        if (write(b->cores[i]->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
            log_error(LOG_NO_CORE, "cannot wake core %u: %s", i, strerror(errno));
}

void core_join_all(struct broker *b)
{
    unsigned n = b->ncores;

    for (unsigned i = 0; i < n; i++)
        pthread_join(b->cores[i]->thread, NULL);
    /* Nobody may post any more (core_post's contract): what is left is discarded. */
    for (unsigned i = 0; i < n; i++)
        core_free_mbox(b->cores[i]);
    /* Every loop is gone: what is left in a channel is freed through its callback, which sees
     * the destination stopped. */
    for (unsigned i = 0; b->chans != NULL && i < n * n; i++) {
        if (b->chans[i].src == NULL)
            continue;
        uring_xchan_drain(&b->chans[i]);
        uring_xchan_destroy(&b->chans[i]);
    }
    free(b->chans);
    b->chans = NULL;
    free(b->xbytes);
    b->xbytes = NULL;
    b->started = false;
    pthread_barrier_destroy(&b->barrier);
    pthread_barrier_destroy(&b->stop_barrier);
}
