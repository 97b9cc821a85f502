/*
 * Records of many sizes, from 0 B to 1 MiB, across block and segment boundaries, come back intact:
 * read while open and again after close and reopen. Runs on the real disk and on tmpfs.
 */
#include "tests/wal/walt.h"

static const uint32_t sizes[] = {0,    1,    7,    8,    9,     23,    24,   25,     255,     256,     4071,
                                 4072, 4073, 4095, 4096, 4097,  8191,  8192, 12345,  65536,   65537,   131072,
                                 3,    500,  4000, 9000, 40000, 99999, 1000, 524288, 1048575, 1048576, 17};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define ROUNDS 3

static uint32_t len_of(uint64_t seq)
{
    return sizes[(seq - 1) % NSIZES];
}

static void run(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    uint64_t seq, n = NSIZES * ROUNDS;
    int ret;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.segment_bytes = 3 << 20;
    o.buffer_bytes = 2 << 20;
    ret = wal_open(&o, &ring, &w, &rec);
    ok_eq(ret, 0, "%s: open a new log", c->name);
    if (ret)
        BAIL_OUT("cannot go on without the log");
    ok_eq(rec.next_seq, 1, "%s: a new log starts at sequence 1", c->name);
    ok(wal_max_record(w) >= (1u << 20), "%s: 1 MiB records fit", c->name);
    {
        struct wal_stats st;
        wal_get_stats(w, &st);
        diag("%s: direct %d durable %d fixed %d block %u", c->name, st.direct, st.durable, st.fixed, st.block_bytes);
    }
    for (uint64_t i = 1; i <= n; i++) {
        ret = walt_append(w, len_of(i), i, &acks, &seq);
        if (ret || seq != i)
            break;
        if (i % 5 == 0) /* vary the batch boundaries */
            wal_poll(w, i % 10 == 0);
    }
    ok_eq(ret, 0, "%s: every append accepted", c->name);
    ok_eq(wal_drain(w), 0, "%s: drained", c->name);
    ok_eq(acks.count, n, "%s: every append acknowledged", c->name);
    ok(!acks.out_of_order, "%s: acknowledged in order", c->name);
    ok_eq(walt_verify(w, 1, n, len_of), 0, "%s: read back while open", c->name);
    ok_eq(wal_close(w), 0, "%s: close", c->name);
    ok(walt_file_count(dir) > 2, "%s: records spread over several segments", c->name);

    ret = wal_open(&o, &ring, &w, &rec);
    ok_eq(ret, 0, "%s: reopen", c->name);
    if (ret)
        BAIL_OUT("cannot go on without the log");
    ok_eq(rec.next_seq, n + 1, "%s: recovery finds every record", c->name);
    ok(!rec.tail_cut, "%s: nothing cut", c->name);
    ok_eq(walt_verify(w, 1, n, len_of), 0, "%s: read back after reopen", c->name);
    ok_eq(walt_verify(w, n - 5, n, len_of), 0, "%s: read from a sequence", c->name);
    /* Appending after reopen continues the sequence and rewrites the partial tail block. */
    ret = walt_append(w, 100, n + 1, &acks, &seq);
    ok(ret == 0 && seq == n + 1, "%s: append after reopen continues the sequence", c->name);
    ok_eq(wal_drain(w), 0, "%s: drained again", c->name);
    ok_eq(wal_close(w), 0, "%s: close again", c->name);
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.next_seq == n + 2, "%s: second reopen sees the extra record", c->name);
    if (ret == 0) {
        ok_eq(walt_verify(w, 1, n, len_of), 0, "%s: old records intact after the tail rewrite", c->name);
        wal_close(w);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
