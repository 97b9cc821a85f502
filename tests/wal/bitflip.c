/*
 * One flipped bit anywhere in the log: in a segment header or in a record of an earlier batch, open
 * fails with -EBADMSG naming that segment and offset (and the repair option truncates there); in the
 * last batch it is indistinguishable from a torn write and that batch is cut from the flipped record
 * on; in padding or beyond the end it changes nothing. Records before the damage always read back.
 */
#include "tests/wal/walt.h"

#define NREC      24
#define PER_BATCH 4
#define BLOCK     4096
#define SEG_BYTES (8 << 10)
#define MAX_SEGS  8

struct layout {
    int seg[NREC + 1];
    uint64_t off[NREC + 1];
    uint64_t batch_first[NREC + 1];
    uint64_t base[MAX_SEGS];
    uint64_t used[MAX_SEGS]; /* end of the last record in each segment */
    int nsegs;
};

static uint32_t len_of(uint64_t seq)
{
    return (uint32_t)(seq * 37 % 500);
}

/* Where the writer puts each record: batches close at each drain (every PER_BATCH records) and when
 * a record does not fit in the segment. */
static void plan_layout(struct layout *l)
{
    uint64_t off = BLOCK, first = 1;

    l->nsegs = 1;
    l->base[0] = 1;
    for (uint64_t s = 1; s <= NREC; s++) {
        uint64_t need = (24 + len_of(s) + 7) & ~7ull;

        if ((s - 1) % PER_BATCH == 0)
            first = s;
        if (off + need > SEG_BYTES) {
            l->base[l->nsegs++] = s;
            off = BLOCK;
            first = s;
        }
        l->seg[s] = l->nsegs - 1;
        l->off[s] = off;
        l->batch_first[s] = first;
        off += need;
        l->used[l->nsegs - 1] = off;
    }
}

static void seg_path(char *out, size_t n, const char *dir, uint64_t base)
{
    snprintf(out, n, "%s/%016llx.wal", dir, (unsigned long long)base);
}

/* Puts the pristine segments back, overwriting in place (cheaper than recreating them). */
static void restore(const char *dir, const struct layout *l, uint8_t **img)
{
    char path[320];

    for (int i = 0; i < l->nsegs; i++) {
        int fd;
        seg_path(path, sizeof(path), dir, l->base[i]);
        fd = open(path, O_WRONLY | O_CREAT, 0644);
        if (fd == -1 || pwrite(fd, img[i], SEG_BYTES, 0) != SEG_BYTES)
            BAIL_OUT("restore %s", path);
        close(fd);
    }
}

/* What recovery must conclude when byte p of segment s has a flipped bit. */
struct expect {
    int err;
    uint64_t next_seq;
    uint64_t bad_offset;
};

static struct expect expected(const struct layout *l, int s, uint64_t p)
{
    struct expect e = {0, NREC + 1, 0};

    if (p < 64) {
        e.err = -EBADMSG;
        e.next_seq = l->base[s]; /* where the log ends after a repair */
        return e;
    }
    for (uint64_t k = 1; k <= NREC; k++) {
        if (l->seg[k] != s || p < l->off[k] || p >= l->off[k] + 24 + len_of(k))
            continue;
        e.next_seq = k;
        e.bad_offset = l->off[k];
        if (l->batch_first[k] != l->batch_first[NREC])
            e.err = -EBADMSG;
        return e;
    }
    return e;
}

static void run(const struct walt_conf *c)
{
    char dir[256], path[320];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct layout l;
    uint8_t *img[MAX_SEGS];
    uint64_t seq;
    int wrong = 0, wrong_repair = 0, flips = 0, refused = 0, cut = 0, repairs = 0;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.log = NULL;
    o.segment_bytes = SEG_BYTES;
    o.buffer_bytes = 16 << 10;
    o.log = walt_silent_log;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    for (uint64_t s = 1; s <= NREC; s++) {
        walt_append(w, len_of(s), s, &acks, &seq);
        if (s % PER_BATCH == 0)
            wal_drain(w);
    }
    wal_drain(w);
    wal_close(w);
    plan_layout(&l);
    ok_eq(walt_file_count(dir), l.nsegs, "%s: the log spans %d segments", c->name, l.nsegs);
    for (int i = 0; i < l.nsegs; i++) {
        FILE *f;
        seg_path(path, sizeof(path), dir, l.base[i]);
        img[i] = malloc(SEG_BYTES);
        f = fopen(path, "rb");
        if (!img[i] || !f || fread(img[i], 1, SEG_BYTES, f) != SEG_BYTES)
            BAIL_OUT("read %s", path);
        fclose(f);
    }

    for (int s = 0; s < l.nsegs; s++) {
        for (uint64_t p = 0; p < l.used[s] + 16; p += p < 64 ? 1 : p < BLOCK ? 509 : 7) {
            struct expect e = expected(&l, s, p);
            int ret;

            img[s][p] ^= (uint8_t)(1u << (p % 8));
            restore(dir, &l, img);
            img[s][p] ^= (uint8_t)(1u << (p % 8));
            flips++;
            o.repair = false;
            ret = wal_open(&o, &ring, &w, &rec);
            if (ret == 0) {
                cut += rec.tail_cut;
                if (e.err || rec.next_seq != e.next_seq || walt_verify(w, 1, e.next_seq - 1, len_of))
                    wrong++;
                wal_close(w);
                continue;
            }
            refused++;
            if (ret != e.err || rec.bad_segment != l.base[s] || rec.bad_offset != e.bad_offset) {
                if (wrong++ < 5)
                    diag("%s: flip at seg %d byte %llu: ret %d bad %llx@%llu", c->name, s, (unsigned long long)p, ret,
                         (unsigned long long)rec.bad_segment, (unsigned long long)rec.bad_offset);
                continue;
            }
            if (refused % 8 != 1)
                continue;
            repairs++;
            o.repair = true;
            ret = wal_open(&o, &ring, &w, &rec);
            if (ret || !rec.repaired || rec.next_seq != e.next_seq || walt_verify(w, 1, e.next_seq - 1, len_of))
                wrong_repair++;
            if (ret == 0)
                wal_close(w);
        }
    }
    diag("%s: %d flips: %d refused, %d tails cut, %d repairs", c->name, flips, refused, cut, repairs);
    ok(refused > 0 && cut > 0, "%s: both outcomes occurred", c->name);
    ok_eq(wrong, 0, "%s: every flip handled as the format says", c->name);
    ok_eq(wrong_repair, 0, "%s: repair truncates at the damage and keeps what precedes it", c->name);
    for (int i = 0; i < l.nsegs; i++)
        free(img[i]);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
