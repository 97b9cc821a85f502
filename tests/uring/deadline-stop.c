/* A timer set at shutdown: after uring_tset_stop no deadline runs though all are due, its timer
 * is cancelled, adds still succeed and arm nothing; and destroying a loop whose set has deadlines
 * pending and its timer armed runs none of them. Pending deadlines become idle with the set. */
#include <time.h>

#include "tests/uring/helpers.h"

#define N 5

static struct uring_deadline ds[N + 1];
static int calls;

static void on_due(struct uring_tset *s, struct uring_deadline *d)
{
    (void)s;
    (void)d;
    calls++;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Runs iterations until nothing is in flight; false if that does not happen soon. */
static bool drain(struct uring_loop *loop)
{
    for (int i = 0; i < 1000 && uring_loop_inflight(loop) > 0; i++)
        if (uring_loop_run_once(loop, true) < 0)
            return false;
    return uring_loop_inflight(loop) == 0;
}

int main(void)
{
    struct uring_loop loop;
    struct uring_tset set;
    uint64_t now;

    /* 1: stop */
    th_tset_start(&loop, &set, N + 1);
    now = uring_now_ns();
    for (int i = 0; i < N; i++)
        if (uring_tset_add(&set, &ds[i], now + (uint64_t)(20 + i) * 1000000ULL, on_due) != 0)
            BAIL_OUT("add");
    ok(uring_loop_run_once(&loop, false) >= 0, "timer submitted");
    uring_tset_stop(&set);
    ok(drain(&loop), "the stopped set's timer ended");
    sleep_ms(40);
    ok_eq(uring_tset_add(&set, &ds[N], uring_now_ns() - 1, on_due), 0, "an add after stop succeeds");
    ok_eq(uring_loop_inflight(&loop), 0, "and arms nothing");
    ok(uring_loop_run_once(&loop, false) >= 0, "an iteration with every deadline due");
    ok_eq(calls, 0, "no deadline ran after stop");
    ok_eq(uring_tset_count(&set), N + 1, "all still pending");
    uring_tset_destroy(&set);
    ok(!uring_deadline_is_pending(&ds[0]), "idle once the set is gone");
    uring_loop_destroy(&loop);

    /* 2: the loop destroyed with deadlines pending and the timer armed */
    memset(ds, 0, sizeof(ds));
    th_tset_start(&loop, &set, N);
    now = uring_now_ns();
    for (int i = 0; i < N; i++)
        if (uring_tset_add(&set, &ds[i], now + (uint64_t)(1 + i) * 1000000ULL, on_due) != 0)
            BAIL_OUT("add");
    ok(uring_loop_run_once(&loop, false) >= 0, "timer submitted");
    sleep_ms(10); /* due by now: the timer may complete inside the destroy */
    uring_loop_destroy(&loop);
    ok_eq(calls, 0, "no deadline ran during the loop's destruction");
    ok_eq(uring_tset_count(&set), N, "all still pending");
    uring_tset_destroy(&set);
    ok(!uring_deadline_is_pending(&ds[N - 1]), "idle once the set is gone");
    return done_testing();
}
