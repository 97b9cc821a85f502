/* A timer set: a deadline's callback adds and cancels deadlines of its set, itself included. A
 * deadline added for a time already due runs in the same pass, one cancelled from a callback never
 * runs, the callback's own deadline can be added again, and one added for later runs later. */
#include "tests/uring/helpers.h"

enum { A, B, C, D, NDS };

static struct uring_deadline ds[NDS];
static int calls[NDS];
static uint64_t iter[NDS]; /* the loop iteration of the last run */
static uint64_t iter_a1;   /* and of A's first */
static char trace[16];
static int ntrace;

static void on_due(struct uring_tset *s, struct uring_deadline *d)
{
    int i = (int)(d - ds);

    calls[i]++;
    iter[i] = s->loop->stats.iterations;
    trace[ntrace++] = (char)('a' + i);
    if (i == A && calls[A] == 1) {
        iter_a1 = iter[A];
        /* C: as due as A, so it runs in this pass; D later; B cancelled; A again after D. */
        if (uring_tset_add(s, &ds[C], d->at_ns, on_due) != 0)
            BAIL_OUT("add C");
        if (uring_tset_add(s, &ds[D], uring_now_ns() + 2000000, on_due) != 0)
            BAIL_OUT("add D");
        if (!uring_tset_cancel(s, &ds[B]))
            BAIL_OUT("B was not pending");
        if (uring_tset_cancel(s, d))
            BAIL_OUT("a running deadline is pending");
        if (uring_tset_add(s, d, ds[D].at_ns + 2000000, on_due) != 0)
            BAIL_OUT("add A again");
    }
    if (i == A && calls[A] == 2)
        uring_loop_stop(s->loop);
}

int main(void)
{
    struct uring_loop loop;
    struct uring_tset set;
    uint64_t now;

    th_tset_start(&loop, &set, NDS);
    now = uring_now_ns();
    ok_eq(uring_tset_add(&set, &ds[A], now + 2000000, on_due), 0, "A added");
    ok_eq(uring_tset_add(&set, &ds[B], now + 3000000, on_due), 0, "B added");
    ok_eq(uring_loop_run(&loop), 0, "loop ran until A's second run");
    trace[ntrace] = 0;
    ok(strcmp(trace, "acda") == 0, "ran A, C in the same pass, D, A again (got \"%s\")", trace);
    ok_eq(iter[C], iter_a1, "C ran in the loop iteration of A's first run");
    ok_eq(calls[B], 0, "B, cancelled by A, never ran");
    ok_eq(uring_tset_count(&set), 0, "nothing pending");
    ok_eq(uring_loop_inflight(&loop), 0, "no timer left armed");
    uring_loop_destroy(&loop);
    uring_tset_destroy(&set);
    return done_testing();
}
