/*
 * Request/reply with requester and responder on different cores of a two-core broker. Which core
 * a connection landed on is read from its CONNACK client_id (core + 1 in bits 63..48); the test
 * keeps connecting until it has one connection on each core (itest_connect_on).
 */
#include "tests/broker/itest.h"

static uint64_t take_request(struct tc *resp)
{
    struct wire_frame f = itest_next(resp, TC_TIMEOUT_MS);

    return f.type == WIRE_MSG && (f.flags & WIRE_F_REQUEST) ? f.seq : 0;
}

int main(void)
{
    static const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct tc req, resp, stranger;
    struct wire_frame f;
    uint64_t tok;

    plan(11);
    itest_start(&b, args);
    itest_connect_on(&req, &b, 0);
    itest_connect_on(&resp, &b, 1);
    itest_connect_on(&stranger, &b, 0);
    ok(req.core == 0 && resp.core == 1, "requester on core 0, responder on core 1");
    tc_sub(&resp, 5, "calc.add", "calc");
    ok(tc_sync(&resp, NULL) == 0, "responder subscribed (PONG: in force on every core)");

    tc_req(&req, 100, "calc.add", "1+2", 3, 5000);
    tok = take_request(&resp);
    ok(tok != 0, "the request crossed to core 1");
    tc_rep(&resp, tok, 0, 0, "3", 1);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(f.type == WIRE_REP && f.id == 100 && f.flags == 0 && f.payload_len == 1 && f.payload[0] == '3',
       "the reply crossed back to core 0");

    tc_req(&req, 101, "calc.add", "x", 1, 5000);
    tok = take_request(&resp);
    tc_rep(&stranger, tok, 0, 0, "evil", 4);
    f = itest_next(&stranger, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_BAD_REPLY_TOKEN, false), "a reply from a connection on the requester's core: BAD_REPLY_TOKEN");
    tc_rep(&resp, tok, WIRE_F_APP_ERROR, 7, "div0", 4);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(f.type == WIRE_REP && f.id == 101 && f.flags == WIRE_F_APP_ERROR && f.aux == 7, "APP_ERROR crosses cores");
    tc_rep(&resp, tok, 0, 0, "again", 5);
    f = itest_next(&resp, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_BAD_REPLY_TOKEN, false), "a second reply from the other core: BAD_REPLY_TOKEN");

    tc_req(&req, 102, "calc.add", "x", 1, 150);
    take_request(&resp);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(f.type == WIRE_REP && f.id == 102 && f.flags == WIRE_F_ERROR && f.aux == TRPC_E_TIMEOUT, "TIMEOUT across cores");

    tc_req(&req, 103, "calc.add", "x", 1, 60000);
    ok(take_request(&resp) != 0, "a request the responder will not answer");
    tc_close(&resp);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(f.type == WIRE_REP && f.id == 103 && f.flags == WIRE_F_ERROR && f.aux == TRPC_E_RESPONDER_LOST,
       "responder on the other core disconnects: RESPONDER_LOST");
    tc_close(&req);
    tc_close(&stranger);
    itest_stop(&b);
    return done_testing();
}
