/*
 * Segments prepared ahead on the ring. Under load, roll-overs use the prepared segment (pointer work)
 * and every record reads back, before and after reopen; with no_prepare every roll-over waits for its
 * segment to be created on the ring (the fallback, counted in segments_sync). A roll-over that comes
 * before the preparation is done creates nothing on the caller's thread: appends keep filling the
 * waiting batch, the preparation completes on the ring and the batch goes out in the new segment; the
 * next roll-over uses a prepared segment. Faults injected on each of the requests (openat, fallocate,
 * fdatasync, renameat, directory fsync), ahead of the roll-over and while one waits, reach the caller,
 * nothing not durable is acknowledged, and a reopen finds every acknowledged record; EOPNOTSUPP from
 * fallocate is absorbed (ftruncate sizes the segment).
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

/* One scenario's log: its directory, ring and handle. */
struct env {
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
};

/* Opens a fresh log of SEG-byte segments, with the fault hook (may be NULL) installed; false when the
 * filesystem is unavailable (then the scenario is skipped). */
static bool env_open(struct env *e, const struct walt_conf *c, bool no_prepare, int (*hook)(void *, enum wal_fault_point, int),
                     void *hook_arg)
{
    if (walt_mkdir(e->dir, sizeof(e->dir), c->base))
        return false;
    walt_ring(&e->ring);
    e->o = walt_options(e->dir, c);
    e->o.segment_bytes = SEG;
    e->o.buffer_bytes = 16 << 10;
    e->o.no_prepare = no_prepare;
    if (hook) {
        e->o.log = walt_silent_log;
        e->o.fault = hook;
        e->o.fault_arg = hook_arg;
    }
    if (wal_open(&e->o, &e->ring, &e->w, &e->rec))
        BAIL_OUT("open");
    return true;
}

/* Closes, reopens without faults, checks that records [1, last] read back and that next_seq is
 * want_next (0: anything above last), then removes everything. */
static void env_reopen_check(struct env *e, const char *name, const char *what, uint64_t last, uint64_t want_next)
{
    int ret;

    ok_eq(wal_close(e->w), 0, "%s: %s: close", name, what);
    e->o.fault = NULL;
    ret = wal_open(&e->o, &e->ring, &e->w, &e->rec);
    ok(ret == 0 && (want_next ? e->rec.next_seq == want_next : e->rec.next_seq > last), "%s: %s: reopen finds every record", name,
       what);
    if (ret == 0) {
        ok_eq(walt_verify(e->w, 1, last, len_of), 0, "%s: %s: records read back after reopen", name, what);
        wal_close(e->w);
    }
    ok_eq(tmp_files(e->dir), 0, "%s: %s: no temporary file left", name, what);
    io_uring_queue_exit(&e->ring);
    walt_rmrf(e->dir);
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
    struct env e;
    struct walt_acks acks = {0};
    struct wal_stats st;
    uint64_t n = 600, appended = 0;

    if (!env_open(&e, c, no_prepare, NULL, NULL))
        return;
    ok_eq(append_n(e.w, 1, n, &acks, &appended), 0, "%s: %s: appends across roll-overs", c->name, what);
    ok(acks.count == n && !acks.out_of_order, "%s: %s: all acknowledged, in order", c->name, what);
    wal_get_stats(e.w, &st);
    diag("%s: %s: %llu roll-overs prepared, %llu waited", c->name, what, (unsigned long long)st.segments_prepared,
         (unsigned long long)st.segments_sync);
    if (no_prepare)
        ok(st.segments_prepared == 0 && st.segments_sync > 10, "%s: %s: every roll-over waited for its segment", c->name, what);
    else
        ok(st.segments_prepared > 0, "%s: %s: roll-overs onto prepared segments", c->name, what);
    ok_eq(st.segments_prepared + st.segments_sync + 1, (uint64_t)walt_file_count(e.dir), "%s: %s: one file per segment", c->name,
          what);
    ok_eq(walt_verify(e.w, 1, n, len_of), 0, "%s: %s: read back", c->name, what);
    env_reopen_check(&e, c->name, what, n, n + 1);
}

/* Fills the segment without a flush: the preparation's first request is queued but not submitted
 * when the roll-over comes. */
static void not_ready(const struct walt_conf *c)
{
    struct env e;
    struct walt_acks acks = {0};
    struct wal_stats st;
    static uint8_t buf[1100];
    uint64_t seq, s = 1;
    int ret;

    if (!env_open(&e, c, false, NULL, NULL))
        return;
    wal_close(e.w);
    e.o.buffer_bytes = SEG; /* so the appends after the roll-over have room to accumulate */
    if (wal_open(&e.o, &e.ring, &e.w, &e.rec))
        BAIL_OUT("open");
    for (st.segments_sync = 0; st.segments_sync == 0 && s < 200; s++) {
        wal_append(e.w, 1, buf, 16 + (uint32_t)(s % 2) * 1000, walt_ack_cb, &acks, &seq);
        wal_get_stats(e.w, &st);
    }
    ok(st.segments_sync == 1 && st.segments_prepared == 0, "%s: roll-over before the preparation is done: the fallback", c->name);
    ok(walt_file_count(e.dir) == 1 && tmp_files(e.dir) == 0, "%s: nothing created on the caller's thread", c->name);
    ok(io_uring_sq_ready(&e.ring) > 0, "%s: the preparation is queued on the ring", c->name);
    for (int i = 0; i < 10; i++, s++)
        ok_eq(wal_append(e.w, 1, buf, 16, walt_ack_cb, &acks, &seq), 0, "%s: append %d accumulates in the waiting batch", c->name,
              i);
    ok_eq(wal_drain(e.w), 0, "%s: drained (preparation finished on the ring)", c->name);
    ok_eq(acks.count, s - 1, "%s: everything acknowledged", c->name);
    ok(tmp_files(e.dir) == 0 && walt_file_count(e.dir) == 2, "%s: the new segment named after its first batch", c->name);
    /* Drained after each append: the preparation started past half is done before the roll-over. */
    for (; st.segments_prepared == 0 && s < 400; s++) {
        wal_append(e.w, 1, buf, 16 + (uint32_t)(s % 2) * 1000, walt_ack_cb, &acks, &seq);
        wal_drain(e.w);
        wal_get_stats(e.w, &st);
    }
    ok(st.segments_prepared == 1 && st.segments_sync == 1, "%s: the next roll-over uses a prepared segment", c->name);
    ok_eq(wal_drain(e.w), 0, "%s: drained again", c->name);
    ok_eq(acks.count, s - 1, "%s: everything acknowledged", c->name);
    ok(tmp_files(e.dir) == 0 && walt_file_count(e.dir) == 3, "%s: three named segments", c->name);
    wal_close(e.w);
    ret = wal_open(&e.o, &e.ring, &e.w, &e.rec);
    ok(ret == 0 && e.rec.next_seq == s && e.rec.segments == 3, "%s: reopen finds every record", c->name);
    if (ret == 0)
        wal_close(e.w);
    io_uring_queue_exit(&e.ring);
    walt_rmrf(e.dir);
}

struct fault {
    int nth; /* occurrence of WAL_FAULT_SEGMENT_CQE to fail (1-based) */
    int res;
    bool no_prepare;
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
    struct env e;
    struct walt_acks acks = {0};
    struct wal_stats st;
    uint64_t seq, appended = 0;
    int ret, want = f.res == -EOPNOTSUPP ? 0 : f.res;

    if (!env_open(&e, c, f.no_prepare, hook, &f))
        return;
    ret = append_n(e.w, 1, 300, &acks, &appended);
    ok(f.seen >= f.nth, "%s: %s: injected", c->name, what);
    ok_eq(ret, want, "%s: %s: the error reaches the caller", c->name, what);
    ok_eq(acks.count + acks.errors, appended, "%s: %s: every append completed once", c->name, what);
    ok(!acks.out_of_order && acks.count == acks.last, "%s: %s: acknowledged in order, no gaps", c->name, what);
    if (want) {
        ok_eq(wal_append(e.w, 1, "x", 1, walt_ack_cb, &acks, &seq), want, "%s: %s: later appends fail", c->name, what);
    } else {
        wal_get_stats(e.w, &st);
        ok(acks.count == 300 && st.segments_prepared + st.segments_sync > 3, "%s: %s: absorbed, roll-overs go on", c->name, what);
    }
    env_reopen_check(&e, c->name, what, acks.last, 0);
}

static void run(const struct walt_conf *c)
{
    static const char *steps[] = {"openat", "fallocate", "fdatasync", "renameat", "directory fsync"};
    char what[96];

    under_load(c, false);
    under_load(c, true);
    not_ready(c);
    for (int np = 0; np < 2; np++) {
        const char *when = np ? "while a roll-over waits" : "ahead";

        for (int i = 0; i < 5; i++) {
            snprintf(what, sizeof(what), "EIO on %s (%s)", steps[i], when);
            faulty(c, what, (struct fault){i + 1, -EIO, np, 0});
        }
        snprintf(what, sizeof(what), "ENOSPC on the 7th segment request (%s)", when);
        faulty(c, what, (struct fault){7, -ENOSPC, np, 0});
        snprintf(what, sizeof(what), "EOPNOTSUPP on fallocate (%s)", when);
        faulty(c, what, (struct fault){2, -EOPNOTSUPP, np, 0});
    }
}

int main(void)
{
    return walt_for_all_configs(run);
}
