/*
 * tests/perf/idle_proto: the idle workload's parsers (perf/idle_proto.c) take a server's stream in
 * any split: the handshake's PONG is seen once, the CONNACK's keepalive is read, a refusal becomes
 * an error with its reason, and messages the workload does not keep are skipped without losing
 * what follows them.
 */
#include <string.h>

#include "driver/wire.h"
#include "perf/idle.h"
#include "tests/tap.h"

/* Feeds in[0..len) in pieces of `step` bytes, summing the events. */
static struct idle_events feed(const struct idle_proto *p, struct idle_rx *rx, const void *in, size_t len, size_t step)
{
    struct idle_events sum = {0};
    for (size_t off = 0; off < len && sum.err == 0; off += step) {
        struct idle_events ev = {0};
        p->parse(rx, (const uint8_t *)in + off, len - off < step ? len - off : step, &ev);
        sum.pongs += ev.pongs;
        sum.pings += ev.pings;
        sum.others += ev.others;
        if (ev.keepalive_ms)
            sum.keepalive_ms = ev.keepalive_ms;
        if (ev.err) {
            sum.err = ev.err;
            memcpy(sum.why, ev.why, sizeof(sum.why));
        }
    }
    return sum;
}

static size_t put(uint8_t *buf, size_t cap, const struct wire_out *o)
{
    ssize_t n = wire_encode(buf, cap, o);
    if (n < 0)
        BAIL_OUT("wire_encode: %d", (int)n);
    return (size_t)n;
}

/* CONNACK (keepalive 1234 ms), a 4000-byte MSG, PING, PONG. */
static size_t trpc_stream(uint8_t *buf, size_t cap)
{
    static uint8_t payload[4000];
    uint8_t ca[WIRE_CONNACK_PAYLOAD_LEN];
    struct wire_connack c = {
        .max_frame = 1 << 20, .max_header_bytes = 1024, .max_topic = 256, .max_headers = 8, .keepalive_ms = 1234, .client_id = 7};
    struct wire_out connack = {.type = WIRE_CONNACK, .aux = 1, .payload = ca, .payload_len = sizeof(ca)};
    struct wire_out msg = {
        .type = WIRE_MSG, .id = 1, .topic = "a.b", .topic_len = 3, .payload = payload, .payload_len = sizeof(payload)};
    struct wire_out ping = {.type = WIRE_PING, .id = 5}, pong = {.type = WIRE_PONG, .id = 1};
    size_t n = 0;

    wire_connack_put(ca, &c);
    n += put(buf + n, cap - n, &connack);
    n += put(buf + n, cap - n, &msg);
    n += put(buf + n, cap - n, &ping);
    n += put(buf + n, cap - n, &pong);
    return n;
}

static void test_trpc(void)
{
    static uint8_t buf[8192];
    size_t len = trpc_stream(buf, sizeof(buf));
    const size_t steps[] = {1, 7, 33, sizeof(buf)};

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct idle_rx rx = {0};
        struct idle_events ev = feed(&idle_trpc, &rx, buf, len, steps[i]);
        ok_eq(ev.err, 0, "trpc, %zu-byte pieces: no error (%s)", steps[i], ev.why);
        ok_eq(ev.keepalive_ms, 1234u, "trpc, %zu-byte pieces: keepalive from CONNACK", steps[i]);
        ok_eq(ev.others, 1u, "trpc, %zu-byte pieces: the large MSG counted and skipped", steps[i]);
        ok(ev.pings == 1 && ev.pongs == 1, "trpc, %zu-byte pieces: the PING and PONG after it", steps[i]);
    }
}

static void test_trpc_refused(void)
{
    uint8_t buf[256];
    struct wire_out err = {
        .type = WIRE_ERR, .aux = TRPC_E_TOO_MANY_CONNECTIONS, .flags = WIRE_F_FATAL, .payload = "full", .payload_len = 4};
    struct wire_out pong = {.type = WIRE_PONG};
    struct idle_rx rx = {0};
    size_t n = put(buf, sizeof(buf), &err);
    struct idle_events ev = feed(&idle_trpc, &rx, buf, n, 5);

    ok_eq(ev.err, -TRPC_E_TOO_MANY_CONNECTIONS, "trpc: ERR becomes the error");
    ok(strstr(ev.why, "full") != NULL, "trpc: with the broker's message (%s)", ev.why);

    memset(&rx, 0, sizeof(rx));
    n = put(buf, sizeof(buf), &pong);
    ev = feed(&idle_trpc, &rx, buf, n, n);
    ok(ev.err != 0 && ev.pongs == 0, "trpc: a PONG before CONNACK is a protocol error");

    memset(&rx, 0, sizeof(rx));
    memset(buf, 0xff, WIRE_FIXED_LEN);
    ev = feed(&idle_trpc, &rx, buf, WIRE_FIXED_LEN, WIRE_FIXED_LEN);
    ok(ev.err != 0, "trpc: a malformed fixed header is an error (%s)", ev.why);
}

static void test_nats(void)
{
    static char in[2048];
    char info[600];
    const size_t steps[] = {1, 5, 64, sizeof(in)};
    size_t len;

    memset(info, 'x', sizeof(info));
    len = (size_t)snprintf(in, sizeof(in),
                           "INFO {\"server\":\"%.500s\"}\r\nMSG a.b 1 12\r\nPONG\r\nPING\r\n\r\n+OK\r\nPING\r\nPONG\r\n", info);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct idle_rx rx = {0};
        struct idle_events ev = feed(&idle_nats, &rx, in, len, steps[i]);
        ok_eq(ev.err, 0, "nats, %zu-byte pieces: no error (%s)", steps[i], ev.why);
        ok_eq(ev.others, 1u, "nats, %zu-byte pieces: the MSG skipped with its payload (which looks like a PONG line)", steps[i]);
        ok(ev.pings == 1 && ev.pongs == 1, "nats, %zu-byte pieces: one PING and one PONG after it", steps[i]);
    }
}

static void test_nats_refused(void)
{
    static const char in[] = "INFO {}\r\n-ERR 'maximum connections exceeded'\r\n";
    char longline[400];
    struct idle_rx rx = {0};
    struct idle_events ev = feed(&idle_nats, &rx, in, sizeof(in) - 1, 3);

    ok(ev.err != 0 && strstr(ev.why, "maximum connections") != NULL, "nats: -ERR becomes the error (%s)", ev.why);

    memset(&rx, 0, sizeof(rx));
    memset(longline, 'M', sizeof(longline));
    ev = feed(&idle_nats, &rx, longline, sizeof(longline), sizeof(longline));
    ok(ev.err != 0, "nats: an over-long line other than INFO is an error");
}

static void test_hello(void)
{
    uint8_t buf[512];
    struct wire_frame f;
    const struct wire_limits lim = {.max_frame = 1 << 20, .max_header_bytes = 1024, .max_topic = 256, .max_headers = 8};
    ssize_t n = idle_trpc.hello(buf, sizeof(buf), "idle.1.2"), a, b;

    ok(n > 0, "trpc hello encodes");
    a = wire_decode(buf, (size_t)n, &lim, &f);
    ok(a > 0 && f.type == WIRE_CONNECT, "trpc hello: CONNECT first");
    b = wire_decode(buf + a, (size_t)(n - a), &lim, &f);
    ok(b > 0 && f.type == WIRE_SUB && f.topic_len == 8 && f.id != 0, "trpc hello: SUB to the topic");
    ok(wire_decode(buf + a + b, (size_t)(n - a - b), &lim, &f) == n - a - b && f.type == WIRE_PING, "trpc hello: PING last");
    ok_eq(idle_trpc.hello(buf, 40, "idle.1.2"), -1, "trpc hello: -1 when it does not fit");
    n = idle_nats.hello(buf, sizeof(buf), NULL);
    ok(n > 0 && memcmp(buf, "CONNECT {", 9) == 0 && memcmp(buf + n - 6, "PING\r\n", 6) == 0, "nats hello: CONNECT ... PING");
}

int main(void)
{
    test_trpc();
    test_trpc_refused();
    test_nats();
    test_nats_refused();
    test_hello();
    ok(idle_proto_for("trpc://x") == &idle_trpc && idle_proto_for("nats://x") == &idle_nats && !idle_proto_for("http://x"),
       "protocol chosen by URL scheme");
    return done_testing();
}
