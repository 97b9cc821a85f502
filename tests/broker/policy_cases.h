/*
 * Delivery policy headers on a SUB, good and bad, shared by the policy tests (the parser alone,
 * the broker over the raw client, the broker through libtrpc). A case is one header on a SUB of
 * `pattern`; a refused one names its header in the refusal. docs/protocol.md, "Delivery policy".
 */
#ifndef TRPC_TESTS_BROKER_POLICY_CASES_H
#define TRPC_TESTS_BROKER_POLICY_CASES_H

#include <stdbool.h>

struct policy_case {
    const char *pattern;
    const char *key;
    const char *val;
    bool good;
};

/* 2 + 4 * 64 = 258 bytes: above the broker's default max_topic (256). */
#define POLICY_A64        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define POLICY_LONG_TOPIC "l." POLICY_A64 POLICY_A64 POLICY_A64 POLICY_A64

static const struct policy_case policy_cases[] = {
    {"p.t", "trpc-durable", "true", true},
    {"p.t", "trpc-durable", "false", false},
    {"p.t", "trpc-durable", "TRUE", false},
    {"p.t", "trpc-durable", "", false},
    {"p.t", "trpc-durable", "true ", false},

    {"p.t", "trpc-max-deliveries", "1", true},
    {"p.t", "trpc-max-deliveries", "5", true},
    {"p.t", "trpc-max-deliveries", "2147483647", true},
    {"p.t", "trpc-max-deliveries", "0", false},
    {"p.t", "trpc-max-deliveries", "2147483648", false},
    {"p.t", "trpc-max-deliveries", "99999999999999999999999", false},
    {"p.t", "trpc-max-deliveries", "-1", false},
    {"p.t", "trpc-max-deliveries", "+5", false},
    {"p.t", "trpc-max-deliveries", " 5", false},
    {"p.t", "trpc-max-deliveries", "5x", false},
    {"p.t", "trpc-max-deliveries", "", false},

    {"p.t", "trpc-backoff", "100,2,30000", true},
    {"p.t", "trpc-backoff", "1,1,1", true},
    {"p.t", "trpc-backoff", "1000,1.5,3600000", true},
    {"p.t", "trpc-backoff", "7,1.25,7", true},
    {"p.t", "trpc-backoff", "5,10,5", true},
    {"p.t", "trpc-backoff", "100,100,2147483647", true},
    {"p.t", "trpc-backoff", "", false},
    {"p.t", "trpc-backoff", "100", false},
    {"p.t", "trpc-backoff", "100,2", false},
    {"p.t", "trpc-backoff", "100,2,", false},
    {"p.t", "trpc-backoff", "100,2,30000,1", true},
    {"p.t", "trpc-backoff", "100,2,30000,0", true},
    {"p.t", "trpc-backoff", "100,2,30000,0.25", true},
    {"p.t", "trpc-backoff", "100,2,30000,1.0", true},
    {"p.t", "trpc-backoff", "100,2,30000,1.5", false},
    {"p.t", "trpc-backoff", "100,2,30000,", false},
    {"p.t", "trpc-backoff", "100,2,30000,0.2,1", false},
    {"p.t", "trpc-backoff", "100,2,30000,-0.2", false},
    {"p.t", "trpc-backoff", "100,2,30000,.2", false},
    {"p.t", "trpc-backoff", "0,2,10", false},
    {"p.t", "trpc-backoff", "100,0.5,1000", false},
    {"p.t", "trpc-backoff", "100,0,1000", false},
    {"p.t", "trpc-backoff", "100,100.5,1000", false},
    {"p.t", "trpc-backoff", "100,-2,1000", false},
    {"p.t", "trpc-backoff", "100,1e1,1000", false},
    {"p.t", "trpc-backoff", "100,2.,1000", false},
    {"p.t", "trpc-backoff", "100,.5,1000", false},
    {"p.t", "trpc-backoff", "100,inf,1000", false},
    {"p.t", "trpc-backoff", "100,nan,1000", false},
    {"p.t", "trpc-backoff", "100, 2,1000", false},
    {"p.t", "trpc-backoff", "100,2,50", false},
    {"p.t", "trpc-backoff", "100ms,2,30s", false},
    {"p.t", "trpc-backoff", "2147483648,2,2147483648", false},

    {"p.t", "trpc-dlq", "p.t.dlq", true},
    {"p.*", "trpc-dlq", "dead.p", true},
    {"p.t", "trpc-dlq", "p.t", false},
    {"p.>", "trpc-dlq", "p.dead", false},
    {"*.t", "trpc-dlq", "x.t", false},
    {"p.t", "trpc-dlq", "", false},
    {"p.t", "trpc-dlq", "a..b", false},
    {"p.t", "trpc-dlq", "a.*", false},
    {"p.t", "trpc-dlq", "a.>", false},
    {"p.t", "trpc-dlq", "a b", false},
    {"p.t", "trpc-dlq", POLICY_LONG_TOPIC, false},

    {"p.t", "trpc-start", "all", true},
    {"p.t", "trpc-start", "seq:12", true},
    {"p.t", "trpc-start", "time:2026-12-05T10:00:00Z", true},
    {"p.t", "trpc-start", "time:2026-12-05T10:00:00.125+01:30", true},
    {"p.t", "trpc-start", "time:2026-12-05t10:00:00z", true},
    {"p.t", "trpc-start", "time:2026-12-05T10:00:00", false},
    {"p.t", "trpc-start", "time:2026-13-05T10:00:00Z", false},
    {"p.t", "trpc-start", "time:2026-12-05 10:00:00Z", false},
    {"p.t", "trpc-start", "time:1969-12-31T23:59:59Z", false},
    {"p.t", "trpc-start", "time:2026-12-05T10:00:00.Z", false},
    {"p.t", "trpc-start", "time:yesterday", false},
    {"p.t", "trpc-start", "time:2028-02-29T00:00:00Z", true},
    {"p.t", "trpc-start", "time:2027-02-29T00:00:00Z", false},
    {"p.t", "trpc-start", "time:2026-04-31T00:00:00Z", false},
    {"p.t", "trpc-start", "time:2554-01-01T00:00:00Z", true},
    {"p.t", "trpc-start", "time:2600-01-01T00:00:00Z", false},
    {"p.t", "trpc-start", "seq:0", false},

    {"p.t", "trpc-jitter", "5", false},
    {"p.t", "trpc-", "x", false},
    {"p.t", "x-trace", "anything", true},
    {"p.t", "trpcdurable", "no", true},
};

#define POLICY_NCASES (sizeof(policy_cases) / sizeof(policy_cases[0]))

#endif
