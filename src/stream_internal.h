/*
 * What stream.c and group.c share about an open stream on its owner core. Not for other files:
 * they go through stream.h.
 *
 * Threads: everything here lives on the stream's owner core, but a struct spub, which travels
 * between the publisher's core and the owner.
 */
#ifndef TRPC_SRC_STREAM_INTERNAL_H
#define TRPC_SRC_STREAM_INTERNAL_H

#include "src/blist.h"
#include "src/idmap.h"
#include "src/stream.h"
#include "wal/wal.h"

struct dlq_job;
struct group;
struct grec;

/* An admin read of a stream (stream.get, the time seek, the dead-letter verbs) whose wal_iter_next
 * found the ring's SQ full (-EBUSY: no read placed, so no ready callback will come). It waits on
 * its stream's list and the flush of the next loop iteration steps it again, once a turn: one that
 * finds the SQ still full waits for the turn after, when the loop's submit and wait came between.
 * The first member of the reader's state (step gets it back). */
struct stream_stall {
    struct stream_stall *next;
    void (*step)(struct stream_stall *s);
    bool queued; /* on the list: the reader's other paths leave stepping it to the flush */
};

/* A PUB for a stream, from the publisher's core to the owner and back as its answer. A dead letter
 * (group.c) is one too, published by the owner of the group's stream: its answer goes to
 * group_dead_stored() on that core rather than to a session. */
struct spub {
    struct spub *next;
    uint32_t stream_id;
    uint32_t pub_core, slot, gen; /* the publisher */
    uint64_t id;                  /* its publish id */
    bool ack;                     /* ACK_REQ */
    bool dead;                    /* a dead letter of group dead_group of stream dead_stream, message dead_seq */
    uint32_t dead_stream, dead_group;
    uint64_t dead_seq;
    bool redrive;        /* a dead letter published again (stream_dlq.c): its answer goes to */
    struct dlq_job *job; /* stream_redrive_stored, for message dead_seq of dead_bytes */
    uint64_t dead_bytes;
    bool req;        /* a durable request: id is its reply token; only a refusal goes back */
    int err;         /* TRPC_E_x once refused, 0 once stored */
    const char *why; /* static text for the ERR, or NULL */
    uint64_t seq;
    uint32_t cost; /* bytes: the cross-core charge and the owner's pending bound */
    /* Deduplication (stream.c): where its trpc-msg-id is in rec (len 0: none); the owner's entry
     * for it while it is not durable; the duplicates that came meanwhile, answered with it. */
    uint32_t msgid_off;
    uint16_t msgid_len;
    struct dedup *dd;
    struct spub *dups;
    uint32_t len;  /* of rec */
    uint8_t rec[]; /* STREAM_REC_HEAD + the body */
};

struct stream {
    struct core *c;
    uint32_t id;
    char name[STREAM_NAME_MAX + 1];
    struct wal *w;      /* NULL: the log could not be opened (err says why) */
    uint32_t slot;      /* in c->stream.wals */
    int err;            /* -errno: the stream stores nothing (open failed, or the log failed) until reopened */
    uint64_t reopen_ns; /* uring_now_ns() of the next attempt */
    uint32_t reopen_ms; /* the delay after a failed attempt: doubles, STREAM_REOPEN_MAX_MS at most */
    bool closing;
    uint64_t close_query;
    unsigned gets;                      /* reads in flight (STREAM_MB_GET) */
    struct stream_stall *stalled;       /* of them, those waiting for room in the SQ (stream_stall) */
    struct spub *wait_head, *wait_tail; /* not taken by the log yet (it said -EAGAIN) */
    struct spub *fly_head, *fly_tail;   /* appended, in sequence order, until durable */
    uint64_t pending_bytes, npending;
    uint64_t wait_msgs, wait_bytes; /* of the waiting ones: bodies (discard new counts them) */
    /* Kept: messages and their bytes (topic, headers, payload), counted once appended, in chunks of
     * consecutive messages that retention removes oldest first (stream.c). */
    uint64_t msgs, bytes, stored, refused, expired;
    struct stream_limits lim;          /* from the core's table */
    uint64_t floor;                    /* below it, nothing is kept: removed by retention, or not a message */
    bool floor_dirty;                  /* a floor record waits for the log */
    uint64_t floor_rec, floor_rec_seq; /* the newest floor record appended: its floor, its sequence */
    uint64_t trunc_floor;              /* segments wholly below it may go: its record is durable */
    bool trunc_due;                    /* a truncation to place at the next flush */
    struct schunk *chunks;             /* a ring: chunk_head, nchunks of chunks_cap (a power of two) */
    uint32_t chunk_head, nchunks, chunks_cap;
    /* Message ids seen within the dedup window: by hash (chains), and oldest first. */
    struct idmap dedup;
    struct blist dd_list; /* struct dedup, oldest first */
    uint64_t dedup_key;   /* random: the basis of the ids' hash */
    uint32_t ndedup;
    uint64_t duplicates;  /* this run: PUBs answered as duplicates */
    uint64_t interest_ns; /* uring_now_ns() of the last interest retention pass */
    /* Messages deleted one by one (STREAM_REC_DEL, from the floor on): seq -> their bytes + 1.
     * Readers skip them; msgs and bytes count them until retention removes their chunk. */
    struct idmap deleted;
    uint64_t ndeleted, deleted_bytes; /* of msgs and bytes: counted per chunk, leaving with it */
    uint64_t (*del_wait)[2];          /* tombstones (sequence, bytes) waiting for the log's buffers */
    uint32_t ndel_wait, del_wait_cap;
    char recovery[256];
    /* Consumer groups (group.c): their definitions and state go to a log of their own. */
    struct wal *gw; /* NULL: none yet, or it could not be opened */
    uint32_t gslot;
    struct grec *grec_head, *grec_tail; /* group records waiting for the group log */
    uint32_t ngrec;
    /* Compaction (group.c): bytes appended since the last snapshot, the size of that snapshot, and
     * the first record of the one being written (the log is truncated before it once durable). */
    uint64_t glog_bytes, snap_bytes, compact_from, compactions;
    bool compacting;
    /* The group log failed (its error, sticky in the WAL): records are dropped until group_flush
     * has closed it, opened it again and written every group's state (gw NULL meanwhile when the
     * open failed). Tried again after greopen_ms, doubling like the stream log's reopen. */
    int gw_err;
    uint64_t greopen_ns;
    uint32_t greopen_ms;
    uint64_t glog_dropped; /* records dropped since it failed */
    struct group **groups;
    unsigned ngroups, groups_cap;
    uint32_t next_gid;
};

/* stream.c */
struct stream *stream_find(struct core *c, uint32_t id);
/* The WAL's own messages (a log's options: log_arg the stream) into the broker's log. */
void stream_wal_log(void *arg, enum wal_log_level level, const char *msg);
/* The oldest sequence a reader may find a message at: below it, retention removed them. */
static inline uint64_t stream_first_kept(const struct stream *st)
{
    uint64_t first = wal_first_seq(st->w);

    return st->floor > first ? st->floor : first;
}
/* Finds the first message stored at or after CLOCK_REALTIME ns: 1 with *seq set when known at
 * once (the next sequence when every message is older), or -errno (-EMFILE: as many readers as
 * the log allows; -EAGAIN: retention removed what it read; a failed read), fn never called then;
 * or 0: fn(arg, 0, seq) or fn(arg, -errno, 0) is called later, never before this returns. The
 * stream stays open until fn has been called. */
typedef void stream_seek_fn(void *arg, int err, uint64_t seq);
int stream_seek_time(struct stream *st, uint64_t ns, stream_seek_fn *fn, void *arg, uint64_t *seq);
/* Steps s again at the next flush (its reader's wal_iter_next said -EBUSY). The reader counts in
 * gets meanwhile, so the stream stays open for it. */
void stream_stall(struct stream *st, struct stream_stall *s);
/* Whether message seq was deleted (readers skip it). */
bool stream_is_deleted(const struct stream *st, uint64_t seq);
/* Deletes message seq of bytes (topic, headers, payload): a tombstone in the log. 0 or -errno
 * (-EAGAIN: the log's buffers are busy; try again). */
int stream_delete(struct stream *st, uint64_t seq, uint64_t bytes);
/* Takes a PUB for one of this core's streams (its owner's side). */
void stream_take(struct core *c, struct spub *sp);

/* group.c, on the owner */
/* Opens the stream's group log and replays it: 0 or -errno (logged). */
int group_open_all(struct stream *st);
/* The stream is going: its members hear it, its groups are freed, its group log closed (once not
 * busy: -EBUSY). */
int group_close_all(struct stream *st);
/* New durable messages: groups waiting at the end read on. */
void group_stream_grew(struct stream *st);
/* Shutting down: hands queued group records to the log; true while some still wait. */
bool group_log_pending(struct stream *st);
/* Each loop iteration: retries what waited for the group log or an iterator. */
void group_flush(struct stream *st);
/* stream_dlq.c: a redriven copy's answer, on the dead-letter stream's owner. */
void stream_redrive_stored(struct core *c, struct spub *sp);
/* A dead letter's answer. */
void group_dead_stored(struct core *c, struct spub *sp);
/* The stream's log is about to close (to be opened again): the groups' iterators go. */
void group_detach(struct stream *st);
/* Counts for stream.info. */
unsigned group_count(const struct stream *st);
/* Interest retention: the first sequence some group still needs (delivered and not settled, or
 * not read yet); 0 when the stream has no group, or one whose start is not known yet. */
uint64_t group_interest_floor(const struct stream *st);

#endif
