/*
 * A log on tmpfs works but says, once, that it is not durable; on the real disk it says nothing of the
 * kind, and the stats report the mode in use.
 */
#include "tests/wal/walt.h"

struct capture {
    int not_durable;
    int warnings;
};

static void capture_log(void *arg, enum wal_log_level level, const char *msg)
{
    struct capture *cap = arg;

    if (level == WAL_LOG_WARN)
        cap->warnings++;
    if (strstr(msg, "NOT durable"))
        cap->not_durable++;
}

static void run(const struct walt_conf *c, int tmpfs, bool fdatasync)
{
    const char *mode = fdatasync ? "fdatasync" : "O_DSYNC";
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_stats st;
    struct capture cap = {0};
    struct walt_acks acks = {0};
    uint64_t seq;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.log = capture_log;
    o.log_arg = &cap;
    o.segment_bytes = 64 << 10;
    o.fdatasync = fdatasync;
    if (wal_open(&o, &ring, &w, NULL))
        BAIL_OUT("open");
    for (int i = 0; i < 50; i++)
        walt_append(w, 300, i + 1, &acks, &seq);
    wal_drain(w);
    wal_get_stats(w, &st);
    ok_eq(cap.not_durable, tmpfs ? 1 : 0, "%s: 'not durable' logged %s", c->name, tmpfs ? "once" : "never");
    ok_eq(st.durable, !tmpfs, "%s: stats say durable=%d", c->name, !tmpfs);
    ok_eq(acks.count, 50, "%s: appends still acknowledged", c->name);
    ok(st.batches > 0 && st.batches <= 50, "%s: %llu batches counted", c->name, (unsigned long long)st.batches);
    {
        uint64_t sum = 0, writes = 0;
        for (int i = 0; i < WAL_HIST_BUCKETS; i++) {
            sum += st.fsync_us_hist[i];
            writes += st.write_us_hist[i];
        }
        ok_eq(sum, st.batches, "%s, %s: one durability latency sample per batch", c->name, mode);
        ok_eq(writes, st.batches, "%s, %s: one write latency sample per batch", c->name, mode);
        /* O_DSYNC: a batch is durable as its write completes, so both time the same span (the
         * sync histogram read last); with fdatasync the sync histogram times the sync alone. */
        if (!fdatasync)
            ok(st.write_us_sum <= st.fsync_us_sum, "%s, %s: writes took %llu us of the %llu until durable", c->name, mode,
               (unsigned long long)st.write_us_sum, (unsigned long long)st.fsync_us_sum);
    }
    ok(st.bytes_written >= st.bytes_appended, "%s: bytes written cover bytes appended", c->name);
    ok_eq(st.bytes_appended, 50 * 300, "%s: payload bytes counted", c->name);
    wal_close(w);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    struct walt_conf disk = walt_conf(0), tmpfs = walt_conf(2);

    run(&disk, 0, false);
    run(&disk, 0, true);
    run(&tmpfs, 1, false);
    return done_testing();
}
