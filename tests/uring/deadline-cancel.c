/* A timer set: cancelling the earliest, a middle and the last deadline (after the timer was
 * armed for the earliest) removes exactly those: they never run, the others run in order, and
 * cancelling again, or a deadline that already ran, reports false. */
#include "tests/uring/helpers.h"

#define N 10

static struct uring_deadline ds[N];
static int calls[N];
static int order[N], ran;

static void on_due(struct uring_tset *s, struct uring_deadline *d)
{
    int i = (int)(d - ds);

    calls[i]++;
    order[ran++] = i;
    if (ran == N - 3)
        uring_loop_stop(s->loop);
}

int main(void)
{
    struct uring_loop loop;
    struct uring_tset set;
    uint64_t now;
    int sorted = 1;

    th_tset_start(&loop, &set, N);
    now = uring_now_ns();
    for (int k = 0; k < N; k++) {
        int i = (k * 3) % N; /* 3 and 10 are coprime: a permutation */

        if (uring_tset_add(&set, &ds[i], now + (uint64_t)(10 + i) * 1000000ULL, on_due) != 0)
            BAIL_OUT("add");
    }
    ok_eq(uring_tset_first_ns(&set), ds[0].at_ns, "the earliest is first");
    ok(uring_loop_run_once(&loop, false) >= 0, "one iteration arms the timer");
    ok_eq(uring_loop_inflight(&loop), 1, "one timeout for ten deadlines");
    ok(uring_tset_cancel(&set, &ds[0]), "cancel the earliest");
    ok(uring_tset_cancel(&set, &ds[5]), "cancel a middle one");
    ok(uring_tset_cancel(&set, &ds[N - 1]), "cancel the last");
    ok(!uring_tset_cancel(&set, &ds[5]), "a second cancel reports false");
    ok(!uring_deadline_is_pending(&ds[0]), "a cancelled deadline is not pending");
    ok_eq(uring_tset_count(&set), N - 3, "seven pending");
    ok_eq(uring_tset_first_ns(&set), ds[1].at_ns, "the next is now the earliest");
    ok_eq(uring_loop_run(&loop), 0, "loop ran until the rest ran");
    ok_eq(calls[0] + calls[5] + calls[N - 1], 0, "no cancelled deadline ran");
    for (int k = 1; k < ran; k++)
        if (order[k - 1] > order[k])
            sorted = 0;
    ok(sorted, "the others in order");
    ok_eq(ran, N - 3, "each of them once");
    ok(!uring_tset_cancel(&set, &ds[1]), "cancelling one that ran reports false");
    ok_eq(uring_loop_inflight(&loop), 0, "no timer left armed");
    uring_loop_destroy(&loop);
    uring_tset_destroy(&set);
    return done_testing();
}
