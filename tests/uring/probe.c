/* The feature probe is consistent with itself, and a loop gets the setup flags its tier promises. */
#include "tests/uring/helpers.h"

int main(void)
{
    struct uring_features f = th_require_t0();
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256};
    struct uring_loop loop;

    ok(f.buf_ring, "T0 has provided buffer rings");
    ok(f.recv_bufsel, "T0 has recv with buffer select");
    ok(f.msg_ring, "T0 has MSG_RING");
    ok(f.tier < URING_TIER_1 || f.multishot_recv, "T1 has multishot recv");
    ok(f.tier < URING_TIER_1 || f.send_zc, "T1 has SEND_ZC");
    ok(f.tier < URING_TIER_1 || f.defer_taskrun, "T1 has DEFER_TASKRUN");
    ok((f.tier == URING_TIER_2) == (f.missing[0] == '\0'), "only T2 misses nothing");
    ok(strcmp(uring_tier_name(f.tier), "none") != 0, "tier has a name");

    ok_eq(uring_loop_init(&loop, &o), 0, "loop init");
    ok(!!(loop.setup_flags & IORING_SETUP_DEFER_TASKRUN) == f.defer_taskrun, "DEFER_TASKRUN where the kernel has it");
    ok(loop.multishot_recv == f.multishot_recv, "multishot recv where the kernel has it");
    uring_loop_destroy(&loop);

    o.flags = URING_LOOP_NO_DEFER | URING_LOOP_SINGLESHOT_RECV;
    ok_eq(uring_loop_init(&loop, &o), 0, "loop init without DEFER_TASKRUN");
    ok(!(loop.setup_flags & IORING_SETUP_DEFER_TASKRUN), "fallback ring has no DEFER_TASKRUN");
    ok(!f.coop_taskrun || (loop.setup_flags & IORING_SETUP_COOP_TASKRUN), "fallback ring has COOP_TASKRUN");
    ok(!loop.multishot_recv, "single-shot recv when asked");
    uring_loop_destroy(&loop);

    o.buf_count = 6;
    ok_eq(uring_loop_init(&loop, &o), -EINVAL, "buffer count must be a power of two");
    return done_testing();
}
