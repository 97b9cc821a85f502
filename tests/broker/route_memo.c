/*
 * A core remembers the subscriptions of the last topic it routed (route.c, route_match) while its
 * trie stays the same: what a repeated publish reaches must still follow every SUB and UNSUB in
 * between, and a request, whose responder pick leaves only the group members in the remembered
 * list, must not take the plain subscribers away from the next publish. One connection on a
 * one-core broker publishes, requests and subscribes, so everything goes through one memo.
 */
#include "tests/broker/itest.h"

#define PING_ID 99

/* Publishes "x" on topic and reads up to the PONG: the sids that got it, as bits (bit sid). */
static unsigned pub_reaches(struct tc *c, const char *topic)
{
    struct wire_frame f;
    unsigned got = 0;

    tc_pub(c, topic, "x", 1);
    tc_send(c, &(struct wire_out){.type = WIRE_PING, .id = PING_ID});
    while (tc_recv(c, &f, TC_TIMEOUT_MS) == 0 && f.type == WIRE_MSG)
        if (f.id < 32 && !(f.flags & WIRE_F_REQUEST))
            got |= 1u << f.id;
    return f.type == WIRE_PONG ? got : ~0u;
}

int main(void)
{
    static const char *const args[] = {"--cores", "1", NULL};
    struct broker_proc b;
    struct wire_frame f;
    struct tc c;

    plan(9);
    itest_start(&b, args);
    itest_connect(&c, &b, 0);
    tc_sub(&c, 1, "memo.a", NULL);
    ok(tc_sync(&c, NULL) == 0 && pub_reaches(&c, "memo.a") == 1u << 1, "memo.a reaches sid 1");
    ok(pub_reaches(&c, "memo.a") == 1u << 1, "and again, the same topic twice in a row");
    tc_unsub(&c, 1);
    ok(tc_sync(&c, NULL) == 0 && pub_reaches(&c, "memo.a") == 0, "after UNSUB, the same topic reaches nobody");
    tc_sub(&c, 2, "memo.*", NULL);
    ok(tc_sync(&c, NULL) == 0 && pub_reaches(&c, "memo.a") == 1u << 2, "after a SUB that matches it, sid 2");
    /* A plain subscription ahead of a group member on one pattern: the responder pick moves the
     * member over it in the list of matches. */
    tc_sub(&c, 4, "memo.a", NULL);
    tc_sub(&c, 3, "memo.a", "g");
    ok(tc_sync(&c, NULL) == 0 && pub_reaches(&c, "memo.a") == (1u << 2 | 1u << 3 | 1u << 4), "two more: sids 2, 3 (a group) and 4");
    /* The request goes to the group member alone; the plain sids are not among the responders. */
    tc_req(&c, 7, "memo.a", "q", 1, 5000);
    f = itest_next(&c, TC_TIMEOUT_MS);
    ok(f.type == WIRE_MSG && (f.flags & WIRE_F_REQUEST) && f.id == 3, "a request on memo.a goes to the group member");
    tc_rep(&c, f.seq, 0, 0, "r", 1);
    f = itest_next(&c, TC_TIMEOUT_MS);
    ok(f.type == WIRE_REP && f.id == 7, "and its reply comes back");
    ok(pub_reaches(&c, "memo.a") == (1u << 2 | 1u << 3 | 1u << 4), "a publish right after still reaches sids 2, 3 and 4");
    tc_close(&c);
    itest_stop(&b);
    return done_testing();
}
