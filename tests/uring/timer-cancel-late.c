/* A cancel that comes after the time came, but before the loop handed the timer's CQE over (two
 * timers of 0 ns fire together; the first one's callback cancels the second): the cancel wins,
 * and the second's callback gets -ECANCELED, never 0, as if the time had come after all. With
 * DEFER_TASKRUN and without. */
#include "tests/uring/helpers.h"

#define ROUNDS 200

struct pair {
    struct uring_loop loop;
    struct uring_timer a, b;
    unsigned rounds, cancels, b_calls, b_zero_after_cancel, b_cancelled;
    bool b_cancel_taken;
};

static void on_a(struct uring_timer *t, int res)
{
    struct pair *p = t->data;

    (void)res;
    if (uring_timer_is_armed(&p->b) && uring_timer_cancel(&p->b) == 0) {
        p->cancels++;
        p->b_cancel_taken = true;
    }
}

static void on_b(struct uring_timer *t, int res)
{
    struct pair *p = t->data;

    p->b_calls++;
    if (p->b_cancel_taken && res == 0)
        p->b_zero_after_cancel++;
    if (res == -ECANCELED)
        p->b_cancelled++;
    if (++p->rounds == ROUNDS) {
        uring_loop_stop(&p->loop);
        return;
    }
    p->b_cancel_taken = false;
    if (uring_timer_start(&p->loop, &p->a, 0, on_a) != 0 || uring_timer_start(&p->loop, &p->b, 0, on_b) != 0)
        BAIL_OUT("timer start");
}

static void run(unsigned flags, const char *mode)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256, .flags = flags};
    static struct pair p;

    memset(&p, 0, sizeof(p));
    if (uring_loop_init(&p.loop, &o) != 0)
        BAIL_OUT("loop init");
    p.a.data = &p;
    p.b.data = &p;
    if (uring_timer_start(&p.loop, &p.a, 0, on_a) != 0 || uring_timer_start(&p.loop, &p.b, 0, on_b) != 0)
        BAIL_OUT("timer start");
    ok_eq(uring_loop_run(&p.loop), 0, "%s: loop ran until stopped", mode);
    ok_eq(p.b_calls, ROUNDS, "%s: the second timer's callback ran once a round", mode);
    ok(p.cancels > 0, "%s: %u of %u cancels came while the second timer was armed", mode, p.cancels, ROUNDS);
    ok_eq(p.b_cancelled, p.cancels, "%s: each of them ended in -ECANCELED", mode);
    ok_eq(p.b_zero_after_cancel, 0, "%s: none in 0 (time came) after the cancel took", mode);
    uring_loop_destroy(&p.loop);
}

int main(void)
{
    th_require_t0();
    run(0, "default");
    run(URING_LOOP_NO_DEFER, "no DEFER_TASKRUN");
    return done_testing();
}
