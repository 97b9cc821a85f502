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
    bool has_backoff;
    uint32_t backoff_initial_ms, backoff_max_ms;
    double backoff_factor;
    uint16_t backoff_jitter_pm;
    uint32_t members;
    uint64_t next_seq;                                    /* the first sequence never delivered */
    uint64_t lag;                                         /* messages stored after next_seq - 1 (its pattern not applied) */
    uint64_t pending, inflight, waiting, lost;            /* not settled: all, sent, waiting to go (again), after a restart */
    uint64_t delivered, redelivered, acked, dead, termed; /* this run; termed: TERM from a member */
    uint64_t expired;                                     /* this run: durable requests past their deadline */
    bool created;                                         /* ADMIN_MB_GROUP add: false when it existed */
    uint64_t dropped;                                     /* ADMIN_MB_GROUP reset: messages forgotten */
};

/* ADMIN_MB_GROUP: an admin API operation on one group, answered on the stream's owner with one
 * struct group_info, or an error: -ESRCH (no such stream), -ENOENT (no such group), -EEXIST (add:
 * it exists with another definition), -ENOSPC (add: the stream has as many as it may), -ERANGE
 * (reset: past the stream's end), -EAGAIN (try again), -ENOMEM, or the stream's log error. */
enum group_op { GROUP_OP_ADD = 1, GROUP_OP_DELETE, GROUP_OP_RESET, GROUP_OP_INFO };

struct group_admin_req {
    uint64_t query;
    uint32_t stream_id;
    uint8_t op; /* GROUP_OP_* */
    char name[GROUP_NAME_MAX + 1];
    struct policy pol;     /* add: its dlq points into text[] */
    uint64_t seq, time_ns; /* reset: to sequence seq, or (seq 0) to the first message stored at time_ns */
    uint16_t pattern_len;  /* add */
    char text[];           /* add: the pattern, then the dead-letter topic */
};

/* The owner's handler of ADMIN_MB_GROUP (stream.c registers it). */
struct core;
struct uring_xmsg;
void group_admin_in(struct core *c, const struct uring_xmsg *m);

/* The owner: the groups of st into v (at most GROUPS_PER_STREAM): how many. */
unsigned group_infos(struct stream *st, struct group_info *v);

struct group_core {
    struct uring_tset tset; /* ack waits and backoffs of this core's groups, from its first group on */
    bool tset_on;
    uint64_t next_token; /* of the durable subscriptions of this core's sessions */
};

extern const struct core_module group_module;

/* A SUB with `:durable`: joins the group (true: handled, refused with an ERR when it must be).
 * false: not durable, route it. p: its parsed policy. A dead-letter topic no stream covers has
 * one made first (the SUB waits for the control thread, group_dlq_stream_in). */
bool group_sub(struct session *s, const struct wire_frame *f, const struct policy *p);
/* ADMIN_MB_DLQ_STREAM (stream.c registers it): the stream is made, or why not; the waiting SUB
 * goes on. */
struct uring_xmsg;
void group_dlq_stream_in(struct core *c, const struct uring_xmsg *msg);
/* UNSUB of a durable subscription: 0, or -ENOENT when sid is not one. */
int group_unsub(struct session *s, uint64_t sid);
/* Whether sid names a durable subscription of s (route.c's duplicate check). */
bool group_has_sub(const struct session *s, uint64_t sid);
/* One durable subscription of s as its SUB made it (joined, or waiting for its dead-letter
 * stream), for a check against new permissions (session_auth.c). Pointers into s's own copy:
 * valid until the subscription ends. */
struct group_sub_view {
    uint64_t sid;
    const char *pattern;
    size_t pattern_len;
    const char *dlq; /* the dead-letter topic its SUB named (dlq_len 0: none) */
    size_t dlq_len;
    const char *name; /* the group's, NUL-terminated */
};
/* The durable subscription after *pos (0: the first) into v: false when none is left, v then
 * untouched. s->dsubs must not change between calls (collect, then unsubscribe). */
bool group_sub_next(const struct session *s, uint32_t *pos, struct group_sub_view *v);
/* The durable subscription sid of s into v: false when it has none, v then untouched. */
bool group_sub_get(const struct session *s, uint64_t sid, struct group_sub_view *v);
/* ACK or NACK from a client. */
void group_settle(struct session *s, const struct wire_frame *f);

#endif
