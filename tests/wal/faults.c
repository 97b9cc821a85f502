/*
 * Faults on the submit/complete path, injected through the WAL's fault hook (which rewrites a CQE's
 * result, or fails a submission): EIO on a write, ENOSPC on an fdatasync, a failed submission, short
 * writes, an EAGAIN (kept as EIO, never as wal_append's "buffers busy"). The error reaches every append not yet durable and every
 * later append; nothing is acknowledged that was not durable; after reopening, every acknowledged record is intact. An aligned
 * short write is continued (and a misaligned one too, when writes are buffered).
 */
#include "tests/wal/walt.h"

#define BATCHES   6
#define PER_BATCH 3
#define LEN       3000

struct fault {
    enum wal_fault_point point;
    int nth; /* inject at this occurrence of point (1-based) */
    int res;
    int seen;
};

static int hook(void *arg, enum wal_fault_point point, int res)
{
    struct fault *f = arg;

    if (point != f->point || ++f->seen != f->nth)
        return res;
    return f->res;
}

static uint32_t len_of(uint64_t seq)
{
    (void)seq;
    return LEN;
}

/* want_err 0: the fault must be absorbed. */
static void scenario(const struct walt_conf *c, bool fdatasync, const char *what, struct fault f, int want_err)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    uint64_t seq, appended = 0;
    int ret = 0, later;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.log = walt_silent_log;
    o.buffer_bytes = 64 << 10;
    o.segment_bytes = 1 << 20;
    o.fdatasync = fdatasync;
    o.fault = hook;
    o.fault_arg = &f;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    for (int b = 0; b < BATCHES && ret == 0; b++) {
        for (int i = 0; i < PER_BATCH && ret == 0; i++) {
            ret = walt_append(w, LEN, appended + 1, &acks, &seq);
            appended += ret == 0;
        }
        if (ret == 0)
            ret = wal_drain(w);
    }
    if (want_err) {
        ok_eq(ret, want_err, "%s: %s: the error reaches the caller", c->name, what);
        ok_eq(acks.first_err, want_err, "%s: %s: pending appends complete with it", c->name, what);
        ok_eq(acks.count + acks.errors, appended, "%s: %s: every append completed once", c->name, what);
        later = wal_append(w, 1, "x", 1, walt_ack_cb, &acks, &seq);
        ok_eq(later, want_err, "%s: %s: later appends fail with it", c->name, what);
        ok(acks.last < appended, "%s: %s: the failed batch was not acknowledged", c->name, what);
    } else {
        ok_eq(ret, 0, "%s: %s: absorbed", c->name, what);
        ok_eq(acks.count, BATCHES * PER_BATCH, "%s: %s: everything acknowledged", c->name, what);
    }
    ok_eq(acks.count, acks.last, "%s: %s: acknowledgements in order, no gaps", c->name, what);
    ok(f.seen >= f.nth, "%s: %s: the fault was injected", c->name, what);
    ok_eq(wal_close(w), 0, "%s: %s: close", c->name, what);
    o.fault = NULL;
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.next_seq > acks.last, "%s: %s: reopen keeps every acknowledged record", c->name, what);
    if (ret == 0) {
        ok_eq(walt_verify(w, 1, acks.last, len_of), 0, "%s: %s: acknowledged records intact", c->name, what);
        wal_close(w);
    }
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    for (int i = 0; i < WALT_NCONF; i++) {
        struct walt_conf c = walt_conf(i);

        /* Both durability modes on each filesystem; fdatasync faults only where there is one. */
        for (int m = 0; m < 2; m++) {
            struct walt_conf cm = c;
            char name[64];

            snprintf(name, sizeof(name), "%s/%s", c.name, m ? "fdatasync" : "O_DSYNC");
            cm.name = name;
            scenario(&cm, m, "EIO on the 3rd write", (struct fault){WAL_FAULT_WRITE_CQE, 3, -EIO, 0}, -EIO);
            scenario(&cm, m, "ENOSPC on the 2nd write", (struct fault){WAL_FAULT_WRITE_CQE, 2, -ENOSPC, 0}, -ENOSPC);
            scenario(&cm, m, "failed 5th submission", (struct fault){WAL_FAULT_SUBMIT, 5, -EBUSY, 0}, -EBUSY);
            /* Sticky as -EIO: -EAGAIN from wal_append would say "buffers busy, call again". */
            scenario(&cm, m, "EAGAIN on the 2nd write", (struct fault){WAL_FAULT_WRITE_CQE, 2, -EAGAIN, 0}, -EIO);
            scenario(&cm, m, "zero-byte write", (struct fault){WAL_FAULT_WRITE_CQE, 2, 0, 0}, -EIO);
            scenario(&cm, m, "short aligned write", (struct fault){WAL_FAULT_WRITE_CQE, 2, 4096, 0}, 0);
            scenario(&cm, m, "short misaligned write", (struct fault){WAL_FAULT_WRITE_CQE, 2, 100, 0}, c.no_direct ? 0 : -EIO);
            if (!m)
                continue;
            scenario(&cm, m, "ENOSPC on the 4th fdatasync", (struct fault){WAL_FAULT_FSYNC_CQE, 4, -ENOSPC, 0}, -ENOSPC);
            scenario(&cm, m, "EIO on the 1st fdatasync", (struct fault){WAL_FAULT_FSYNC_CQE, 1, -EIO, 0}, -EIO);
        }
    }
    return done_testing();
}
