/*
 * The WAL as a CQE source of a uring_loop. user_data of the WAL's SQEs, with the loop's source layout
 * (docs/uring.md section 3):
 *
 *   bits 0..2    URING_TAG_SOURCE
 *   bits 3..15   the source id the loop gave us
 *   bits 16..21  the WAL's tag: op << 3 | buffer, step or iterator slot index (wal/internal.h)
 *   bits 22..63  zero
 *
 * so the WAL's base is uring_source_user_data(src, 0) and its shift URING_SOURCE_PAYLOAD_SHIFT. A CQE
 * the loop routes here that the WAL does not recognise is a bug: asserted.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "src/wal_source.h"

static struct wal_source *of(const struct uring_source *src)
{
    return src->data;
}

static void on_cqe(struct uring_source *src, uint64_t payload, int res, unsigned cqe_flags)
{
    struct wal_source *ws = of(src);
    struct io_uring_cqe cqe = {0};
    bool mine;

    assert(ws->w != NULL);
    cqe.user_data = uring_source_user_data(src, payload);
    cqe.res = res;
    cqe.flags = cqe_flags;
    ws->cqes++;
    mine = wal_handle_cqe(ws->w, &cqe);
    assert(mine); /* the id is ours: every payload must be one of the WAL's tags */
    (void)mine;
}

static void on_flush(struct uring_source *src)
{
    struct wal_source *ws = of(src);

    if (ws->w != NULL)
        wal_flush(ws->w); /* a failed log keeps its sticky error; appends report it */
}

static bool is_busy(const struct uring_source *src)
{
    const struct wal_source *ws = of(src);

    return ws->w != NULL && wal_is_busy(ws->w);
}

int wal_source_open(struct wal_source *ws, struct uring_loop *loop, const struct wal_options *opt, struct wal_recovery *rec)
{
    struct wal_options o = *opt;
    int ret;

    memset(ws, 0, sizeof(*ws));
    ws->_src.on_cqe = on_cqe;
    ws->_src.on_flush = on_flush;
    ws->_src.is_busy = is_busy;
    ws->_src.data = ws;
    ret = uring_loop_register_source(loop, &ws->_src);
    if (ret != 0)
        return ret;
    o.user_data_base = uring_source_user_data(&ws->_src, 0);
    o.user_data_shift = URING_SOURCE_PAYLOAD_SHIFT;
    ret = wal_open(&o, &loop->ring, &ws->w, rec);
    if (ret != 0) {
        ws->w = NULL;
        uring_loop_unregister_source(loop, &ws->_src);
        return ret;
    }
    return 0;
}

int wal_source_close(struct wal_source *ws)
{
    int ret;

    if (ws->w == NULL)
        return 0;
    ret = wal_close(ws->w);
    if (ret != 0)
        return ret;
    ws->w = NULL;
    uring_loop_unregister_source(ws->_src._loop, &ws->_src);
    return 0;
}
