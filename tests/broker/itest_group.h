/*
 * Consumer groups over the raw test client: a durable SUB with policy headers, a PUB that waits
 * for its PUBACK, ACK and NACK, the next MSG or ERR. For the broker's integration tests of
 * consumer groups.
 */
#ifndef TRPC_TESTS_BROKER_ITEST_GROUP_H
#define TRPC_TESTS_BROKER_ITEST_GROUP_H

#include <stdio.h>
#include <string.h>

#include "tests/broker/itest.h"

/* SUB sid on pattern in durable group `name`, with up to 6 extra headers "key=value". */
static inline void sub_durable(struct tc *c, uint64_t sid, const char *pattern, const char *name, uint32_t window,
                               const char *const *kv)
{
    struct wire_header h[8];
    char keys[8][64];
    size_t n = 0;
    struct wire_out o = {.type = WIRE_SUB, .id = sid, .aux = window, .topic = pattern, .topic_len = strlen(pattern)};

    h[n++] = (struct wire_header){.key = ":durable", .key_len = 8, .val = (const uint8_t *)name, .val_len = (uint16_t)strlen(name)};
    for (; kv != NULL && *kv != NULL && n < 8; kv++) {
        const char *eq = strchr(*kv, '=');

        snprintf(keys[n], sizeof(keys[n]), "%.*s", (int)(eq - *kv), *kv);
        h[n] = (struct wire_header){.key = keys[n],
                                    .key_len = (uint16_t)strlen(keys[n]),
                                    .val = (const uint8_t *)eq + 1,
                                    .val_len = (uint16_t)strlen(eq + 1)};
        n++;
    }
    o.headers = h;
    o.header_count = n;
    if (tc_send(c, &o) != 0)
        BAIL_OUT("send SUB");
}

/* PUB with ACK_REQ, not waiting: tc_send's result. */
static inline int pub_ack_send(struct tc *c, uint64_t id, const char *topic, const char *payload)
{
    struct wire_out o = {.type = WIRE_PUB,
                         .flags = WIRE_F_ACK_REQ,
                         .id = id,
                         .topic = topic,
                         .topic_len = strlen(topic),
                         .payload = payload,
                         .payload_len = strlen(payload)};

    return tc_send(c, &o);
}

/* The same, waiting for its PUBACK, or the test bails out. */
static inline void pub_ack(struct tc *c, uint64_t id, const char *topic, const char *payload)
{
    struct wire_frame f;

    if (pub_ack_send(c, id, topic, payload) != 0)
        BAIL_OUT("send PUB");
    for (int i = 0; i < 100; i++) {
        f = itest_next(c, 5000);
        if (f.type == WIRE_PUBACK && f.id == id)
            return;
        if (f.type == 0 || (f.type == WIRE_ERR && f.id == id))
            break;
    }
    BAIL_OUT("no PUBACK for %s", topic);
}

static inline void settle(struct tc *c, uint8_t type, uint64_t sid, uint64_t seq, uint32_t delay)
{
    struct wire_out o = {.type = type, .id = sid, .seq = seq, .aux = delay};

    if (tc_send(c, &o) != 0)
        BAIL_OUT("send ACK/NACK");
}

/* The next MSG (other frames skipped), or type 0. */
static inline struct wire_frame next_msg(struct tc *c, int ms)
{
    struct wire_frame f;

    for (int i = 0; i < 100; i++) {
        f = itest_next(c, ms);
        if (f.type == 0 || f.type == WIRE_MSG || f.type == WIRE_ERR)
            return f;
    }
    memset(&f, 0, sizeof(f));
    return f;
}

#endif
