/* A full mailbox refuses: with all of its slots taken, uring_mbox_post() returns -EAGAIN at once
 * and queues nothing; once the consumer has drained, posts go through again. Also: capacities
 * that are not a power of two are refused, and a drain with a budget stops at it with the fd left
 * readable. No loop, no other thread: the post must not wait. */
#include <poll.h>

#include "tests/uring/helpers.h"

#define CAPACITY 4

static uint64_t seen[3 * CAPACITY + 2];
static unsigned nseen;

static void on_msg(struct uring_mbox *mb, const struct uring_xmsg *msg)
{
    (void)mb;
    if (nseen < sizeof(seen) / sizeof(seen[0]))
        seen[nseen] = msg->u64;
    nseen++;
}

static bool readable(const struct uring_mbox *mb)
{
    struct pollfd p = {.fd = uring_mbox_fd(mb), .events = POLLIN};

    return poll(&p, 1, 0) == 1;
}

int main(void)
{
    struct uring_mbox mb;
    struct uring_xmsg m = {.type = 1};
    int ret = 0;

    ok_eq(uring_mbox_init(&mb, 3, on_msg), -EINVAL, "capacity 3 refused");
    ok_eq(uring_mbox_init(&mb, 0, on_msg), -EINVAL, "capacity 0 refused");
    ok_eq(uring_mbox_init(&mb, CAPACITY, on_msg), 0, "capacity %d", CAPACITY);
    ok(!readable(&mb), "an empty mailbox's fd is not readable");
    for (m.u64 = 0; m.u64 < CAPACITY && ret == 0; m.u64++)
        ret = uring_mbox_post(&mb, &m);
    ok_eq(ret, 0, "%d posts fill it", CAPACITY);
    ok(readable(&mb), "its fd is readable");
    ok_eq(atomic_load(&mb.bells), 1, "one doorbell for the lot (the consumer did not drain in between)");
    m.u64 = 100;
    ok_eq(uring_mbox_post(&mb, &m), -EAGAIN, "the next post is refused");
    ok_eq(uring_mbox_post(&mb, &m), -EAGAIN, "and again");
    ok_eq(uring_mbox_drain(&mb), CAPACITY, "the drain hands out the %d queued", CAPACITY);
    ok(!readable(&mb), "the drain reset the fd");
    ok(nseen == CAPACITY && seen[0] == 0 && seen[CAPACITY - 1] == CAPACITY - 1, "in order, without the refused one");
    for (m.u64 = CAPACITY; m.u64 < 2 * CAPACITY && ret == 0; m.u64++)
        ret = uring_mbox_post(&mb, &m);
    ok_eq(ret, 0, "once drained it takes %d more", CAPACITY);
    ok_eq(atomic_load(&mb.bells), 2, "which rang once more");
    ok_eq(uring_mbox_drain(&mb), CAPACITY, "and hands them out");
    ok(seen[CAPACITY] == CAPACITY && seen[2 * CAPACITY - 1] == 2 * CAPACITY - 1, "in order");
    ok_eq(uring_mbox_drain(&mb), 0, "an empty drain is harmless");
    /* With a budget: the consumer gets back to its other work, and the fd says more wait. */
    for (m.u64 = 2 * CAPACITY; m.u64 < 3 * CAPACITY && ret == 0; m.u64++)
        ret = uring_mbox_post(&mb, &m);
    ok_eq(ret, 0, "%d more", CAPACITY);
    ok_eq(uring_mbox_drain_max(&mb, CAPACITY - 1), CAPACITY - 1, "a drain with a budget of %d stops there", CAPACITY - 1);
    ok(readable(&mb), "and leaves the fd readable: one more waits");
    ok_eq(uring_mbox_drain_max(&mb, CAPACITY - 1), 1, "the next drain takes it");
    ok(!readable(&mb), "and resets the fd");
    ok(nseen == 3 * CAPACITY, "every message seen once (%u)", nseen);
    ok_eq(uring_mbox_destroy(&mb, NULL), 0, "nothing left");
    return done_testing();
}
