/*
 * wire: the TRPC v1 frame codec, shared by the client library and the broker.
 *
 * docs/protocol.md is the normative specification; this header mirrors it. Every frame is
 *
 *   offset  size  field
 *    0      4     length     total frame length in bytes, this header included (u32 LE)
 *    4      1     type       enum wire_type
 *    5      1     flags      WIRE_F_* bits, each allowed only on the types the spec names
 *    6      2     topic_len  bytes of topic that follow the fixed header (u16 LE)
 *    8      4     hdr_len    bytes of header block that follow the topic (u32 LE)
 *   12      4     aux        type-specific 32-bit value (u32 LE)
 *   16      8     id         correlation or subscription id (u64 LE)
 *   24      8     seq        sequence number or reply token (u64 LE)
 *   32      topic_len  topic (ASCII, see topic.h)
 *           hdr_len    header block: entries of u16 key_len, u16 val_len, key, value
 *           rest       payload, opaque to the broker
 *
 * Topic, header block and payload are laid out identically in PUB, REQ and MSG, so the broker
 * fans a PUB out as a fresh 32-byte fixed header per subscriber plus the received bytes from
 * offset 32 on.
 *
 * Return conventions: functions return a length or 0 on success and -TRPC_E_* from
 * <trpc/errors.h> on failure; out-parameters are untouched on failure. Nothing here allocates
 * except the reassembly buffer of struct wire_reader, which is bounded by the frame limit.
 */
#ifndef TRPC_WIRE_H
#define TRPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <trpc/errors.h>

#define WIRE_VERSION_MIN 1
#define WIRE_VERSION_MAX 3 /* 2: PROGRESS and TERM; 3: durable requests (docs/protocol.md, section 8) */

#define WIRE_FIXED_LEN 32

/* Hard ceilings of the format; configured limits may only be lower. */
#define WIRE_FRAME_MAX_CEILING (64u << 20)
#define WIRE_TOPIC_MAX_CEILING 65535u
#define WIRE_HEADER_VALUE_MAX  65535u

/* Defaults a broker offers unless configured otherwise. */
#define WIRE_DEFAULT_MAX_FRAME        (1u << 20)
#define WIRE_DEFAULT_MAX_TOPIC        256u
#define WIRE_DEFAULT_MAX_HEADERS      64u
#define WIRE_DEFAULT_MAX_HEADER_BYTES (16u << 10)

enum wire_type {
    WIRE_CONNECT = 1,
    WIRE_CONNACK = 2,
    WIRE_PING = 3,
    WIRE_PONG = 4,
    WIRE_PUB = 5,
    WIRE_PUBACK = 6,
    WIRE_SUB = 7,
    WIRE_UNSUB = 8,
    WIRE_MSG = 9,
    WIRE_REQ = 10,
    WIRE_REP = 11,
    WIRE_ACK = 12,
    WIRE_NACK = 13,
    WIRE_ERR = 14,
    WIRE_PROGRESS = 15, /* version 2 */
    WIRE_TERM = 16,     /* version 2 */
};
#define WIRE_TYPE_MAX        WIRE_TERM
#define WIRE_TYPE_MAX_V1     WIRE_ERR
#define WIRE_TERM_REASON_MAX 256 /* bytes of a TERM's payload the broker keeps */

/* Flag bits; docs/protocol.md lists which type allows which. */
#define WIRE_F_ACK_REQ      0x01u /* PUB: answer with PUBACK */
#define WIRE_F_DURABLE      0x01u /* REQ (version 3): wait in a stream for a responder rather than fail */
#define WIRE_F_REQUEST      0x02u /* MSG: a request; seq is the reply token, aux the ms left */
#define WIRE_F_REDELIVERED  0x04u /* MSG: delivered before and not acknowledged */
#define WIRE_F_ACK_REQUIRED 0x08u /* MSG: durable delivery, answer with ACK or NACK */
#define WIRE_F_ERROR        0x10u /* REP: broker-made error, aux is a TRPC_E_* code */
#define WIRE_F_APP_ERROR    0x20u /* REP: responder-made error, aux is the application's code */
#define WIRE_F_FATAL        0x40u /* ERR: the sender closes the connection after this frame */
#define WIRE_F_NO_ECHO      0x80u /* CONNECT: do not deliver this client's own publishes to it */

/* The limits a decoder enforces; CONNACK announces them to the client. */
struct wire_limits {
    uint32_t max_frame;        /* WIRE_FIXED_LEN .. WIRE_FRAME_MAX_CEILING */
    uint32_t max_header_bytes; /* size of a header block */
    uint16_t max_topic;        /* bytes */
    uint16_t max_headers;      /* entries in a header block */
};

/* A decoded frame. Pointers alias the decoded buffer (nothing is copied). */
struct wire_frame {
    uint32_t length;
    uint8_t type;
    uint8_t flags;
    uint16_t topic_len;
    uint32_t hdr_len;
    uint32_t aux;
    uint64_t id;
    uint64_t seq;
    const char *topic;      /* topic_len bytes, not NUL-terminated; NULL when topic_len == 0 */
    const uint8_t *headers; /* hdr_len bytes; NULL when hdr_len == 0 */
    const uint8_t *payload; /* payload_len bytes; NULL when payload_len == 0 */
    uint32_t payload_len;
    uint16_t header_count; /* entries in the header block, counted by the decoder */
};

/* One header entry, for encoding and for iteration. */
struct wire_header {
    const char *key; /* 1..255 bytes of 0x21..0x7e; keys starting with ':' are defined by the spec */
    uint16_t key_len;
    uint16_t val_len;
    const uint8_t *val; /* arbitrary bytes */
};

/* Fills lim with the WIRE_DEFAULT_* values. */
void wire_limits_default(struct wire_limits *lim);

/*
 * True when lim is inside the format's ceilings and consistent: max_frame from 56 (a fixed header
 * and a CONNACK payload) to WIRE_FRAME_MAX_CEILING, max_topic at least 1, max_header_bytes at most
 * max_frame. Functions that take limits assert this.
 */
bool wire_limits_valid(const struct wire_limits *lim);

/*
 * Checks the fixed header in buf (at least WIRE_FIXED_LEN bytes) against lim and the per-type
 * rules that need no more than the fixed header. Lets a receiver refuse a frame before it has
 * buffered its body. Returns the frame length (> 0) or -TRPC_E_*.
 */
ssize_t wire_check_fixed(const uint8_t *buf, const struct wire_limits *lim);

/*
 * Decodes the first frame in buf[0..len). Returns its length (> 0) and fills *f when a whole
 * valid frame is present; 0 when more bytes are needed; -TRPC_E_* when the bytes present can
 * never form a valid frame. With fewer than 32 bytes only the length field is judged (once its 4
 * bytes are in); the rest of the fixed header is judged when all 32 are.
 */
ssize_t wire_decode(const uint8_t *buf, size_t len, const struct wire_limits *lim, struct wire_frame *f);

/* The last topic a stream's decoder found valid, and under which rule (literal or pattern): a
 * connection's frames mostly repeat a few topics, and comparing one is cheaper than checking it. */
#define WIRE_TOPIC_MEMO 32
struct wire_topic_memo {
    uint8_t len; /* 0: none */
    uint8_t rule;
    char topic[WIRE_TOPIC_MEMO];
};

/* wire_decode, skipping the topic check when the topic and its rule are memo's (then updated);
 * memo starts zeroed. */
ssize_t wire_decode_memo(const uint8_t *buf, size_t len, const struct wire_limits *lim, struct wire_frame *f,
                         struct wire_topic_memo *memo);

/*
 * Iterates the header block of a frame that wire_decode accepted. *pos starts at 0. Returns 1
 * and fills *h for the next entry, 0 at the end of the block.
 */
int wire_header_next(const struct wire_frame *f, uint32_t *pos, struct wire_header *h);
/* The same over a header block of len bytes that nothing validated (one read back from a log, or
 * a stored message's): -1 instead when an entry runs past the block. */
int wire_header_block_next(const uint8_t *block, uint32_t len, uint32_t *pos, struct wire_header *h);

/* Finds the first header named key. Returns true and fills *h when present. */
bool wire_header_find(const struct wire_frame *f, const char *key, size_t key_len, struct wire_header *h);

/* What to encode: the fixed fields, then the sections. Lengths are derived from the sections. */
struct wire_out {
    uint8_t type;
    uint8_t flags;
    uint32_t aux;
    uint64_t id;
    uint64_t seq;
    const char *topic;
    size_t topic_len;
    const struct wire_header *headers;
    size_t header_count;
    const void *payload;
    size_t payload_len;
};

/* Bytes wire_encode needs for o, or -TRPC_E_* when o cannot be encoded within the ceilings. */
ssize_t wire_encoded_len(const struct wire_out *o);
/* The same, skipping the topic check when the topic and its rule are memo's (then updated): a
 * publisher mostly repeats one topic. memo starts zeroed. */
ssize_t wire_encoded_len_memo(const struct wire_out *o, struct wire_topic_memo *memo);

/*
 * Encodes o into buf[0..cap). Returns the frame length, or -TRPC_E_NO_SPACE when cap is too
 * small (nothing written), or another -TRPC_E_* for an invalid o. Does not allocate. The
 * encoder checks what a decoder would check (topic syntax, flags per type, header keys) so that
 * a peer never sees a frame from us that it must reject.
 */
ssize_t wire_encode(uint8_t *buf, size_t cap, const struct wire_out *o);

/*
 * Encodes o, for which wire_encoded_len(o) just returned len (>= 0), into buf[0..cap), cap >= len,
 * without checking o again: a publish paid for the topic's and the header keys' checks twice. len
 * is trusted (asserted only): a len from another o writes a corrupt frame.
 */
void wire_encode_sized(uint8_t *buf, size_t cap, const struct wire_out *o, size_t len);

/*
 * Writes only the 32-byte fixed header for a frame whose topic, header block and payload are
 * already encoded elsewhere (broker fan-out: MSG header + bytes 32.. of the received PUB). The
 * caller guarantees 32 + topic_len + hdr_len <= length (asserted).
 */
void wire_put_fixed(uint8_t out[WIRE_FIXED_LEN], uint8_t type, uint8_t flags, uint32_t length, uint16_t topic_len, uint32_t hdr_len,
                    uint32_t aux, uint64_t id, uint64_t seq);

/* The length field of a fixed header (bytes 0..3, little-endian) as it stands: unchecked. */
static inline uint32_t wire_frame_length(const uint8_t hdr[WIRE_FIXED_LEN])
{
    return (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
}

/* CONNECT: aux = (max_version << 16) | min_version. */
static inline uint32_t wire_versions(uint16_t min_version, uint16_t max_version)
{
    return ((uint32_t)max_version << 16) | min_version;
}

/*
 * Picks the highest version both ranges contain. Returns it, or -TRPC_E_UNSUPPORTED_VERSION when
 * the ranges do not meet or the client's is empty or starts at 0. The server's range is the
 * caller's own configuration: 1 <= server_min <= server_max (asserted).
 */
int wire_negotiate(uint32_t client_aux, uint16_t server_min, uint16_t server_max);

/* CONNACK payload, v1: 24 bytes little-endian; a later version may append fields. */
#define WIRE_CONNACK_PAYLOAD_LEN 24
struct wire_connack {
    uint32_t max_frame;
    uint32_t max_header_bytes;
    uint16_t max_topic;
    uint16_t max_headers;
    uint32_t keepalive_ms; /* the client sends PING if it has sent nothing for this long */
    uint64_t client_id;    /* broker-assigned, unique per broker run */
};

void wire_connack_put(uint8_t out[WIRE_CONNACK_PAYLOAD_LEN], const struct wire_connack *c);

/* Parses a CONNACK payload of at least 24 bytes (extra bytes are ignored). */
int wire_connack_get(const uint8_t *payload, size_t len, struct wire_connack *c);

/*
 * Incremental reader over a stream of receive buffers. A frame wholly inside the buffer being
 * fed is decoded in place; only a frame that straddles two buffers is copied, once, into a
 * reassembly buffer of at most max_frame bytes. Usage:
 *
 *   wire_reader_feed(r, buf, len);
 *   while ((n = wire_reader_next(r, &f)) == 1) handle(&f);
 *   if (n < 0) send ERR -n and close;
 *
 * A frame returned by next stays valid until the following call to next or feed; the fed buffer
 * may be reused once next has returned 0.
 */
struct wire_reader {
    struct wire_limits lim;
    const uint8_t *_chunk; /* the buffer being fed */
    size_t _chunk_len;
    size_t _off;
    uint8_t *_asm; /* reassembly buffer, allocated on the first straddling frame */
    uint32_t _asm_cap;
    uint32_t _asm_len;
    uint32_t _spare; /* frames decoded in place since the reassembly buffer was last needed */
    int _error;      /* sticky: once a stream is malformed it stays so */
    struct wire_topic_memo _memo;
};

/* lim must be valid (wire_limits_valid, asserted). */
void wire_reader_init(struct wire_reader *r, const struct wire_limits *lim);
void wire_reader_feed(struct wire_reader *r, const void *buf, size_t len);

/* 1: *f holds a frame; 0: the fed buffer is consumed; -TRPC_E_*: malformed stream (sticky). */
int wire_reader_next(struct wire_reader *r, struct wire_frame *f);

/* Bytes held in reassembly (a partial frame), for accounting. */
static inline size_t wire_reader_pending(const struct wire_reader *r)
{
    return r->_asm_len;
}

/* Bytes of the reassembly buffer (0 when none), for accounting. */
static inline size_t wire_reader_held(const struct wire_reader *r)
{
    return r->_asm_cap;
}

void wire_reader_free(struct wire_reader *r);

/*
 * Releases the reassembly buffer unless it holds part of a frame (then returns false). The reader
 * keeps the buffer across frames (up to 1 MiB) while the stream needs it; an owner with many
 * connections calls this when one goes idle, so that an idle connection holds no buffer.
 */
bool wire_reader_trim(struct wire_reader *r);

/* Name of a frame type ("PUB"), "?" when unknown. */
const char *wire_type_name(unsigned type);

#endif
