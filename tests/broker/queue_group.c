/* A queue group of four members on a two-core broker: 10,000 messages, each delivered to exactly
 * one member, every member within 10% of a quarter, while a plain subscription on the same topic
 * gets every message. The publisher's core picks the member, whichever core it sits on. */
#include <stdlib.h>

#include "tests/broker/itest.h"

#define MEMBERS 4
#define N       10000

int main(void)
{
    static const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct tc m[MEMBERS], plain, pub;
    unsigned count[MEMBERS] = {0}, plain_got = 0, total = 0, dup = 0, wrong_sid = 0;
    uint8_t *seen = calloc(N, 1);

    plan(MEMBERS + 7);
    itest_start(&b, args);
    for (int i = 0; i < MEMBERS; i++) {
        itest_connect_on(&m[i], &b, (unsigned)i % 2);
        if (tc_sub(&m[i], 7, "jobs.*", "workers") != 0 || tc_sync(&m[i], NULL) != 0)
            BAIL_OUT("subscribe member");
    }
    itest_connect(&plain, &b, 0);
    ok(tc_sub(&plain, 1, "jobs.>", NULL) == 0 && tc_sync(&plain, NULL) == 0, "plain subscription");
    itest_connect(&pub, &b, 0);
    diag("members on cores %u %u %u %u, publisher on core %u", m[0].core, m[1].core, m[2].core, m[3].core, pub.core);
    for (uint32_t i = 0; i < N; i++)
        if (tc_pub(&pub, "jobs.run", &i, sizeof(i)) != 0)
            BAIL_OUT("publish");
    ok(tc_sync(&pub, NULL) == 0, "publisher synced");

    /* Drain everyone until all N arrived or nothing comes for a while. */
    for (int idle = 0; (total < N || plain_got < N) && idle < 3;) {
        bool any = false;

        for (int i = 0; i < MEMBERS; i++) {
            struct wire_frame f;

            while (tc_recv(&m[i], &f, 0) == 0 || (total < N && tc_recv(&m[i], &f, 50) == 0)) {
                uint32_t v;

                any = true;
                if (f.type != WIRE_MSG || f.id != 7 || f.payload_len != 4) {
                    wrong_sid++;
                    continue;
                }
                memcpy(&v, f.payload, 4);
                if (v >= N || seen[v]++)
                    dup++;
                count[i]++;
                total++;
            }
        }
        struct wire_frame f;
        while (tc_recv(&plain, &f, plain_got < N ? 50 : 0) == 0) {
            any = true;
            plain_got += f.type == WIRE_MSG;
        }
        idle = any ? 0 : idle + 1;
    }
    ok_eq(total, N, "each message reached one member");
    ok_eq(dup, 0, "no message reached two members");
    ok_eq(wrong_sid, 0, "members got MSG frames with their subscription id");
    for (int i = 0; i < MEMBERS; i++)
        ok(count[i] >= N / 4 * 9 / 10 && count[i] <= N / 4 * 11 / 10, "member %d got %u, within 10%% of %d", i, count[i], N / 4);
    ok_eq(plain_got, N, "the plain subscription got every message");
    for (int i = 0; i < MEMBERS; i++)
        tc_close(&m[i]);
    tc_close(&plain);
    tc_close(&pub);
    free(seen);
    itest_stop(&b);
    return done_testing();
}
