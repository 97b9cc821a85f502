/*
 * Segments prepared ahead on the ring. Under load, roll-overs use the prepared segment (pointer work)
 * and every record reads back, before and after reopen; with no_prepare every roll-over creates the
 * segment synchronously. A roll-over that comes before the preparation is done falls back to the
 * synchronous path (counted), and the preparation serves the next one. Faults injected on each of the
 * new requests (openat, fallocate, fdatasync, renameat, directory fsync) reach the caller, nothing not
 * durable is acknowledged, and a reopen finds every acknowledged record; EOPNOTSUPP from fallocate
 * only turns the preparation off.
 */
#include "tests/wal/walt.h"

#define SEG (64 << 10)

static uint32_t len_of(uint64_t seq)
{
    return (uint32_t)(1 + seq * 2731 % 3000);
}

static int tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

static struct wal_options options(const char *dir, const struct walt_conf *c)
{
    struct wal_options o = walt_options(dir, c);

    o.segment_bytes = SEG;
    o.buffer_bytes = 16 << 10;
    return o;
}

/* Appends n records, polling now and then; returns the first error. */
static int append_n(struct wal *w, uint64_t first, uint64_t n, struct walt_acks *acks, uint64_t *appended)
{
    uint64_t seq;
    int ret = 0;

    for (uint64_t s = first; s < first + n && ret == 0; s++) {
        ret = walt_append(w, len_of(s), s, acks, &seq);
        *appended += ret == 0;
        if (ret == 0 && s % 4 == 0 && wal_poll(w, false) < 0)
            break; /* the log failed: the next append, or the drain, returns its error */
    }
    /* After a failure too: the requests still on the ring must come back before wal_close. */
    seq = (uint64_t)wal_drain(w);
    if (ret == 0)
        ret = (int)seq;
    return ret < 0 ? ret : 0;
}

static void under_load(const struct walt_conf *c, bool no_prepare)
{
    const char *what = no_prepare ? "no_prepare" : "prepared";
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct wal_stats st;
    uint64_t n = 600, appended = 0;
    int ret;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    walt_ring(&ring);
    o = options(dir, c);
    o.no_prepare = no_prepare;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    ret = append_n(w, 1, n, &acks, &appended);
    ok_eq(ret, 0, "%s: %s: appends across roll-overs", c->name, what);
    ok(acks.count == n && !acks.out_of_order, "%s: %s: all acknowledged, in order", c->name, what);
    wal_get_stats(w, &st);
    diag("%s: %s: %llu roll-overs prepared, %llu synchronous", c->name, what, (unsigned long long)st.segments_prepared,
         (unsigned long long)st.segments_sync);
    if (no_prepare)
        ok(st.segments_prepared == 0 && st.segments_sync > 10, "%s: %s: every roll-over synchronous", c->name, what);
    else
        ok(st.segments_prepared > 0, "%s: %s: roll-overs onto prepared segments", c->name, what);
    ok_eq(st.segments_prepared + st.segments_sync + 1, (uint64_t)walt_file_count(dir), "%s: %s: one file per segment", c->name,
          what);
    ok_eq(walt_verify(w, 1, n, len_of), 0, "%s: %s: read back", c->name, what);
    ok_eq(wal_close(w), 0, "%s: %s: close", c->name, what);
    ok_eq(tmp_files(dir), 0, "%s: %s: no temporary file left", c->name, what);
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.next_seq == n + 1 && !rec.tail_cut, "%s: %s: reopen finds every record", c->name, what);
    if (ret == 0) {
        ok_eq(walt_verify(w, 1, n, len_of), 0, "%s: %s: read back after reopen", c->name, what);
        wal_close(w);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

/* Fills the segment without a flush: the preparation's first request is queued but not submitted. */
static void not_ready(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct wal_stats st;
    static uint8_t buf[1100];
    uint64_t seq, s = 1;
    int ret;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    walt_ring(&ring);
    o = options(dir, c);
    o.buffer_bytes = SEG;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    for (st.segments_sync = 0; st.segments_sync == 0 && s < 200; s++) {
        wal_append(w, 1, buf, 16 + (uint32_t)(s % 2) * 1000, walt_ack_cb, &acks, &seq);
        wal_get_stats(w, &st);
    }
    ok(st.segments_sync == 1 && st.segments_prepared == 0, "%s: roll-over before the preparation is done: synchronous", c->name);
    ok(wal_is_busy(w) || io_uring_sq_ready(&ring) > 0, "%s: the preparation is still queued", c->name);
    ok_eq(wal_drain(w), 0, "%s: drained (preparation finished)", c->name);
    ok_eq(tmp_files(dir), 1, "%s: the prepared file waits, unnamed", c->name);
    for (; st.segments_prepared == 0 && s < 400; s++) {
        ret = wal_append(w, 1, buf, 16 + (uint32_t)(s % 2) * 1000, walt_ack_cb, &acks, &seq);
        if (ret == -EAGAIN) {
            wal_poll(w, true);
            s--;
        }
        wal_get_stats(w, &st);
    }
    ok(st.segments_prepared == 1 && st.segments_sync == 1, "%s: the next roll-over uses it", c->name);
    ok_eq(walt_file_count(dir), 2, "%s: the roll-over created and renamed nothing itself (named later, on the ring)", c->name);
    ok_eq(wal_drain(w), 0, "%s: drained again", c->name);
    ok_eq(acks.count, s - 1, "%s: everything acknowledged", c->name);
    ok(tmp_files(dir) == 0 && walt_file_count(dir) == 3, "%s: three named segments", c->name);
    wal_close(w);
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.next_seq == s && rec.segments == 3, "%s: reopen finds every record", c->name);
    if (ret == 0)
        wal_close(w);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

struct fault {
    int nth; /* occurrence of WAL_FAULT_SEGMENT_CQE to fail (1-based) */
    int res;
    int seen;
};

static int hook(void *arg, enum wal_fault_point point, int res)
{
    struct fault *f = arg;

    if (point != WAL_FAULT_SEGMENT_CQE || ++f->seen != f->nth)
        return res;
    return f->res;
}

static void faulty(const struct walt_conf *c, const char *what, struct fault f)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct wal_stats st;
    uint64_t seq, appended = 0;
    int ret, want = f.res == -EOPNOTSUPP ? 0 : f.res;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    walt_ring(&ring);
    o = options(dir, c);
    o.log = walt_silent_log;
    o.fault = hook;
    o.fault_arg = &f;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    ret = append_n(w, 1, 300, &acks, &appended);
    ok(f.seen >= f.nth, "%s: %s: injected", c->name, what);
    ok_eq(ret, want, "%s: %s: the error reaches the caller", c->name, what);
    ok_eq(acks.count + acks.errors, appended, "%s: %s: every append completed once", c->name, what);
    ok(!acks.out_of_order && acks.count == acks.last, "%s: %s: acknowledged in order, no gaps", c->name, what);
    if (want) {
        ok_eq(wal_append(w, 1, "x", 1, walt_ack_cb, &acks, &seq), want, "%s: %s: later appends fail", c->name, what);
    } else {
        wal_get_stats(w, &st);
        ok(st.segments_prepared == 0 && st.segments_sync > 0, "%s: %s: roll-overs go synchronous", c->name, what);
    }
    ok_eq(wal_close(w), 0, "%s: %s: close", c->name, what);
    o.fault = NULL;
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.next_seq > acks.last, "%s: %s: reopen keeps every acknowledged record", c->name, what);
    if (ret == 0) {
        ok_eq(walt_verify(w, 1, acks.last, len_of), 0, "%s: %s: acknowledged records intact", c->name, what);
        wal_close(w);
    }
    ok_eq(tmp_files(dir), 0, "%s: %s: temporary files gone after reopen", c->name, what);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

static void run(const struct walt_conf *c)
{
    static const char *steps[] = {"openat", "fallocate", "fdatasync", "renameat", "directory fsync"};
    char what[64];

    under_load(c, false);
    under_load(c, true);
    not_ready(c);
    for (int i = 0; i < 5; i++) {
        snprintf(what, sizeof(what), "EIO on %s", steps[i]);
        faulty(c, what, (struct fault){i + 1, -EIO, 0});
    }
    faulty(c, "ENOSPC on the 7th segment request", (struct fault){7, -ENOSPC, 0});
    faulty(c, "EOPNOTSUPP on fallocate", (struct fault){2, -EOPNOTSUPP, 0});
}

int main(void)
{
    return walt_for_all_configs(run);
}
