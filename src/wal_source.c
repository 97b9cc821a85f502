/*
 * WALs as one CQE source of a uring_loop. user_data of their SQEs, with the loop's source layout
 * (docs/uring.md section 3):
 *
 *   bits 0..2    URING_TAG_SOURCE
 *   bits 3..15   the source id the loop gave the set
 *   bits 16..21  the WAL's tag: op << 3 | buffer, step or iterator slot index (wal/internal.h)
 *   bits 22..63  the log's slot in the set
 *
 * so a log's base is uring_source_user_data(src, slot << 6) and its shift URING_SOURCE_PAYLOAD_SHIFT.
 * A CQE the loop routes here that no log recognises is a bug: asserted.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/wal_source.h"

#define TAG_BITS 6 /* the WAL's tag (wal.h, user_data_shift) */

static struct wal_set *of(const struct uring_source *src)
{
    return src->data;
}

static void on_cqe(struct uring_source *src, uint64_t payload, int res, unsigned cqe_flags)
{
    struct wal_set *set = of(src);
    uint64_t slot = payload >> TAG_BITS;
    struct io_uring_cqe cqe = {0};
    bool mine;

    assert(slot < set->cap && set->w[slot] != NULL);
    cqe.user_data = uring_source_user_data(src, payload);
    cqe.res = res;
    cqe.flags = cqe_flags;
    set->cqes++;
    mine = wal_handle_cqe(set->w[slot], &cqe);
    assert(mine); /* the id is ours: every payload must be one of the WAL's tags */
    (void)mine;
}

static void on_flush(struct uring_source *src)
{
    struct wal_set *set = of(src);

    for (uint32_t i = 0, seen = 0; i < set->cap && seen < set->count; i++) {
        if (set->w[i] != NULL) {
            seen++;
            wal_flush(set->w[i]); /* a failed log keeps its sticky error; appends report it */
        }
    }
}

bool wal_set_busy(const struct wal_set *set)
{
    for (uint32_t i = 0; i < set->cap; i++)
        if (set->w[i] != NULL && wal_is_busy(set->w[i]))
            return true;
    return false;
}

static bool is_busy(const struct uring_source *src)
{
    return wal_set_busy(of(src));
}

int wal_set_init(struct wal_set *set, struct uring_loop *loop)
{
    int ret;

    memset(set, 0, sizeof(*set));
    set->_src.on_cqe = on_cqe;
    set->_src.on_flush = on_flush;
    set->_src.is_busy = is_busy;
    set->_src.data = set;
    ret = uring_loop_register_source(loop, &set->_src);
    if (ret == 0)
        set->registered = true;
    return ret;
}

static int free_slot(struct wal_set *set, uint32_t *slot)
{
    uint32_t cap;
    struct wal **w;

    for (uint32_t i = 0; i < set->cap; i++) {
        if (set->w[i] == NULL) {
            *slot = i;
            return 0;
        }
    }
    if (set->cap >= WAL_SET_MAX)
        return -ENOSPC;
    cap = set->cap == 0 ? 4 : set->cap * 2;
    w = realloc(set->w, cap * sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    memset(w + set->cap, 0, (cap - set->cap) * sizeof(*w));
    *slot = set->cap;
    set->w = w;
    set->cap = cap;
    return 0;
}

int wal_set_open(struct wal_set *set, const struct wal_options *opt, struct wal_recovery *rec, struct wal **out, uint32_t *slot)
{
    struct wal_options o = *opt;
    uint32_t i;
    int ret;

    assert(set->registered);
    ret = free_slot(set, &i);
    if (ret != 0)
        return ret;
    o.user_data_base = uring_source_user_data(&set->_src, (uint64_t)i << TAG_BITS);
    o.user_data_shift = URING_SOURCE_PAYLOAD_SHIFT;
    ret = wal_open(&o, &set->_src._loop->ring, &set->w[i], rec);
    if (ret != 0) {
        set->w[i] = NULL;
        return ret;
    }
    set->count++;
    *out = set->w[i];
    *slot = i;
    return 0;
}

int wal_set_close(struct wal_set *set, uint32_t slot)
{
    int ret;

    assert(slot < set->cap && set->w[slot] != NULL);
    ret = wal_close(set->w[slot]);
    if (ret != 0)
        return ret;
    set->w[slot] = NULL;
    set->count--;
    return 0;
}

void wal_set_fini(struct wal_set *set)
{
    assert(set->count == 0);
    if (set->registered)
        uring_loop_unregister_source(set->_src._loop, &set->_src);
    free(set->w);
    memset(set, 0, sizeof(*set));
}

int wal_source_open(struct wal_source *ws, struct uring_loop *loop, const struct wal_options *opt, struct wal_recovery *rec)
{
    uint32_t slot;
    int ret;

    memset(ws, 0, sizeof(*ws));
    ret = wal_set_init(&ws->set, loop);
    if (ret != 0)
        return ret;
    ret = wal_set_open(&ws->set, opt, rec, &ws->w, &slot);
    if (ret != 0) {
        ws->w = NULL;
        wal_set_fini(&ws->set);
        return ret;
    }
    return 0;
}

int wal_source_close(struct wal_source *ws)
{
    int ret;

    if (ws->w == NULL)
        return 0;
    ret = wal_set_close(&ws->set, 0);
    if (ret != 0)
        return ret;
    ws->w = NULL;
    wal_set_fini(&ws->set);
    return 0;
}
