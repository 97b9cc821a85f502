/*
 * wal_truncate_before drops whole segments whose records all lie below the sequence, never the one
 * being written; iteration then starts at the oldest record kept, from any sequence; the first
 * sequence survives a reopen.
 */
#include "tests/wal/walt.h"

#define NREC 400

static uint32_t len_of(uint64_t seq)
{
    return (uint32_t)(seq * 31 % 900);
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
    uint64_t seq, first;
    int segs, n, ret;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.segment_bytes = 32 << 10;
    o.buffer_bytes = 16 << 10;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    for (uint64_t s = 1; s <= NREC; s++)
        walt_append(w, len_of(s), s, &acks, &seq);
    wal_drain(w);
    segs = walt_file_count(dir);
    ok(segs > 4, "%s: %d segments written", c->name, segs);
    ok_eq(wal_truncate_before(w, 1), 0, "%s: nothing below the first record to drop", c->name);
    n = wal_truncate_before(w, 200);
    ok(n > 0, "%s: segments below 200 dropped (%d)", c->name, n);
    ok_eq(walt_file_count(dir), segs - n, "%s: their files are gone", c->name);
    first = wal_first_seq(w);
    ok(first > 1 && first <= 200, "%s: first sequence %llu is at most 200", c->name, (unsigned long long)first);
    ok_eq(walt_verify(w, first, NREC, len_of), 0, "%s: everything from the first kept record reads back", c->name);
    ret = wal_iter_open(w, 1, &it);
    ok(ret == 0 && wal_iter_next(it, &r) == 1 && r.seq == first, "%s: iterating from below starts at the first kept", c->name);
    if (ret == 0)
        wal_iter_close(it);
    ret = wal_iter_open(w, NREC + 1, &it);
    ok(ret == 0 && wal_iter_next(it, &r) == 0, "%s: iterating from the end yields nothing", c->name);
    if (ret == 0)
        wal_iter_close(it);
    n = wal_truncate_before(w, UINT64_MAX);
    ok_eq(walt_file_count(dir), 1, "%s: the segment being written always stays", c->name);
    ok_eq(walt_verify(w, wal_first_seq(w), NREC, len_of), 0, "%s: and reads back", c->name);
    first = wal_first_seq(w);
    wal_close(w);
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.first_seq == first && rec.next_seq == NREC + 1, "%s: reopen keeps the first and next sequence", c->name);
    if (ret == 0) {
        ok_eq(wal_append(w, 1, "x", wal_max_record(w) + 1, NULL, NULL, &seq), -EMSGSIZE, "%s: oversized record refused", c->name);
        ok_eq(walt_verify(w, first, NREC, len_of), 0, "%s: reads back after reopen", c->name);
        wal_close(w);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
