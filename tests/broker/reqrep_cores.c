/*
 * Request/reply with requester and responder on different cores of a two-core broker. Which core
 * a connection landed on is read from its CONNACK client_id (core + 1 in bits 63..48); the test
 * keeps connecting until it has one connection on each core (itest_connect_on).
 *
 * Twice: with direct sends (the default: the request and the reply are written by the core that
 * holds them, straight to the other core's idle connection; the stats line counts them) and with
 * --direct-sends=false (both go through the cross-core channels). With direct sends, one more case:
 * a requester whose output is backed up, so the responder's core claims the entry but cannot
 * write the reply itself and hands it to the requester's core.
 */
#include <sys/wait.h>

#include "tests/broker/itest.h"

#define FLOOD_MSGS 64
#define FLOOD_LEN  (60 * 1024)

static uint64_t take_request(struct tc *resp)
{
    struct wire_frame f = itest_next(resp, TC_TIMEOUT_MS);

    return f.type == WIRE_MSG && (f.flags & WIRE_F_REQUEST) ? f.seq : 0;
}

/* The requester's output is megabytes behind (a flood it does not read yet) when the reply comes:
 * the reply waits behind the flood and arrives whole after it. The responder's core claims the
 * entry and, the connection being busy, hands the reply back to the requester's core; it claims
 * only when that core sleeps, which a preempted thread may not, so the case is tried until the
 * broker's debug log shows a handback (every try must deliver correctly either way). */
static void backed_up_requester(const struct broker_proc *b, struct tc *resp, struct tc *pub)
{
    static uint8_t payload[FLOOD_LEN];
    unsigned tries = 0, good = 0;

    while (tries < 20 && broker_proc_log_count(b, "handed back by core 1") <= 0) {
        struct tc slow;
        struct wire_frame f;
        unsigned flood = 0;
        uint64_t tok;

        tries++;
        itest_connect_rcvbuf_on(&slow, b, 4096, 0);
        tc_sub(&slow, 9, "flood", NULL);
        tc_sync(&slow, NULL);
        for (int i = 0; i < FLOOD_MSGS; i++)
            tc_pub(pub, "flood", payload, sizeof(payload));
        tc_sync(pub, NULL);
        usleep(20000); /* core 0 goes to sleep with the flood stuck in the output */
        tc_req(&slow, 200, "calc.add", "2+2", 3, 20000);
        tok = take_request(resp);
        tc_rep(resp, tok, 0, 0, "4", 1);
        for (;;) {
            f = itest_next(&slow, TC_TIMEOUT_MS);
            if (f.type != WIRE_MSG || f.id != 9)
                break;
            flood++;
        }
        good += flood == FLOOD_MSGS && f.type == WIRE_REP && f.id == 200 && f.payload_len == 1 && f.payload[0] == '4';
        tc_close(&slow);
    }
    ok(good == tries, "a reply for a backed-up requester comes whole after its %u queued messages (%u of %u tries)", FLOOD_MSGS,
       good, tries);
    ok(broker_proc_log_count(b, "handed back by core 1") > 0, "the responder's core handed a claimed reply back (try %u)", tries);
}

static void run(bool direct)
{
    static const char *const on[] = {"--cores", "2", "--max-frame", "64k", "--log-level", "debug", NULL};
    static const char *const off[] = {"--cores", "2", "--max-frame", "64k", "--direct-sends=false", NULL};
    struct broker_proc b;
    struct tc req, resp, stranger;
    struct wire_frame f;
    uint64_t tok;
    int st;

    diag("direct sends %s", direct ? "on" : "off");
    itest_start(&b, direct ? on : off);
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

    if (direct)
        backed_up_requester(&b, &resp, &stranger);

    tc_req(&req, 103, "calc.add", "x", 1, 60000);
    ok(take_request(&resp) != 0, "a request the responder will not answer");
    tc_close(&resp);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(f.type == WIRE_REP && f.id == 103 && f.flags == WIRE_F_ERROR && f.aux == TRPC_E_RESPONDER_LOST,
       "responder on the other core disconnects: RESPONDER_LOST");
    tc_close(&req);
    tc_close(&stranger);
    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "broker exits 0 on SIGTERM (status %d)", st);
    ok(broker_proc_log_count(&b, "direct_sends=0 ") == (direct ? 0 : 1), "the stats line counts direct sends %s",
       direct ? "made" : "not made");
    ok(broker_proc_log_count(&b, "direct_handbacks=0 ") == (direct ? 0 : 1), "the stats line counts handbacks %s",
       direct ? "made" : "not made");
    broker_proc_stop(&b);
}

int main(void)
{
    plan(28);
    run(true);
    run(false);
    return done_testing();
}
