/*
 * group: consumer groups (durable consumers) of streams (docs/architecture.md, "Consumer
 * groups"). Not a public API.
 *
 * A SUB with `:durable NAME` on a pattern that a stream covers joins consumer group NAME of that
 * stream; the group lives on the stream's owner core, which reads the stream's log and delivers
 * each message to one member at a time with ACK_REQUIRED, and redelivers what is not acknowledged
 * (NACK, ack wait) with backoff, up to max_deliveries, then publishes it on its dead-letter topic.
 * The member's side (the session's core) keeps which of its subscriptions are durable and forwards
 * ACK and NACK to the owner.
 *
 * Threads: everything runs on a core, for that core.
 */
#ifndef TRPC_SRC_GROUP_H
#define TRPC_SRC_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "driver/wire.h"
#include "src/policy.h"
#include "uring/uring.h"

#define GROUP_NAME_MAX         64 /* [A-Za-z0-9_-] */
#define GROUPS_PER_STREAM      6  /* each reads the stream with one of the log's iterators */
#define GROUPS_PER_STREAM_TEXT "6"
#define GROUP_WINDOW_MAX       1024 /* a member's in-flight window at most (SUB aux) */
#define GROUP_WINDOW_DEFAULT   256
#define GROUP_ACK_WAIT_MS      30000 /* without trpc-ack-wait */
#define GROUP_DEADLINES        65536 /* deliveries in flight or waiting for their backoff, per core */
#define GROUP_PENDING_MAX      8192  /* messages a group holds, delivered and not settled */
#define GROUP_PENDING_BYTES    (64u << 20)

struct session;
struct stream;

/* What the owner tells of one group (admin API group.list). */
struct group_info {
    char name[GROUP_NAME_MAX + 1];
    char filter[256]; /* cut to fit */
    char dlq[256];    /* "" when none */
    uint32_t max_deliveries, ack_wait_ms;
    uint32_t members;
    uint64_t next_seq;                                    /* the first sequence never delivered */
    uint64_t lag;                                         /* messages stored after next_seq - 1 (its pattern not applied) */
    uint64_t pending, inflight, waiting, lost;            /* not settled: all, sent, waiting to go (again), after a restart */
    uint64_t delivered, redelivered, acked, dead, termed; /* this run; termed: TERM from a member */
};

/* The owner: the groups of st into v (at most GROUPS_PER_STREAM): how many. */
unsigned group_infos(struct stream *st, struct group_info *v);

struct group_core {
    struct uring_tset tset; /* ack waits and backoffs of this core's groups, from its first group on */
    bool tset_on;
    uint64_t next_token; /* of the durable subscriptions of this core's sessions */
};

extern const struct core_module group_module;

/* A SUB with `:durable`: joins the group (true: handled, refused with an ERR when it must be).
 * false: not durable, route it. p: its parsed policy. */
bool group_sub(struct session *s, const struct wire_frame *f, const struct policy *p);
/* UNSUB of a durable subscription: 0, or -ENOENT when sid is not one. */
int group_unsub(struct session *s, uint64_t sid);
/* Whether sid names a durable subscription of s (route.c's duplicate check). */
bool group_has_sub(const struct session *s, uint64_t sid);
/* ACK or NACK from a client. */
void group_settle(struct session *s, const struct wire_frame *f);

#endif
