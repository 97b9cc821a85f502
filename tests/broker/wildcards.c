/* The wildcard table of docs/protocol.md section 5, over the wire: one subscription per pattern,
 * one publish per topic, and exactly the matching subscriptions get it. */
#include "tests/broker/itest.h"

static const char *const patterns[] = {"a.b", "a.*", "a.>", "*.b.>", ">"};
#define NPAT (sizeof(patterns) / sizeof(patterns[0]))

static const struct {
    const char *topic;
    unsigned mask; /* bit i: patterns[i] matches */
} cases[] = {
    {"a.b", 0x01 | 0x02 | 0x04 | 0x10},
    {"a", 0x10},
    {"a.b.c", 0x04 | 0x08 | 0x10},
    {"x.b.c", 0x08 | 0x10},
    {"x.b", 0x10},
    {"b.c", 0x10},
    {"a.b.c.d", 0x04 | 0x08 | 0x10},
    {"a.x", 0x02 | 0x04 | 0x10},
};
#define NCASE (sizeof(cases) / sizeof(cases[0]))

int main(void)
{
    struct broker_proc b;
    struct tc c;
    int ret = 0;

    plan((int)NCASE + 2);
    itest_start(&b, NULL);
    itest_connect(&c, &b, 0);
    for (unsigned i = 0; i < NPAT; i++)
        ret |= tc_sub(&c, i + 1, patterns[i], NULL);
    ok(ret == 0 && tc_sync(&c, NULL) == 0, "five subscriptions");
    /* One connection publishes and subscribes: its own messages come back before the PONG. */
    for (unsigned k = 0; k < NCASE; k++) {
        struct wire_frame f;
        unsigned got = 0, dup = 0, wrong = 0;
        uint64_t id = 0;

        tc_pub(&c, cases[k].topic, "x", 1);
        tc_send(&c, &(struct wire_out){.type = WIRE_PING, .id = 99});
        while (tc_recv(&c, &f, TC_TIMEOUT_MS) == 0 && f.type == WIRE_MSG) {
            id = f.id;
            if (id < 1 || id > NPAT || f.topic_len != strlen(cases[k].topic) || memcmp(f.topic, cases[k].topic, f.topic_len) != 0)
                wrong++;
            else if (got & (1u << (id - 1)))
                dup++;
            else
                got |= 1u << (id - 1);
        }
        if (!ok(f.type == WIRE_PONG && got == cases[k].mask && dup == 0 && wrong == 0, "%s reaches exactly its patterns",
                cases[k].topic))
            diag("got mask 0x%x, want 0x%x, dup %u wrong %u", got, cases[k].mask, dup, wrong);
    }
    tc_close(&c);
    itest_stop(&b);
    return done_testing();
}
