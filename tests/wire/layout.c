/*
 * Byte layout: the codec against the byte offsets of docs/protocol.md. The example of section 10
 * is decoded from its published bytes and re-encoded to them; the fixed header of section 2 and
 * the CONNACK payload of section 4 are checked byte by byte with distinct values in every field;
 * type numbers and flag bits are the tables' own; and a MSG made from a fresh fixed header plus
 * bytes 32.. of a PUB (the broker's fan-out) equals the MSG the encoder makes.
 */
#include <stdlib.h>
#include <string.h>

#include "driver/wire.h"
#include "tests/tap.h"
#include "tests/wire/frames.h"

/* Section 10, verbatim. */
static const uint8_t example[46] = {
    0x2e, 0x00, 0x00, 0x00, 0x05, 0x00, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x61, 0x2e, 0x62, 0x01, 0x00, 0x01, 0x00, 0x6b, 0x76, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

static const struct wire_header kv = {.key = "k", .key_len = 1, .val_len = 1, .val = (const uint8_t *)"v"};

static void section10(void)
{
    struct wire_limits lim;
    struct wire_frame f;
    struct wire_header h;
    uint32_t pos = 0;
    uint8_t *buf = malloc(sizeof(example)), *out = malloc(sizeof(example));
    struct wire_out o = {
        .type = WIRE_PUB,
        .topic = "a.b",
        .topic_len = 3,
        .headers = &kv,
        .header_count = 1,
        .payload = "hello",
        .payload_len = 5,
    };

    if (!buf || !out)
        BAIL_OUT("out of memory");
    memcpy(buf, example, sizeof(example));
    wire_limits_default(&lim);
    ok_eq(wire_decode(buf, sizeof(example), &lim, &f), 46, "example: decodes as a 46-byte frame");
    ok(f.length == 46 && f.type == WIRE_PUB && f.flags == 0, "example: length 46, PUB, no flags");
    ok(f.topic_len == 3 && f.hdr_len == 6 && f.payload_len == 5, "example: topic 3, headers 6, payload 5");
    ok(f.aux == 0 && f.id == 0 && f.seq == 0, "example: aux, id, seq 0");
    ok(f.topic && memcmp(f.topic, "a.b", 3) == 0, "example: topic a.b");
    ok(f.payload && memcmp(f.payload, "hello", 5) == 0, "example: payload hello");
    ok(f.header_count == 1 && wire_header_next(&f, &pos, &h) == 1 && h.key_len == 1 && h.key[0] == 'k' && h.val_len == 1 &&
           h.val[0] == 'v' && wire_header_next(&f, &pos, &h) == 0,
       "example: one header k: v");
    ok_eq(wire_encoded_len(&o), 46, "example: encoded length 46");
    ok_eq(wire_encode(out, sizeof(example), &o), 46, "example: encodes");
    ok(memcmp(out, example, sizeof(example)) == 0, "example: encoder produces the published bytes");
    free(out);
    free(buf);
}

static void fixed_offsets(void)
{
    static const uint8_t want[32] = {
        0xa4, 0xa3, 0xa2, 0xa1,                         /* length */
        0x09,                                           /* type */
        0x0c,                                           /* flags */
        0xb2, 0xb1,                                     /* topic_len */
        0xc4, 0xc3, 0xc2, 0x01,                         /* hdr_len */
        0xd4, 0xd3, 0xd2, 0xd1,                         /* aux */
        0xe8, 0xe7, 0xe6, 0xe5, 0xe4, 0xe3, 0xe2, 0xe1, /* id */
        0xf8, 0xf7, 0xf6, 0xf5, 0xf4, 0xf3, 0xf2, 0xf1, /* seq */
    };
    uint8_t *out = malloc(WIRE_FIXED_LEN), *buf = malloc(64);
    const char *what[] = {"length", "type", "flags", "topic_len", "hdr_len", "aux", "id", "seq"};
    const int at[] = {0, 4, 5, 6, 8, 12, 16, 24, 32};
    struct wire_out o = {
        .type = WIRE_MSG,
        .flags = WIRE_F_ACK_REQUIRED | WIRE_F_REDELIVERED,
        .aux = 0x01020304u,
        .id = 0x1112131415161718ULL,
        .seq = 0x2122232425262728ULL,
        .topic = "t.u",
        .topic_len = 3,
        .headers = &kv,
        .header_count = 1,
        .payload = "pp",
        .payload_len = 2,
    };
    int i;

    if (!out || !buf)
        BAIL_OUT("out of memory");
    /* Distinct bytes everywhere, within put_fixed's precondition 32 + topic_len + hdr_len <= length. */
    wire_put_fixed(out, 0x09, 0x0c, 0xa1a2a3a4u, 0xb1b2, 0x01c2c3c4u, 0xd1d2d3d4u, 0xe1e2e3e4e5e6e7e8ULL, 0xf1f2f3f4f5f6f7f8ULL);
    for (i = 0; i < 8; i++)
        ok(memcmp(out + at[i], want + at[i], (size_t)(at[i + 1] - at[i])) == 0, "wire_put_fixed: %s at offset %d", what[i], at[i]);

    ok_eq(wire_encode(buf, 64, &o), 43, "encoder: MSG of 43 bytes");
    ok_eq(fr_get32(buf + 0), 43, "encoder: length at 0");
    ok_eq(buf[4], WIRE_MSG, "encoder: type at 4");
    ok_eq(buf[5], 0x0c, "encoder: flags at 5");
    ok_eq(fr_get16(buf + 6), 3, "encoder: topic_len at 6");
    ok_eq(fr_get32(buf + 8), 6, "encoder: hdr_len at 8");
    ok(fr_get32(buf + 12) == 0x01020304u && buf[12] == 0x04, "encoder: aux at 12, little-endian");
    ok(fr_get64(buf + 16) == 0x1112131415161718ULL && buf[16] == 0x18, "encoder: id at 16, little-endian");
    ok(fr_get64(buf + 24) == 0x2122232425262728ULL && buf[24] == 0x28, "encoder: seq at 24, little-endian");
    ok(memcmp(buf + 32, "t.u", 3) == 0, "encoder: topic at 32");
    ok(memcmp(buf + 35, "\x01\x00\x01\x00kv", 6) == 0, "encoder: header block after the topic");
    ok(memcmp(buf + 41, "pp", 2) == 0, "encoder: payload after the header block");
    free(buf);
    free(out);
}

static void connack(void)
{
    static const uint8_t want[24] = {
        0x44, 0x33, 0x22, 0x11,                         /* max_frame at 0 */
        0x88, 0x77, 0x66, 0x55,                         /* max_header_bytes at 4 */
        0xaa, 0x99,                                     /* max_topic at 8 */
        0xcc, 0xbb,                                     /* max_headers at 10 */
        0x01, 0xff, 0xee, 0xdd,                         /* keepalive_ms at 12 */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* client_id at 16 */
    };
    const struct wire_connack c = {
        .max_frame = 0x11223344u,
        .max_header_bytes = 0x55667788u,
        .max_topic = 0x99aa,
        .max_headers = 0xbbcc,
        .keepalive_ms = 0xddeeff01u,
        .client_id = 0x0102030405060708ULL,
    };
    uint8_t *out = malloc(WIRE_CONNACK_PAYLOAD_LEN), *longer = malloc(30), *shorter = malloc(23);
    struct wire_connack g, canary;

    if (!out || !longer || !shorter)
        BAIL_OUT("out of memory");
    ok_eq(WIRE_CONNACK_PAYLOAD_LEN, 24, "CONNACK payload is 24 bytes in v1");
    wire_connack_put(out, &c);
    ok(memcmp(out, want, 4) == 0, "connack_put: max_frame at 0");
    ok(memcmp(out + 4, want + 4, 4) == 0, "connack_put: max_header_bytes at 4");
    ok(memcmp(out + 8, want + 8, 2) == 0, "connack_put: max_topic at 8");
    ok(memcmp(out + 10, want + 10, 2) == 0, "connack_put: max_headers at 10");
    ok(memcmp(out + 12, want + 12, 4) == 0, "connack_put: keepalive_ms at 12");
    ok(memcmp(out + 16, want + 16, 8) == 0, "connack_put: client_id at 16");

    memset(&g, 0, sizeof(g));
    ok_eq(wire_connack_get(want, 24, &g), 0, "connack_get: 24 bytes");
    ok(g.max_frame == c.max_frame && g.max_header_bytes == c.max_header_bytes && g.max_topic == c.max_topic &&
           g.max_headers == c.max_headers && g.keepalive_ms == c.keepalive_ms && g.client_id == c.client_id,
       "connack_get: every field from its offset");
    memcpy(longer, want, 24);
    memset(longer + 24, 0xff, 6);
    memset(&g, 0, sizeof(g));
    ok_eq(wire_connack_get(longer, 30, &g), 0, "connack_get: a later version's longer payload");
    ok(g.client_id == c.client_id && g.keepalive_ms == c.keepalive_ms, "connack_get: appended bytes ignored");
    memcpy(shorter, want, 23);
    memset(&g, 0x5a, sizeof(g));
    memcpy(&canary, &g, sizeof(g));
    ok_eq(wire_connack_get(shorter, 23, &g), -TRPC_E_BAD_PAYLOAD, "connack_get: 23 bytes is BAD_PAYLOAD");
    ok(memcmp(&g, &canary, sizeof(g)) == 0, "connack_get: output untouched on failure");
    ok_eq(wire_connack_get(shorter, 0, &g), -TRPC_E_BAD_PAYLOAD, "connack_get: 0 bytes is BAD_PAYLOAD");
    free(shorter);
    free(longer);
    free(out);
}

static void numbering(void)
{
    static const char *const names[] = {"?",   "CONNECT", "CONNACK", "PING", "PONG", "PUB", "PUBACK",   "SUB", "UNSUB",
                                        "MSG", "REQ",     "REP",     "ACK",  "NACK", "ERR", "PROGRESS", "TERM"};
    int i, named = 1;

    ok(WIRE_CONNECT == 1 && WIRE_CONNACK == 2 && WIRE_PING == 3 && WIRE_PONG == 4 && WIRE_PUB == 5 && WIRE_PUBACK == 6 &&
           WIRE_SUB == 7 && WIRE_UNSUB == 8 && WIRE_MSG == 9 && WIRE_REQ == 10 && WIRE_REP == 11 && WIRE_ACK == 12 &&
           WIRE_NACK == 13 && WIRE_ERR == 14 && WIRE_PROGRESS == 15 && WIRE_TERM == 16,
       "type numbers are section 4's");
    ok(WIRE_F_ACK_REQ == 0x01 && WIRE_F_REQUEST == 0x02 && WIRE_F_REDELIVERED == 0x04 && WIRE_F_ACK_REQUIRED == 0x08 &&
           WIRE_F_ERROR == 0x10 && WIRE_F_APP_ERROR == 0x20 && WIRE_F_FATAL == 0x40 && WIRE_F_NO_ECHO == 0x80,
       "flag bits are section 3's");
    ok_eq(WIRE_FIXED_LEN, 32, "fixed header is 32 bytes");
    for (i = 1; i <= 16; i++)
        named &= strcmp(wire_type_name((unsigned)i), names[i]) == 0;
    ok(named, "wire_type_name names the 16 types");
    ok(strcmp(wire_type_name(0), "?") == 0 && strcmp(wire_type_name(17), "?") == 0 && strcmp(wire_type_name(255), "?") == 0 &&
           strcmp(wire_type_name(0x105), "?") == 0,
       "wire_type_name of an unknown type is ?");
}

/* The broker's fan-out: MSG = fresh fixed header + bytes 32.. of the PUB, no re-encoding. */
static void fanout(uint8_t msg_flags, uint32_t aux, uint64_t seq, const char *what)
{
    static const struct wire_header hs[] = {
        {.key = "trace", .key_len = 5, .val_len = 3, .val = (const uint8_t *)"abc"},
        {.key = ":x", .key_len = 2, .val_len = 0, .val = (const uint8_t *)""},
    };
    struct wire_out pub = {
        .type = WIRE_PUB,
        .flags = WIRE_F_ACK_REQ,
        .id = 5,
        .topic = "orders.eu.new",
        .topic_len = 13,
        .headers = hs,
        .header_count = 2,
        .payload = "{\"n\":1}",
        .payload_len = 7,
    };
    struct wire_out msg = pub;
    struct wire_limits lim;
    struct wire_frame f;
    uint8_t pbuf[128], mbuf[128], fan[128];
    ssize_t plen, mlen;

    msg.type = WIRE_MSG;
    msg.flags = msg_flags;
    msg.id = 77;
    msg.seq = seq;
    msg.aux = aux;
    plen = wire_encode(pbuf, sizeof(pbuf), &pub);
    mlen = wire_encode(mbuf, sizeof(mbuf), &msg);
    ok(plen > 0 && plen == mlen, "fan-out %s: PUB and MSG have the same length (%zd, %zd)", what, plen, mlen);
    if (plen <= 0 || plen != mlen)
        return;
    wire_limits_default(&lim);
    if (wire_decode(pbuf, (size_t)plen, &lim, &f) != plen)
        BAIL_OUT("the PUB does not decode");
    wire_put_fixed(fan, WIRE_MSG, msg_flags, f.length, f.topic_len, f.hdr_len, aux, 77, seq);
    memcpy(fan + WIRE_FIXED_LEN, pbuf + WIRE_FIXED_LEN, (size_t)plen - WIRE_FIXED_LEN);
    ok(memcmp(fan, mbuf, (size_t)plen) == 0, "fan-out %s: put_fixed + PUB body equals the encoded MSG", what);
    ok(wire_decode(fan, (size_t)plen, &lim, &f) == plen && f.type == WIRE_MSG && f.id == 77 && f.seq == seq && f.header_count == 2,
       "fan-out %s: the result decodes as that MSG", what);
}

int main(void)
{
    section10();
    fixed_offsets();
    connack();
    numbering();
    fanout(0, 0, 0, "plain");
    fanout(WIRE_F_ACK_REQUIRED, 1, 1000, "durable");
    fanout(WIRE_F_REQUEST, 2500, 0xfeedfacecafebeefULL, "request");
    return done_testing();
}
