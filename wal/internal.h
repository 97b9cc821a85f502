/*
 * wal internals shared by the module's files (format.c, segment.c, writer.c, recovery.c, reader.c).
 * Nothing outside wal/ includes this, except white-box tests.
 */
#ifndef TRPC_WAL_INTERNAL_H
#define TRPC_WAL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "wal/wal.h"

#define WAL_MAGIC              0x4c415754u /* "TWAL" little-endian */
#define WAL_VERSION            1
#define WAL_SEG_HDR_BYTES      64
#define WAL_REC_HDR_BYTES      24
#define WAL_REC_ALIGN          8
#define WAL_BLOCK_DEFAULT      4096u
#define WAL_BLOCK_MAX          65536u
#define WAL_MAX_SEGMENTS       65536u
#define WAL_MAX_INFLIGHT       4u /* batches in flight at once, at most */
#define WAL_MAX_BUFS           (WAL_MAX_INFLIGHT + 1)
#define WAL_TYPE_RESERVED_LOW  0
#define WAL_TYPE_RESERVED_HIGH 0xffff

_Static_assert(WAL_REC_HDR_BYTES % WAL_REC_ALIGN == 0, "record payload starts aligned");
_Static_assert(WAL_SEG_HDR_BYTES <= 512, "segment header fits the smallest block");

/* user_data tags (six bits, at ud_shift: ud_base | tag << ud_shift): op << 3 | index; index is the
 * buffer's, the segment step's, the truncation step's, or (READ) the asynchronous iterator's slot. */
enum { WAL_OP_BODY = 1, WAL_OP_HEAD = 2, WAL_OP_FSYNC = 3, WAL_OP_SEG = 4, WAL_OP_TRUNC = 5, WAL_OP_READ = 6, WAL_UD_MASK = 63 };
_Static_assert(WAL_ITER_ASYNC_MAX <= 8, "an asynchronous iterator's slot fits the tag's low three bits");
_Static_assert(WAL_MAX_BUFS <= 8, "a buffer index fits the tag's low three bits");

/* Steps of preparing a segment ahead (OPEN..SYNC) and of naming it once its base is known. */
enum wal_seg_step { WAL_SEG_OPEN = 0, WAL_SEG_FALLOCATE, WAL_SEG_SYNC, WAL_SEG_RENAME, WAL_SEG_DIRSYNC, WAL_SEG_NSTEPS };

/* Steps of a truncation: unlinks of its segments, one at a time, then the directory fsync. */
enum wal_trunc_step { WAL_TRUNC_UNLINK = 0, WAL_TRUNC_DIRSYNC, WAL_TRUNC_NSTEPS };

/* The prepared segment: PREP_IDLE, then one step in flight at a time, then ready. */
enum wal_prep_state { WAL_PREP_IDLE = 0, WAL_PREP_OPEN, WAL_PREP_FALLOCATE, WAL_PREP_SYNC, WAL_PREP_READY };

struct wal_seg_hdr {
    uint64_t base_seq;
    uint64_t segment_bytes;
    uint32_t block_bytes;
    uint32_t flags;
    uint64_t created_ns;
    uint32_t creator_pid;
};

struct wal_rec_hdr {
    uint32_t crc;
    uint32_t len;
    uint64_t seq;
    uint32_t batch_delta; /* seq minus the first sequence of the record's batch */
    uint16_t type;
    uint16_t reserved;
};

/* format.c */
uint32_t wal__crc32c_sw(uint32_t crc, const void *data, size_t len);
uint32_t wal__crc32c_hw(uint32_t crc, const void *data, size_t len); /* only if wal__crc32c_hw_ok() */
bool wal__crc32c_hw_ok(void);
void wal__seg_hdr_encode(uint8_t out[WAL_SEG_HDR_BYTES], const struct wal_seg_hdr *h);
int wal__seg_hdr_decode(const uint8_t in[WAL_SEG_HDR_BYTES], struct wal_seg_hdr *h);
size_t wal__rec_bytes(uint32_t len);
void wal__rec_encode(uint8_t *out, uint64_t seq, uint32_t batch_delta, uint16_t type, const void *data, uint32_t len);
void wal__rec_hdr_decode(const uint8_t *in, struct wal_rec_hdr *h);
bool wal__rec_hdr_plausible(const struct wal_rec_hdr *h, uint64_t off, uint64_t segment_bytes);
bool wal__rec_crc_ok(const uint8_t *rec, const struct wal_rec_hdr *h);

/* One segment file: its base sequence names it. */
struct wal_seg {
    uint64_t base_seq;
    uint64_t bytes;       /* preallocated size, from its header */
    uint32_t block_bytes; /* data starts here */
};

struct wal_waiter {
    wal_append_cb *cb;
    void *arg;
};

/* A truncation request: the next `left` of its `count` segments are the first `left` of w->segs. */
struct wal_trunc {
    uint32_t count;
    uint32_t left;
    wal_truncate_cb *cb;
    void *arg;
};

/*
 * A batch buffer. mem[0] sits at segment offset file_off (block aligned); it holds the tail block
 * carried over from the previous batch (carry bytes), or the segment header block for the first batch
 * of a prepared segment, followed by this batch's records. A sealed batch is written as a head (its
 * first block, when that block is shared with a batch still being written, else nothing) and a body
 * (the rest); the head goes out only once the previous batch's writes have completed.
 */
struct wal_buf {
    uint8_t *mem;
    uint64_t file_off;
    uint64_t seg_bytes; /* size of the segment the buffer writes into */
    uint32_t used;      /* bytes of mem holding content */
    uint32_t carry;     /* leading bytes that are the previous batch's tail block */
    uint32_t nrec;
    uint64_t first_seq;
    uint32_t write_len;
    uint32_t head_len;  /* 0 or one block */
    uint32_t head_done; /* bytes of [0, head_len) written */
    uint32_t body_done; /* bytes of [head_len, write_len) written */
    uint32_t name_id;   /* nonzero: first batch of a segment still called .next-<name_id>.tmp */
    uint8_t out;        /* 1 << op for each of this buffer's requests on the ring */
    bool synced;        /* the fdatasync after its writes completed (options.fdatasync) */
    bool named;         /* its segment's rename and directory fsync completed (name_id) */
    uint64_t payload;   /* payload bytes of this batch's records */
    int fd;             /* the segment's descriptor when the batch was sealed */
    struct timespec t0; /* start of its durability point, for the latency histogram */
    struct wal_waiter *waiters;
};

struct wal {
    struct io_uring *ring;
    struct wal_options opt;
    char *dir;
    int dir_fd;
    int lock_fd;
    int fd;      /* the segment being written */
    int prev_fd; /* the previous segment's, until its last batch completes */
    bool direct;
    bool durable;
    bool fixed;
    bool own_buf_table;
    uint32_t block;
    uint64_t segment_bytes;
    uint32_t buffer_bytes;
    uint32_t batch_records;
    uint64_t ud_base;
    unsigned ud_shift; /* the tag's first bit in user_data */

    struct wal_seg *segs;
    uint32_t nsegs;
    uint32_t segs_cap;

    /* Ring of nbufs buffers: ninflight sealed batches from oldest on, then the filling one. */
    struct wal_buf bufs[WAL_MAX_BUFS];
    uint32_t nbufs;
    uint32_t max_inflight;
    uint32_t overlap_min_bytes; /* a batch joins another in flight only when it writes this much */
    uint32_t oldest;
    uint32_t ninflight;
    uint32_t fill; /* == (oldest + ninflight) % nbufs */
    uint32_t nout; /* requests on the ring (placed, CQE not yet handled) */
    bool completing;

    /* The next segment, prepared ahead on the ring; and the segment being named (one at a time). */
    enum wal_prep_state prep;
    /* The fill buffer sits at the start of the last segment, whose preparation is still running: it
     * has no descriptor yet (fd -1) and is not sealed until the preparation hands it one. */
    bool roll_wait;
    bool no_fallocate_logged;
    bool prep_out; /* its current step is on the ring */
    int prep_fd;
    uint32_t prep_id;
    uint32_t naming; /* index of the buffer whose segment is being named, WAL_MAX_BUFS when none */
    bool naming_out;
    enum wal_seg_step naming_step;
    char prep_name[32];
    char ren_from[32];
    char ren_to[32];

    /* Truncations, oldest first (truncate.c). claimed: segments at the front of segs that they take. */
    struct wal_trunc trunc[WAL_TRUNC_QUEUE];
    uint32_t trunc_head;
    uint32_t ntrunc;
    uint32_t trunc_claimed;
    enum wal_trunc_step trunc_step;
    bool trunc_out; /* the head's current step is on the ring */
    char trunc_name[32];

    int err; /* sticky; 0 while healthy */
    uint64_t next_seq;
    uint64_t durable_seq;
    uint64_t first_seq;
    uint64_t tail_off; /* set by recovery: where the next record goes in the last segment */

    /* Asynchronous iterators (reader.c), by slot: a READ's tag index. One closed while its read was on
     * the ring stays here until that read's CQE. */
    struct wal_iter *iters[WAL_ITER_ASYNC_MAX];

    struct wal_stats st;
};

/* segment.c */
void wal__log(struct wal *w, enum wal_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void wal__seg_name(char *out, size_t n, uint64_t base_seq);
int wal__seg_list(struct wal *w);
int wal__seg_create(struct wal *w, uint64_t base_seq);
int wal__seg_add(struct wal *w, uint64_t base_seq);
void wal__seg_hdr_block(const struct wal *w, uint64_t base_seq, uint8_t *blk);
void wal__prep_name(char *out, size_t n, uint32_t id);
int wal__seg_open_rw(struct wal *w, uint32_t idx, bool dsync);
int wal__seg_open_ro(const struct wal *w, uint32_t idx);
int wal__seg_open_wr_buffered(struct wal *w, uint32_t idx);
int wal__seg_wait_io(struct wal *w);
int wal__dir_lock(struct wal *w);
int wal__seg_delete(struct wal *w, uint32_t first, uint32_t count);
int wal__probe_fs(struct wal *w);
int wal__pread_full(int fd, void *buf, size_t len, uint64_t off);
int wal__pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/* writer.c */
struct io_uring_sqe;
int wal__buf_start(struct wal *w, struct wal_buf *b, int fd, uint64_t off, const uint8_t *carry);
void wal__complete(struct wal_buf *b, int res);
void wal__fail(struct wal *w, int err);
struct io_uring_sqe *wal__get_sqe(struct wal *w);
struct io_uring_sqe *wal__ring_sqe(struct wal *w);
void wal__roll_adopt(struct wal *w, int fd, uint32_t name_id);
void wal__tag(struct wal *w, struct io_uring_sqe *sqe, uint32_t op, uint32_t idx);

/* prepare.c */
int wal__prep_init(struct wal *w);
void wal__prep_pump(struct wal *w);
void wal__prep_cqe(struct wal *w, uint32_t step, int res);
int wal__prep_take(struct wal *w, uint32_t *name_id);
void wal__naming_pump(struct wal *w, uint32_t idx);
void wal__prep_destroy(struct wal *w);

/* truncate.c */
void wal__trunc_pump(struct wal *w);
void wal__trunc_cqe(struct wal *w, uint32_t step, int res);
void wal__trunc_cancel(struct wal *w);

/* reader.c */
void wal__iter_cqe(struct wal *w, uint32_t slot, int res);

/* recovery.c */
int wal__recover(struct wal *w, struct wal_recovery *rec);

/* Base of the segment after the one based at base; UINT64_MAX when that is the last. */
static inline uint64_t wal__seg_next_base(const struct wal *w, uint64_t base)
{
    for (uint32_t i = 0; i < w->nsegs; i++)
        if (w->segs[i].base_seq > base)
            return w->segs[i].base_seq;
    return UINT64_MAX;
}

#endif
