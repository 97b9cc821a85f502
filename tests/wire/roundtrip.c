/*
 * Round trip: every frame type with every flag it allows (docs/protocol.md sections 3 and 4),
 * encoded by wire_encode and decoded by wire_decode. The encoding must equal the bytes a naive
 * encoder written from section 2 produces (tests/wire/frames.h); every field of the decoded
 * frame must equal what went in; headers come back in order through wire_header_next and
 * wire_header_find finds the first of a repeated key; an output buffer one byte short is refused
 * with NO_SPACE and left untouched.
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

static const struct wire_header h_connect[] = {
    HDR(":name", "svc-a"),
    HDR(":user", "alice"),
    HDR(":password", "s3cret\x00\xff"),
};
static const struct wire_header h_token[] = {HDR(":token", "eyJhbGciOi.J9")};
static const struct wire_header h_server[] = {HDR(":server", "trpc/0.1.0")};
static char key255[255];
static uint8_t val_big[300];
static const struct wire_header h_pub[] = {
    HDR("k", "v"),
    HDR("empty", ""),
    HDR("k", "second"),
    HDR("bin", "\x00\xff\x80\x01"),
    HDR("~!\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}", "all key bytes"),
};
static const struct wire_header h_long[] = {
    {.key = key255, .key_len = 255, .val_len = sizeof(val_big), .val = val_big},
    HDR("x", ""),
};
static const struct wire_header h_sub[] = {HDR(":group", "workers"), HDR(":durable", "d1")};
static const struct wire_header h_msg[] = {HDR(":x-broker", "1"), HDR("trace", "abc"), HDR("trace", "def")};
static const struct wire_header h_rep[] = {HDR("status", "ok")};

static uint8_t connack24[24], connack32[32], blob[1000];

static const struct {
    const char *name;
    struct wire_out o;
} cases[] = {
    {"CONNECT", {.type = WIRE_CONNECT, .aux = 0x00010001u, HDRS(h_connect)}},
    {"CONNECT NO_ECHO", {.type = WIRE_CONNECT, .flags = WIRE_F_NO_ECHO, .aux = 0x00030001u, HDRS(h_token)}},
    {"CONNECT bare", {.type = WIRE_CONNECT, .aux = 0xffff0001u}},
    {"CONNACK", {.type = WIRE_CONNACK, .aux = 1, HDRS(h_server), .payload = connack24, .payload_len = 24}},
    {"CONNACK longer payload", {.type = WIRE_CONNACK, .aux = 0xffffffffu, .payload = connack32, .payload_len = 32}},
    {"PING id 0", {.type = WIRE_PING}},
    {"PING id max", {.type = WIRE_PING, .id = UINT64_MAX}},
    {"PONG", {.type = WIRE_PONG, .id = 0x0102030405060708ULL}},
    {"PUB", {.type = WIRE_PUB, TOPIC("shop.billing.charge"), HDRS(h_pub), PAYLOAD("hello")}},
    {"PUB ACK_REQ", {.type = WIRE_PUB, .flags = WIRE_F_ACK_REQ, .id = 42, TOPIC("caf\xc3\xa9.\xff\x80")}},
    {"PUB ACK_REQ long header",
     {.type = WIRE_PUB,
      .flags = WIRE_F_ACK_REQ,
      .id = UINT64_MAX,
      TOPIC("a"),
      HDRS(h_long),
      .payload = blob,
      .payload_len = sizeof(blob)}},
    {"PUBACK", {.type = WIRE_PUBACK, .id = 42}},
    {"PUBACK with stream sequence", {.type = WIRE_PUBACK, .id = 1, .seq = UINT64_MAX}},
    {"SUB", {.type = WIRE_SUB, .id = 7, .aux = 100, TOPIC("a.*.>"), HDRS(h_sub)}},
    {"SUB >", {.type = WIRE_SUB, .id = UINT64_MAX, .aux = UINT32_MAX, TOPIC(">")}},
    {"UNSUB", {.type = WIRE_UNSUB, .id = 7}},
    {"MSG",
     {.type = WIRE_MSG,
      .id = 7,
      TOPIC("a.b.c"),
      HDRS(h_msg),
      PAYLOAD("payload\x00"
              "bytes")}},
    {"MSG delivery counter", {.type = WIRE_MSG, .id = 7, .seq = 123, TOPIC("a.b.c"), PAYLOAD("x")}},
    {"MSG ACK_REQUIRED",
     {.type = WIRE_MSG,
      .flags = WIRE_F_ACK_REQUIRED,
      .id = 8,
      .seq = 1ULL << 40,
      .aux = 1,
      TOPIC("d.e"),
      HDRS(h_msg),
      PAYLOAD("durable")}},
    {"MSG ACK_REQUIRED|REDELIVERED",
     {.type = WIRE_MSG, .flags = WIRE_F_ACK_REQUIRED | WIRE_F_REDELIVERED, .id = 8, .seq = 99, .aux = 3, TOPIC("d.e")}},
    {"MSG REQUEST",
     {.type = WIRE_MSG,
      .flags = WIRE_F_REQUEST,
      .id = 3,
      .seq = 0xdeadbeefcafef00dULL,
      .aux = 4500,
      TOPIC("svc.echo"),
      PAYLOAD("ping?")}},
    {"REQ", {.type = WIRE_REQ, .id = 9, .aux = 5000, TOPIC("svc.echo"), HDRS(h_rep), PAYLOAD("ping?")}},
    {"REQ bare", {.type = WIRE_REQ, .id = 1, TOPIC("svc")}},
    {"REP from responder", {.type = WIRE_REP, .seq = 0x8000000000000001ULL, HDRS(h_rep), PAYLOAD("pong")}},
    {"REP to requester", {.type = WIRE_REP, .id = 9, PAYLOAD("pong")}},
    {"REP ERROR", {.type = WIRE_REP, .flags = WIRE_F_ERROR, .id = 9, .aux = TRPC_E_NO_RESPONDERS}},
    {"REP APP_ERROR", {.type = WIRE_REP, .flags = WIRE_F_APP_ERROR, .id = 9, .aux = 0x12345678u, PAYLOAD("boom")}},
    {"REP bare", {.type = WIRE_REP}},
    {"ACK", {.type = WIRE_ACK, .id = 7, .seq = 99}},
    {"NACK", {.type = WIRE_NACK, .id = 7, .seq = 99, .aux = 250}},
    {"NACK default backoff", {.type = WIRE_NACK, .id = UINT64_MAX, .seq = UINT64_MAX}},
    {"ERR", {.type = WIRE_ERR, .aux = TRPC_E_PROTOCOL, PAYLOAD("bad frame")}},
    {"ERR FATAL", {.type = WIRE_ERR, .flags = WIRE_F_FATAL, .id = 5, .aux = TRPC_E_BAD_TOPIC}},
    {"ERR max code", {.type = WIRE_ERR, .aux = UINT32_MAX}},
    {"PROGRESS", {.type = WIRE_PROGRESS, .id = 7, .seq = 99}},
    {"TERM", {.type = WIRE_TERM, .id = 7, .seq = 99, PAYLOAD("cannot parse")}},
    {"TERM without a reason", {.type = WIRE_TERM, .id = UINT64_MAX, .seq = 1}},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* The section 2 layout by hand: the reference the encoder's bytes must equal. */
static size_t reference(uint8_t *out, const struct wire_out *o)
{
    static uint8_t hdr[4096];

    if (fr_from_out(NULL, o, hdr) - WIRE_FIXED_LEN > sizeof(hdr))
        BAIL_OUT("header block too large for the reference");
    return fr_from_out(out, o, hdr);
}

static int same_header(const struct wire_header *a, const struct wire_header *b)
{
    return a->key_len == b->key_len && a->val_len == b->val_len && memcmp(a->key, b->key, a->key_len) == 0 &&
           (a->val_len == 0 || memcmp(a->val, b->val, a->val_len) == 0);
}

static void check_headers(const char *name, const struct wire_frame *f, const struct wire_out *o, const uint8_t *buf)
{
    struct wire_header h;
    uint32_t pos = 0;
    size_t i, j, n = 0;
    int in_order = 1, found = 1, in_place = 1;

    while (wire_header_next(f, &pos, &h) == 1) {
        if (n >= o->header_count || !same_header(&h, &o->headers[n]))
            in_order = 0;
        /* Entries alias the frame: key and value point into the decoded buffer. */
        if ((const uint8_t *)h.key < buf || (const uint8_t *)h.key + h.key_len > buf + f->length)
            in_place = 0;
        if (++n > o->header_count + 1)
            break;
    }
    ok(in_order && n == o->header_count, "%s: %zu headers iterated in order", name, o->header_count);
    ok(in_place, "%s: header keys point into the frame", name);
    ok(wire_header_next(f, &pos, &h) == 0, "%s: iteration stays at the end", name);

    for (i = 0; i < o->header_count; i++) {
        const struct wire_header *first = &o->headers[i];

        for (j = 0; j < i; j++)
            if (o->headers[j].key_len == first->key_len && memcmp(o->headers[j].key, first->key, first->key_len) == 0) {
                first = &o->headers[j];
                break;
            }
        memset(&h, 0, sizeof(h));
        if (!wire_header_find(f, o->headers[i].key, o->headers[i].key_len, &h) || !same_header(&h, first))
            found = 0;
    }
    ok(found, "%s: wire_header_find returns the first entry of each key", name);
    ok(!wire_header_find(f, "absent", 6, &h), "%s: absent key not found", name);
    /* A prefix of a present key is another key. */
    ok(o->header_count == 0 || o->headers[0].key_len < 2 || !wire_header_find(f, o->headers[0].key, o->headers[0].key_len - 1, &h),
       "%s: prefix of a key not found", name);
}

static void check_frame(const char *name, const struct wire_frame *f, const struct wire_out *o, const uint8_t *buf, size_t len,
                        size_t hdr_len)
{
    const uint8_t *topic = buf + WIRE_FIXED_LEN;
    const uint8_t *hdrs = topic + o->topic_len;
    const uint8_t *payload = hdrs + hdr_len;

    ok(f->length == len && f->type == o->type && f->flags == o->flags, "%s: length, type, flags", name);
    ok(f->topic_len == o->topic_len && f->hdr_len == hdr_len && f->payload_len == o->payload_len, "%s: section lengths", name);
    ok(f->aux == o->aux && f->id == o->id && f->seq == o->seq, "%s: aux, id, seq", name);
    ok_eq(f->header_count, o->header_count, "%s: header_count", name);
    ok(o->topic_len ? (const uint8_t *)f->topic == topic && memcmp(f->topic, o->topic, o->topic_len) == 0 : f->topic == NULL,
       "%s: topic in place (NULL when absent)", name);
    ok(hdr_len ? f->headers == hdrs : f->headers == NULL, "%s: header block in place (NULL when absent)", name);
    ok(o->payload_len ? f->payload == payload && memcmp(f->payload, o->payload, o->payload_len) == 0 : f->payload == NULL,
       "%s: payload in place (NULL when absent)", name);
}

static void roundtrip(const char *name, const struct wire_out *o)
{
    struct wire_limits lim;
    struct wire_frame f;
    size_t len = reference(NULL, o);
    size_t hdr_len = len - WIRE_FIXED_LEN - o->topic_len - o->payload_len;
    uint8_t *ref = malloc(len), *buf = malloc(len), *shortbuf = malloc(len - 1);
    size_t i, untouched = 0;

    if (!ref || !buf || !shortbuf)
        BAIL_OUT("out of memory");
    reference(ref, o);
    wire_limits_default(&lim);

    ok_eq(wire_encoded_len(o), len, "%s: wire_encoded_len", name);
    ok_eq(wire_encode(buf, len, o), len, "%s: wire_encode into an exact buffer", name);
    ok(memcmp(buf, ref, len) == 0, "%s: bytes equal the section 2 layout", name);
    ok_eq(wire_decode(buf, len, &lim, &f), len, "%s: wire_decode", name);
    check_frame(name, &f, o, buf, len, hdr_len);
    check_headers(name, &f, o, buf);
    ok_eq(wire_decode(buf, len - 1, &lim, &f), 0, "%s: one byte short decodes as need more", name);
    memset(buf, 0x5a, len);
    wire_encode_sized(buf, len, o, len);
    ok(memcmp(buf, ref, len) == 0, "%s: wire_encode_sized writes the same bytes", name);

    memset(shortbuf, 0xa5, len - 1);
    ok_eq(wire_encode(shortbuf, len - 1, o), -TRPC_E_NO_SPACE, "%s: one byte short is NO_SPACE", name);
    for (i = 0; i < len - 1; i++)
        untouched += shortbuf[i] == 0xa5;
    ok_eq(untouched, len - 1, "%s: nothing written on NO_SPACE", name);
    free(shortbuf);
    free(buf);
    free(ref);
}

/* wire_header_block_next over blocks nothing validated (read back from a log). */
static void raw_blocks(void)
{
    /* "k" = "vv", then "id" = "" */
    static const uint8_t good[] = {1, 0, 2, 0, 'k', 'v', 'v', 2, 0, 0, 0, 'i', 'd'};
    static const uint8_t value_past_end[] = {1, 0, 9, 0, 'k', 'v'};
    static const uint8_t short_tail[] = {1, 0, 0, 0, 'k', 3, 0};
    struct wire_header h;
    uint32_t pos = 0;

    ok(wire_header_block_next(good, sizeof(good), &pos, &h) == 1 && h.key_len == 1 && h.key[0] == 'k' && h.val_len == 2 &&
           memcmp(h.val, "vv", 2) == 0,
       "raw block: the first entry");
    ok(wire_header_block_next(good, sizeof(good), &pos, &h) == 1 && h.key_len == 2 && h.val_len == 0 &&
           wire_header_block_next(good, sizeof(good), &pos, &h) == 0,
       "raw block: the second, an empty value, then the end");
    pos = 0;
    ok(wire_header_block_next(value_past_end, sizeof(value_past_end), &pos, &h) == -1 && pos == 0,
       "raw block: a value running past the block is -1, the position unmoved");
    pos = 0;
    ok(wire_header_block_next(short_tail, sizeof(short_tail), &pos, &h) == 1 &&
           wire_header_block_next(short_tail, sizeof(short_tail), &pos, &h) == -1,
       "raw block: fewer than 4 bytes left for an entry is -1");
    pos = 0;
    ok(wire_header_block_next(good, 0, &pos, &h) == 0, "raw block: an empty block has no entry");
}

int main(void)
{
    size_t i;
    uint8_t types[WIRE_TYPE_MAX + 1] = {0};
    int all = 1;

    memset(key255, 'K', sizeof(key255));
    key255[0] = ':';
    key255[254] = '~';
    for (i = 0; i < sizeof(val_big); i++)
        val_big[i] = (uint8_t)(i * 7);
    for (i = 0; i < sizeof(blob); i++)
        blob[i] = (uint8_t)(255 - i);
    /* A CONNACK payload by hand (section 4 table); the longer one is a later version's. */
    fr_put32(connack24 + 0, 1u << 20);
    fr_put32(connack24 + 4, 16u << 10);
    fr_put16(connack24 + 8, 256);
    fr_put16(connack24 + 10, 64);
    fr_put32(connack24 + 12, 30000);
    fr_put64(connack24 + 16, 0x1122334455667788ULL);
    memcpy(connack32, connack24, 24);
    memset(connack32 + 24, 0xee, 8);

    for (i = 0; i < N_CASES; i++) {
        types[cases[i].o.type] = 1;
        roundtrip(cases[i].name, &cases[i].o);
    }
    for (i = 1; i <= WIRE_TYPE_MAX; i++)
        all &= types[i];
    ok(all && WIRE_TYPE_MAX == 16, "all 16 frame types are covered");
    raw_blocks();
    return done_testing();
}
