/* Timers started in shuffled order fire in deadline order, never early; a cancelled timer
 * reports -ECANCELED once and never fires; an absolute deadline fires, never early. (A relative
 * timer counts from its submission, so only the relative ones are ordered against each other.) */
#include "tests/uring/helpers.h"

#define N       20
#define STEP_NS (2 * 1000 * 1000ULL)

struct tt {
    struct uring_timer t;
    uint64_t deadline;
    int res;
    int calls;
};

static struct tt timers[N + 2];
static int order[N + 2];
static int fired;
static int early;

static void on_timer(struct uring_timer *t, int res)
{
    struct tt *x = (struct tt *)t;

    x->res = res;
    x->calls++;
    if (res == 0) {
        if (uring_now_ns() < x->deadline)
            early++;
        order[fired++] = (int)(x - timers);
    }
    if (fired == N + 1) /* every timer but the cancelled one */
        uring_loop_stop(t->loop);
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256};
    struct uring_loop loop;
    uint64_t now;
    int sorted = 1;

    th_require_t0();
    if (uring_loop_init(&loop, &o) != 0)
        BAIL_OUT("loop init");
    now = uring_now_ns();
    for (int k = 0; k < N; k++) {
        int i = (k * 7) % N; /* 7 and 20 are coprime: a permutation */
        uint64_t after = (uint64_t)(i + 1) * STEP_NS;

        timers[i].deadline = now + after;
        if (uring_timer_start(&loop, &timers[i].t, after, on_timer) != 0)
            BAIL_OUT("timer start");
    }
    /* timers[N]: absolute, between 5 and 6; timers[N + 1]: cancelled before its time. */
    timers[N].deadline = now + 5 * STEP_NS + STEP_NS / 2;
    ok_eq(uring_timer_start_at(&loop, &timers[N].t, timers[N].deadline, on_timer), 0, "absolute timer starts");
    ok_eq(uring_timer_start(&loop, &timers[N + 1].t, 3 * STEP_NS, on_timer), 0, "timer to cancel starts");
    ok_eq(uring_timer_cancel(&timers[N + 1].t), 0, "cancel accepted");
    ok_eq(uring_loop_run(&loop), 0, "loop ran until stopped");

    for (int k = 0, prev = -1; k < fired; k++) {
        if (order[k] == N)
            continue;
        if (prev >= 0 && timers[prev].deadline > timers[order[k]].deadline)
            sorted = 0;
        prev = order[k];
    }
    ok_eq(fired, N + 1, "every live timer fired");
    ok(sorted, "in deadline order");
    ok_eq(early, 0, "none before its deadline");
    ok_eq(timers[N].calls, 1, "the absolute timer fired once");
    ok_eq(timers[N].res, 0, "when its time came");
    ok_eq(timers[N + 1].res, -ECANCELED, "the cancelled timer reported -ECANCELED");
    ok_eq(timers[N + 1].calls, 1, "exactly once");
    ok(!uring_timer_is_armed(&timers[0].t), "a fired timer is disarmed");
    ok_eq(uring_timer_cancel(&timers[0].t), -ENOENT, "cancelling a fired timer is -ENOENT");
    ok_eq(uring_loop_inflight(&loop), 0, "nothing in flight");
    uring_loop_destroy(&loop);
    return done_testing();
}
