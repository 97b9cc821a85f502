/*
 * The encoder refuses what a decoder would refuse (wire.h: "so that a peer never sees a frame
 * from us that it must reject"), with the same code. Each case is a struct wire_out that breaks
 * one rule of docs/protocol.md; wire_encode must return the rule's code, and the same frame laid
 * out by hand (tests/wire/frames.h) must get that code from wire_decode. Where a frame breaks
 * several rules, both must report the first in the check order of section 8.
 */
#include <stdlib.h>
#include <string.h>

#include "driver/wire.h"
#include "tests/tap.h"
#include "tests/wire/frames.h"

#define HDR(k, v)                                                                                                                  \
    {                                                                                                                              \
        .key = k, .key_len = sizeof(k) - 1, .val_len = sizeof(v) - 1, .val = (const uint8_t *)v                                    \
    }
#define HDRS(a)    .headers = a, .header_count = sizeof(a) / sizeof(a[0])
#define TOPIC(t)   .topic = t, .topic_len = sizeof(t) - 1
#define PAYLOAD(p) .payload = p, .payload_len = sizeof(p) - 1
#define E(code)    TRPC_E_##code

static const struct wire_header h_ok[] = {HDR("k", "v")};
static const struct wire_header h_empty_key[] = {HDR("k", "v"), HDR("", "v")};
static const struct wire_header h_space[] = {HDR("a b", "v")};
static const struct wire_header h_del[] = {HDR("a\x7f", "v")};
static const struct wire_header h_high[] = {HDR("caf\xc3\xa9", "v")};
static const struct wire_header h_colon_space[] = {HDR(": name", "x")};
static char key256[256];
static const struct wire_header h_key256[] = {{.key = key256, .key_len = 256, .val_len = 0, .val = (const uint8_t *)""}};
static const uint8_t connack[24];

struct ecase {
    const char *what;
    struct wire_out o;
    int code;
};

static const struct ecase cases[] = {
    {"type 0", {.type = 0}, E(UNKNOWN_TYPE)},
    {"type 17", {.type = 17}, E(UNKNOWN_TYPE)},
    {"PUB with REQUEST", {.type = WIRE_PUB, .flags = WIRE_F_REQUEST, TOPIC("a")}, E(BAD_FLAGS)},
    {"PUB with NO_ECHO", {.type = WIRE_PUB, .flags = WIRE_F_NO_ECHO, TOPIC("a")}, E(BAD_FLAGS)},
    {"CONNECT with FATAL", {.type = WIRE_CONNECT, .flags = WIRE_F_FATAL, .aux = 0x00010001u}, E(BAD_FLAGS)},
    {"PING with ACK_REQ", {.type = WIRE_PING, .flags = WIRE_F_ACK_REQ}, E(BAD_FLAGS)},
    {"ERR with NO_ECHO", {.type = WIRE_ERR, .flags = WIRE_F_NO_ECHO, .aux = 100}, E(BAD_FLAGS)},
    {"MSG REDELIVERED alone", {.type = WIRE_MSG, .flags = WIRE_F_REDELIVERED, .id = 1, .seq = 1, TOPIC("a")}, E(BAD_FLAGS)},
    {"MSG REQUEST|ACK_REQUIRED",
     {.type = WIRE_MSG, .flags = WIRE_F_REQUEST | WIRE_F_ACK_REQUIRED, .id = 1, .seq = 1, TOPIC("a")},
     E(BAD_FLAGS)},
    {"MSG REQUEST|REDELIVERED",
     {.type = WIRE_MSG, .flags = WIRE_F_REQUEST | WIRE_F_REDELIVERED, .id = 1, .seq = 1, TOPIC("a")},
     E(BAD_FLAGS)},
    {"REP ERROR|APP_ERROR", {.type = WIRE_REP, .flags = WIRE_F_ERROR | WIRE_F_APP_ERROR, .aux = 300}, E(BAD_FLAGS)},
    {"PUB on a.*", {.type = WIRE_PUB, TOPIC("a.*")}, E(WILDCARD_NOT_ALLOWED)},
    {"PUB on >", {.type = WIRE_PUB, TOPIC(">")}, E(WILDCARD_NOT_ALLOWED)},
    {"REQ on x.>", {.type = WIRE_REQ, .id = 1, TOPIC("x.>")}, E(WILDCARD_NOT_ALLOWED)},
    {"MSG on *.b", {.type = WIRE_MSG, .id = 1, TOPIC("*.b")}, E(WILDCARD_NOT_ALLOWED)},
    {"PUB on a..b", {.type = WIRE_PUB, TOPIC("a..b")}, E(BAD_TOPIC)},
    {"PUB on a b", {.type = WIRE_PUB, TOPIC("a b")}, E(BAD_TOPIC)},
    {"PUB on a.", {.type = WIRE_PUB, TOPIC("a.")}, E(BAD_TOPIC)},
    {"PUB on a*", {.type = WIRE_PUB, TOPIC("a*")}, E(BAD_WILDCARD)},
    {"SUB on a*", {.type = WIRE_SUB, .id = 1, TOPIC("a*")}, E(BAD_WILDCARD)},
    {"SUB on >.a", {.type = WIRE_SUB, .id = 1, TOPIC(">.a")}, E(BAD_WILDCARD)},
    {"SUB on .a", {.type = WIRE_SUB, .id = 1, TOPIC(".a")}, E(BAD_TOPIC)},
    {"CONNECT with a topic", {.type = WIRE_CONNECT, .aux = 0x00010001u, TOPIC("a")}, E(TOPIC_NOT_ALLOWED)},
    {"REP with a topic", {.type = WIRE_REP, TOPIC("a")}, E(TOPIC_NOT_ALLOWED)},
    {"PUB without topic", {.type = WIRE_PUB}, E(TOPIC_REQUIRED)},
    {"SUB without topic", {.type = WIRE_SUB, .id = 1}, E(TOPIC_REQUIRED)},
    {"PING with headers", {.type = WIRE_PING, HDRS(h_ok)}, E(HEADERS_NOT_ALLOWED)},
    {"ERR with headers", {.type = WIRE_ERR, .aux = 100, HDRS(h_ok)}, E(HEADERS_NOT_ALLOWED)},
    {"ACK with a payload", {.type = WIRE_ACK, .id = 1, .seq = 1, PAYLOAD("x")}, E(PAYLOAD_NOT_ALLOWED)},
    {"SUB with a payload", {.type = WIRE_SUB, .id = 1, TOPIC("a"), PAYLOAD("x")}, E(PAYLOAD_NOT_ALLOWED)},
    {"CONNACK with 23 payload bytes", {.type = WIRE_CONNACK, .aux = 1, .payload = connack, .payload_len = 23}, E(BAD_PAYLOAD)},
    {"CONNACK without payload", {.type = WIRE_CONNACK, .aux = 1}, E(BAD_PAYLOAD)},
    {"empty header key", {.type = WIRE_PUB, TOPIC("a"), HDRS(h_empty_key)}, E(BAD_HEADER)},
    {"header key with space", {.type = WIRE_PUB, TOPIC("a"), HDRS(h_space)}, E(BAD_HEADER)},
    {"header key with 0x7f", {.type = WIRE_REQ, .id = 1, TOPIC("a"), HDRS(h_del)}, E(BAD_HEADER)},
    {"header key with UTF-8", {.type = WIRE_SUB, .id = 1, TOPIC("a"), HDRS(h_high)}, E(BAD_HEADER)},
    {"CONNECT header key with space", {.type = WIRE_CONNECT, .aux = 0x00010001u, HDRS(h_colon_space)}, E(BAD_HEADER)},
    {"header key of 256 bytes", {.type = WIRE_PUB, TOPIC("a"), HDRS(h_key256)}, E(BAD_HEADER)},
    {"PUB ACK_REQ with id 0", {.type = WIRE_PUB, .flags = WIRE_F_ACK_REQ, TOPIC("a")}, E(BAD_ID)},
    {"PUBACK with id 0", {.type = WIRE_PUBACK}, E(BAD_ID)},
    {"SUB with id 0", {.type = WIRE_SUB, TOPIC("a")}, E(BAD_ID)},
    {"UNSUB with id 0", {.type = WIRE_UNSUB}, E(BAD_ID)},
    {"MSG with id 0", {.type = WIRE_MSG, TOPIC("a")}, E(BAD_ID)},
    {"REQ with id 0", {.type = WIRE_REQ, TOPIC("a")}, E(BAD_ID)},
    {"ACK with id 0", {.type = WIRE_ACK, .seq = 1}, E(BAD_ID)},
    {"NACK with id 0", {.type = WIRE_NACK, .seq = 1}, E(BAD_ID)},
    {"ACK with seq 0", {.type = WIRE_ACK, .id = 1}, E(BAD_SEQ)},
    {"NACK with seq 0", {.type = WIRE_NACK, .id = 1, .aux = 10}, E(BAD_SEQ)},
    {"MSG REQUEST with seq 0", {.type = WIRE_MSG, .flags = WIRE_F_REQUEST, .id = 1, .aux = 10, TOPIC("a")}, E(BAD_SEQ)},
    {"MSG ACK_REQUIRED with seq 0", {.type = WIRE_MSG, .flags = WIRE_F_ACK_REQUIRED, .id = 1, .aux = 1, TOPIC("a")}, E(BAD_SEQ)},
    {"ERR with aux 0", {.type = WIRE_ERR, PAYLOAD("oops")}, E(BAD_CODE)},
    {"REP ERROR with aux 0", {.type = WIRE_REP, .flags = WIRE_F_ERROR, .id = 1}, E(BAD_CODE)},
    /* The spec names no code for CONNACK aux 0: this pins the codec's choice (see malformed.c). */
    {"CONNACK with aux 0", {.type = WIRE_CONNACK, .payload = connack, .payload_len = 24}, E(UNSUPPORTED_VERSION)},
    {"CONNECT with id", {.type = WIRE_CONNECT, .aux = 0x00010001u, .id = 1}, E(RESERVED_NOT_ZERO)},
    {"PING with aux", {.type = WIRE_PING, .aux = 1}, E(RESERVED_NOT_ZERO)},
    {"PONG with seq", {.type = WIRE_PONG, .seq = 1}, E(RESERVED_NOT_ZERO)},
    {"PUB with seq", {.type = WIRE_PUB, .seq = 1, TOPIC("a")}, E(RESERVED_NOT_ZERO)},
    {"PUBACK with aux", {.type = WIRE_PUBACK, .id = 1, .aux = 1}, E(RESERVED_NOT_ZERO)},
    {"UNSUB with aux", {.type = WIRE_UNSUB, .id = 1, .aux = 1}, E(RESERVED_NOT_ZERO)},
    {"REQ with seq", {.type = WIRE_REQ, .id = 1, .seq = 1, TOPIC("a")}, E(RESERVED_NOT_ZERO)},
    {"ERR with seq", {.type = WIRE_ERR, .aux = 100, .seq = 1}, E(RESERVED_NOT_ZERO)},
    /* Several faults: the encoder reports the one a decoder reports first (section 8). */
    {"bad flags before a wildcard topic", {.type = WIRE_PUB, .flags = WIRE_F_FATAL, TOPIC("a.*")}, E(BAD_FLAGS)},
    {"id before topic syntax", {.type = WIRE_SUB, TOPIC("a*")}, E(BAD_ID)},
    {"topic presence before payload", {.type = WIRE_PING, TOPIC("a"), PAYLOAD("x")}, E(TOPIC_NOT_ALLOWED)},
    {"flags before header keys", {.type = WIRE_PUB, .flags = WIRE_F_FATAL, TOPIC("a"), HDRS(h_space)}, E(BAD_FLAGS)},
};

/* Header entries are checked last: every fixed-header rule and the topic come first. */
static const struct ecase header_order[] = {
    {"topic syntax before header keys", {.type = WIRE_PUB, TOPIC("a..b"), HDRS(h_space)}, E(BAD_TOPIC)},
    {"topic presence before header keys",
     {.type = WIRE_CONNECT, .aux = 0x00010001u, TOPIC("a"), HDRS(h_space)},
     E(TOPIC_NOT_ALLOWED)},
    {"id before header keys", {.type = WIRE_SUB, TOPIC("a"), HDRS(h_empty_key)}, E(BAD_ID)},
    {"reserved field before header keys", {.type = WIRE_PUB, .seq = 1, TOPIC("a"), HDRS(h_del)}, E(RESERVED_NOT_ZERO)},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/*
 * The frame size is the first check of section 8: a frame over the 64 MiB ceiling is
 * FRAME_TOO_LARGE whatever else is wrong with it. Only the decoder's side needs no payload.
 */
static void frame_size_first(void)
{
    static const uint8_t small[1];
    const struct wire_limits ceiling = {
        .max_frame = WIRE_FRAME_MAX_CEILING,
        .max_header_bytes = WIRE_FRAME_MAX_CEILING,
        .max_topic = 65535,
        .max_headers = 65535,
    };
    struct wire_out o = {.type = 0, .payload = small, .payload_len = WIRE_FRAME_MAX_CEILING};
    uint8_t fixed[32], out[64];
    struct wire_frame f;

    fr_fixed(fixed, WIRE_FRAME_MAX_CEILING + 32, 0, 0, 0, 0, 0, 0, 0);
    ok_eq(wire_decode(fixed, sizeof(fixed), &ceiling, &f), -TRPC_E_FRAME_TOO_LARGE,
          "frame size before type: wire_decode gives FRAME_TOO_LARGE");
    ok_eq(wire_encoded_len(&o), -TRPC_E_FRAME_TOO_LARGE, "frame size before type: wire_encoded_len gives FRAME_TOO_LARGE");
    ok_eq(wire_encode(out, sizeof(out), &o), -TRPC_E_FRAME_TOO_LARGE, "frame size before type: wire_encode gives FRAME_TOO_LARGE");
}

/*
 * A publisher's memo (wire_encoded_len_memo) skips the check of the topic it last found valid,
 * under the same rule only: a pattern a SUB made valid is still no PUB topic, an invalid topic
 * never enters it, and a topic too long for it is checked each time.
 */
static void memo_rules(void)
{
    const struct wire_out sub = {.type = WIRE_SUB, .id = 1, TOPIC("a.*")}, pub_wild = {.type = WIRE_PUB, TOPIC("a.*")};
    const struct wire_out pub = {.type = WIRE_PUB, TOPIC("a.b")}, pub_bad = {.type = WIRE_PUB, TOPIC("a..b")};
    const struct wire_out pub_long = {.type = WIRE_PUB, TOPIC("a.bcdefghijklmnopqrstuvwxyz.0123456789")};
    const struct wire_out pub_long_bad = {.type = WIRE_PUB, TOPIC("a.bcdefghijklmnopqrstuvwxyz.0123456789.*")};
    struct wire_topic_memo m = {0};

    ok(wire_encoded_len_memo(&sub, &m) > 0 && m.len == 3, "memo: a SUB's valid pattern is remembered");
    ok_eq(wire_encoded_len_memo(&pub_wild, &m), -TRPC_E_WILDCARD_NOT_ALLOWED, "memo: the same pattern as a PUB topic is refused");
    ok(wire_encoded_len_memo(&pub, &m) > 0 && m.len == 3 && memcmp(m.topic, "a.b", 3) == 0, "memo: a PUB topic replaces it");
    ok(wire_encoded_len_memo(&pub, &m) > 0, "memo: the remembered topic passes again");
    ok_eq(wire_encoded_len_memo(&pub_bad, &m), -TRPC_E_BAD_TOPIC, "memo: an invalid topic is refused");
    ok(m.len == 3 && memcmp(m.topic, "a.b", 3) == 0, "memo: an invalid topic is not remembered");
    ok(wire_encoded_len_memo(&pub_long, &m) > 0 && m.len == 3, "memo: a topic longer than the memo passes and is not kept");
    ok_eq(wire_encoded_len_memo(&pub_long_bad, &m), -TRPC_E_WILDCARD_NOT_ALLOWED, "memo: a long topic is checked each time");
}

static void check(const struct ecase *c)
{
    static uint8_t hdr[1024], raw[2048], out[2048];
    struct wire_topic_memo m = {0};
    struct wire_limits lim;
    struct wire_frame f;
    ssize_t got = wire_encode(out, sizeof(out), &c->o);
    size_t n;

    ok_eq(got, -c->code, "%s: wire_encode gives %s", c->what, trpc_err_name(c->code));
    /* The second call finds the topic in the memo when the first found it valid. */
    ok_eq(wire_encoded_len_memo(&c->o, &m), -c->code, "%s: wire_encoded_len_memo gives %s", c->what, trpc_err_name(c->code));
    ok_eq(wire_encoded_len_memo(&c->o, &m), -c->code, "%s: and again through its memo", c->what);
    n = fr_from_out(raw, &c->o, hdr);
    wire_limits_default(&lim);
    ok_eq(wire_decode(raw, n, &lim, &f), -c->code, "%s: wire_decode of the same bytes gives %s", c->what, trpc_err_name(c->code));
}

int main(void)
{
    size_t i;

    memset(key256, 'k', sizeof(key256));
    for (i = 0; i < N_CASES; i++)
        check(&cases[i]);
    for (i = 0; i < sizeof(header_order) / sizeof(header_order[0]); i++)
        check(&header_order[i]);
    frame_size_first();
    memo_rules();
    return done_testing();
}
