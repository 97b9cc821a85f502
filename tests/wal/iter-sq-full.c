/*
 * An asynchronous iterator whose read finds the ring's SQ full, and still full after the submit
 * wal__ring_sqe tries (the kernel refuses io_uring_enter here: its fd is hidden from liburing
 * for a moment), returns -EBUSY: no read placed, so no ready callback and nothing in flight, and
 * the iterator unchanged. Called again once the SQ has room, it reads every record as if nothing
 * had happened. The broker's readers (src/stream.c, src/stream_dlq.c, src/group.c) rely on this
 * to call again at the loop's next iteration instead of failing (wal.h, wal_iter_open_async).
 */
#include "tests/wal/walt.h"

#define NREC     40
#define NOP_DATA 0x5eedULL

struct drive {
    unsigned ready;
};

static void on_ready(void *arg, struct wal_iter *it)
{
    struct drive *d = arg;

    (void)it;
    d->ready++;
}

/* Takes every free SQE for a NOP: the SQ is full. Returns how many. */
static unsigned fill_sq(struct io_uring *ring)
{
    struct io_uring_sqe *sqe;
    unsigned n = 0;

    while ((sqe = io_uring_get_sqe(ring)) != NULL) {
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, NOP_DATA);
        n++;
    }
    return n;
}

/* Submits the NOPs and reaps their CQEs (the WAL has nothing in flight: every CQE is one of them). */
static bool drain_nops(struct io_uring *ring, unsigned n)
{
    struct io_uring_cqe *cqe;

    if (io_uring_submit_and_wait(ring, n) < 0)
        return false;
    for (unsigned i = 0; i < n; i++) {
        if (io_uring_wait_cqe(ring, &cqe) != 0 || io_uring_cqe_get_data64(cqe) != NOP_DATA)
            return false;
        io_uring_cqe_seen(ring, cqe);
    }
    return true;
}

static void run(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct wal_iter *it;
    struct wal_record r;
    struct drive d = {0};
    uint64_t want = 1;
    unsigned nops, busy = 0;
    int fd, ret = 0;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    o = walt_options(dir, c);
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    ok_eq(walt_append_range(w, 1, NREC, walt_len_mixed, &acks), 0, "%s: %d records appended", c->name, NREC);
    ok(!wal_is_busy(w), "%s: nothing in flight", c->name);
    ok_eq(wal_iter_open_async(w, 1, on_ready, &d, &it), 0, "%s: async iterator opened", c->name);

    /* The SQ full, and the kernel refusing the submit that would make room. */
    nops = fill_sq(&ring);
    fd = ring.enter_ring_fd;
    ring.enter_ring_fd = -1;
    for (int i = 0; i < 3; i++)
        busy += wal_iter_next(it, &r) == -EBUSY;
    ring.enter_ring_fd = fd;
    ok(nops > 0 && busy == 3, "%s: -EBUSY each time while the SQ stays full (%u of 3, %u NOPs)", c->name, busy, nops);
    ok(!wal_is_busy(w) && d.ready == 0, "%s: no read placed: nothing in flight, no ready callback", c->name);

    ok(drain_nops(&ring, nops), "%s: the SQ submitted and its NOPs reaped", c->name);
    while (want <= NREC) {
        ret = wal_iter_next(it, &r);
        if (ret == -EAGAIN) {
            if (!wal_is_busy(w) || wal_poll(w, true) < 0)
                break;
            continue;
        }
        if (ret != 1 || r.seq != want || r.len != walt_len_mixed(want) || !walt_check(r.data, r.len, want))
            break;
        want++;
    }
    ok(want == NREC + 1, "%s: called again, the same iterator reads every record from the first (up to %llu, last %d)", c->name,
       (unsigned long long)want - 1, ret);
    ok(d.ready > 0, "%s: its reads went through the ring (%u ready callbacks)", c->name, d.ready);
    ok_eq(wal_iter_next(it, &r), 0, "%s: then the durable end", c->name);
    wal_iter_close(it);
    ok_eq(wal_close(w), 0, "%s: closed", c->name);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
