/*
 * Group commit, driven CQE by CQE: appends fill a batch without I/O; a flush seals it into one write;
 * the write's CQE brings an fdatasync (submitted only then), and only the fdatasync's CQE fires the
 * batch's callbacks, in order. Meanwhile the next batch fills and goes out, as one more write, when the
 * previous sync completes (small batches never overlap). With every buffer busy, appends get -EAGAIN;
 * a batch closes at its record limit. CQEs that are not the WAL's are left alone.
 */
#include "tests/wal/walt.h"
#include "wal/internal.h" /* WAL_OP_*: the op in a CQE's user_data tag */

/* Submits, waits for one CQE and hands it to the WAL; returns the op of the CQE's user_data tag. */
static int step(struct io_uring *ring, struct wal *w)
{
    struct io_uring_cqe *cqe;
    int kind;

    io_uring_submit(ring);
    if (io_uring_wait_cqe(ring, &cqe))
        BAIL_OUT("wait_cqe");
    kind = (int)((cqe->user_data & WAL_UD_MASK) >> 3);
    if (!wal_handle_cqe(w, cqe))
        kind = -1;
    io_uring_cqe_seen(ring, cqe);
    return kind;
}

static void run(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct io_uring_sqe *sqe;
    struct io_uring_cqe *cqe;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct wal_stats st;
    uint64_t seq;
    int ret, k1, k2, eagain = 0;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.fdatasync = true; /* the two-step durability point, observed step by step; O_DSYNC below */
    o.buffer_bytes = 16 << 10;
    o.batch_records = 50;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");

    for (int i = 0; i < 10; i++)
        walt_append(w, 100, i + 1, &acks, &seq);
    ok(!wal_is_busy(w), "%s: appends alone start no I/O", c->name);
    ok_eq(io_uring_sq_ready(&ring), 0, "%s: no SQE queued before the flush", c->name);
    wal_flush(w);
    ok(wal_is_busy(w), "%s: the flush seals the batch into a write", c->name);
    ok_eq(io_uring_sq_ready(&ring), 1, "%s: exactly one SQE: the write, no linked sync", c->name);
    for (int i = 10; i < 20; i++)
        walt_append(w, 100, i + 1, &acks, &seq);
    wal_flush(w);
    ok_eq(io_uring_sq_ready(&ring), 1, "%s: the next batch waits while one is in flight", c->name);
    k1 = step(&ring, w);
    ok_eq(k1, WAL_OP_BODY, "%s: first CQE is the write", c->name);
    ok_eq(acks.count, 0, "%s: nothing acknowledged after the write alone", c->name);
    k2 = step(&ring, w);
    ok_eq(k2, WAL_OP_FSYNC, "%s: then the fdatasync", c->name);
    ok_eq(acks.count, 10, "%s: the first batch is acknowledged after its sync", c->name);
    ok_eq(acks.last, 10, "%s: up to its last record", c->name);
    ok(wal_is_busy(w), "%s: the second batch went out when the sync completed", c->name);
    step(&ring, w);
    ok_eq(acks.count, 10, "%s: the second batch waits for its own sync", c->name);
    step(&ring, w);
    ok_eq(acks.count, 20, "%s: second batch acknowledged", c->name);
    ok(!acks.out_of_order, "%s: in order", c->name);
    wal_get_stats(w, &st);
    ok_eq(st.batches, 2, "%s: two batches", c->name);
    ok_eq(wal_durable_seq(w), 20, "%s: durable sequence follows", c->name);

    /* Every buffer busy: one batch in flight, the next full but too small to join it. */
    for (int i = 0; i < 200 && !eagain; i++) {
        ret = wal_append(w, 1, "0123456789", 10, walt_ack_cb, &acks, &seq);
        eagain = ret == -EAGAIN;
        if (i == 0)
            wal_flush(w);
    }
    ok(eagain, "%s: -EAGAIN when every buffer is busy", c->name);
    wal_drain(w);
    wal_get_stats(w, &st);
    ok(st.batches >= 4, "%s: batches closed at the 50-record limit", c->name);
    ok_eq(acks.count, wal_durable_seq(w), "%s: everything accepted was acknowledged", c->name);

    /* A CQE that is not the WAL's. */
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, 0x1000);
    io_uring_submit(&ring);
    io_uring_wait_cqe(&ring, &cqe);
    ok(!wal_handle_cqe(w, cqe), "%s: foreign CQEs are not claimed", c->name);
    io_uring_cqe_seen(&ring, cqe);
    ok_eq(wal_close(w), 0, "%s: close", c->name);

    /* O_DSYNC mode: one write per batch is the durability point. */
    o.fdatasync = false;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("reopen");
    acks = (struct walt_acks){.last = rec.next_seq - 1};
    for (int i = 0; i < 10; i++)
        walt_append(w, 100, rec.next_seq + i, &acks, &seq);
    wal_flush(w);
    ok_eq(io_uring_sq_ready(&ring), 1, "%s: O_DSYNC: one SQE per batch", c->name);
    ok_eq(step(&ring, w), WAL_OP_BODY, "%s: O_DSYNC: its CQE is the write's", c->name);
    ok_eq(acks.count, 10, "%s: O_DSYNC: the batch is acknowledged on the write's CQE", c->name);
    ok(!wal_is_busy(w), "%s: O_DSYNC: no fdatasync follows", c->name);
    ok_eq(wal_close(w), 0, "%s: O_DSYNC: close", c->name);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
