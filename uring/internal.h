/*
 * Private to the uring/ sources: list helpers, user_data tags and the hooks the loop calls in the other
 * files. Nothing outside uring/ includes this.
 */
#ifndef TRPC_URING_INTERNAL_H
#define TRPC_URING_INTERNAL_H

#include <assert.h>
#include <stdint.h>

#include "uring/uring.h"

/* user_data is a pointer with its low bits as a tag (struct uring_op is 8-aligned), or for tag
 * URING_TAG_SOURCE (uring.h) a source id and that source's payload (docs/uring.md section 3). */
#define URING_TAG_OP        0UL /* struct uring_op */
#define URING_TAG_BELL      1UL /* struct uring_xchan whose doorbell rang on this (the dst) ring */
#define URING_TAG_UNCOUNTED 2UL /* struct uring_op of an SQE not counted in flight (success posts no CQE) */
#define URING_TAG_MASK      7UL
_Static_assert(URING_TAG_SOURCE == 3, "the source tag is the next free one");
_Static_assert(URING_SOURCES_MAX < 1U << (URING_SOURCE_PAYLOAD_SHIFT - URING_SOURCE_ID_SHIFT), "ids fit bits 3..15");
_Static_assert(URING_SOURCE_PAYLOAD_SHIFT + URING_SOURCE_PAYLOAD_BITS == 64, "the payload takes the high bits");

static inline void ulist_init(struct uring_list *l)
{
    l->next = l;
    l->prev = l;
}

static inline bool ulist_empty(const struct uring_list *l)
{
    return l->next == l;
}

/* A node not on any list points at itself, so unlinking twice is harmless. */
static inline void ulist_del(struct uring_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n;
    n->prev = n;
}

static inline void ulist_add_tail(struct uring_list *head, struct uring_list *n)
{
    assert(n->next == n);
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

#define ulist_entry(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* bufring.c */
int uring__bufring_init(struct uring_loop *loop, unsigned count, unsigned size);
void uring__bufring_free(struct uring_loop *loop);
/* A CQE handed buffer `bid` to user space. */
void uring__buf_taken(struct uring_loop *loop, unsigned bid);
unsigned uring__bufs_free(const struct uring_loop *loop);
/* Between iterations, while loop->_bufs_refill: fills the ring registered by a release that could
 * not fill it at once (bufring.c, uring_loop_bufs_release). */
void uring__bufring_refill(struct uring_loop *loop);

/* Connection state bits (conn.c, send.c). */
#define CONN_RECV_ARMED    (1U << 0)
#define CONN_SEND_INFLIGHT (1U << 1)
#define CONN_CLOSING       (1U << 2)
#define CONN_CLOSE_NOW     (1U << 3)
#define CONN_CLOSED        (1U << 4)
#define CONN_GATE_HELD     (1U << 5)  /* the owner holds the connection's gate (gate.c) */
#define CONN_RECV_PAUSED   (1U << 6)  /* uring_conn_recv_pause(): recv stays disarmed */
#define CONN_RECV_CANCEL   (1U << 7)  /* a pause cancelled the armed recv; its last CQE is due */
#define CONN_GATE_WAIT     (1U << 8)  /* on loop->_gate_wait: a foreign sender still has the gate (gate.c) */
#define CONN_GATE_OFF      (1U << 9)  /* uring_conn_gate_close(): no gate, now or later */
#define CONN_FILTER_CLOSED (1U << 10) /* the filter's closing() ran */

/* Gate states (gate.c), in the low bits of the gate word below the generation. */
#define GATE_CLOSED     0U
#define GATE_IDLE       1U
#define GATE_OWNER      2U
#define GATE_FOREIGN    3U
#define GATE_REST       4U
#define GATE_STATE_MASK 0xffU
/* A flag above the state: the owner waits for the gate; no foreign sender may take it (gate.c). */
#define GATE_WANTED 0x100U

static inline uint64_t gate_word(uint32_t gen, unsigned state)
{
    return (uint64_t)gen << 32 | state;
}

/* conn.c, for send.c */
void uring__conn_fail(struct uring_conn *c, int err);
void uring__conn_maybe_finish(struct uring_conn *c);
void uring__conn_queue_flush(struct uring_conn *c);

/* send.c, for conn.c */
void uring__send_init(struct uring_conn *c);
/* Output (copied or referenced) waiting to be sent. */
bool uring__send_pending(const struct uring_conn *c);
/* Starts the next send if none is in flight and something waits. */
void uring__send_next(struct uring_conn *c);
/* At close, nothing in flight: releases payloads never sent; false while notifications are due. */
bool uring__send_release_all(struct uring_conn *c);
/* The loop's cache of output chunks: sized at init, emptied at destroy. */
void uring__send_pool_init(struct uring_loop *loop, size_t cache_bytes);
void uring__send_pool_free(struct uring_loop *loop);
/* Once per iteration: shrinks the cache to URING_OUT_CACHE_IDLE after a second without output. */
void uring__send_pool_trim(struct uring_loop *loop);

/* send.c, for gate.c: queues bytes ahead of all output (nothing in flight). 0 or -ENOMEM. */
int uring__send_prepend(struct uring_conn *c, const void *data, size_t len);

/* gate.c: the owner's side of the gate. gate_hold before queueing output: true when the owner may
 * send (gate held, a rest taken, or no gate), false when the connection waits for its gate
 * (CONN_GATE_WAIT: queue, but start no send). gate_retry once per iteration before the flush;
 * gate_release after each send completion (releases once drained); gate_close (held, or no
 * gate) closes it for this connection: before the fd closes, or for good. */
bool uring__gate_hold(struct uring_conn *c);
void uring__gate_retry(struct uring_loop *loop);
void uring__gate_release(struct uring_conn *c);
void uring__gate_close(struct uring_conn *c);

/* conn.c: before each submit, start the sends queued this iteration and re-arm recvs that waited
 * for buffers. */
void uring__conn_flush(struct uring_loop *loop);

/* xcore.c */
void uring__xchan_ring_bells(struct uring_loop *loop);
void uring__xchan_bell(struct uring_loop *loop, struct uring_xchan *ch);

/* An SQE for an op whose success posts no CQE here (MSG_RING with CQE_SKIP_SUCCESS). */
struct io_uring_sqe *uring__sqe_uncounted(struct uring_loop *loop, struct uring_op *op);

/* BUG_ON_HOT in haproxy's sense: checked in debug builds only. */
#define URING_ASSERT(c) assert(c)

/* Adds n to a counter of loop->stats. The loop's thread is its only writer, and other threads read
 * the counters (the broker's /metrics and dashboard): a relaxed atomic store, so that a reader's
 * relaxed load is no data race. */
#define URING_STAT_ADD(loop, field, n) __atomic_store_n(&(loop)->stats.field, (loop)->stats.field + (uint64_t)(n), __ATOMIC_RELAXED)

#endif
