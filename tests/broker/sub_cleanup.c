/*
 * Subscriptions end everywhere: on a two-core broker, a subscriber on one core and a publisher on
 * the other; after UNSUB (and its PONG) nothing more arrives; after the subscriber disconnects, a
 * new subscriber reusing its slot gets each message once; queue-group members that leave stop
 * being chosen.
 */
#include <unistd.h>

#include "tests/broker/itest.h"

static unsigned drain(struct tc *c)
{
    unsigned n = 0;

    tc_sync(c, &n);
    return n;
}

int main(void)
{
    static const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct tc pub, s1, s2, g1, g2;
    struct wire_frame f;
    unsigned got;

    plan(8);
    itest_start(&b, args);
    itest_connect_on(&pub, &b, 0);
    itest_connect_on(&s1, &b, 1);
    tc_sub(&s1, 1, "c.>", NULL);
    tc_sync(&s1, NULL);
    tc_pub(&pub, "c.x", "1", 1);
    f = itest_next(&s1, TC_TIMEOUT_MS);
    ok(f.type == WIRE_MSG && f.id == 1, "a subscriber on core 1 gets a publish from core 0");
    tc_unsub(&s1, 1);
    tc_sync(&s1, NULL);
    tc_pub(&pub, "c.x", "2", 1);
    tc_sync(&pub, NULL);
    ok_eq(drain(&s1), 0, "after UNSUB and its PONG nothing more arrives");
    tc_sub(&s1, 2, "c.>", NULL);
    tc_sync(&s1, NULL);
    tc_close(&s1);

    itest_connect_on(&s2, &b, 1);
    tc_sub(&s2, 2, "c.>", NULL);
    tc_sync(&s2, NULL);
    tc_pub(&pub, "c.y", "3", 1);
    tc_pub(&pub, "c.y", "4", 1);
    got = 0;
    while (tc_recv(&s2, &f, 1000) == 0 && f.type == WIRE_MSG)
        got++;
    ok_eq(got, 2, "a new subscriber on the same core gets each message once (the old one is gone)");

    itest_connect_on(&g1, &b, 1);
    itest_connect_on(&g2, &b, 0);
    tc_sub(&g1, 1, "job", "w");
    tc_sub(&g2, 1, "job", "w");
    tc_sync(&g1, NULL);
    tc_sync(&g2, NULL);
    char closed[64];
    snprintf(closed, sizeof(closed), "closed client_id=%llu ", (unsigned long long)g1.client_id);
    tc_close(&g1);
    /* Once core 1 has logged the close, its GONE broadcast is out; a PONG from core 1 (s2) then
     * means core 0 applied it. */
    for (int i = 0; i < 1000 && broker_proc_log_count(&b, closed) == 0; i++)
        usleep(10000);
    tc_sync(&s2, NULL);
    for (uint32_t i = 0; i < 50; i++)
        tc_pub(&pub, "job", &i, sizeof(i));
    tc_sync(&pub, NULL);
    got = 0;
    while (tc_recv(&g2, &f, 1000) == 0 && f.type == WIRE_MSG)
        got++;
    ok_eq(got, 50, "after a member leaves, the other member of the group gets every message");
    tc_unsub(&g2, 1);
    tc_sync(&g2, NULL);
    tc_req(&pub, 9, "job", "x", 1, 0);
    f = itest_next(&pub, TC_TIMEOUT_MS);
    ok(f.type == WIRE_REP && f.flags == WIRE_F_ERROR && f.aux == TRPC_E_NO_RESPONDERS, "no members left: NO_RESPONDERS");
    ok(tc_sync(&pub, NULL) == 0 && tc_sync(&s2, NULL) == 0, "everyone still served");
    ok(broker_proc_log_count(&b, "closed client_id") >= 2, "the closes were logged");
    tc_close(&pub);
    tc_close(&s2);
    tc_close(&g2);
    itest_stop(&b);
    return done_testing();
}
