/*
 * route: subscriptions, every core's replica of them (a subject trie) and the fan-out of
 * published messages (route.c has the design). Not a public API.
 *
 * Every function runs on the thread of the core it is given (or the session's core). Other cores
 * reach a core's routing state only through messages (X_SUB, X_UNSUB, X_GONE, X_ACK, X_PUB,
 * X_RECYCLE), handled here.
 */
#ifndef TRPC_SRC_ROUTE_H
#define TRPC_SRC_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/wire.h"
#include "src/blist.h"
#include "src/idmap.h"
#include "uring/uring.h"

#define BROKER_GROUP_MAX           255
#define BROKER_PONGS_MAX           8 /* PONGs held per connection until its subscriptions reached every core */
#define BROKER_RECYCLE_SHIFT       9 /* smallest recycled PUB copy block: 512 bytes */
#define BROKER_RECYCLE_NSMALL      6 /* small classes, powers of two: 512 B .. 16 KiB */
#define BROKER_RECYCLE_STEPS       4 /* large classes per doubling above 16 KiB: 20, 24, 28, 32, 40 KiB .. */
#define BROKER_RECYCLE_NCLS        (BROKER_RECYCLE_NSMALL + 6 * BROKER_RECYCLE_STEPS) /* .. 1 MiB; larger: malloc'd */
#define BROKER_RECYCLE_BYTES       (4u << 20)                                         /* small blocks a core keeps, all cores */
#define BROKER_RECYCLE_LARGE_BYTES (16u << 20) /* large blocks likewise (about 200 copies of 64 KiB + header) */
#define BROKER_RECYCLE_BATCH       32          /* consumed blocks a core gathers before returning them */
#define BROKER_RECYCLE_BATCH_BYTES (1u << 20)  /* or fewer, once they add up to this many bytes */
#define BROKER_XBATCH_BYTES        (16u << 10) /* a batch of PUB copies for one core: its largest block */

#define ROUTE_MEMO_TOPIC 64 /* the longest topic route_match remembers */

struct core;
struct core_module;
struct session;
struct trie;
struct uring_xmsg;

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
    /* request.c's, for the requests this core forwarded to it */
    uint32_t outstanding; /* not yet finished */
    struct blist pending; /* struct preq.resp_node */
    uint64_t delivered;   /* on the owner core: messages delivered to it (admin API) */
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

struct xtarget {
    uint32_t slot, gen;
    uint64_t sid;
};

struct tvec {
    struct xtarget *v;
    uint32_t n, cap;
};

/* A consumed PUB copy block on its way back to (or waiting at) the core that allocated it. */
struct xfree {
    struct xfree *next;
    uint8_t cls;
};

/* Block recycling with one other core, both directions. */
struct xrecycle {
    struct xfree *free[BROKER_RECYCLE_NCLS]; /* blocks for our copies to it, by size class */
    struct xfree *ret;                       /* its copies we consumed, to hand back */
    uint32_t nret;                           /* blocks in ret, fewer than BROKER_RECYCLE_BATCH */
    uint32_t ret_bytes;                      /* their sizes, less than BROKER_RECYCLE_BATCH_BYTES */
};

struct pong_wait {
    uint32_t slot, gen;
    uint64_t id;
    uint64_t seq; /* broadcasts of this core that must have been applied everywhere */
};

/* Direct publishes (route_direct.c): MSG frames a core writes itself to another core's connections. */
#define ROUTE_DIRECT_CONNS      4             /* connections of one other core, per loop iteration */
#define ROUTE_DIRECT_SIDS       4             /* subscriptions of each such connection */
#define ROUTE_DIRECT_BYTES      (1024u << 10) /* frames per connection and write, as the owner's sends; at most max-output-bytes / 4 */
#define ROUTE_DIRECT_MIN_CAP    4096u         /* a frame buffer's first size */
#define ROUTE_DIRECT_COUNTS     16            /* subscriptions whose delivery counts a core owes another */
#define ROUTE_DIRECT_COUNT_NS   100000000ull /* owed counts reach their core after this (a timer) */
#define ROUTE_DIRECT_BUSY_ITERS 8            /* a core that has not waited in this many iterations hands copies over */

/* MSG frames for one connection of another core, in stream order, and how many went to each of
 * its subscriptions. Handed over as X_FRAMES when they cannot be written directly. */
struct xframes {
    uint32_t slot, gen;
    uint32_t len, cap; /* bytes in data, and its size */
    uint32_t nsids;
    uint32_t n[ROUTE_DIRECT_SIDS];     /* frames for each subscription */
    uint32_t bytes[ROUTE_DIRECT_SIDS]; /* and their bytes */
    uint64_t sid[ROUTE_DIRECT_SIDS];
    uint8_t data[];
};

/* Deliveries written directly, for the counters of the subscription's own core (X_DCOUNT). */
struct xdcount {
    uint32_t slot, gen;
    uint64_t sid;
    uint64_t delivered; /* for the subscription's counter */
    uint64_t msgs;      /* for the connection's msgs_out (MSGs, requests) */
    uint64_t bytes;     /* for its bytes_out (replies too) */
};

struct xdcounts {
    uint32_t n;
    struct xdcount v[ROUTE_DIRECT_COUNTS];
};

/* Direct publishes to one other core. */
struct xdirect {
    uint64_t decided; /* the loop iteration `on` was decided in */
    bool on;          /* this iteration's copies for the core are frames here */
    uint8_t nconns;
    struct xframes *conn[ROUTE_DIRECT_CONNS]; /* [nconns) in use; the rest kept for reuse or NULL */
    bool active;                              /* frames were made since the last sweep */
    struct xdcounts counts;
};

/* One core's routing state (struct core.route). */
struct route_core {
    struct trie *trie;
    struct rsub **match; /* route_match results */
    size_t nmatch, match_cap;
    /* The topic match holds the results of, while the trie's generation is memo_gen: a publisher
     * repeating a topic pays a compare, not a walk. memo_len 0: none. */
    uint16_t memo_len;
    uint64_t memo_gen;
    char memo_topic[ROUTE_MEMO_TOPIC];
    struct rsub **gm; /* group members among them */
    size_t ngm, gm_cap;
    uint32_t *rplain;         /* [ncores]: remote plain subscriptions matched there */
    struct tvec *tv;          /* [ncores]: group members chosen on that core */
    struct xrecycle *xr;      /* [ncores]: PUB copy blocks recycled with that core */
    struct xbatch *xb;        /* [ncores]: PUB copies for that core, pushed at the iteration's end */
    struct xdirect *xd;       /* [ncores]: or frames written to its connections from here (route_direct.c) */
    struct uring_timer owed;  /* armed while any xd[].counts are owed */
    bool owed_unarmed;        /* counts are owed but the timer could not start: route_flush retries */
    uint32_t xr_cached;       /* bytes of small classes in every xr[].free, at most BROKER_RECYCLE_BYTES */
    uint32_t xr_cached_large; /* and of large ones, at most BROKER_RECYCLE_LARGE_BYTES */
    bool xr_active;           /* a block was taken or handed back since the last sweep */
    struct idmap rconns;      /* (owner << 32 | slot) -> struct rconn */
    uint64_t bcast_seq;       /* SUB/UNSUB/GONE broadcasts sent */
    uint64_t *acked;          /* [ncores]: highest broadcast each core confirmed */
    struct pong_wait *pongs;  /* FIFO ring */
    uint32_t pong_head, pong_count, pong_cap;
    struct blist rx_resume; /* paused sessions whose held PONGs went below the bound */
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

/* One PUB copy in a batch: its targets, then its body, padded to 8 bytes. */
struct xpub {
    bool rematch; /* deliver to the receiving core's plain subscriptions too */
    uint16_t topic_len;
    uint32_t ntargets;
    uint32_t hdr_len;
    uint32_t body_len; /* frame bytes from offset 32 */
    struct xtarget targets[];
};

/* The PUB copies for one core in a loop iteration (X_PUB), one after another from recs. */
struct xpubs {
    uint8_t cls;   /* size class of the block, BROKER_RECYCLE_NCLS: malloc'd to size, freed */
    uint32_t n;    /* copies */
    uint32_t used; /* bytes of the block in use, this header included */
    uint32_t cap;  /* the block's size */
    uint64_t recs[];
};

/* The batch of copies for one core that is being filled (route.c). */
struct xbatch {
    struct xpubs *b;
    uint32_t grow; /* the next block's size at least: doubled each time one fills in an iteration */
};

extern const struct core_module route_module;

/* SUB and UNSUB. Return 0, BROKER_ETRPC(TRPC_E_x) for a refusal the client caused (duplicate or
 * unknown id, limit, bad :group, :durable) or -errno (-ENOMEM). */
int route_sub(struct session *s, const struct wire_frame *f);
int route_unsub(struct session *s, uint64_t sid);
void route_pub(struct session *s, const struct wire_frame *f);
/* A PING: its PONG goes once this core's earlier broadcasts were applied everywhere. */
void route_hold_pong(struct session *s, uint64_t id);
/* Collects the subscriptions matching topic into c->route.match; returns how many. */
size_t route_match(struct core *c, const char *topic, size_t len);
/* For a caller that changes c->route.match: the next route_match walks the trie again. */
void route_match_forget(struct core *c);
/* Pushes the batch of PUB copies for dst, if there is one: core.c, before any other message for
 * dst, so that the channel keeps the order in which they were made. */
void route_batch_push(struct core *c, unsigned dst);
/* Whether PUB copies for dst wait in a batch, or frames for its connections (route_direct.c). */
bool route_batch_pending(const struct core *c, unsigned dst);

/* route_direct.c, for route.c. route_direct_copy: the copy of f for core d as frames for d's
 * connections, written from here at the iteration's end; false: send a copy instead (n: the
 * matches in c->route.match, of which d's plain ones are targets when c->route.rplain[d]). */
bool route_direct_copy(struct core *c, unsigned d, const struct wire_frame *f, const uint8_t *body, uint32_t body_len, size_t n);
bool route_direct_pending(const struct core *c, unsigned d);
/* The frames for d are pushed (something else goes to d now, which they must precede). */
void route_direct_push(struct core *c, unsigned d);
void route_direct_flush(struct core *c, unsigned d);
void route_direct_sweep(struct core *c); /* buffers unused since the last sweep are freed */
void route_direct_stop(struct core *c);
/* route_flush, each iteration: the owed counts' timer, if it could not start before. */
void route_direct_rearm(struct core *c);
/* Counts owed to core d for connection (slot, gen) after a direct request (sid: its
 * subscription, msgs 1) or reply (msgs 0) was written to it. */
void route_direct_owe(struct core *c, unsigned d, uint32_t slot, uint32_t gen, uint64_t sid, uint64_t msgs, uint64_t bytes);
/* route.c: the per-destination scratch (rplain, tv, xr, xb, xd), once. 0 or -ENOMEM. */
int route_scratch(struct core *c);
void route_direct_trim(struct core *c);
void route_direct_fini(struct core *c);
void route_direct_frames_in(struct core *c, unsigned src, const struct uring_xmsg *m);
void route_direct_counts_in(struct core *c, unsigned src, const struct uring_xmsg *m);

#endif
