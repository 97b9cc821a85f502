/*
 * Consumer groups (group.h). Two sides:
 *
 * The member's core (the session's) keeps its durable subscriptions in s->dsubs and talks to the
 * owner of the stream: X_GJOIN, X_GLEAVE, X_GACK (ACK and NACK); it writes what the owner sends
 * (X_GMSG, a whole MSG frame) to the session, and turns X_GREFUSE into an ERR.
 *
 * The owner (the stream's core) keeps per group: its definition and policy, its members, and a
 * pending entry per message delivered and not yet settled (struct gpend, with a copy of the
 * record, so that a redelivery needs no read). New messages come from an asynchronous iterator
 * over the stream's log, read only while some member has room in its window. A pending entry is
 * in flight (FLY, the ack wait in the core's timer set), waiting for its backoff (WAIT), ready for
 * the next member with room (READY), known from the group log but without its body after a
 * restart (LOST: the iterator, restarted from the oldest such, picks the body up), or being
 * published as a dead letter (DEAD).
 *
 * The group log (a second WAL per stream, streams/NAME/groups/) records definitions, deliveries
 * (with their count) and settlements; a restart replays it, and every message delivered but not
 * settled is delivered again with its count carried over. Appends do not wait for durability:
 * a crash may lose the last ones, which only means a message is delivered once more (at least
 * once). Compaction: once enough has been appended, a snapshot of each group (its definition,
 * next sequence and every message not settled with its count) goes to the log, and when the
 * snapshots are durable the segments before them are removed; replay starts from whatever is
 * left, a snapshot replacing what the group's earlier records said.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "driver/topic.h"
#include "src/admin.h"
#include "src/admin_api.h"
#include "src/control.h"
#include "src/core.h"
#include "src/group.h"
#include "src/group_internal.h"
#include "src/log.h"
#include "src/session.h"
#include "src/stream_internal.h"

enum { GREC_DEF = 2, GREC_DLV = 3, GREC_ACK = 4, GREC_TERM = 5, GREC_SNAP = 6, GREC_DEL = 7 };
enum { MARK_FIRST = 1, MARK_LAST = 2 };
enum pstate { P_FLY, P_WAIT, P_READY, P_LOST, P_DEAD };

#define GLOG_SEGMENT_BYTES (1u << 20)
#define GLOG_COMPACT_BYTES (256u << 10) /* appended since the last snapshot: time for the next */
#define GLOG_BUFFER_BYTES  (256u << 10)
#define GREC_QUEUE_MAX     (1u << 20) /* group records waiting for the log */
#define DEAD_RETRY_MS      1000

/* ---- messages between the two sides --------------------------------------------------------- */

struct gpolicy {
    uint32_t max_deliveries; /* 0: no limit */
    bool has_backoff;
    uint32_t backoff_initial_ms, backoff_max_ms;
    double backoff_factor;
    uint16_t jitter_pm; /* each backoff is spread by up to this many thousandths of it */
    uint32_t ack_wait_ms;
    int start; /* POLICY_START_* */
    uint64_t start_seq, start_ns;
};

/* A durable subscription is named by (core, slot, gen, sid) and a token of its own, so that a
 * message about an earlier subscription under the same sid never reaches a later one. */
struct gjoin {
    uint32_t stream_id;
    unsigned mcore;
    uint32_t slot, gen;
    uint64_t sid, token, client_id;
    uint32_t window;
    bool has_policy;
    struct gpolicy pol;
    char name[GROUP_NAME_MAX + 1];
    uint16_t pattern_len, dlq_len;
    char text[]; /* pattern, then dlq */
};

struct gleave {
    uint32_t stream_id;
    unsigned mcore;
    uint32_t slot, gen;
    uint64_t sid, token;
    uint32_t gid; /* when name is "" (a member found gone by a delivery) */
    char name[GROUP_NAME_MAX + 1];
};

struct gack {
    struct gleave who;
    uint64_t seq;
    uint8_t type; /* WIRE_ACK, WIRE_NACK, WIRE_PROGRESS or WIRE_TERM */
    uint32_t delay_ms;
    uint16_t reason_len; /* TERM */
    char reason[];
};

struct grefuse {
    uint32_t slot, gen;
    uint64_t sid, token;
    int code;
    bool drop; /* the subscription is gone (a refused join); else only an ERR */
    char why[POLICY_WHY_MAX];
};

struct gmsg {
    uint32_t slot, gen;
    uint64_t sid, token;
    uint32_t stream_id, gid; /* to say the member is gone */
    uint32_t len;
    uint8_t frame[];
};

/* A SUB kept while the control thread makes its dead-letter stream: the frame's fields and its
 * topic and headers, to run again once the stream is there. */
struct dwait {
    uint32_t aux, hdr_len;
    uint16_t topic_len, header_count;
    uint8_t flags;
    uint8_t bytes[]; /* topic, headers */
};

/* The member's side of a durable subscription (s->dsubs). */
struct dsub {
    uint32_t stream_id;
    unsigned owner;
    uint64_t token;
    struct dwait *wait; /* not joined yet: its dead-letter stream is being made */
    char name[GROUP_NAME_MAX + 1];
    uint16_t pattern_len, dlq_len;
    char pattern[]; /* the SUB's, then its dead-letter topic: new permissions are checked against them */
};

/* ---- the owner's state ------------------------------------------------------------------------ */

struct gmember {
    uint32_t mid; /* stable while the member is in the group */
    unsigned core;
    uint32_t slot, gen;
    uint64_t sid, token, client_id;
    uint32_t window, inflight;
};

struct gpend {
    struct uring_deadline dl; /* first: the timer set's callback finds the entry */
    struct group *g;
    uint64_t seq;
    uint32_t count; /* deliveries so far */
    enum pstate state;
    bool dead_fly; /* DEAD: its dead letter is on its way to the dead-letter stream (no timer) */
    uint32_t mid;  /* FLY: to whom */
    const char *reason;
    uint64_t first_ns, last_ns; /* CLOCK_REALTIME of the first and the last delivery */
    uint64_t last_client;
    char *term;         /* a TERM's reason (malloc'd), NULL without */
    struct gpend *next; /* the ready FIFO */
    uint32_t len;
    uint8_t *rec; /* the stream's record; NULL while LOST */
};

struct group {
    struct stream *st;
    uint32_t id;
    char name[GROUP_NAME_MAX + 1];
    char *filter;
    uint16_t filter_len;
    struct gpolicy pol;
    char *dlq;
    uint16_t dlq_len;
    uint64_t next_seq; /* the first sequence never delivered */
    uint64_t scan_seq; /* where the iterator reads next */
    uint32_t nlost;
    struct idmap pend; /* seq -> struct gpend */
    struct gpend *ready_head, *ready_tail;
    struct gmember *members;
    unsigned nmembers, members_cap, rr;
    uint32_t next_mid;
    struct wal_iter *it;
    bool want;       /* pump at the next flush: grown, iterator failed or found the SQ full, timer set full */
    bool dead_retry; /* a dead letter waits for a retry the timer set had no room for */
    uint64_t pend_bytes;
    bool pumping;
    bool starting; /* its start time is being looked up: no delivery, nothing recorded yet */
    uint64_t delivered, redelivered, acked, dead, termed;
    uint64_t expired; /* durable requests settled undelivered: their deadline had passed */
};

struct grec {
    struct grec *next;
    struct group_wait *w; /* an admin answer waiting for this record to be durable, or NULL */
    uint16_t type;
    uint8_t mark; /* MARK_*: of a compaction's snapshots */
    uint32_t len;
    uint8_t data[];
};

struct grec_def {
    uint32_t gid, max_deliveries, backoff_initial_ms, backoff_max_ms;
    double backoff_factor;
    uint32_t ack_wait_ms;
    uint8_t has_backoff, pad[3];
    uint64_t next_seq;
    uint16_t name_len, filter_len, dlq_len, jitter_pm;
};

struct grec_seq {
    uint32_t gid, count;
    uint64_t seq;
};

/* A snapshot (GREC_SNAP) is a definition record, then one of these per message not settled. */
struct grec_pend {
    uint64_t seq;
    uint32_t count, pad;
};

static void gpolicy_of(const struct policy *p, struct gpolicy *g)
{
    *g = (struct gpolicy){.max_deliveries = p->max_deliveries,
                          .has_backoff = p->has_backoff,
                          .backoff_initial_ms = p->backoff_initial_ms,
                          .backoff_max_ms = p->backoff_max_ms,
                          .backoff_factor = p->backoff_factor,
                          .jitter_pm = p->backoff_jitter_pm,
                          .ack_wait_ms = p->ack_wait_ms,
                          .start = p->start,
                          .start_seq = p->start_seq,
                          .start_ns = p->start_ns};
}

/* ---- the group log ------------------------------------------------------------------------------ */

/* A group record was not stored: said once per failure of the log, not once per record. */
static void glog_lost(struct stream *st, int err)
{
    assert(err < 0);
    if (err == -ECANCELED)
        return; /* closed with it pending: the log's failure was counted, or the stream goes */
    if (err == -EMSGSIZE) {
        log_error(st->c->id, "stream %s: a group record too large for the group log was dropped", st->name);
        return;
    }
    st->glog_dropped++;
    if (st->gw_err != 0)
        return;
    st->gw_err = err;
    st->greopen_ms = st->greopen_ms == 0 ? STREAM_REOPEN_MIN_MS : st->greopen_ms * 2;
    if (st->greopen_ms > STREAM_REOPEN_MAX_MS)
        st->greopen_ms = STREAM_REOPEN_MAX_MS;
    st->greopen_ns = uring_now_ns() + (uint64_t)st->greopen_ms * 1000000;
    log_error(st->c->id,
              "stream %s: group log write failed: %s; groups go on, their records are dropped until it is open again (a restart "
              "may deliver again)",
              st->name, strerror(-err));
}

static void glog_noop(void *arg, uint64_t seq, int res)
{
    struct stream *st = arg;

    (void)seq;
    if (res < 0)
        glog_lost(st, res);
    else if (st->gw_err == 0)
        st->greopen_ms = 0; /* the log works: a later failure waits the least again */
}

static void glog_truncated(void *arg, int res)
{
    struct stream *st = arg;

    if (res < 0 && res != -ECANCELED)
        log_warn(st->c->id, "stream %s: removing old group log segments: %s; tried again at the next compaction", st->name,
                 strerror(-res));
}

/* The last snapshot of a compaction is durable, and every one before it: what precedes the first
 * is no longer needed. */
static void glog_compacted(void *arg, uint64_t seq, int res)
{
    struct stream *st = arg;
    int ret;

    st->compacting = false;
    if (res < 0) {
        glog_noop(arg, seq, res);
        return;
    }
    st->compactions++;
    ret = wal_truncate_before(st->gw, st->compact_from, glog_truncated, st);
    if (ret < 0 && ret != -EAGAIN)
        glog_truncated(st, ret);
}

struct group *group_by_id(struct stream *st, uint32_t id);

void group_wait_post(struct group_wait *w, int err)
{
    struct group *g;

    if (w == NULL)
        return;
    if (err == 0 && w->in == NULL) {
        /* The group as it is now, found by id: one of the same name made since is not it. */
        g = group_by_id(w->st, w->gid);
        if (g == NULL || g->starting || (w->in = malloc(sizeof(*w->in))) == NULL)
            err = g == NULL ? -ENOENT : -ENOMEM;
        else
            group_info_of(g, w->in);
    }
    if (err == 0) {
        w->in->created = w->created;
        w->in->dropped = w->dropped;
        admin_part_post(w->st->c, w->query, 0, w->in, 1);
    } else {
        admin_part_post(w->st->c, w->query, err, NULL, 0);
        free(w->in);
    }
    free(w);
}

/* What the answer will say: the group as the change left it (or, out of memory, as it is when the
 * record is durable). */
static void wait_fill(struct group_wait *w, const struct group *g)
{
    if (w != NULL && w->in == NULL && (w->in = malloc(sizeof(*w->in))) != NULL)
        group_info_of(g, w->in);
}

/* The record an admin answer waited for is durable (or failed). */
static void glog_waited(void *arg, uint64_t seq, int res)
{
    struct group_wait *w = arg;

    glog_noop(w->st, seq, res);
    group_wait_post(w, res < 0 ? -EIO : 0);
}

static int glog_append(struct stream *st, uint16_t type, const void *data, uint32_t len, unsigned mark, struct group_wait *w)
{
    uint64_t seq;
    int ret = wal_append(st->gw, type, data, len,
                         w != NULL          ? glog_waited
                         : mark & MARK_LAST ? glog_compacted
                                            : glog_noop,
                         w != NULL ? (void *)w : st, &seq);

    if (ret == 0) {
        st->glog_bytes += len;
        if (mark & MARK_FIRST)
            st->compact_from = seq;
    }
    return ret;
}

/* Appends a record (data, then tail), or queues it while the log's buffers are busy: 0, or -ENOMEM
 * when it is dropped (logged). w (may be NULL) is posted once the record is durable, or failed. */
static int glog(struct stream *st, uint16_t type, const void *data, uint32_t len, const void *tail, uint32_t tail_len,
                unsigned mark, struct group_wait *w)
{
    struct grec *r;
    uint8_t buf[512];
    int ret = -EAGAIN;

    if (st->gw == NULL) {
        st->glog_dropped += st->gw_err != 0; /* failed, and not open again yet */
        group_wait_post(w, -EIO);
        return 0;
    }
    if (st->grec_head == NULL && len + tail_len <= sizeof(buf)) {
        memcpy(buf, data, len);
        if (tail_len > 0)
            memcpy(buf + len, tail, tail_len);
        ret = glog_append(st, type, buf, len + tail_len, mark, w);
        if (ret == 0)
            return 0;
        if (ret != -EAGAIN) {
            glog_noop(st, 0, ret);
            group_wait_post(w, -EIO);
            if (mark & MARK_LAST)
                st->compacting = false;
            return 0;
        }
    }
    if (st->ngrec >= GREC_QUEUE_MAX || (r = malloc(sizeof(*r) + len + tail_len)) == NULL) {
        log_warn(st->c->id, "stream %s: group record dropped (queue full)", st->name);
        group_wait_post(w, -ENOMEM);
        return -ENOMEM;
    }
    r->next = NULL;
    r->w = w;
    r->type = type;
    r->mark = (uint8_t)mark;
    r->len = len + tail_len;
    memcpy(r->data, data, len);
    if (tail_len > 0)
        memcpy(r->data + len, tail, tail_len);
    if (st->grec_tail != NULL)
        st->grec_tail->next = r;
    else
        st->grec_head = r;
    st->grec_tail = r;
    st->ngrec++;
    return 0;
}

static void glog_drain(struct stream *st)
{
    while (st->grec_head != NULL) {
        struct grec *r = st->grec_head;
        int ret = glog_append(st, r->type, r->data, r->len, r->mark, r->w);

        if (ret == -EAGAIN)
            return;
        if (ret != 0) {
            glog_noop(st, 0, ret);
            group_wait_post(r->w, -EIO);
            if (r->mark & MARK_LAST)
                st->compacting = false;
        }
        st->grec_head = r->next;
        if (st->grec_head == NULL)
            st->grec_tail = NULL;
        st->ngrec--;
        free(r);
    }
}

static void glog_seq(struct group *g, uint16_t type, uint64_t seq, uint32_t count)
{
    struct grec_seq r = {.gid = g->id, .count = count, .seq = seq};

    glog(g->st, type, &r, sizeof(r), NULL, 0, 0, NULL);
}

/* ---- groups ------------------------------------------------------------------------------------- */

/* The core's timer set, made with its first group: a core without groups holds none. */
static int group_tset_init(struct core *c)
{
    int ret = uring_tset_init(&c->group.tset, &c->loop, GROUP_DEADLINES, 1000000);

    if (ret == 0)
        c->group.tset_on = true;
    return ret;
}

struct group *group_find(struct stream *st, const char *name)
{
    for (unsigned i = 0; i < st->ngroups; i++)
        if (strcmp(st->groups[i]->name, name) == 0)
            return st->groups[i];
    return NULL;
}

struct group *group_by_id(struct stream *st, uint32_t id)
{
    for (unsigned i = 0; i < st->ngroups; i++)
        if (st->groups[i]->id == id)
            return st->groups[i];
    return NULL;
}

uint32_t group_id(const struct group *g)
{
    return g->id;
}

bool group_starting(const struct group *g)
{
    return g->starting;
}

unsigned group_count(const struct stream *st)
{
    return st->ngroups;
}

static struct group *group_new(struct stream *st, uint32_t id, const char *name, const char *filter, size_t filter_len,
                               const char *dlq, size_t dlq_len, const struct gpolicy *pol)
{
    struct group *g;

    if (st->ngroups == st->groups_cap) {
        unsigned cap = st->groups_cap ? st->groups_cap * 2 : 4;
        struct group **v = realloc(st->groups, cap * sizeof(*v));

        if (v == NULL)
            return NULL;
        st->groups = v;
        st->groups_cap = cap;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->filter = malloc(filter_len + 1);
    g->dlq = dlq_len > 0 ? malloc(dlq_len + 1) : NULL;
    if (g->filter == NULL || (dlq_len > 0 && g->dlq == NULL)) {
        free(g->filter);
        free(g->dlq);
        free(g);
        return NULL;
    }
    memcpy(g->filter, filter, filter_len);
    g->filter[filter_len] = '\0';
    g->filter_len = (uint16_t)filter_len;
    if (dlq_len > 0) {
        memcpy(g->dlq, dlq, dlq_len);
        g->dlq[dlq_len] = '\0';
    }
    g->dlq_len = (uint16_t)dlq_len;
    g->st = st;
    g->id = id;
    snprintf(g->name, sizeof(g->name), "%s", name);
    g->pol = *pol;
    if (g->pol.ack_wait_ms == 0)
        g->pol.ack_wait_ms = GROUP_ACK_WAIT_MS;
    st->groups[st->ngroups++] = g;
    if (id >= st->next_gid)
        st->next_gid = id + 1;
    return g;
}

static void pend_free(struct group *g, struct gpend *p)
{
    uring_tset_cancel(&g->st->c->group.tset, &p->dl);
    free(p->rec);
    free(p->term);
    free(p);
}

static void group_free(struct group *g)
{
    struct stream *st = g->st;
    uint32_t pos = 0;
    struct gpend *p;

    while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL)
        pend_free(g, p);
    idmap_free(&g->pend);
    if (g->it != NULL)
        wal_iter_close(g->it);
    for (unsigned i = 0; i < st->ngroups; i++) {
        if (st->groups[i] == g) {
            st->groups[i] = st->groups[--st->ngroups];
            break;
        }
    }
    free(g->members);
    free(g->filter);
    free(g->dlq);
    free(g);
}

/* ---- delivery ------------------------------------------------------------------------------------- */

static struct gmember *member_by_mid(struct group *g, uint32_t mid)
{
    for (unsigned i = 0; i < g->nmembers; i++)
        if (g->members[i].mid == mid)
            return &g->members[i];
    return NULL;
}

static struct gmember *pick(struct group *g)
{
    for (unsigned k = 0; k < g->nmembers; k++) {
        unsigned i = (g->rr + k) % g->nmembers;

        if (g->members[i].inflight < g->members[i].window) {
            g->rr = i + 1;
            return &g->members[i];
        }
    }
    return NULL;
}

static void ready_push(struct group *g, struct gpend *p, bool front)
{
    p->state = P_READY;
    if (front) {
        p->next = g->ready_head;
        g->ready_head = p;
        if (g->ready_tail == NULL)
            g->ready_tail = p;
        return;
    }
    p->next = NULL;
    if (g->ready_tail != NULL)
        g->ready_tail->next = p;
    else
        g->ready_head = p;
    g->ready_tail = p;
}

static struct gpend *ready_pop(struct group *g)
{
    struct gpend *p = g->ready_head;

    if (p != NULL) {
        g->ready_head = p->next;
        if (g->ready_head == NULL)
            g->ready_tail = NULL;
        p->next = NULL;
    }
    return p;
}

static void refuse(struct core *c, unsigned core, uint32_t slot, uint32_t gen, uint64_t sid, uint64_t token, int code, bool drop,
                   const char *why);
static void gmsg_write(struct core *c, struct gmsg *m);
static void on_deadline(struct uring_tset *s, struct uring_deadline *d);

/* Sends the MSG of p to member m (its core writes it): false when it cannot go (out of memory, the
 * byte bound between two cores). */
static bool send_msg(struct group *g, struct gpend *p, struct gmember *m)
{
    struct core *c = g->st->c;
    uint32_t body = p->len - STREAM_REC_HEAD;
    struct stream_rec_head h = {0};
    uint16_t tl;
    uint32_t hl;
    struct gmsg *gm = malloc(sizeof(*gm) + WIRE_FIXED_LEN + body);
    struct uring_xmsg x = {.type = X_GMSG};

    if (gm == NULL)
        return false;
    stream_rec_head_get(p->rec, p->len, &h); /* read_next checked it */
    tl = h.topic_len;
    hl = h.hdr_len;
    gm->slot = m->slot;
    gm->gen = m->gen;
    gm->sid = m->sid;
    gm->token = m->token;
    gm->stream_id = g->st->id;
    gm->gid = g->id;
    gm->len = WIRE_FIXED_LEN + body;
    wire_put_fixed(gm->frame, WIRE_MSG, WIRE_F_ACK_REQUIRED | (p->count > 1 ? WIRE_F_REDELIVERED : 0), gm->len, tl, hl, p->count,
                   m->sid, p->seq);
    memcpy(gm->frame + WIRE_FIXED_LEN, p->rec + STREAM_REC_HEAD, body);
    if (m->core == c->id) {
        gmsg_write(c, gm);
        return true;
    }
    x.ptr = gm;
    if (core_push(c, m->core, &x, (uint32_t)(sizeof(*gm) + gm->len)) != 0) {
        free(gm);
        return false;
    }
    return true;
}

/* Delivers p to m: false when the timer set is full (p goes back to the front of the queue). */
static bool deliver(struct group *g, struct gpend *p, struct gmember *m)
{
    struct core *c = g->st->c;

    p->state = P_FLY;
    p->mid = m->mid;
    if (uring_tset_add(&c->group.tset, &p->dl, uring_now_ns() + (uint64_t)g->pol.ack_wait_ms * 1000000, on_deadline) != 0) {
        ready_push(g, p, true);
        g->want = true;
        return false;
    }
    p->count++;
    p->last_ns = core_realtime_ns();
    if (p->count == 1 || p->first_ns == 0)
        p->first_ns = p->last_ns;
    p->last_client = m->client_id;
    m->inflight++;
    g->delivered++;
    if (p->count > 1)
        g->redelivered++;
    if (!send_msg(g, p, m)) {
        /* Not an attempt: back to the front, tried again at the next flush. */
        uring_tset_cancel(&c->group.tset, &p->dl);
        p->count--;
        m->inflight--;
        g->delivered--;
        ready_push(g, p, true);
        g->want = true;
        return false;
    }
    glog_seq(g, GREC_DLV, p->seq, p->count);
    return true;
}

static uint8_t *rec_copy(const struct wal_record *r)
{
    uint8_t *copy = malloc(r->len);

    if (copy != NULL)
        memcpy(copy, r->data, r->len);
    return copy;
}

static void iter_ready(void *arg, struct wal_iter *it);
static void retire(struct group *g, struct gpend *p, uint16_t type);

/* Reads from seq again later (the next flush), closing the iterator: false, as read_next says. */
static bool rewind_to(struct group *g, uint64_t seq)
{
    g->scan_seq = seq;
    wal_iter_close(g->it);
    g->it = NULL;
    g->want = true;
    return false;
}

/* The scan passed the messages lost by a restart without finding some (no longer in the stream:
 * retention removed them, or not messages): they cannot be delivered again. */
static void retire_lost_below(struct group *g, uint64_t seq)
{
    uint32_t pos = 0, n = 0;
    struct gpend *p;
    uint64_t *v;

    if (g->nlost == 0 || (v = malloc(g->nlost * sizeof(*v))) == NULL)
        return;
    while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL && n < g->nlost)
        if (p->state == P_LOST && p->seq < seq)
            v[n++] = p->seq;
    if (n > 0)
        log_warn(g->st->c->id, "stream %s group %s: %u messages delivered before the restart are no longer in the stream",
                 g->st->name, g->name, n);
    for (uint32_t i = 0; i < n; i++) {
        g->nlost--;
        retire(g, idmap_get(&g->pend, v[i]), GREC_TERM);
    }
    free(v);
}

/* Reads the stream on by one record: true when one was consumed, false when the group must wait
 * (the read is on the ring, the stream's end, or a failure retried at the next flush). */
static bool read_next(struct group *g)
{
    struct stream *st = g->st;
    struct wal_record r;
    struct stream_rec_head h = {0};
    struct gpend *p;
    int ret;

    if (st->w == NULL || st->err != 0)
        return false; /* its log is being opened again; group_stream_grew wakes the group then */
    if (g->it == NULL) {
        uint64_t first = stream_first_kept(st);

        if (g->scan_seq < first) { /* retention removed what lies between */
            retire_lost_below(g, first);
            g->scan_seq = first;
            if (g->next_seq < first)
                g->next_seq = first;
        }
        ret = wal_iter_open_async(st->w, g->scan_seq, iter_ready, g, &g->it);
        if (ret != 0) {
            g->it = NULL;
            g->want = true; /* -EMFILE: as many readers as a log allows; try again */
            return false;
        }
    }
    ret = wal_iter_next(g->it, &r);
    if (ret == -EAGAIN || ret == 0)
        return false; /* iter_ready, or group_stream_grew, goes on */
    if (ret == -EBUSY) {
        /* The SQ is full and no read was placed (so no iter_ready): the same iterator reads on at
         * the next flush (once a loop turn, the turn's submit making room). Not a failure:
         * nothing to log. */
        g->want = true;
        return false;
    }
    if (ret < 0) {
        if (ret != -ENOENT) /* -ENOENT: retention removed the segment ahead; the reopen jumps past it */
            log_warn(st->c->id, "stream %s group %s: reading the stream: %s; trying again", st->name, g->name, strerror(-ret));
        wal_iter_close(g->it);
        g->it = NULL;
        g->want = true;
        return false;
    }
    if (g->nlost > 0 && r.seq >= g->next_seq)
        retire_lost_below(g, r.seq);
    if (r.seq >= g->next_seq && (g->pend.count >= GROUP_PENDING_MAX || g->pend_bytes >= GROUP_PENDING_BYTES))
        return rewind_to(g, r.seq); /* enough held for this group: read it again once some settle */
    g->scan_seq = r.seq + 1;
    if (r.seq < st->floor) { /* removed by retention, its segment not yet: on from the floor */
        retire_lost_below(g, st->floor);
        if (g->next_seq < st->floor)
            g->next_seq = st->floor;
        rewind_to(g, st->floor);
        return true;
    }
    if (r.type != STREAM_REC_MSG || !stream_rec_head_get(r.data, r.len, &h) || stream_is_deleted(st, r.seq)) {
        if (r.seq >= g->next_seq)
            g->next_seq = r.seq + 1;
        return true; /* not a message (or a damaged one): nothing to deliver */
    }
    if (r.seq < g->next_seq) {
        p = idmap_get(&g->pend, r.seq);
        if (p != NULL && p->state == P_LOST) {
            if ((p->rec = rec_copy(&r)) == NULL)
                return rewind_to(g, r.seq);
            p->len = r.len;
            g->pend_bytes += r.len;
            g->nlost--;
            ready_push(g, p, false);
        }
        return true;
    }
    g->next_seq = r.seq + 1;
    if (!topic_match(g->filter, g->filter_len, (const char *)r.data + STREAM_REC_HEAD, h.topic_len))
        return true;
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->rec = rec_copy(&r)) == NULL || idmap_put(&g->pend, r.seq, p) != 0) {
        if (p != NULL)
            free(p->rec);
        free(p);
        g->next_seq = r.seq; /* read it again later */
        g->scan_seq = r.seq;
        wal_iter_close(g->it);
        g->it = NULL;
        g->want = true;
        return false;
    }
    p->g = g;
    p->seq = r.seq;
    p->len = r.len;
    g->pend_bytes += r.len;
    ready_push(g, p, false);
    return true;
}

/* A durable request whose requester's deadline has passed: nobody waits for its answer, and
 * acting on it late could do harm (docs/protocol.md 7.1). Its deadline is the last
 * STREAM_HDR_DEADLINE header, the broker's own, after those of the requester. */
static bool request_expired(const struct gpend *p)
{
    static const size_t kl = sizeof(STREAM_HDR_DEADLINE) - 1;
    struct stream_rec_head rh;
    struct wire_header h;
    uint64_t deadline = 0;
    uint32_t pos = 0;

    if (!stream_rec_head_get(p->rec, p->len, &rh) || !(rh.flags & STREAM_MSG_REQUEST))
        return false;
    while (wire_header_block_next(p->rec + STREAM_REC_HEAD + rh.topic_len, rh.hdr_len, &pos, &h) == 1)
        if (h.key_len == kl && memcmp(h.key, STREAM_HDR_DEADLINE, kl) == 0) {
            deadline = 0;
            for (uint16_t i = 0; i < h.val_len && h.val[i] >= '0' && h.val[i] <= '9'; i++)
                deadline = deadline * 10 + (uint64_t)(h.val[i] - '0');
        }
    return deadline != 0 && deadline <= core_realtime_ns() / 1000000;
}

static void pump(struct group *g)
{
    struct core *c = g->st->c;

    if (g->pumping || c->stopping || g->starting)
        return;
    g->pumping = true;
    while (g->nmembers > 0) {
        struct gmember *m = pick(g);
        struct gpend *p;

        if (m == NULL)
            break;
        p = ready_pop(g);
        if (p != NULL && request_expired(p)) {
            g->expired++;
            retire(g, p, GREC_ACK);
            continue;
        }
        if (p != NULL) {
            if (!deliver(g, p, m))
                break;
            continue;
        }
        if (!read_next(g))
            break;
    }
    g->pumping = false;
}

static void iter_ready(void *arg, struct wal_iter *it)
{
    (void)it;
    pump(arg);
}

void group_stream_grew(struct stream *st)
{
    for (unsigned i = 0; i < st->ngroups; i++)
        st->groups[i]->want = true;
}

/* ---- settling ------------------------------------------------------------------------------------ */

static void retire(struct group *g, struct gpend *p, uint16_t type)
{
    if (p->rec != NULL)
        g->pend_bytes -= p->len;
    glog_seq(g, type, p->seq, p->count);
    idmap_del(&g->pend, p->seq);
    pend_free(g, p);
}

/* initial x factor^(count - 1), at most max, then spread uniformly over +-jitter of itself, so that
 * the members of many failing messages do not come back in step. */
static uint64_t backoff_ms(const struct group *g, uint32_t count)
{
    double d;

    if (!g->pol.has_backoff)
        return 0;
    d = g->pol.backoff_initial_ms;
    for (uint32_t i = 1; i < count && d < g->pol.backoff_max_ms; i++)
        d *= g->pol.backoff_factor;
    if (d > g->pol.backoff_max_ms)
        d = g->pol.backoff_max_ms;
    if (g->pol.jitter_pm > 0) {
        double r = (double)(core_random(g->st->c) >> 11) / (double)(UINT64_C(1) << 53); /* [0, 1) */

        d *= 1.0 + (double)g->pol.jitter_pm / 1000.0 * (2.0 * r - 1.0);
    }
    return d < 1.0 ? 1 : (uint64_t)d;
}

static void wait_then_ready(struct group *g, struct gpend *p, uint64_t delay_ms)
{
    p->state = P_WAIT;
    if (delay_ms == 0 || uring_tset_add(&g->st->c->group.tset, &p->dl, uring_now_ns() + delay_ms * 1000000, on_deadline) != 0)
        ready_push(g, p, false);
}

static void dead_letter(struct group *g, struct gpend *p);

/* A delivery failed (NACK, ack wait): redelivered after its delay, or dead-lettered once it has
 * had its max_deliveries. */
static void failed(struct group *g, struct gpend *p, const char *reason, uint32_t delay_ms)
{
    p->reason = reason;
    if (g->pol.max_deliveries != 0 && p->count >= g->pol.max_deliveries) {
        dead_letter(g, p);
        return;
    }
    wait_then_ready(g, p, delay_ms != 0 ? delay_ms : backoff_ms(g, p->count));
}

static void on_deadline(struct uring_tset *s, struct uring_deadline *d)
{
    struct gpend *p = (struct gpend *)(void *)d;
    struct group *g = p->g;
    struct gmember *m;

    (void)s;
    if (p->state == P_FLY) {
        m = member_by_mid(g, p->mid);
        if (m != NULL)
            m->inflight--;
        failed(g, p, "timeout", 0);
    } else if (p->state == P_WAIT) {
        ready_push(g, p, false);
    } else if (p->state == P_DEAD) {
        assert(!p->dead_fly); /* armed only while no dead letter of it is on its way */
        dead_letter(g, p);    /* its publish failed: again */
    }
    pump(g);
}

/* ---- dead letters --------------------------------------------------------------------------------- */

/* A dead letter that could not go now: tried again after DEAD_RETRY_MS, never delivered to a
 * member again (its attempts are over, or a member terminated it). */
static void dead_later(struct group *g, struct gpend *p)
{
    p->state = P_DEAD;
    p->dead_fly = false;
    /* Whatever armed it before (an ack wait, a retry) is superseded by this retry. */
    uring_tset_cancel(&g->st->c->group.tset, &p->dl);
    if (uring_tset_add(&g->st->c->group.tset, &p->dl, uring_now_ns() + (uint64_t)DEAD_RETRY_MS * 1000000, on_deadline) != 0)
        g->dead_retry = true; /* group_flush tries again */
}

/*
 * The publisher's headers of block [h, h + len) into out, but for the trpc-dlq-* ones: those are
 * the broker's to write, and a publisher's (or a first death's, on a redriven copy) would stand
 * before them and be taken for them (dlq.list, redrive). Returns the bytes written, at most len.
 */
static uint32_t own_headers(uint8_t *out, const uint8_t *h, uint32_t len)
{
    static const char prefix[] = "trpc-dlq-";
    struct wire_header e;
    uint32_t pos = 0, at = 0, n = 0;

    while (wire_header_block_next(h, len, &pos, &e) == 1) {
        if (!(e.key_len >= sizeof(prefix) - 1 && memcmp(e.key, prefix, sizeof(prefix) - 1) == 0)) {
            memcpy(out + n, h + at, pos - at); /* the entry as it is stored */
            n += pos - at;
        }
        at = pos;
    }
    return n;
}

/* Publishes p on the group's dead-letter topic, its payload and headers as they were (but for
 * trpc-dlq-* ones) and headers saying where it came from and why; the original is retired once that is stored
 * (group_dead_stored). Without a dead-letter topic, or a stream for it, it is dropped (logged). */
static void dead_letter(struct group *g, struct gpend *p)
{
    struct stream *st = g->st;
    struct core *c = st->c;
    const struct stream_entry *e = g->dlq != NULL ? stream_table_match(c->stream.table, g->dlq, g->dlq_len) : NULL;
    struct stream_rec_head h = {0};
    uint16_t tl, ntl = g->dlq_len;
    uint32_t hl, kept, nhl, body, extra_max;
    char num[3][24], first[40], last[40];
    struct uring_xmsg x = {.type = X_SPUB};
    struct spub *sp;
    uint8_t *out;
    size_t extra = 0;

    if (e == NULL || p->rec == NULL) {
        log_warn(c->id, "stream %s group %s: message %" PRIu64 " failed %u deliveries (%s) and %s: dropped", st->name, g->name,
                 p->seq, p->count, p->reason ? p->reason : "-",
                 g->dlq == NULL ? "the group has no dead-letter topic" : "no stream covers its dead-letter topic");
        g->dead++;
        retire(g, p, GREC_TERM);
        return;
    }
    stream_rec_head_get(p->rec, p->len, &h); /* read_next checked it */
    tl = h.topic_len;
    hl = h.hdr_len;
    body = p->len - STREAM_REC_HEAD;
    extra_max = 6 * (4 + 24) + tl + 2 * 40 + 64 + 24 + 3 * 24 + 16;
    if (p->term != NULL)
        extra_max += 4 + 21 + (uint32_t)strlen(p->term);
    sp = malloc(sizeof(*sp) + STREAM_REC_HEAD + ntl + hl + extra_max + (body - tl - hl));
    if (sp == NULL) {
        dead_later(g, p);
        return;
    }
    memset(sp, 0, sizeof(*sp)); /* every field not set below is a zero */
    p->state = P_DEAD;
    out = sp->rec + STREAM_REC_HEAD;
    memcpy(out, g->dlq, ntl);
    kept = own_headers(out + ntl, p->rec + STREAM_REC_HEAD + tl, hl);
    snprintf(num[0], sizeof(num[0]), "%" PRIu64, p->seq);
    snprintf(num[1], sizeof(num[1]), "%u", p->count);
    snprintf(num[2], sizeof(num[2]), "%" PRIu64, p->last_client);
    admin_api_rfc3339(p->first_ns, first, sizeof(first));
    admin_api_rfc3339(p->last_ns, last, sizeof(last));
    extra += stream_put_header(out + ntl + kept + extra, "trpc-dlq-topic", (const char *)p->rec + STREAM_REC_HEAD, tl);
    extra += stream_put_header(out + ntl + kept + extra, "trpc-dlq-stream", st->name, strlen(st->name));
    extra += stream_put_header(out + ntl + kept + extra, "trpc-dlq-seq", num[0], strlen(num[0]));
    extra += stream_put_header(out + ntl + kept + extra, "trpc-dlq-group", g->name, strlen(g->name));
    extra += stream_put_header(out + ntl + kept + extra, "trpc-dlq-deliveries", num[1], strlen(num[1]));
    extra += stream_put_header(out + ntl + kept + extra, "trpc-dlq-reason", p->reason ? p->reason : "-",
                               strlen(p->reason ? p->reason : "-"));
    extra += stream_put_header(out + ntl + kept + extra, "trpc-dlq-last-client", num[2], strlen(num[2]));
    extra += stream_put_header(out + ntl + kept + extra, "trpc-dlq-first-delivery", first, strlen(first));
    extra += stream_put_header(out + ntl + kept + extra, "trpc-dlq-last-delivery", last, strlen(last));
    if (p->term != NULL)
        extra += stream_put_header(out + ntl + kept + extra, "trpc-dlq-term-reason", p->term, strlen(p->term));
    assert(extra <= extra_max);
    memcpy(out + ntl + kept + extra, p->rec + STREAM_REC_HEAD + tl + hl, body - tl - hl);
    nhl = kept + (uint32_t)extra;
    /* A durable request stays one, deadline and all: redriven late, it is dropped, not run. */
    stream_rec_head_put(sp->rec, core_realtime_ns(), ntl, h.flags & STREAM_MSG_REQUEST, nhl);
    sp->next = NULL;
    sp->stream_id = e->id;
    sp->pub_core = c->id;
    sp->slot = sp->gen = 0;
    sp->id = 0;
    sp->ack = true;
    sp->dead = true;
    sp->dead_stream = st->id;
    sp->dead_group = g->id;
    sp->dead_seq = p->seq;
    sp->err = 0;
    sp->why = NULL;
    sp->seq = 0;
    sp->msgid_off = 0; /* a dead letter is not deduplicated: group_dead_stored retires once */
    sp->msgid_len = 0;
    sp->dd = NULL;
    sp->dups = NULL;
    sp->len = STREAM_REC_HEAD + ntl + nhl + (body - tl - hl);
    sp->cost = (uint32_t)sizeof(*sp) + sp->len;
    /* Set before it goes: its answer may come back from stream_take before that returns. The
     * retry sweep leaves such an entry alone; only the answer decides what happens to it. */
    p->dead_fly = true;
    if (e->owner == c->id) {
        stream_take(c, sp);
        return;
    }
    x.ptr = sp;
    if (core_push(c, e->owner, &x, 0) != 0) {
        free(sp);
        dead_later(g, p);
    }
}

void group_dead_stored(struct core *c, struct spub *sp)
{
    struct stream *st = stream_find(c, sp->dead_stream);
    struct group *g = st != NULL ? group_by_id(st, sp->dead_group) : NULL;
    struct gpend *p = g != NULL ? idmap_get(&g->pend, sp->dead_seq) : NULL;

    if (p != NULL && p->state == P_DEAD && p->dead_fly) {
        p->dead_fly = false;
        if (sp->err == 0) {
            g->dead++;
            retire(g, p, GREC_TERM);
        } else if (sp->err == TRPC_E_MESSAGE_TOO_LARGE) {
            /* The trpc-dlq-* headers took it past what the dead-letter stream's log holds: no retry
             * can store it, so it goes as one with no dead-letter topic does, logged once. */
            log_warn(c->id,
                     "stream %s group %s: message %" PRIu64 " failed %u deliveries (%s) and its dead letter (%u bytes with the "
                     "trpc-dlq-* headers) is too large for the dead-letter stream: dropped",
                     st->name, g->name, p->seq, p->count, p->reason ? p->reason : "-", sp->len - STREAM_REC_HEAD);
            g->dead++;
            retire(g, p, GREC_TERM);
        } else {
            log_warn(c->id, "stream %s group %s: dead letter of message %" PRIu64 " not stored (%s); trying again", st->name,
                     g->name, p->seq, trpc_err_name(sp->err));
            dead_later(g, p);
        }
    }
    free(sp);
}

/* ---- the owner's messages ---------------------------------------------------------------------------- */

static bool same_policy(const struct gpolicy *a, const struct group *g, const char *dlq, size_t dlq_len)
{
    const struct gpolicy *b = &g->pol;

    return a->max_deliveries == b->max_deliveries && a->has_backoff == b->has_backoff &&
           (!a->has_backoff || (a->backoff_initial_ms == b->backoff_initial_ms && a->backoff_max_ms == b->backoff_max_ms &&
                                a->backoff_factor == b->backoff_factor && a->jitter_pm == b->jitter_pm)) &&
           (a->ack_wait_ms == 0 ? GROUP_ACK_WAIT_MS : a->ack_wait_ms) == b->ack_wait_ms && dlq_len == g->dlq_len &&
           (dlq_len == 0 || memcmp(dlq, g->dlq, dlq_len) == 0);
}

/* The group's definition record (grec_def, name, filter, dead-letter topic) with room for extra bytes
 * after it: malloc'd, its length without the extra in *len. */
static uint8_t *def_record(const struct group *g, size_t extra, size_t *len)
{
    struct grec_def d = {.gid = g->id,
                         .max_deliveries = g->pol.max_deliveries,
                         .backoff_initial_ms = g->pol.backoff_initial_ms,
                         .backoff_max_ms = g->pol.backoff_max_ms,
                         .backoff_factor = g->pol.backoff_factor,
                         .ack_wait_ms = g->pol.ack_wait_ms,
                         .has_backoff = g->pol.has_backoff,
                         .next_seq = g->next_seq,
                         .name_len = (uint16_t)strlen(g->name),
                         .filter_len = g->filter_len,
                         .dlq_len = g->dlq_len,
                         .jitter_pm = g->pol.jitter_pm};
    size_t n = sizeof(d) + d.name_len + d.filter_len + d.dlq_len;
    uint8_t *buf = malloc(n + extra);

    if (buf == NULL)
        return NULL;
    memcpy(buf, &d, sizeof(d));
    memcpy(buf + sizeof(d), g->name, d.name_len);
    memcpy(buf + sizeof(d) + d.name_len, g->filter, g->filter_len);
    if (g->dlq_len > 0)
        memcpy(buf + sizeof(d) + d.name_len + g->filter_len, g->dlq, g->dlq_len);
    *len = n;
    return buf;
}

static void log_def(struct group *g, struct group_wait *w)
{
    size_t n;
    uint8_t *rec = def_record(g, 0, &n);

    if (rec == NULL)
        group_wait_post(w, -ENOMEM);
    if (rec == NULL || glog(g->st, GREC_DEF, rec, (uint32_t)n, NULL, 0, 0, w) != 0)
        log_warn(g->st->c->id, "stream %s group %s: not recorded (out of memory); it is gone after a restart", g->st->name,
                 g->name);
    free(rec);
}

/* A snapshot: the definition, the next sequence and every message not settled with its delivery
 * count, in one record, after which a restart needs nothing older of the group. 0 or -errno. */
static int log_snapshot(struct group *g, unsigned mark, struct group_wait *w)
{
    struct stream *st = g->st;
    size_t n, at;
    uint8_t *rec = def_record(g, (size_t)g->pend.count * sizeof(struct grec_pend), &n);
    uint32_t pos = 0;
    struct gpend *p;
    int ret;

    if (rec == NULL) {
        group_wait_post(w, -ENOMEM);
        return -ENOMEM;
    }
    at = n;
    while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL) {
        struct grec_pend e = {.seq = p->seq, .count = p->count};

        memcpy(rec + at, &e, sizeof(e));
        at += sizeof(e);
    }
    if (at > wal_max_record(st->gw)) {
        free(rec);
        group_wait_post(w, -EMSGSIZE);
        return -EMSGSIZE;
    }
    st->snap_bytes += at;
    ret = glog(st, GREC_SNAP, rec, (uint32_t)at, NULL, 0, mark, w);
    free(rec);
    return ret;
}

/* Once enough has been appended since the last compaction (four times what that one wrote, so a
 * compaction never chases its own tail), writes a snapshot of every group; when they are durable,
 * the segments before them go (glog_compacted). */
static void glog_compact(struct stream *st)
{
    uint64_t need = st->snap_bytes * 4 > GLOG_COMPACT_BYTES ? st->snap_bytes * 4 : GLOG_COMPACT_BYTES;
    int ret = 0;

    if (st->gw == NULL || st->compacting || st->ngroups == 0 || st->glog_bytes < need || st->c->stopping)
        return;
    for (unsigned i = 0; i < st->ngroups; i++)
        if (st->groups[i]->starting)
            return; /* its snapshot would say where it starts before that is known */
    st->compacting = true;
    st->glog_bytes = 0;
    st->snap_bytes = 0;
    for (unsigned i = 0; ret == 0 && i < st->ngroups; i++)
        ret = log_snapshot(st->groups[i], (i == 0 ? MARK_FIRST : 0) | (i + 1 == st->ngroups ? MARK_LAST : 0), NULL);
    if (ret != 0) {
        /* The snapshots written are valid records; without the last one nothing is truncated. */
        st->compacting = false;
        log_warn(st->c->id, "stream %s: compacting the group log: %s; tried again later", st->name, strerror(-ret));
    }
}

static void join_in(struct core *c, struct gjoin *j);

/* Where a new group with policy pol starts (POLICY_START_TIME is resolved to a sequence first). */
static uint64_t start_of(const struct stream *st, const struct gpolicy *pol)
{
    uint64_t first = stream_first_kept(st);

    if (pol->start == POLICY_START_NEW)
        return wal_durable_seq(st->w) + 1;
    if (pol->start == POLICY_START_SEQ)
        return pol->start_seq > first ? pol->start_seq : first;
    return first;
}

/* A start at a time: the group waits, taking members but delivering nothing, until the time is
 * found in the stream; then it is recorded (from the sequence found) and w posted. */
struct gstart {
    struct stream *st;
    uint32_t gid;
    struct group_wait *w;
};

static void started(struct stream *st, struct group *g, uint64_t seq, struct group_wait *w)
{
    uint64_t first = stream_first_kept(st);

    g->starting = false;
    g->next_seq = seq > first ? seq : first;
    g->scan_seq = g->next_seq;
    wait_fill(w, g);
    log_def(g, w);
    log_info(st->c->id, "stream %s: consumer group %s on %s, from sequence %" PRIu64, st->name, g->name, g->filter, g->next_seq);
    pump(g);
}

static void start_seeked(void *arg, int err, uint64_t seq)
{
    struct gstart *k = arg;
    struct group *g = group_by_id(k->st, k->gid);

    if (g == NULL) {
        group_wait_post(k->w, -ENOENT); /* deleted meanwhile */
    } else if (err != 0 || k->st->closing) {
        /* Nothing of it was recorded: it goes as if never made. */
        for (unsigned i = 0; i < g->nmembers; i++)
            refuse(k->st->c, g->members[i].core, g->members[i].slot, g->members[i].gen, g->members[i].sid, g->members[i].token,
                   TRPC_E_UNAVAILABLE, true, "looking up the start time in the stream failed; subscribe again");
        log_warn(k->st->c->id, "stream %s: consumer group %s: its start time could not be looked up: %s", k->st->name, g->name,
                 strerror(-err));
        group_free(g);
        group_wait_post(k->w, err != 0 ? err : -ESRCH);
    } else {
        started(k->st, g, seq, k->w);
    }
    free(k);
}

/* A new group: NULL with *err -ENOSPC (the stream has as many as it may) or -ENOMEM (w not
 * taken); else recorded, w posted once that is durable. */
static struct group *create(struct stream *st, const char *name, const char *filter, size_t filter_len, const char *dlq,
                            size_t dlq_len, const struct gpolicy *pol, int *err, struct group_wait *w)
{
    struct core *c = st->c;
    struct gstart *k = NULL;
    struct group *g;
    uint64_t seq = 0;
    int ret;

    if (st->ngroups >= GROUPS_PER_STREAM) {
        *err = -ENOSPC;
        return NULL;
    }
    if ((!c->group.tset_on && group_tset_init(c) != 0) || (pol->start == POLICY_START_TIME && (k = malloc(sizeof(*k))) == NULL) ||
        (g = group_new(st, st->next_gid, name, filter, filter_len, dlq, dlq_len, pol)) == NULL) {
        free(k);
        *err = -ENOMEM;
        return NULL;
    }
    if (w != NULL)
        w->gid = g->id;
    if (k == NULL) {
        started(st, g, start_of(st, pol), w);
        return g;
    }
    *k = (struct gstart){.st = st, .gid = g->id, .w = w};
    g->starting = true;
    ret = stream_seek_time(st, pol->start_ns, start_seeked, k, &seq);
    if (ret == 1) {
        free(k);
        started(st, g, seq, w);
    } else if (ret < 0) {
        if (ret != -EMFILE)
            log_warn(c->id, "stream %s: consumer group %s: its start time could not be looked up: %s", st->name, name,
                     strerror(-ret));
        free(k);
        group_free(g);
        *err = ret == -ENOMEM ? -ENOMEM : -EAGAIN;
        return NULL;
    }
    return g;
}

struct group *group_create(struct stream *st, const char *name, const char *filter, size_t filter_len, const struct policy *p,
                           int *err, struct group_wait *w)
{
    struct gpolicy pol;

    gpolicy_of(p, &pol);
    return create(st, name, filter, filter_len, p->dlq, p->dlq_len, &pol, err, w);
}

bool group_same_def(const struct group *g, const char *filter, size_t filter_len, const struct policy *p)
{
    struct gpolicy pol;

    gpolicy_of(p, &pol);
    return g->filter_len == filter_len && memcmp(g->filter, filter, filter_len) == 0 && same_policy(&pol, g, p->dlq, p->dlq_len);
}

void group_delete(struct group *g, struct group_wait *w)
{
    struct stream *st = g->st;
    struct core *c = st->c;
    uint32_t gid = g->id;
    char why[POLICY_WHY_MAX];

    snprintf(why, sizeof(why), "consumer group %s was deleted", g->name);
    for (unsigned i = 0; i < g->nmembers; i++)
        refuse(c, g->members[i].core, g->members[i].slot, g->members[i].gen, g->members[i].sid, g->members[i].token,
               TRPC_E_UNAVAILABLE, true, why);
    if (g->starting) /* nothing of it recorded: nothing to say */
        group_wait_post(w, 0);
    else if (glog(st, GREC_DEL, &gid, sizeof(gid), NULL, 0, 0, w) != 0)
        log_warn(c->id, "stream %s group %s: its deletion is not recorded: it comes back after a restart", st->name, g->name);
    log_info(c->id, "stream %s: consumer group %s deleted (%u members, %u messages not settled)", st->name, g->name, g->nmembers,
             g->pend.count);
    group_free(g);
}

uint64_t group_reset(struct group *g, uint64_t seq, struct group_wait *w)
{
    struct stream *st = g->st;
    uint64_t dropped = g->pend.count;
    uint32_t pos = 0;
    struct gpend *p;

    /* What was pending is forgotten: a member's late ACK of it gets UNKNOWN_SEQUENCE, as for any
     * message settled meanwhile. */
    while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL)
        pend_free(g, p);
    idmap_free(&g->pend);
    g->ready_head = g->ready_tail = NULL;
    g->pend_bytes = 0;
    g->nlost = 0;
    g->dead_retry = false;
    for (unsigned i = 0; i < g->nmembers; i++)
        g->members[i].inflight = 0;
    if (g->it != NULL) {
        wal_iter_close(g->it);
        g->it = NULL;
    }
    g->next_seq = seq;
    g->scan_seq = seq;
    /* A snapshot without pending messages replaces, at a replay, all the group's earlier records. */
    if (w != NULL)
        w->dropped = dropped;
    wait_fill(w, g);
    if (log_snapshot(g, 0, w) != 0)
        log_warn(st->c->id, "stream %s group %s: its reset is not recorded: a restart goes back to where it was", st->name,
                 g->name);
    log_info(st->c->id, "stream %s: consumer group %s reset to sequence %" PRIu64 " (%" PRIu64 " messages not settled dropped)",
             st->name, g->name, seq, dropped);
    pump(g);
    return dropped;
}

static void join_in(struct core *c, struct gjoin *j)
{
    struct stream *st = stream_find(c, j->stream_id);
    const char *pattern = j->text, *dlq = j->text + j->pattern_len;
    struct group *g;
    struct gmember *m;

    if (st == NULL || st->closing || st->w == NULL || st->err != 0) {
        refuse(c, j->mcore, j->slot, j->gen, j->sid, j->token,
               st == NULL || st->closing ? TRPC_E_UNAVAILABLE : TRPC_E_STORAGE_FAILED, true,
               st == NULL || st->closing ? "the stream was deleted" : "the stream's log failed");
        return;
    }
    g = group_find(st, j->name);
    if (g == NULL) {
        int err = 0;

        g = create(st, j->name, pattern, j->pattern_len, dlq, j->dlq_len, &j->pol, &err, NULL);
        if (g == NULL) {
            refuse(c, j->mcore, j->slot, j->gen, j->sid, j->token,
                   err == -ENOSPC ? TRPC_E_TOO_MANY_SUBSCRIPTIONS : TRPC_E_UNAVAILABLE, true,
                   err == -ENOSPC   ? "a stream has at most " GROUPS_PER_STREAM_TEXT " consumer groups"
                   : err == -EAGAIN ? "the stream cannot be read now (as many readers as it may, or a failed read); subscribe again"
                                    : "out of memory");
            return;
        }
    } else if (g->filter_len != j->pattern_len || memcmp(g->filter, pattern, j->pattern_len) != 0) {
        char why[POLICY_WHY_MAX];

        snprintf(why, sizeof(why), "consumer group %s reads %.60s, not %.*s", g->name, g->filter,
                 (int)(j->pattern_len > 60 ? 60 : j->pattern_len), pattern);
        refuse(c, j->mcore, j->slot, j->gen, j->sid, j->token, TRPC_E_BAD_POLICY, true, why);
        return;
    } else if (j->has_policy && !same_policy(&j->pol, g, dlq, j->dlq_len)) {
        char why[POLICY_WHY_MAX];

        snprintf(why, sizeof(why), "consumer group %s has another delivery policy (its first member's)", g->name);
        refuse(c, j->mcore, j->slot, j->gen, j->sid, j->token, TRPC_E_BAD_POLICY, true, why);
        return;
    }
    if (g->nmembers == g->members_cap) {
        unsigned cap = g->members_cap ? g->members_cap * 2 : 4;
        struct gmember *v = realloc(g->members, cap * sizeof(*v));

        if (v == NULL) {
            refuse(c, j->mcore, j->slot, j->gen, j->sid, j->token, TRPC_E_UNAVAILABLE, true, "out of memory");
            return;
        }
        g->members = v;
        g->members_cap = cap;
    }
    m = &g->members[g->nmembers++];
    *m = (struct gmember){.mid = ++g->next_mid,
                          .core = j->mcore,
                          .slot = j->slot,
                          .gen = j->gen,
                          .sid = j->sid,
                          .token = j->token,
                          .client_id = j->client_id,
                          .window = j->window};
    pump(g);
}

static struct gmember *find_member(struct group *g, const struct gleave *w)
{
    for (unsigned i = 0; i < g->nmembers; i++) {
        struct gmember *m = &g->members[i];

        if (m->core == w->mcore && m->slot == w->slot && m->gen == w->gen && m->sid == w->sid && m->token == w->token)
            return m;
    }
    return NULL;
}

static int seq_desc(const void *a, const void *b)
{
    uint64_t x = (*(struct gpend *const *)a)->seq, y = (*(struct gpend *const *)b)->seq;

    return x < y ? 1 : x > y ? -1 : 0;
}

static void leave_in(struct core *c, const struct gleave *w)
{
    struct stream *st = stream_find(c, w->stream_id);
    struct group *g = st == NULL ? NULL : w->name[0] != '\0' ? group_find(st, w->name) : group_by_id(st, w->gid);
    struct gmember *m = g != NULL ? find_member(g, w) : NULL;
    uint32_t pos = 0, mid, n = 0, inflight;
    struct gpend *p, **v;

    if (m == NULL)
        return;
    mid = m->mid;
    inflight = m->inflight;
    *m = g->members[--g->nmembers];
    /* What it had in flight goes to the others now, its count kept, first and in sequence order. */
    v = inflight > 0 ? malloc(inflight * sizeof(*v)) : NULL;
    while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL) {
        if (p->state != P_FLY || p->mid != mid)
            continue;
        uring_tset_cancel(&c->group.tset, &p->dl);
        p->reason = "member left";
        if (v != NULL && n < inflight)
            v[n++] = p;
        else
            ready_push(g, p, true);
    }
    if (v != NULL) {
        qsort(v, n, sizeof(*v), seq_desc);
        for (uint32_t i = 0; i < n; i++)
            ready_push(g, v[i], true);
        free(v);
    }
    pump(g);
}

static void ack_in(struct core *c, const struct gack *a)
{
    struct stream *st = stream_find(c, a->who.stream_id);
    struct group *g = st != NULL ? group_find(st, a->who.name) : NULL;
    struct gmember *m = g != NULL ? find_member(g, &a->who) : NULL;
    struct gpend *p = m != NULL ? idmap_get(&g->pend, a->seq) : NULL;

    if (p == NULL || p->state != P_FLY || p->mid != m->mid) {
        if (m != NULL) /* settled already (ack wait passed), or never this member's */
            refuse(c, a->who.mcore, a->who.slot, a->who.gen, a->who.sid, a->who.token, TRPC_E_UNKNOWN_SEQUENCE, false, NULL);
        return;
    }
    uring_tset_cancel(&c->group.tset, &p->dl);
    if (a->type == WIRE_PROGRESS) {
        /* The slot the cancel freed takes it again: the ack wait starts over. */
        if (uring_tset_add(&c->group.tset, &p->dl, uring_now_ns() + (uint64_t)g->pol.ack_wait_ms * 1000000, on_deadline) != 0) {
            m->inflight--;
            failed(g, p, "timeout", 0);
            pump(g);
        }
        return;
    }
    m->inflight--;
    if (a->type == WIRE_NACK) {
        failed(g, p, "nack", a->delay_ms);
    } else if (a->type == WIRE_TERM) {
        free(p->term);
        p->term = a->reason_len > 0 ? strndup(a->reason, a->reason_len) : NULL;
        p->reason = "term";
        g->termed++;
        dead_letter(g, p);
    } else {
        g->acked++;
        retire(g, p, GREC_ACK);
    }
    pump(g);
}

static void gjoin_xin(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    (void)src;
    join_in(c, msg->ptr);
    free(msg->ptr);
}

static void gleave_xin(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    (void)src;
    leave_in(c, msg->ptr);
    free(msg->ptr);
}

static void gack_xin(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    (void)src;
    ack_in(c, msg->ptr);
    free(msg->ptr);
}

/* ---- the member's side ------------------------------------------------------------------------------- */

static void refused_in(struct core *c, struct grefuse *r)
{
    struct session *s = core_session(c, r->slot, r->gen);

    if (s == NULL || s->state != SESS_OPEN)
        return;
    {
        struct dsub *d = idmap_get(&s->dsubs, r->sid);

        if (d == NULL || d->token != r->token)
            return; /* unsubscribed meanwhile, perhaps subscribed again under the sid */
        if (r->drop)
            free(idmap_del(&s->dsubs, r->sid));
    }
    session_send_err(s, r->sid, r->code, false, r->why[0] ? r->why : NULL);
}

static void refuse(struct core *c, unsigned core, uint32_t slot, uint32_t gen, uint64_t sid, uint64_t token, int code, bool drop,
                   const char *why)
{
    struct grefuse *r = malloc(sizeof(*r));
    struct uring_xmsg x = {.type = X_GREFUSE};

    if (r == NULL)
        return;
    *r = (struct grefuse){.slot = slot, .gen = gen, .sid = sid, .token = token, .code = code, .drop = drop};
    snprintf(r->why, sizeof(r->why), "%s", why != NULL ? why : "");
    if (core == c->id) {
        refused_in(c, r);
        free(r);
        return;
    }
    x.ptr = r;
    if (core_push(c, core, &x, 0) != 0)
        free(r);
}

static void grefuse_xin(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    (void)src;
    refused_in(c, msg->ptr);
    free(msg->ptr);
}

static int to_owner(struct core *c, unsigned owner, uint32_t type, void *body);

static unsigned stream_owner_of(const struct core *c, uint32_t stream_id)
{
    const struct stream_table *t = c->stream.table;

    for (unsigned i = 0; t != NULL && i < t->n; i++)
        if (t->e[i].id == stream_id)
            return t->e[i].owner;
    return UINT32_MAX;
}

/* A delivery for a subscription that is no longer there (its leave was lost, or it is a later one
 * under the same sid): the owner hears it, so that the member does not linger. */
static void gmsg_write(struct core *c, struct gmsg *m)
{
    struct session *s = core_session(c, m->slot, m->gen);
    struct dsub *d = s != NULL && s->state == SESS_OPEN ? idmap_get(&s->dsubs, m->sid) : NULL;
    struct gleave *w;

    if (d != NULL && d->token == m->token) {
        s->msgs_out++;
        s->bytes_out += m->len;
        session_write2(s, m->frame, WIRE_FIXED_LEN, m->frame + WIRE_FIXED_LEN, m->len - WIRE_FIXED_LEN);
    } else if ((w = calloc(1, sizeof(*w))) != NULL) {
        unsigned owner = stream_owner_of(c, m->stream_id);

        *w = (struct gleave){.stream_id = m->stream_id,
                             .mcore = c->id,
                             .slot = m->slot,
                             .gen = m->gen,
                             .sid = m->sid,
                             .token = m->token,
                             .gid = m->gid};
        if (owner == UINT32_MAX)
            free(w);
        else
            to_owner(c, owner, X_GLEAVE, w);
    }
    free(m);
}

static void gmsg_xin(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    (void)src;
    gmsg_write(c, msg->ptr);
}

/* To the owner: its handler runs here when this core owns the stream. */
static int to_owner(struct core *c, unsigned owner, uint32_t type, void *body)
{
    struct uring_xmsg x = {.type = type, .ptr = body};

    if (owner == c->id) {
        if (type == X_GJOIN)
            join_in(c, body);
        else if (type == X_GLEAVE)
            leave_in(c, body);
        else
            ack_in(c, body);
        free(body);
        return 0;
    }
    if (core_push(c, owner, &x, 0) != 0) {
        free(body);
        return -ENOBUFS;
    }
    return 0;
}

bool group_has_sub(const struct session *s, uint64_t sid)
{
    return idmap_get(&s->dsubs, sid) != NULL;
}

/* ds was allocated with room for f's pattern and p's dead-letter topic after it. */
static void sub_keep(struct dsub *ds, const struct wire_frame *f, const struct policy *p)
{
    ds->pattern_len = f->topic_len;
    memcpy(ds->pattern, f->topic, f->topic_len);
    ds->dlq_len = p->dlq != NULL ? p->dlq_len : 0;
    if (ds->dlq_len > 0)
        memcpy(ds->pattern + f->topic_len, p->dlq, p->dlq_len);
}

static void sub_view(const struct dsub *ds, struct group_sub_view *v)
{
    v->pattern = ds->pattern;
    v->pattern_len = ds->pattern_len;
    v->dlq = ds->pattern + ds->pattern_len;
    v->dlq_len = ds->dlq_len;
    v->name = ds->name;
}

bool group_sub_next(const struct session *s, uint32_t *pos, struct group_sub_view *v)
{
    uint64_t sid;
    const struct dsub *ds = idmap_next(&s->dsubs, pos, &sid);

    if (ds == NULL)
        return false;
    v->sid = sid;
    sub_view(ds, v);
    return true;
}

bool group_sub_get(const struct session *s, uint64_t sid, struct group_sub_view *v)
{
    const struct dsub *ds = idmap_get(&s->dsubs, sid);

    if (ds == NULL)
        return false;
    v->sid = sid;
    sub_view(ds, v);
    return true;
}

/* Keeps f in a subscription that waits for the control thread to make a stream for its
 * dead-letter topic (ADMIN_MB_DLQ_STREAM, group_dlq_stream_in). */
static void wait_for_dlq(struct session *s, const struct wire_frame *f, const struct policy *p, const struct wire_header *d)
{
    struct core *c = s->core;
    struct dsub *ds = calloc(1, sizeof(*ds) + f->topic_len + p->dlq_len);
    struct dwait *w = malloc(sizeof(*w) + f->topic_len + f->hdr_len);
    struct admin_dlq_ask *a = malloc(sizeof(*a) + p->dlq_len);
    struct uring_xmsg m = {.type = CONTROL_DLQ_STREAM, .ptr = a};

    if (ds == NULL || w == NULL || a == NULL || idmap_put(&s->dsubs, f->id, ds) != 0) {
        free(ds);
        free(w);
        free(a);
        session_send_err(s, f->id, TRPC_E_UNAVAILABLE, false, "out of memory");
        return;
    }
    *w = (struct dwait){
        .aux = f->aux, .hdr_len = f->hdr_len, .topic_len = f->topic_len, .header_count = f->header_count, .flags = f->flags};
    memcpy(w->bytes, f->topic, f->topic_len);
    if (f->hdr_len > 0)
        memcpy(w->bytes + f->topic_len, f->headers, f->hdr_len);
    ds->token = ++c->group.next_token;
    ds->wait = w;
    memcpy(ds->name, d->val, d->val_len);
    sub_keep(ds, f, p);
    *a = (struct admin_dlq_ask){
        .core = c->id, .slot = s->slot, .gen = s->gen, .sid = f->id, .token = ds->token, .topic_len = p->dlq_len};
    memcpy(a->topic, p->dlq, p->dlq_len);
    if (control_post(c->b, &m) != 0) {
        free(a);
        free(w);
        free(idmap_del(&s->dsubs, f->id));
        session_send_err(s, f->id, TRPC_E_UNAVAILABLE, false, "the control thread is busy: subscribe again later");
    }
}

static bool join(struct session *s, const struct wire_frame *f, const struct policy *p, bool again);

bool group_sub(struct session *s, const struct wire_frame *f, const struct policy *p)
{
    return join(s, f, p, false);
}

void group_dlq_stream_in(struct core *c, const struct uring_xmsg *msg)
{
    struct admin_dlq_ask *a = msg->ptr;
    struct session *s = core_session(c, a->slot, a->gen);
    struct dsub *ds = s != NULL && s->state == SESS_OPEN ? idmap_get(&s->dsubs, a->sid) : NULL;
    struct dwait *w;
    struct policy p;
    char why[POLICY_WHY_MAX];

    if (ds == NULL || ds->token != a->token || ds->wait == NULL) {
        free(a); /* unsubscribed, or gone, meanwhile */
        return;
    }
    w = ds->wait;
    free(idmap_del(&s->dsubs, a->sid));
    if (!a->ok) {
        session_send_err(s, a->sid, TRPC_E_BAD_POLICY, false, a->why);
    } else {
        struct wire_frame f = {.type = WIRE_SUB,
                               .flags = w->flags,
                               .topic_len = w->topic_len,
                               .hdr_len = w->hdr_len,
                               .aux = w->aux,
                               .id = a->sid,
                               .topic = (const char *)w->bytes,
                               .headers = w->hdr_len > 0 ? w->bytes + w->topic_len : NULL,
                               .header_count = w->header_count};

        /* Read as before: the frame was checked then, and its bytes have not changed. */
        if (policy_parse(&f, c->cfg.limits.max_topic, &p, why, sizeof(why)) != 0)
            session_send_err(s, a->sid, TRPC_E_BAD_POLICY, false, why);
        else
            join(s, &f, &p, true);
    }
    free(w);
    free(a);
}

static bool join(struct session *s, const struct wire_frame *f, const struct policy *asked, bool again)
{
    struct core *c = s->core;
    struct policy merged = *asked;
    const struct policy *p = &merged;
    const struct stream_table *t = c->stream.table;
    const struct stream_entry *e = NULL;
    struct wire_header d;
    struct gjoin *j;
    struct dsub *ds;
    char why[POLICY_WHY_MAX];

    if (!wire_header_find(f, ":durable", 8, &d))
        return false;
    if (!stream_name_ok((const char *)d.val, d.val_len, GROUP_NAME_MAX)) {
        session_send_err(s, f->id, TRPC_E_BAD_HEADER, false, ":durable: a name of 1 to 64 letters, digits, '_' and '-'");
        return true;
    }
    if (idmap_get(&s->subs, f->id) != NULL || idmap_get(&s->dsubs, f->id) != NULL) {
        session_send_err(s, f->id, TRPC_E_DUPLICATE_SUBSCRIPTION, false, NULL);
        return true;
    }
    if (admin_reserved(f->topic, f->topic_len)) {
        session_send_err(s, f->id, TRPC_E_PERMISSION_DENIED, false, NULL);
        return true;
    }
    if (s->subs.count + s->dsubs.count >= c->cfg.max_subscriptions) {
        session_send_err(s, f->id, TRPC_E_TOO_MANY_SUBSCRIPTIONS, false, NULL);
        return true;
    }
    for (unsigned i = 0; t != NULL && e == NULL && i < t->n; i++)
        for (unsigned k = 0; e == NULL && k < t->e[i].nsubjects; k++)
            if (stream_pattern_covers(t->e[i].subj[k], t->e[i].subj_len[k], f->topic, f->topic_len))
                e = &t->e[i];
    if (e == NULL) {
        snprintf(why, sizeof(why), "no stream covers %.*s: declare one (trpcctl stream add)",
                 (int)(f->topic_len > 80 ? 80 : f->topic_len), f->topic);
        session_send_err(s, f->id, TRPC_E_NO_STREAM, false, why);
        return true;
    }
    /* What the SUB leaves out, the stream's defaults say; whether it said anything (has_policy:
     * compared with an existing group's) is the SUB's own. */
    policy_default(&merged, &e->defaults);
    if (p->dlq != NULL && stream_table_match(t, p->dlq, p->dlq_len) == NULL) {
        if (!again) {
            wait_for_dlq(s, f, p, &d);
            return true;
        }
        /* Made, but this core did not take the new table (its mailbox was full), or deleted since. */
        snprintf(why, sizeof(why), "trpc-dlq \"%.*s\": the stream made for it is not in force here yet: subscribe again",
                 (int)(p->dlq_len > 60 ? 60 : p->dlq_len), p->dlq);
        session_send_err(s, f->id, TRPC_E_UNAVAILABLE, false, why);
        return true;
    }
    ds = calloc(1, sizeof(*ds) + f->topic_len + p->dlq_len);
    j = malloc(sizeof(*j) + f->topic_len + p->dlq_len);
    if (ds == NULL || j == NULL || idmap_put(&s->dsubs, f->id, ds) != 0) {
        free(ds);
        free(j);
        session_send_err(s, f->id, TRPC_E_UNAVAILABLE, false, "out of memory");
        return true;
    }
    ds->stream_id = e->id;
    ds->owner = e->owner;
    ds->token = ++c->group.next_token;
    memcpy(ds->name, d.val, d.val_len);
    ds->name[d.val_len] = '\0';
    sub_keep(ds, f, p);
    *j = (struct gjoin){.stream_id = e->id,
                        .mcore = c->id,
                        .slot = s->slot,
                        .gen = s->gen,
                        .sid = f->id,
                        .token = ds->token,
                        .client_id = s->client_id,
                        .window = f->aux == 0                 ? GROUP_WINDOW_DEFAULT
                                  : f->aux > GROUP_WINDOW_MAX ? GROUP_WINDOW_MAX
                                                              : f->aux,
                        .has_policy =
                            asked->max_deliveries != 0 || asked->has_backoff || asked->dlq != NULL || asked->ack_wait_ms != 0,
                        .pattern_len = f->topic_len,
                        .dlq_len = p->dlq_len};
    gpolicy_of(p, &j->pol);
    memcpy(j->name, ds->name, sizeof(j->name));
    memcpy(j->text, f->topic, f->topic_len);
    if (p->dlq_len > 0)
        memcpy(j->text + f->topic_len, p->dlq, p->dlq_len);
    if (to_owner(c, e->owner, X_GJOIN, j) != 0) {
        free(idmap_del(&s->dsubs, f->id));
        session_send_err(s, f->id, TRPC_E_UNAVAILABLE, false, "the stream's core is busy: subscribe again later");
    }
    return true;
}

static void leave(struct session *s, uint64_t sid, struct dsub *ds)
{
    struct gleave *w;

    if (ds->wait != NULL) { /* never joined: nothing for the owner */
        free(ds->wait);
        free(ds);
        return;
    }
    w = malloc(sizeof(*w));

    if (w != NULL) {
        *w = (struct gleave){
            .stream_id = ds->stream_id, .mcore = s->core->id, .slot = s->slot, .gen = s->gen, .sid = sid, .token = ds->token};
        memcpy(w->name, ds->name, sizeof(w->name));
        if (to_owner(s->core, ds->owner, X_GLEAVE, w) != 0)
            log_warn(s->core->id, "consumer group %s: a member's leave was lost (the ack wait brings its messages back)", ds->name);
    }
    free(ds);
}

int group_unsub(struct session *s, uint64_t sid)
{
    struct dsub *ds = idmap_del(&s->dsubs, sid);

    if (ds == NULL)
        return -ENOENT;
    leave(s, sid, ds);
    return 0;
}

void group_settle(struct session *s, const struct wire_frame *f)
{
    struct dsub *ds = idmap_get(&s->dsubs, f->id);
    struct gack *a;
    uint32_t rlen;

    if (ds == NULL || ds->wait != NULL) {
        session_send_err(s, f->id, TRPC_E_UNKNOWN_SUBSCRIPTION, false, "no durable subscription with this id");
        return;
    }
    rlen = f->type == WIRE_TERM ? (f->payload_len > WIRE_TERM_REASON_MAX ? WIRE_TERM_REASON_MAX : f->payload_len) : 0;
    a = malloc(sizeof(*a) + rlen);
    if (a == NULL)
        return; /* the ack wait redelivers it */
    *a = (struct gack){
        .who = {.stream_id = ds->stream_id, .mcore = s->core->id, .slot = s->slot, .gen = s->gen, .sid = f->id, .token = ds->token},
        .seq = f->seq,
        .type = (uint8_t)f->type,
        .delay_ms = f->type == WIRE_NACK ? f->aux : 0,
        .reason_len = (uint16_t)rlen};
    if (rlen > 0)
        memcpy(a->reason, f->payload, rlen);
    memcpy(a->who.name, ds->name, sizeof(a->who.name));
    to_owner(s->core, ds->owner, X_GACK, a);
}

static void session_gone(struct session *s)
{
    uint32_t pos = 0;
    uint64_t sid;
    struct dsub *ds;

    while ((ds = idmap_next(&s->dsubs, &pos, &sid)) != NULL)
        leave(s, sid, ds);
    idmap_free(&s->dsubs);
}

/* ---- opening, replay, closing (the owner) --------------------------------------------------------- */

/* A definition record's head and texts (GREC_DEF, and the start of GREC_SNAP), checked: from the
 * disk, a damaged record is skipped, never trusted. The bytes they take, or 0. */
static size_t def_parse(const struct stream *st, const struct wal_record *r, struct grec_def *d)
{
    const char *text = (const char *)r->data + sizeof(*d);
    size_t n;

    if (r->len < sizeof(*d))
        return 0;
    memcpy(d, r->data, sizeof(*d));
    n = sizeof(*d) + (size_t)d->name_len + d->filter_len + d->dlq_len;
    if (d->name_len == 0 || d->name_len > GROUP_NAME_MAX || r->len < n || d->filter_len == 0 ||
        topic_check_pattern(text + d->name_len, d->filter_len) != 0 ||
        (d->dlq_len > 0 && topic_check_literal(text + d->name_len + d->filter_len, d->dlq_len) != 0) ||
        (d->has_backoff && !(d->backoff_factor >= 1.0 && d->backoff_factor <= POLICY_FACTOR_MAX && d->backoff_initial_ms >= 1 &&
                             d->backoff_initial_ms <= d->backoff_max_ms && d->jitter_pm <= 1000)) ||
        d->next_seq == 0)
        return 0;
    if (d->next_seq > wal_durable_seq(st->w) + 1)
        d->next_seq = wal_durable_seq(st->w) + 1; /* the stream lost its last batch: read on from its end */
    return n;
}

/* The group a checked definition names: the one of its id, or a new one. NULL when the id names
 * another group, or there is no room. */
static struct group *def_group(struct stream *st, const struct grec_def *d, const char *text)
{
    struct group *g = group_by_id(st, d->gid);
    char name[GROUP_NAME_MAX + 1];
    struct gpolicy pol;

    memcpy(name, text, d->name_len);
    name[d->name_len] = '\0';
    if (g != NULL)
        return strcmp(g->name, name) == 0 ? g : NULL;
    if (st->ngroups >= GROUPS_PER_STREAM)
        return NULL;
    pol = (struct gpolicy){.max_deliveries = d->max_deliveries,
                           .has_backoff = d->has_backoff != 0,
                           .backoff_initial_ms = d->backoff_initial_ms,
                           .backoff_max_ms = d->backoff_max_ms,
                           .backoff_factor = d->backoff_factor,
                           .jitter_pm = d->has_backoff ? d->jitter_pm : 0,
                           .ack_wait_ms = d->ack_wait_ms};
    g = group_new(st, d->gid, name, text + d->name_len, d->filter_len, text + d->name_len + d->filter_len, d->dlq_len, &pol);
    if (g != NULL)
        g->next_seq = d->next_seq;
    return g;
}

static void replay_def(struct stream *st, const struct wal_record *r)
{
    struct grec_def d;
    size_t n = def_parse(st, r, &d);

    if (n != 0 && n == r->len && group_by_id(st, d.gid) == NULL)
        def_group(st, &d, (const char *)r->data + sizeof(d));
}

/* Replay-time entries: no body, no timer. */
static struct gpend *replay_pend(struct group *g, uint64_t seq)
{
    struct gpend *p = idmap_get(&g->pend, seq);

    if (p != NULL)
        return p;
    p = calloc(1, sizeof(*p));
    if (p == NULL || idmap_put(&g->pend, seq, p) != 0) {
        free(p);
        return NULL;
    }
    p->g = g;
    p->seq = seq;
    p->state = P_LOST;
    return p;
}

/* A snapshot replaces what the group's earlier records said. */
static void replay_snap(struct stream *st, const struct wal_record *r)
{
    struct grec_def d;
    size_t n = def_parse(st, r, &d);
    struct group *g;
    uint32_t pos = 0;
    struct gpend *p;

    if (n == 0 || (r->len - n) % sizeof(struct grec_pend) != 0 ||
        (g = def_group(st, &d, (const char *)r->data + sizeof(d))) == NULL)
        return;
    while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL)
        free(p);
    idmap_free(&g->pend); /* all zero: empty */
    g->next_seq = d.next_seq;
    for (size_t at = n; at < r->len; at += sizeof(struct grec_pend)) {
        struct grec_pend e;

        memcpy(&e, (const uint8_t *)r->data + at, sizeof(e));
        if (e.seq != 0 && e.seq < g->next_seq && (p = replay_pend(g, e.seq)) != NULL)
            p->count = e.count;
    }
}

static void replay_seq(struct stream *st, uint16_t type, const struct wal_record *r)
{
    struct grec_seq q;
    struct group *g;
    struct gpend *p;

    if (r->len != sizeof(q))
        return;
    memcpy(&q, r->data, sizeof(q));
    g = group_by_id(st, q.gid);
    if (g == NULL || q.seq == 0 || q.seq > wal_durable_seq(st->w))
        return;
    p = idmap_get(&g->pend, q.seq);
    if (type != GREC_DLV) {
        if (p != NULL) {
            idmap_del(&g->pend, q.seq);
            free(p);
        }
        return;
    }
    if (p == NULL && (p = replay_pend(g, q.seq)) == NULL)
        return;
    p->count = q.count;
    if (q.seq >= g->next_seq)
        g->next_seq = q.seq + 1;
}

static void replay_del(struct stream *st, const struct wal_record *r)
{
    uint32_t gid;
    struct group *g;

    if (r->len != sizeof(gid))
        return;
    memcpy(&gid, r->data, sizeof(gid));
    g = group_by_id(st, gid);
    if (g != NULL) {
        uint32_t pos = 0;
        struct gpend *p;

        /* Replay entries hold no body and no timer (the timer set may not exist yet). */
        while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL)
            free(p);
        idmap_free(&g->pend);
        group_free(g);
    }
}

/* Opens the group log of st into st->gw (dir: its directory, for messages): 0 or -errno. */
static int glog_open(struct stream *st, char *dir, size_t dir_len)
{
    struct core *c = st->c;
    struct wal_options o = {0};

    snprintf(dir, dir_len, "%s/streams/%s/groups", c->cfg.data_dir, st->name);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return -errno;
    o.dir = dir;
    o.segment_bytes = GLOG_SEGMENT_BYTES;
    o.buffer_bytes = GLOG_BUFFER_BYTES;
    o.log = stream_wal_log;
    o.log_arg = st;
    return wal_set_open(&c->stream.wals, &o, NULL, &st->gw, &st->gslot);
}

int group_open_all(struct stream *st)
{
    struct core *c = st->c;
    struct wal_record r;
    struct wal_iter *it;
    char dir[CONFIG_PATH_MAX + 128];
    int ret;

    ret = glog_open(st, dir, sizeof(dir));
    if (ret != 0)
        goto fail;
    ret = wal_iter_open(st->gw, 0, &it);
    if (ret != 0)
        goto fail_close;
    while ((ret = wal_iter_next(it, &r)) == 1) {
        st->glog_bytes += r.len; /* a long replay compacts at once */
        if (r.type == GREC_DEF)
            replay_def(st, &r);
        else if (r.type == GREC_SNAP)
            replay_snap(st, &r);
        else if (r.type == GREC_DLV || r.type == GREC_ACK || r.type == GREC_TERM)
            replay_seq(st, r.type, &r);
        else if (r.type == GREC_DEL)
            replay_del(st, &r);
    }
    wal_iter_close(it);
    if (ret < 0)
        goto fail_close;
    if (st->ngroups > 0 && !c->group.tset_on && (ret = group_tset_init(c)) != 0)
        goto fail_close;
    for (unsigned i = 0; i < st->ngroups; i++) {
        struct group *g = st->groups[i];
        uint32_t pos = 0;
        struct gpend *p;

        g->scan_seq = g->next_seq;
        while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL) {
            g->nlost++;
            if (p->seq < g->scan_seq)
                g->scan_seq = p->seq;
        }
        log_info(c->id, "stream %s: consumer group %s, next sequence %" PRIu64 ", %u delivered and not acknowledged", st->name,
                 g->name, g->next_seq, g->nlost);
    }
    return 0;
fail_close:
    while (st->ngroups > 0)
        group_free(st->groups[0]);
    wal_set_close(&c->stream.wals, st->gslot);
    st->gw = NULL;
fail:
    log_error(c->id, "stream %s: cannot open its group log in %s: %s; it has no consumer groups", st->name, dir, strerror(-ret));
    return ret;
}

int group_close_all(struct stream *st)
{
    struct core *c = st->c;

    while (st->ngroups > 0) {
        struct group *g = st->groups[0];

        for (unsigned i = 0; i < g->nmembers && !c->stopping; i++)
            refuse(c, g->members[i].core, g->members[i].slot, g->members[i].gen, g->members[i].sid, g->members[i].token,
                   TRPC_E_UNAVAILABLE, true, "the stream was deleted");
        group_free(g);
    }
    free(st->groups);
    st->groups = NULL;
    st->groups_cap = 0;
    if (st->gw == NULL)
        return 0;
    if (c->stopping) {
        /* The busy hook drained what it could; what is left is lost (at least once). */
        while (st->grec_head != NULL) {
            struct grec *r = st->grec_head;

            st->grec_head = r->next;
            group_wait_post(r->w, -ECANCELED);
            free(r);
        }
        st->grec_tail = NULL;
        st->ngrec = 0;
    }
    glog_drain(st);
    if (st->grec_head != NULL || wal_set_close(&c->stream.wals, st->gslot) != 0)
        return -EBUSY;
    st->gw = NULL;
    return 0;
}

void group_detach(struct stream *st)
{
    for (unsigned i = 0; i < st->ngroups; i++) {
        if (st->groups[i]->it != NULL) {
            wal_iter_close(st->groups[i]->it);
            st->groups[i]->it = NULL;
        }
    }
}

bool group_log_pending(struct stream *st)
{
    if (st->grec_head != NULL && st->gw != NULL)
        glog_drain(st);
    return st->grec_head != NULL && st->gw != NULL;
}

/* The log open again: what it missed is written as a whole. Groups deleted meanwhile get their
 * GREC_DEL (every id below next_gid that no group has: one for an id never used, or deleted long
 * ago, changes nothing at a replay), then every group its snapshot, which replaces at a replay
 * whatever its earlier records say; once they are durable, the segments before them go, as after
 * a compaction. A group whose start is still being looked up has recorded nothing yet. */
static void glog_rewrite(struct stream *st)
{
    unsigned mark = MARK_FIRST, last = st->ngroups;
    int ret = 0;

    for (unsigned i = 0; i < st->ngroups; i++)
        if (!st->groups[i]->starting)
            last = i;
    st->glog_bytes = 0;
    st->snap_bytes = 0;
    st->compacting = last < st->ngroups; /* glog_compacted clears it */
    for (uint32_t id = 0; ret == 0 && id < st->next_gid; id++) {
        if (group_by_id(st, id) != NULL)
            continue;
        ret = glog(st, GREC_DEL, &id, sizeof(id), NULL, 0, mark, NULL);
        mark = 0;
    }
    for (unsigned i = 0; ret == 0 && i <= last && i < st->ngroups; i++) {
        if (st->groups[i]->starting)
            continue;
        ret = log_snapshot(st->groups[i], mark | (i == last ? MARK_LAST : 0), NULL);
        mark = 0;
    }
    if (ret != 0) {
        st->compacting = false;
        log_warn(st->c->id, "stream %s: writing the groups to their reopened log: %s; a restart may deliver again", st->name,
                 strerror(-ret));
    }
}

/* A failed group log is closed once nothing of it is on the ring, and opened again (recovery cuts
 * a torn tail); the records it dropped meanwhile are made good by glog_rewrite. */
static void glog_reopen(struct stream *st)
{
    struct core *c = st->c;
    char dir[CONFIG_PATH_MAX + 128];
    int ret;

    if (st->gw_err == 0 || st->closing || c->stopping || uring_now_ns() < st->greopen_ns)
        return;
    if (st->gw != NULL) {
        glog_drain(st); /* the failed log refuses them all: dropped, their waits told */
        assert(st->grec_head == NULL);
        if (wal_set_close(&c->stream.wals, st->gslot) != 0)
            return; /* requests still on the ring: the next turn */
        st->gw = NULL;
    }
    ret = glog_open(st, dir, sizeof(dir));
    if (ret != 0) {
        st->gw = NULL;
        st->greopen_ms = st->greopen_ms * 2 > STREAM_REOPEN_MAX_MS ? STREAM_REOPEN_MAX_MS : st->greopen_ms * 2;
        st->greopen_ns = uring_now_ns() + (uint64_t)st->greopen_ms * 1000000;
        log_warn(c->id, "stream %s: cannot open its group log in %s again: %s; tried again in %u ms", st->name, dir, strerror(-ret),
                 st->greopen_ms);
        return;
    }
    log_info(c->id, "stream %s: its group log is open again (%" PRIu64 " records were dropped): writing every group's state",
             st->name, st->glog_dropped);
    st->gw_err = 0;
    st->glog_dropped = 0;
    glog_rewrite(st);
}

void group_flush(struct stream *st)
{
    glog_reopen(st);
    if (st->grec_head != NULL && st->gw != NULL)
        glog_drain(st);
    glog_compact(st);
    for (unsigned i = 0; i < st->ngroups; i++) {
        struct group *g = st->groups[i];

        if (g->dead_retry) {
            uint32_t pos = 0;
            struct gpend *p;

            g->dead_retry = false;
            while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL) {
                if (p->state == P_DEAD && !p->dead_fly && !uring_deadline_is_pending(&p->dl) &&
                    uring_tset_add(&st->c->group.tset, &p->dl, uring_now_ns() + (uint64_t)DEAD_RETRY_MS * 1000000, on_deadline) !=
                        0)
                    g->dead_retry = true;
            }
        }
        if (g->want && g->nmembers > 0) {
            g->want = false;
            pump(g);
        }
    }
}

void group_info_of(const struct group *g, struct group_info *in)
{
    const struct stream *st = g->st;
    uint64_t last = st->w != NULL ? wal_durable_seq(st->w) : 0;
    uint32_t pos = 0;
    struct gpend *p;

    {
        memset(in, 0, sizeof(*in));
        snprintf(in->name, sizeof(in->name), "%s", g->name);
        snprintf(in->filter, sizeof(in->filter), "%s", g->filter);
        snprintf(in->dlq, sizeof(in->dlq), "%s", g->dlq != NULL ? g->dlq : "");
        in->max_deliveries = g->pol.max_deliveries;
        in->ack_wait_ms = g->pol.ack_wait_ms;
        in->has_backoff = g->pol.has_backoff;
        in->backoff_initial_ms = g->pol.backoff_initial_ms;
        in->backoff_max_ms = g->pol.backoff_max_ms;
        in->backoff_factor = g->pol.backoff_factor;
        in->backoff_jitter_pm = g->pol.jitter_pm;
        in->members = g->nmembers;
        in->next_seq = g->next_seq;
        in->lag = last + 1 > g->next_seq ? last + 1 - g->next_seq : 0;
        while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL) {
            in->pending++;
            in->inflight += p->state == P_FLY;
            in->waiting += p->state == P_WAIT || p->state == P_READY || p->state == P_DEAD;
            in->lost += p->state == P_LOST;
        }
        in->delivered = g->delivered;
        in->redelivered = g->redelivered;
        in->acked = g->acked;
        in->dead = g->dead;
        in->termed = g->termed;
        in->expired = g->expired;
    }
}

uint64_t group_interest_floor(const struct stream *st)
{
    uint64_t low = UINT64_MAX;

    if (st->ngroups == 0)
        return 0;
    for (unsigned i = 0; i < st->ngroups; i++) {
        const struct group *g = st->groups[i];
        uint32_t pos = 0;
        struct gpend *p;

        if (g->starting)
            return 0;
        if (g->next_seq < low)
            low = g->next_seq;
        while ((p = idmap_next(&g->pend, &pos, NULL)) != NULL)
            if (p->seq < low)
                low = p->seq;
    }
    return low;
}

unsigned group_infos(struct stream *st, struct group_info *v)
{
    for (unsigned i = 0; i < st->ngroups; i++)
        group_info_of(st->groups[i], &v[i]);
    return st->ngroups;
}

/* ---- the module -------------------------------------------------------------------------------- */

static void stop(struct core *c)
{
    if (c->group.tset_on)
        uring_tset_stop(&c->group.tset);
}

static void fini(struct core *c)
{
    uring_tset_destroy(&c->group.tset);
}

static const struct core_xtype xtypes[] = {
    {.type = X_GJOIN, .on_msg = gjoin_xin},     {.type = X_GLEAVE, .on_msg = gleave_xin}, {.type = X_GACK, .on_msg = gack_xin},
    {.type = X_GREFUSE, .on_msg = grefuse_xin}, {.type = X_GMSG, .on_msg = gmsg_xin},
};

const struct core_module group_module = {
    .name = "group",
    .xtypes = xtypes,
    .nxtypes = sizeof(xtypes) / sizeof(xtypes[0]),
    .session_gone = session_gone,
    .stop = stop,
    .fini = fini,
};
