/* A timer set's heap under 200,000 random adds and cancels (many ties, cancels anywhere in the
 * heap): after every step each entry is no earlier than its parent, each pending deadline knows
 * its position, the earliest is the true minimum and the count is right. No ring is needed: a
 * stopped set never arms its timer. */
#include "tests/uring/helpers.h"

#define N     512
#define STEPS 200000

static struct uring_deadline ds[N];

static void on_due(struct uring_tset *s, struct uring_deadline *d)
{
    (void)s;
    (void)d;
    BAIL_OUT("a stopped set ran a deadline");
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Whether the heap is one: the order, the back pointers, the minimum and the count. */
static bool heap_ok(const struct uring_tset *s)
{
    uint64_t min = UINT64_MAX;
    uint32_t pending = 0;

    for (uint32_t i = 0; i < s->_n; i++) {
        if (i > 0 && s->_heap[i].at_ns < s->_heap[(i - 1) / 2].at_ns)
            return false;
        if (s->_heap[i].d->_pos != i + 1 || s->_heap[i].d->at_ns != s->_heap[i].at_ns)
            return false;
    }
    for (int i = 0; i < N; i++) {
        if (!uring_deadline_is_pending(&ds[i]))
            continue;
        pending++;
        if (ds[i].at_ns < min)
            min = ds[i].at_ns;
    }
    return pending == s->_n && uring_tset_first_ns(s) == min;
}

int main(void)
{
    struct uring_tset set;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    long adds = 0, cancels = 0, misses = 0;
    bool good = true;

    ok_eq(uring_tset_init(&set, NULL, N, 0), 0, "set of %d", N);
    uring_tset_stop(&set);
    for (int step = 0; step < STEPS && good; step++) {
        int i = (int)(rnd(&x) % N);

        if (!uring_deadline_is_pending(&ds[i])) {
            if (uring_tset_add(&set, &ds[i], 1000 + rnd(&x) % 64, on_due) != 0)
                BAIL_OUT("add");
            adds++;
        } else if (uring_tset_cancel(&set, &ds[i])) {
            cancels++;
        } else {
            misses++;
        }
        good = heap_ok(&set);
    }
    ok(good, "the heap held after each of %ld adds and %ld cancels", adds, cancels);
    ok_eq(misses, 0, "every cancel of a pending deadline found it");
    ok(!uring_tset_cancel(&set, &(struct uring_deadline){0}), "an idle deadline is not cancelled");
    uring_tset_destroy(&set);
    good = true;
    for (int i = 0; i < N; i++)
        if (uring_deadline_is_pending(&ds[i]))
            good = false;
    ok(good, "every deadline idle once the set is gone");
    return done_testing();
}
