/*
 * SIGTERM with requests pending (issue 14): the broker promises one REP for each REQ it accepted
 * (docs/protocol.md section 7), so before its ERR SHUTTING_DOWN and the close, a requester gets
 * REP ERROR SHUTTING_DOWN for each request a responder held without answering. On one core, and
 * on two with the requester and the responder on either core (then whichever core stops first,
 * the answer is the same), with direct sends and without.
 */
#include <signal.h>

#include "tests/broker/itest.h"

#define NREQ 5

struct setup {
    const char *cores;
    unsigned req_core, resp_core;
    bool direct;
};

static void run(const struct setup *su)
{
    const char *const args[] = {"--cores", su->cores, su->direct ? "--direct-sends=true" : "--direct-sends=false", NULL};
    struct broker_proc b;
    struct tc req, resp;
    struct wire_frame f;
    unsigned reps[NREQ] = {0}, taken = 0, good = 0, bad = 0;
    bool shut = false;
    int st;

    diag("%s core(s): requester on core %u, responder on core %u, direct sends %s", su->cores, su->req_core, su->resp_core,
         su->direct ? "on" : "off");
    itest_start(&b, args);
    itest_connect_on(&resp, &b, su->resp_core);
    itest_connect_on(&req, &b, su->req_core);
    tc_sub(&resp, 1, "svc.hold", "svc");
    tc_sync(&resp, NULL);
    for (uint64_t id = 1; id <= NREQ; id++)
        tc_req(&req, id, "svc.hold", "x", 1, 60000);
    /* Each one reached the responder: the broker holds a pending entry for it. */
    for (int i = 0; i < NREQ; i++) {
        f = itest_next(&resp, TC_TIMEOUT_MS);
        taken += f.type == WIRE_MSG && (f.flags & WIRE_F_REQUEST) && f.seq != 0;
    }
    ok(taken == NREQ, "the responder holds %u requests unanswered", taken);
    ok(kill(b.pid, SIGTERM) == 0, "SIGTERM");
    while (tc_recv(&req, &f, TC_TIMEOUT_MS) == 0) {
        if (f.type != WIRE_REP) {
            shut = itest_is_err(&f, TRPC_E_SHUTTING_DOWN, true);
            break;
        }
        if (f.id >= 1 && f.id <= NREQ && f.flags == WIRE_F_ERROR && f.aux == TRPC_E_SHUTTING_DOWN)
            reps[f.id - 1]++;
        else
            bad++;
    }
    for (int i = 0; i < NREQ; i++)
        good += reps[i] == 1;
    ok(good == NREQ && bad == 0, "each request: exactly one REP ERROR SHUTTING_DOWN (%u of %u, %u other REPs)", good, NREQ, bad);
    ok(shut, "then ERR FATAL SHUTTING_DOWN");
    ok(tc_wait_eof(&req, TC_TIMEOUT_MS), "then EOF");
    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "broker exited 0 (status %d)", st);
    tc_close(&req);
    tc_close(&resp);
    broker_proc_stop(&b);
}

int main(void)
{
    static const struct setup setups[] = {
        {"1", 0, 0, true}, {"2", 0, 1, true}, {"2", 1, 0, true}, {"2", 0, 1, false}, {"2", 1, 1, true},
    };
    size_t n = sizeof(setups) / sizeof(setups[0]);

    plan((int)n * 6);
    for (size_t i = 0; i < n; i++)
        run(&setups[i]);
    return done_testing();
}
