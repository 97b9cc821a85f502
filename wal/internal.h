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
#define WAL_TYPE_RESERVED_LOW  0
#define WAL_TYPE_RESERVED_HIGH 0xffff

_Static_assert(WAL_REC_HDR_BYTES % WAL_REC_ALIGN == 0, "record payload starts aligned");
_Static_assert(WAL_SEG_HDR_BYTES <= 512, "segment header fits the smallest block");

/* user_data kinds (low three bits). */
enum { WAL_UD_WRITE = 1, WAL_UD_FSYNC = 2, WAL_UD_MASK = 7 };

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

/* A batch buffer. mem[0] sits at segment offset file_off (block aligned); it holds the tail block
 * carried over from the previous batch (carry bytes) followed by this batch's records. */
struct wal_buf {
    uint8_t *mem;
    uint64_t file_off;
    uint32_t used;  /* bytes of mem holding content */
    uint32_t carry; /* leading bytes that are the previous batch's tail block */
    uint32_t nrec;
    uint64_t first_seq;
    uint32_t seg_idx; /* index into wal->segs */
    uint32_t write_len;
    uint32_t written;
    uint64_t payload; /* payload bytes of this batch's records */
    int fd;           /* the segment's descriptor when the batch was sealed */
    struct wal_waiter *waiters;
};

enum wal_io { WAL_IO_IDLE = 0, WAL_IO_WRITE, WAL_IO_FSYNC };

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

    struct wal_seg *segs;
    uint32_t nsegs;
    uint32_t segs_cap;

    struct wal_buf bufs[2];
    int fill;   /* index of the buffer appends go to */
    int flight; /* index of the buffer being written or synced, -1 when none */
    bool completing;
    enum wal_io io;
    bool sqe_pending; /* an SQE could not be had: retry at the next entry point */
    struct timespec fsync_start;

    int err; /* sticky; 0 while healthy */
    uint64_t next_seq;
    uint64_t durable_seq;
    uint64_t first_seq;
    uint64_t tail_off; /* set by recovery: where the next record goes in the last segment */

    struct wal_stats st;
};

/* segment.c */
void wal__log(struct wal *w, enum wal_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void wal__seg_name(char *out, size_t n, uint64_t base_seq);
int wal__seg_list(struct wal *w);
int wal__seg_create(struct wal *w, uint64_t base_seq);
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
int wal__buf_start(struct wal *w, struct wal_buf *b, uint32_t seg_idx, int fd, uint64_t off, const uint8_t *carry);
void wal__complete(struct wal_buf *b, int res);

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
