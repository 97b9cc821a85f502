/*
 * Direct publishes (src/route_direct.c): a publisher on core 0 of a two-core broker, subscribers
 * on core 1, which sleeps, so core 0 writes their MSG frames itself. Every way the frames can
 * leave is driven and checked for order and completeness:
 *   - written directly: one connection with two subscriptions matching each message;
 *   - pushed before a request to the same connection (a REQ keeps its place among the MSGs), and
 *     a request read in the same receive as the publish after it (staged, so no frames);
 *   - pushed behind a short write to a connection that reads slowly (small receive buffer);
 *   - a batch of copies instead: more connections than ROUTE_DIRECT_CONNS (after frames for one of
 *     them in the same iteration), a message larger than ROUTE_DIRECT_BYTES;
 * and the delivery counters of core 1's subscriptions and connection (subs.list, clients.list)
 * count what core 0 wrote. Then once more with --direct-sends=false, where nothing goes directly.
 */
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "tests/broker/itest_admin.h"

#define STREAM_MSGS 3000
#define ROUNDS      200
#define CORKED      150
#define SLOW_MSGS   1400 /* 12 MB: more than the kernel takes into a socket (tcp_wmem's 4 MB) */
#define SLOW_LEN    8192
#define FAN_CONNS   6
#define FAN_MSGS    500
#define BIG_LEN     (1100 * 1024) /* above ROUTE_DIRECT_BYTES */

static uint8_t payload[BIG_LEN];

/* Frames sent while corked leave in one segment, so the broker reads them in one receive. */
static void cork(struct tc *c, int on)
{
    setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

/* Payload i: its index, then filler up to a length that varies with it. */
static size_t make(uint32_t i, size_t base)
{
    memcpy(payload, &i, sizeof(i));
    return base + i % 700;
}

static uint32_t index_of(const struct wire_frame *f)
{
    uint32_t v = UINT32_MAX;

    if (f->payload_len >= sizeof(v))
        memcpy(&v, f->payload, sizeof(v));
    return v;
}

/* Reads n MSG frames of subscription sid with indexes from..from+n-1 in order; how many were right. */
static unsigned expect_run(struct tc *c, uint64_t sid, uint32_t from, unsigned n)
{
    unsigned good = 0;

    for (unsigned k = 0; k < n; k++) {
        struct wire_frame f = itest_next(c, TC_TIMEOUT_MS);

        if (f.type != WIRE_MSG)
            break;
        good += f.id == sid && index_of(&f) == from + k;
    }
    return good;
}

/* The stream: each message on d.x reaches both subscriptions, each in publish order. */
static void stream(struct tc *pub, struct tc *sub)
{
    uint32_t next[3] = {0};
    unsigned got = 0, bad = 0;

    for (uint32_t i = 0; i < STREAM_MSGS; i++)
        if (tc_pub(pub, "d.x", payload, make(i, 8)) != 0)
            BAIL_OUT("publish");
    while (got < 2 * STREAM_MSGS) {
        struct wire_frame f = itest_next(sub, TC_TIMEOUT_MS);

        if (f.type != WIRE_MSG)
            break;
        got++;
        if ((f.id != 1 && f.id != 2) || f.payload_len != make(index_of(&f), 8) || index_of(&f) != next[f.id]++)
            bad++;
    }
    ok(got == 2 * STREAM_MSGS && bad == 0, "%u messages reach both subscriptions, whole and in order (got %u, %u wrong)",
       STREAM_MSGS, got, bad);
}

/* PUB, REQ, PUB to the same connection, ROUNDS times: the REQ stays between the MSGs. */
static void with_requests(struct tc *pub, struct tc *sub)
{
    unsigned good = 0;

    for (uint32_t i = 0; i < ROUNDS; i++) {
        tc_pub(pub, "d.x", payload, make(i, 8));
        tc_req(pub, 1000 + i, "svc", payload, make(i, 8), 60000);
        tc_pub(pub, "d.x", payload, make(i, 8));
    }
    for (uint32_t i = 0; i < ROUNDS; i++) {
        unsigned before = 0, after = 0;
        bool req = false;

        /* Two MSGs (subscriptions 1 and 2), the request (3), two MSGs, all with index i. */
        for (int k = 0; k < 5; k++) {
            struct wire_frame f = itest_next(sub, TC_TIMEOUT_MS);

            if (f.type != WIRE_MSG || index_of(&f) != i)
                break;
            if (f.flags & WIRE_F_REQUEST)
                req = f.id == 3 && before == 2;
            else if (req)
                after++;
            else
                before++;
        }
        good += req && before == 2 && after == 2;
    }
    ok_eq(good, ROUNDS, "a request between two publishes reaches the subscriber between their MSGs");
}

/* REQ then PUB in one receive: the request is staged when the copy comes, so the copy goes
 * behind it in the channel, never as frames written before it. */
static void request_first(struct tc *pub, struct tc *sub)
{
    unsigned good = 0;

    for (uint32_t i = 0; i < CORKED; i++) {
        cork(pub, 1);
        tc_req(pub, 5000 + i, "svc", payload, make(i, 8), 60000);
        tc_pub(pub, "d.x", payload, make(i, 8));
        cork(pub, 0);
        usleep(2000); /* core 1 goes back to sleep */
    }
    for (uint32_t i = 0; i < CORKED; i++) {
        struct wire_frame f = itest_next(sub, TC_TIMEOUT_MS);
        bool req = f.type == WIRE_MSG && (f.flags & WIRE_F_REQUEST) && f.id == 3 && index_of(&f) == i;
        unsigned msgs = 0;

        for (int k = 0; k < 2; k++) {
            f = itest_next(sub, TC_TIMEOUT_MS);
            msgs += f.type == WIRE_MSG && !(f.flags & WIRE_F_REQUEST) && index_of(&f) == i;
        }
        good += req && msgs == 2;
    }
    ok_eq(good, CORKED, "a request and a publish read together reach the subscriber in that order");
}

/* A connection that reads slowly: the first write is short, the rest waits behind it. */
static void slow_reader(const struct broker_proc *b, struct tc *pub)
{
    struct tc slow;
    unsigned good;

    itest_connect_rcvbuf_on(&slow, b, 4096, 1);
    tc_sub(&slow, 7, "slow", NULL);
    tc_sync(&slow, NULL);
    for (uint32_t i = 0; i < SLOW_MSGS; i++)
        tc_pub(pub, "slow", payload, make(i, SLOW_LEN));
    tc_sync(pub, NULL);
    usleep(50000); /* the socket is full, the rest queued on core 1 or in the gate */
    good = expect_run(&slow, 7, 0, SLOW_MSGS);
    ok_eq(good, SLOW_MSGS, "a reader with a full socket gets every message in order");
    tc_close(&slow);
}

/*
 * More connections on core 1 than core 0 writes to in an iteration: fa goes to c[0] alone (frames),
 * fb to all FAN_CONNS (a batch of copies), alternating within one receive, so c[0]'s frames are
 * handed over before the batch and it still gets fa and fb alternating.
 */
static void fan(const struct broker_proc *b, struct tc *pub)
{
    struct tc c[FAN_CONNS];
    unsigned good = 0, mixed = 0;

    for (int i = 0; i < FAN_CONNS; i++) {
        itest_connect_on(&c[i], b, 1);
        if (i == 0)
            tc_sub(&c[i], 8, "fa", NULL);
        tc_sub(&c[i], 9, "fb", NULL);
        tc_sync(&c[i], NULL);
    }
    for (uint32_t i = 0; i < FAN_MSGS; i++) {
        if (i % 25 == 0)
            cork(pub, 1);
        tc_pub(pub, "fa", payload, make(i, 8));
        tc_pub(pub, "fb", payload, make(i, 8));
        if (i % 25 == 24)
            cork(pub, 0);
    }
    cork(pub, 0);
    for (uint32_t i = 0; i < FAN_MSGS; i++) {
        struct wire_frame f = itest_next(&c[0], TC_TIMEOUT_MS);
        bool a = f.type == WIRE_MSG && f.id == 8 && index_of(&f) == i;

        f = itest_next(&c[0], TC_TIMEOUT_MS);
        mixed += a && f.type == WIRE_MSG && f.id == 9 && index_of(&f) == i;
    }
    ok_eq(mixed, FAN_MSGS, "the connection with both subscriptions gets them alternating, as published");
    for (int i = 1; i < FAN_CONNS; i++)
        good += expect_run(&c[i], 9, 0, FAN_MSGS) == FAN_MSGS;
    for (int i = 0; i < FAN_CONNS; i++)
        tc_close(&c[i]);
    ok_eq(good, FAN_CONNS - 1, "%d more connections on the other core each get all %d messages in order", FAN_CONNS - 1, FAN_MSGS);
}

/* Delivery counters: what core 0 wrote counts for core 1's subscriptions (within a sweep). */
static void counters(struct tc *adm, const struct tc *sub, uint64_t want, uint64_t requests)
{
    json_t *j = NULL;
    uint64_t got[3] = {0}, msgs = 0;

    for (int tries = 0; tries < 40; tries++) {
        size_t i;
        json_t *e;

        json_decref(j);
        j = NULL;
        got[1] = got[2] = msgs = 0;
        if (itest_admin_ok(adm, "subs.list", "{}", &j))
            json_array_foreach(json_object_get(j, "subscriptions"), i, e)
            {
                json_int_t client = json_integer_value(json_object_get(e, "client"));
                json_int_t sid = json_integer_value(json_object_get(e, "sid"));

                if ((uint64_t)client == sub->client_id && (sid == 1 || sid == 2))
                    got[sid] = (uint64_t)json_integer_value(json_object_get(e, "delivered"));
            }
        json_decref(j);
        j = NULL;
        if (itest_admin_ok(adm, "clients.list", "{}", &j))
            json_array_foreach(json_object_get(j, "clients"), i, e)
            {
                if ((uint64_t)json_integer_value(json_object_get(e, "id")) == sub->client_id)
                    msgs = (uint64_t)json_integer_value(json_object_get(e, "msgs_out"));
            }
        if (got[1] == want && got[2] == want && msgs == 2 * want + requests)
            break;
        usleep(100000);
    }
    json_decref(j);
    ok(got[1] == want && got[2] == want, "subs.list: both subscriptions delivered %llu (%llu, %llu)", (unsigned long long)want,
       (unsigned long long)got[1], (unsigned long long)got[2]);
    ok(msgs == 2 * want + requests, "clients.list: the subscriber's msgs_out counts them and the %llu requests (%llu)",
       (unsigned long long)requests, (unsigned long long)msgs);
}

static void run(bool direct)
{
    static const char *const on[] = {"--cores", "2", "--max-frame", "2m", NULL};
    static const char *const off[] = {"--cores", "2", "--max-frame", "2m", "--direct-sends=false", NULL};
    struct broker_proc b;
    struct tc pub, sub, adm;
    struct wire_frame f;
    uint64_t delivered = 0;
    int st;

    diag("direct sends %s", direct ? "on" : "off");
    itest_start(&b, direct ? on : off);
    itest_connect_on(&pub, &b, 0);
    itest_connect_on(&sub, &b, 1);
    itest_connect_on(&adm, &b, 0);
    tc_sub(&sub, 1, "d.>", NULL);
    tc_sub(&sub, 2, "d.x", NULL);
    tc_sub(&sub, 3, "svc", "svc");
    ok(tc_sync(&sub, NULL) == 0, "subscriber on core 1: two subscriptions for d.x, a responder for svc");

    stream(&pub, &sub);
    delivered += STREAM_MSGS;
    with_requests(&pub, &sub);
    delivered += 2 * ROUNDS;
    request_first(&pub, &sub);
    delivered += CORKED;
    counters(&adm, &sub, delivered, ROUNDS + CORKED);

    /* Larger than one direct write may be: one copy, as before. */
    tc_pub(&pub, "d.x", payload, BIG_LEN);
    f = itest_next(&sub, TC_TIMEOUT_MS);
    st = f.type == WIRE_MSG && f.payload_len == BIG_LEN;
    f = itest_next(&sub, TC_TIMEOUT_MS);
    ok(st && f.type == WIRE_MSG && f.payload_len == BIG_LEN, "a %d KiB message reaches both subscriptions", BIG_LEN / 1024);

    /* Once the unsubscribe is confirmed (its PONG), core 0 writes no more for it. */
    tc_unsub(&sub, 2);
    tc_sync(&sub, NULL);
    for (uint32_t i = 0; i < 100; i++)
        tc_pub(&pub, "d.x", payload, make(i, 8));
    ok_eq(expect_run(&sub, 1, 0, 100), 100, "after an unsubscribe only the remaining subscription gets messages");
    ok(tc_sync(&sub, NULL) == 0, "and nothing else came before the PONG");

    slow_reader(&b, &pub);
    fan(&b, &pub);

    tc_close(&pub);
    tc_close(&sub);
    tc_close(&adm);
    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "broker exits 0 on SIGTERM (status %d)", st);
    ok(broker_proc_log_count(&b, "direct_pubs=0 ") == (direct ? 0 : 1), "the stats line counts direct publishes %s",
       direct ? "made" : "not made");
    ok(broker_proc_log_count(&b, "direct_pub_handoffs=0 ") == (direct ? 0 : 1),
       "and frames handed to the subscriber's core when its connection was busy %s", direct ? "(some)" : "(none)");
    broker_proc_stop(&b);
}

/*
 * With max-output-bytes 256k a connection's frames are written 64 KiB at a time: a receive of more
 * than that writes what it made mid-iteration and goes on with new frames. Paced so that the
 * subscriber never has more queued than the bound.
 */
static void run_small_writes(void)
{
    static const char *const args[] = {"--cores", "2", "--max-output-bytes", "256k", "--max-frame", "64k", NULL};
    struct broker_proc b;
    struct tc pub, sub;
    unsigned good = 0;
    int st;

    diag("max-output-bytes 256k");
    itest_start(&b, args);
    itest_connect_on(&pub, &b, 0);
    itest_connect_on(&sub, &b, 1);
    tc_sub(&sub, 1, "d.>", NULL);
    tc_sub(&sub, 2, "d.x", NULL);
    tc_sync(&sub, NULL);
    for (uint32_t blk = 0; blk < 20; blk++) {
        cork(&pub, 1);
        for (uint32_t i = blk * 100; i < (blk + 1) * 100; i++)
            tc_pub(&pub, "d.x", payload, make(i, 300));
        cork(&pub, 0);
        for (uint32_t i = blk * 100; i < (blk + 1) * 100; i++) {
            struct wire_frame f = itest_next(&sub, TC_TIMEOUT_MS);
            bool a = f.type == WIRE_MSG && f.id == 1 && index_of(&f) == i && f.payload_len == make(i, 300);

            f = itest_next(&sub, TC_TIMEOUT_MS);
            good += a && f.type == WIRE_MSG && f.id == 2 && index_of(&f) == i && f.payload_len == make(i, 300);
        }
    }
    ok_eq(good, 2000, "2000 messages of 300-1000 bytes in blocks of 100, both subscriptions, in order");
    tc_close(&pub);
    tc_close(&sub);
    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "broker exits 0 on SIGTERM (status %d)", st);
    ok(broker_proc_log_count(&b, "direct_pubs=0 ") == 0 && broker_proc_log_count(&b, "slow_consumers=0 ") == 1,
       "written directly, and nobody was cut off");
    broker_proc_stop(&b);
}

int main(void)
{
    plan(33);
    run(true);
    run(false);
    run_small_writes();
    return done_testing();
}
