/*
 * WALs driven by a core's uring_loop: each log submits to the loop's ring and its CQEs come back
 * through one registered CQE source (uring.h, struct uring_source), so they never meet the loop's
 * own tags. A loop has few source slots (URING_SOURCES_MAX), so one source carries a whole set of
 * logs (a core owns a log per stream), told apart by a slot index in the user_data. wal/ knows
 * nothing of the loop; this adapter is the only code that knows both.
 *
 * Threading: every function here runs on the loop's thread, like the loop and the WALs themselves.
 */
#ifndef TRPC_SRC_WAL_SOURCE_H
#define TRPC_SRC_WAL_SOURCE_H

#include "uring/uring.h"
#include "wal/wal.h"

#define WAL_SET_MAX 4096 /* logs in one set */

struct wal_set {
    struct wal **w; /* [cap], by slot; NULL: free */
    uint32_t cap, count;
    uint64_t cqes; /* CQEs handed to the logs */
    bool registered;
    struct uring_source _src;
};

/* Registers the set's source on loop: 0 or the -errno of uring_loop_register_source. */
int wal_set_init(struct wal_set *set, struct uring_loop *loop);
/*
 * Opens a log on the loop's ring with opt (its user_data_base and user_data_shift are replaced by
 * the set's) and recovery into rec (may be NULL); from here the loop's iterations flush it and hand
 * it its CQEs. 0 with the log in *out and its slot in *slot, -ENOSPC when the set is full, or the
 * -errno of wal_open (rec filled on -EBADMSG as by wal_open).
 */
int wal_set_open(struct wal_set *set, const struct wal_options *opt, struct wal_recovery *rec, struct wal **out, uint32_t *slot);
/* Closes the log in slot: 0, or -EBUSY, changing nothing, while it has requests on the ring. */
int wal_set_close(struct wal_set *set, uint32_t slot);
/* Whether any log of the set has requests on the ring. */
bool wal_set_busy(const struct wal_set *set);
/* Unregisters; every log must be closed. */
void wal_set_fini(struct wal_set *set);

/* One log on a loop: a set of one. */
struct wal_source {
    struct wal *w;      /* the open log, NULL when closed */
    struct wal_set set; /* set.cqes: CQEs handed to the WAL */
};

/*
 * Registers a source on loop, then opens the log on loop->ring with opt and recovery into rec (may
 * be NULL). Returns 0, or the negative errno of uring_loop_register_source or wal_open (then nothing
 * stays registered; rec is filled on -EBADMSG as by wal_open).
 */
int wal_source_open(struct wal_source *ws, struct uring_loop *loop, const struct wal_options *opt, struct wal_recovery *rec);

/* Closes the log and unregisters. -EBUSY, changing nothing, while the WAL has requests on the ring
 * (wal_is_busy): run the loop until it has none. */
int wal_source_close(struct wal_source *ws);

#endif
