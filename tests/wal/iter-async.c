/*
 * Asynchronous iteration (wal_iter_open_async): reads go through the WAL's ring. Every record, short
 * and longer than one read, reads back intact across segments, from the first and from the middle;
 * wal_iter_next says -EAGAIN while a read is in flight (the WAL is then busy) and the ready callback
 * fires once per completed read; an iterator at the durable end goes on after more appends (a read
 * placed before they were durable is not trusted past that point); one closed with its read in flight
 * is freed at the CQE and the WAL closes after; the slot limit.
 */
#include "tests/wal/walt.h"

static uint32_t len_of(uint64_t seq)
{
    return seq % 17 == 0 ? 100000 + (uint32_t)seq : walt_len_mixed(seq); /* some above the 64 KiB read */
}

struct drive {
    unsigned ready;
    unsigned eagain;
};

static void on_ready(void *arg, struct wal_iter *it)
{
    struct drive *d = arg;

    (void)it;
    d->ready++;
}

/* Reads from..to through it, polling the WAL while a read is in flight; returns records read or -1. */
static long read_range(struct wal *w, struct wal_iter *it, uint64_t from, uint64_t to, struct drive *d)
{
    struct wal_record r;
    uint64_t want = from;
    int ret;

    while (want <= to) {
        ret = wal_iter_next(it, &r);
        if (ret == -EAGAIN) {
            d->eagain++;
            if (!wal_is_busy(w) || wal_poll(w, true) < 0)
                return -1;
            continue;
        }
        if (ret != 1 || r.seq != want || r.len != len_of(want) || !walt_check(r.data, r.len, want))
            return -1;
        want++;
    }
    return (long)(want - from);
}

static void run(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct wal_iter *it, *its[WAL_ITER_ASYNC_MAX + 1];
    struct wal_record r;
    struct drive d = {0}, d2 = {0};
    const uint64_t n = 200, more = 60;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.segment_bytes = 1 << 20;
    o.buffer_bytes = 256 << 10;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    ok_eq(walt_append_range(w, 1, n, len_of, &acks), 0, "%s: %llu records appended", c->name, (unsigned long long)n);

    ok_eq(wal_iter_open_async(w, 1, on_ready, &d, &it), 0, "%s: async iterator opened", c->name);
    ok_eq(read_range(w, it, 1, n, &d), (long)n, "%s: every record read back through the ring, across segments", c->name);
    ok(d.eagain > 0, "%s: next said -EAGAIN while reads were in flight (%u)", c->name, d.eagain);
    ok_eq(d.ready, d.eagain, "%s: one ready callback per read", c->name);
    ok_eq(wal_iter_next(it, &r), 0, "%s: then the durable end", c->name);
    ok_eq(walt_append_range(w, n + 1, n + more, len_of, &acks), 0, "%s: more appended", c->name);
    ok_eq(read_range(w, it, n + 1, n + more, &d), (long)more, "%s: the same iterator reads the new records", c->name);
    ok_eq(wal_iter_next(it, &r), 0, "%s: and stops at the new end", c->name);
    wal_iter_close(it);

    ok_eq(wal_iter_open_async(w, n / 2, NULL, NULL, &it), 0, "%s: opened in the middle", c->name);
    ok_eq(read_range(w, it, n / 2, n + more, &d2), (long)(n + more - n / 2 + 1), "%s: reads from there on", c->name);
    wal_iter_close(it);

    for (int i = 0; i < WAL_ITER_ASYNC_MAX; i++)
        if (wal_iter_open_async(w, 1, NULL, NULL, &its[i]))
            BAIL_OUT("open %d", i);
    ok_eq(wal_iter_open_async(w, 1, NULL, NULL, &its[WAL_ITER_ASYNC_MAX]), -EMFILE, "%s: at most WAL_ITER_ASYNC_MAX", c->name);
    for (int i = 1; i < WAL_ITER_ASYNC_MAX; i++)
        wal_iter_close(its[i]);

    ok_eq(wal_iter_next(its[0], &r), -EAGAIN, "%s: a read placed", c->name);
    ok(wal_is_busy(w), "%s: the WAL is busy while it is on the ring", c->name);
    wal_iter_close(its[0]);
    ok(wal_is_busy(w), "%s: closed with its read in flight: still busy", c->name);
    ok_eq(wal_close(w), -EBUSY, "%s: so the WAL does not close yet", c->name);
    ok_eq(wal_drain(w), 0, "%s: drained", c->name);
    ok(!wal_is_busy(w), "%s: the read's CQE freed the iterator", c->name);
    ok_eq(wal_close(w), 0, "%s: closed", c->name);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
