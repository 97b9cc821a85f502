/*
 * A crash can leave any prefix of the last batch on disk. Truncating the segment at every byte offset
 * of the last batch, recovery keeps exactly the records that are wholly present, cuts the rest, and
 * the log takes appends again (checked at a sample of the offsets).
 */
#include "tests/wal/walt.h"

#define BATCHES   6
#define PER_BATCH 3
#define NREC      (BATCHES * PER_BATCH)
#define BLOCK     4096

static uint32_t len_of(uint64_t seq)
{
    return (uint32_t)(seq * 53 % 211);
}

static uint64_t rec_bytes(uint32_t len)
{
    return (24 + (uint64_t)len + 7) & ~7ull;
}

static int write_prefix(const char *path, const uint8_t *img, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ssize_t n;

    if (fd == -1)
        return -1;
    n = write(fd, img, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static void run(const struct walt_conf *c)
{
    char dir[256], path[320];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    uint64_t seq, off[NREC + 2], start, end;
    uint8_t *img;
    int bad = 0, bad_append = 0, tested = 0;
    FILE *f;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.segment_bytes = 64 << 10;
    o.buffer_bytes = 16 << 10;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < PER_BATCH; i++)
            walt_append(w, len_of(b * PER_BATCH + i + 1), b * PER_BATCH + i + 1, &acks, &seq);
        wal_drain(w);
    }
    ok_eq(acks.count, NREC, "%s: %d records in %d batches acknowledged", c->name, NREC, BATCHES);
    wal_close(w);

    /* Layout: one segment, records back to back from the first block. */
    off[1] = BLOCK;
    for (uint64_t s = 1; s <= NREC; s++)
        off[s + 1] = off[s] + rec_bytes(len_of(s));
    start = off[NREC - PER_BATCH + 1];
    end = off[NREC + 1];
    snprintf(path, sizeof(path), "%s/0000000000000001.wal", dir);
    img = malloc(64 << 10);
    f = fopen(path, "rb");
    if (!img || !f || fread(img, 1, 64 << 10, f) != 64 << 10)
        BAIL_OUT("read segment");
    fclose(f);

    for (uint64_t cut = start; cut <= end; cut++) {
        uint64_t want = NREC - PER_BATCH + 1;

        while (want <= NREC && off[want] + 24 + len_of(want) <= cut)
            want++;
        if (write_prefix(path, img, cut) || wal_open(&o, &ring, &w, &rec)) {
            bad++;
            continue;
        }
        tested++;
        if (rec.next_seq != want || walt_verify(w, 1, want - 1, len_of) != 0) {
            if (bad++ < 5)
                diag("cut at %llu: next %llu want %llu", (unsigned long long)cut, (unsigned long long)rec.next_seq,
                     (unsigned long long)want);
        }
        if (cut % 97 == 0 || cut == end) {
            struct walt_acks a2 = {0};
            if (walt_append(w, 77, want, &a2, &seq) || seq != want || wal_drain(w) || a2.count != 1)
                bad_append++;
            wal_close(w);
            if (wal_open(&o, &ring, &w, &rec) || rec.next_seq != want + 1 || rec.tail_cut || walt_verify(w, want, want, NULL) ||
                walt_verify(w, 1, want - 1, len_of))
                bad_append++;
        }
        wal_close(w);
    }
    ok_eq(tested, end - start + 1, "%s: opened at every one of %llu offsets", c->name, (unsigned long long)(end - start + 1));
    ok_eq(bad, 0, "%s: exactly the whole records survive each cut", c->name);
    ok_eq(bad_append, 0, "%s: appends after the cut continue the log", c->name);
    free(img);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
