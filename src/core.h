/*
 * core: the broker's core threads and what every module of src/ builds on (not a public API).
 *
 * Threads: one core thread per --cores, each with its own uring_loop, listener (SO_REUSEPORT,
 * one port), sessions and module states. The main thread starts the cores, waits for
 * SIGTERM/SIGINT and wakes every core through its eventfd. Every function below runs on the
 * thread of the core it is given, unless it says otherwise.
 *
 * Ownership across cores (docs/architecture.md, "The broker"): nothing is shared but the
 * read-only configuration, the connection counter (one relaxed atomic per accept and close) and
 * the counter blocks. Cores talk through uring_xchan channels (core_push). A cross-core message
 * body is malloc'd by the sending core and handed over: from a successful push on, the receiving
 * core's handler owns it (route.c's recycled PUB copies go back to their sender instead). Remote
 * connections are named by (core, slot, generation), never by pointer. Two exceptions, for the
 * request/reply round trip: connection gates (direct.h) and pending-request claim words
 * (request.h), compare-and-swap protocols on memory that outlives the connections.
 *
 * Modules: routing (route.h), request/reply (request.h) and direct sends (direct.h) each keep
 * their per-core state in a struct of their own, embedded below, and hook into the core through
 * a struct core_module listed in core.c: their cross-core message types, and what they do when a
 * core starts, sweeps, gives memory back and stops, and when a session closes or is shut down.
 * A new module adds its state here, its message types to enum xtype, and its core_module to the
 * table in core.c; nothing else in core.c changes.
 */
#ifndef TRPC_SRC_CORE_H
#define TRPC_SRC_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "src/blist.h"
#include "src/config.h"
#include "src/direct.h"
#include "src/err.h"
#include "src/group.h"
#include "src/request.h"
#include "src/route.h"
#include "src/stats.h"
#include "src/stls.h"
#include "src/stream.h"
#include "uring/uring.h"

#define BROKER_NAME              "trpc-broker/" PACKAGE_VERSION
#define BROKER_OUT_RESERVE       1024       /* output kept free for the ERR that cuts a slow consumer */
#define BROKER_READER_TRIM_NS    1000000000 /* a session idle this long gives back its frame reassembly buffer */
#define BROKER_CLOSE_GRACE_NS    2000000000 /* a flushing close that takes longer is dropped */
#define BROKER_XCHAN_SLOTS       4096
#define BROKER_MBOX_SLOTS        1024        /* each core's mailbox, for threads that are not cores (core_post) */
#define BROKER_MBOX_TYPES        32          /* message types a module may register for the mailboxes */
#define BROKER_XBACKLOG_MAX      65536       /* messages waiting for a full channel, per pair, before PUBs drop */
#define BROKER_XWAIT_CACHE       8192        /* backlog entries a core keeps for reuse (320 KiB) */
#define BROKER_XBYTES_MAX        (64u << 20) /* bytes of droppable messages between two cores, queued or in flight */
#define BROKER_CORES_MAX         1024
#define BROKER_HEAP_MMAP_BYTES   (2u << 20) /* malloc'd blocks this large are mmap'd (main.c, heap_setup) */
#define BROKER_HEAP_TRIM_BYTES   (1u << 20) /* free space kept at the top of a heap */
#define BROKER_TRIM_FREED_BYTES  (1u << 20) /* frees (estimated) after which a quiet core calls malloc_trim */
#define BROKER_TRIM_QUIET_CQES   1000       /* a core that handled fewer CQEs per second than this is quiet */
#define BROKER_BUF_RELEASE_RECVS 64         /* receive buffers filled since the last release before a quiet core releases them */

struct broker;
struct control;
struct core;
struct session;

/* Cross-core message types (uring_xmsg.type), each handled by the module that names it. */
enum xtype {
    X_ERR = 1,  /* core.c. ptr: struct xerr: send a non-fatal ERR to that connection */
    X_SUB,      /* route.c. ptr: struct xsub */
    X_UNSUB,    /* route.c. ptr: struct xunsub */
    X_GONE,     /* route.c. ptr: struct xunsub (sid 0): a connection closed */
    X_ACK,      /* route.c. u64: broadcast seq applied */
    X_PUB,      /* route.c. ptr: struct xpubs, the PUB copies for this core of one loop iteration */
    X_RECYCLE,  /* route.c. ptr: struct xfree chain: PUB copy blocks the sender allocated, handed back */
    X_FRAMES,   /* route_direct.c. ptr: struct xframes: MSG frames for one connection, to queue as they are */
    X_DCOUNT,   /* route_direct.c. ptr: struct xdcounts: deliveries written directly, for the counters */
    X_REQ,      /* request.c. ptr: struct xreq */
    X_REP,      /* request.c. ptr: struct xrep */
    X_REP_FAIL, /* request.c. u64: token; the responder vanished before the request reached it */
    X_GATE,     /* direct.c. u64: slot << 32 | gen: a direct send was short, the rest waits in the gate */
    X_SPUB,     /* stream.c. ptr: struct spub, a PUB for the stream's owner */
    X_SPUBACK,  /* stream.c. ptr: struct spub, back to its publisher's core: stored or refused */
    X_GJOIN,    /* group.c. ptr: struct gjoin: a durable subscription joins its group (to the owner) */
    X_GLEAVE,   /* group.c. ptr: struct gleave: it left (to the owner) */
    X_GACK,     /* group.c. ptr: struct gack: ACK or NACK (to the owner) */
    X_GREFUSE,  /* group.c. ptr: struct grefuse: an ERR for a durable subscription (to its core) */
    X_GMSG,     /* group.c. ptr: struct gmsg: a delivery, the whole MSG frame (to the member's core) */
    X_NTYPES
};

struct xerr {
    uint32_t slot, gen;
    int code; /* TRPC_E_x */
};

/*
 * A module's handling of one cross-core message type. on_msg runs on the receiving core, which
 * owns msg->ptr from then on. discard frees a message nobody will handle (shutdown: on whichever
 * thread finds it); NULL: free(msg->ptr). unstage: the message was staged (direct.h) and leaves
 * now, written straight to its connection if `direct` allows and the module can, else pushed;
 * NULL for types that are never staged.
 */
typedef void core_xmsg_fn(struct core *c, unsigned src, const struct uring_xmsg *msg);
typedef void core_xdiscard_fn(const struct uring_xmsg *msg);
typedef void core_unstage_fn(struct core *c, unsigned dst, struct uring_xmsg *msg, uint32_t cost, bool direct);

struct core_xtype {
    uint32_t type; /* enum xtype */
    core_xmsg_fn *on_msg;
    core_xdiscard_fn *discard;
    core_unstage_fn *unstage;
};

/*
 * A module, as core.c calls it. Every hook may be NULL. In the order of core.c's table:
 *   init          core thread, before its loop exists (the loop's address is final): 0 or -errno
 *   start         core thread, its loop running's first step: before it listens
 *   session_gone  a session closed (its connection is gone; it is freed after the hooks)
 *   session_stop  shutdown, once per session: true holds the session's ERR until the module calls
 *                 core_stop_release() for it (or the session closes)
 *   sub_gone      a subscription left this core's replica (route.c, core_sub_gone); conn_gone:
 *                 because its connection closed. The rsub is freed after the hooks
 *   conn_gone     a connection of core `core` (slot, gen) closed that had a queue-group
 *                 subscription (route.c: on its core, and on the others at its X_GONE), after the
 *                 sub_gone hooks for the subscriptions it still had
 *   flush         the end of every loop iteration, before the doorbells ring
 *   sweep         every sweep of the core (sweep_period_ns)
 *   trim          a quiet core gives memory back: drop caches and scratch grown by a burst
 *   busy          shutting down, the core keeps its loop running while this says true (I/O still
 *                 on the ring); a module that becomes idle calls core_idle()
 *   stop          the core's loop is about to stop: cancel timers, nothing may be armed after
 *   fini          core thread, after its loop was destroyed and every core passed the stop
 *                 barrier (or none ran): free the state
 */
struct core_module {
    const char *name;
    const struct core_xtype *xtypes;
    unsigned nxtypes;
    int (*init)(struct core *c);
    void (*start)(struct core *c);
    bool (*busy)(struct core *c);
    void (*session_new)(struct session *s); /* accepted, counted in nsessions */
    void (*session_gone)(struct session *s);
    bool (*session_stop)(struct session *s);
    void (*sub_gone)(struct core *c, struct rsub *r, bool conn_gone);
    void (*conn_gone)(struct core *c, unsigned core, uint32_t slot, uint32_t gen);
    void (*flush)(struct core *c);
    void (*sweep)(struct core *c);
    void (*trim)(struct core *c);
    void (*stop)(struct core *c);
    void (*fini)(struct core *c);
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
    int tls_listen_fd; /* -1: no TLS listener */
    struct uring_listener tls_listener;
    bool tls_listening;
    int efd;
    struct wake_op wake;
    struct uring_mbox mbox; /* from threads that are not cores (core_post), drained by this loop */
    bool stopping;
    bool stopped;
    bool timers_idle; /* timers stay stopped once the core is shutting down */

    struct session **slots; /* [1, nslots); 0 unused */
    uint32_t *gens;
    uint32_t nslots, slot_cap;
    uint32_t *free_slots;
    uint32_t nfree;
    unsigned nsessions;
    uint64_t next_client;
    struct blist lru;     /* open sessions, least recently heard first */
    struct blist closing; /* closing sessions, oldest first */
    struct uring_timer sweep;
    bool sweep_armed;
    /* Memory given back (core.c, sweep): bytes freed (an estimate, every module adds to it) since
     * the last malloc_trim, as of the last sweep, and the loop's CQEs and output cache then. */
    uint64_t freed_bytes;
    uint64_t freed_at_sweep;
    uint64_t cqes_at_sweep;
    size_t out_cached_at_sweep;
    /* Receive buffer pages given back (core.c, release_bufs): the loop's recv_bufs then, and
     * whether the ring is missing (its registration failed; retried at every sweep). */
    uint64_t recv_bufs_at_release;
    bool bufs_lost;

    struct xout *out;      /* [ncores]: channels to the other cores */
    struct xwait *xw_free; /* backlog entries for reuse, all destinations together */
    uint32_t xw_cached;    /* entries in xw_free, at most BROKER_XWAIT_CACHE */
    struct uring_timer xtimer;
    bool xtimer_armed;
    uint32_t rnd[64];
    unsigned nrnd;
    uint64_t xs; /* xorshift state (core_random) */

    struct broker_core_stats *st;
    /* This core's copy of the settings: b->cfg at start, then what the control thread sends
     * when a live setting changes (admin.c). Read this, never b->cfg, on a core. */
    struct config cfg;
    uint64_t cfg_gen;      /* of the last settings the control thread sent (admin.c) */
    unsigned ka_floor_ms;  /* the least non-zero keepalive a session of this core may have (sweep) */
    uint64_t ka_recalc_ns; /* when the sweep may next look for a higher floor */

    /* The modules' states (core.c's table lists the modules). */
    struct route_core route;
    struct request_core req;
    struct direct_core direct;
    struct stream_core stream;
    struct group_core group;
    struct stls_core stls;
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
    unsigned tls_port;       /* 0: no TLS listener */
    struct stls_server *tls; /* stls.c: the TLS listener's context; NULL when none */
    struct steer *steer;     /* steer.c: what picks a new connection's core */
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

    /* Set by core_start_all before the cores start, read-only after. */
    struct core_xtype xtypes[X_NTYPES];                        /* by uring_xmsg.type */
    struct core_mbox_handler mbox_handlers[BROKER_MBOX_TYPES]; /* by uring_xmsg.type */
    struct control *ctl; /* the control thread (control.h), from control_start to control_free */
    struct http *http;   /* the HTTP thread (http.h), from http_start to http_stop; NULL when off */
    /* The streams when the cores start (control_init); each core's start hook copies it. */
    struct stream_table *streams_boot;
};

/* ---- the main thread ---- */
/* 0, or -errno with why in err. */
int core_start_all(struct broker *b, char *err, size_t errlen);
void core_wake_all(struct broker *b);
void core_join_all(struct broker *b);
/* Before core_start_all: messages of `type` (1 .. BROKER_MBOX_TYPES - 1) posted to a core's
 * mailbox go to on_msg. 0, -EINVAL (bad type, no on_msg) or -EEXIST. */
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

/* ---- a core's own thread ---- */
struct session *core_session(struct core *c, uint32_t slot, uint32_t gen);
/* Shutdown: a module that held s's ERR (core_module.session_stop) lets go; the last one to do so
 * sends it and closes the session. */
void core_stop_release(struct session *s);
/* Shutting down: a module whose busy hook said true is idle now; the core stops if nothing else
 * holds it. */
void core_idle(struct core *c);
/* Runs the modules' sub_gone hooks. */
void core_sub_gone(struct core *c, struct rsub *r, bool conn_gone);
/* Runs the modules' conn_gone hooks. */
void core_conn_gone(struct core *c, unsigned core, uint32_t slot, uint32_t gen);
/* Pushes msg to core dst (not c), waiting in a backlog when the channel is full. cost > 0 marks a
 * droppable message (a PUB copy, a request, a reply) of that many bytes: refused when the bytes between the
 * two cores would pass BROKER_XBYTES_MAX; the receiver gives the cost back (msg->u32 carries it).
 * cost 0: a message that must arrive (subscription updates, bounded by other limits).
 * A message staged for dst (direct_stage) leaves first. Returns 0 or -ENOBUFS (not sent; msg.ptr
 * still the caller's). */
int core_push(struct core *c, unsigned dst, struct uring_xmsg *msg, uint32_t cost);
/* Pushes msg (cost 0) only when it needs no backlog: returns 0 or -EAGAIN (msg.ptr still the
 * caller's). For messages the receiver can do without (returned blocks). */
int core_try_push(struct core *c, unsigned dst, struct uring_xmsg *msg);
/* Makes sure n backlog entries are cached, so that the next n must-arrive pushes (cost 0) cannot
 * fail: 0 or -ENOMEM. For pushes that follow a step that cannot be undone. */
int core_reserve(struct core *c, unsigned n);
/* Whether nothing of ours is on its way to dst: neither in a backlog nor unread in the channel. */
bool core_out_quiet(struct core *c, unsigned dst);
uint64_t core_random(struct core *c);
/* CLOCK_REALTIME in nanoseconds (times shown to people and kept in records); any thread. */
uint64_t core_realtime_ns(void);
uint32_t core_secure_random(struct core *c);

#endif
