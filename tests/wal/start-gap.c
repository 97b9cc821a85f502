/*
 * Recovery and truncation's removal order. Truncation unlinks segments oldest first, so a crash in the
 * middle of one (here: a child kill -9s itself when the second unlink's CQE arrives, before the
 * directory fsync) leaves a log that starts late: the reopen accepts it, starts at the oldest segment
 * left and reads every record from there. A log whose oldest segments are missing (removed by hand)
 * opens the same way. A segment missing in the middle is not a truncation's doing: open refuses it with
 * -EBADMSG, naming the segment before the gap.
 */
#include <signal.h>
#include <sys/wait.h>

#include "tests/wal/walt.h"

#define NREC 400

static int die_at_second_unlink(void *arg, enum wal_fault_point point, int res)
{
    int *n = arg;

    if (point == WAL_FAULT_TRUNC_UNLINK_CQE && ++*n == 2)
        raise(SIGKILL);
    return res;
}

/* The child: truncates below seq and dies in the middle. */
static void child(struct wal_options o, uint64_t seq)
{
    struct io_uring ring;
    struct wal *w;
    int unlinks = 0;

    o.fault = die_at_second_unlink;
    o.fault_arg = &unlinks;
    if (io_uring_queue_init(64, &ring, 0) || wal_open(&o, &ring, &w, NULL))
        _exit(2);
    if (wal_truncate_before(w, seq, NULL, NULL) != 4)
        _exit(3);
    wal_drain(w);
    _exit(4); /* not reached: killed at the second unlink */
}

static void run(const struct walt_conf *c)
{
    char dir[256], path[300];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    uint64_t b2, b3, b5;
    int segs, status, ret;
    pid_t pid;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    o = walt_small_options(dir, c);
    o.log = walt_silent_log;
    walt_open_filled(&o, &ring, &w, NREC, walt_len_mixed);
    wal_close(w);
    segs = walt_file_count(dir);
    b2 = walt_segment_base(dir, 2);
    b3 = walt_segment_base(dir, 3);
    b5 = walt_segment_base(dir, 5);
    pid = fork();
    if (pid == 0)
        child(o, walt_segment_base(dir, 4));
    waitpid(pid, &status, 0);
    ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "%s: the child died in the middle of its truncation", c->name);
    ok(walt_file_count(dir) == segs - 2 && walt_segment_base(dir, 0) == b2, "%s: the two oldest segments are gone", c->name);
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.first_seq == b2 && rec.next_seq == NREC + 1, "%s: reopen accepts the late start", c->name);
    if (ret == 0) {
        ok_eq(walt_verify(w, b2, NREC, walt_len_mixed), 0, "%s: every record from there reads back", c->name);
        wal_close(w);
    }
    snprintf(path, sizeof(path), "%s/%016llx.wal", dir, (unsigned long long)b2);
    ok_eq(unlink(path), 0, "%s: the oldest segment removed by hand", c->name);
    ret = wal_open(&o, &ring, &w, &rec);
    ok(ret == 0 && rec.first_seq == b3 && rec.next_seq == NREC + 1, "%s: reopen starts at the next one", c->name);
    if (ret == 0) {
        ok_eq(walt_verify(w, b3, NREC, walt_len_mixed), 0, "%s: and reads back", c->name);
        wal_close(w);
    }
    snprintf(path, sizeof(path), "%s/%016llx.wal", dir, (unsigned long long)b5);
    ok_eq(unlink(path), 0, "%s: a segment in the middle removed by hand", c->name);
    ret = wal_open(&o, &ring, &w, &rec);
    ok_eq(ret, -EBADMSG, "%s: open refuses a gap in the middle", c->name);
    ok(rec.bad_segment != 0 && rec.bad_segment < b5 && rec.message[0] != '\0', "%s: naming the segment before it: %s", c->name,
       rec.message);
    if (ret == 0)
        wal_close(w);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
