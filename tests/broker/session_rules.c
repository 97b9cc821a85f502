/*
 * Session rules and limits: CONNACK contents; CONNECT first (NOT_CONNECTED), once
 * (ALREADY_CONNECTED), with a version in common (UNSUPPORTED_VERSION); PING/PONG; PUBACK;
 * NO_ECHO; subscription ids (DUPLICATE_SUBSCRIPTION, UNKNOWN_SUBSCRIPTION,
 * TOO_MANY_SUBSCRIPTIONS); UNSUB stops delivery; max-connections (TOO_MANY_CONNECTIONS); idle
 * timeout at twice the keepalive while a pinging client stays.
 */
#include <time.h>

#include "tests/broker/itest.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

int main(void)
{
    static const char *const args[] = {
        "--cores", "1", "--max-subscriptions", "3", "--max-connections", "4", "--keepalive", "300ms", "--max-frame", "64k", NULL};
    struct broker_proc b;
    struct tc a, c, x;
    struct wire_frame f;
    struct wire_connack ca;
    struct wire_header h;

    plan(21);
    itest_start(&b, args);

    ok(tc_open(&a, &b) == 0 && tc_send(&a, &(struct wire_out){.type = WIRE_CONNECT, .aux = wire_versions(1, 4)}) == 0,
       "CONNECT with versions 1..4");
    f = itest_next(&a, TC_TIMEOUT_MS);
    ok(f.type == WIRE_CONNACK && f.aux == 3 && wire_connack_get(f.payload, f.payload_len, &ca) == 0,
       "CONNACK picks version 3, the highest in common");
    ok(ca.max_frame == 65536 && ca.keepalive_ms == 300 && ca.max_topic == 256 && ca.client_id != 0,
       "CONNACK announces the configured limits and a client id");
    ok(wire_header_find(&f, ":server", 7, &h) && h.val_len > 12 && memcmp(h.val, "trpc-broker/", 12) == 0,
       ":server names the broker");
    tc_send(&a, &(struct wire_out){.type = WIRE_PING, .id = 0xabcdef});
    f = itest_next(&a, TC_TIMEOUT_MS);
    ok(f.type == WIRE_PONG && f.id == 0xabcdef, "PING is answered with PONG and the same id");

    tc_send(&a, &(struct wire_out){.type = WIRE_PUB, .flags = WIRE_F_ACK_REQ, .id = 77, .topic = "p", .topic_len = 1});
    f = itest_next(&a, TC_TIMEOUT_MS);
    ok(f.type == WIRE_PUBACK && f.id == 77, "PUB with ACK_REQ: PUBACK with its id");

    tc_sub(&a, 1, "s.>", NULL);
    tc_sub(&a, 1, "s.x", NULL);
    f = itest_next(&a, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_DUPLICATE_SUBSCRIPTION, false) && f.id == 1, "same id twice: DUPLICATE_SUBSCRIPTION");
    tc_sub(&a, 2, "s.y", NULL);
    tc_sub(&a, 3, "s.z", NULL);
    tc_sub(&a, 4, "s.w", NULL);
    f = itest_next(&a, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_TOO_MANY_SUBSCRIPTIONS, false) && f.id == 4, "a fourth: TOO_MANY_SUBSCRIPTIONS");
    tc_unsub(&a, 9);
    f = itest_next(&a, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_UNKNOWN_SUBSCRIPTION, false) && f.id == 9, "UNSUB of an unknown id: UNKNOWN_SUBSCRIPTION");
    tc_unsub(&a, 1);
    tc_unsub(&a, 2);
    tc_pub(&a, "s.y", "1", 1);
    tc_pub(&a, "s.z", "2", 1);
    f = itest_next(&a, TC_TIMEOUT_MS);
    ok(f.type == WIRE_MSG && f.id == 3 && f.payload_len == 1 && f.payload[0] == '2', "after UNSUB only the remaining one delivers");

    itest_connect(&c, &b, WIRE_F_NO_ECHO);
    tc_sub(&c, 1, "echo", NULL);
    tc_pub(&c, "echo", "me", 2);
    unsigned skipped;
    ok(tc_sync(&c, &skipped) == 0 && skipped == 0, "NO_ECHO: no delivery of its own publish");

    ok(tc_open(&x, &b) == 0 && tc_send(&x, &(struct wire_out){.type = WIRE_PING, .id = 5}) == 0, "PING before CONNECT");
    f = itest_next(&x, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_NOT_CONNECTED, true) && tc_wait_eof(&x, TC_TIMEOUT_MS), "NOT_CONNECTED, fatal, closed");
    tc_close(&x);
    tc_open(&x, &b);
    tc_send(&x, &(struct wire_out){.type = WIRE_CONNECT, .aux = wire_versions(4, 9)});
    f = itest_next(&x, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_UNSUPPORTED_VERSION, true) && tc_wait_eof(&x, TC_TIMEOUT_MS), "versions 4..9: UNSUPPORTED_VERSION");
    tc_close(&x);
    itest_connect(&x, &b, 0);
    tc_send(&x, &(struct wire_out){.type = WIRE_CONNECT, .aux = wire_versions(1, 1)});
    f = itest_next(&x, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_ALREADY_CONNECTED, true) && tc_wait_eof(&x, TC_TIMEOUT_MS), "CONNECT twice: ALREADY_CONNECTED");
    tc_close(&x);
    /* Version 2's frames on a session of version 1. */
    tc_open(&x, &b);
    tc_send(&x, &(struct wire_out){.type = WIRE_CONNECT, .aux = wire_versions(1, 1)});
    f = itest_next(&x, TC_TIMEOUT_MS);
    tc_send(&x, &(struct wire_out){.type = WIRE_PROGRESS, .id = 1, .seq = 1});
    f = itest_next(&x, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_UNKNOWN_TYPE, true) && tc_wait_eof(&x, TC_TIMEOUT_MS),
       "PROGRESS on a version-1 session: UNKNOWN_TYPE, fatal");
    tc_close(&x);

    /* a, c and two more make four; the fifth is refused. */
    struct tc d, e;
    itest_connect(&d, &b, 0);
    itest_connect(&e, &b, 0);
    tc_open(&x, &b);
    f = itest_next(&x, TC_TIMEOUT_MS);
    ok(itest_is_err(&f, TRPC_E_TOO_MANY_CONNECTIONS, true) && tc_wait_eof(&x, TC_TIMEOUT_MS),
       "past max-connections: TOO_MANY_CONNECTIONS, closed");
    tc_close(&x);
    tc_close(&e);

    /* Keepalive 300 ms: d stays silent, a pings every 100 ms; after 1.2 s d is gone, a is not. */
    for (int i = 0; i < 12; i++) {
        tc_send(&a, &(struct wire_out){.type = WIRE_PING, .id = (uint64_t)i + 1000});
        sleep_ms(100);
    }
    f = itest_next(&d, TC_TIMEOUT_MS);
    if (!ok(itest_is_err(&f, TRPC_E_IDLE_TIMEOUT, true) && tc_wait_eof(&d, TC_TIMEOUT_MS), "a silent client: IDLE_TIMEOUT, closed"))
        diag("got type %u aux %u flags 0x%x", f.type, f.aux, f.flags);
    unsigned pongs = 0;
    while (tc_recv(&a, &f, 0) == 0)
        pongs += f.type == WIRE_PONG;
    ok(pongs == 12 && tc_sync(&a, NULL) == 0, "a pinging client stays (%u PONGs)", pongs);
    ok(broker_proc_log_count(&b, "IDLE_TIMEOUT") >= 1, "the broker logged the idle close");
    tc_close(&a);
    tc_close(&c);
    tc_close(&d);
    itest_stop(&b);
    return done_testing();
}
