/*
 * Dead letters on the owner of a dead-letter stream (stream.h, ADMIN_MB_DLQ): list them with
 * their reasons, purge them (a tombstone each, as for a redriven one), and redrive them, each published again on the topic it came
 * from (its trpc-dlq-topic header), into the stream that covers that topic, with its payload and its own headers (the trpc-dlq-*
 * ones left out), then deleted from the dead-letter stream once the new copy is stored (a tombstone: a crash in between redrives it
 * again on the next call, at least once).
 *
 * All three read the stream with an asynchronous iterator (the stream stays open meanwhile: st->gets),
 * from a sequence, up to a count, and answer one struct stream_dlq_result whose next_seq lets the
 * caller go on from there. A redrive has at most DLQ_INFLIGHT copies on their way at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/topic.h"
#include "src/admin.h"
#include "src/core.h"
#include "src/log.h"
#include "src/stream.h"
#include "src/stream_internal.h"

#define DLQ_INFLIGHT 64

struct dlq_job {
    struct stream_stall stall; /* first: stream_stall */
    struct stream *st;
    struct stream_dlq_req req;
    struct wal_iter *it;
    uint64_t next;        /* the sequence to read next */
    uint32_t taken;       /* messages listed, or sent to be redriven */
    uint32_t inflight;    /* redriven copies not answered yet */
    bool read_done, done; /* no more to read; answered */
    bool stepping;        /* in step(): an answer that comes at once lets the loop go on */
    int err;              /* the first failure: answered once the copies in flight are */
    struct stream_dlq_result *res;
    size_t res_cap; /* bytes of res, msgs[] included */
};

/* The value of header key in block h[0, len) (checked when stored), or NULL. */
static const uint8_t *header(const uint8_t *h, uint32_t len, const char *key, uint16_t *vlen)
{
    size_t kl = strlen(key);
    struct wire_header e;
    uint32_t pos = 0;

    while (wire_header_block_next(h, len, &pos, &e) == 1) {
        if (e.key_len == kl && memcmp(e.key, key, kl) == 0) {
            *vlen = e.val_len;
            return e.val;
        }
    }
    return NULL;
}

/* Answers once nothing is in flight: the copies on their way still get their tombstones, the
 * stream staying open (gets) until then. */
static void answer_when_idle(struct dlq_job *j)
{
    struct stream *st = j->st;

    if (j->inflight > 0)
        return;
    j->res->next_seq = j->next;
    admin_part_post(st->c, j->req.query, j->err, j->err == 0 ? j->res : NULL, j->err == 0);
    if (j->err != 0)
        free(j->res); /* else it went with the answer */
    st->gets--;
    free(j);
}

static void finish(struct dlq_job *j, int err)
{
    if (j->done)
        return;
    j->done = true;
    j->err = err;
    if (j->it != NULL) {
        wal_iter_close(j->it);
        j->it = NULL;
    }
    answer_when_idle(j);
}

/* Copies message r into the list reply: false when the reply is full (the caller stops there). */
static bool list_one(struct dlq_job *j, const struct wal_record *r)
{
    size_t need = (sizeof(struct stream_msg) + r->len - STREAM_REC_HEAD + 7) & ~(size_t)7;
    struct stream_rec_head h = {0};
    struct stream_msg *m;

    if (j->res->bytes + need > STREAM_DLQ_LIST_BYTES && j->res->count > 0)
        return false;
    if (sizeof(*j->res) + j->res->bytes + need > j->res_cap) {
        size_t cap =
            j->res_cap * 2 > sizeof(*j->res) + j->res->bytes + need ? j->res_cap * 2 : sizeof(*j->res) + j->res->bytes + need;
        struct stream_dlq_result *n = realloc(j->res, cap);

        if (n == NULL)
            return false;
        j->res = n;
        j->res_cap = cap;
    }
    m = (struct stream_msg *)(void *)(j->res->msgs + j->res->bytes);
    m->seq = r->seq;
    stream_rec_head_get(r->data, r->len, &h); /* the caller checked it */
    m->time_ns = h.ns;
    m->topic_len = h.topic_len;
    m->hdr_len = h.hdr_len;
    m->len = r->len - STREAM_REC_HEAD;
    memcpy(m->body, (const uint8_t *)r->data + STREAM_REC_HEAD, m->len);
    j->res->bytes += need;
    j->res->count++;
    return true;
}

/* Publishes a copy of dead letter r on its origin topic: false when it could not go now (the
 * caller reads it again later); true when sent, or skipped (counted). */
static bool redrive_one(struct dlq_job *j, const struct wal_record *r, const uint8_t *hdr, uint32_t hl, uint16_t tl)
{
    struct core *c = j->st->c;
    const uint8_t *origin, *payload = hdr + hl;
    uint32_t plen = r->len - STREAM_REC_HEAD - tl - hl, nhl = 0;
    uint16_t olen = 0;
    bool bad;
    const struct stream_entry *e;
    struct uring_xmsg x = {.type = X_SPUB};
    struct wire_header h;
    struct spub *sp;
    uint32_t pos = 0;
    uint8_t *out;

    origin = header(hdr, hl, "trpc-dlq-topic", &olen);
    /* Anyone may publish on a dead-letter topic: the header is checked as a PUB's topic would be. */
    bad = origin != NULL && (olen == 0 || olen > c->cfg.limits.max_topic || topic_check_literal((const char *)origin, olen) != 0 ||
                             admin_reserved((const char *)origin, olen));
    e = origin != NULL && !bad ? stream_table_match(c->stream.table, (const char *)origin, olen) : NULL;
    if (e == NULL || e->id == j->st->id) {
        j->res->skipped++;
        if (j->res->why[0] == '\0')
            snprintf(j->res->why, sizeof(j->res->why), "message %llu: %s", (unsigned long long)r->seq,
                     origin == NULL ? "not a dead letter (no trpc-dlq-topic)"
                     : bad          ? "its trpc-dlq-topic is not a topic one may publish on"
                     : e == NULL    ? "no stream covers its origin topic now"
                                    : "its origin topic is this stream's own");
        return true;
    }
    sp = malloc(sizeof(*sp) + STREAM_REC_HEAD + olen + hl + plen);
    if (sp == NULL)
        return false;
    memset(sp, 0, sizeof(*sp));
    out = sp->rec + STREAM_REC_HEAD;
    memcpy(out, origin, olen);
    while (wire_header_block_next(hdr, hl, &pos, &h) == 1) {
        if (h.key_len >= 9 && memcmp(h.key, "trpc-dlq-", 9) == 0)
            continue;
        memcpy(out + olen + nhl, &h.key_len, 2);
        memcpy(out + olen + nhl + 2, &h.val_len, 2);
        memcpy(out + olen + nhl + 4, h.key, h.key_len);
        memcpy(out + olen + nhl + 4 + h.key_len, h.val, h.val_len);
        nhl += 4u + h.key_len + h.val_len;
    }
    memcpy(out + olen + nhl, payload, plen);
    {
        struct stream_rec_head rh = {0};

        stream_rec_head_get(r->data, r->len, &rh); /* the caller checked it */
        /* A dead durable request goes back as one: the groups still drop it past its deadline. */
        stream_rec_head_put(sp->rec, core_realtime_ns(), olen, rh.flags & STREAM_MSG_REQUEST, nhl);
    }
    sp->stream_id = e->id;
    sp->pub_core = c->id;
    sp->ack = true;
    sp->redrive = true;
    sp->job = j;
    sp->dead_seq = r->seq;
    sp->dead_bytes = r->len - STREAM_REC_HEAD;
    sp->len = STREAM_REC_HEAD + olen + nhl + plen;
    sp->cost = (uint32_t)sizeof(*sp) + sp->len;
    /* Not deduplicated: a trpc-msg-id it carries was stored once already, in the window perhaps. */
    if (e->owner == c->id) {
        j->inflight++;
        stream_take(c, sp);
        return true;
    }
    x.ptr = sp;
    if (core_push(c, e->owner, &x, 0) != 0) {
        free(sp);
        return false;
    }
    j->inflight++;
    return true;
}

/* Deletes dead letter r (readers skip it at once; its tombstone goes with the log's next batch): a
 * message that is not one (published on the topic directly) stays. Always true: each is counted. */
static bool purge_one(struct dlq_job *j, const struct wal_record *r, const uint8_t *hdr, uint32_t hl)
{
    uint16_t olen;
    int ret;

    if (header(hdr, hl, "trpc-dlq-topic", &olen) == NULL) {
        j->res->skipped++;
        if (j->res->why[0] == '\0')
            snprintf(j->res->why, sizeof(j->res->why), "message %llu: not a dead letter (no trpc-dlq-topic)",
                     (unsigned long long)r->seq);
        return true;
    }
    ret = stream_delete(j->st, r->seq, r->len - STREAM_REC_HEAD);
    if (ret != 0) {
        j->res->failed++;
        if (j->res->why[0] == '\0')
            snprintf(j->res->why, sizeof(j->res->why), "message %llu: not deleted: %s", (unsigned long long)r->seq, strerror(-ret));
        return true;
    }
    j->res->purged++;
    return true;
}

static void step(struct dlq_job *j);

static void ready(void *arg, struct wal_iter *it)
{
    (void)it;
    step(arg);
}

static void unstall(struct stream_stall *s)
{
    step((struct dlq_job *)(void *)s);
}

/* Reads on while there is room: ends the job at the end, the count or the last sequence. */
static void step(struct dlq_job *j)
{
    struct stream *st = j->st;
    struct wal_record r;
    int ret;

    if (j->stepping || j->stall.queued) /* a redriven copy's answer while the SQ was full: the flush goes on */
        return;
    j->stepping = true;
    while (!j->done && !j->read_done && j->inflight < DLQ_INFLIGHT) {
        struct stream_rec_head h;
        uint16_t tl, vl;
        uint32_t hl;
        const uint8_t *hdr, *reason;

        if (j->taken >= j->req.limit || (j->req.to != 0 && j->next > j->req.to)) {
            j->read_done = true;
            break;
        }
        ret = wal_iter_next(j->it, &r);
        if (ret == -EAGAIN) {
            j->stepping = false;
            return; /* ready goes on */
        }
        if (ret == -EBUSY) { /* the SQ is full: no read placed, the next flush goes on */
            j->stepping = false;
            stream_stall(st, &j->stall);
            return;
        }
        if (ret < 0) {
            j->stepping = false;
            finish(j, ret == -ENOENT ? -EAGAIN : ret); /* -ENOENT: retention removed what it was reading */
            return;
        }
        if (ret == 0) {
            j->read_done = true;
            break;
        }
        if (j->req.to != 0 && r.seq > j->req.to) {
            j->read_done = true;
            break;
        }
        j->next = r.seq + 1;
        if (r.type != STREAM_REC_MSG || !stream_rec_head_get(r.data, r.len, &h) || r.seq < st->floor ||
            stream_is_deleted(st, r.seq))
            continue;
        tl = h.topic_len;
        hl = h.hdr_len;
        hdr = (const uint8_t *)r.data + STREAM_REC_HEAD + tl;
        reason = header(hdr, hl, "trpc-dlq-reason", &vl);
        if (j->req.reason[0] != '\0' && (reason == NULL || vl != strlen(j->req.reason) || memcmp(reason, j->req.reason, vl) != 0))
            continue;
        if (j->req.op == STREAM_DLQ_LIST    ? !list_one(j, &r)
            : j->req.op == STREAM_DLQ_PURGE ? !purge_one(j, &r, hdr, hl)
                                            : !redrive_one(j, &r, hdr, hl, tl)) {
            j->next = r.seq; /* the next call starts with it */
            j->read_done = true;
            break;
        }
        j->taken++;
    }
    j->stepping = false;
    if (j->read_done && !j->done) {
        /* more: something is left to read (a cut, or the count reached before the end). */
        j->res->more = j->next <= wal_durable_seq(st->w) && (j->req.to == 0 || j->next <= j->req.to);
        finish(j, 0);
    }
}

void stream_redrive_stored(struct core *c, struct spub *sp)
{
    struct dlq_job *j = sp->job;
    struct stream *st = j->st;

    (void)c;
    j->inflight--;
    if (sp->err == 0) {
        j->res->redriven++;
        /* The job keeps the stream open (gets) until its last answer. */
        if (stream_delete(st, sp->dead_seq, sp->dead_bytes) != 0 && j->res->why[0] == '\0')
            snprintf(j->res->why, sizeof(j->res->why), "message %llu: redriven, but not deleted: it may be redriven again",
                     (unsigned long long)sp->dead_seq);
    } else {
        j->res->failed++;
        if (j->res->why[0] == '\0')
            snprintf(j->res->why, sizeof(j->res->why), "message %llu: %s%s%s", (unsigned long long)sp->dead_seq,
                     trpc_err_name(sp->err), sp->why != NULL ? ": " : "", sp->why != NULL ? sp->why : "");
    }
    free(sp);
    if (j->done)
        answer_when_idle(j);
    else
        step(j);
}

void stream_dlq_in(struct core *c, const struct uring_xmsg *m)
{
    struct stream_dlq_req *r = m->ptr;
    struct stream *st = stream_find(c, r->id);
    struct dlq_job *j;
    int ret;

    if (st == NULL || st->closing) {
        admin_part_post(c, r->query, -ESRCH, NULL, 0);
        free(r);
        return;
    }
    if (st->w == NULL || st->err != 0) {
        admin_part_post(c, r->query, st->err != 0 ? st->err : -EIO, NULL, 0);
        free(r);
        return;
    }
    j = calloc(1, sizeof(*j));
    if (j != NULL && (j->res = calloc(1, sizeof(*j->res) + 4096)) != NULL)
        j->res_cap = sizeof(*j->res) + 4096;
    if (j == NULL || j->res == NULL) {
        if (j != NULL)
            free(j);
        admin_part_post(c, r->query, -ENOMEM, NULL, 0);
        free(r);
        return;
    }
    j->st = st;
    j->req = *r;
    free(r);
    j->next = j->req.from > stream_first_kept(st) ? j->req.from : stream_first_kept(st);
    ret = wal_iter_open_async(st->w, j->next, ready, j, &j->it);
    if (ret != 0) {
        admin_part_post(c, j->req.query, ret == -EMFILE ? -EAGAIN : ret, NULL, 0);
        free(j->res);
        free(j);
        return;
    }
    j->stall.step = unstall;
    st->gets++;
    step(j);
}
