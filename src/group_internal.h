/*
 * What group.c offers group_admin.c: the admin API's operations on a consumer group, on the
 * owner core of its stream. Not for other files: they go through group.h.
 */
#ifndef TRPC_SRC_GROUP_INTERNAL_H
#define TRPC_SRC_GROUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/group.h"
#include "src/policy.h"

struct group;
struct stream;

/* An admin answer (ADMIN_MB_GROUP's) that waits for the group log record of its change to be
 * durable: posted then with in (or, in NULL, the group of id gid as it is then), or with an error. */
struct group_wait {
    struct stream *st;
    uint64_t query;
    uint32_t gid;
    struct group_info *in; /* taken */
    bool created;
    uint64_t dropped;
};
/* Posts w's answer (err 0: its group info) and frees w; NULL: nothing. */
void group_wait_post(struct group_wait *w, int err);

struct group *group_find(struct stream *st, const char *name);
uint32_t group_id(const struct group *g);
/* Its start time is being looked up: nothing of it recorded yet. */
bool group_starting(const struct group *g);
/* A new group of st reading filter with policy p, recorded in the group log (a start at a time
 * once the time is found in the stream: meanwhile it takes members and delivers nothing), w (may
 * be NULL) posted once that record is durable. NULL with *err -ENOSPC (the stream has
 * GROUPS_PER_STREAM), -EAGAIN (no reader left for the time) or -ENOMEM; w is not taken then. */
struct group *group_create(struct stream *st, const char *name, const char *filter, size_t filter_len, const struct policy *p,
                           int *err, struct group_wait *w);
/* Whether g reads filter with policy p (its start aside): a declaration of it again. */
bool group_same_def(const struct group *g, const char *filter, size_t filter_len, const struct policy *p);
/* Tells the members (their subscriptions end with an ERR), records the deletion (w posted once
 * durable), frees g. */
void group_delete(struct group *g, struct group_wait *w);
/* Forgets every message not settled and reads on from seq, recorded (w posted once durable): how
 * many were forgotten. */
uint64_t group_reset(struct group *g, uint64_t seq, struct group_wait *w);
void group_info_of(const struct group *g, struct group_info *in);

#endif
