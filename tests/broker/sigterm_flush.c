/*
 * SIGTERM with traffic in flight: a subscriber that has not read yet still gets every message
 * queued for it, then ERR FATAL SHUTTING_DOWN, then EOF; the broker exits 0.
 */
#include <signal.h>

#include "tests/broker/itest.h"

#define N 4000

int main(void)
{
    static const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct tc sub, pub;
    struct wire_frame f;
    uint8_t payload[256] = {0};
    unsigned got = 0, in_order = 0;
    bool shut = false;
    int st;

    plan(5);
    itest_start(&b, args);
    itest_connect(&sub, &b, 0);
    /* Same core: once the publisher's PONG is back, every MSG is in the subscriber's output. */
    itest_connect_on(&pub, &b, sub.core);
    tc_sub(&sub, 1, "t", NULL);
    tc_sync(&sub, NULL);
    for (uint32_t i = 0; i < N; i++) {
        memcpy(payload, &i, sizeof(i));
        tc_pub(&pub, "t", payload, sizeof(payload));
    }
    tc_sync(&pub, NULL);
    ok(kill(b.pid, SIGTERM) == 0, "SIGTERM sent with %d messages unread by the subscriber", N);
    while (tc_recv(&sub, &f, TC_TIMEOUT_MS) == 0) {
        uint32_t v;

        if (f.type != WIRE_MSG) {
            shut = itest_is_err(&f, TRPC_E_SHUTTING_DOWN, true);
            break;
        }
        memcpy(&v, f.payload, sizeof(v));
        in_order += v == got;
        got++;
    }
    ok(got == N && in_order == N, "every queued message delivered, in order (%u)", got);
    ok(shut, "then ERR FATAL SHUTTING_DOWN");
    ok(tc_wait_eof(&sub, TC_TIMEOUT_MS), "then EOF");
    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "broker exited 0 (status %d)", st);
    tc_close(&sub);
    tc_close(&pub);
    broker_proc_stop(&b);
    return done_testing();
}
