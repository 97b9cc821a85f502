/*
 * stats: the broker's per-core counters.
 *
 * Each core writes only its own block (one cache line or more, so cores never share a line) and
 * any thread may read every block: the writer stores with relaxed atomics (it is the only
 * writer, so load + store is exact), readers load with relaxed atomics. A reader gets each
 * counter exact at some recent instant, not a snapshot of all of them at one instant; sums are
 * for dashboards and logs, not for invariants.
 */
#ifndef TRPC_SRC_STATS_H
#define TRPC_SRC_STATS_H

#include <stdint.h>

struct broker;

struct broker_core_stats {
    _Alignas(64) uint64_t connections; /* open now */
    uint64_t accepted;
    uint64_t closed;
    uint64_t refused; /* TOO_MANY_CONNECTIONS */
    uint64_t msgs_in; /* frames received */
    uint64_t bytes_in;
    uint64_t msgs_out; /* MSG frames delivered to subscribers */
    uint64_t bytes_out;
    uint64_t drops;          /* messages a subscriber did not get (cut off, cross-core backlog full) */
    uint64_t slow_consumers; /* connections cut off with SLOW_CONSUMER */
    uint64_t protocol_errors;
    uint64_t idle_timeouts;
    uint64_t subscriptions; /* this core's own, live */
    uint64_t requests;      /* REQ accepted */
    uint64_t request_timeouts;
    uint64_t xmsgs_out;          /* cross-core messages pushed */
    uint64_t xbacklog;           /* cross-core messages that waited for a full channel */
    uint64_t xblk_reused;        /* PUB copies made in a block handed back by their receiver */
    uint64_t xblk_alloc;         /* PUB copies made in a new block of a size class */
    uint64_t xblk_oversize;      /* PUB copies above the largest class: malloc'd, freed by the receiver */
    uint64_t xblk_trimmed;       /* cached blocks freed because the core was idle for a sweep */
    uint64_t xblk_large_peak;    /* most bytes of large blocks this core cached at once */
    uint64_t direct_sends;       /* frames this core wrote straight to another core's connection */
    uint64_t direct_rests;       /* of which the socket took only part: the owner sent the rest */
    uint64_t direct_handbacks;   /* replies claimed by the responder's core but written by the requester's (it was busy) */
    uint64_t heap_trims;         /* malloc_trim calls by the sweep once the core freed much and went quiet */
    uint64_t buf_releases;       /* receive buffer pages given back by the sweep (uring_loop_bufs_release) */
    uint64_t buf_release_errors; /* releases whose new ring failed to register: no recv until a retry works */
    uint64_t rx_pauses;          /* times a connection stopped being read (BROKER_PONGS_MAX PONGs held) */
};

/* The sum over all cores, with the loops' own counters (uring_loop_stats). */
struct broker_stats {
    struct broker_core_stats core;
    uint64_t enobufs;
    uint64_t iterations;
    uint64_t cqes; /* cqes / iterations is the mean number of CQEs per wait */
    uint64_t sends;
    uint64_t short_sends;
    uint64_t gate_waits; /* owner writes that waited for a direct send on the same connection */
};

/* Adds n to counter c of the calling core's own block. */
#define STAT_ADD(blk, field, n) __atomic_store_n(&(blk)->field, (blk)->field + (uint64_t)(n), __ATOMIC_RELAXED)
#define STAT_SUB(blk, field, n) __atomic_store_n(&(blk)->field, (blk)->field - (uint64_t)(n), __ATOMIC_RELAXED)

/* Sums every core's counters into *out; callable from any thread while the broker runs. */
void broker_stats_sum(const struct broker *b, struct broker_stats *out);

#endif
