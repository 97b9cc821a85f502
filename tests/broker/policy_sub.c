/* The broker checks the delivery policy of every SUB (docs/protocol.md, "Delivery policy"), over
 * the raw client: each case of policy_cases.h is accepted (nothing comes back) or refused with a
 * non-fatal ERR BAD_POLICY for that SUB whose text names the header; the connection lives on; a
 * refused SUB made no subscription and its id is free again; on a plain subscription an accepted
 * policy is not enforced (deliveries carry no ACK_REQUIRED: only a :durable consumer group enforces
 * it, tests/broker/group_delivery); ":durable" on a pattern no stream covers is NO_STREAM; members of
 * one plain queue group may differ in policy (a plain queue group keeps none). */
#include "tests/broker/itest.h"
#include "tests/broker/policy_cases.h"

#define SID(i) ((uint64_t)(i) + 1)

static int sub_with(struct tc *c, uint64_t sid, const char *pattern, const struct wire_header *h, size_t n)
{
    struct wire_out o = {
        .type = WIRE_SUB, .id = sid, .topic = pattern, .topic_len = strlen(pattern), .headers = h, .header_count = n};

    return tc_send(c, &o);
}

static struct wire_header hdr(const char *key, const char *val)
{
    return (struct wire_header){
        .key = key, .key_len = (uint16_t)strlen(key), .val = (const uint8_t *)val, .val_len = (uint16_t)strlen(val)};
}

static void every_case(struct tc *c)
{
    for (size_t i = 0; i < POLICY_NCASES; i++) {
        const struct policy_case *pc = &policy_cases[i];
        struct wire_header h = hdr(pc->key, pc->val);
        unsigned skipped = 0;
        struct wire_frame f;

        if (sub_with(c, SID(i), pc->pattern, &h, 1) != 0)
            BAIL_OUT("send SUB");
        if (pc->good) {
            ok(tc_sync(c, &skipped) == 0 && skipped == 0, "%s: %s \"%.20s\" accepted (%u frames before the PONG)", pc->pattern,
               pc->key, pc->val, skipped);
            continue;
        }
        f = itest_next(c, TC_TIMEOUT_MS);
        ok(itest_is_err(&f, TRPC_E_BAD_POLICY, false) && f.id == SID(i) && f.payload_len > strlen(pc->key) &&
               memcmp(f.payload, pc->key, strlen(pc->key)) == 0,
           "%s: %s \"%.20s\" refused: %.*s", pc->pattern, pc->key, pc->val, (int)f.payload_len, (const char *)f.payload);
    }
}

/* Publishes on p.t and checks that exactly the accepted subscriptions matching it get it. */
static void deliveries(struct tc *c, struct tc *pub)
{
    size_t want = 0, got = 0, wrong = 0, acked = 0;
    struct wire_frame f;

    for (size_t i = 0; i < POLICY_NCASES; i++)
        want += policy_cases[i].good && strcmp(policy_cases[i].pattern, "p.*") != 0 ? 1 : 0;
    want += 1; /* p.* matches p.t too */
    ok_eq(tc_pub(pub, "p.t", "m", 1), 0, "publish on p.t");
    ok_eq(tc_sync(pub, NULL), 0, "publisher synced");
    while (got + wrong < want && tc_recv(c, &f, TC_TIMEOUT_MS) == 0) {
        if (f.type != WIRE_MSG || f.id == 0 || f.id > POLICY_NCASES || !policy_cases[f.id - 1].good)
            wrong++;
        else
            got++;
        acked += (f.flags & WIRE_F_ACK_REQUIRED) != 0;
    }
    ok(tc_sync(c, NULL) == 0, "nothing else came");
    ok(got == want && wrong == 0, "every accepted subscription got the message, no refused one did (%zu of %zu, %zu wrong)", got,
       want, wrong);
    ok_eq(acked, 0, "no delivery asks for an ACK: on a plain subscription the policy is accepted, not enforced");
}

static void refused_leaves_nothing(struct tc *c)
{
    size_t bad = 0;
    struct wire_frame f;
    unsigned skipped = 0;

    while (policy_cases[bad].good)
        bad++;
    ok_eq(tc_sub(c, SID(bad), "q.t", NULL), 0, "the id of a refused SUB is used again");
    ok(tc_sync(c, &skipped) == 0 && skipped == 0, "without DUPLICATE_SUBSCRIPTION");
    ok_eq(tc_unsub(c, SID(bad)), 0, "and unsubscribed");
    ok(tc_sync(c, &skipped) == 0 && skipped == 0, "cleanly");
    ok_eq(tc_unsub(c, SID(bad)), 0, "unsubscribing again");
    f = itest_next(c, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_UNKNOWN_SUBSCRIPTION, false), "is UNKNOWN_SUBSCRIPTION: the refused SUB had made nothing");
}

static void several(struct tc *c)
{
    struct wire_header twice[3] = {hdr("trpc-durable", "true"), hdr("x", "y"), hdr("trpc-durable", "true")};
    struct wire_header mixed[3] = {hdr("trpc-max-deliveries", "3"), hdr("trpc-dlq", "r.dead"), hdr("trpc-backoff", "9,1,8")};
    struct wire_header durable = hdr(":durable", "orders");
    struct wire_frame f;

    sub_with(c, 900, "r.t", twice, 3);
    f = itest_next(c, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_BAD_POLICY, false) && f.id == 900, "a key given twice is refused: %.*s", (int)f.payload_len,
       (const char *)f.payload);
    sub_with(c, 901, "r.t", mixed, 3);
    f = itest_next(c, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_BAD_POLICY, false) && f.id == 901 && f.payload_len > 12 &&
           memcmp(f.payload, "trpc-backoff", 12) == 0,
       "one bad header among good ones refuses the SUB, naming it: %.*s", (int)f.payload_len, (const char *)f.payload);
    sub_with(c, 902, "r.t", &durable, 1);
    f = itest_next(c, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_NO_STREAM, false) && f.id == 902,
       "a :durable consumer where no stream covers the pattern: NO_STREAM");
}

/* A plain queue group (no :durable) keeps no policy: its members may differ. */
static void group_members_differ(struct tc *a, struct tc *b)
{
    struct wire_header ga[2] = {hdr(":group", "workers"), hdr("trpc-max-deliveries", "3")};
    struct wire_header gb[2] = {hdr(":group", "workers"), hdr("trpc-max-deliveries", "9")};
    unsigned skipped = 0;

    sub_with(a, 1000, "g.t", ga, 2);
    ok(tc_sync(a, &skipped) == 0 && skipped == 0, "a group member with max-deliveries 3");
    sub_with(b, 1000, "g.t", gb, 2);
    ok(tc_sync(b, &skipped) == 0 && skipped == 0, "another member with 9 is accepted too (a plain queue group keeps no policy)");
}

int main(void)
{
    static const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct tc c, pub, other;

    itest_start(&b, args);
    itest_connect(&c, &b, 0);
    itest_connect(&pub, &b, 0);
    itest_connect(&other, &b, 0);
    every_case(&c);
    ok_eq(tc_sync(&c, NULL), 0, "the connection lives on after every refusal");
    deliveries(&c, &pub);
    refused_leaves_nothing(&c);
    several(&c);
    group_members_differ(&c, &other);
    tc_close(&c);
    tc_close(&pub);
    tc_close(&other);
    itest_stop(&b);
    return done_testing();
}
