/*
 * Choosing a responder: of two candidates with as many requests outstanding, the one on the
 * requester's core wins (a remote one costs two cross-core hops per request); a busier local one
 * loses to an idle remote one. A two-core broker, the requester and one responder on core 0, the
 * other responder on core 1, both in one group.
 */
#include "tests/broker/itest.h"

#define ROUNDS 20

/* The token of the request that arrives next at resp, or 0 when none does. */
static uint64_t take_request(struct tc *resp, uint64_t *id_out)
{
    struct wire_frame f = itest_next(resp, TC_TIMEOUT_MS);

    if (f.type != WIRE_MSG || !(f.flags & WIRE_F_REQUEST))
        return 0;
    *id_out = f.payload_len == 8 ? *(const uint64_t *)(const void *)f.payload : 0;
    return f.seq;
}

/* The id of the next REP at req, or 0 when none came. */
static uint64_t reply_id(struct tc *req)
{
    struct wire_frame f = itest_next(req, TC_TIMEOUT_MS);

    return f.type == WIRE_REP && f.flags == 0 ? f.id : 0;
}

int main(void)
{
    static const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct tc req, local, remote;
    uint64_t tok, held, got_id = 0;
    int served_local = 0, answered = 0;

    plan(7);
    itest_start(&b, args);
    itest_connect_on(&req, &b, 0);
    itest_connect_on(&local, &b, 0);
    itest_connect_on(&remote, &b, 1);
    tc_sub(&local, 1, "svc.pick", "g");
    tc_sub(&remote, 2, "svc.pick", "g");
    ok(tc_sync(&local, NULL) == 0 && tc_sync(&remote, NULL) == 0, "two responders in one group, on cores 0 and 1");

    for (uint64_t i = 1; i <= ROUNDS; i++) {
        tc_req(&req, i, "svc.pick", &i, sizeof(i), 5000);
        tok = take_request(&local, &got_id);
        if (tok == 0 || got_id != i)
            break;
        served_local++;
        tc_rep(&local, tok, 0, 0, "ok", 2);
        answered += reply_id(&req) == i;
    }
    ok_eq(served_local, ROUNDS, "one request at a time: each goes to the responder on the requester's core");
    ok_eq(answered, ROUNDS, "and each is answered");

    /* The local responder holds one: it is the busier of the two now. */
    uint64_t id = 100;
    tc_req(&req, id, "svc.pick", &id, sizeof(id), 5000);
    held = take_request(&local, &got_id);
    ok(held != 0 && got_id == 100, "the local responder takes a request and holds it");
    id = 101;
    tc_req(&req, id, "svc.pick", &id, sizeof(id), 5000);
    tok = take_request(&remote, &got_id);
    ok(tok != 0 && got_id == 101, "the next one goes to the idle responder on the other core");
    tc_rep(&remote, tok, 0, 0, "ok", 2);
    tc_rep(&local, held, 0, 0, "ok", 2);
    id = reply_id(&req);
    id += reply_id(&req) * 1000; /* either order: the remote one crosses cores twice */
    ok(id == 100 * 1000 + 101 || id == 101 * 1000 + 100, "both answered (%llu)", (unsigned long long)id);

    tc_close(&req);
    tc_close(&local);
    tc_close(&remote);
    itest_stop(&b);
    return done_testing();
}
