/*
 * Request/reply on one core (docs/protocol.md section 7): a reply goes back with the correlation
 * id; APP_ERROR passes through; NO_RESPONDERS at once; TIMEOUT at the deadline; a responder that
 * disconnects mid-request gives RESPONDER_LOST; a reply from the wrong connection, a second reply,
 * a late reply and a forged token each get a non-fatal BAD_REPLY_TOKEN; the pending table is
 * bounded (TOO_MANY_REQUESTS).
 */
#include "tests/broker/itest.h"

/* The responder reads the next request; returns its token (0 when none came). */
static uint64_t take_request(struct tc *resp, const char *want_payload)
{
    struct wire_frame f = itest_next(resp, TC_TIMEOUT_MS);

    if (f.type != WIRE_MSG || !(f.flags & WIRE_F_REQUEST) || f.seq == 0 || f.aux == 0)
        return 0;
    if (want_payload != NULL && (f.payload_len != strlen(want_payload) || memcmp(f.payload, want_payload, f.payload_len) != 0))
        return 0;
    return f.seq;
}

static bool is_rep(const struct wire_frame *f, uint64_t id, uint8_t flags, uint32_t aux)
{
    return f->type == WIRE_REP && f->id == id && f->flags == flags && f->aux == aux && f->seq == 0;
}

int main(void)
{
    /* One connection may fill the table here: the per-connection share is reqrep_client_limit's. */
    static const char *const args[] = {"--cores", "1", "--max-pending-requests", "4", "--max-pending-requests-per-client",
                                       "4",       NULL};
    struct broker_proc b;
    struct tc req, resp, other;
    struct wire_frame f;
    uint64_t tok;

    plan(21);
    itest_start(&b, args);
    itest_connect(&req, &b, 0);
    itest_connect(&resp, &b, 0);
    itest_connect(&other, &b, 0);
    tc_sub(&resp, 3, "svc.echo", "svc");
    tc_sync(&resp, NULL);

    tc_req(&req, 1, "svc.none", "x", 1, 0);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(is_rep(&f, 1, WIRE_F_ERROR, TRPC_E_NO_RESPONDERS), "no responder: REP ERROR NO_RESPONDERS at once");

    tc_req(&req, 2, "svc.echo", "ping", 4, 5000);
    tok = take_request(&resp, "ping");
    ok(tok != 0, "the responder gets MSG REQUEST with a token and the time left");
    tc_rep(&resp, tok, 0, 0, "pong", 4);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(is_rep(&f, 2, 0, 0) && f.payload_len == 4 && memcmp(f.payload, "pong", 4) == 0, "the reply reaches the requester");
    tc_rep(&resp, tok, 0, 0, "pong", 4);
    f = itest_next(&resp, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_BAD_REPLY_TOKEN, false), "a second reply: ERR BAD_REPLY_TOKEN, not fatal");

    tc_req(&req, 3, "svc.echo", "ping", 4, 5000);
    tok = take_request(&resp, NULL);
    tc_rep(&other, tok, 0, 0, "evil", 4);
    f = itest_next(&other, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_BAD_REPLY_TOKEN, false), "a reply from another connection: BAD_REPLY_TOKEN");
    tc_rep(&resp, tok ^ 0x5a5a, 0, 0, "x", 1);
    f = itest_next(&resp, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_BAD_REPLY_TOKEN, false), "a forged token: BAD_REPLY_TOKEN");
    tc_rep(&resp, tok, WIRE_F_APP_ERROR, 42, "nope", 4);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(is_rep(&f, 3, WIRE_F_APP_ERROR, 42) && f.payload_len == 4 && memcmp(f.payload, "nope", 4) == 0,
       "APP_ERROR and its message pass through; the foreign reply was dropped");

    tc_req(&req, 4, "svc.echo", "slow", 4, 200);
    tok = take_request(&resp, "slow");
    ok(tok != 0, "request with a 200 ms deadline delivered");
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(is_rep(&f, 4, WIRE_F_ERROR, TRPC_E_TIMEOUT), "no reply: REP ERROR TIMEOUT");
    tc_rep(&resp, tok, 0, 0, "late", 4);
    f = itest_next(&resp, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_BAD_REPLY_TOKEN, false), "a late reply: BAD_REPLY_TOKEN");
    ok(tc_sync(&resp, NULL) == 0 && tc_sync(&req, NULL) == 0, "both connections still served");

    /* The pending table holds 4: a fifth request is refused at once. */
    for (uint64_t id = 10; id < 14; id++)
        tc_req(&req, id, "svc.echo", "hold", 4, 60000);
    for (int i = 0; i < 4; i++)
        take_request(&resp, "hold");
    tc_req(&req, 14, "svc.echo", "more", 4, 60000);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(is_rep(&f, 14, WIRE_F_ERROR, TRPC_E_TOO_MANY_REQUESTS), "past max-pending-requests: REP ERROR TOO_MANY_REQUESTS");

    /* The responder dies holding four requests: each fails at once with RESPONDER_LOST. */
    tc_close(&resp);
    unsigned lost = 0;
    uint64_t ids = 0;
    for (int i = 0; i < 4; i++) {
        f = itest_next(&req, TC_TIMEOUT_MS);
        if (f.type == WIRE_REP && f.flags == WIRE_F_ERROR && f.aux == TRPC_E_RESPONDER_LOST && f.id >= 10 && f.id < 14) {
            lost++;
            ids |= 1u << (f.id - 10);
        }
    }
    ok(lost == 4 && ids == 0xf, "responder disconnect: REP ERROR RESPONDER_LOST for each of its requests");
    tc_req(&req, 20, "svc.echo", "x", 1, 0);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(is_rep(&f, 20, WIRE_F_ERROR, TRPC_E_NO_RESPONDERS), "its subscription is gone with it");

    /* Two responders, one busy with a request it does not answer: power of two choices sends
     * the next ones to the idle one. */
    struct tc r1, r2;
    itest_connect(&r1, &b, 0);
    itest_connect(&r2, &b, 0);
    tc_sub(&r1, 1, "p2c", "g");
    tc_sub(&r2, 1, "p2c", "g");
    tc_sync(&r1, NULL);
    tc_sync(&r2, NULL);
    tc_req(&req, 30, "p2c", "a", 1, 60000);
    struct tc *busy = NULL, *idle = NULL;
    if (tc_recv(&r1, &f, 2000) == 0) {
        busy = &r1;
        idle = &r2;
    } else if (tc_recv(&r2, &f, 2000) == 0) {
        busy = &r2;
        idle = &r1;
    }
    ok(busy != NULL && (f.flags & WIRE_F_REQUEST), "a group member got the first request");
    unsigned to_idle = 0;
    for (uint64_t id = 31; busy != NULL && id < 34; id++) {
        tc_req(&req, id, "p2c", "b", 1, 60000);
        tok = take_request(idle, "b");
        to_idle += tok != 0;
        tc_rep(idle, tok, 0, 0, "ok", 2);
        f = itest_next(&req, TC_TIMEOUT_MS);
        to_idle += is_rep(&f, id, 0, 0) ? 0 : 100;
    }
    ok_eq(to_idle, 3, "with two members, requests go to the one with fewer outstanding");
    ok(busy != NULL && tc_sync(busy, NULL) == 0, "the busy member got nothing more");
    tc_close(&r1);
    tc_close(&r2);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(is_rep(&f, 30, WIRE_F_ERROR, TRPC_E_RESPONDER_LOST), "the held request fails when its responder leaves");

    ok(tc_sync(&req, NULL) == 0, "requester still served");
    ok(tc_sync(&other, NULL) == 0, "other connection still served");
    tc_close(&req);
    tc_close(&other);
    itest_stop(&b);
    return done_testing();
}
