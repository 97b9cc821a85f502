/*
 * 1,000 random malformed frames over real sockets, each on its own connection (sometimes split
 * into single bytes so the broker's reassembly sees it): every one is answered with ERR FATAL
 * and a close, and a well-behaved client on the same broker keeps being served throughout.
 */
#include <stdlib.h>

#include "tests/broker/itest.h"

#define ROUNDS 1000

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* A valid PUB "a.b" with one header and a payload, encoded into buf. */
static size_t valid_pub(uint8_t *buf, size_t cap, uint64_t id)
{
    struct wire_header h = {.key = "k", .key_len = 1, .val = (const uint8_t *)"v", .val_len = 1};
    struct wire_out o = {
        .type = WIRE_PUB, .topic = "a.b", .topic_len = 3, .headers = &h, .header_count = 1, .payload = "hello", .payload_len = 5};
    ssize_t n = wire_encode(buf, cap, &o);

    if (n <= 0)
        BAIL_OUT("encode");
    return (size_t)n;
}

/* Builds one malformed frame; returns its length and the code the broker must answer with
 * (0: any fatal code). */
static size_t make_bad(uint8_t *buf, size_t cap, uint64_t id, int *code)
{
    size_t n = valid_pub(buf, cap, id);

    switch (rnd(12)) {
    case 0:
        put32(buf, rnd(32));
        *code = TRPC_E_BAD_LENGTH;
        return 32;
    case 1:
        put32(buf, (1u << 20) + 1 + rnd(1u << 24));
        *code = TRPC_E_FRAME_TOO_LARGE;
        return 32;
    case 2:
        buf[4] = rnd(2) ? 0 : (uint8_t)(15 + rnd(241));
        *code = TRPC_E_UNKNOWN_TYPE;
        return n;
    case 3:
        buf[5] = (uint8_t)(0x02u << rnd(7)); /* any flag but ACK_REQ */
        *code = TRPC_E_BAD_FLAGS;
        return n;
    case 4: {
        static const uint8_t bad[] = {0x00, 0x01, 0x09, 0x0a, 0x20, 0x7f};
        buf[32 + rnd(3)] = bad[rnd(sizeof(bad))];
        *code = TRPC_E_BAD_TOPIC;
        return n;
    }
    case 5:
        put32(buf + 8, 40 + rnd(1000)); /* hdr_len past the frame */
        *code = TRPC_E_SECTION_OVERRUN;
        return n;
    case 6:
        buf[35] = 0; /* key_len 0 */
        buf[36] = 0;
        *code = TRPC_E_BAD_HEADER;
        return n;
    case 7:
        buf[4] = WIRE_PING; /* a PING with a topic */
        *code = TRPC_E_TOPIC_NOT_ALLOWED;
        return n;
    case 8:
        buf[24 + rnd(8)] = (uint8_t)(1 + rnd(255)); /* seq is reserved on PUB */
        *code = TRPC_E_RESERVED_NOT_ZERO;
        return n;
    case 9:
        buf[4] = WIRE_MSG; /* valid, but not from a client */
        put32(buf + 16, 1);
        *code = TRPC_E_UNEXPECTED_FRAME;
        return n;
    case 10:
        buf[32] = '*'; /* "*.b" in a PUB */
        *code = TRPC_E_WILDCARD_NOT_ALLOWED;
        return n;
    default:
        for (size_t i = 4; i < 32; i++)
            buf[i] = (uint8_t)rnd(256);
        put32(buf, 32 + rnd((uint32_t)n - 31)); /* the whole frame is sent: no waiting for more */
        *code = 0;
        return n;
    }
}

int main(void)
{
    static const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct tc good;
    unsigned fatal_ok = 0, code_ok = 0, id_ok = 0, closed = 0, checks = 0, checks_ok = 0;

    plan(6);
    itest_start(&b, args);
    itest_connect(&good, &b, 0);
    tc_sub(&good, 1, "ok", NULL);
    tc_sync(&good, NULL);
    for (int round = 0; round < ROUNDS; round++) {
        uint8_t buf[256];
        int code = 0;
        size_t n = make_bad(buf, sizeof(buf), (uint64_t)round + 1, &code);
        uint64_t want_id = 0;
        bool split = rnd(4) == 0;
        struct tc bad;
        struct wire_frame f;
        bool connected = rnd(10) != 0;

        if ((connected ? tc_connect(&bad, &b, 0) : tc_open(&bad, &b)) != 0)
            BAIL_OUT("connect");
        for (int i = 7; i >= 0; i--)
            want_id = want_id << 8 | buf[16 + i];
        if (split) {
            for (size_t i = 0; i < n; i++)
                tc_send_raw(&bad, buf + i, 1);
        } else {
            tc_send_raw(&bad, buf, n);
        }
        if (tc_recv(&bad, &f, TC_TIMEOUT_MS) == 0 && f.type == WIRE_ERR && (f.flags & WIRE_F_FATAL)) {
            fatal_ok++;
            /* Before CONNECT a frame that decodes is NOT_CONNECTED; a decode error wins. */
            if (code == 0 || f.aux == (uint32_t)code || (!connected && f.aux == TRPC_E_NOT_CONNECTED))
                code_ok++;
            else
                diag("round %d: want %s, got %s", round, trpc_err_name(code), trpc_err_name((int)f.aux));
            /* Sent in one piece, the refused frame's header is in one buffer: its id is known. */
            if (f.id == want_id || (split && f.id == 0))
                id_ok++;
            else
                diag("round %d: ERR id %llu, frame id %llu", round, (unsigned long long)f.id, (unsigned long long)want_id);
        }
        closed += tc_wait_eof(&bad, TC_TIMEOUT_MS);
        tc_close(&bad);
        if (round % 100 == 99) {
            uint32_t r = (uint32_t)round;

            checks++;
            tc_pub(&good, "ok", &r, sizeof(r));
            if (tc_recv(&good, &f, TC_TIMEOUT_MS) == 0 && f.type == WIRE_MSG && f.payload_len == 4 && memcmp(f.payload, &r, 4) == 0)
                checks_ok++;
        }
    }
    ok_eq(fatal_ok, ROUNDS, "every malformed frame got ERR FATAL");
    ok_eq(code_ok, ROUNDS, "with the code for its fault");
    ok_eq(id_ok, ROUNDS, "and the id of the refused frame when its header came in one piece");
    ok_eq(closed, ROUNDS, "and its connection closed");
    ok(checks == ROUNDS / 100 && checks_ok == checks, "the well-behaved client was served throughout (%u/%u)", checks_ok, checks);
    tc_close(&good);
    itest_stop(&b);
    return done_testing();
}
