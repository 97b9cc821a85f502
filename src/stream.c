/*
 * Streams on their cores (stream.h). A PUB that a stream covers becomes a struct spub: one block
 * the publisher's core allocates, holding the WAL record (a small head, then the PUB's topic,
 * headers and payload as received). It travels to the owner (X_SPUB) unless the publisher's core
 * owns the stream, waits there in the stream's queue until the log takes it, then in the in-flight
 * queue until its batch is durable (the log completes appends in sequence order, so the in-flight
 * queue's head is always the one completed), and goes back to the publisher's core as the answer
 * (X_SPUBACK), which sends PUBACK or ERR and frees the block where it was allocated. A PUB without
 * ACK_REQ that was stored needs no answer: the owner frees it.
 *
 * Bounds: a PUB copy to another core is a droppable message (core_push's byte bound between two
 * cores: refused at once with UNAVAILABLE), and an owner holds at most STREAM_PENDING_MAX bytes
 * per stream waiting for the disk (beyond: UNAVAILABLE). Nothing a publisher sends is dropped
 * without an ERR.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "driver/topic.h"
#include "src/admin.h"
#include "src/core.h"
#include "src/group.h"
#include "src/log.h"
#include "src/session.h"
#include "src/stream.h"
#include "src/stream_internal.h"

/* ---- answers --------------------------------------------------------------------------------- */

/* The publisher's core: PUBACK or ERR to the session if it is still there. */
static void reply_local(struct core *c, struct spub *sp)
{
    struct session *s;

    if (sp->dead) {
        group_dead_stored(c, sp);
        return;
    }
    if (sp->redrive) {
        stream_redrive_stored(c, sp);
        return;
    }
    if (sp->req) {
        request_store_failed(c, sp->id, sp->err, sp->why);
        free(sp);
        return;
    }
    s = core_session(c, sp->slot, sp->gen);

    if (s != NULL && s->state == SESS_OPEN) {
        if (sp->err != 0) {
            session_send_err(s, sp->id, sp->err, false, sp->why);
        } else if (sp->ack) {
            struct wire_out o = {.type = WIRE_PUBACK, .id = sp->id, .seq = sp->seq};

            session_send(s, &o);
        }
    }
    free(sp);
}

static void answer(struct core *c, struct spub *sp, int err, const char *why)
{
    struct uring_xmsg m = {.type = X_SPUBACK, .ptr = sp};

    sp->err = err;
    sp->why = why;
    if (err == 0 && !sp->ack) {
        free(sp);
    } else if (sp->pub_core == c->id) {
        reply_local(c, sp);
    } else if (core_push(c, sp->pub_core, &m, 0) != 0) {
        log_warn(c->id, "stream: answer to a PUB lost (out of memory)");
        free(sp);
    }
}

static void spuback_in(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    (void)src;
    reply_local(c, msg->ptr);
}

/* ---- the owner ---------------------------------------------------------------------------------- */

struct stream *stream_find(struct core *c, uint32_t id)
{
    struct stream_core *sc = &c->stream;

    for (unsigned i = 0; i < sc->nown; i++)
        if (sc->own[i]->id == id)
            return sc->own[i];
    return NULL;
}

static void settle(struct stream *st, struct spub *sp)
{
    st->pending_bytes -= sp->cost;
    st->npending--;
}

/* ---- retention ------------------------------------------------------------------------------------ */

/* Consecutive messages, removed together. */
struct schunk {
    uint64_t first, last, msgs, bytes, first_ns, last_ns;
    uint64_t del_msgs, del_bytes; /* of msgs and bytes: deleted one by one (tombstones) */
    bool before_edit;             /* counted under limits stream.edit has changed since */
};

static struct schunk *chunk_at(const struct stream *st, uint32_t i)
{
    return &st->chunks[(st->chunk_head + i) & (st->chunks_cap - 1)];
}

static struct schunk *chunk_new(struct stream *st)
{
    /* From 16, doubled: the capacity stays a power of two for chunk_at's mask. */
    if (st->nchunks == st->chunks_cap &&
        fifo_grow((void **)&st->chunks, sizeof(*st->chunks), &st->chunk_head, st->nchunks, &st->chunks_cap, 16) != 0)
        return NULL;
    st->nchunks++;
    return chunk_at(st, st->nchunks - 1);
}

static void chunk_drop(struct stream *st)
{
    const struct schunk *k = chunk_at(st, 0);

    st->ndeleted -= k->del_msgs;
    st->deleted_bytes -= k->del_bytes;
    st->chunk_head = (st->chunk_head + 1) & (st->chunks_cap - 1);
    st->nchunks--;
}

/* A chunk holds 1/STREAM_CHUNKS of each limit (16 MiB without one); a message that would take it
 * past its bytes starts the next, so that a large one never drags smaller older ones along nor
 * goes with them. */
static bool chunk_full(const struct stream *st, const struct schunk *k, uint64_t bytes, uint64_t ns)
{
    const struct stream_limits *l = &st->lim;
    /* Interest retention frees what the groups settled a chunk at a time: 1 MiB ones without a
     * byte limit. */
    uint64_t cap = l->max_bytes != 0                           ? l->max_bytes / STREAM_CHUNKS
                   : l->retention == STREAM_RETENTION_INTEREST ? (1u << 20)
                                                               : STREAM_SEGMENT_BYTES;

    if (l->max_msgs != 0 && k->msgs >= (l->max_msgs >= STREAM_CHUNKS ? l->max_msgs / STREAM_CHUNKS : 1))
        return true;
    if (k->msgs > 0 && k->bytes + bytes > (cap > 0 ? cap : 1))
        return true;
    return l->max_age_ms != 0 && ns > k->first_ns && ns - k->first_ns >= l->max_age_ms * 1000000 / STREAM_CHUNKS;
}

/* A message appended (or found at open): kept until retention removes its chunk. */
static void account(struct stream *st, uint64_t seq, uint64_t bytes, uint64_t ns)
{
    struct schunk *k = st->nchunks > 0 ? chunk_at(st, st->nchunks - 1) : NULL;

    if (k == NULL || chunk_full(st, k, bytes, ns)) {
        struct schunk *n = chunk_new(st);

        if (n != NULL) {
            *n = (struct schunk){.first = seq, .first_ns = ns};
            k = n;
        }
    }
    st->msgs++;
    st->bytes += bytes;
    if (k == NULL)
        return; /* out of memory: kept, out of retention's reach */
    k->last = seq;
    k->msgs++;
    k->bytes += bytes;
    k->last_ns = ns;
}

/* ---- deleted messages (tombstones) ---------------------------------------------------------------- */

bool stream_is_deleted(const struct stream *st, uint64_t seq)
{
    return st->deleted.count > 0 && idmap_get(&st->deleted, seq) != NULL;
}

/* The chunk holding message seq (the ring is in sequence order), or NULL. */
static struct schunk *chunk_of(const struct stream *st, uint64_t seq)
{
    uint32_t lo = 0, hi = st->nchunks;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        struct schunk *k = chunk_at(st, mid);

        if (seq < k->first)
            hi = mid;
        else if (seq > k->last)
            lo = mid + 1;
        else
            return k;
    }
    return NULL;
}

static void deleted_add(struct stream *st, uint64_t seq, uint64_t bytes)
{
    struct schunk *k;

    /* The value is the message's bytes plus one: never NULL. The counts are its chunk's, so that
     * they leave with it (a message outside any chunk, out of memory at its append, is not counted
     * and never removed by retention either). */
    if (seq < st->floor || idmap_get(&st->deleted, seq) != NULL ||
        idmap_put(&st->deleted, seq, (void *)(uintptr_t)(bytes + 1)) != 0)
        return;
    k = chunk_of(st, seq);
    if (k != NULL) {
        k->del_msgs++;
        k->del_bytes += bytes;
        st->ndeleted++;
        st->deleted_bytes += bytes;
    }
}

/* Forgets the tombstones below the floor: their chunks took their counts with them. */
static void deleted_prune(struct stream *st)
{
    uint64_t key, *v;
    uint32_t pos = 0, n = 0;
    void *val;

    if (st->deleted.count == 0 || (v = malloc(st->deleted.count * sizeof(*v))) == NULL)
        return;
    while ((val = idmap_next(&st->deleted, &pos, &key)) != NULL) {
        struct schunk *k;

        if (key >= st->floor)
            continue;
        v[n++] = key;
        /* Below the floor in a chunk that stays (a floor record read at open cuts into one): its
         * counts go now. */
        if ((k = chunk_of(st, key)) != NULL && k->del_msgs > 0) {
            uint64_t b = (uint64_t)(uintptr_t)val - 1;

            k->del_msgs--;
            k->del_bytes -= b;
            st->ndeleted--;
            st->deleted_bytes -= b;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        idmap_del(&st->deleted, v[i]);
    free(v);
    if (st->deleted.count == 0)
        idmap_free(&st->deleted); /* memory goes back */
}

static void delete_appended(void *arg, uint64_t seq, int res)
{
    (void)arg;
    (void)seq;
    (void)res; /* a failure fails the log: append_done says so */
}

int stream_delete(struct stream *st, uint64_t seq, uint64_t bytes)
{
    uint64_t rec[2] = {seq, bytes}, at;
    int ret;

    if (st->w == NULL || st->err != 0)
        return st->err != 0 ? st->err : -EIO;
    if (seq < st->floor || stream_is_deleted(st, seq))
        return 0;
    ret = st->ndel_wait == 0 ? wal_append(st->w, STREAM_REC_DEL, rec, sizeof(rec), delete_appended, st, &at) : -EAGAIN;
    if (ret == -EAGAIN) {
        /* The log's buffers are busy: the tombstone goes with the next flush (readers skip the
         * message from now on). */
        if (st->ndel_wait == st->del_wait_cap) {
            uint32_t cap = st->del_wait_cap ? st->del_wait_cap * 2 : 16;
            uint64_t(*v)[2] = realloc(st->del_wait, cap * sizeof(*v));

            if (v == NULL)
                return -ENOMEM;
            st->del_wait = v;
            st->del_wait_cap = cap;
        }
        st->del_wait[st->ndel_wait][0] = seq;
        st->del_wait[st->ndel_wait][1] = bytes;
        st->ndel_wait++;
        ret = 0;
    }
    if (ret == 0)
        deleted_add(st, seq, bytes);
    return ret;
}

/* Appends the tombstones that waited for the log's buffers. */
static void delete_flush(struct stream *st)
{
    uint32_t done = 0;
    uint64_t at;

    while (done < st->ndel_wait && st->w != NULL && st->err == 0 &&
           wal_append(st->w, STREAM_REC_DEL, st->del_wait[done], sizeof(st->del_wait[0]), delete_appended, st, &at) == 0)
        done++;
    memmove(st->del_wait, st->del_wait + done, (st->ndel_wait - done) * sizeof(st->del_wait[0]));
    st->ndel_wait -= done;
    if (st->ndel_wait == 0) {
        free(st->del_wait); /* memory goes back */
        st->del_wait = NULL;
        st->del_wait_cap = 0;
    }
}

static void replay_delete(struct stream *st, const struct wal_record *r)
{
    uint64_t rec[2];

    if (r->len == sizeof(rec)) {
        memcpy(rec, r->data, sizeof(rec));
        if (rec[0] < r->seq)
            deleted_add(st, rec[0], rec[1]);
    }
}

static void floor_truncated(void *arg, int res)
{
    struct stream *st = arg;

    if (res < 0 && res != -ECANCELED)
        log_warn(st->c->id, "stream %s: removing segments below sequence %" PRIu64 ": %s; tried again when the floor moves",
                 st->name, st->floor, strerror(-res));
}

/* Removes the segments wholly below the durable floor; what could not be placed now (-EAGAIN) or
 * failed is tried again at a later flush (trunc_due). */
static void truncate_due(struct stream *st)
{
    int ret;

    st->trunc_due = false;
    if (st->w == NULL || st->err != 0 || st->trunc_floor <= wal_first_seq(st->w))
        return;
    ret = wal_truncate_before(st->w, st->trunc_floor, floor_truncated, st);
    if (ret == -EAGAIN)
        st->trunc_due = true;
    else if (ret < 0)
        floor_truncated(st, ret);
}

/* A floor record is durable: the newest one moves the segments' floor (an older one's callback
 * leaves it to the newest, which completes after it). */
static void floor_appended(void *arg, uint64_t seq, int res)
{
    struct stream *st = arg;

    if (res == 0 && seq == st->floor_rec_seq) {
        st->trunc_floor = st->floor_rec;
        truncate_due(st);
    } /* a failure fails the log: append_done says so */
}

/* Records the floor in the log (with the counts a restart needs: count()); once that is durable the
 * segments wholly below it go (floor_appended), so a crash never brings back what was removed. */
static void floor_write(struct stream *st)
{
    uint64_t rec[3] = {st->floor, st->msgs, st->bytes}, seq;
    int ret;

    if (!st->floor_dirty || st->w == NULL || st->err != 0)
        return;
    ret = wal_append(st->w, STREAM_REC_FLOOR, rec, sizeof(rec), floor_appended, st, &seq);
    if (ret == -EAGAIN)
        return; /* the next flush */
    st->floor_dirty = false;
    if (ret == 0) {
        st->floor_rec_seq = seq;
        st->floor_rec = st->floor;
    }
}

/* While a limit is passed, the oldest chunk goes: max_msgs and max_bytes with discard old, max_age
 * always; never past what is durable (the floor would pass a message that may yet fail, and a
 * group reading from the floor would start past the log's end). */
/* Retention removes the oldest chunk: the floor it leaves (the caller's to raise). */
static uint64_t drop_oldest(struct stream *st)
{
    const struct schunk *k = chunk_at(st, 0);
    uint64_t floor = k->last + 1;

    st->msgs -= k->msgs;
    st->bytes -= k->bytes;
    st->expired += k->msgs - k->del_msgs; /* those deleted one by one were not kept till now */
    chunk_drop(st);
    return floor;
}

static void floor_raise(struct stream *st, uint64_t floor)
{
    if (floor > st->floor) {
        st->floor = floor;
        st->floor_dirty = true; /* one record per loop turn, however many chunks went */
        deleted_prune(st);
    }
}

static void trim(struct stream *st, uint64_t now)
{
    const struct stream_limits *l = &st->lim;
    bool old = l->discard == STREAM_DISCARD_OLD;
    uint64_t floor = st->floor, durable = st->w != NULL ? wal_durable_seq(st->w) : 0;

    while (st->nchunks > 0) {
        const struct schunk *k = chunk_at(st, 0);

        /* What the limits count: kept and not deleted one by one. */
        uint64_t msgs = st->msgs - st->ndeleted, bytes = st->bytes - st->deleted_bytes;
        uint64_t kmsgs = k->msgs - k->del_msgs, kbytes = k->bytes - k->del_bytes;
        bool aged = l->max_age_ms != 0 && now > k->last_ns && now - k->last_ns > l->max_age_ms * 1000000;
        bool by_msgs = old && l->max_msgs != 0 && msgs > l->max_msgs;
        bool by_bytes = old && l->max_bytes != 0 && bytes > l->max_bytes;

        if (k->last > durable)
            break; /* append_done trims again */
        /* A chunk counted under other limits may be far larger than 1/64 of these: a limit it is
         * over removes it only when what stays is near that limit, never leaving much less than the
         * limit says to keep (a restart counts the log afresh, in chunks of these limits). */
        if (k->before_edit) {
            by_msgs = by_msgs && msgs - kmsgs >= l->max_msgs - l->max_msgs / STREAM_CHUNKS;
            by_bytes = by_bytes && bytes - kbytes >= l->max_bytes - l->max_bytes / STREAM_CHUNKS;
        }
        if (!(aged || by_msgs || by_bytes))
            break;
        floor = drop_oldest(st);
    }
    floor_raise(st, floor);
}

#define INTEREST_PERIOD_NS 100000000ull /* a pass over the groups' pending messages at most this often */

/* Interest retention: whole chunks every group has settled, and that are durable, go. */
static void interest_trim(struct stream *st)
{
    uint64_t now = uring_now_ns(), low, floor = st->floor, durable;

    if (st->lim.retention != STREAM_RETENTION_INTEREST || st->w == NULL || st->err != 0 ||
        now - st->interest_ns < INTEREST_PERIOD_NS)
        return;
    st->interest_ns = now;
    low = group_interest_floor(st);
    durable = wal_durable_seq(st->w);
    while (low > 0 && st->nchunks > 0) {
        const struct schunk *k = chunk_at(st, 0);

        if (k->last >= low || k->last > durable)
            break;
        floor = drop_oldest(st);
    }
    floor_raise(st, floor);
}

static bool has_limits(const struct stream *st)
{
    return st->lim.max_age_ms != 0 || (st->lim.discard == STREAM_DISCARD_OLD && (st->lim.max_msgs | st->lim.max_bytes) != 0);
}

/* Discard new: whether a body of len bytes would pass a limit (the reason in *why). */
static bool full(const struct stream *st, uint32_t len, const char **why)
{
    const struct stream_limits *l = &st->lim;

    if (l->discard != STREAM_DISCARD_NEW)
        return false;
    if (l->max_msgs != 0 && st->msgs - st->ndeleted + st->wait_msgs >= l->max_msgs) {
        *why = "the stream holds max_msgs messages and discards new ones";
        return true;
    }
    if (l->max_bytes != 0 && st->bytes - st->deleted_bytes + st->wait_bytes + len > l->max_bytes) {
        *why = "the stream holds max_bytes bytes and discards new messages";
        return true;
    }
    return false;
}

/* At open: a floor record says what was kept from its floor up to itself. */
static void replay_floor(struct stream *st, const struct wal_record *r, uint64_t scan_first)
{
    uint64_t rec[3], dm, db;
    struct schunk *k;

    if (r->len != sizeof(rec))
        return;
    memcpy(rec, r->data, sizeof(rec));
    if (rec[0] <= st->floor || rec[0] > r->seq)
        return; /* damaged, or nothing new */
    st->floor = rec[0];
    while (st->nchunks > 0 && chunk_at(st, 0)->last < st->floor) {
        st->msgs -= chunk_at(st, 0)->msgs;
        st->bytes -= chunk_at(st, 0)->bytes;
        chunk_drop(st);
    }
    /* Below the first segment read, the record's counts include removed messages: what was read
     * is exact. Above it, every message from the floor on was read, and the counts say how many of
     * the first chunk's are below the floor. */
    if (rec[0] <= scan_first || st->nchunks == 0 || rec[1] > st->msgs || rec[2] > st->bytes)
        return;
    k = chunk_at(st, 0);
    dm = st->msgs - rec[1];
    db = st->bytes - rec[2];
    if (dm > k->msgs || db > k->bytes)
        return;
    k->msgs -= dm;
    k->bytes -= db;
    if (k->first < st->floor)
        k->first = st->floor;
    st->msgs = rec[1];
    st->bytes = rec[2];
}

/* ---- deduplication ---------------------------------------------------------------------------------- */

/* A trpc-msg-id seen within the window: the sequence it was stored under, or the PUB storing it. */
struct dedup {
    struct dedup *chain; /* same hash */
    struct blist link;   /* st->dd_list, oldest first */
    uint64_t hash, seq, at_ns;
    struct spub *sp; /* the original, until durable */
    uint16_t len;
    char id[];
};

/* FNV-1a from a per-stream random basis, so that ids chosen to collide in one broker's table do not
 * in another's, nor after a restart. */
static uint64_t id_hash(const struct stream *st, const void *id, size_t len)
{
    uint64_t h = 14695981039346656037ull ^ st->dedup_key;

    for (size_t i = 0; i < len; i++)
        h = (h ^ ((const uint8_t *)id)[i]) * 1099511628211ull;
    return h != 0 ? h : 1; /* idmap keys are non-zero */
}

/* The value of header trpc-msg-id in a header block, as offset and length: false without one. */
static bool find_msgid(const uint8_t *h, uint32_t hl, uint32_t *off, uint16_t *len)
{
    static const char key[] = "trpc-msg-id";
    struct wire_header e;
    uint32_t pos = 0;

    while (wire_header_block_next(h, hl, &pos, &e) == 1) {
        if (e.key_len == sizeof(key) - 1 && memcmp(e.key, key, e.key_len) == 0) {
            *off = (uint32_t)(e.val - h);
            *len = e.val_len;
            return true;
        }
    }
    return false;
}

static struct dedup *dedup_find(const struct stream *st, const void *id, uint16_t len, uint64_t hash)
{
    for (struct dedup *d = idmap_get(&st->dedup, hash); d != NULL; d = d->chain)
        if (d->len == len && memcmp(d->id, id, len) == 0)
            return d;
    return NULL;
}

static void dedup_unchain(struct stream *st, struct dedup *d)
{
    struct dedup *first = idmap_get(&st->dedup, d->hash);

    if (first == d) {
        idmap_del(&st->dedup, d->hash);
        if (d->chain != NULL)
            idmap_put(&st->dedup, d->hash, d->chain); /* room: the key was just freed */
        return;
    }
    for (struct dedup *p = first; p != NULL; p = p->chain) {
        if (p->chain == d) {
            p->chain = d->chain;
            return;
        }
    }
}

/* The oldest goes: expired, or to make room. An entry whose PUB is not durable yet stays (it is
 * in the list's way only until then). */
static struct dedup *dedup_oldest(const struct stream *st)
{
    return blist_empty(&st->dd_list) ? NULL : blist_entry(st->dd_list.next, struct dedup, link);
}

/* Out of the list, the map and memory. */
static void dedup_remove(struct stream *st, struct dedup *d)
{
    blist_del(&d->link);
    dedup_unchain(st, d);
    st->ndedup--;
    free(d);
}

static bool dedup_drop_oldest(struct stream *st)
{
    struct dedup *d = dedup_oldest(st);

    if (d == NULL || d->sp != NULL)
        return false;
    dedup_remove(st, d);
    return true;
}

static void dedup_expire(struct stream *st, uint64_t now)
{
    uint64_t win = st->lim.dedup_window_ms * 1000000;
    struct dedup *d;

    while ((d = dedup_oldest(st)) != NULL && (st->lim.dedup_window_ms == 0 || now - d->at_ns > win) && now >= d->at_ns)
        if (!dedup_drop_oldest(st))
            break;
    if (st->ndedup == 0 && st->dedup.cap != 0)
        idmap_free(&st->dedup); /* memory goes back once the ids stop coming */
}

/* Remembers id (seq 0 and sp while not durable): the entry, or NULL (out of memory: the PUB is then
 * stored without deduplication). */
static struct dedup *dedup_add(struct stream *st, const void *id, uint16_t len, uint64_t hash, uint64_t seq, uint64_t at_ns)
{
    struct dedup *d;

    if (st->ndedup >= STREAM_DEDUP_MAX && !dedup_drop_oldest(st))
        return NULL;
    d = malloc(sizeof(*d) + len);
    if (d == NULL)
        return NULL;
    *d = (struct dedup){.chain = idmap_get(&st->dedup, hash), .hash = hash, .seq = seq, .at_ns = at_ns, .len = len};
    memcpy(d->id, id, len);
    if (d->chain != NULL)
        idmap_del(&st->dedup, hash);
    if (idmap_put(&st->dedup, hash, d) != 0) {
        if (d->chain != NULL)
            idmap_put(&st->dedup, hash, d->chain);
        free(d);
        return NULL;
    }
    blist_add_tail(&st->dd_list, &d->link);
    st->ndedup++;
    return d;
}

static void dedup_free_all(struct stream *st)
{
    struct dedup *d;

    while ((d = dedup_oldest(st)) != NULL) {
        blist_del(&d->link);
        free(d);
    }
    st->ndedup = 0;
    idmap_free(&st->dedup);
}

/* The owner, before storing sp: true when it repeats an id of the window (it is answered with the
 * first one's sequence, now or once that one is durable). *hash: the id's, for dedup_remember. */
static bool dedup_check(struct stream *st, struct spub *sp, uint64_t *hash)
{
    const uint8_t *id = sp->rec + sp->msgid_off;
    uint64_t ns;
    struct dedup *d;

    if (sp->msgid_len == 0 || st->lim.dedup_window_ms == 0)
        return false;
    memcpy(&ns, sp->rec, 8);
    dedup_expire(st, ns);
    *hash = id_hash(st, id, sp->msgid_len);
    d = dedup_find(st, id, sp->msgid_len, *hash);
    if (d == NULL)
        return false;
    st->duplicates++;
    if (d->sp != NULL) {
        st->pending_bytes += sp->cost;
        st->npending++;
        sp->next = d->sp->dups;
        d->sp->dups = sp;
    } else {
        sp->seq = d->seq;
        answer(st->c, sp, 0, NULL);
    }
    return true;
}

/* sp is to be stored: its id (hash from dedup_check) enters the window (without memory for it, it
 * is stored all the same). */
static void dedup_remember(struct stream *st, struct spub *sp, uint64_t hash)
{
    uint64_t ns;

    if (sp->msgid_len == 0 || st->lim.dedup_window_ms == 0)
        return;
    memcpy(&ns, sp->rec, 8);
    sp->dd = dedup_add(st, sp->rec + sp->msgid_off, sp->msgid_len, hash, 0, ns);
    if (sp->dd != NULL)
        sp->dd->sp = sp;
}

/* The log failed (its appends complete with the error, or are refused with it): the stream refuses
 * PUBs until reopen() has it open again. */
static void log_failed(struct stream *st, int err)
{
    assert(err < 0);
    assert(err != -EAGAIN); /* pump() would read it as busy buffers and never refuse (wal__fail maps it) */
    if (st->err == 0) {
        log_error(st->c->id, "stream %s: log failed: %s; PUBs are refused until it is open again", st->name, strerror(-err));
        /* reopen_ms is still up from a reopen that did not last (no append durable since): a disk
         * that keeps failing is not read again every half second. */
        st->reopen_ns = uring_now_ns() + (uint64_t)(st->reopen_ms != 0 ? st->reopen_ms : STREAM_REOPEN_MIN_MS) * 1000000;
    }
    st->err = err;
}

/* The owner is done with sp (err 0: stored as sp->seq): its id's entry learns the sequence, or is
 * forgotten, and the duplicates that waited for it get its answer. */
static void finish(struct stream *st, struct spub *sp, int err, const char *why)
{
    struct spub *dup = sp->dups;

    sp->dups = NULL;
    if (sp->dd != NULL) {
        if (err == 0) {
            sp->dd->seq = sp->seq;
            sp->dd->sp = NULL;
        } else {
            dedup_remove(st, sp->dd); /* the PUB failed: a retry stores */
        }
        sp->dd = NULL;
    }
    while (dup != NULL) {
        struct spub *next = dup->next;

        settle(st, dup);
        dup->seq = sp->seq;
        answer(st->c, dup, err, why);
        dup = next;
    }
    answer(st->c, sp, err, why);
}

static void append_done(void *arg, uint64_t seq, int res)
{
    struct stream *st = arg;
    struct spub *sp = st->fly_head;

    assert(sp != NULL);
    st->fly_head = sp->next;
    if (st->fly_head == NULL)
        st->fly_tail = NULL;
    settle(st, sp);
    if (res < 0) {
        log_failed(st, res);
        st->refused++;
        finish(st, sp, TRPC_E_STORAGE_FAILED, NULL);
        return;
    }
    sp->seq = seq;
    st->stored++;
    st->reopen_ms = 0; /* the log works */
    if (has_limits(st))
        trim(st, core_realtime_ns());
    finish(st, sp, 0, NULL);
    group_stream_grew(st);
}

/* Hands waiting PUBs to the log until it says its buffers are busy. */
static void pump(struct stream *st)
{
    while (st->wait_head != NULL) {
        struct spub *sp = st->wait_head;
        uint64_t seq;
        int ret = st->err != 0 ? st->err : wal_append(st->w, STREAM_REC_MSG, sp->rec, sp->len, append_done, st, &seq);

        if (ret == -EAGAIN)
            return;
        st->wait_head = sp->next;
        if (st->wait_head == NULL)
            st->wait_tail = NULL;
        st->wait_msgs--;
        st->wait_bytes -= sp->len - STREAM_REC_HEAD;
        if (ret == 0) {
            uint64_t ns;

            sp->seq = seq; /* purge() counts what is in flight */
            memcpy(&ns, sp->rec, 8);
            account(st, seq, sp->len - STREAM_REC_HEAD, ns); /* trimmed once durable: append_done */
        }
        if (ret < 0) {
            if (ret != -EMSGSIZE)
                log_failed(st, ret); /* the log's sticky error: it failed before completing anything */
            settle(st, sp);
            st->refused++;
            finish(st, sp, ret == -EMSGSIZE ? TRPC_E_MESSAGE_TOO_LARGE : TRPC_E_STORAGE_FAILED, NULL);
            continue;
        }
        sp->next = NULL;
        if (st->fly_tail != NULL)
            st->fly_tail->next = sp;
        else
            st->fly_head = sp;
        st->fly_tail = sp;
    }
}

void stream_take(struct core *c, struct spub *sp)
{
    struct stream *st = stream_find(c, sp->stream_id);
    const char *why = NULL;
    uint64_t hash = 0;

    if (c->stopping) {
        answer(c, sp, TRPC_E_SHUTTING_DOWN, NULL);
        return;
    }
    if (st == NULL || st->closing) {
        answer(c, sp, TRPC_E_UNAVAILABLE, "the stream was deleted");
        return;
    }
    if (st->err != 0) {
        st->refused++;
        answer(c, sp, TRPC_E_STORAGE_FAILED, NULL);
        return;
    }
    if (st->pending_bytes + sp->cost > STREAM_PENDING_MAX) {
        st->refused++;
        answer(c, sp, TRPC_E_UNAVAILABLE, "the stream's log is behind: publish again later");
        return;
    }
    if (dedup_check(st, sp, &hash))
        return;
    if (full(st, sp->len - STREAM_REC_HEAD, &why)) {
        st->refused++;
        answer(c, sp, TRPC_E_STREAM_FULL, why);
        return;
    }
    dedup_remember(st, sp, hash);
    st->pending_bytes += sp->cost;
    st->npending++;
    st->wait_msgs++;
    st->wait_bytes += sp->len - STREAM_REC_HEAD;
    sp->next = NULL;
    if (st->wait_tail != NULL)
        st->wait_tail->next = sp;
    else
        st->wait_head = sp;
    st->wait_tail = sp;
    pump(st);
}

static void spub_in(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    (void)src;
    stream_take(c, msg->ptr);
}

/* ---- the publisher's core ---------------------------------------------------------------------- */

const struct stream_entry *stream_table_match(const struct stream_table *t, const char *topic, size_t len)
{
    for (unsigned i = 0; t != NULL && i < t->n; i++)
        for (unsigned j = 0; j < t->e[i].nsubjects; j++)
            if (topic_match(t->e[i].subj[j], t->e[i].subj_len[j], topic, len))
                return &t->e[i]; /* subjects of different streams never overlap */
    return NULL;
}

/* The record of frame f for stream e, with `extra` bytes of room after f's headers (counted in the
 * record's header length) for the caller to fill, and record flags: NULL when out of memory. */
static struct spub *spub_new(const struct core *c, const struct session *s, const struct wire_frame *f,
                             const struct stream_entry *e, uint32_t extra, uint16_t flags)
{
    uint32_t body = (uint32_t)f->topic_len + f->hdr_len + extra + f->payload_len;
    uint64_t now = core_realtime_ns();
    uint16_t tl = f->topic_len;
    uint32_t hl = f->hdr_len + extra;
    struct spub *sp = malloc(sizeof(*sp) + STREAM_REC_HEAD + body);
    uint8_t *at;

    if (sp == NULL)
        return NULL;
    *sp = (struct spub){.stream_id = e->id,
                        .pub_core = c->id,
                        .slot = s->slot,
                        .gen = s->gen,
                        .id = f->id,
                        .cost = (uint32_t)sizeof(*sp) + STREAM_REC_HEAD + body,
                        .len = STREAM_REC_HEAD + body};
    stream_rec_head_put(sp->rec, now, tl, flags, hl);
    at = sp->rec + STREAM_REC_HEAD;
    if (extra == 0) { /* the frame's body as it came */
        memcpy(at, frame_body(f), body);
        return sp;
    }
    memcpy(at, f->topic, tl);
    if (f->hdr_len > 0)
        memcpy(at + tl, f->headers, f->hdr_len);
    if (f->payload_len > 0)
        memcpy(at + tl + hl, f->payload, f->payload_len);
    return sp;
}

/* To the stream's owner: 0, or a code for the sender (sp is freed). */
static int spub_send(struct core *c, const struct stream_entry *e, struct spub *sp, const char **why)
{
    struct uring_xmsg m = {.type = X_SPUB, .ptr = sp};

    if (e->owner == c->id) {
        stream_take(c, sp);
        return 0;
    }
    if (core_push(c, e->owner, &m, sp->cost) != 0) {
        free(sp);
        *why = "the stream's core is behind: publish again later";
        return TRPC_E_UNAVAILABLE;
    }
    return 0;
}

static bool too_large(const struct stream_entry *e, const struct wire_frame *f, uint32_t extra)
{
    uint32_t body = (uint32_t)f->topic_len + f->hdr_len + extra + f->payload_len;

    return (e->max_msg_size != 0 && f->payload_len > e->max_msg_size) || (e->lim.max_bytes != 0 && body > e->lim.max_bytes);
}

bool stream_pub(struct session *s, const struct wire_frame *f)
{
    struct core *c = s->core;
    const struct stream_table *t = c->stream.table;
    const struct stream_entry *e;
    const char *why = NULL;
    struct spub *sp;
    uint16_t tl = f->topic_len;
    int code;

    if (t == NULL || t->n == 0 || (e = stream_table_match(t, f->topic, f->topic_len)) == NULL)
        return false;
    if (too_large(e, f, 0)) {
        session_send_err(s, f->id, TRPC_E_MESSAGE_TOO_LARGE, false, NULL);
        return true;
    }
    sp = spub_new(c, s, f, e, 0, 0);
    if (sp == NULL) {
        session_send_err(s, f->id, TRPC_E_UNAVAILABLE, false, "out of memory");
        return true;
    }
    sp->ack = (f->flags & WIRE_F_ACK_REQ) != 0;
    if (f->hdr_len > 0 && find_msgid(sp->rec + STREAM_REC_HEAD + tl, f->hdr_len, &sp->msgid_off, &sp->msgid_len)) {
        if (sp->msgid_len == 0 || sp->msgid_len > STREAM_MSGID_MAX) {
            free(sp);
            session_send_err(s, f->id, TRPC_E_BAD_HEADER, false, "trpc-msg-id: 1 to 128 bytes");
            return true;
        }
        sp->msgid_off += STREAM_REC_HEAD + tl;
    }
    code = spub_send(c, e, sp, &why);
    if (code != 0)
        session_send_err(s, f->id, code, false, why);
    return true;
}

int stream_request(struct session *s, const struct wire_frame *f, uint64_t token, uint64_t secret, uint64_t deadline_ms,
                   const char **why)
{
    struct core *c = s->core;
    const struct stream_entry *e = stream_table_match(c->stream.table, f->topic, f->topic_len);
    char reply[33], deadline[24];
    uint32_t extra;
    struct spub *sp;
    uint8_t *at;

    *why = NULL;
    if (e == NULL)
        return TRPC_E_NO_STREAM;
    snprintf(reply, sizeof(reply), "%016llx%016llx", (unsigned long long)token, (unsigned long long)secret);
    snprintf(deadline, sizeof(deadline), "%llu", (unsigned long long)deadline_ms);
    extra = (uint32_t)(4 + strlen(STREAM_HDR_REPLY) + strlen(reply) + 4 + strlen(STREAM_HDR_DEADLINE) + strlen(deadline));
    if (too_large(e, f, extra))
        return TRPC_E_MESSAGE_TOO_LARGE;
    sp = spub_new(c, s, f, e, extra, STREAM_MSG_REQUEST);
    if (sp == NULL) {
        *why = "out of memory";
        return TRPC_E_UNAVAILABLE;
    }
    sp->req = true;
    sp->id = token; /* a refusal fails the request's entry: request_store_failed */
    at = sp->rec + STREAM_REC_HEAD + f->topic_len + f->hdr_len;
    at += stream_put_header(at, STREAM_HDR_REPLY, reply, strlen(reply));
    stream_put_header(at, STREAM_HDR_DEADLINE, deadline, strlen(deadline));
    return spub_send(c, e, sp, why);
}

size_t stream_put_header(uint8_t *at, const char *key, const char *val, size_t vlen)
{
    uint16_t kl = (uint16_t)strlen(key), vl = (uint16_t)vlen;

    memcpy(at, &kl, 2);
    memcpy(at + 2, &vl, 2);
    memcpy(at + 4, key, kl);
    memcpy(at + 4 + kl, val, vl);
    return 4u + kl + vl;
}

/* ---- opening and closing ------------------------------------------------------------------------ */

static int mkdir_p(char *path)
{
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0750) != 0 && errno != EEXIST) {
            *p = '/';
            return -errno;
        }
        *p = '/';
    }
    return mkdir(path, 0750) != 0 && errno != EEXIST ? -errno : 0;
}

/* At open: a message of the dedup window, its id remembered again. */
static void recall_msgid(struct stream *st, const struct wal_record *r, uint64_t ns)
{
    const uint8_t *body = (const uint8_t *)r->data + STREAM_REC_HEAD;
    struct stream_rec_head h = {0};
    uint16_t len;
    uint32_t off;
    uint64_t hash;

    if (!stream_rec_head_get(r->data, r->len, &h) || (h.flags & STREAM_MSG_REQUEST) || /* never deduplicated */
        !find_msgid(body + h.topic_len, h.hdr_len, &off, &len) || len == 0 || len > STREAM_MSGID_MAX)
        return;
    body += h.topic_len + off;
    hash = id_hash(st, body, len);
    if (dedup_find(st, body, len, hash) == NULL)
        dedup_add(st, body, len, hash, r->seq, ns);
}

/* Counts what the log keeps (messages and bytes, in retention's chunks), and the ids of the dedup
 * window: a synchronous read at open. */
static int count(struct stream *st)
{
    uint64_t first = wal_first_seq(st->w), ns, now = core_realtime_ns();
    struct wal_record r;
    struct wal_iter *it;
    int ret = wal_iter_open(st->w, 0, &it);

    if (ret != 0)
        return ret;
    st->floor = first;
    while ((ret = wal_iter_next(it, &r)) == 1) {
        if (r.type == STREAM_REC_FLOOR)
            replay_floor(st, &r, first);
        if (r.type == STREAM_REC_DEL)
            replay_delete(st, &r);
        if (r.type != STREAM_REC_MSG || r.len < STREAM_REC_HEAD)
            continue;
        memcpy(&ns, r.data, 8);
        account(st, r.seq, r.len - STREAM_REC_HEAD, ns);
        if (st->lim.dedup_window_ms != 0 && ns + st->lim.dedup_window_ms * 1000000 > now)
            recall_msgid(st, &r, ns);
    }
    wal_iter_close(it);
    deleted_prune(st); /* tombstones read before a floor record that passed them */
    if (ret == 0 && has_limits(st))
        trim(st, now); /* the floor record goes with the first flush */
    if (ret == 0 && st->floor > wal_first_seq(st->w)) {
        st->trunc_floor = st->floor; /* segments an unlink left behind before a crash */
        st->trunc_due = true;
    }
    return ret;
}

static void info_of(const struct stream *st, struct stream_info *in)
{
    struct wal_stats ws;

    memset(in, 0, sizeof(*in));
    in->id = st->id;
    in->err = st->err;
    in->last_seq = st->w != NULL ? wal_durable_seq(st->w) : 0;
    in->first_seq = st->nchunks > 0 && chunk_at(st, 0)->first > st->floor ? chunk_at(st, 0)->first
                    : st->msgs > 0                                        ? st->floor
                                                                          : in->last_seq + 1;
    in->msgs = st->msgs - st->ndeleted;
    in->bytes = st->bytes - st->deleted_bytes;
    in->deleted = st->ndeleted;
    in->stored = st->stored;
    in->refused = st->refused;
    in->expired = st->expired;
    in->duplicates = st->duplicates;
    in->pending = st->npending;
    in->groups = group_count(st);
    if (st->w != NULL) {
        wal_get_stats(st->w, &ws);
        in->direct = ws.direct;
        in->wal_batches = ws.batches;
        memcpy(in->wal_sync_us, ws.fsync_us_hist, sizeof(in->wal_sync_us));
        in->wal_sync_us_sum = ws.fsync_us_sum;
        memcpy(in->wal_write_us, ws.write_us_hist, sizeof(in->wal_write_us));
        in->wal_write_us_sum = ws.write_us_sum;
    }
    snprintf(in->recovery, sizeof(in->recovery), "%s", st->recovery);
}

static const struct stream_entry *entry_of(const struct core *c, uint32_t id)
{
    const struct stream_table *t = c->stream.table;

    for (unsigned i = 0; t != NULL && i < t->n; i++)
        if (t->e[i].id == id)
            return &t->e[i];
    return NULL;
}

/* Segments of an eighth of max_bytes (1 to 16 MiB), so that retention frees the disk in steps
 * close to its own; never smaller than a batch buffer. */
static uint64_t segment_bytes(const struct stream_limits *l, uint32_t buffer_bytes)
{
    uint64_t s = l->max_bytes != 0 ? l->max_bytes / 8 : STREAM_SEGMENT_BYTES;

    s = s < (1u << 20) ? (1u << 20) : s > STREAM_SEGMENT_BYTES ? STREAM_SEGMENT_BYTES : s;
    return s < buffer_bytes ? buffer_bytes : s;
}

void stream_wal_log(void *arg, enum wal_log_level level, const char *msg)
{
    const struct stream *st = arg;

    if (level == WAL_LOG_ERR)
        log_error(st->c->id, "stream %s: log: %s", st->name, msg);
    else if (level == WAL_LOG_WARN)
        log_warn(st->c->id, "stream %s: log: %s", st->name, msg);
    else
        log_info(st->c->id, "stream %s: log: %s", st->name, msg);
}

/* Opens (recovering) the stream's log and counts it: 0, or -errno (logged, and in st->err). */
static int log_open(struct stream *st)
{
    struct core *c = st->c;
    struct stream_core *sc = &c->stream;
    struct wal_recovery rec = {0};
    struct wal_options o = {0};
    char dir[CONFIG_PATH_MAX + 96];
    int ret;

    if (!sc->wals.registered && (ret = wal_set_init(&sc->wals, &c->loop)) != 0)
        goto fail;
    snprintf(dir, sizeof(dir), "%s/streams/%s", c->cfg.data_dir, st->name);
    ret = mkdir_p(dir);
    if (ret != 0)
        goto fail;
    o.dir = dir;
    /* A batch buffer holds the largest record: a whole frame's body and the head. */
    o.buffer_bytes = c->cfg.limits.max_frame + STREAM_REC_HEAD + 4096 > (2u << 20)
                         ? c->cfg.limits.max_frame + STREAM_REC_HEAD + 4096
                         : (2u << 20);
    o.segment_bytes = segment_bytes(&st->lim, o.buffer_bytes);
    o.log = stream_wal_log;
    o.log_arg = st;
    ret = wal_set_open(&sc->wals, &o, &rec, &st->w, &st->slot);
    snprintf(st->recovery, sizeof(st->recovery), "%s", rec.message);
    if (ret != 0)
        goto fail;
    if (rec.message[0] != '\0')
        log_warn(c->id, "stream %s: %s", st->name, rec.message);
    st->err = 0;
    ret = count(st);
    if (ret < 0) {
        log_error(c->id, "stream %s: cannot read its log: %s", st->name, strerror(-ret));
        st->err = ret;
        return ret;
    }
    log_info(c->id, "stream %s: open, %llu messages (%llu bytes), next sequence %llu", st->name, (unsigned long long)st->msgs,
             (unsigned long long)st->bytes, (unsigned long long)wal_durable_seq(st->w) + 1);
    return 0;
fail:
    st->err = ret;
    log_error(c->id, "stream %s: cannot open its log in %s/streams/%s: %s%s%s", st->name, c->cfg.data_dir, st->name, strerror(-ret),
              rec.message[0] ? ": " : "", rec.message);
    return ret;
}

static struct stream *stream_open(struct core *c, uint32_t id, const char *name, const struct stream_limits *lim)
{
    struct stream_core *sc = &c->stream;
    struct stream *st;

    if (sc->nown == sc->own_cap) {
        unsigned cap = sc->own_cap ? sc->own_cap * 2 : 8;
        struct stream **own = realloc(sc->own, cap * sizeof(*own));

        if (own == NULL)
            return NULL;
        sc->own = own;
        sc->own_cap = cap;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->c = c;
    st->id = id;
    snprintf(st->name, sizeof(st->name), "%s", name);
    st->lim = *lim;
    blist_init(&st->dd_list);
    if (getrandom(&st->dedup_key, sizeof(st->dedup_key), GRND_NONBLOCK) != (ssize_t)sizeof(st->dedup_key))
        st->dedup_key = (uint64_t)(uintptr_t)st ^ uring_now_ns();
    sc->own[sc->nown++] = st;
    if (log_open(st) == 0)
        group_open_all(st); /* a failure leaves the stream storing, without consumer groups (logged) */
    else
        st->reopen_ns = uring_now_ns() + (uint64_t)STREAM_REOPEN_MIN_MS * 1000000;
    return st;
}

/* A log that failed (disk full, I/O error) or could not be opened is closed, once nothing of it is
 * on the ring, and opened again (recovering it: what was acknowledged is there) after a delay that
 * doubles while it keeps failing: the stream stores again once the disk has room. Meanwhile its
 * PUBs get STORAGE_FAILED and everything else goes on. */
static void reopen(struct stream *st)
{
    struct stream_core *sc = &st->c->stream;
    uint64_t now = uring_now_ns();

    if (st->err == 0 || st->closing || st->c->stopping || now < st->reopen_ns || st->fly_head != NULL || st->gets > 0)
        return;
    if (st->w != NULL) {
        group_detach(st);
        if (wal_set_close(&sc->wals, st->slot) != 0)
            return; /* reads still on the ring: the next turn */
        st->w = NULL;
    }
    free(st->chunks);
    st->chunks = NULL;
    st->chunk_head = st->nchunks = st->chunks_cap = 0;
    st->msgs = st->bytes = st->floor = 0;
    st->floor_dirty = false;
    dedup_free_all(st);
    idmap_free(&st->deleted);
    st->ndeleted = st->deleted_bytes = 0;
    free(st->del_wait); /* not in the log: those messages are redriven again (at least once) */
    st->del_wait = NULL;
    st->ndel_wait = st->del_wait_cap = 0;
    if (log_open(st) != 0) {
        st->reopen_ms = st->reopen_ms == 0 ? STREAM_REOPEN_MIN_MS : st->reopen_ms * 2;
        if (st->reopen_ms > STREAM_REOPEN_MAX_MS)
            st->reopen_ms = STREAM_REOPEN_MAX_MS;
        st->reopen_ns = now + (uint64_t)st->reopen_ms * 1000000;
        return;
    }
    log_info(st->c->id, "stream %s: its log is open again: storing", st->name);
    /* Kept up (doubled) until an append is durable: append_done clears it. */
    st->reopen_ms = st->reopen_ms == 0 ? STREAM_REOPEN_MIN_MS : st->reopen_ms * 2;
    if (st->reopen_ms > STREAM_REOPEN_MAX_MS)
        st->reopen_ms = STREAM_REOPEN_MAX_MS;
    if (st->gw == NULL && st->gw_err == 0)
        group_open_all(st);
    else
        group_stream_grew(st); /* a group log being reopened (group_flush) keeps its groups */
}

static void stream_free(struct stream *st)
{
    struct stream_core *sc = &st->c->stream;

    for (unsigned i = 0; i < sc->nown; i++) {
        if (sc->own[i] == st) {
            sc->own[i] = sc->own[--sc->nown];
            break;
        }
    }
    free(st->chunks);
    dedup_free_all(st);
    idmap_free(&st->deleted);
    free(st->del_wait);
    free(st);
}

/* Refuses what waits for the log; what is in flight completes first. */
static void refuse_waiting(struct stream *st, int err, const char *why)
{
    while (st->wait_head != NULL) {
        struct spub *sp = st->wait_head;

        st->wait_head = sp->next;
        settle(st, sp);
        finish(st, sp, err, why);
    }
    st->wait_tail = NULL;
    st->wait_msgs = st->wait_bytes = 0;
}

/* A closing stream goes once nothing of it is on the ring: 0, or -EBUSY. */
static int try_close(struct stream *st)
{
    if (st->fly_head != NULL || st->gets > 0 || group_close_all(st) != 0)
        return -EBUSY;
    if (st->w != NULL) {
        if (wal_set_close(&st->c->stream.wals, st->slot) != 0)
            return -EBUSY;
        st->w = NULL;
    }
    return 0;
}

/* ---- the control thread's messages ---------------------------------------------------------------- */

static void open_in(struct core *c, const struct uring_xmsg *m)
{
    struct stream_req *r = m->ptr;
    struct stream *st = stream_find(c, r->id);
    struct stream_info *in = malloc(sizeof(*in));

    if (st == NULL)
        st = stream_open(c, r->id, r->name, &r->lim);
    if (st == NULL || in == NULL) {
        free(in);
        admin_part_post(c, r->query, -ENOMEM, NULL, 0);
    } else {
        info_of(st, in);
        admin_part_post(c, r->query, 0, in, 1);
    }
    free(r);
}

static void close_in(struct core *c, const struct uring_xmsg *m)
{
    struct stream_req *r = m->ptr;
    struct stream *st = stream_find(c, r->id);

    if (st == NULL || st->closing) {
        admin_part_post(c, r->query, 0, NULL, 0);
    } else {
        st->closing = true;
        st->close_query = r->query;
        refuse_waiting(st, TRPC_E_UNAVAILABLE, "the stream was deleted");
        if (try_close(st) == 0) {
            stream_free(st);
            admin_part_post(c, r->query, 0, NULL, 1);
        } /* else the flush hook finishes it */
    }
    free(r);
}

static void info_in(struct core *c, const struct uring_xmsg *m)
{
    struct stream_req *r = m->ptr;
    struct stream_core *sc = &c->stream;
    struct stream_info *v = calloc(sc->nown > 0 ? sc->nown : 1, sizeof(*v));
    size_t n = 0;

    if (v == NULL) {
        admin_part_post(c, r->query, -ENOMEM, NULL, 0);
        free(r);
        return;
    }
    for (unsigned i = 0; i < sc->nown; i++)
        if (!sc->own[i]->closing && (r->id == 0 || sc->own[i]->id == r->id))
            info_of(sc->own[i], &v[n++]);
    admin_part_post(c, r->query, 0, v, n);
    free(r);
}

static void groups_in(struct core *c, const struct uring_xmsg *m)
{
    struct stream_req *r = m->ptr;
    struct stream *st = stream_find(c, r->id);
    struct group_info *v = NULL;
    size_t n = 0;

    if (st != NULL && !st->closing) {
        v = calloc(GROUPS_PER_STREAM, sizeof(*v));
        if (v == NULL) {
            admin_part_post(c, r->query, -ENOMEM, NULL, 0);
            free(r);
            return;
        }
        n = group_infos(st, v);
    }
    /* No such stream here: an empty answer (deleted meanwhile). */
    admin_part_post(c, r->query, 0, v, n);
    free(r);
}

struct sget {
    struct stream_stall stall; /* first: stream_stall */
    struct stream *st;
    uint64_t query, seq;
    struct wal_iter *it;
};

static void get_end(struct sget *g, int err, struct stream_msg *msg)
{
    g->st->gets--;
    admin_part_post(g->st->c, g->query, err, msg, msg != NULL);
    if (g->it != NULL)
        wal_iter_close(g->it);
    free(g);
}

/* Reads on: returns without ending g while the read is on the ring (get_ready goes on). */
static void get_step(struct sget *g)
{
    struct wal_record r;
    struct stream_rec_head h = {0};
    struct stream_msg *msg;
    int ret = wal_iter_next(g->it, &r);

    if (ret == -EAGAIN)
        return;
    if (ret == -EBUSY) { /* the SQ is full: the next loop turn's flush steps it again */
        stream_stall(g->st, &g->stall);
        return;
    }
    if (ret < 0) {
        get_end(g, ret == -ENOENT ? 0 : ret, NULL); /* -ENOENT: truncated meanwhile */
        return;
    }
    if (ret == 0 || r.seq != g->seq || r.type != STREAM_REC_MSG || !stream_rec_head_get(r.data, r.len, &h) ||
        stream_is_deleted(g->st, r.seq)) {
        get_end(g, 0, NULL);
        return;
    }
    msg = malloc(sizeof(*msg) + r.len - STREAM_REC_HEAD);
    if (msg == NULL) {
        get_end(g, -ENOMEM, NULL);
        return;
    }
    msg->seq = r.seq;
    msg->time_ns = h.ns;
    msg->topic_len = h.topic_len;
    msg->hdr_len = h.hdr_len;
    msg->len = r.len - STREAM_REC_HEAD;
    memcpy(msg->body, (const uint8_t *)r.data + STREAM_REC_HEAD, msg->len);
    get_end(g, 0, msg);
}

static void get_ready(void *arg, struct wal_iter *it)
{
    (void)it;
    get_step(arg);
}

static void get_unstall(struct stream_stall *s)
{
    get_step((struct sget *)(void *)s);
}

static void get_in(struct core *c, const struct uring_xmsg *m)
{
    struct stream_req *r = m->ptr;
    struct stream *st = stream_find(c, r->id);
    struct sget *g;
    int ret;

    if (st == NULL || st->closing || st->w == NULL || r->seq < st->floor || r->seq < wal_first_seq(st->w) ||
        r->seq > wal_durable_seq(st->w)) {
        admin_part_post(c, r->query, 0, NULL, 0);
        free(r);
        return;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        admin_part_post(c, r->query, -ENOMEM, NULL, 0);
        free(r);
        return;
    }
    g->stall.step = get_unstall;
    g->st = st;
    g->query = r->query;
    g->seq = r->seq;
    free(r);
    st->gets++;
    ret = wal_iter_open_async(st->w, g->seq, get_ready, g, &g->it);
    if (ret != 0) {
        g->it = NULL;
        get_end(g, ret, NULL); /* -EMFILE: as many reads as a log allows are in flight */
        return;
    }
    get_step(g);
}

struct sseek {
    struct stream_stall stall; /* first: stream_stall */
    struct stream *st;
    uint64_t ns;
    stream_seek_fn *fn;
    void *arg;
    struct wal_iter *it;
};

static void seek_end(struct sseek *k, int err, uint64_t seq)
{
    struct stream *st = k->st;

    wal_iter_close(k->it);
    st->gets--;
    k->fn(k->arg, err, seq);
    free(k);
}

/* Reads on to the first message stored at or after k->ns (the durable end: the next sequence).
 * Returns 1 with *seq, 0 while a read is in flight or the SQ was full (seek_ready, or the next
 * flush, goes on), or -errno. */
static int seek_scan(struct sseek *k, uint64_t *seq)
{
    struct wal_record r;
    uint64_t t;
    int ret;

    while ((ret = wal_iter_next(k->it, &r)) == 1) {
        if (r.type != STREAM_REC_MSG || r.len < STREAM_REC_HEAD || r.seq < k->st->floor || stream_is_deleted(k->st, r.seq))
            continue;
        memcpy(&t, r.data, 8);
        if (t >= k->ns) {
            *seq = r.seq;
            return 1;
        }
    }
    if (ret == -EAGAIN)
        return 0;
    if (ret == -EBUSY) {
        stream_stall(k->st, &k->stall);
        return 0;
    }
    if (ret == 0) {
        *seq = wal_durable_seq(k->st->w) + 1;
        return 1;
    }
    assert(ret < 0);
    return ret == -ENOENT ? -EAGAIN : ret; /* -ENOENT: retention removed what it was reading */
}

static void seek_ready(void *arg, struct wal_iter *it)
{
    struct sseek *k = arg;
    uint64_t seq = 0;
    int ret;

    (void)it;
    ret = seek_scan(k, &seq);
    if (ret != 0)
        seek_end(k, ret < 0 ? ret : 0, seq);
}

static void seek_unstall(struct stream_stall *s)
{
    seek_ready(s, NULL);
}

int stream_seek_time(struct stream *st, uint64_t ns, stream_seek_fn *fn, void *arg, uint64_t *seq)
{
    uint64_t from = stream_first_kept(st), found = 0;
    struct sseek *k;
    uint32_t i;
    int ret;

    if (st->w == NULL || st->err != 0)
        return st->err != 0 ? st->err : -EIO;
    /* The chunks are oldest first, and each knows the time of its newest message: the first that
     * reaches ns holds the answer (clocks that step back only make the scan longer). */
    for (i = 0; i < st->nchunks && chunk_at(st, i)->last_ns < ns; i++)
        ;
    if (i == st->nchunks || chunk_at(st, i)->first > wal_durable_seq(st->w)) {
        *seq = wal_durable_seq(st->w) + 1;
        return 1;
    }
    if (chunk_at(st, i)->first > from)
        from = chunk_at(st, i)->first;
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return -ENOMEM;
    *k = (struct sseek){.stall.step = seek_unstall, .st = st, .ns = ns, .fn = fn, .arg = arg};
    ret = wal_iter_open_async(st->w, from, seek_ready, k, &k->it);
    if (ret != 0) {
        free(k);
        return ret;
    }
    /* The first step runs here, and what it settles is returned, not called back: fn is only
     * ever called later, so the caller's objects are still its own when this returns. */
    st->gets++; /* the stream stays open until the answer (a scan that stalled counts already) */
    ret = seek_scan(k, &found);
    if (ret == 0)
        return 0;
    st->gets--;
    wal_iter_close(k->it);
    free(k);
    if (ret == 1)
        *seq = found;
    return ret;
}

/* Removes every durable message: the floor moves past the log's durable end and the chunks go, but
 * one for the appends still in flight (they are stored after the purge). Returns how many went. */
static uint64_t purge(struct stream *st)
{
    uint64_t fm = 0, fb = 0, durable = wal_durable_seq(st->w), gone;
    struct schunk *k;

    for (const struct spub *sp = st->fly_head; sp != NULL; sp = sp->next) {
        fm++;
        fb += sp->len - STREAM_REC_HEAD;
    }
    gone = st->msgs > fm ? st->msgs - fm : 0;
    st->nchunks = 0;
    st->chunk_head = 0;
    st->ndeleted = st->deleted_bytes = 0; /* what is in flight cannot have been deleted */
    if (fm > 0 && (k = chunk_new(st)) != NULL) {
        *k = (struct schunk){.first = st->fly_head->seq, .last = st->fly_tail->seq, .msgs = fm, .bytes = fb};
        memcpy(&k->first_ns, st->fly_head->rec, 8);
        memcpy(&k->last_ns, st->fly_tail->rec, 8);
    }
    st->msgs = fm;
    st->bytes = fb;
    if (durable + 1 > st->floor) {
        st->floor = durable + 1;
        st->floor_dirty = true; /* the next flush records it, then the segments go */
        deleted_prune(st);
    }
    return gone;
}

static void purge_in(struct core *c, const struct uring_xmsg *m)
{
    struct stream_req *r = m->ptr;
    struct stream *st = stream_find(c, r->id);
    struct stream_info *in;
    uint64_t gone;

    if (st == NULL || st->closing) {
        admin_part_post(c, r->query, 0, NULL, 0);
    } else if (st->w == NULL || st->err != 0) {
        admin_part_post(c, r->query, st->err != 0 ? st->err : -EIO, NULL, 0);
    } else if ((in = malloc(sizeof(*in))) == NULL) {
        admin_part_post(c, r->query, -ENOMEM, NULL, 0);
    } else {
        gone = purge(st);
        log_info(c->id, "stream %s: purged, %" PRIu64 " messages removed", st->name, gone);
        info_of(st, in);
        in->purged = gone;
        admin_part_post(c, r->query, 0, in, 1);
    }
    free(r);
}

static void table_in(struct core *c, const struct uring_xmsg *m)
{
    struct stream_req *r = m->ptr;
    struct stream_core *sc = &c->stream;

    if (sc->table == NULL || r->table->gen > sc->table->gen) {
        free(sc->table);
        sc->table = r->table;
        r->table = NULL;
        for (unsigned i = 0; i < sc->nown; i++) {
            const struct stream_entry *e = entry_of(c, sc->own[i]->id);

            const struct stream_limits *l = &sc->own[i]->lim;

            if (e != NULL && (l->max_msgs != e->lim.max_msgs || l->max_bytes != e->lim.max_bytes ||
                              l->max_age_ms != e->lim.max_age_ms || l->discard != e->lim.discard ||
                              l->dedup_window_ms != e->lim.dedup_window_ms || l->retention != e->lim.retention)) {
                bool shape = l->max_msgs != e->lim.max_msgs || l->max_bytes != e->lim.max_bytes ||
                             l->max_age_ms != e->lim.max_age_ms; /* what chunk_full sizes chunks by */

                sc->own[i]->lim = e->lim; /* stream.edit: tighter limits remove what they must now */
                for (uint32_t k = 0; shape && k < sc->own[i]->nchunks; k++)
                    chunk_at(sc->own[i], k)->before_edit = true;
                if (has_limits(sc->own[i]))
                    trim(sc->own[i], core_realtime_ns());
            }
        }
    }
    admin_part_post(c, r->query, 0, NULL, 0);
    free(r->table);
    free(r);
}

static void req_discard(struct broker *b, const struct uring_xmsg *m)
{
    struct stream_req *r = m->ptr;

    (void)b;
    free(r->table);
    free(r);
}

static void free_discard(struct broker *b, const struct uring_xmsg *m)
{
    (void)b;
    free(m->ptr);
}

int stream_register(struct broker *b)
{
    static const struct {
        uint32_t type;
        core_mbox_fn *fn;
    } h[] = {
        {ADMIN_MB_STREAM_OPEN, open_in},   {ADMIN_MB_STREAM_CLOSE, close_in}, {ADMIN_MB_STREAM_INFO, info_in},
        {ADMIN_MB_STREAM_GET, get_in},     {ADMIN_MB_STREAM_TABLE, table_in}, {ADMIN_MB_STREAM_GROUPS, groups_in},
        {ADMIN_MB_STREAM_PURGE, purge_in},
    };
    int ret = 0;

    for (size_t i = 0; ret == 0 && i < sizeof(h) / sizeof(h[0]); i++)
        ret = core_mbox_register(b, h[i].type, h[i].fn, req_discard);
    if (ret == 0)
        ret = core_mbox_register(b, ADMIN_MB_GROUP, group_admin_in, free_discard);
    if (ret == 0)
        ret = core_mbox_register(b, ADMIN_MB_DLQ_STREAM, group_dlq_stream_in, free_discard);
    return ret != 0 ? ret : core_mbox_register(b, ADMIN_MB_DLQ, stream_dlq_in, free_discard);
}

/* ---- the module ---------------------------------------------------------------------------------- */

static struct stream_table *table_clone(const struct stream_table *t)
{
    const struct stream_def *defs[STREAMS_MAX];
    struct stream_def d[STREAMS_MAX];
    uint32_t ids[STREAMS_MAX];
    struct stream_table *out;

    /* Rebuilt rather than copied: the table's pointers point into itself. */
    assert(t->n <= STREAMS_MAX);
    for (unsigned i = 0; i < t->n; i++) {
        memset(&d[i], 0, sizeof(d[i]));
        snprintf(d[i].name, sizeof(d[i].name), "%s", t->e[i].name);
        d[i].nsubjects = t->e[i].nsubjects;
        for (unsigned j = 0; j < t->e[i].nsubjects; j++)
            d[i].subjects[j] = (char *)t->e[i].subj[j];
        d[i].max_msg_size = t->e[i].max_msg_size;
        d[i].lim = t->e[i].lim;
        /* Its dlq points into t, which stream_table_make copies into the new table's strings. */
        d[i].defaults = t->e[i].defaults;
        defs[i] = &d[i];
        ids[i] = t->e[i].id;
    }
    out = stream_table_make(defs, ids, t->n, 0, t->gen);
    for (unsigned i = 0; out != NULL && i < t->n; i++)
        out->e[i].owner = t->e[i].owner;
    return out;
}

/* Before the core listens: its own copy of the streams, and the logs of those it owns. */
static void start(struct core *c)
{
    const struct stream_table *t = c->b->streams_boot;

    if (t == NULL)
        return;
    c->stream.table = table_clone(t);
    if (c->stream.table == NULL) {
        log_error(c->id, "streams: out of memory; PUBs on this core are not stored");
        return;
    }
    for (unsigned i = 0; i < t->n; i++)
        if (t->e[i].owner == c->id && stream_open(c, t->e[i].id, t->e[i].name, &t->e[i].lim) == NULL)
            log_error(c->id, "stream %s: out of memory", t->e[i].name);
}

static bool busy(struct core *c);

/* max_age: every owned stream with one is trimmed each period (its chunks' span at most, and at
 * most a second), also when no message comes; and the dedup window's expired ids go. */
static void age_fired(struct uring_timer *t, int res)
{
    struct core *c = (struct core *)(void *)((char *)t - offsetof(struct core, stream.age_timer));
    struct stream_core *sc = &c->stream;
    uint64_t now = core_realtime_ns();

    if (res != 0)
        return;
    for (unsigned i = 0; i < sc->nown; i++) {
        if (sc->own[i]->closing)
            continue;
        if (sc->own[i]->lim.max_age_ms != 0)
            trim(sc->own[i], now);
        if (sc->own[i]->ndedup > 0)
            dedup_expire(sc->own[i], now);
    }
}

static void age_arm(struct core *c)
{
    struct stream_core *sc = &c->stream;
    uint64_t period = 0;

    if (c->stopping || uring_timer_is_armed(&sc->age_timer))
        return;
    for (unsigned i = 0; i < sc->nown; i++) {
        uint64_t ms = sc->own[i]->lim.max_age_ms / STREAM_CHUNKS;

        if (sc->own[i]->ndedup > 0 && (period == 0 || period > 1000))
            period = 1000; /* expired ids give their memory back without new PUBs */
        if (sc->own[i]->lim.max_age_ms == 0)
            continue;
        ms = ms < 10 ? 10 : ms > 1000 ? 1000 : ms;
        if (period == 0 || ms < period)
            period = ms;
    }
    if (period != 0 && uring_timer_start(&c->loop, &sc->age_timer, period * 1000000, age_fired) != 0)
        log_warn(c->id, "streams: cannot arm the max_age timer; tried again at the next turn");
}

void stream_stall(struct stream *st, struct stream_stall *s)
{
    assert(st->gets > 0);
    assert(s->step != NULL);
    assert(!s->queued);
    s->queued = true;
    s->next = st->stalled;
    st->stalled = s;
}

/* Steps the stalled readers again; one that finds the SQ full still waits for the next flush. */
static void unstall(struct stream *st)
{
    struct stream_stall *s = st->stalled;

    st->stalled = NULL; /* taken whole: a step that stalls again joins a new list */
    while (s != NULL) {
        struct stream_stall *next = s->next;

        s->queued = false;
        s->step(s); /* may end the reader, freeing s */
        s = next;
    }
}

static void flush(struct core *c)
{
    struct stream_core *sc = &c->stream;

    age_arm(c);
    for (unsigned i = 0; i < sc->nown; i++) {
        struct stream *st = sc->own[i];

        if (st->stalled != NULL)
            unstall(st);
        if (st->wait_head != NULL)
            pump(st);
        interest_trim(st);
        if (st->floor_dirty)
            floor_write(st);
        if (st->ndel_wait > 0)
            delete_flush(st);
        if (st->trunc_due)
            truncate_due(st);
        if (st->err != 0)
            reopen(st);
        group_flush(st);
        if (st->closing && try_close(st) == 0) {
            admin_part_post(c, st->close_query, 0, NULL, 1);
            stream_free(st);
            i--;
        }
    }
    if (c->stopping && sc->nown > 0 && !busy(c))
        core_idle(c);
}

static bool busy(struct core *c)
{
    struct stream_core *sc = &c->stream;

    bool pending = false;

    for (unsigned i = 0; i < sc->nown; i++) {
        refuse_waiting(sc->own[i], TRPC_E_SHUTTING_DOWN, NULL);
        pending |= group_log_pending(sc->own[i]);
        pending |= sc->own[i]->stalled != NULL; /* no read on the ring: wal_set_busy cannot see them */
    }
    return pending || wal_set_busy(&sc->wals);
}

static void close_all(struct core *c)
{
    struct stream_core *sc = &c->stream;

    while (sc->nown > 0) {
        struct stream *st = sc->own[0];

        refuse_waiting(st, TRPC_E_SHUTTING_DOWN, NULL);
        if (group_close_all(st) != 0)
            log_error(c->id, "stream %s: its group log still has I/O on the ring at stop; left open", st->name);
        if (st->w != NULL && wal_set_close(&sc->wals, st->slot) != 0)
            log_error(c->id, "stream %s: its log still has I/O on the ring at stop; left open", st->name);
        stream_free(st);
    }
    if (sc->wals.registered && sc->wals.count == 0)
        wal_set_fini(&sc->wals);
}

static void stop(struct core *c)
{
    if (uring_timer_is_armed(&c->stream.age_timer))
        uring_timer_cancel(&c->stream.age_timer);
    close_all(c);
}

static void fini(struct core *c)
{
    close_all(c);
    free(c->stream.own);
    free(c->stream.table);
    c->stream.own = NULL;
    c->stream.table = NULL;
}

static const struct core_xtype xtypes[] = {
    {.type = X_SPUB, .on_msg = spub_in},
    {.type = X_SPUBACK, .on_msg = spuback_in},
};

const struct core_module stream_module = {
    .name = "stream",
    .xtypes = xtypes,
    .nxtypes = sizeof(xtypes) / sizeof(xtypes[0]),
    .start = start,
    .busy = busy,
    .flush = flush,
    .stop = stop,
    .fini = fini,
};
