/*
 * A responder that unsubscribes and then disconnects: the requests it had received and not
 * answered fail with RESPONDER_LOST at its close (docs/protocol.md 7, step 4), not TIMEOUT at their
 * deadline, whether or not it kept other subscriptions; between the UNSUB and the close it may
 * still answer them. On one core, and across two (requester on core 0, responder on core 1).
 */
#include "tests/broker/itest.h"

static uint64_t take_request(struct tc *resp)
{
    struct wire_frame f = itest_next(resp, TC_TIMEOUT_MS);

    return f.type == WIRE_MSG && (f.flags & WIRE_F_REQUEST) ? f.seq : 0;
}

/* The deadline (60 s) is far past what itest_next waits: a REP within it is not a TIMEOUT. */
static void unsub_then_close(const struct broker_proc *b, struct tc *req, unsigned resp_core, bool keep_other)
{
    struct tc resp;
    struct wire_frame f;
    uint64_t tok1, tok2;

    itest_connect_on(&resp, b, resp_core);
    tc_sub(&resp, 1, "svc.work", "svc");
    if (keep_other)
        tc_sub(&resp, 2, "news", NULL);
    tc_sync(&resp, NULL);
    tc_req(req, 1, "svc.work", "a", 1, 60000);
    tok1 = take_request(&resp);
    tc_req(req, 2, "svc.work", "b", 1, 60000);
    tok2 = take_request(&resp);
    ok(tok1 != 0 && tok2 != 0, "the responder holds two requests");

    tc_unsub(&resp, 1);
    tc_sync(&resp, NULL); /* the UNSUB is in force on every core */
    tc_rep(&resp, tok1, 0, 0, "A", 1);
    f = itest_next(req, TC_TIMEOUT_MS);
    ok(f.type == WIRE_REP && f.id == 1 && f.flags == 0 && f.payload_len == 1 && f.payload[0] == 'A',
       "after its UNSUB it still answers a request it received");

    tc_close(&resp);
    f = itest_next(req, TC_TIMEOUT_MS);
    ok(f.type == WIRE_REP && f.id == 2 && f.flags == WIRE_F_ERROR && f.aux == TRPC_E_RESPONDER_LOST,
       "then it closes%s: the other one fails with RESPONDER_LOST at once (got type %u aux %u)",
       keep_other ? " (with another subscription left)" : "", f.type, f.aux);
}

static void run(const char *cores)
{
    const char *const args[] = {"--cores", cores, NULL};
    unsigned resp_core = strcmp(cores, "1") == 0 ? 0 : 1;
    struct broker_proc b;
    struct tc req;

    diag("%s core(s)", cores);
    itest_start(&b, args);
    itest_connect_on(&req, &b, 0);
    unsub_then_close(&b, &req, resp_core, false);
    unsub_then_close(&b, &req, resp_core, true);
    tc_close(&req);
    itest_stop(&b);
}

int main(void)
{
    plan(14);
    run("1");
    run("2");
    return done_testing();
}
