/*
 * Malformed frames: each row is a raw byte string built by hand (tests/wire/frames.h, never the
 * encoder under test) with the exact error docs/protocol.md assigns to it. Rows with several
 * faults pin the check order of section 8: length, type, flags, topic_len limit, hdr_len limit,
 * section overrun, topic presence, header presence, payload presence and size, id, seq, aux and
 * reserved fields; then, with the whole frame, topic syntax (first fault from the left) and the
 * header entries. Every row is also run through wire_reader (fed at once and in two parts),
 * whose error must be the same and sticky, and through wire_check_fixed where it has 32 bytes.
 * A row expecting 0 is a prefix of a valid frame: "need more", never an error. After the table,
 * per_type() checks that each type's base frame is valid (so every row breaks exactly what it
 * says) and generates, from a second transcription of section 4's table, every flag bit a type
 * does not allow and every section it may not carry.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/wire.h"
#include "tests/tap.h"
#include "tests/wire/frames.h"

enum hgen {
    HG_RAW,    /* the header block is .hdr/.hlen */
    HG_KEY256, /* one entry with key_len 256 (valid key bytes), empty value */
    HG_THREE,  /* three valid entries */
    HG_FILL,   /* one valid entry of exactly .hfill bytes */
};

struct mrow {
    const char *name;
    uint8_t type;
    uint8_t flags;
    uint32_t aux;
    uint64_t id;
    uint64_t seq;
    const char *topic; /* topic bytes; length strlen(topic) unless tsize */
    size_t tsize;
    size_t tfill; /* or: a topic of tfill 'a' bytes */
    const char *hdr;
    size_t hlen;
    enum hgen hgen;
    size_t hfill;
    size_t plen;  /* payload of plen 'p' bytes */
    bool fix_len; /* override the length field with .len */
    uint32_t len;
    bool fix_tlen; /* override the topic_len field with .tlen */
    uint16_t tlen;
    bool fix_hlen; /* override the hdr_len field with .hlen_field */
    uint32_t hlen_field;
    size_t give;                   /* bytes handed to the decoder, 0: all that was built */
    const struct wire_limits *lim; /* NULL: the defaults */
    int expect;                    /* TRPC_E_* code, 0 for "need more" */
};

static const struct wire_limits small = {
    .max_frame = 4096,
    .max_header_bytes = 64,
    .max_topic = 16,
    .max_headers = 2,
};

#define V1  0x00010001u             /* CONNECT aux: versions 1..1 */
#define H1  "\x01\x00\x01\x00kv", 6 /* one entry k: v; ".hdr = H1" also sets .hlen, the next member */
#define MiB (1u << 20)

/* Types */
#define T_CONNECT .type = WIRE_CONNECT, .aux = V1
#define T_CONNACK .type = WIRE_CONNACK, .aux = 1, .plen = 24
#define T_PING    .type = WIRE_PING
#define T_PONG    .type = WIRE_PONG
#define T_PUB     .type = WIRE_PUB, .topic = "a.b"
#define T_PUBACK  .type = WIRE_PUBACK, .id = 1
#define T_SUB     .type = WIRE_SUB, .topic = "a.*", .id = 1
#define T_UNSUB   .type = WIRE_UNSUB, .id = 1
#define T_MSG     .type = WIRE_MSG, .topic = "a.b", .id = 1
#define T_REQ     .type = WIRE_REQ, .topic = "a.b", .id = 1
#define T_REP     .type = WIRE_REP
#define T_ACK     .type = WIRE_ACK, .id = 1, .seq = 1
#define T_NACK    .type = WIRE_NACK, .id = 1, .seq = 1
#define T_ERR     .type = WIRE_ERR, .aux = TRPC_E_PROTOCOL

#define E(code) .expect = TRPC_E_##code

/* Rows start from a valid frame of their type (T_*) and override the field they break. */
#pragma GCC diagnostic ignored "-Woverride-init"

static const struct mrow rows[] = {
    /* length */
    {"length 16, only 4 bytes given", T_PING, .fix_len = true, .len = 16, .give = 4, E(BAD_LENGTH)},
    {"length 0", T_PING, .fix_len = true, .len = 0, E(BAD_LENGTH)},
    {"length 31, 32 bytes given", T_PING, .fix_len = true, .len = 31, E(BAD_LENGTH)},
    {"length 31, 31 bytes given", T_PING, .fix_len = true, .len = 31, .give = 31, E(BAD_LENGTH)},
    {"length 1, 4 bytes given", T_PING, .fix_len = true, .len = 1, .give = 4, E(BAD_LENGTH)},
    {"length max_frame+1, 4 bytes given", T_PING, .fix_len = true, .len = MiB + 1, .give = 4, E(FRAME_TOO_LARGE)},
    {"length max_frame+1, fixed header given", T_PUB, .fix_len = true, .len = MiB + 1, E(FRAME_TOO_LARGE)},
    {"length 0xffffffff", T_PING, .fix_len = true, .len = 0xffffffffu, E(FRAME_TOO_LARGE)},
    {"length 4097 over a 4096 limit", T_PUB, .plen = 4097 - 35, .lim = &small, E(FRAME_TOO_LARGE)},
    /* type */
    {"type 0", .type = 0, E(UNKNOWN_TYPE)},
    {"type 17", .type = 17, E(UNKNOWN_TYPE)},
    {"type 255", .type = 255, E(UNKNOWN_TYPE)},
    {"order: bad length before unknown type", .type = 0, .fix_len = true, .len = 16, E(BAD_LENGTH)},
    {"order: too large before unknown type", .type = 200, .fix_len = true, .len = 2 * MiB, E(FRAME_TOO_LARGE)},
    {"order: unknown type before flags", .type = 17, .flags = 0xff, E(UNKNOWN_TYPE)},
    /* flags not allowed on the type */
    {"CONNECT with ACK_REQ", T_CONNECT, .flags = WIRE_F_ACK_REQ, E(BAD_FLAGS)},
    {"CONNECT with FATAL", T_CONNECT, .flags = WIRE_F_FATAL, E(BAD_FLAGS)},
    {"CONNACK with NO_ECHO", T_CONNACK, .flags = WIRE_F_NO_ECHO, E(BAD_FLAGS)},
    {"PING with FATAL", T_PING, .flags = WIRE_F_FATAL, E(BAD_FLAGS)},
    {"PONG with ACK_REQ", T_PONG, .flags = WIRE_F_ACK_REQ, E(BAD_FLAGS)},
    {"PUB with NO_ECHO", T_PUB, .flags = WIRE_F_NO_ECHO, E(BAD_FLAGS)},
    {"PUB with REQUEST", T_PUB, .flags = WIRE_F_REQUEST, E(BAD_FLAGS)},
    {"PUBACK with ACK_REQ", T_PUBACK, .flags = WIRE_F_ACK_REQ, E(BAD_FLAGS)},
    {"SUB with ACK_REQ", T_SUB, .flags = WIRE_F_ACK_REQ, E(BAD_FLAGS)},
    {"UNSUB with NO_ECHO", T_UNSUB, .flags = WIRE_F_NO_ECHO, E(BAD_FLAGS)},
    {"MSG with ACK_REQ", T_MSG, .flags = WIRE_F_ACK_REQ, E(BAD_FLAGS)},
    {"MSG with ERROR", T_MSG, .flags = WIRE_F_ERROR, E(BAD_FLAGS)},
    {"REQ with ACK_REQUIRED", T_REQ, .flags = WIRE_F_ACK_REQUIRED, E(BAD_FLAGS)},
    {"REQ with REQUEST", T_REQ, .flags = WIRE_F_REQUEST, E(BAD_FLAGS)},
    {"REP with FATAL", T_REP, .flags = WIRE_F_FATAL, E(BAD_FLAGS)},
    {"REP with REQUEST", T_REP, .flags = WIRE_F_REQUEST, E(BAD_FLAGS)},
    {"ACK with ACK_REQUIRED", T_ACK, .flags = WIRE_F_ACK_REQUIRED, E(BAD_FLAGS)},
    {"NACK with REDELIVERED", T_NACK, .flags = WIRE_F_REDELIVERED, E(BAD_FLAGS)},
    {"ERR with ERROR", T_ERR, .flags = WIRE_F_ERROR, E(BAD_FLAGS)},
    {"ERR with every bit", T_ERR, .flags = 0xff, E(BAD_FLAGS)},
    /* forbidden combinations */
    {"MSG REQUEST|ACK_REQUIRED", T_MSG, .seq = 1, .flags = WIRE_F_REQUEST | WIRE_F_ACK_REQUIRED, E(BAD_FLAGS)},
    {"MSG REQUEST|REDELIVERED", T_MSG, .seq = 1, .flags = WIRE_F_REQUEST | WIRE_F_REDELIVERED, E(BAD_FLAGS)},
    {"MSG REQUEST|REDELIVERED|ACK_REQUIRED", T_MSG, .seq = 1, .flags = WIRE_F_REQUEST | WIRE_F_REDELIVERED | WIRE_F_ACK_REQUIRED,
     E(BAD_FLAGS)},
    {"MSG REDELIVERED without ACK_REQUIRED", T_MSG, .seq = 1, .flags = WIRE_F_REDELIVERED, E(BAD_FLAGS)},
    {"REP ERROR|APP_ERROR", T_REP, .aux = TRPC_E_TIMEOUT, .flags = WIRE_F_ERROR | WIRE_F_APP_ERROR, E(BAD_FLAGS)},
    {"order: flags before topic presence", T_PING, .flags = WIRE_F_FATAL, .topic = "a", E(BAD_FLAGS)},
    /* topic_len against the limit */
    {"PUB topic of 257 bytes", T_PUB, .tfill = 257, E(TOPIC_TOO_LONG)},
    {"SUB topic of 17 bytes over a 16 limit", T_SUB, .tfill = 17, .lim = &small, E(TOPIC_TOO_LONG)},
    {"PUB topic_len 300, fixed header and 3 bytes given", T_PUB, .fix_tlen = true, .tlen = 300, .fix_len = true, .len = 32 + 300,
     E(TOPIC_TOO_LONG)},
    {"order: topic too long before topic not allowed", T_CONNECT, .tfill = 257, E(TOPIC_TOO_LONG)},
    {"order: topic too long before headers too large", T_PUB, .tfill = 17, .hgen = HG_FILL, .hfill = 65, .lim = &small,
     E(TOPIC_TOO_LONG)},
    /* hdr_len against the limit */
    {"PUB header block of 65 bytes over a 64 limit", T_PUB, .hgen = HG_FILL, .hfill = 65, .lim = &small, E(HEADERS_TOO_LARGE)},
    {"PUB hdr_len 16385, fixed header given", T_PUB, .fix_hlen = true, .hlen_field = (16u << 10) + 1, .fix_len = true,
     .len = 32 + 3 + (16u << 10) + 1, E(HEADERS_TOO_LARGE)},
    {"order: hdr_len 0xffffffff is too large, not an overrun", T_PUB, .fix_hlen = true, .hlen_field = 0xffffffffu, .fix_len = true,
     .len = 100, E(HEADERS_TOO_LARGE)},
    /* sections overrunning the frame */
    {"PUB topic+headers one byte past length", T_PUB, .hdr = H1, .fix_len = true, .len = 40, .give = 40, E(SECTION_OVERRUN)},
    {"PUB topic_len 10 in a 40-byte frame", T_PUB, .fix_tlen = true, .tlen = 10, .fix_len = true, .len = 40, E(SECTION_OVERRUN)},
    {"PUB hdr_len 16384 in a 100-byte frame", T_PUB, .fix_hlen = true, .hlen_field = 16u << 10, .fix_len = true, .len = 100,
     E(SECTION_OVERRUN)},
    {"order: overrun before topic not allowed", T_CONNECT, .topic = "x", .fix_len = true, .len = 32, .give = 32,
     E(SECTION_OVERRUN)},
    /* topic presence */
    {"CONNECT with a topic", T_CONNECT, .topic = "a", E(TOPIC_NOT_ALLOWED)},
    {"PING with a topic", T_PING, .topic = "a", E(TOPIC_NOT_ALLOWED)},
    {"PUBACK with a topic", T_PUBACK, .topic = "a", E(TOPIC_NOT_ALLOWED)},
    {"REP with a topic", T_REP, .topic = "a", E(TOPIC_NOT_ALLOWED)},
    {"ACK with a topic", T_ACK, .topic = "a", E(TOPIC_NOT_ALLOWED)},
    {"ERR with a topic", T_ERR, .topic = "a", E(TOPIC_NOT_ALLOWED)},
    {"PUB without topic", .type = WIRE_PUB, E(TOPIC_REQUIRED)},
    {"SUB without topic", .type = WIRE_SUB, .id = 1, E(TOPIC_REQUIRED)},
    {"MSG without topic", .type = WIRE_MSG, .id = 1, E(TOPIC_REQUIRED)},
    {"REQ without topic", .type = WIRE_REQ, .id = 1, E(TOPIC_REQUIRED)},
    {"order: topic presence before header presence", T_PING, .topic = "a", .hdr = H1, E(TOPIC_NOT_ALLOWED)},
    /* header presence */
    {"PING with headers", T_PING, .hdr = H1, E(HEADERS_NOT_ALLOWED)},
    {"PONG with headers", T_PONG, .hdr = H1, E(HEADERS_NOT_ALLOWED)},
    {"PUBACK with headers", T_PUBACK, .hdr = H1, E(HEADERS_NOT_ALLOWED)},
    {"UNSUB with headers", T_UNSUB, .hdr = H1, E(HEADERS_NOT_ALLOWED)},
    {"ACK with headers", T_ACK, .hdr = H1, E(HEADERS_NOT_ALLOWED)},
    {"NACK with headers", T_NACK, .hdr = H1, E(HEADERS_NOT_ALLOWED)},
    {"ERR with headers", T_ERR, .hdr = H1, E(HEADERS_NOT_ALLOWED)},
    {"order: header presence before payload presence", T_PING, .hdr = H1, .plen = 1, E(HEADERS_NOT_ALLOWED)},
    /* payload presence and size */
    {"CONNECT with a payload", T_CONNECT, .plen = 1, E(PAYLOAD_NOT_ALLOWED)},
    {"PING with a payload", T_PING, .plen = 1, E(PAYLOAD_NOT_ALLOWED)},
    {"PONG with a payload", T_PONG, .plen = 8, E(PAYLOAD_NOT_ALLOWED)},
    {"PUBACK with a payload", T_PUBACK, .plen = 1, E(PAYLOAD_NOT_ALLOWED)},
    {"SUB with a payload", T_SUB, .plen = 1, E(PAYLOAD_NOT_ALLOWED)},
    {"UNSUB with a payload", T_UNSUB, .plen = 1, E(PAYLOAD_NOT_ALLOWED)},
    {"ACK with a payload", T_ACK, .plen = 1, E(PAYLOAD_NOT_ALLOWED)},
    {"NACK with a payload", T_NACK, .plen = 1, E(PAYLOAD_NOT_ALLOWED)},
    {"CONNACK without payload", T_CONNACK, .plen = 0, E(BAD_PAYLOAD)},
    {"CONNACK with a 23-byte payload", T_CONNACK, .plen = 23, E(BAD_PAYLOAD)},
    {"order: payload presence before id", T_PUBACK, .id = 0, .plen = 1, E(PAYLOAD_NOT_ALLOWED)},
    {"order: payload size before reserved id", T_CONNACK, .plen = 23, .id = 1, E(BAD_PAYLOAD)},
    /* id must be non-zero */
    {"PUB with ACK_REQ and id 0", T_PUB, .flags = WIRE_F_ACK_REQ, .id = 0, E(BAD_ID)},
    {"PUBACK with id 0", T_PUBACK, .id = 0, E(BAD_ID)},
    {"SUB with id 0", T_SUB, .id = 0, E(BAD_ID)},
    {"UNSUB with id 0", T_UNSUB, .id = 0, E(BAD_ID)},
    {"MSG with id 0", T_MSG, .id = 0, E(BAD_ID)},
    {"REQ with id 0", T_REQ, .id = 0, E(BAD_ID)},
    {"ACK with id 0", T_ACK, .id = 0, E(BAD_ID)},
    {"NACK with id 0", T_NACK, .id = 0, E(BAD_ID)},
    {"order: id before seq", T_ACK, .id = 0, .seq = 0, E(BAD_ID)},
    /* seq must be non-zero */
    {"ACK with seq 0", T_ACK, .seq = 0, E(BAD_SEQ)},
    {"NACK with seq 0", T_NACK, .seq = 0, E(BAD_SEQ)},
    {"MSG REQUEST with seq 0", T_MSG, .flags = WIRE_F_REQUEST, .aux = 500, .seq = 0, E(BAD_SEQ)},
    {"MSG ACK_REQUIRED with seq 0", T_MSG, .flags = WIRE_F_ACK_REQUIRED, .aux = 1, .seq = 0, E(BAD_SEQ)},
    {"MSG ACK_REQUIRED|REDELIVERED with seq 0", T_MSG, .flags = WIRE_F_ACK_REQUIRED | WIRE_F_REDELIVERED, .aux = 2, .seq = 0,
     E(BAD_SEQ)},
    {"order: seq before reserved aux", T_ACK, .seq = 0, .aux = 5, E(BAD_SEQ)},
    {"order: id before reserved aux", T_UNSUB, .id = 0, .aux = 5, E(BAD_ID)},
    /* reserved fields */
    {"CONNECT with id", T_CONNECT, .id = 1, E(RESERVED_NOT_ZERO)},
    {"CONNECT with seq", T_CONNECT, .seq = 1, E(RESERVED_NOT_ZERO)},
    {"CONNACK with id", T_CONNACK, .id = 1, E(RESERVED_NOT_ZERO)},
    {"CONNACK with seq", T_CONNACK, .seq = 1, E(RESERVED_NOT_ZERO)},
    {"PING with seq", T_PING, .seq = 1, E(RESERVED_NOT_ZERO)},
    {"PING with aux", T_PING, .aux = 1, E(RESERVED_NOT_ZERO)},
    {"PING with aux high bit", T_PING, .aux = 0x80000000u, E(RESERVED_NOT_ZERO)},
    {"PONG with seq", T_PONG, .seq = 1, E(RESERVED_NOT_ZERO)},
    {"PONG with aux", T_PONG, .aux = 1, E(RESERVED_NOT_ZERO)},
    {"PUB with seq", T_PUB, .seq = 1, E(RESERVED_NOT_ZERO)},
    {"PUB with seq high bit", T_PUB, .seq = 1ULL << 63, E(RESERVED_NOT_ZERO)},
    {"PUB with aux", T_PUB, .aux = 1, E(RESERVED_NOT_ZERO)},
    {"PUBACK with aux", T_PUBACK, .aux = 1, E(RESERVED_NOT_ZERO)},
    {"SUB with seq", T_SUB, .seq = 1, E(RESERVED_NOT_ZERO)},
    {"UNSUB with seq", T_UNSUB, .seq = 1, E(RESERVED_NOT_ZERO)},
    {"UNSUB with aux", T_UNSUB, .aux = 1, E(RESERVED_NOT_ZERO)},
    {"REQ with seq", T_REQ, .seq = 1, E(RESERVED_NOT_ZERO)},
    {"ACK with aux", T_ACK, .aux = 1, E(RESERVED_NOT_ZERO)},
    {"ERR with seq", T_ERR, .seq = 1, E(RESERVED_NOT_ZERO)},
    /* "see below" in the table; the text says a plain MSG has aux 0 and a successful REP too. */
    {"plain MSG with aux", T_MSG, .aux = 1, E(RESERVED_NOT_ZERO)},
    {"REP without ERROR or APP_ERROR with aux", T_REP, .aux = 5, E(RESERVED_NOT_ZERO)},
    /* codes that must be present */
    {"ERR with aux 0", T_ERR, .aux = 0, E(BAD_CODE)},
    {"ERR FATAL with aux 0", T_ERR, .flags = WIRE_F_FATAL, .aux = 0, E(BAD_CODE)},
    {"REP ERROR with aux 0", T_REP, .flags = WIRE_F_ERROR, .aux = 0, E(BAD_CODE)},
    /* The spec marks CONNACK aux "nz" (the chosen version) but names no code for 0; this pins
     * the codec's choice, "no protocol version in common". */
    {"CONNACK with aux 0", T_CONNACK, .aux = 0, E(UNSUPPORTED_VERSION)},
    /* topic syntax (whole frame) */
    {"PUB topic a..b", T_PUB, .topic = "a..b", E(BAD_TOPIC)},
    {"PUB topic .a", T_PUB, .topic = ".a", E(BAD_TOPIC)},
    {"PUB topic a.", T_PUB, .topic = "a.", E(BAD_TOPIC)},
    {"PUB topic .", T_PUB, .topic = ".", E(BAD_TOPIC)},
    {"PUB topic with 0x01", T_PUB, .topic = "a\x01z", E(BAD_TOPIC)},
    {"PUB topic with NUL", T_PUB, .topic = "a\0z", .tsize = 3, E(BAD_TOPIC)},
    {"PUB topic with space", T_PUB, .topic = "a b", E(BAD_TOPIC)},
    {"PUB topic with 0x7f", T_PUB, .topic = "a\x7f", E(BAD_TOPIC)},
    {"MSG topic with 0x1f", T_MSG, .topic = "x.\x1f", E(BAD_TOPIC)},
    {"SUB pattern a..b", T_SUB, .topic = "a..b", E(BAD_TOPIC)},
    {"SUB pattern with trailing dot", T_SUB, .topic = "a.*.", E(BAD_TOPIC)},
    {"PUB topic a.*", T_PUB, .topic = "a.*", E(WILDCARD_NOT_ALLOWED)},
    {"PUB topic a.>", T_PUB, .topic = "a.>", E(WILDCARD_NOT_ALLOWED)},
    {"PUB topic >", T_PUB, .topic = ">", E(WILDCARD_NOT_ALLOWED)},
    {"REQ topic *.a", T_REQ, .topic = "*.a", E(WILDCARD_NOT_ALLOWED)},
    {"MSG topic a.>", T_MSG, .topic = "a.>", E(WILDCARD_NOT_ALLOWED)},
    {"SUB pattern >.a", T_SUB, .topic = ">.a", E(BAD_WILDCARD)},
    {"SUB pattern a.>.b", T_SUB, .topic = "a.>.b", E(BAD_WILDCARD)},
    {"SUB pattern a*", T_SUB, .topic = "a*", E(BAD_WILDCARD)},
    {"SUB pattern *a", T_SUB, .topic = "*a", E(BAD_WILDCARD)},
    {"SUB pattern a.>b", T_SUB, .topic = "a.>b", E(BAD_WILDCARD)},
    {"PUB topic a*", T_PUB, .topic = "a*", E(BAD_WILDCARD)},
    {"leftmost: PUB *.a b", T_PUB, .topic = "*.a b", E(WILDCARD_NOT_ALLOWED)},
    {"leftmost: PUB a b.*", T_PUB, .topic = "a b.*", E(BAD_TOPIC)},
    {"leftmost: SUB a*.b..c", T_SUB, .topic = "a*.b..c", E(BAD_WILDCARD)},
    {"leftmost: SUB a..b*", T_SUB, .topic = "a..b*", E(BAD_TOPIC)},
    {"order: reserved field before topic syntax", T_PUB, .topic = "a.*", .aux = 1, E(RESERVED_NOT_ZERO)},
    {"order: id before topic syntax", T_PUB, .flags = WIRE_F_ACK_REQ, .topic = "a..b", E(BAD_ID)},
    /* header entries (whole frame) */
    {"entry value overruns the block", T_PUB, .hdr = "\x01\x00\x05\x00kv", .hlen = 6, E(BAD_HEADER)},
    {"entry key overruns the block", T_PUB, .hdr = "\x0a\x00\x00\x00kv", .hlen = 6, E(BAD_HEADER)},
    {"3-byte block: entry header does not fit", T_PUB, .hdr = "\x01\x00\x00", .hlen = 3, E(BAD_HEADER)},
    {"valid entry then 2 stray bytes", T_PUB, .hdr = "\x01\x00\x01\x00kv\x01\x00", .hlen = 8, E(BAD_HEADER)},
    {"key_len 0", T_PUB, .hdr = "\x00\x00\x01\x00v", .hlen = 5, E(BAD_HEADER)},
    {"key_len 0, val_len 0", T_PUB, .hdr = "\x00\x00\x00\x00", .hlen = 4, E(BAD_HEADER)},
    {"key_len 256", T_PUB, .hgen = HG_KEY256, E(BAD_HEADER)},
    {"key with space", T_PUB,
     .hdr = "\x03\x00\x00\x00"
            "a b",
     .hlen = 7, E(BAD_HEADER)},
    {"key with 0x7f", T_PUB, .hdr = "\x01\x00\x00\x00\x7f", .hlen = 5, E(BAD_HEADER)},
    {"key with 0x80", T_PUB, .hdr = "\x02\x00\x00\x00k\x80", .hlen = 6, E(BAD_HEADER)},
    {"key with NUL", T_PUB, .hdr = "\x02\x00\x00\x00k\x00", .hlen = 6, E(BAD_HEADER)},
    {"second entry has key_len 0", T_REQ, .hdr = "\x01\x00\x01\x00kv\x00\x00\x00\x00", .hlen = 10, E(BAD_HEADER)},
    {"CONNECT key with space", T_CONNECT, .hdr = "\x02\x00\x00\x00: ", .hlen = 6, E(BAD_HEADER)},
    {"REP entry overruns", T_REP, .hdr = "\x01\x00\xff\xffk", .hlen = 5, E(BAD_HEADER)},
    {"SUB with 3 entries over a limit of 2", T_SUB, .hgen = HG_THREE, .lim = &small, E(TOO_MANY_HEADERS)},
    {"CONNECT with 3 entries over a limit of 2", T_CONNECT, .hgen = HG_THREE, .lim = &small, E(TOO_MANY_HEADERS)},
    {"order: topic syntax before header entries", T_PUB, .topic = "a..b", .hdr = "\x00\x00\x00\x00", .hlen = 4, E(BAD_TOPIC)},
    {"order: fixed header before header entries", T_PUB, .seq = 7, .hdr = "\x00\x00\x00\x00", .hlen = 4, E(RESERVED_NOT_ZERO)},
    /* a fixed-header fault is refused before the rest of the frame arrives */
    {"MSG with id 0, fixed header given", T_MSG, .id = 0, .plen = 10, .give = 32, E(BAD_ID)},
    {"PING with a payload, fixed header given", T_PING, .plen = 100, .give = 32, E(PAYLOAD_NOT_ALLOWED)},
    {"SUB with a topic_len too long, fixed header given", T_SUB, .tfill = 300, .give = 32, E(TOPIC_TOO_LONG)},
    /* prefixes of valid frames: need more */
    {"valid PUB, 1 byte given", T_PUB, .hdr = H1, .plen = 5, .give = 1, .expect = 0},
    {"valid PUB, 4 bytes given", T_PUB, .hdr = H1, .plen = 5, .give = 4, .expect = 0},
    {"valid PUB, 5 bytes given", T_PUB, .hdr = H1, .plen = 5, .give = 5, .expect = 0},
    {"valid PUB, 31 bytes given", T_PUB, .hdr = H1, .plen = 5, .give = 31, .expect = 0},
    {"valid PUB, fixed header given", T_PUB, .hdr = H1, .plen = 5, .give = 32, .expect = 0},
    {"valid PUB, part of the topic given", T_PUB, .hdr = H1, .plen = 5, .give = 34, .expect = 0},
    {"valid PUB, all but one byte given", T_PUB, .hdr = H1, .plen = 5, .give = 45, .expect = 0},
    {"valid CONNACK, all but its last payload byte", T_CONNACK, .give = 55, .expect = 0},
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static uint8_t work[8192];

/* Builds row r into work; returns the bytes built. */
static size_t build(const struct mrow *r)
{
    static uint8_t topic[512], hdr[512], payload[8192];
    struct fr_spec s = {
        .type = r->type,
        .flags = r->flags,
        .aux = r->aux,
        .id = r->id,
        .seq = r->seq,
    };
    size_t i, n;

    if (r->tfill) {
        memset(topic, 'a', r->tfill);
        s.topic = (const char *)topic;
        s.topic_len = r->tfill;
    } else if (r->topic) {
        s.topic = r->topic;
        s.topic_len = r->tsize ? r->tsize : strlen(r->topic);
    }
    switch (r->hgen) {
    case HG_RAW:
        s.hdr = (const uint8_t *)r->hdr;
        s.hdr_len = r->hlen;
        break;
    case HG_KEY256:
        memset(hdr + 4, 'k', 256);
        s.hdr_len = fr_hdr(hdr, (const char *)hdr + 4, 256, NULL, 0);
        s.hdr = hdr;
        break;
    case HG_THREE:
        n = 0;
        for (i = 0; i < 3; i++)
            n += fr_hdr(hdr + n, "k", 1, "v", 1);
        s.hdr = hdr;
        s.hdr_len = n;
        break;
    case HG_FILL:
        memset(payload, 'v', r->hfill);
        s.hdr_len = fr_hdr(hdr, "k", 1, payload, r->hfill - 5);
        s.hdr = hdr;
        break;
    }
    memset(payload, 'p', r->plen);
    s.payload = payload;
    s.payload_len = r->plen;
    if (fr_len(&s) > sizeof(work))
        BAIL_OUT("row %s does not fit", r->name);
    n = fr_build(work, &s);
    if (r->fix_len)
        fr_put32(work, r->len);
    if (r->fix_tlen)
        fr_put16(work + 6, r->tlen);
    if (r->fix_hlen)
        fr_put32(work + 8, r->hlen_field);
    return n;
}

/* A valid frame to feed after an error: a sticky reader must not recover on it. */
static const uint8_t ping[32] = {32, 0, 0, 0, WIRE_PING};

static void check_reader(const struct mrow *r, const uint8_t *buf, size_t len, const struct wire_limits *lim)
{
    struct wire_reader rd;
    struct wire_frame f;
    int want = -r->expect;
    int got, again, after;

    wire_reader_init(&rd, lim);
    wire_reader_feed(&rd, buf, len);
    got = wire_reader_next(&rd, &f);
    ok_eq(got, want, "%s: reader fed at once", r->name);
    if (want == 0) {
        ok_eq(wire_reader_pending(&rd), len, "%s: reader holds the %zu bytes", r->name, len);
    } else {
        again = wire_reader_next(&rd, &f);
        wire_reader_feed(&rd, ping, sizeof(ping));
        after = wire_reader_next(&rd, &f);
        ok(again == want && after == want, "%s: reader error is sticky (%d, %d)", r->name, again, after);
    }
    wire_reader_free(&rd);

    /* Two parts (the first byte, then the rest) take the reassembly path. */
    wire_reader_init(&rd, lim);
    wire_reader_feed(&rd, buf, 1);
    got = wire_reader_next(&rd, &f);
    if (got == 0 && len > 1) {
        wire_reader_feed(&rd, buf + 1, len - 1);
        got = wire_reader_next(&rd, &f);
    }
    ok_eq(got, want, "%s: reader fed in two parts", r->name);
    wire_reader_free(&rd);
}

static void run(const struct mrow *r)
{
    struct wire_limits def;
    const struct wire_limits *lim = r->lim;
    struct wire_frame f, canary;
    size_t built = build(r);
    size_t len = r->give ? r->give : built;
    uint8_t *buf;
    ssize_t got;

    if (!lim) {
        wire_limits_default(&def);
        lim = &def;
    }
    if (len > built)
        BAIL_OUT("row %s gives more than it built", r->name);
    /* Exactly len bytes on the heap: any read past them is an ASan report. */
    buf = malloc(len);
    if (!buf)
        BAIL_OUT("out of memory");
    memcpy(buf, work, len);

    memset(&f, 0x5a, sizeof(f));
    memcpy(&canary, &f, sizeof(f));
    got = wire_decode(buf, len, lim, &f);
    ok_eq(got, -r->expect, "%s: wire_decode gives %s", r->name, r->expect ? trpc_err_name(r->expect) : "0");
    ok(memcmp(&f, &canary, sizeof(f)) == 0, "%s: frame untouched", r->name);

    if (len >= WIRE_FIXED_LEN) {
        ssize_t fixed = wire_check_fixed(buf, lim);
        bool whole_frame = r->expect == 0 || r->expect == TRPC_E_BAD_TOPIC || r->expect == TRPC_E_BAD_WILDCARD ||
                           r->expect == TRPC_E_WILDCARD_NOT_ALLOWED || r->expect == TRPC_E_BAD_HEADER ||
                           r->expect == TRPC_E_TOO_MANY_HEADERS;

        if (whole_frame)
            ok_eq(fixed, fr_get32(buf), "%s: fixed header passes wire_check_fixed", r->name);
        else
            ok_eq(fixed, -r->expect, "%s: wire_check_fixed gives the same code", r->name);
    }
    check_reader(r, buf, len, lim);
    free(buf);
}

/*
 * Section 4's table transcribed once more, per type: the allowed flags and which sections may be
 * present. Each type's valid base frame (the T_* above) must decode; then every flag bit it does
 * not allow, a topic, a header block or a payload where the table says "none" must be refused.
 */
static const struct {
    struct mrow base;
    uint8_t allowed_flags;
    bool topic, headers, payload;
} types[] = {
    {{"CONNECT", T_CONNECT}, WIRE_F_NO_ECHO, false, true, false},
    {{"CONNACK", T_CONNACK}, 0, false, true, true},
    {{"PING", T_PING}, 0, false, false, false},
    {{"PONG", T_PONG}, 0, false, false, false},
    {{"PUB", T_PUB}, WIRE_F_ACK_REQ, true, true, true},
    {{"PUBACK", T_PUBACK}, 0, false, false, false},
    {{"SUB", T_SUB}, 0, true, true, false},
    {{"UNSUB", T_UNSUB}, 0, false, false, false},
    {{"MSG", T_MSG}, WIRE_F_REQUEST | WIRE_F_REDELIVERED | WIRE_F_ACK_REQUIRED, true, true, true},
    {{"REQ", T_REQ}, WIRE_F_DURABLE, true, true, true},
    {{"REP", T_REP}, WIRE_F_ERROR | WIRE_F_APP_ERROR, false, true, true},
    {{"ACK", T_ACK}, 0, false, false, false},
    {{"NACK", T_NACK}, 0, false, false, false},
    {{"ERR", T_ERR}, WIRE_F_FATAL, false, false, true},
};

#define N_TYPES (sizeof(types) / sizeof(types[0]))

static size_t generated;

/* Runs base, a type's valid frame with one thing changed, expecting code. */
static void run_generated(const struct mrow *base, const char *what, int expect)
{
    static char name[128];
    struct mrow r = *base;

    snprintf(name, sizeof(name), "%s %s", base->name, what);
    r.name = name;
    r.expect = expect;
    run(&r);
    generated++;
}

static void valid_control(const struct mrow *r)
{
    struct wire_limits lim;
    struct wire_reader rd;
    struct wire_frame f;
    size_t len = build(r);
    int got;

    wire_limits_default(&lim);
    ok_eq(wire_decode(work, len, &lim, &f), len, "%s base frame is valid", r->name);
    wire_reader_init(&rd, &lim);
    wire_reader_feed(&rd, work, len);
    got = wire_reader_next(&rd, &f);
    ok(got == 1 && wire_reader_next(&rd, &f) == 0, "%s base frame is valid for wire_reader", r->name);
    wire_reader_free(&rd);
}

static void per_type(void)
{
    char what[64];
    size_t t;
    unsigned bit;

    for (t = 0; t < N_TYPES; t++) {
        struct mrow r = types[t].base;

        ok_eq(r.type, t + 1, "%s is type %zu", r.name, t + 1);
        valid_control(&r);
        for (bit = 1; bit < 0x100; bit <<= 1) {
            if (types[t].allowed_flags & bit)
                continue;
            r = types[t].base;
            r.flags = (uint8_t)bit;
            snprintf(what, sizeof(what), "with flag 0x%02x", bit);
            run_generated(&r, what, TRPC_E_BAD_FLAGS);
        }
        if (!types[t].topic) {
            r = types[t].base;
            r.topic = "a";
            run_generated(&r, "with a topic", TRPC_E_TOPIC_NOT_ALLOWED);
        }
        if (!types[t].headers) {
            r = types[t].base;
            r.hdr = "\x01\x00\x01\x00kv";
            r.hlen = 6;
            run_generated(&r, "with a header block", TRPC_E_HEADERS_NOT_ALLOWED);
        }
        if (!types[t].payload) {
            r = types[t].base;
            r.plen = 3;
            run_generated(&r, "with a payload", TRPC_E_PAYLOAD_NOT_ALLOWED);
        }
    }
}

int main(void)
{
    size_t i;

    ok(wire_limits_valid(&small), "the small limits used below are valid");
    for (i = 0; i < N_ROWS; i++)
        run(&rows[i]);
    per_type();
    ok(N_ROWS + generated >= 50, "%zu malformed inputs (%zu in the table, %zu generated per type)", N_ROWS + generated, N_ROWS,
       generated);
    return done_testing();
}
