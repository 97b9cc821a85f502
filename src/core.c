/*
 * Core threads: each runs one uring_loop with its own listener, sessions and module states
 * (core.h). This file holds the thread's life (start, run, shutdown), the
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
 * BROKER_CLOSE_GRACE_NS). A module may hold a session's ERR (core_module.session_stop: request.c
 * does while another core's claimant owes the session a reply) until it lets go
 * (core_stop_release). The core stops its loop once its last session and
 * its listener are released. Cores meet at stop_barrier before destroying their rings, so no core pushes to a
 * ring that is gone; messages still in channels are freed by core_join_all.
 *
 * Modules (core.h): the table below lists them; core.c calls their hooks and dispatches each
 * cross-core message to the module that registered its type (b->xtypes, filled before the cores
 * start), so what a module does is in its own file and core.c never names it but here.
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
#include <time.h>
#include <unistd.h>

#include "src/core.h"
#include "src/log.h"
#include "src/session.h"
#include "src/steer.h"

#define LISTEN_BACKLOG 4096
#define XRETRY_NS      1000000 /* a full channel is tried again after 1 ms */

static void session_closed(struct uring_conn *conn, int err);
static void core_maybe_stop(struct core *c);

/* The modules, in the order their hooks run. */
static const struct core_module *const modules[] = {&route_module, &request_module, &direct_module, &stream_module,
                                                    &group_module, &stls_module,    &auth_module,   &steer_module};
#define NMODULES (sizeof(modules) / sizeof(modules[0]))

/* Runs every module's `hook` that is not NULL, in table order. */
#define MODULES_CALL(hook, ...)                                                                                                    \
    do {                                                                                                                           \
        for (size_t i_ = 0; i_ < NMODULES; i_++)                                                                                   \
            if (modules[i_]->hook != NULL)                                                                                         \
                modules[i_]->hook(__VA_ARGS__);                                                                                    \
    } while (0)

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

uint64_t core_realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
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
    bool tls = l == &c->tls_listener;
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
    s->connected_at = core_realtime_ns();
    s->keepalive_ms = c->cfg.keepalive_ms;
    s->conn.data = s;
    blist_init(&s->requests);
    blist_init(&s->rx_node);
    blist_init(&s->hs_node);
    wire_reader_init(&s->rd, &c->cfg.limits);
    format_peer(fd, s->peer, sizeof(s->peer));
    over = atomic_fetch_add_explicit(&b->conns, 1, memory_order_relaxed) >= c->cfg.max_connections;
    s->counted = true;
    /* Kernel TLS receive (TLS 1.2) takes its keys in the middle of the handshake: nothing may be
     * read past them by then (stls.c turns multishot back on when the handshake is done). */
    s->conn.recv_oneshot = tls && c->cfg.tls_offload != CONFIG_TLS_OFFLOAD_USER;
    if (uring_conn_start(&s->conn, &c->loop, fd, &session_cbs, c->cfg.max_output_bytes + BROKER_OUT_RESERVE) != 0) {
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
    MODULES_CALL(session_new, s);
    STAT_ADD(c->st, accepted, 1);
    STAT_ADD(c->st, connections, 1);
    log_info(c->id, "accepted fd=%d peer=%s client_id=%llu%s", fd, s->peer, (unsigned long long)s->client_id, tls ? " (TLS)" : "");
    if (over && tls) {
        /* No handshake (a private-key operation, a slot held up to tls-handshake-timeout) for a
         * connection that could not stay: closed at once, which its TLS stack reports. */
        STAT_ADD(c->st, refused, 1);
        log_info(c->id, "closing client_id=%llu peer=%s: TOO_MANY_CONNECTIONS (before TLS)", (unsigned long long)s->client_id,
                 s->peer);
        session_close(s);
        uring_conn_close(&s->conn, URING_CLOSE_NOW);
    } else if (tls && stls_session_start(s) != 0) {
        log_error(c->id, "client_id=%llu: out of memory starting TLS", (unsigned long long)s->client_id);
        session_close(s);
        uring_conn_close(&s->conn, URING_CLOSE_NOW);
    } else if (over) {
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
    MODULES_CALL(session_gone, s);
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

/* ---- the sweep: idle sessions and closes that take too long ------------------------------------ */

static uint64_t sweep_period_ns(const struct core *c)
{
    uint64_t ms = c->ka_floor_ms / 4;

    if (c->ka_floor_ms == 0 || ms > 1000)
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
    /* Backlog entries of a burst were allocated among everything else the burst made: a few
     * thousand of 40 bytes, kept, pinned as many pages of an otherwise free heap. Reservations
     * (core_reserve) are made and used within one callback, never across a sweep. */
    while (c->xw_free != NULL) {
        struct xwait *w = c->xw_free;

        c->xw_free = w->next;
        free(w);
    }
    c->xw_cached = 0;
    MODULES_CALL(trim, c);
    freed = c->freed_bytes;
    c->freed_bytes = 0;
    c->freed_at_sweep = 0;
    t0 = uring_now_ns();
    malloc_trim(0);
    STAT_ADD(c->st, heap_trims, 1);
    log_info(c->id, "gave memory back: about %llu KiB freed since the last time, malloc_trim took %llu us",
             (unsigned long long)(freed >> 10), (unsigned long long)((uring_now_ns() - t0) / 1000));
}

/*
 * The keepalive floor goes down at once when the setting does (admin.c); once the setting went
 * up again, the sessions told the lower value leave over time, and the floor follows them up, at
 * most once a second (a walk over every session), so the sweep's walk stops early again.
 */
static void ka_floor_update(struct core *c, uint64_t now)
{
    unsigned least = c->cfg.keepalive_ms;

    if (c->ka_floor_ms == least || now < c->ka_recalc_ns)
        return;
    c->ka_recalc_ns = now + 1000000000;
    for (uint32_t i = 1; i < c->nslots; i++) {
        const struct session *s = c->slots[i];

        if (s != NULL && s->keepalive_ms != 0 && (least == 0 || s->keepalive_ms < least))
            least = s->keepalive_ms;
    }
    c->ka_floor_ms = least;
}

static void sweep_done(struct uring_timer *t, int res)
{
    struct core *c = t->data;
    uint64_t now = uring_now_ns();
    uint64_t floor_ns;
    struct blist *n, *next;

    size_t held;
    /* Whether anything was freed since the last sweep, before this one frees its own: the
     * sweep's trims say that a core is idle, not that it is busy. */
    bool freeing = c->freed_bytes != c->freed_at_sweep;

    c->sweep_armed = false;
    if (res == -ECANCELED || c->timers_idle)
        return;
    ka_floor_update(c, now);
    /* Sessions keep the keepalive they were told when the setting changes: the walk in LRU order
     * may stop at the first one heard from within twice the least of them. */
    floor_ns = (uint64_t)c->ka_floor_ms * 2 * 1000000;
    for (n = c->lru.next; floor_ns > 0 && n != &c->lru; n = next) {
        struct session *s = blist_entry(n, struct session, node);

        next = n->next;
        if (s->last_rx_ns + floor_ns > now)
            break;
        if (s->keepalive_ms == 0 || s->last_rx_ns + (uint64_t)s->keepalive_ms * 2 * 1000000 > now)
            continue;
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
    for (n = c->lru.next; n != &c->lru; n = n->next) {
        struct session *s = blist_entry(n, struct session, node);

        if (s->last_rx_ns + BROKER_READER_TRIM_NS > now)
            break;
        held = wire_reader_held(&s->rd);
        if (wire_reader_trim(&s->rd))
            c->freed_bytes += held;
    }
    MODULES_CALL(sweep, c);
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

/* End of an iteration, before the doorbells. */
static void core_flush(struct uring_loop *loop)
{
    struct core *c = (struct core *)(void *)((char *)loop - offsetof(struct core, loop));

    MODULES_CALL(flush, c);
}

int core_push(struct core *c, unsigned dst, struct uring_xmsg *msg, uint32_t cost)
{
    struct xout *o = &c->out[dst];
    _Atomic uint64_t *bytes = &c->b->xbytes[c->id * c->b->ncores + dst].v;
    struct xwait *w;

    assert(dst != c->id);
    assert(dst < c->b->ncores);
    if (msg->type != X_PUB && route_batch_pending(c, dst))
        route_batch_push(c, dst); /* its copies came first */
    if (c->direct.stage[dst].staged)
        direct_unstage(c, dst); /* it came first */
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
    if (route_batch_pending(c, dst))
        route_batch_push(c, dst);
    if (c->direct.stage[dst].staged)
        direct_unstage(c, dst);
    if (o->head != NULL || uring_xchan_push(o->ch, msg) != 0)
        return -EAGAIN;
    o->pushed_at = c->loop.stats.iterations;
    STAT_ADD(c->st, xmsgs, 1);
    return 0;
}

bool core_out_quiet(struct core *c, unsigned dst)
{
    struct xout *o = &c->out[dst];

    return o->head == NULL && !route_batch_pending(c, dst) && uring_xchan_quiet(o->ch);
}

static void xmsg_discard(const struct broker *b, const struct uring_xmsg *msg)
{
    assert(msg->type > 0 && msg->type < X_NTYPES && b->xtypes[msg->type].on_msg != NULL);
    if (b->xtypes[msg->type].discard != NULL)
        b->xtypes[msg->type].discard(msg);
    else
        free(msg->ptr);
}

static void xchan_cb(struct uring_xchan *ch, const struct uring_xmsg *msg)
{
    struct core *c = (struct core *)(void *)((char *)ch->dst - offsetof(struct core, loop));
    unsigned src = (unsigned)(uintptr_t)ch->data;

    if (c->stopped) {
        xmsg_discard(c->b, msg); /* the broker is going away: nobody is left to deliver to */
        return;
    }
    assert(msg->type > 0 && msg->type < X_NTYPES && c->b->xtypes[msg->type].on_msg != NULL);
    if (msg->u32 > 0) /* a droppable message's cost (core_push) */
        atomic_fetch_sub_explicit(&c->b->xbytes[src * c->b->ncores + c->id].v, msg->u32, memory_order_relaxed);
    c->b->xtypes[msg->type].on_msg(c, src, msg);
}

/* X_ERR */
static void xerr_in(struct core *c, unsigned src, const struct uring_xmsg *m)
{
    const struct xerr *x = m->ptr;
    struct session *s = core_session(c, x->slot, x->gen);

    (void)src;
    if (s != NULL)
        session_send_err(s, 0, x->code, false, NULL);
    free(m->ptr);
}

static const struct core_xtype core_xtypes[] = {
    {.type = X_ERR, .on_msg = xerr_in},
};

/* Before the cores start: each message type to the module that handles it. */
static int xtypes_register(struct broker *b)
{
    const struct core_xtype *t = core_xtypes;
    unsigned n = sizeof(core_xtypes) / sizeof(core_xtypes[0]);
    size_t i = 0;

    memset(b->xtypes, 0, sizeof(b->xtypes));
    for (;;) {
        for (unsigned j = 0; j < n; j++) {
            if (t[j].type == 0 || t[j].type >= X_NTYPES || t[j].on_msg == NULL || b->xtypes[t[j].type].on_msg != NULL)
                return -EINVAL;
            b->xtypes[t[j].type] = t[j];
        }
        if (i == NMODULES)
            return 0;
        t = modules[i]->xtypes;
        n = modules[i]->nxtypes;
        i++;
    }
}

/* ---- shutdown ---------------------------------------------------------------------------------- */

static void core_maybe_stop(struct core *c)
{
    if (c->nsessions > 0 || c->listening || c->tls_listening || c->stopped)
        return;
    for (size_t i = 0; i < NMODULES; i++)
        if (modules[i]->busy != NULL && modules[i]->busy(c))
            return;
    c->stopped = true;
    c->timers_idle = true;
    if (c->sweep_armed)
        uring_timer_cancel(&c->sweep);
    if (c->xtimer_armed)
        uring_timer_cancel(&c->xtimer);
    MODULES_CALL(stop, c);
    uring_loop_stop(&c->loop);
}

void core_idle(struct core *c)
{
    if (c->stopping)
        core_maybe_stop(c);
}

static void listener_closed(struct uring_listener *l)
{
    struct core *c = l->data;

    if (l == &c->tls_listener)
        c->tls_listening = false;
    else
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

void core_stop_release(struct session *s)
{
    assert(s->core->stopping);
    assert(s->stop_holds > 0);
    if (--s->stop_holds == 0)
        stop_fail(s);
}

void core_sub_gone(struct core *c, struct rsub *r, bool conn_gone)
{
    MODULES_CALL(sub_gone, c, r, conn_gone);
}

void core_conn_gone(struct core *c, unsigned core, uint32_t slot, uint32_t gen)
{
    MODULES_CALL(conn_gone, c, core, slot, gen);
}

/*
 * Every session gets its ERR SHUTTING_DOWN, but first the modules finish what the sessions wait
 * for (request.c answers each pending request: one REP per accepted REQ) and may hold a
 * session's ERR until what they cannot finish here is settled.
 */
static void core_begin_stop(struct core *c)
{
    struct blist *n, *next;

    if (c->stopping)
        return;
    c->stopping = true;
    log_info(c->id, "shutting down: %u connections", c->nsessions);
    if (c->listening)
        uring_listener_close(&c->listener);
    if (c->tls_listening)
        uring_listener_close(&c->tls_listener);
    for (n = c->lru.next; n != &c->lru; n = next) {
        struct session *s = blist_entry(n, struct session, node);

        next = n->next; /* a slow consumer cut by its REPs moves to c->closing */
        for (size_t i = 0; i < NMODULES; i++)
            if (modules[i]->session_stop != NULL && modules[i]->session_stop(s))
                s->stop_holds++;
    }
    for (n = c->lru.next; n != &c->lru; n = next) {
        struct session *s = blist_entry(n, struct session, node);

        next = n->next;
        if (s->stop_holds == 0)
            stop_fail(s);
    }
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

    c->out = calloc(b->ncores, sizeof(*c->out));
    if (c->out == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < NMODULES; i++) {
        ret = modules[i]->init != NULL ? modules[i]->init(c) : 0;
        if (ret != 0) {
            log_error(c->id, "cannot start %s: %s", modules[i]->name, strerror(-ret));
            return ret;
        }
    }
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
            xmsg_discard(c->b, &w->msg);
            free(w);
        }
    }
    while (c->xw_free != NULL) {
        struct xwait *w = c->xw_free;

        c->xw_free = w->next;
        free(w);
    }
    c->xw_cached = 0;
    MODULES_CALL(fini, c);
    free(c->out);
    free(c->slots);
    free(c->gens);
    free(c->free_slots);
    c->out = NULL;
    c->slots = NULL;
    c->gens = NULL;
    c->free_slots = NULL;
}

static void *core_main(void *arg)
{
    struct core *c = arg;
    struct broker *b = c->b;
    bool loop_ok = false;
    char name[16];
    int ret;

    /* For top -H, perf and pidstat. The modulo only bounds the text for -Wformat-truncation: ids
     * are below BROKER_CORES_MAX. */
    snprintf(name, sizeof(name), "trpc-core%u", c->id % BROKER_CORES_MAX);
    pthread_setname_np(pthread_self(), name);
    pin(c);
    c->init_err = core_init(c);
    loop_ok = c->init_err == 0;
    pthread_barrier_wait(&b->barrier); /* the main thread wires the channels */
    pthread_barrier_wait(&b->barrier);
    if (b->abort_start)
        goto out_destroy;
    c->sweep.data = c;
    c->xtimer.data = c;
    c->listener.data = c;
    MODULES_CALL(start, c);
    c->tls_listener.data = c;
    ret = uring_listener_start(&c->listener, &c->loop, c->listen_fd, &listener_cbs);
    if (ret == 0) {
        c->listening = true;
        c->listen_fd = -1;
        if (c->tls_listen_fd != -1)
            ret = uring_listener_start(&c->tls_listener, &c->loop, c->tls_listen_fd, &listener_cbs);
    }
    if (ret == 0 && c->tls_listen_fd != -1) {
        c->tls_listening = true;
        c->tls_listen_fd = -1;
    }
    if (ret == 0)
        ret = arm_wake(c);
    if (ret == 0)
        ret = uring_mbox_attach(&c->mbox, &c->loop);
    if (ret == 0 && uring_timer_start(&c->loop, &c->sweep, sweep_period_ns(c), sweep_done) == 0)
        c->sweep_armed = true;
    /* Every core has run its start hooks (a stream's log opened, which can take a while) before the
     * broker says it listens: the kernel queues connections on each core's socket from the start,
     * and one queued at a core still opening its logs would wait for it. */
    pthread_barrier_wait(&b->barrier);
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

/* One socket per core on host:port, each with SO_REUSEPORT; fds[i] of core i. Returns the port (the
 * kernel's pick for port 0, shared by all) or -errno. */
static int open_port(struct broker *b, const char *host, unsigned port, const char *what, size_t fd_off)
{
    for (unsigned i = 0; i < b->ncores; i++) {
        int fd = uring_listen_tcp(host, port, LISTEN_BACKLOG);

        if (fd < 0) {
            log_error(LOG_NO_CORE, "cannot listen%s on %s:%u: %s", what, host, port, strerror(-fd));
            return fd;
        }
        *(int *)(void *)((char *)b->cores[i] + fd_off) = fd;
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
    return (int)port;
}

static int open_listeners(struct broker *b)
{
    int port = open_port(b, b->cfg.listen_host, b->cfg.listen_port, "", offsetof(struct core, listen_fd));

    if (port < 0)
        return port;
    b->port = (unsigned)port;
    if (b->cfg.tls_listen_host[0] == '\0')
        return 0;
    port = open_port(b, b->cfg.tls_listen_host, b->cfg.tls_listen_port, " for TLS", offsetof(struct core, tls_listen_fd));
    if (port < 0)
        return port;
    b->tls_port = (unsigned)port;
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

static int start_all(struct broker *b, char *err, size_t errlen)
{
    unsigned n = b->ncores;
    int ret;

    ret = xtypes_register(b);
    assert(ret == 0); /* the tables are constants: a clash is a bug */
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
        c->tls_listen_fd = -1;
        c->efd = -1;
        c->st = &b->stats[i];
        c->cfg = b->cfg;
        c->ka_floor_ms = b->cfg.keepalive_ms;
        c->xs = ((uint64_t)i + 1) * UINT64_C(0x9E3779B97F4A7C15);
        blist_init(&c->lru);
        blist_init(&c->closing);
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
    }
    ret = open_listeners(b);
    if (ret != 0)
        return ret;
    ret = steer_init(b, err, errlen);
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
    if (ret == 0)
        pthread_barrier_wait(&b->barrier); /* the cores' start hooks are done */
    return ret;
}

int core_start_all(struct broker *b, char *err, size_t errlen)
{
    int ret;

    err[0] = '\0';
    ret = start_all(b, err, errlen);
    if (ret != 0 && err[0] == '\0')
        snprintf(err, errlen, "%s", strerror(-ret));
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
