/* A timer set: 2,000 deadlines added in random order (ties included) each run once, in deadline
 * order, never before their time, behind one timer; nothing is left pending or in flight. */
#include "tests/uring/helpers.h"

#define N       2000
#define SPAN_MS 40

struct item {
    struct uring_deadline d;
    int calls;
};

static struct item items[N];
static uint64_t last_at;
static int ran, early, unordered;

static void on_due(struct uring_tset *s, struct uring_deadline *d)
{
    struct item *it = (struct item *)(void *)((char *)d - offsetof(struct item, d));

    if (uring_now_ns() < d->at_ns)
        early++;
    if (d->at_ns < last_at)
        unordered++;
    if (uring_deadline_is_pending(d))
        unordered++;
    last_at = d->at_ns;
    it->calls++;
    if (++ran == N)
        uring_loop_stop(s->loop);
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256};
    struct uring_loop loop;
    struct uring_tset set;
    uint64_t now, x = 88172645463325252ULL;
    int once = 1;

    th_require_t0();
    if (uring_loop_init(&loop, &o) != 0)
        BAIL_OUT("loop init");
    ok_eq(uring_tset_init(&set, &loop, N, 0), 0, "set of %d deadlines", N);
    now = uring_now_ns();
    for (int i = 0; i < N; i++) {
        x ^= x << 13; /* xorshift: a fixed pseudo-random order */
        x ^= x >> 7;
        x ^= x << 17;
        /* 1 ms steps so many deadlines share a time */
        if (uring_tset_add(&set, &items[i].d, now + (1 + x % SPAN_MS) * 1000000ULL, on_due) != 0)
            BAIL_OUT("add %d", i);
    }
    ok_eq(uring_tset_count(&set), N, "all pending");
    ok_eq(uring_tset_add(&set, &(struct item){0}.d, now, on_due), -ENOSPC, "a full set refuses one more");
    ok(uring_loop_inflight(&loop) <= 2, "one timeout, and at most one cancel for an earlier one, for all of them");
    ok_eq(uring_loop_run(&loop), 0, "loop ran until the last deadline");
    ok_eq(ran, N, "every deadline ran");
    for (int i = 0; i < N; i++)
        if (items[i].calls != 1)
            once = 0;
    ok(once, "each exactly once");
    ok_eq(unordered, 0, "in deadline order, each off the set when it ran");
    ok_eq(early, 0, "none before its time");
    ok_eq(uring_tset_count(&set), 0, "nothing pending");
    ok_eq(uring_tset_first_ns(&set), UINT64_MAX, "no earliest");
    ok_eq(uring_loop_inflight(&loop), 0, "no timer left armed");
    uring_loop_destroy(&loop);
    uring_tset_destroy(&set);
    return done_testing();
}
