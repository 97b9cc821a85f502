/*
 * wal: the broker's write-ahead log. Group-committed O_DIRECT writes into preallocated segment files,
 * submitted to an io_uring the caller owns; recovery on open; sequential reads; truncation of whole
 * segments. It knows nothing of sockets or topics. The on-disk format is described at the top of
 * wal/format.c and in docs/wal.md.
 *
 * After wal_open, nothing of the WAL blocks the caller's thread on the disk: writes, syncs, segment
 * creation (also when a roll-over finds no segment prepared ahead) and truncation (unlinks, directory
 * fsync) are requests on the ring, and so are the reads of wal_iter_open_async iterators. Open
 * (recovery) and wal_iter_open's reads are synchronous.
 *
 * Threading: a struct wal belongs to the thread that owns its ring; every function here is called on
 * that thread (wal_crc32c on any). Nothing here locks. The ring may be shared with other owners of
 * CQEs (a core's uring_loop): the options' user_data_base and user_data_shift keep the WAL's
 * user_data apart from theirs, and the ring's owner hands the WAL its CQEs (wal_handle_cqe) and calls
 * wal_flush once per turn. wal/ itself knows nothing of the loop; src/wal_source.c plugs it in.
 *
 * Errors: functions return 0 (or a count) on success and a negative errno on failure. When wal_append
 * returns an error its callback will never be called. After an I/O error the log is failed: every
 * unacknowledged append is completed with that error and later appends return it; close and reopen
 * (which recovers) to continue.
 */
#ifndef TRPC_WAL_H
#define TRPC_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct io_uring;
struct io_uring_cqe;
struct wal;
struct wal_iter;

/* Called once per append, in sequence order, after the batch holding it and every earlier batch are
 * durable (res == 0), or the log has failed (res < 0). It may call wal_append; it must not call
 * wal_close. */
typedef void wal_append_cb(void *arg, uint64_t seq, int res);

/* Called once per wal_truncate_before that returned > 0: res is the number of segments removed (their
 * unlinks and the directory fsync after them have completed), or a negative errno. It may call
 * wal_append and wal_truncate_before; it must not call wal_close. */
typedef void wal_truncate_cb(void *arg, int res);

enum wal_log_level { WAL_LOG_INFO = 0, WAL_LOG_WARN = 1, WAL_LOG_ERR = 2 };

/* Fault injection points (tests): the hook sees each result and returns the one the WAL acts on. */
enum wal_fault_point {
    WAL_FAULT_SUBMIT = 0,    /* res 0; a negative return fails the submission (not a truncation's) */
    WAL_FAULT_WRITE_CQE = 1, /* res is the write's CQE result */
    WAL_FAULT_FSYNC_CQE = 2, /* res is the fdatasync's CQE result */
    /* res is the CQE result of a step of preparing the next segment ahead (openat, fallocate,
     * fdatasync) or of naming it once it is used (renameat, fsync of the directory) */
    WAL_FAULT_SEGMENT_CQE = 3,
    WAL_FAULT_TRUNC_UNLINK_CQE = 4,  /* res is the CQE result of the unlinkat of a truncated segment */
    WAL_FAULT_TRUNC_DIRSYNC_CQE = 5, /* res is the CQE result of the directory fsync ending a truncation */
};

struct wal_options {
    const char *dir;        /* directory of segment files; created if missing */
    uint64_t segment_bytes; /* preallocated size of each segment; 0: 64 MiB; rounded up to the block */
    uint32_t buffer_bytes;  /* size of each batch buffer (max_inflight + 1 of them); 0: 2 MiB; bounds the record size */
    uint32_t batch_records; /* most records per batch; 0: 8192 */
    /* Most batches written at once; 0: 2; at most 4. 1: a batch goes out only when the previous one is
     * durable. A batch joins others in flight only when it writes at least overlap_min_bytes (0: 256 KiB),
     * so small batches keep waiting, and growing, while one is in flight. Completions stay in
     * sequence order either way. */
    uint32_t max_inflight;
    uint32_t overlap_min_bytes;
    /* Do not prepare the next segment ahead: each roll-over starts creating its segment on the ring
     * and the new segment's first batch waits for it (tests the path taken when the preparation is
     * late). */
    bool no_prepare;
    bool repair;           /* on corruption before the tail, truncate there instead of failing open */
    bool no_fixed_buffers; /* do not register the buffers (plain WRITE instead of WRITE_FIXED) */
    bool no_direct;        /* buffered writes plus fdatasync even where O_DIRECT works */
    /* Durability point: by default each batch is one O_DSYNC write. fdatasync: a plain write, then
     * IORING_OP_FSYNC(DATASYNC) submitted after the write's CQE (docs/wal.md has the measurements). */
    bool fdatasync;
    /* user_data of the WAL's SQEs is user_data_base | tag << user_data_shift, tag < 64 (six bits: an
     * op kind and a buffer or step index). Both 0: the struct wal's address (allocated 64-byte
     * aligned) with the tag in the low six bits. The six bits from user_data_shift on must be zero in
     * the base, and user_data_shift <= 58. A ring shared with other owners of CQEs gives the WAL a
     * base and shift that no other owner's user_data can match: on a uring_loop, a registered
     * source's (src/wal_source.h: base = uring_source_user_data(src, 0), shift = 16). */
    uint64_t user_data_base;
    unsigned user_data_shift;
    void (*log)(void *arg, enum wal_log_level level, const char *msg); /* NULL: stderr */
    void *log_arg;
    int (*fault)(void *arg, enum wal_fault_point point, int res); /* NULL in production */
    void *fault_arg;
};

/* What open found. Filled by wal_open on success and on -EBADMSG. */
struct wal_recovery {
    uint64_t first_seq;   /* oldest record kept (== next_seq when the log is empty) */
    uint64_t next_seq;    /* sequence the next append gets */
    uint32_t segments;    /* segment files after recovery */
    bool tail_cut;        /* a torn or corrupt tail was cut */
    bool repaired;        /* corruption before the tail was truncated (options.repair) */
    uint64_t bad_segment; /* base sequence of the segment holding the cut or the corruption */
    uint64_t bad_offset;  /* byte offset of the first invalid record in that segment */
    char message[256];    /* human-readable summary of the above, empty when nothing was wrong */
};

struct wal_record {
    uint64_t seq;
    uint16_t type;
    uint32_t len;
    const void *data; /* valid until the next wal_iter_next or wal_iter_close */
};

#define WAL_HIST_BUCKETS 32

struct wal_stats {
    uint64_t appends;
    uint64_t batches;        /* durable batches */
    uint64_t bytes_appended; /* payload bytes acknowledged */
    uint64_t bytes_written;  /* bytes handed to the device, padding and rewritten tail blocks included */
    uint64_t segments_created;
    uint64_t segments_deleted;
    uint64_t segments_prepared; /* roll-overs onto a segment prepared ahead on the ring: pointer work */
    /* Roll-overs that found no segment prepared ahead (the fallback): the segment is then created on
     * the ring while its first batch waits, appends accumulating into it. */
    uint64_t segments_sync;
    uint64_t overlapped_batches; /* batches that went out while another was still in flight */
    uint64_t eagain;             /* appends refused because every buffer was busy */
    /* Durability latency (the whole O_DSYNC write, or the fdatasync): bucket i counts
     * batches that took [2^i, 2^(i+1)) microseconds (bucket 0: < 2). */
    uint64_t fsync_us_hist[WAL_HIST_BUCKETS];
    uint64_t fsync_us_max;
    uint64_t fsync_us_sum;
    /* Write latency, the same buckets: from a batch's start to its last write's completion. With
     * O_DSYNC that is its durability; with fdatasync, the part before the sync. */
    uint64_t write_us_hist[WAL_HIST_BUCKETS];
    uint64_t write_us_sum;
    bool direct;  /* O_DIRECT in use */
    bool durable; /* false on tmpfs and other memory-backed filesystems */
    bool fixed;   /* buffers registered with the ring */
    uint32_t block_bytes;
};

/*
 * Opens (creating or recovering) the log in opt->dir and attaches it to ring, which must outlive it.
 * Registers the batch buffers with the ring unless opt->no_fixed_buffers or the ring already has a
 * buffer table (then plain writes are used). On success stores the handle in *out and returns 0;
 * -EBADMSG when corruption before the tail stops the open (rec says where); -EOPNOTSUPP when the ring
 * lacks an opcode the WAL needs (openat, fallocate, fsync, renameat, unlinkat: all in Linux 5.11);
 * other -errno otherwise. *out is untouched on failure. rec may be NULL. Open itself is synchronous.
 */
int wal_open(const struct wal_options *opt, struct io_uring *ring, struct wal **out, struct wal_recovery *rec);

/*
 * Queues a record of len bytes (0 <= len <= wal_max_record(w)) and returns its sequence in *seq. cb
 * fires once the record is durable or failed. Returns -EAGAIN when every batch buffer is busy (poll
 * and retry), -EMSGSIZE when len is too large, or the log's sticky error after a failure (never
 * -EAGAIN: a failure that was EAGAIN is kept as -EIO; callbacks get the same). type is the caller's
 * (0 and 0xffff are reserved).
 */
int wal_append(struct wal *w, uint16_t type, const void *data, uint32_t len, wal_append_cb *cb, void *arg, uint64_t *seq);

/*
 * Seals the filling batch now if the rules allow (nothing in flight; or, for a batch of at least
 * overlap_min_bytes, fewer than max_inflight batches in flight in the same segment), and places any
 * request that is due (segment preparation included). Call once per event-loop turn, before submit.
 * The WAL only prepares SQEs on the ring, the caller submits them; the one exception is a full SQ,
 * which the WAL submits to make room.
 */
int wal_flush(struct wal *w);

/* Routes a CQE: returns true (and acts on it) if it carries one of this WAL's user_data tags (base
 * and shift as in the options). The thread that owns the ring only, like every call here. */
bool wal_handle_cqe(struct wal *w, const struct io_uring_cqe *cqe);

/*
 * For rings that only the WAL uses (tests, tools): flushes, submits, reaps CQEs (waiting for one when
 * wait is true and I/O is in flight). Returns the number of CQEs handled or -errno.
 */
int wal_poll(struct wal *w, bool wait);

/* wal_poll until nothing is queued or in flight (a segment being prepared ahead and truncations
 * included; after a failure, until the ring has given back every request). Returns 0 or the log's
 * error. */
int wal_drain(struct wal *w);

/* True while any request of this WAL is on the ring (its buffers and descriptors are then in use). */
bool wal_is_busy(const struct wal *w);

/*
 * Detaches from the ring and frees. Close every iterator first. Appends not yet durable, and
 * truncations not yet placed on the ring, complete with -ECANCELED. Must not be called while wal_is_busy (the kernel still uses the
 * buffers and names; a truncation's unlinks or directory fsync count too): drain or reap first.
 * Returns -EBUSY then, and changes nothing.
 */
int wal_close(struct wal *w);

/* Largest record wal_append accepts with these options. */
uint32_t wal_max_record(const struct wal *w);
/* Sequence of the newest durable record (first_seq - 1 when none). */
uint64_t wal_durable_seq(const struct wal *w);
/* Oldest sequence readable: records below it are removed, or being removed by a truncation. */
uint64_t wal_first_seq(const struct wal *w);
void wal_get_stats(const struct wal *w, struct wal_stats *st);

/*
 * Reads durable records from seq on (seq below wal_first_seq starts at the first). wal_iter_open's
 * reads are synchronous preads: meant for replay at start-up and for tools. wal_iter_next returns 1
 * with a record, 0 at the durable end, -EBADMSG when a record fails its checksum, -ENOENT when its next
 * record lies below wal_first_seq (a truncation requested after it got there: it never reads a segment
 * being removed; close it and open another from wal_first_seq), -errno otherwise. An iterator at the
 * durable end reads on once more records are durable.
 */
int wal_iter_open(struct wal *w, uint64_t seq, struct wal_iter **out);
int wal_iter_next(struct wal_iter *it, struct wal_record *rec);
/* Any iterator, at any time: one whose read is on the ring is freed once that read's CQE is handled
 * (wal_is_busy stays true until then). */
void wal_iter_close(struct wal_iter *it);

/*
 * An iterator whose reads are requests on the WAL's ring (IORING_OP_READ of up to 64 KiB, or of a
 * whole longer record), for replay and redelivery on a core: wal_iter_next never waits for the disk.
 * It returns what the synchronous iterator returns, or -EAGAIN while a read is in flight (or was just
 * placed: the ring's owner submits it as usual); once its CQE has been handled (wal_handle_cqe, on a
 * loop through its source), ready(arg, it) fires (may be NULL) and the next call goes on. ready may
 * call wal_iter_next and wal_iter_close; it must not call wal_close. A failed read is returned by the
 * next call and every later one. -EBUSY: the ring's SQ stayed full even after a submit, so no read
 * was placed and ready will not fire for it; the iterator is unchanged, and the caller calls again
 * later (its loop's next iteration). At most WAL_ITER_ASYNC_MAX are open at a time (-EMFILE beyond).
 * Opening a segment is an openat(2) on the caller's thread (metadata only, no data read).
 */
#define WAL_ITER_ASYNC_MAX 8
typedef void wal_iter_ready_cb(void *arg, struct wal_iter *it);
int wal_iter_open_async(struct wal *w, uint64_t seq, wal_iter_ready_cb *ready, void *arg, struct wal_iter **out);

/*
 * Removes, asynchronously on the ring, whole segments whose records are all below seq: never the
 * segment being written, nor the previous one while its last batch is in flight or while the segment
 * being written has no name yet (a crash must leave a named segment where the log ends). The segments' records
 * leave the readable log at once (wal_first_seq moves past them); then an IORING_OP_UNLINKAT per
 * segment, oldest first, each placed after the previous one's CQE, and one fsync of the directory after
 * the last. Returns the number of segments to be removed and cb (may be NULL) fires once with the result;
 * 0 when there is nothing (more) to remove below seq, cb not called; -EAGAIN when WAL_TRUNC_QUEUE
 * truncations are already pending, cb not called. Truncations run one after another in call order, each
 * taking the segments not taken by an earlier one. An error completes the failing truncation with it
 * and the queued ones with -ECANCELED; segments not unlinked stay on disk (unreadable, below
 * wal_first_seq) for a later truncation; appends are not affected.
 */
#define WAL_TRUNC_QUEUE 8
int wal_truncate_before(struct wal *w, uint64_t seq, wal_truncate_cb *cb, void *arg);

/* CRC32C (Castagnoli), as stored on disk. crc is 0 for a fresh computation or a previous result. */
uint32_t wal_crc32c(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
