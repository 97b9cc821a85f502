/*
 * The default max-output-bytes (64 MiB, issue 14) lets a subscriber that keeps up on average fall
 * well behind a burst: with default options, a subscriber that reads nothing until a publisher's
 * 24 MiB burst has been handled (the publisher's PONG is back, and both are on one core, so every
 * MSG is in the subscriber's output by then) still gets every message, in order, and no
 * SLOW_CONSUMER. Its small receive buffer keeps the kernel from absorbing much of the burst: at
 * least 16 MiB wait in the broker, twice the old 8 MiB default.
 */
#include "tests/broker/itest.h"

#define PAYLOAD (16 * 1024)
#define N       1536 /* 24 MiB */

int main(void)
{
    static uint8_t payload[PAYLOAD];
    struct broker_proc b;
    struct tc sub, pub;
    struct wire_frame f;
    unsigned got = 0, in_order = 0, skipped = 0;
    int tries = 0;

    plan(4);
    itest_start(&b, NULL);
    itest_connect(&pub, &b, 0);
    for (;;) {
        if (tc_connect_rcvbuf(&sub, &b, 4096) != 0)
            BAIL_OUT("connect with a small receive buffer");
        if (sub.core == pub.core)
            break;
        tc_close(&sub);
        if (++tries == 200)
            BAIL_OUT("no connection landed on the publisher's core in 200 tries");
    }
    tc_sub(&sub, 1, "burst", NULL);
    tc_sync(&sub, NULL);
    for (uint32_t i = 0; i < N; i++) {
        memcpy(payload, &i, sizeof(i));
        tc_pub(&pub, "burst", payload, sizeof(payload));
    }
    ok(tc_sync(&pub, NULL) == 0, "a %d MiB burst published while the subscriber reads nothing", N * PAYLOAD >> 20);
    while (got < N && tc_recv(&sub, &f, TC_TIMEOUT_MS) == 0) {
        uint32_t v;

        if (f.type != WIRE_MSG || f.payload_len != PAYLOAD) {
            diag("frame %u: type %u code %u", got, f.type, f.aux);
            break;
        }
        memcpy(&v, f.payload, sizeof(v));
        in_order += v == got;
        got++;
    }
    ok(got == N && in_order == N, "the subscriber then gets every message, in order (%u of %u)", got, N);
    ok(tc_sync(&sub, &skipped) == 0 && skipped == 0, "and is still connected: no SLOW_CONSUMER");
    ok(broker_proc_log_count(&b, "slow consumer") == 0, "the broker cut nobody off");
    tc_close(&sub);
    tc_close(&pub);
    broker_proc_stop(&b);
    return done_testing();
}
