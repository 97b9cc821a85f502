/*
 * A WAL driven by a core's uring_loop: the log submits to the loop's ring and its CQEs come back
 * through a registered CQE source (uring.h, struct uring_source), so they never meet the loop's own
 * tags. wal/ knows nothing of the loop; this adapter is the only code that knows both.
 *
 * Threading: every function here runs on the loop's thread, like the loop and the WAL themselves.
 */
#ifndef TRPC_SRC_WAL_SOURCE_H
#define TRPC_SRC_WAL_SOURCE_H

#include "uring/uring.h"
#include "wal/wal.h"

struct wal_source {
    struct wal *w; /* the open log, NULL when closed */
    uint64_t cqes; /* CQEs handed to the WAL */
    struct uring_source _src;
};

/*
 * Registers a source on loop, then opens the log on loop->ring with opt (its user_data_base and
 * user_data_shift are replaced by the source's) and recovery into rec (may be NULL). From here the
 * loop's iterations flush the WAL (wal_flush) and hand it its CQEs; the caller only appends, truncates
 * and reads. Returns 0, or the negative errno of uring_loop_register_source or wal_open (then nothing
 * stays registered; rec is filled on -EBADMSG as by wal_open).
 */
int wal_source_open(struct wal_source *ws, struct uring_loop *loop, const struct wal_options *opt, struct wal_recovery *rec);

/* Closes the log and unregisters. -EBUSY, changing nothing, while the WAL has requests on the ring
 * (wal_is_busy): run the loop until it has none. */
int wal_source_close(struct wal_source *ws);

#endif
