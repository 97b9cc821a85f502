/*
 * broker: the internals of trpc-broker shared by its source files (not a public API).
 *
 * Threads: one core thread per --cores, each with its own uring_loop, listener (SO_REUSEPORT,
 * one port), sessions, subject trie and pending requests. The main thread only starts the cores,
 * waits for SIGTERM/SIGINT and wakes every core through its eventfd.
 *
 * Ownership across cores (docs/architecture.md, "The broker"): nothing is shared but the
 * read-only configuration, the connection counter (one relaxed atomic per accept and close) and
 * the counter blocks. Cores talk through uring_xchan channels only. A cross-core message body is
 * malloc'd by the sending core and handed over: from a successful push on, the receiving core owns
 * it and frees it when done (a reference count of one, moved). PUB copies of a recycled size class
 * are the exception to "frees it": the receiver hands the consumed block back to its sender in an
 * X_RECYCLE batch (ownership moved again), and the sender reuses it for its next copy to that core
 * (route.c). Remote connections are named by (core, slot, generation), never by pointer.
 *
 * Two exceptions, both for the request/reply round trip (docs/architecture.md, "Direct sends"):
 * each core's connection gates (uring_gate, a table allocated before the cores start, indexed by
 * slot) let another core write a frame straight to an idle connection's socket; and a pending
 * request's claim word (struct preq) lets the responder's core take the entry over to write the
 * reply itself. Both are compare-and-swap protocols on memory that outlives the connections.
 */
#ifndef TRPC_SRC_BROKER_H
#define TRPC_SRC_BROKER_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver/wire.h"
#include "src/config.h"
#include "src/err.h"
#include "src/idmap.h"
#include "src/stats.h"
#include "src/trie.h"
#include "uring/uring.h"

#define BROKER_NAME                "trpc-broker/" PACKAGE_VERSION
#define BROKER_OUT_RESERVE         1024       /* output kept free for the ERR that cuts a slow consumer */
#define BROKER_READER_TRIM_NS      1000000000 /* a session idle this long gives back its frame reassembly buffer */
#define BROKER_CLOSE_GRACE_NS      2000000000 /* a flushing close that takes longer is dropped */
#define BROKER_XCHAN_SLOTS         4096
#define BROKER_MBOX_SLOTS          1024        /* each core's mailbox, for threads that are not cores (core_post) */
#define BROKER_MBOX_TYPES          16          /* message types a module may register for the mailboxes */
#define BROKER_XBACKLOG_MAX        65536       /* messages waiting for a full channel, per pair, before PUBs drop */
#define BROKER_XWAIT_CACHE         8192        /* backlog entries a core keeps for reuse (320 KiB) */
#define BROKER_XBYTES_MAX          (64u << 20) /* bytes of droppable messages between two cores, queued or in flight */
#define BROKER_GROUP_MAX           255
#define BROKER_PONGS_MAX           8 /* PONGs held per connection until its subscriptions reached every core */
#define BROKER_CORES_MAX           1024
#define BROKER_RECYCLE_SHIFT       9 /* smallest recycled PUB copy block: 512 bytes */
#define BROKER_RECYCLE_NSMALL      6 /* small classes, powers of two: 512 B .. 16 KiB */
#define BROKER_RECYCLE_STEPS       4 /* large classes per doubling above 16 KiB: 20, 24, 28, 32, 40 KiB .. */
#define BROKER_RECYCLE_NCLS        (BROKER_RECYCLE_NSMALL + 6 * BROKER_RECYCLE_STEPS) /* .. 1 MiB; larger: malloc'd */
#define BROKER_RECYCLE_BYTES       (4u << 20)       /* small blocks a core keeps for its copies, all cores together */
#define BROKER_RECYCLE_LARGE_BYTES (16u << 20)      /* large blocks likewise (about 200 copies of 64 KiB + header) */
#define BROKER_RECYCLE_BATCH       32               /* consumed blocks a core gathers before returning them */
#define BROKER_RECYCLE_BATCH_BYTES (1u << 20)       /* or fewer, once they add up to this many bytes */
#define BROKER_PENDING_CEIL        ((1u << 22) - 1) /* slot field of a reply token */
#define BROKER_DIRECT_MAX          16384            /* largest frame a core writes to another core's connection */
#define BROKER_HEAP_MMAP_BYTES     (2u << 20)       /* malloc'd blocks this large are mmap'd (main.c, heap_setup) */
#define BROKER_HEAP_TRIM_BYTES     (1u << 20)       /* free space kept at the top of a heap */
#define BROKER_TRIM_FREED_BYTES    (1u << 20)       /* frees (estimated) after which a quiet core calls malloc_trim */
#define BROKER_TRIM_QUIET_CQES     1000             /* a core that handled fewer CQEs per second than this is quiet */
#define BROKER_BUF_RELEASE_RECVS   64 /* receive buffers filled since the last release before a quiet core releases them */

/* A small intrusive list. A node not on a list points at itself. */
struct blist {
    struct blist *next, *prev;
};

static inline void blist_init(struct blist *l)
{
    l->next = l;
    l->prev = l;
}

static inline bool blist_empty(const struct blist *l)
{
    return l->next == l;
}

static inline void blist_del(struct blist *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n;
    n->prev = n;
}

static inline void blist_add_tail(struct blist *head, struct blist *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

#define blist_entry(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/*
 * Doubles a FIFO ring of elements of `size` bytes (*ring, *head, count used of *cap; *cap 0: none
 * yet, then `first` slots), unrolled so that it starts at 0. 0, or -ENOMEM with the ring as it was.
 */
static inline int fifo_grow(void **ring, size_t size, uint32_t *head, uint32_t count, uint32_t *cap, uint32_t first)
{
    uint32_t ncap = *cap ? *cap * 2 : first;
    char *n = malloc((size_t)ncap * size);

    if (n == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < count; i++)
        memcpy(n + (size_t)i * size, (char *)*ring + (size_t)((*head + i) % *cap) * size, size);
    free(*ring);
    *ring = n;
    *cap = ncap;
    *head = 0;
    return 0;
}

struct core;
struct session;

/*
 * A subscription as one core's trie holds it. Every core has its own copy of every subscription
 * (its replica), allocated and freed by that core. On the owner core, sess points at the
 * subscriber's session; elsewhere it is NULL and (owner, slot, gen, sid) names it.
 */
struct rsub {
    uint32_t owner; /* core index */
    uint32_t slot;
    uint32_t gen;
    uint64_t sid;
    struct session *sess;
    uint32_t outstanding; /* requests this core forwarded to it and not yet finished */
    struct blist pending; /* this core's pending requests on it (struct preq.resp_node) */
    uint32_t group_hash;
    uint16_t group_len; /* 0: not in a group */
    uint16_t pattern_len;
    char *group;
    char text[]; /* pattern, then group */
};

/* A remote connection that has subscriptions, as a core's replica knows it. */
struct rconn {
    uint32_t owner, slot, gen;
    struct idmap subs; /* sid -> struct rsub */
};

enum session_state { SESS_NEW, SESS_OPEN, SESS_CLOSING };

struct session {
    struct uring_conn conn;
    struct core *core;
    uint32_t slot, gen;
    uint64_t client_id;
    enum session_state state;
    bool no_echo;
    bool counted;   /* holds one of max_connections */
    bool stop_wait; /* shutting down: its ERR waits for the replies other cores claimed (core.c) */
    uint64_t last_rx_ns;
    uint64_t closing_ns;
    struct blist node; /* core->lru (open, new) or core->closing */
    struct wire_reader rd;
    struct idmap subs;     /* sid -> struct rsub (this core's copy) */
    struct blist requests; /* pending requests it made (struct preq.req_node) */
    unsigned pongs_held;
    /* Reading stopped (session.c, "Backpressure"): the buffer whose frames were being parsed
     * when it stopped (rx_bid; the reader still points into it) and those that arrived after. */
    bool rx_paused;
    bool rx_parsing; /* rx_bid/rx_data/rx_len hold the buffer the reader is in */
    unsigned rx_bid;
    const uint8_t *rx_data;
    size_t rx_len;
    size_t rx_off;           /* where in it the next frame begins, when known (refused_id) */
    struct rx_held *rx_held; /* FIFO ring of later buffers, allocated on first use */
    uint32_t rx_head, rx_count, rx_cap;
    struct blist rx_node; /* core->rx_resume while waiting to read again */
    char peer[64];
    char name[64];
};

/* Claim states of a pending request (preq.claim, request.c). */
#define PREQ_FREE    0U
#define PREQ_OPEN    1U /* waiting for its reply; the responder's core may claim it */
#define PREQ_CLAIMED 2U /* the responder's core writes the reply; ours only forgets the entry */
#define PREQ_LOCAL   3U /* our own core finishes it */

/* A pending request, on the requester's core. */
struct preq {
    /* Read by other cores (request.c, "direct replies"): tag << 32 | responder core << 8 | state,
     * then the responder's connection and the deadline. Written before claim goes OPEN. */
    _Atomic uint64_t claim;
    _Atomic uint64_t claim_conn; /* responder slot << 32 | gen */
    _Atomic uint64_t claim_deadline;
    uint32_t req_slot, req_gen;     /* the requester's connection: read by a claimant */
    uint32_t reap_next;             /* next entry on the core's reap stack (written by the claimant) */
    uint32_t tag;                   /* generation (8 bits) and random bits (24): the unforgeable part of the token */
    struct uring_deadline deadline; /* in the core's set while the entry waits; at_ns: when it times out */
    uint64_t corr_id;
    struct session *requester;
    uint32_t resp_core, resp_slot, resp_gen;
    bool used;         /* after resp_gen: fills what was padding */
    struct rsub *resp; /* this core's replica of the responder subscription; NULL once removed */
    struct blist req_node;
    struct blist resp_node;
};

struct xtarget {
    uint32_t slot, gen;
    uint64_t sid;
};

struct tvec {
    struct xtarget *v;
    uint32_t n, cap;
};

/* A message waiting for room in a full channel. */
struct xwait {
    struct xwait *next;
    struct uring_xmsg msg;
};

struct xout {
    struct uring_xchan *ch;
    struct xwait *head, *tail;
    uint32_t count;
    uint64_t pushed_at; /* loop iteration of the last push */
    bool staged;        /* a request or reply waits for the iteration's end (core_stage) */
    uint32_t staged_cost;
    struct uring_xmsg staged_msg;
};

/* A consumed PUB copy block on its way back to (or waiting at) the core that allocated it. */
struct xfree {
    struct xfree *next;
    uint8_t cls;
};

/* Block recycling with one other core (route.c), both directions. */
struct xrecycle {
    struct xfree *free[BROKER_RECYCLE_NCLS]; /* blocks for our copies to it, by size class */
    struct xfree *ret;                       /* its copies we consumed, to hand back */
    uint32_t nret;                           /* blocks in ret, fewer than BROKER_RECYCLE_BATCH */
    uint32_t ret_bytes;                      /* their sizes, less than BROKER_RECYCLE_BATCH_BYTES */
};

struct rx_held {
    const uint8_t *data;
    uint32_t len;
    unsigned bid;
};

struct pong_wait {
    uint32_t slot, gen;
    uint64_t id;
    uint64_t seq; /* broadcasts of this core that must have been applied everywhere */
};

struct wake_op {
    struct uring_op op;
    uint64_t value;
};

struct core {
    struct uring_loop loop;
    struct broker *b;
    unsigned id;
    pthread_t thread;
    int init_err;
    int listen_fd;
    struct uring_listener listener;
    bool listening;
    int efd;
    struct wake_op wake;
    struct uring_mbox mbox; /* from threads that are not cores (core_post), drained by this loop */
    bool stopping;
    bool stopped;
    bool timers_idle;              /* sweep and request timers stay stopped once the core is shutting down */
    unsigned stop_waits;           /* sessions with stop_wait set */
    uint64_t stop_began_ns;        /* when core_begin_stop ran */
    struct uring_timer stop_timer; /* polls the reap stack while stop_waits > 0 */
    bool stop_timer_armed;
    struct trie *trie;

    struct session **slots; /* [1, nslots); 0 unused */
    uint32_t *gens;
    uint32_t nslots, slot_cap;
    uint32_t *free_slots;
    uint32_t nfree;
    unsigned nsessions;
    uint64_t next_client;
    struct uring_gate *gates; /* [ngates], by slot: other cores write through them (mmap'd, never moved) */
    uint32_t ngates;
    struct blist lru;     /* open sessions, least recently heard first */
    struct blist closing; /* closing sessions, oldest first */
    struct uring_timer sweep;
    bool sweep_armed;
    /* Memory given back (core.c, sweep): bytes freed (an estimate) since the last malloc_trim, as
     * of the last sweep, and the loop's CQEs and output cache then. */
    uint64_t freed_bytes;
    uint64_t freed_at_sweep;
    uint64_t cqes_at_sweep;
    size_t out_cached_at_sweep;
    /* Receive buffer pages given back (core.c, release_bufs): the loop's recv_bufs then, and
     * whether the ring is missing (its registration failed; retried at every sweep). */
    uint64_t recv_bufs_at_release;
    bool bufs_lost;

    struct rsub **match; /* trie_match results */
    size_t nmatch, match_cap;
    struct rsub **gm; /* group members among them */
    size_t ngm, gm_cap;
    bool *rplain;             /* [ncores]: a remote plain subscription matched */
    struct tvec *tv;          /* [ncores]: group members chosen on that core */
    struct xrecycle *xr;      /* [ncores]: PUB copy blocks recycled with that core */
    uint32_t xr_cached;       /* bytes of small classes in every xr[].free, at most BROKER_RECYCLE_BYTES */
    uint32_t xr_cached_large; /* and of large ones, at most BROKER_RECYCLE_LARGE_BYTES */
    bool xr_active;           /* a block was taken or handed back since the last sweep */
    struct idmap rconns;      /* (owner << 32 | slot) -> struct rconn */

    struct xout *out; /* [ncores]: channels to the other cores */
    unsigned *staged; /* [ncores]: destinations with a staged message (may have left since) */
    unsigned nstaged;
    struct xwait *xw_free; /* backlog entries for reuse, all destinations together */
    uint32_t xw_cached;    /* entries in xw_free, at most BROKER_XWAIT_CACHE */
    struct uring_timer xtimer;
    bool xtimer_armed;
    uint64_t bcast_seq;      /* SUB/UNSUB/GONE broadcasts sent */
    uint64_t *acked;         /* [ncores]: highest broadcast each core confirmed */
    struct pong_wait *pongs; /* FIFO ring */
    uint32_t pong_head, pong_count, pong_cap;
    struct blist rx_resume; /* paused sessions whose held PONGs went below the bound */

    struct preq *preq; /* [1, npreq) */
    uint32_t npreq, preq_cap;
    uint32_t *preq_free;
    uint32_t npreq_free;
    _Alignas(64) _Atomic uint32_t reap; /* claimed entries whose reply went: a stack of preq indices, 0 ends */
    struct uring_tset deadlines;        /* the entries' deadlines (request.c) */
    unsigned pending;
    uint32_t rnd[64];
    unsigned nrnd;
    uint64_t xs; /* xorshift state for responder and group choices */

    struct broker_core_stats *st;
};

/* Bytes of droppable cross-core messages (PUB copies, replies) from one core to another that the
 * receiver has not handled yet: the sender adds, the receiver subtracts (uring_xmsg.u32 carries
 * each message's cost). Bounds the memory a slow core can make the others hold. */
struct xbytes {
    _Alignas(64) _Atomic uint64_t v;
};

/* A module's handler for one mailbox message type (core_mbox_register). on_msg runs on the core's
 * thread; discard on whichever thread finds the message undeliverable once the core has stopped
 * (its own, or the main thread in core_join_all): it releases what the message points to. */
typedef void core_mbox_fn(struct core *c, const struct uring_xmsg *msg);
typedef void core_mbox_discard_fn(struct broker *b, const struct uring_xmsg *msg);

struct core_mbox_handler {
    core_mbox_fn *on_msg;
    core_mbox_discard_fn *discard; /* NULL: nothing to release */
};

struct broker {
    struct config cfg;
    unsigned ncores;
    unsigned port;
    struct core **cores;
    struct uring_xchan *chans;       /* [src * ncores + dst] */
    struct xbytes *xbytes;           /* [src * ncores + dst] */
    struct broker_core_stats *stats; /* [ncores], each its own lines */
    struct uring_features features;
    struct uring_loop_opts loop_opts;
    _Atomic unsigned conns;
    atomic_bool failed;             /* a core failed at run time: exit 1 */
    atomic_bool stopping;           /* shutdown began: a lost responder is the shutdown's doing */
    bool abort_start;               /* a core failed to start: every core leaves before running */
    bool started;                   /* core threads exist: join them */
    pthread_barrier_t barrier;      /* ncores + 1: the main thread wires channels between */
    pthread_barrier_t stop_barrier; /* ncores: nobody pushes once everyone is past it */

    /* By uring_xmsg.type: set before the cores start, read-only after. */
    struct core_mbox_handler mbox_handlers[BROKER_MBOX_TYPES];
};

/* Cross-core message types (uring_xmsg.type). */
enum xtype {
    X_SUB = 1,  /* ptr: struct xsub */
    X_UNSUB,    /* ptr: struct xunsub */
    X_GONE,     /* ptr: struct xunsub (sid 0): a connection closed */
    X_ACK,      /* u64: broadcast seq applied */
    X_PUB,      /* ptr: struct xpub */
    X_REQ,      /* ptr: struct xreq */
    X_REP,      /* ptr: struct xrep */
    X_REP_FAIL, /* u64: token; the responder vanished before the request reached it */
    X_ERR,      /* ptr: struct xunsub (sid = code): send a non-fatal ERR to that connection */
    X_RECYCLE,  /* ptr: struct xfree chain: PUB copy blocks the sender allocated, handed back */
    X_GATE,     /* u64: slot << 32 | gen: a direct send was short, the rest waits in the gate */
};

struct xsub {
    uint64_t seq;
    uint32_t slot, gen;
    uint64_t sid;
    uint16_t pattern_len, group_len;
    char text[];
};

struct xunsub {
    uint64_t seq;
    uint32_t slot, gen;
    uint64_t sid;
};

struct xpub {
    bool rematch; /* deliver to the receiving core's plain subscriptions too */
    uint8_t cls;  /* size class of the block, BROKER_RECYCLE_NCLS: malloc'd to size, freed */
    uint32_t ntargets;
    uint16_t topic_len;
    uint32_t hdr_len;
    uint32_t body_len; /* frame bytes from offset 32 */
    uint8_t *body;
    struct xtarget targets[];
};

struct xreq {
    struct xtarget target;
    uint64_t token;
    uint32_t ms_left;
    uint16_t topic_len;
    uint32_t hdr_len;
    uint32_t body_len;
    uint8_t body[];
};

#define XREP_PLAIN   0 /* check the token, finish the entry */
#define XREP_CLAIMED 1 /* the sender claimed the entry and could not send: we write the reply */

struct xrep {
    uint64_t token;
    uint32_t slot, gen; /* the responder's connection */
    uint8_t how;        /* XREP_* */
    uint8_t flags;
    uint32_t aux;
    uint32_t hdr_len;
    uint32_t body_len;
    uint8_t body[];
};

/* ---- core.c ---- */
int core_start_all(struct broker *b);
void core_wake_all(struct broker *b);
void core_join_all(struct broker *b);
/* Main thread, before core_start_all: messages of `type` (1 .. BROKER_MBOX_TYPES - 1) posted to a
 * core's mailbox go to on_msg. 0, -EINVAL (bad type, no on_msg) or -EEXIST. */
int core_mbox_register(struct broker *b, uint32_t type, core_mbox_fn *on_msg, core_mbox_discard_fn *discard);
/* Any thread that is not core `dst`'s, from core_start_all's success until core_join_all (stop
 * posting before it): queues msg in the core's mailbox, whose handler runs on that core. 0, or
 * with nothing queued (msg->ptr still the caller's): -EAGAIN (mailbox full: retry later, never
 * block a core on it), -EINVAL (no such core, or no handler for the type). To get an answer,
 * name your own uring_mbox in the message (docs/uring.md section 8b). */
int core_post(struct broker *b, unsigned dst, const struct uring_xmsg *msg);
/* Hands what is still in the core's mailbox to the discard handlers and frees it. After the core's
 * thread was joined (or never started); idempotent. */
void core_free_mbox(struct core *c);
struct session *core_session(struct core *c, uint32_t slot, uint32_t gen);
/* Pushes msg to core dst (not c), waiting in a backlog when the channel is full. cost > 0 marks a
 * droppable message (a PUB copy, a reply) of that many bytes: refused when the bytes between the
 * two cores would pass BROKER_XBYTES_MAX; the receiver gives the cost back (msg->u32 carries it).
 * cost 0: a message that must arrive (subscription updates, requests, bounded by other limits).
 * Returns 0 or -ENOBUFS (not sent; msg.ptr still the caller's). */
int core_push(struct core *c, unsigned dst, struct uring_xmsg *msg, uint32_t cost);
/* Writes iov[0, n) straight to connection (dst, slot, gen) of core dst, once core_direct_ok() said
 * yes, if the connection has nothing queued; a short write leaves the rest to the owner, told with
 * X_GATE. Returns 0 once sent (whole or in part), or a negative errno with nothing sent: push the
 * message instead. */
int core_direct_send(struct core *c, unsigned dst, uint32_t slot, uint32_t gen, const struct iovec *iov, unsigned n);
/* Whether a frame of len bytes for core dst may be written directly now (the connection aside):
 * direct sends on, dst asleep (a busy core batches better than one syscall per frame), and
 * nothing of ours on its way to dst. */
bool core_direct_ok(struct core *c, unsigned dst, size_t len);
/* The owner's side of X_GATE and of a session becoming open. */
void core_gate_poll(struct core *c, uint32_t slot, uint32_t gen);
void core_gate_open(struct session *s);
/* After every core thread has ended (or never started). */
void core_free_gates(struct core *c);
/* Shutdown: the last claimed reply of a stop_wait session is settled; its ERR and close follow. */
void core_stop_wait_done(struct session *s);
/* Makes sure n backlog entries are cached, so that the next n must-arrive pushes (cost 0) cannot
 * fail: 0 or -ENOMEM. For pushes that follow a step that cannot be undone. */
int core_reserve(struct core *c, unsigned n);
/* core_push for a request or a reply (X_REQ, X_REP): when nothing else went to dst in this loop
 * iteration, the message waits for the iteration's end instead; alone then, it is written straight
 * to its connection if dst sleeps (request_flush_staged), else pushed. A message pushed to dst
 * meanwhile pushes it first. Returns as core_push (a later failure is handled as the caller
 * would have). */
int core_stage(struct core *c, unsigned dst, struct uring_xmsg *msg, uint32_t cost);
/* The receiving side of the cost above. */
void core_xmsg_done(struct core *c, unsigned src, const struct uring_xmsg *msg);
/* Pushes msg (cost 0) only when it needs no backlog: returns 0 or -EAGAIN (msg.ptr still the
 * caller's). For messages the receiver can do without (returned blocks). */
int core_try_push(struct core *c, unsigned dst, struct uring_xmsg *msg);
uint64_t core_random(struct core *c);
uint32_t core_secure_random(struct core *c);

/* ---- session.c ---- */
void session_on_recv(struct uring_conn *conn, void *data, size_t len, unsigned bid);
/* Queues a frame made of a fixed header and a body; cuts the session as a slow consumer when it
 * would pass max_output_bytes. Returns 0, -ENOBUFS (cut), -EPIPE (closing) or another -errno of
 * uring_conn_write (the session is closed then). */
int session_write2(struct session *s, const void *a, size_t alen, const void *b, size_t blen);
/* Encodes o and queues it as session_write2 does. Returns as session_write2, -ENOMEM, or
 * BROKER_ETRPC(TRPC_E_x) when the codec refuses o. */
int session_send(struct session *s, const struct wire_out *o);
/* ERR frames: code is a wire code (TRPC_E_x > 0); a broker error goes through broker_err_wire()
 * first (src/err.h). fatal (and session_fail): the session closes after the frame. */
void session_send_err(struct session *s, uint64_t id, int code, bool fatal, const char *msg);
void session_fail(struct session *s, uint64_t id, int code, const char *msg);
void session_send_pong(struct session *s, uint64_t id);
/* Stops parsing the session's frames after the current one, and reading its socket. */
void session_rx_pause(struct session *s);
/* Parses what was held back, then reads again, unless something paused it once more. */
void session_rx_resume(struct session *s);
/* A closing session gives back the receive buffers it held. */
void session_rx_release(struct session *s);
/* Byte offset 32 of a decoded frame (topic, headers, payload in a row), or NULL when empty. */
const uint8_t *frame_body(const struct wire_frame *f);

/* ---- route.c ---- */
/* SUB and UNSUB. Return 0, BROKER_ETRPC(TRPC_E_x) for a refusal the client caused (duplicate or
 * unknown id, limit, bad :group, :durable) or -errno (-ENOMEM). */
int route_sub(struct session *s, const struct wire_frame *f);
int route_unsub(struct session *s, uint64_t sid);
void route_pub(struct session *s, const struct wire_frame *f);
/* Drops every subscription of a closing session (and tells the other cores). */
void route_session_gone(struct session *s);
void route_xmsg(struct core *c, unsigned src, const struct uring_xmsg *m);
/* Frees a cross-core message nobody will handle (shutdown). */
void route_xmsg_discard(const struct uring_xmsg *m);
/* Collects the matches of topic into c->match. */
size_t route_match(struct core *c, const char *topic, size_t len);
void route_free_core(struct core *c);
void route_hold_pong(struct session *s, uint64_t id);
/* Called by every sweep: frees the recycled blocks when no copy used them since the last one. */
void route_recycle_trim(struct core *c);
/* Frees the match scratch arrays grown past their usual size (the sweep, once quiet). */
void route_shrink(struct core *c);

/* ---- request.c ---- */
int request_init(struct core *c);
void request_free(struct core *c);
void request_req(struct session *s, const struct wire_frame *f);
void request_rep(struct session *s, const struct wire_frame *f);
void request_xreq(struct core *c, struct xreq *x);
void request_xrep(struct core *c, unsigned src, struct xrep *x);
void request_xrep_fail(struct core *c, uint64_t token);
/* A staged X_REQ or X_REP leaves: written directly if `direct` and possible, else pushed. */
void request_flush_staged(struct core *c, unsigned dst, struct uring_xmsg *m, uint32_t cost, bool direct);
/* The requester closed: forget its pending requests. */
void request_requester_gone(struct session *s);
/* Shutdown: answers each request s waits for with REP ERROR SHUTTING_DOWN. Returns how many are
 * left, claimed by a responder's core: their one REP is the reply that core writes or hands back. */
unsigned request_requester_stop(struct session *s);
/* The responder subscription left this core's replica; conn_gone: because its connection closed. */
void request_responder_gone(struct core *c, struct rsub *r, bool conn_gone);
void request_timer_stop(struct core *c);
/* Forgets the entries other cores claimed and answered (called by the sweep; requests and the
 * timer do it themselves). */
void request_reap(struct core *c);
/* Delivers a request to a local responder subscription. */
int request_deliver(struct session *resp, uint64_t sid, uint64_t token, uint32_t ms_left, uint16_t topic_len, uint32_t hdr_len,
                    const uint8_t *body, uint32_t body_len);

#endif
