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

struct group *group_find(struct stream *st, const char *name);
/* A new group of st reading filter with policy p (its start not POLICY_START_TIME: resolved to a
 * sequence first), recorded in the group log: NULL with *err -ENOSPC (the stream has
 * GROUPS_PER_STREAM) or -ENOMEM. */
struct group *group_create(struct stream *st, const char *name, const char *filter, size_t filter_len, const struct policy *p,
                           int *err);
/* Whether g reads filter with policy p (its start aside): a declaration of it again. */
bool group_same_def(const struct group *g, const char *filter, size_t filter_len, const struct policy *p);
/* Tells the members (their subscriptions end with an ERR), records the deletion, frees g. */
void group_delete(struct group *g);
/* Forgets every message not settled and reads on from seq (recorded): how many were forgotten. */
uint64_t group_reset(struct group *g, uint64_t seq);
void group_info_of(const struct group *g, struct group_info *in);

#endif
