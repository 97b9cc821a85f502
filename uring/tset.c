/*
 * Timer sets (uring/uring.h, "deadlines"): an intrusive binary min-heap of embedded deadlines
 * behind one uring_timer.
 *
 * The heap is an array of {at_ns, deadline} pairs, so sifting compares within the array and only
 * writes a moved deadline's position back. Positions are stored plus one, so a zeroed deadline is
 * idle. Sifts move a hole rather than swapping, one write per level.
 *
 * The timer: armed at the earliest deadline when not armed; a new earliest more than slack_ns
 * before the armed time sends one TIMEOUT_REMOVE, and the callback (which runs with -ECANCELED)
 * arms it again. Cancelling a deadline never touches the timer: it fires for nothing at worst.
 * So a stream of deadlines with one timeout each (request deadlines) costs one TIMEOUT per firing
 * and no cancels.
 */
#include <errno.h>
#include <stdlib.h>

#include "uring/internal.h"

static void put(struct uring_tset *s, uint32_t i, struct uring_tset_entry e)
{
    s->_heap[i] = e;
    e.d->_pos = i + 1;
}

static void sift_up(struct uring_tset *s, uint32_t i, struct uring_tset_entry e)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;

        if (s->_heap[parent].at_ns <= e.at_ns)
            break;
        put(s, i, s->_heap[parent]);
        i = parent;
    }
    put(s, i, e);
}

static void sift_down(struct uring_tset *s, uint32_t i, struct uring_tset_entry e)
{
    for (;;) {
        uint32_t l = 2 * i + 1, m = l;

        if (l >= s->_n)
            break;
        if (l + 1 < s->_n && s->_heap[l + 1].at_ns < s->_heap[l].at_ns)
            m = l + 1;
        if (e.at_ns <= s->_heap[m].at_ns)
            break;
        put(s, i, s->_heap[m]);
        i = m;
    }
    put(s, i, e);
}

/* Takes the entry at heap index i out; the last one fills the hole. */
static void heap_remove(struct uring_tset *s, uint32_t i)
{
    struct uring_tset_entry last;

    URING_ASSERT(i < s->_n);
    URING_ASSERT(s->_heap[i].d->_pos == i + 1);
    s->_heap[i].d->_pos = 0;
    last = s->_heap[--s->_n];
    if (i == s->_n)
        return;
    if (i > 0 && last.at_ns < s->_heap[(i - 1) / 2].at_ns)
        sift_up(s, i, last);
    else
        sift_down(s, i, last);
}

static void fired(struct uring_timer *t, int res);

static void arm(struct uring_tset *s)
{
    uint64_t first;

    if (s->_n == 0 || s->_stopped || s->_running)
        return;
    first = s->_heap[0].at_ns;
    if (!s->_armed) {
        if (uring_timer_start_at(s->loop, &s->_timer, first, fired) == 0) {
            s->_armed = true;
            s->_armed_at = first;
        }
    } else if (!s->_cancelling && first + s->slack_ns < s->_armed_at) {
        if (uring_timer_cancel(&s->_timer) == 0)
            s->_cancelling = true;
    }
}

static void fired(struct uring_timer *t, int res)
{
    struct uring_tset *s = (struct uring_tset *)(void *)((char *)t - offsetof(struct uring_tset, _timer));
    uint64_t now;

    (void)res; /* 0, or -ECANCELED: cancelled for an earlier deadline, by uring_tset_stop or the loop's end */
    URING_ASSERT(s->_armed);
    s->_armed = false;
    s->_cancelling = false;
    if (s->_stopped || s->loop->_closing)
        return;
    now = uring_now_ns();
    s->_running = true;
    while (s->_n > 0 && s->_heap[0].at_ns <= now && !s->_stopped) {
        struct uring_deadline *d = s->_heap[0].d;

        heap_remove(s, 0);
        d->cb(s, d);
    }
    s->_running = false;
    arm(s);
}

int uring_tset_init(struct uring_tset *s, struct uring_loop *loop, uint32_t cap, uint64_t slack_ns)
{
    struct uring_tset_entry *heap;

    if (cap == 0)
        return -EINVAL;
    heap = calloc(cap, sizeof(*heap));
    if (heap == NULL)
        return -ENOMEM;
    *s = (struct uring_tset){.loop = loop, .slack_ns = slack_ns, ._heap = heap, ._cap = cap};
    return 0;
}

void uring_tset_destroy(struct uring_tset *s)
{
    URING_ASSERT(!s->_armed);
    for (uint32_t i = 0; i < s->_n; i++)
        s->_heap[i].d->_pos = 0;
    free(s->_heap);
    s->_heap = NULL;
    s->_n = 0;
    s->_cap = 0;
}

int uring_tset_add(struct uring_tset *s, struct uring_deadline *d, uint64_t at_ns, uring_deadline_cb *cb)
{
    URING_ASSERT(d->_pos == 0);
    URING_ASSERT(cb != NULL);
    if (s->_n == s->_cap)
        return -ENOSPC;
    d->at_ns = at_ns;
    d->cb = cb;
    sift_up(s, s->_n++, (struct uring_tset_entry){.at_ns = at_ns, .d = d});
    if (d->_pos == 1 || !s->_armed)
        arm(s); /* a new earliest, or a timer that could not be armed before */
    return 0;
}

bool uring_tset_cancel(struct uring_tset *s, struct uring_deadline *d)
{
    if (d->_pos == 0)
        return false;
    URING_ASSERT(d->_pos <= s->_n);
    URING_ASSERT(s->_heap[d->_pos - 1].d == d);
    heap_remove(s, d->_pos - 1);
    return true;
}

void uring_tset_stop(struct uring_tset *s)
{
    s->_stopped = true;
    if (s->_armed && !s->_cancelling && uring_timer_cancel(&s->_timer) == 0)
        s->_cancelling = true;
}
