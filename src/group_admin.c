/*
 * The admin API's operations on one consumer group (group.h, ADMIN_MB_GROUP), on the owner of its
 * stream: add, delete, reset and info. A time (add's start, reset's target) is first looked up in
 * the stream (stream_seek_time, asynchronous); the operation then goes on with the sequence found.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/admin.h"
#include "src/core.h"
#include "src/group.h"
#include "src/group_internal.h"
#include "src/stream_internal.h"

static void answer(struct core *c, struct group_admin_req *r, int err, const struct group *g, bool created, uint64_t dropped)
{
    struct group_info *in = NULL;

    if (err == 0 && g != NULL && (in = malloc(sizeof(*in))) == NULL)
        err = -ENOMEM;
    if (in != NULL) {
        group_info_of(g, in);
        in->created = created;
        in->dropped = dropped;
    }
    admin_part_post(c, r->query, err, in, in != NULL);
    free(r);
}

static void run(struct core *c, struct group_admin_req *r);

struct rseek {
    struct core *c;
    struct group_admin_req *r;
};

static void seeked(void *arg, int err, uint64_t seq)
{
    struct rseek *k = arg;
    struct group_admin_req *r = k->r;
    struct core *c = k->c;

    free(k);
    if (err != 0) {
        answer(c, r, err, NULL, false, 0);
        return;
    }
    r->seq = seq;
    run(c, r);
}

/* Looks time ns up, then runs r again with the sequence found (r is taken). */
static void seek(struct core *c, struct stream *st, struct group_admin_req *r, uint64_t ns)
{
    struct rseek *k = malloc(sizeof(*k));
    uint64_t seq = 0;
    int ret;

    if (k == NULL) {
        answer(c, r, -ENOMEM, NULL, false, 0);
        return;
    }
    *k = (struct rseek){.c = c, .r = r};
    ret = stream_seek_time(st, ns, seeked, k, &seq);
    if (ret == 1)
        seeked(k, 0, seq);
    else if (ret < 0) {
        free(k);
        answer(c, r, ret == -EMFILE ? -EAGAIN : ret, NULL, false, 0);
    }
}

static void run(struct core *c, struct group_admin_req *r)
{
    struct stream *st = stream_find(c, r->stream_id);
    struct group_wait *w;
    struct group *g;
    int err = 0;

    if (st == NULL || st->closing) {
        answer(c, r, -ESRCH, NULL, false, 0);
        return;
    }
    g = group_find(st, r->name);
    if (r->op == GROUP_OP_INFO) { /* what is in memory, the log failed or not */
        answer(c, r, g != NULL ? 0 : -ENOENT, g, false, 0);
        return;
    }
    if (st->w == NULL || st->err != 0 || st->gw == NULL) {
        answer(c, r, -EIO, NULL, false, 0); /* its own error would read as one of the others */
        return;
    }
    if (g == NULL && r->op != GROUP_OP_ADD) {
        answer(c, r, -ENOENT, NULL, false, 0);
        return;
    }
    if (g != NULL && group_starting(g) && r->op != GROUP_OP_DELETE) {
        answer(c, r, -EAGAIN, NULL, false, 0); /* where it starts is being looked up: a moment */
        return;
    }
    w = malloc(sizeof(*w));
    if (w == NULL) {
        answer(c, r, -ENOMEM, NULL, false, 0);
        return;
    }
    *w = (struct group_wait){.st = st, .query = r->query, .gid = g != NULL ? group_id(g) : 0};
    switch (r->op) {
    case GROUP_OP_DELETE:
        w->in = malloc(sizeof(*w->in));
        if (w->in == NULL) {
            free(w);
            answer(c, r, -ENOMEM, NULL, false, 0);
            return;
        }
        group_info_of(g, w->in); /* as it was */
        group_delete(g, w);
        free(r);
        return;
    case GROUP_OP_ADD:
        if (g != NULL) {
            free(w);
            answer(c, r, group_same_def(g, r->text, r->pattern_len, &r->pol) ? 0 : -EEXIST, g, false, 0);
            return;
        }
        w->created = true;
        if (group_create(st, r->name, r->text, r->pattern_len, &r->pol, &err, w) == NULL) {
            free(w);
            answer(c, r, err, NULL, false, 0);
            return;
        }
        free(r);
        return;
    case GROUP_OP_RESET:
        if (r->seq == 0) {
            free(w);
            seek(c, st, r, r->time_ns);
            return;
        }
        if (r->seq > wal_durable_seq(st->w) + 1) {
            free(w);
            answer(c, r, -ERANGE, NULL, false, 0);
            return;
        }
        {
            uint64_t first = stream_first_kept(st);

            group_reset(g, r->seq > first ? r->seq : first, w);
        }
        free(r);
        return;
    default:
        free(w);
        answer(c, r, -EINVAL, NULL, false, 0);
        return;
    }
}

void group_admin_in(struct core *c, const struct uring_xmsg *m)
{
    run(c, m->ptr);
}
