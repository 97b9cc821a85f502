/*
 * One connection cannot take a core's whole pending request table (max-pending-requests-per-client,
 * a quarter of max-pending-requests by default): a client that is its own responder and never
 * answers gets REP ERROR TOO_MANY_REQUESTS naming its own limit once it holds its share, and
 * another client of the core is still served. The share is given back when an entry ends, by a
 * reply or a timeout (and the requester's close, which the broker's assertions check).
 */
#include "tests/broker/itest.h"

#define TABLE 8 /* max-pending-requests; the default share is TABLE / 4 */
#define SHARE 2

static bool is_rep(const struct wire_frame *f, uint64_t id, uint8_t flags, uint32_t aux)
{
    return f->type == WIRE_REP && f->id == id && f->flags == flags && f->aux == aux && f->seq == 0;
}

static bool says(const struct wire_frame *f, const char *what)
{
    return f->payload_len >= strlen(what) && memmem(f->payload, f->payload_len, what, strlen(what)) != NULL;
}

/* The hog sends ids [first, first + n) to itself; returns the tokens of the requests it was sent
 * (tok[]) and counts the refusals naming the connection's limit. */
static unsigned hog_requests(struct tc *hog, uint64_t first, unsigned n, uint64_t *tok, unsigned *ntok, uint32_t timeout_ms)
{
    unsigned refused = 0;

    for (unsigned i = 0; i < n; i++)
        tc_req(hog, first + i, "hog.svc", "x", 1, timeout_ms);
    for (unsigned i = 0; i < n; i++) {
        struct wire_frame f = itest_next(hog, TC_TIMEOUT_MS);

        if (f.type == WIRE_MSG && (f.flags & WIRE_F_REQUEST) && *ntok < TABLE)
            tok[(*ntok)++] = f.seq;
        else if (f.type == WIRE_REP && f.flags == WIRE_F_ERROR && f.aux == TRPC_E_TOO_MANY_REQUESTS &&
                 says(&f, "max-pending-requests-per-client"))
            refused++;
    }
    return refused;
}

int main(void)
{
    static const char *const args[] = {"--cores", "1", "--max-pending-requests", "8", NULL};
    struct broker_proc b;
    struct tc hog, req, resp;
    struct wire_frame f;
    uint64_t tok[TABLE];
    unsigned ntok = 0;

    _Static_assert(TABLE / 4 == SHARE, "the default share");
    plan(9);
    itest_start(&b, args);
    itest_connect(&hog, &b, 0);
    itest_connect(&req, &b, 0);
    itest_connect(&resp, &b, 0);
    tc_sub(&hog, 1, "hog.svc", "hog");
    tc_sub(&resp, 1, "svc", "svc");
    tc_sync(&hog, NULL);
    tc_sync(&resp, NULL);

    /* The whole table's worth of requests to itself, answered by nobody. */
    ok(hog_requests(&hog, 1, TABLE, tok, &ntok, 60000) == TABLE - SHARE && ntok == SHARE,
       "a connection holds %u pending requests at most; the rest: TOO_MANY_REQUESTS naming its own limit", SHARE);

    tc_req(&req, 100, "svc", "ping", 4, 60000);
    f = itest_next(&resp, TC_TIMEOUT_MS);
    ok(f.type == WIRE_MSG && (f.flags & WIRE_F_REQUEST), "another client's request still gets a slot");
    tc_rep(&resp, f.seq, 0, 0, "pong", 4);
    f = itest_next(&req, TC_TIMEOUT_MS);
    ok(is_rep(&f, 100, 0, 0), "and its reply");

    /* A reply gives a slot back. */
    tc_rep(&hog, tok[0], 0, 0, "self", 4);
    f = itest_next(&hog, TC_TIMEOUT_MS);
    ok(is_rep(&f, 1, 0, 0), "the hog answers one of its own requests");
    ntok = 0;
    ok(hog_requests(&hog, 20, 2, tok, &ntok, 60000) == 1 && ntok == 1, "which frees one slot of its share, not more");

    /* A timeout gives it back too (the hog holds tok[0] of this round and the second of the first). */
    tc_rep(&hog, tok[0], 0, 0, "self", 4);
    f = itest_next(&hog, TC_TIMEOUT_MS);
    ntok = 0;
    ok(is_rep(&f, 20, 0, 0) && hog_requests(&hog, 30, 1, tok, &ntok, 100) == 0 && ntok == 1, "a short request takes the slot");
    f = itest_next(&hog, TC_TIMEOUT_MS);
    ok(is_rep(&f, 30, WIRE_F_ERROR, TRPC_E_TIMEOUT), "and times out");
    ntok = 0;
    ok(hog_requests(&hog, 40, 2, tok, &ntok, 60000) == 1 && ntok == 1, "after which the slot is free again");

    tc_close(&hog);
    tc_close(&req);
    tc_close(&resp);
    itest_stop(&b);
    return done_testing();
}
