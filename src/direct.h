/*
 * direct: a core writing a frame straight to another core's connection (docs/architecture.md,
 * "Direct sends"). Not a public API.
 *
 * A request or a reply bound for another core's connection is staged until the end of the loop
 * iteration (direct_stage); alone then, and with the destination core asleep, it is written to
 * the connection's socket through the connection's gate (uring_gate, uring/gate.c) instead of
 * waking that core; otherwise it is pushed as any message. Every function runs on the thread of
 * the core it is given. The gate table of a core is written by the other cores through
 * uring_gate_send only; it lives from the core's init until every core has passed the stop
 * barrier.
 *
 * Gates are opt-in per connection: a session gets one only through direct_gate_open. A connection
 * whose bytes must pass through a user-space layer (TLS without kernel offload) switches it off
 * for good with uring_conn_gate_close() at accept (a later direct_gate_open then does nothing);
 * without a gate every frame for it is pushed to its core.
 */
#ifndef TRPC_SRC_DIRECT_H
#define TRPC_SRC_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "uring/uring.h"

#define BROKER_DIRECT_MAX 16384 /* largest frame a core writes to another core's connection */

struct core;
struct core_module;
struct session;

/* A message staged for one destination core. */
struct direct_stage {
    bool staged;
    uint32_t cost;
    struct uring_xmsg msg;
};

/* One core's direct-send state (struct core.direct). */
struct direct_core {
    struct uring_gate *gates; /* [ngates], by slot: other cores write through them (mmap'd, never moved) */
    uint32_t ngates;
    struct direct_stage *stage; /* [ncores] */
    unsigned *staged;           /* [ncores]: destinations with a staged message (may have left since) */
    unsigned nstaged;
};

extern const struct core_module direct_module;

/* core_push for a message whose type has an unstage handler (core_xtype): when nothing else went
 * to dst in this loop iteration, the message waits for the iteration's end instead; alone then,
 * its handler may write it straight to its connection if dst sleeps, else it is pushed. A
 * message pushed to dst meanwhile pushes it first. Returns as core_push (a later failure is
 * handled by the unstage handler as the caller would have). */
int direct_stage(struct core *c, unsigned dst, struct uring_xmsg *msg, uint32_t cost);
/* core.c, before a push to dst: the message staged for dst leaves first (pushed). */
void direct_unstage(struct core *c, unsigned dst);
/* Whether a frame of len bytes for core dst may be written directly now (the connection aside):
 * direct sends on, dst asleep (a busy core batches better than one syscall per frame), and
 * nothing of ours on its way to dst. */
bool direct_ok(struct core *c, unsigned dst, size_t len);
/* Writes iov[0, n) straight to connection (dst, slot, gen) of core dst, once direct_ok() said
 * yes, if the connection has a gate and nothing queued; a short write leaves the rest to the
 * owner, told with X_GATE. Returns 0 once sent (whole or in part), or a negative errno with
 * nothing sent: push the message instead. */
int direct_send(struct core *c, unsigned dst, uint32_t slot, uint32_t gen, const struct iovec *iov, unsigned n);
/* Whether connection (dst, slot, gen) has a gate a direct send could take now (a hint:
 * direct_send decides). */
bool direct_gate_idle(struct core *c, unsigned dst, uint32_t slot, uint32_t gen);
/* The session becomes open: other cores may write to it directly (if direct sends are on). */
void direct_gate_open(struct session *s);

#endif
