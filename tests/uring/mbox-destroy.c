/* Destroying a mailbox with messages still queued hands each to the discard callback, in order,
 * never to the consumer's: for a plain consumer's mailbox, and for one attached to a loop that was
 * destroyed (its eventfd read cancelled) before it could drain them. */
#include "tests/uring/helpers.h"

#define QUEUED 5

static unsigned consumed, discarded, out_of_order;

static void on_msg(struct uring_mbox *mb, const struct uring_xmsg *msg)
{
    (void)mb;
    (void)msg;
    consumed++;
}

static void on_discard(struct uring_mbox *mb, const struct uring_xmsg *msg)
{
    (void)mb;
    if (msg->u64 != discarded)
        out_of_order++;
    free(msg->ptr); /* what a message points to is released here */
    discarded++;
}

static int post_some(struct uring_mbox *mb)
{
    for (uint64_t i = 0; i < QUEUED; i++) {
        struct uring_xmsg m = {.type = 1, .u64 = i, .ptr = malloc(32)};
        int ret = uring_mbox_post(mb, &m);

        if (ret != 0)
            return ret;
    }
    return 0;
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256};
    struct uring_loop loop;
    struct uring_mbox mb;

    th_require_t0();
    if (uring_mbox_init(&mb, 8, on_msg) != 0)
        BAIL_OUT("mailbox init");
    ok_eq(post_some(&mb), 0, "plain consumer: %d messages queued", QUEUED);
    ok_eq(uring_mbox_destroy(&mb, on_discard), QUEUED, "destroy discards them");
    ok_eq(discarded, QUEUED, "each through the discard callback");
    ok_eq(out_of_order, 0, "in order");
    ok_eq(consumed, 0, "none through the consumer's callback");
    ok_eq(uring_mbox_destroy(&mb, on_discard), 0, "a second destroy finds nothing");

    discarded = 0;
    if (uring_loop_init(&loop, &o) != 0)
        BAIL_OUT("loop init");
    if (uring_mbox_init(&mb, 8, on_msg) != 0)
        BAIL_OUT("mailbox init");
    ok_eq(uring_mbox_attach(&mb, &loop), 0, "attached to a loop");
    ok(uring_loop_run_once(&loop, false) >= 0, "the eventfd read is submitted");
    ok_eq(uring_loop_inflight(&loop), 1, "and in flight");
    uring_loop_destroy(&loop);
    ok_eq(post_some(&mb), 0, "loop destroyed: %d messages queued after", QUEUED);
    ok_eq(uring_mbox_destroy(&mb, on_discard), QUEUED, "destroy discards them");
    ok_eq(discarded, QUEUED, "each through the discard callback");
    ok_eq(out_of_order, 0, "in order");
    ok_eq(consumed, 0, "none through the consumer's callback");
    return done_testing();
}
