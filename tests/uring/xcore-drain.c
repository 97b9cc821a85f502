/* uring_xchan_drain: once both loops have stopped, every message still queued in a channel (pushed,
 * never delivered) is handed to the callback in push order, so what it points to can be freed;
 * a drained channel is empty. The test owns both loops on one thread and never runs them. */
#include <stdlib.h>

#include "tests/uring/helpers.h"

#define N 100

static uint64_t next;
static unsigned in_order, freed;

static void on_msg(struct uring_xchan *ch, const struct uring_xmsg *m)
{
    (void)ch;
    in_order += m->u64 == next++;
    free(m->ptr);
    freed++;
}

int main(void)
{
    struct uring_loop src, dst;
    struct uring_xchan ch;
    unsigned pushed = 0;

    th_require_t0();
    plan(5);
    if (uring_loop_init(&src, NULL) != 0 || uring_loop_init(&dst, NULL) != 0)
        BAIL_OUT("loop init");
    if (uring_xchan_init(&ch, &src, &dst, 128, 1, on_msg) != 0)
        BAIL_OUT("xchan init");
    for (uint64_t i = 0; i < N; i++) {
        struct uring_xmsg m = {.type = 1, .u64 = i, .ptr = malloc(16)};

        pushed += uring_xchan_push(&ch, &m) == 0;
    }
    ok_eq(pushed, N, "%d messages queued, none delivered (no loop runs)", N);
    ok_eq(uring_xchan_drain(&ch), N, "drain hands over every one");
    ok_eq(in_order, N, "in push order");
    ok_eq(uring_xchan_drain(&ch), 0, "a drained channel is empty");
    uring_xchan_destroy(&ch);
    uring_loop_destroy(&src);
    uring_loop_destroy(&dst);
    ok_eq(freed, N, "every payload released (ASan checks the rest)");
    return done_testing();
}
