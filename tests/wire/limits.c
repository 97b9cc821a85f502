/*
 * Limits (docs/protocol.md section 8): the defaults are the table's, wire_limits_valid keeps
 * limits inside the format's ceilings, and every limit is inclusive: a frame exactly at it is
 * accepted (by wire_decode and wire_reader), one unit over it is refused with the table's code.
 * The encoder, which knows no configured limits, refuses only what the format cannot carry.
 */
#include <stdlib.h>
#include <string.h>

#include "driver/wire.h"
#include "tests/tap.h"
#include "tests/wire/frames.h"

#define MiB (1u << 20)
#define KiB (1u << 10)

static uint8_t *big;  /* 64 MiB + 1 frame buffer */
static uint8_t *blob; /* 64 MiB + 1 zero bytes: payloads and padding */

/* Decodes big[0..len) with wire_decode and with a reader fed in two parts. */
static void expect(size_t len, const struct wire_limits *lim, int code, const char *what)
{
    struct wire_frame f;
    struct wire_reader r;
    ssize_t want = code ? -code : (ssize_t)len;
    int got;

    ok_eq(wire_decode(big, len, lim, &f), want, "%s: wire_decode", what);
    wire_reader_init(&r, lim);
    wire_reader_feed(&r, big, len / 2);
    got = wire_reader_next(&r, &f);
    if (got == 0) {
        wire_reader_feed(&r, big + len / 2, len - len / 2);
        got = wire_reader_next(&r, &f);
    }
    ok(code ? got == -code : got == 1 && f.length == len, "%s: wire_reader (%d)", what, got);
    wire_reader_free(&r);
}

/* A PUB on topic "a" (or a topic of tlen 'a's) with the given header block and payload size. */
static size_t pub(size_t tlen, const uint8_t *hdr, size_t hdr_len, size_t payload_len)
{
    static char topic[70000];
    struct fr_spec s = {
        .type = WIRE_PUB,
        .topic = topic,
        .topic_len = tlen,
        .hdr = hdr,
        .hdr_len = hdr_len,
        .payload = blob,
        .payload_len = payload_len,
    };

    memset(topic, 'a', tlen);
    return fr_build(big, &s);
}

/* A header block of n entries "k": "" (5 bytes each), or one entry of exactly n bytes. */
static size_t hdr_entries(uint8_t *out, size_t n)
{
    size_t i, len = 0;

    for (i = 0; i < n; i++)
        len += fr_hdr(out + len, "k", 1, NULL, 0);
    return len;
}

static size_t hdr_bytes(uint8_t *out, size_t n)
{
    return fr_hdr(out, "k", 1, blob, n - 5);
}

static void defaults_and_validity(void)
{
    struct wire_limits d, l;

    memset(&d, 0xff, sizeof(d));
    wire_limits_default(&d);
    ok_eq(d.max_frame, MiB, "default frame size 1 MiB");
    ok_eq(d.max_topic, 256, "default topic length 256 B");
    ok_eq(d.max_header_bytes, 16 * KiB, "default header block 16 KiB");
    ok_eq(d.max_headers, 64, "default header entries 64");
    ok(WIRE_FRAME_MAX_CEILING == 64 * MiB && WIRE_TOPIC_MAX_CEILING == 65535, "ceilings 64 MiB and 65535 B");
    ok(wire_limits_valid(&d), "defaults are valid");
    l = d;
    l.max_frame = 64 * MiB;
    ok(wire_limits_valid(&l), "max_frame at the 64 MiB ceiling is valid");
    l.max_frame = 64 * MiB + 1;
    ok(!wire_limits_valid(&l), "max_frame above the ceiling is refused");
    l.max_frame = 0xffffffffu;
    ok(!wire_limits_valid(&l), "max_frame 0xffffffff is refused");
    l = d;
    l.max_frame = 31;
    l.max_header_bytes = 0;
    ok(!wire_limits_valid(&l), "max_frame below the fixed header is refused");
    l.max_frame = 0;
    ok(!wire_limits_valid(&l), "max_frame 0 is refused");
    l = d;
    l.max_header_bytes = d.max_frame;
    ok(wire_limits_valid(&l), "header block limit equal to max_frame is valid");
    l.max_header_bytes = d.max_frame + 1;
    ok(!wire_limits_valid(&l), "header block limit above max_frame is refused");
    l = d;
    l.max_topic = 65535;
    l.max_headers = 65535;
    ok(wire_limits_valid(&l), "topic and entry limits at their 65535 ceilings are valid");
}

static void frame_size(void)
{
    struct wire_limits l;
    size_t n;

    wire_limits_default(&l);
    n = pub(1, NULL, 0, MiB - 33);
    ok_eq(n, MiB, "built a frame of exactly 1 MiB");
    expect(n, &l, 0, "frame exactly at the default max_frame");
    n = pub(1, NULL, 0, MiB - 32);
    expect(n, &l, TRPC_E_FRAME_TOO_LARGE, "frame one byte over the default max_frame");
    l.max_frame = 1000;
    l.max_header_bytes = 1000;
    expect(pub(1, NULL, 0, 1000 - 33), &l, 0, "frame exactly at max_frame 1000");
    expect(pub(1, NULL, 0, 1000 - 32), &l, TRPC_E_FRAME_TOO_LARGE, "frame of 1001 over max_frame 1000");
}

static void topic_len(void)
{
    struct wire_limits l;

    wire_limits_default(&l);
    expect(pub(256, NULL, 0, 0), &l, 0, "topic of 256 bytes at the default limit");
    expect(pub(257, NULL, 0, 0), &l, TRPC_E_TOPIC_TOO_LONG, "topic of 257 bytes over the default limit");
    l.max_topic = 10;
    expect(pub(10, NULL, 0, 4), &l, 0, "topic of 10 bytes at a limit of 10");
    expect(pub(11, NULL, 0, 4), &l, TRPC_E_TOPIC_TOO_LONG, "topic of 11 bytes over a limit of 10");
    l.max_topic = 65535;
    expect(pub(65535, NULL, 0, 0), &l, 0, "topic of 65535 bytes at the format's ceiling");
}

static void headers(void)
{
    static uint8_t hdr[400 * KiB];
    struct wire_limits l;

    wire_limits_default(&l);
    expect(pub(1, hdr, hdr_bytes(hdr, 16 * KiB), 3), &l, 0, "header block of 16 KiB at the default limit");
    expect(pub(1, hdr, hdr_bytes(hdr, 16 * KiB + 1), 3), &l, TRPC_E_HEADERS_TOO_LARGE,
           "header block of 16 KiB + 1 over the default limit");
    expect(pub(1, hdr, hdr_entries(hdr, 64), 0), &l, 0, "64 header entries at the default limit");
    expect(pub(1, hdr, hdr_entries(hdr, 65), 0), &l, TRPC_E_TOO_MANY_HEADERS, "65 header entries over the default");
    l.max_header_bytes = 64;
    l.max_headers = 2;
    expect(pub(1, hdr, hdr_bytes(hdr, 64), 0), &l, 0, "header block of 64 bytes at a limit of 64");
    expect(pub(1, hdr, hdr_bytes(hdr, 65), 0), &l, TRPC_E_HEADERS_TOO_LARGE, "header block of 65 over 64");
    expect(pub(1, hdr, hdr_entries(hdr, 2), 0), &l, 0, "2 entries at a limit of 2");
    expect(pub(1, hdr, hdr_entries(hdr, 3), 0), &l, TRPC_E_TOO_MANY_HEADERS, "3 entries over a limit of 2");
    l.max_frame = 2 * MiB;
    l.max_header_bytes = MiB;
    l.max_headers = 65535;
    expect(pub(1, hdr, hdr_entries(hdr, 65535), 0), &l, 0, "65535 entries at the format's ceiling");
}

static void ceiling(void)
{
    struct wire_limits l = {
        .max_frame = 64 * MiB,
        .max_header_bytes = 64 * MiB,
        .max_topic = 65535,
        .max_headers = 65535,
    };

    ok(wire_limits_valid(&l), "limits at every ceiling are valid");
    expect(pub(1, NULL, 0, 64 * MiB - 33), &l, 0, "a frame of exactly 64 MiB");
    fr_fixed(big, 64 * MiB + 1, WIRE_PUB, 0, 1, 0, 0, 0, 0);
    expect(32, &l, TRPC_E_FRAME_TOO_LARGE, "length 64 MiB + 1, fixed header given");
}

static void encoder(void)
{
    static char topic[65536];
    static struct wire_header many[65536];
    struct wire_out o = {.type = WIRE_PUB, .topic = topic, .payload = blob};
    size_t i;

    memset(topic, 'a', sizeof(topic));
    o.topic_len = 300;
    ok_eq(wire_encoded_len(&o), 332, "encoder: a topic above the default limit is still encodable");
    o.topic_len = 65535;
    ok_eq(wire_encoded_len(&o), 32 + 65535, "encoder: topic of 65535 bytes");
    ok_eq(wire_encode(big, 64 * MiB, &o), 32 + 65535, "encoder: encodes a topic of 65535 bytes");
    o.topic_len = 65536;
    ok_eq(wire_encoded_len(&o), -TRPC_E_TOPIC_TOO_LONG, "encoder: topic of 65536 bytes cannot be encoded");
    ok_eq(wire_encode(big, 64 * MiB, &o), -TRPC_E_TOPIC_TOO_LONG, "encoder: refuses a topic of 65536 bytes");

    o.topic_len = 1;
    o.payload_len = 64 * MiB - 33;
    ok_eq(wire_encoded_len(&o), 64 * MiB, "encoder: frame of exactly 64 MiB");
    ok_eq(wire_encode(big, 64 * MiB + 1, &o), 64 * MiB, "encoder: encodes a frame of exactly 64 MiB");
    o.payload_len++;
    ok_eq(wire_encoded_len(&o), -TRPC_E_FRAME_TOO_LARGE, "encoder: frame of 64 MiB + 1 cannot be encoded");
    ok_eq(wire_encode(big, 64 * MiB + 1, &o), -TRPC_E_FRAME_TOO_LARGE, "encoder: refuses a frame of 64 MiB + 1");
    o.payload_len = SIZE_MAX;
    ok_eq(wire_encoded_len(&o), -TRPC_E_FRAME_TOO_LARGE, "encoder: a SIZE_MAX payload does not wrap around");

    o.payload_len = 0;
    for (i = 0; i < 65536; i++)
        many[i] = (struct wire_header){.key = "k", .key_len = 1, .val = (const uint8_t *)""};
    o.headers = many;
    o.header_count = 65535;
    ok_eq(wire_encoded_len(&o), 33 + 65535 * 5, "encoder: 65535 header entries");
    o.header_count = 65536;
    ok_eq(wire_encoded_len(&o), -TRPC_E_TOO_MANY_HEADERS, "encoder: 65536 header entries are over the ceiling");
    ok_eq(wire_encode(big, 64 * MiB, &o), -TRPC_E_TOO_MANY_HEADERS, "encoder: refuses 65536 header entries");
}

int main(void)
{
    big = malloc(64 * MiB + 1);
    blob = calloc(1, 64 * MiB + 1);
    if (!big || !blob)
        BAIL_OUT("out of memory");
    defaults_and_validity();
    frame_size();
    topic_len();
    headers();
    ceiling();
    encoder();
    free(blob);
    free(big);
    return done_testing();
}
