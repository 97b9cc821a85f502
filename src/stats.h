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

#include <stdbool.h>
#include <stdint.h>

struct broker;

/*
 * The one list of counters: it generates the fields of struct broker_core_stats and struct
 * broker_stats, the summing in broker_stats_sum(), the name table behind broker_stats_foreach()
 * and the stats line logged at shutdown (main.c). Add a counter here and nowhere else.
 *
 * XX(src, name, kind, line, help)
 *   src   CORE: a field of struct broker_core_stats, written by the broker with STAT_ADD/STAT_SUB;
 *         LOOP: a field of struct uring_loop_stats (uring/uring.h), written by the core's loop.
 *   name  the field, and the counter's name on the stats line and for the dashboard.
 *   kind  COUNTER: only grows, summed over cores; GAUGE: a current value, summed over cores;
 *         PEAK: a high-water mark, the largest core's value.
 *   line  LINE: on the stats line, in this list's order (tests grep it: keep the order);
 *         NOLINE: summed and iterated but not logged.
 *   help  one line for the dashboard and a future /metrics.
 */
#define BROKER_STATS_MAP(XX)                                                                                                       \
    XX(CORE, connections, GAUGE, NOLINE, "connections open now")                                                                   \
    XX(CORE, closed, COUNTER, NOLINE, "connections closed")                                                                        \
    XX(CORE, subscriptions, GAUGE, NOLINE, "subscriptions live, each counted on the core of its connection")                       \
    XX(LOOP, sends, COUNTER, NOLINE, "send SQEs completed")                                                                        \
    XX(LOOP, short_sends, COUNTER, NOLINE, "sends that took less than was offered; the rest went in the next")                     \
    XX(CORE, accepted, COUNTER, LINE, "connections accepted")                                                                      \
    XX(CORE, refused, COUNTER, LINE, "connections refused with TOO_MANY_CONNECTIONS")                                              \
    XX(CORE, msgs_in, COUNTER, LINE, "frames received")                                                                            \
    XX(CORE, bytes_in, COUNTER, LINE, "bytes received")                                                                            \
    XX(CORE, msgs_out, COUNTER, LINE, "MSG frames delivered to subscribers")                                                       \
    XX(CORE, bytes_out, COUNTER, LINE, "bytes of MSG frames delivered to subscribers")                                             \
    XX(CORE, drops, COUNTER, LINE, "messages a subscriber did not get (cut off, cross-core backlog full)")                         \
    XX(CORE, slow_consumers, COUNTER, LINE, "connections cut off with SLOW_CONSUMER")                                              \
    XX(CORE, protocol_errors, COUNTER, LINE, "connections closed for a protocol error")                                            \
    XX(CORE, idle_timeouts, COUNTER, LINE, "connections closed for idleness")                                                      \
    XX(CORE, requests, COUNTER, LINE, "REQ frames accepted")                                                                       \
    XX(CORE, request_timeouts, COUNTER, LINE, "requests answered with TIMEOUT")                                                    \
    XX(CORE, xmsgs, COUNTER, LINE, "cross-core messages pushed")                                                                   \
    XX(CORE, xbacklog, COUNTER, LINE, "cross-core messages that waited for a full channel")                                        \
    XX(CORE, xblk_reused, COUNTER, LINE, "blocks of PUB copies taken from those handed back by their receiver")                    \
    XX(CORE, xblk_alloc, COUNTER, LINE, "blocks of PUB copies allocated anew, of a size class")                                    \
    XX(CORE, xblk_oversize, COUNTER, LINE, "blocks of PUB copies above the largest class: malloc'd, freed by the receiver")        \
    XX(CORE, xblk_trimmed, COUNTER, LINE, "cached blocks freed because the core was idle for a sweep")                             \
    XX(CORE, xblk_large_peak, PEAK, LINE, "most bytes of large blocks one core cached at once")                                    \
    XX(CORE, direct_sends, COUNTER, LINE,                                                                                          \
       "writes a core made straight to another core's connection (a request, a reply, a batch of MSGs)")                           \
    XX(CORE, direct_rests, COUNTER, LINE, "direct sends the socket took only part of: the owner sent the rest")                    \
    XX(CORE, direct_pubs, COUNTER, LINE, "MSG frames of PUBs a core wrote straight to another core's subscribers")                 \
    XX(CORE, direct_pub_handoffs, COUNTER, LINE,                                                                                   \
       "MSG frames of PUBs for another core's connection handed to that core (it was busy)")                                       \
    XX(CORE, direct_handbacks, COUNTER, LINE, "replies claimed by the responder's core but written by the requester's (busy)")     \
    XX(CORE, heap_trims, COUNTER, LINE, "malloc_trim calls by the sweep once a core freed much and went quiet")                    \
    XX(CORE, buf_releases, COUNTER, LINE, "receive buffer pages given back by the sweep (uring_loop_bufs_release)")                \
    XX(CORE, buf_release_errors, COUNTER, LINE, "releases whose new ring failed to register: no recv until a retry works")         \
    XX(LOOP, gate_waits, COUNTER, LINE, "owner writes that waited for a direct send on the same connection")                       \
    XX(LOOP, gate_defers, COUNTER, LINE, "owner writes whose direct sender outlasted a short wait: sent by a later iteration")     \
    XX(CORE, tls_user, GAUGE, LINE, "connections whose TLS runs in user space (OpenSSL over memory) now")                          \
    XX(CORE, tls_kernel, GAUGE, LINE, "connections whose TLS records the kernel makes (kernel TLS) now")                           \
    XX(CORE, tls_handshakes, COUNTER, LINE, "TLS handshakes completed")                                                            \
    XX(CORE, tls_failures, COUNTER, LINE, "TLS handshakes that failed (bad certificate, not TLS, no common version...)")           \
    XX(CORE, tls_timeouts, COUNTER, LINE, "TLS handshakes not done within tls-handshake-timeout")                                  \
    XX(CORE, rx_pauses, COUNTER, LINE, "times a connection stopped being read (BROKER_PONGS_MAX PONGs held)")                      \
    XX(LOOP, enobufs, COUNTER, LINE, "recvs stopped because the buffer ring was empty")                                            \
    XX(LOOP, iterations, COUNTER, LINE, "loop iterations (waits for CQEs)")                                                        \
    XX(LOOP, cqes, COUNTER, LINE, "CQEs handled; cqes / iterations is the mean number per wait")

#define BROKER_STATS_CORE_FIELD_CORE(name) uint64_t name;
#define BROKER_STATS_CORE_FIELD_LOOP(name)
#define BROKER_STATS_CORE_FIELD(src, name, kind, line, help) BROKER_STATS_CORE_FIELD_##src(name)
#define BROKER_STATS_LOOP_FIELD_CORE(name)
#define BROKER_STATS_LOOP_FIELD_LOOP(name)                   uint64_t name;
#define BROKER_STATS_LOOP_FIELD(src, name, kind, line, help) BROKER_STATS_LOOP_FIELD_##src(name)

/* One core's own counters (the CORE rows), aligned so that blocks of two cores never share a line. */
struct broker_core_stats {
    _Alignas(64) struct {
        BROKER_STATS_MAP(BROKER_STATS_CORE_FIELD)
    };
};

/* The sum over all cores: the CORE rows in core, the loops' own counters (the LOOP rows) beside. */
struct broker_stats {
    struct broker_core_stats core;
    BROKER_STATS_MAP(BROKER_STATS_LOOP_FIELD)
};

#define BROKER_STATS_COUNT_ROW(src, name, kind, line, help) +1
/* The rows of BROKER_STATS_MAP. */
#define BROKER_STATS_ROWS (0 BROKER_STATS_MAP(BROKER_STATS_COUNT_ROW))

enum broker_stat_kind { BROKER_STAT_COUNTER, BROKER_STAT_GAUGE, BROKER_STAT_PEAK };

/* Adds n to counter c of the calling core's own block. */
#define STAT_ADD(blk, field, n) __atomic_store_n(&(blk)->field, (blk)->field + (uint64_t)(n), __ATOMIC_RELAXED)
#define STAT_SUB(blk, field, n) __atomic_store_n(&(blk)->field, (blk)->field - (uint64_t)(n), __ATOMIC_RELAXED)

/* Sums every core's counters into *out; callable from any thread while the broker runs. */
void broker_stats_sum(const struct broker *b, struct broker_stats *out);

/* One core's counters (core < b->ncores) into *out, as broker_stats_sum would give them for a
 * broker of that core alone; callable from any thread while the broker runs. */
void broker_stats_core(const struct broker *b, unsigned core, struct broker_stats *out);

/*
 * Calls fn once per row of BROKER_STATS_MAP, in the list's order, with the row's name, kind, help
 * and value in *s; on_line tells whether the row is on the stats line. Stops at the first fn that
 * returns nonzero and returns that value; returns 0 after the last row.
 */
int broker_stats_foreach(const struct broker_stats *s,
                         int (*fn)(void *arg, const char *name, enum broker_stat_kind kind, bool on_line, const char *help,
                                   uint64_t value),
                         void *arg);

#endif
