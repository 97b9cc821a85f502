/*
 * stream: durable topics (docs/architecture.md, "Streams"). Not a public API.
 *
 * A stream is a named set of topic patterns whose messages are kept in a log of its own (wal/), on
 * the core that owns it (stream_owner: a hash of its name). Every core holds a table of the
 * streams (struct stream_table, its own copy, replaced whole by the control thread); a PUB whose
 * topic one of them covers is copied to the owner, appended there, and its PUBACK, carrying the
 * stream sequence, goes back to the publisher once the batch holding it is on disk.
 *
 * Threads: stream_def_* and stream_table_make on any thread (the control thread); stream_pub and
 * the module's hooks and messages on a core, for that core; the STREAM_MB_* handlers on the core
 * the message was posted to (admin.c registers nothing of them: stream_register does).
 */
#ifndef TRPC_SRC_STREAM_H
#define TRPC_SRC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "driver/wire.h"
#include "src/policy.h"
#include "src/wal_source.h"

#define STREAM_NAME_MAX      64          /* [A-Za-z0-9_-], 1 .. this many bytes */
#define STREAM_SUBJECTS_MAX  16          /* patterns of one stream */
#define STREAMS_MAX          256         /* streams of one broker */
#define STREAM_PENDING_MAX   (64u << 20) /* bytes of PUBs an owner holds for one stream before refusing */
#define STREAM_SEGMENT_BYTES (16u << 20)
#define STREAM_REC_MSG       1       /* WAL record type of a message */
#define STREAM_REC_FLOOR     2       /* retention moved the floor: floor (8), messages kept (8), their bytes (8) */
#define STREAM_REC_DEL       3       /* a message deleted (redriven): its sequence (8), its bytes (8) */
#define STREAM_CHUNKS        64      /* a limit removes the oldest messages in steps of 1/64 of it */
#define STREAM_REOPEN_MIN_MS 500     /* a failed log is opened again after this, */
#define STREAM_REOPEN_MAX_MS 30000   /* doubling up to this while it keeps failing */
#define STREAM_REC_HEAD      16      /* a message record: time (8), topic_len (2), flags (2), hdr_len (4), then the body */
#define STREAM_MSG_REQUEST   0x0001u /* flags: a durable request; its last headers are STREAM_HDR_REPLY, STREAM_HDR_DEADLINE */
#define STREAM_HDR_REPLY     ":trpc-reply"    /* reply token and secret, 32 hex digits (docs/protocol.md 7.1) */
#define STREAM_HDR_DEADLINE  ":trpc-deadline" /* the requester's deadline, Unix time in ms */

/* A message record's head, as its fields. */
struct stream_rec_head {
    uint64_t ns; /* stored at, CLOCK_REALTIME */
    uint16_t topic_len, flags;
    uint32_t hdr_len;
};

/* Reads the head of message record rec (len bytes): false when the record cannot hold it and the
 * topic and headers it names (a damaged record). */
static inline bool stream_rec_head_get(const void *rec, uint32_t len, struct stream_rec_head *h)
{
    const uint8_t *p = rec;

    if (len < STREAM_REC_HEAD)
        return false;
    memcpy(&h->ns, p, 8);
    memcpy(&h->topic_len, p + 8, 2);
    memcpy(&h->flags, p + 10, 2);
    memcpy(&h->hdr_len, p + 12, 4);
    return (uint64_t)h->topic_len + h->hdr_len <= len - STREAM_REC_HEAD;
}

static inline void stream_rec_head_put(uint8_t *rec, uint64_t ns, uint16_t topic_len, uint16_t flags, uint32_t hdr_len)
{
    memcpy(rec, &ns, 8);
    memcpy(rec + 8, &topic_len, 2);
    memcpy(rec + 10, &flags, 2);
    memcpy(rec + 12, &hdr_len, 4);
}

struct broker;
struct core;
struct session;

enum stream_discard { STREAM_DISCARD_OLD = 0, STREAM_DISCARD_NEW = 1 };
enum stream_retention { STREAM_RETENTION_LIMITS = 0, STREAM_RETENTION_INTEREST = 1 };

#define STREAM_MAX_AGE_MS_MAX (100ull * 366 * 86400 * 1000) /* a century */

/* Retention (0: no limit). At a limit the oldest messages go (discard old), or new ones are
 * refused with STREAM_FULL (discard new; max_age removes the oldest either way). */
struct stream_limits {
    uint64_t max_msgs, max_bytes, max_age_ms;
    uint8_t discard;          /* STREAM_DISCARD_* */
    uint8_t retention;        /* STREAM_RETENTION_*: interest also removes what every group acknowledged */
    uint64_t dedup_window_ms; /* a PUB repeating a trpc-msg-id seen this recently is not stored again; 0: off */
};

#define STREAM_DEDUP_WINDOW_MS  120000 /* without "dedup_window_ms": two minutes, as JetStream's */
#define STREAM_DEDUP_WINDOW_MAX (7ull * 86400 * 1000)
#define STREAM_DEDUP_MAX        (1u << 17) /* ids a stream remembers at most: past it, the oldest go */
#define STREAM_MSGID_MAX        128        /* bytes of a trpc-msg-id */

/* A stream as defined (store, admin API). */
struct stream_def {
    char name[STREAM_NAME_MAX + 1];
    unsigned nsubjects;
    char *subjects[STREAM_SUBJECTS_MAX]; /* malloc'd, valid patterns */
    uint32_t max_msg_size;               /* payload bytes at most; 0: the frame limit */
    struct stream_limits lim;
    /* For its consumer groups, what neither a group's definition nor its first SUB says:
     * max_deliveries, ack_wait_ms, backoff, dlq (malloc'd, NUL-terminated); 0 and NULL: unset. */
    struct policy defaults;
    uint64_t created_ns; /* CLOCK_REALTIME */
};

/* A core's table of streams: one allocation, strings included. */
struct stream_entry {
    uint32_t id; /* the control thread's, for this run */
    unsigned owner;
    uint32_t max_msg_size;
    struct stream_limits lim;
    struct policy defaults; /* its dlq in the table's strings */
    unsigned nsubjects;
    const char *name;
    const char *subj[STREAM_SUBJECTS_MAX];
    uint16_t subj_len[STREAM_SUBJECTS_MAX];
};

struct stream_table {
    uint64_t gen;
    unsigned n;
    struct stream_entry e[];
};

/* What an owner knows of one of its streams (STREAM_MB_OPEN, STREAM_MB_INFO). */
struct stream_info {
    uint32_t id;
    int err;                  /* 0, or why the stream cannot store (open failed, log failed) */
    uint64_t first_seq;       /* oldest kept */
    uint64_t last_seq;        /* newest durable; first_seq - 1 when empty */
    uint64_t msgs, bytes;     /* kept: records and their bytes (topic, headers, payload) */
    uint64_t stored, refused; /* this run: PUBs stored, PUBs refused (too large, full, failed) */
    uint64_t expired;         /* this run: messages removed by retention */
    uint64_t duplicates;      /* this run: PUBs answered as duplicates of one stored */
    uint64_t purged;          /* STREAM_MB_PURGE: the messages it removed */
    uint64_t deleted;         /* deleted one by one (redriven dead letters) and not yet passed by retention */
    uint64_t pending;         /* PUBs waiting for the disk */
    unsigned groups;          /* consumer groups */
    bool direct;              /* O_DIRECT */
    uint64_t wal_batches;     /* this run: durable batches written */
    /* this run: the durability latency of those batches (wal.h's fsync_us_hist): bucket i counts
     * batches that took [2^i, 2^(i+1)) microseconds, bucket 0 those under 2 */
    uint64_t wal_sync_us[WAL_HIST_BUCKETS];
    uint64_t wal_sync_us_sum;
    uint64_t wal_write_us[WAL_HIST_BUCKETS]; /* the same for their writes (wal.h's write_us_hist) */
    uint64_t wal_write_us_sum;
    char recovery[256]; /* what opening the log found, "" when nothing was wrong */
};

/* A stored message (STREAM_MB_GET): the record, as kept. */
struct stream_msg {
    uint64_t seq;
    uint64_t time_ns;
    uint16_t topic_len;
    uint32_t hdr_len;
    uint32_t len; /* of body[]: topic, headers, payload */
    uint8_t body[];
};

/* Mailbox requests (admin.h's ADMIN_MB_STREAM_*), answered with a CONTROL_PART. */
struct stream_req {
    uint64_t query;
    uint32_t id;
    uint64_t seq;                   /* STREAM_MB_GET */
    char name[STREAM_NAME_MAX + 1]; /* STREAM_MB_OPEN */
    struct stream_limits lim;       /* STREAM_MB_OPEN */
    struct stream_table *table;     /* STREAM_MB_TABLE: this core's new table, taken */
};

/* ADMIN_MB_DLQ (stream_dlq.c): list or redrive the dead letters of a stream, from sequence from
 * (0: the first) up to to (0: the end), at most limit of them, those whose trpc-dlq-reason is
 * reason ("": any). Answered with one struct stream_dlq_result, or -ESRCH (no such stream),
 * -EAGAIN (busy: try again), -ENOMEM, or the stream's log error. */
enum stream_dlq_op { STREAM_DLQ_LIST = 1, STREAM_DLQ_REDRIVE, STREAM_DLQ_PURGE };
#define STREAM_DLQ_REASON_MAX 32
#define STREAM_DLQ_LIST_BYTES (1u << 20) /* of messages in one list answer (at least one) */

struct stream_dlq_req {
    uint64_t query;
    uint32_t id;
    uint8_t op; /* STREAM_DLQ_* */
    uint64_t from, to;
    uint32_t limit;
    char reason[STREAM_DLQ_REASON_MAX + 1];
};

struct stream_dlq_result {
    uint64_t next_seq; /* where a next call goes on */
    bool more;         /* messages are left after next_seq (within to) */
    uint64_t redriven, purged, failed, skipped;
    char why[160];  /* the first failure or skip, "" when none */
    uint32_t count; /* list: messages in msgs[] */
    size_t bytes;   /* list: of msgs[]: struct stream_msg each, 8-aligned */
    uint8_t msgs[];
};

struct core;
struct uring_xmsg;
void stream_dlq_in(struct core *c, const struct uring_xmsg *m);

struct stream; /* an open stream, on its owner (stream.c) */

/* A core's state (struct core's `stream`). */
struct stream_core {
    struct stream_table *table; /* this core's copy; NULL: no streams */
    struct wal_set wals;        /* the logs of the streams this core owns; registered on first use */
    struct stream **own;        /* open streams this core owns */
    unsigned nown, own_cap;
    struct uring_timer age_timer; /* armed while a stream owned here has max_age */
};

extern const struct core_module stream_module;

/* ---- definitions: any thread -------------------------------------------------------------------- */
/* 0, or -EINVAL with a one-line reason in why. */
int stream_name_check(const char *name, char *why, size_t whylen);
/* Checks and adds a pattern to d: 0 or -EINVAL (why says). */
int stream_def_add_subject(struct stream_def *d, const char *pattern, size_t max_topic, char *why, size_t whylen);
/* Whether every topic pattern p matches, pattern s matches too. */
bool stream_pattern_covers(const char *s, size_t slen, const char *p, size_t plen);
/* Whether some topic matches both patterns. */
bool stream_patterns_overlap(const char *a, size_t alen, const char *b, size_t blen);
/* Same name, subjects (as sets) and limits. */
bool stream_def_equal(const struct stream_def *a, const struct stream_def *b);
void stream_def_free(struct stream_def *d);
/* The limits of a JSON object (a request or a stored definition): "max_msgs", "max_bytes",
 * "max_age_ms" (whole numbers, 0: none), "discard" ("old", "new") and "dedup_window_ms" (0: off;
 * absent: STREAM_DEDUP_WINDOW_MS), each optional. 0 or -EINVAL with why. Other keys are the
 * caller's business. */
struct json_t;
int stream_limits_parse(const struct json_t *doc, struct stream_limits *l, char *why, size_t whylen);
/* Adds them to doc: 0 or -ENOMEM. */
int stream_limits_put(struct json_t *doc, const struct stream_limits *l);
/* The defaults for d's consumer groups in doc: "max_deliveries", "ack_wait_ms" (numbers),
 * "backoff" (text), "dlq" (a topic none of d's subjects match, so that dead letters leave the
 * stream), each optional or null, read as group.add reads them; d's subjects first. 0, or -EINVAL
 * with why (-ENOMEM). Other keys are the caller's business. */
int stream_defaults_parse(const struct json_t *doc, struct stream_def *d, uint16_t max_topic, char *why, size_t whylen);
/* Adds them to doc (null for each one unset): 0 or -ENOMEM. */
int stream_defaults_put(struct json_t *doc, const struct policy *p);
/* One policy value of a JSON document, given as text or a number, read by policy.c as header key
 * would be (pattern: the group's or a stream's subject): 0 (also when absent or null), or -EINVAL
 * with why naming field. One set of rules for a SUB, a contract, group.add and a stream's
 * defaults. */
int stream_policy_field(const struct json_t *doc, const char *field, const char *key, const char *pattern, uint16_t max_topic,
                        struct policy *pol, char *why, size_t whylen);
/* The stored form (JSON, malloc'd) and back; decode: 0 or -EINVAL with why. */
char *stream_def_encode(const struct stream_def *d, size_t *len);
int stream_def_decode(const char *name, const void *val, size_t len, size_t max_topic, struct stream_def *out, char *why,
                      size_t whylen);
unsigned stream_owner(const char *name, unsigned ncores);
/* The name of the stream made for dead-letter topic[0, len) when no stream covers it: "dlq-" and
 * the topic, bytes a name cannot hold as '_', a long one cut and told apart by a hash. */
void stream_dlq_name(const char *topic, size_t len, char out[STREAM_NAME_MAX + 1]);
/* Whether name[0, len) is 1 to max bytes of letters, digits, '_' and '-' (stream and group names). */
bool stream_name_ok(const char *name, size_t len, size_t max);
/* The stream of table t (may be NULL) whose subjects match literal topic, or NULL. */
const struct stream_entry *stream_table_match(const struct stream_table *t, const char *topic, size_t len);
/* A table of defs[0, n) with ids[], for ncores cores: malloc'd, or NULL. */
struct stream_table *stream_table_make(const struct stream_def *const *defs, const uint32_t *ids, unsigned n, unsigned ncores,
                                       uint64_t gen);

/* ---- the broker -------------------------------------------------------------------------------- */
/* Main thread, before core_start_all: the cores' mailbox handlers. */
int stream_register(struct broker *b);

/* A core: a PUB that a stream covers is taken (true): it is stored and answered (PUBACK with the
 * sequence when ACK_REQ asked for one, ERR on failure) later. false: no stream covers its topic. */
bool stream_pub(struct session *s, const struct wire_frame *f);
/* A core: durable request f (no responder now) to the stream covering its topic, with headers
 * STREAM_HDR_REPLY (token, secret) and STREAM_HDR_DEADLINE (deadline_ms). 0: taken (a refusal
 * later comes to request_store_failed with the token); else a TRPC_E_x code, *why a text or NULL. */
int stream_request(struct session *s, const struct wire_frame *f, uint64_t token, uint64_t secret, uint64_t deadline_ms,
                   const char **why);
/* Writes one header entry at `at`: its size. */
size_t stream_put_header(uint8_t *at, const char *key, const char *val, size_t vlen);

#endif
