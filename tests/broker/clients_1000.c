/* 1,000 concurrent clients on a two-core broker: all connect, subscribe and sync, each gets every
 * one of ten messages, and all of them are still served at the end. */
#include <stdlib.h>

#include "tests/broker/itest.h"

#define CLIENTS 1000
#define MSGS    10

int main(void)
{
    static const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct tc *c = calloc(CLIENTS, sizeof(*c)), pub;
    unsigned connected = 0, subscribed = 0, complete = 0, synced = 0, per_core[2] = {0};

    plan(6);
    if (tc_raise_nofile(CLIENTS + 64) != 0)
        skip_all("cannot raise RLIMIT_NOFILE above 1,064");
    itest_start(&b, args);
    for (int i = 0; i < CLIENTS; i++) {
        if (tc_connect(&c[i], &b, 0) != 0)
            break;
        connected++;
        per_core[c[i].core & 1]++;
        if (tc_sub(&c[i], 1, "all.>", NULL) == 0)
            subscribed++;
    }
    ok_eq(connected, CLIENTS, "every client connected");
    diag("%u on core 0, %u on core 1", per_core[0], per_core[1]);
    for (unsigned i = 0; i < connected; i++)
        synced += tc_sync(&c[i], NULL) == 0;
    ok_eq(synced, CLIENTS, "every subscription in force");
    itest_connect(&pub, &b, 0);
    for (uint32_t k = 0; k < MSGS; k++)
        tc_pub(&pub, "all.news", &k, sizeof(k));
    for (unsigned i = 0; i < connected; i++) {
        unsigned got = 0;
        struct wire_frame f;

        for (uint32_t k = 0; k < MSGS && tc_recv(&c[i], &f, TC_TIMEOUT_MS) == 0; k++) {
            uint32_t v;

            memcpy(&v, f.payload, sizeof(v));
            got += f.type == WIRE_MSG && f.payload_len == 4 && v == k;
        }
        complete += got == MSGS;
    }
    ok_eq(complete, CLIENTS, "every client got every message in order");
    ok_eq(subscribed, CLIENTS, "every SUB sent");
    synced = 0;
    for (unsigned i = 0; i < connected; i++)
        synced += tc_sync(&c[i], NULL) == 0;
    ok_eq(synced, CLIENTS, "every client still served");
    for (unsigned i = 0; i < connected; i++)
        tc_close(&c[i]);
    tc_close(&pub);
    free(c);
    itest_stop(&b);
    return done_testing();
}
