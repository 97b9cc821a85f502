/* A timer set: with its timer armed for a far deadline, adding an earlier one cancels and re-arms
 * it, so the earlier one runs at its time, not at the far one's. Then cancelling the far one
 * leaves the set empty, its timer ending on its own. */
#include "tests/uring/helpers.h"

#define FAR_NS  (30 * 1000000000ULL) /* the test would have to stall this long to see a false failure */
#define NEAR_NS (5 * 1000000ULL)

static struct uring_deadline far_d, near_d;
static int far_calls, near_calls;
static uint64_t near_ran_at;

static void on_far(struct uring_tset *s, struct uring_deadline *d)
{
    (void)s;
    (void)d;
    far_calls++;
}

static void on_near(struct uring_tset *s, struct uring_deadline *d)
{
    (void)d;
    near_calls++;
    near_ran_at = uring_now_ns();
    uring_loop_stop(s->loop);
}

int main(void)
{
    struct uring_loop loop;
    struct uring_tset set;
    uint64_t now;

    th_tset_start(&loop, &set, 2);
    now = uring_now_ns();
    ok_eq(uring_tset_add(&set, &far_d, now + FAR_NS, on_far), 0, "far deadline added");
    ok(uring_loop_run_once(&loop, false) >= 0, "its timer submitted");
    ok_eq(uring_tset_add(&set, &near_d, uring_now_ns() + NEAR_NS, on_near), 0, "an earlier one added");
    ok_eq(uring_loop_run(&loop), 0, "loop ran until the earlier one ran");
    ok_eq(near_calls, 1, "the earlier deadline ran");
    ok(near_ran_at >= near_d.at_ns, "not before its time");
    ok(near_ran_at < far_d.at_ns, "long before the far one's: the timer was re-armed");
    ok_eq(far_calls, 0, "the far one has not run");
    ok(uring_deadline_is_pending(&far_d), "and is pending");
    ok(uring_tset_cancel(&set, &far_d), "cancel the far one");
    ok_eq(uring_tset_count(&set), 0, "nothing pending");
    uring_loop_destroy(&loop); /* cancels the timer still armed for the far deadline */
    ok_eq(far_calls, 0, "the loop's end ran nothing");
    uring_tset_destroy(&set);
    return done_testing();
}
