/*
 * One writer per log: a second wal_open of the same directory gets -EBUSY while the first is open, and
 * succeeds once it is closed.
 */
#include "tests/wal/walt.h"

static void run(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring, ring2;
    struct wal *w, *w2;
    struct wal_options o;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    walt_ring(&ring2);
    o = walt_options(dir, c);
    o.segment_bytes = 64 << 10;
    if (wal_open(&o, &ring, &w, NULL))
        BAIL_OUT("open");
    ok_eq(wal_open(&o, &ring2, &w2, NULL), -EBUSY, "%s: a second open of the same log is refused", c->name);
    ok_eq(wal_close(w), 0, "%s: close the first", c->name);
    ok_eq(wal_open(&o, &ring2, &w2, NULL), 0, "%s: then the second open succeeds", c->name);
    wal_close(w2);
    io_uring_queue_exit(&ring);
    io_uring_queue_exit(&ring2);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
