/* Messages of one publisher reach a subscriber in publish order, also across cores: three
 * publishers interleave 3,000 messages each on a two-core broker. */
#include "tests/broker/itest.h"

#define PUBLISHERS 3
#define PER_PUB    3000

int main(void)
{
    static const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct tc sub, pub[PUBLISHERS];
    uint32_t next[PUBLISHERS] = {0};
    unsigned got = 0, bad_order = 0, bad_topic = 0;

    plan(6);
    itest_start(&b, args);
    itest_connect(&sub, &b, 0);
    ok(tc_sub(&sub, 1, "ord.>", NULL) == 0 && tc_sync(&sub, NULL) == 0, "subscribed to ord.>");
    /* One publisher on the subscriber's core, the others on the other core. */
    for (int p = 0; p < PUBLISHERS; p++)
        itest_connect_on(&pub[p], &b, p == 0 ? sub.core : 1 - sub.core);
    diag("subscriber on core %u; publishers on cores %u %u %u", sub.core, pub[0].core, pub[1].core, pub[2].core);
    for (uint32_t i = 0; i < PER_PUB; i++) {
        for (int p = 0; p < PUBLISHERS; p++) {
            char topic[16];

            snprintf(topic, sizeof(topic), "ord.p%d", p);
            if (tc_pub(&pub[p], topic, &i, sizeof(i)) != 0)
                BAIL_OUT("publish");
        }
    }
    while (got < PUBLISHERS * PER_PUB) {
        struct wire_frame f;
        uint32_t v;
        int p;

        if (tc_recv(&sub, &f, TC_TIMEOUT_MS) != 0 || f.type != WIRE_MSG)
            break;
        got++;
        if (f.topic_len != 6 || f.payload_len != 4 || (p = f.topic[5] - '0') < 0 || p >= PUBLISHERS) {
            bad_topic++;
            continue;
        }
        memcpy(&v, f.payload, 4);
        if (v != next[p])
            bad_order++;
        next[p] = v + 1;
    }
    ok_eq(got, PUBLISHERS * PER_PUB, "every message arrived");
    ok_eq(bad_topic, 0, "every message has its topic and payload");
    ok_eq(bad_order, 0, "each publisher's messages arrive in publish order");
    ok(next[0] == PER_PUB && next[1] == PER_PUB && next[2] == PER_PUB, "the last message of each publisher came last");
    tc_close(&sub);
    for (int p = 0; p < PUBLISHERS; p++)
        tc_close(&pub[p]);
    itest_stop(&b);
    return done_testing();
}
