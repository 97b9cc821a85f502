/*
 * Concurrent truncations: several wal_truncate_before calls before any completes each take only the
 * segments no earlier call took (a call with nothing new returns 0), run one after another in call
 * order, and call back in that order, each with its own count; the counts add up to the files removed.
 * At most WAL_TRUNC_QUEUE are pending: the next one gets -EAGAIN, and no callback; it is accepted
 * again once the queue has drained.
 */
#include "tests/wal/walt.h"

#define NREC 900

static uint32_t len_of(uint64_t seq)
{
    return (uint32_t)(100 + seq * 37 % 1500);
}

struct order {
    int calls;
    int who[WAL_TRUNC_QUEUE + 1];
    int res[WAL_TRUNC_QUEUE + 1];
};

struct slot {
    struct order *o;
    int id;
};

static void done(void *arg, int res)
{
    struct slot *s = arg;

    if (s->o->calls <= WAL_TRUNC_QUEUE) {
        s->o->who[s->o->calls] = s->id;
        s->o->res[s->o->calls] = res;
    }
    s->o->calls++;
}

/* Base sequence of the k-th segment file in the directory, oldest first (0 when there is none). */
static uint64_t nth_base(const char *dir, int k)
{
    uint64_t bases[256];
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL && n < 256)
        if (de->d_name[0] != '.' && strstr(de->d_name, ".wal"))
            bases[n++] = strtoull(de->d_name, NULL, 16);
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: a few dozen names */
        for (int j = i; j > 0 && bases[j - 1] > bases[j]; j--) {
            uint64_t t = bases[j];
            bases[j] = bases[j - 1];
            bases[j - 1] = t;
        }
    return k < n ? bases[k] : 0;
}

static void run(const struct walt_conf *c)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    struct walt_acks acks = {0};
    struct order ord = {0};
    struct slot slots[WAL_TRUNC_QUEUE + 1];
    int ret[WAL_TRUNC_QUEUE + 1], segs, sum = 0, in_order = 1;

    if (walt_mkdir(dir, sizeof(dir), c->base))
        return;
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.segment_bytes = 16 << 10;
    o.buffer_bytes = 8 << 10;
    if (wal_open(&o, &ring, &w, &rec))
        BAIL_OUT("open");
    if (walt_append_range(w, 1, NREC, len_of, &acks))
        BAIL_OUT("append");
    segs = walt_file_count(dir);
    ok(segs > WAL_TRUNC_QUEUE * 2 + 2, "%s: %d segments", c->name, segs);
    /* Call k drops the segments before the (2k+2)-th: two new ones each. */
    for (int k = 0; k <= WAL_TRUNC_QUEUE; k++) {
        slots[k] = (struct slot){&ord, k};
        ret[k] = wal_truncate_before(w, nth_base(dir, 2 * k + 2), done, &slots[k]);
    }
    ok_eq(wal_truncate_before(w, nth_base(dir, 4), done, &slots[0]), 0, "%s: a call below what is taken adds nothing", c->name);
    for (int k = 0; k < WAL_TRUNC_QUEUE; k++) {
        in_order &= ret[k] == 2;
        sum += ret[k];
    }
    ok(in_order, "%s: each call took two new segments", c->name);
    ok_eq(ret[WAL_TRUNC_QUEUE], -EAGAIN, "%s: one more than WAL_TRUNC_QUEUE pending: -EAGAIN", c->name);
    ok_eq(wal_first_seq(w), nth_base(dir, 2 * WAL_TRUNC_QUEUE), "%s: first sequence past the last accepted call", c->name);
    ok_eq(wal_drain(w), 0, "%s: drained", c->name);
    ok_eq(ord.calls, WAL_TRUNC_QUEUE, "%s: one callback per accepted call", c->name);
    in_order = 1;
    for (int k = 0; k < WAL_TRUNC_QUEUE && k < ord.calls; k++)
        in_order &= ord.who[k] == k && ord.res[k] == 2;
    ok(in_order, "%s: callbacks in call order, each with its own count", c->name);
    ok_eq(walt_file_count(dir), segs - sum, "%s: %d files removed", c->name, sum);
    ok_eq(wal_truncate_before(w, nth_base(dir, 2), done, &slots[WAL_TRUNC_QUEUE]), 2, "%s: accepted again after the drain",
          c->name);
    ok_eq(wal_drain(w), 0, "%s: drained again", c->name);
    ok(ord.calls == WAL_TRUNC_QUEUE + 1 && ord.who[WAL_TRUNC_QUEUE] == WAL_TRUNC_QUEUE, "%s: and completed", c->name);
    ok_eq(walt_verify(w, wal_first_seq(w), NREC, len_of), 0, "%s: everything kept reads back", c->name);
    wal_close(w);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    return walt_for_all_configs(run);
}
