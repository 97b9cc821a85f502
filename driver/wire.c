/*
 * The TRPC v1 frame codec. docs/protocol.md is the specification; the frame layout is repeated at
 * the top of wire.h. This file holds the per-type rules (one table, read by both the decoder and
 * the encoder so that they cannot drift apart), the decoder, the encoder and the reader that
 * reassembles frames straddling receive buffers.
 *
 * Every length is checked against the bytes present and the configured limits before it is used;
 * arithmetic on lengths is done in 64 bits so that no sum of 32-bit fields can wrap.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "driver/topic.h"
#include "driver/wire.h"

_Static_assert(WIRE_FIXED_LEN == 32, "the fixed header is 32 bytes");
_Static_assert(WIRE_FRAME_MAX_CEILING <= UINT32_MAX / 2, "frame lengths fit in 31 bits");
_Static_assert(WIRE_CONNACK_PAYLOAD_LEN == 24, "CONNACK v1 payload is 24 bytes");

enum sect { NONE, ANY, LITERAL, PATTERN, CONNACK_BODY };
enum field { RESERVED, FREE, NONZERO };

struct type_rule {
    uint8_t flags;   /* allowed flag bits */
    uint8_t topic;   /* NONE, LITERAL or PATTERN */
    uint8_t headers; /* NONE or ANY */
    uint8_t payload; /* NONE, ANY or CONNACK_BODY */
    uint8_t id;      /* RESERVED, FREE or NONZERO; type_check refines PUB */
    uint8_t seq;     /* refined for MSG */
    uint8_t aux;     /* refined for MSG and REP */
};

static const struct type_rule rules[WIRE_TYPE_MAX + 1] = {
    [WIRE_CONNECT] = {WIRE_F_NO_ECHO, NONE, ANY, NONE, RESERVED, RESERVED, FREE},
    [WIRE_CONNACK] = {0, NONE, ANY, CONNACK_BODY, RESERVED, RESERVED, NONZERO},
    [WIRE_PING] = {0, NONE, NONE, NONE, FREE, RESERVED, RESERVED},
    [WIRE_PONG] = {0, NONE, NONE, NONE, FREE, RESERVED, RESERVED},
    [WIRE_PUB] = {WIRE_F_ACK_REQ, LITERAL, ANY, ANY, FREE, RESERVED, RESERVED},
    [WIRE_PUBACK] = {0, NONE, NONE, NONE, NONZERO, FREE, RESERVED},
    [WIRE_SUB] = {0, PATTERN, ANY, NONE, NONZERO, RESERVED, FREE},
    [WIRE_UNSUB] = {0, NONE, NONE, NONE, NONZERO, RESERVED, RESERVED},
    [WIRE_MSG] = {WIRE_F_REQUEST | WIRE_F_REDELIVERED | WIRE_F_ACK_REQUIRED, LITERAL, ANY, ANY, NONZERO, FREE, RESERVED},
    [WIRE_REQ] = {WIRE_F_DURABLE, LITERAL, ANY, ANY, NONZERO, RESERVED, FREE},
    [WIRE_REP] = {WIRE_F_ERROR | WIRE_F_APP_ERROR, NONE, ANY, ANY, FREE, FREE, RESERVED},
    [WIRE_ACK] = {0, NONE, NONE, NONE, NONZERO, NONZERO, RESERVED},
    [WIRE_NACK] = {0, NONE, NONE, NONE, NONZERO, NONZERO, FREE},
    [WIRE_ERR] = {WIRE_F_FATAL, NONE, NONE, ANY, FREE, RESERVED, NONZERO},
    [WIRE_PROGRESS] = {0, NONE, NONE, NONE, NONZERO, NONZERO, RESERVED},
    [WIRE_TERM] = {0, NONE, NONE, ANY, NONZERO, NONZERO, RESERVED},
};

static const char *const type_names[WIRE_TYPE_MAX + 1] = {
    [WIRE_CONNECT] = "CONNECT", [WIRE_CONNACK] = "CONNACK", [WIRE_PING] = "PING",         [WIRE_PONG] = "PONG",
    [WIRE_PUB] = "PUB",         [WIRE_PUBACK] = "PUBACK",   [WIRE_SUB] = "SUB",           [WIRE_UNSUB] = "UNSUB",
    [WIRE_MSG] = "MSG",         [WIRE_REQ] = "REQ",         [WIRE_REP] = "REP",           [WIRE_ACK] = "ACK",
    [WIRE_NACK] = "NACK",       [WIRE_ERR] = "ERR",         [WIRE_PROGRESS] = "PROGRESS", [WIRE_TERM] = "TERM",
};

const char *wire_type_name(unsigned type)
{
    if (type == 0 || type > WIRE_TYPE_MAX)
        return "?";
    return type_names[type];
}

static inline uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static inline void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

void wire_limits_default(struct wire_limits *lim)
{
    lim->max_frame = WIRE_DEFAULT_MAX_FRAME;
    lim->max_header_bytes = WIRE_DEFAULT_MAX_HEADER_BYTES;
    lim->max_topic = WIRE_DEFAULT_MAX_TOPIC;
    lim->max_headers = WIRE_DEFAULT_MAX_HEADERS;
}

bool wire_limits_valid(const struct wire_limits *lim)
{
    /* The smallest useful frame carries a CONNACK payload. */
    if (lim->max_frame < WIRE_FIXED_LEN + WIRE_CONNACK_PAYLOAD_LEN || lim->max_frame > WIRE_FRAME_MAX_CEILING)
        return false;
    if (lim->max_topic == 0 || lim->max_header_bytes > lim->max_frame)
        return false;
    return true;
}

static int field_check(uint8_t rule, uint64_t v, int err_if_zero)
{
    if (rule == RESERVED && v != 0)
        return -TRPC_E_RESERVED_NOT_ZERO;
    if (rule == NONZERO && v == 0)
        return -err_if_zero;
    return 0;
}

/* Rules that depend on flags: the table holds the flag-free case. */
static int flags_check(uint8_t type, uint8_t flags)
{
    if (flags & ~rules[type].flags)
        return -TRPC_E_BAD_FLAGS;
    if ((flags & WIRE_F_REQUEST) && (flags & (WIRE_F_ACK_REQUIRED | WIRE_F_REDELIVERED)))
        return -TRPC_E_BAD_FLAGS;
    if ((flags & WIRE_F_REDELIVERED) && !(flags & WIRE_F_ACK_REQUIRED))
        return -TRPC_E_BAD_FLAGS;
    if ((flags & WIRE_F_ERROR) && (flags & WIRE_F_APP_ERROR))
        return -TRPC_E_BAD_FLAGS;
    return 0;
}

static int ids_check(uint8_t type, uint8_t flags, uint32_t aux, uint64_t id, uint64_t seq)
{
    const struct type_rule *r = &rules[type];
    uint8_t id_rule = r->id, seq_rule = r->seq, aux_rule = r->aux;
    int aux_err = TRPC_E_BAD_CODE;
    int err;

    if (type == WIRE_PUB && (flags & WIRE_F_ACK_REQ))
        id_rule = NONZERO;
    if (type == WIRE_MSG && (flags & (WIRE_F_REQUEST | WIRE_F_ACK_REQUIRED))) {
        seq_rule = NONZERO;
        aux_rule = FREE;
    }
    if (type == WIRE_REP && (flags & WIRE_F_ERROR))
        aux_rule = NONZERO;
    if (type == WIRE_REP && (flags & WIRE_F_APP_ERROR))
        aux_rule = FREE;
    if (type == WIRE_CONNACK)
        aux_err = TRPC_E_UNSUPPORTED_VERSION;

    err = field_check(id_rule, id, TRPC_E_BAD_ID);
    if (err == 0)
        err = field_check(seq_rule, seq, TRPC_E_BAD_SEQ);
    if (err == 0)
        err = field_check(aux_rule, aux, aux_err);
    return err;
}

/* Section presence and sizes, from lengths alone. */
static int sections_check(uint8_t type, uint64_t topic_len, uint64_t hdr_len, uint64_t payload_len)
{
    const struct type_rule *r = &rules[type];

    if (r->topic == NONE && topic_len != 0)
        return -TRPC_E_TOPIC_NOT_ALLOWED;
    if (r->topic != NONE && topic_len == 0)
        return -TRPC_E_TOPIC_REQUIRED;
    if (r->headers == NONE && hdr_len != 0)
        return -TRPC_E_HEADERS_NOT_ALLOWED;
    if (r->payload == NONE && payload_len != 0)
        return -TRPC_E_PAYLOAD_NOT_ALLOWED;
    if (r->payload == CONNACK_BODY && payload_len < WIRE_CONNACK_PAYLOAD_LEN)
        return -TRPC_E_BAD_PAYLOAD;
    return 0;
}

ssize_t wire_check_fixed(const uint8_t *buf, const struct wire_limits *lim)
{
    uint32_t length = get32(buf), hdr_len = get32(buf + 8);
    uint8_t type = buf[4], flags = buf[5];
    uint16_t topic_len = get16(buf + 6);
    int err;

    assert(lim->max_frame <= WIRE_FRAME_MAX_CEILING);
    if (length < WIRE_FIXED_LEN)
        return -TRPC_E_BAD_LENGTH;
    if (length > lim->max_frame)
        return -TRPC_E_FRAME_TOO_LARGE;
    if (type == 0 || type > WIRE_TYPE_MAX)
        return -TRPC_E_UNKNOWN_TYPE;
    err = flags_check(type, flags);
    if (err)
        return err;
    if (topic_len > lim->max_topic)
        return -TRPC_E_TOPIC_TOO_LONG;
    if (hdr_len > lim->max_header_bytes)
        return -TRPC_E_HEADERS_TOO_LARGE;
    if ((uint64_t)WIRE_FIXED_LEN + topic_len + hdr_len > length)
        return -TRPC_E_SECTION_OVERRUN;
    err = sections_check(type, topic_len, hdr_len, (uint64_t)length - WIRE_FIXED_LEN - topic_len - hdr_len);
    if (err)
        return err;
    err = ids_check(type, flags, get32(buf + 12), get64(buf + 16), get64(buf + 24));
    if (err)
        return err;
    return length;
}

/* Validates a header block and counts its entries. */
static int headers_check(const uint8_t *p, uint32_t len, uint16_t max_headers, uint16_t *count)
{
    uint32_t pos = 0, n = 0;

    while (pos < len) {
        uint32_t key_len, val_len, i;

        if (len - pos < 4)
            return -TRPC_E_BAD_HEADER;
        key_len = get16(p + pos);
        val_len = get16(p + pos + 2);
        if (key_len == 0 || key_len > 255)
            return -TRPC_E_BAD_HEADER;
        if ((uint64_t)key_len + val_len > len - pos - 4)
            return -TRPC_E_BAD_HEADER;
        for (i = 0; i < key_len; i++) {
            uint8_t c = p[pos + 4 + i];
            if (c < 0x21 || c > 0x7e)
                return -TRPC_E_BAD_HEADER;
        }
        if (++n > max_headers)
            return -TRPC_E_TOO_MANY_HEADERS;
        pos += 4 + key_len + val_len;
    }
    assert(pos == len);
    *count = (uint16_t)n;
    return 0;
}

static int topic_check(uint8_t type, const char *t, size_t len)
{
    if (rules[type].topic == LITERAL)
        return topic_check_literal(t, len);
    if (rules[type].topic == PATTERN)
        return topic_check_pattern(t, len);
    return 0;
}

static bool memo_has(const struct wire_topic_memo *m, uint8_t type, const char *t, size_t len)
{
    return m != NULL && m->len == len && len <= sizeof(m->topic) && m->rule == rules[type].topic && memcmp(m->topic, t, len) == 0;
}

static void memo_set(struct wire_topic_memo *m, uint8_t type, const char *t, size_t len)
{
    if (m == NULL || len > sizeof(m->topic))
        return;
    m->len = (uint8_t)len;
    m->rule = rules[type].topic;
    memcpy(m->topic, t, len);
}

ssize_t wire_decode(const uint8_t *buf, size_t len, const struct wire_limits *lim, struct wire_frame *f)
{
    return wire_decode_memo(buf, len, lim, f, NULL);
}

ssize_t wire_decode_memo(const uint8_t *buf, size_t len, const struct wire_limits *lim, struct wire_frame *f,
                         struct wire_topic_memo *memo)
{
    struct wire_frame d;
    ssize_t n;
    int err;

    if (len < WIRE_FIXED_LEN) {
        /* Refuse a bad length as soon as its four bytes are here. */
        if (len >= 4 && get32(buf) < WIRE_FIXED_LEN)
            return -TRPC_E_BAD_LENGTH;
        if (len >= 4 && get32(buf) > lim->max_frame)
            return -TRPC_E_FRAME_TOO_LARGE;
        return 0;
    }
    n = wire_check_fixed(buf, lim);
    if (n < 0)
        return n;
    if ((size_t)n > len)
        return 0;

    d.length = (uint32_t)n;
    d.type = buf[4];
    d.flags = buf[5];
    d.topic_len = get16(buf + 6);
    d.hdr_len = get32(buf + 8);
    d.aux = get32(buf + 12);
    d.id = get64(buf + 16);
    d.seq = get64(buf + 24);
    d.payload_len = d.length - WIRE_FIXED_LEN - d.topic_len - d.hdr_len;
    d.topic = d.topic_len ? (const char *)buf + WIRE_FIXED_LEN : NULL;
    d.headers = d.hdr_len ? buf + WIRE_FIXED_LEN + d.topic_len : NULL;
    d.payload = d.payload_len ? buf + WIRE_FIXED_LEN + d.topic_len + d.hdr_len : NULL;
    d.header_count = 0;

    if (d.topic_len && !memo_has(memo, d.type, d.topic, d.topic_len)) {
        err = topic_check(d.type, d.topic, d.topic_len);
        if (err)
            return err;
        memo_set(memo, d.type, d.topic, d.topic_len);
    }
    if (d.hdr_len) {
        err = headers_check(d.headers, d.hdr_len, lim->max_headers, &d.header_count);
        if (err)
            return err;
    }
    *f = d;
    return n;
}

int wire_header_block_next(const uint8_t *block, uint32_t len, uint32_t *pos, struct wire_header *h)
{
    const uint8_t *p;

    if (*pos >= len)
        return 0;
    if (len - *pos < 4)
        return -1;
    p = block + *pos;
    h->key_len = get16(p);
    h->val_len = get16(p + 2);
    if ((uint32_t)h->key_len + h->val_len > len - *pos - 4)
        return -1;
    h->key = (const char *)p + 4;
    h->val = p + 4 + h->key_len;
    *pos += 4u + h->key_len + h->val_len;
    return 1;
}

int wire_header_next(const struct wire_frame *f, uint32_t *pos, struct wire_header *h)
{
    int ret = wire_header_block_next(f->headers, f->hdr_len, pos, h);

    assert(ret >= 0); /* the decoder validated the block: every entry fits */
    return ret;
}

bool wire_header_find(const struct wire_frame *f, const char *key, size_t key_len, struct wire_header *h)
{
    struct wire_header e;
    uint32_t pos = 0;

    while (wire_header_next(f, &pos, &e)) {
        if (e.key_len == key_len && memcmp(e.key, key, key_len) == 0) {
            *h = e;
            return true;
        }
    }
    return false;
}

static int header_key_check(const struct wire_header *h)
{
    size_t i;

    if (h->key_len == 0 || h->key_len > 255 || h->key == NULL)
        return -TRPC_E_BAD_HEADER;
    if (h->val_len && h->val == NULL)
        return -TRPC_E_BAD_HEADER;
    for (i = 0; i < h->key_len; i++) {
        unsigned char c = (unsigned char)h->key[i];
        if (c < 0x21 || c > 0x7e)
            return -TRPC_E_BAD_HEADER;
    }
    return 0;
}

/*
 * Checks o as the decoder would, with the format's ceilings as limits and in the decoder's order
 * (docs/protocol.md section 8), so that a frame with several faults gets the same code from both.
 * Sets *hdr_len.
 */
static int out_check(const struct wire_out *o, uint64_t *hdr_len, struct wire_topic_memo *memo)
{
    uint64_t hl = 0, total;
    size_t i;
    int err;

    for (i = 0; i < o->header_count; i++)
        hl += 4u + (uint64_t)o->headers[i].key_len + o->headers[i].val_len;
    total = WIRE_FIXED_LEN + (uint64_t)o->topic_len + hl + o->payload_len;
    if (hl > WIRE_FRAME_MAX_CEILING || o->payload_len > WIRE_FRAME_MAX_CEILING || total > WIRE_FRAME_MAX_CEILING)
        return -TRPC_E_FRAME_TOO_LARGE;
    if (o->type == 0 || o->type > WIRE_TYPE_MAX)
        return -TRPC_E_UNKNOWN_TYPE;
    err = flags_check(o->type, o->flags);
    if (err)
        return err;
    if (o->topic_len > WIRE_TOPIC_MAX_CEILING)
        return -TRPC_E_TOPIC_TOO_LONG;
    err = sections_check(o->type, o->topic_len, hl, o->payload_len);
    if (err)
        return err;
    err = ids_check(o->type, o->flags, o->aux, o->id, o->seq);
    if (err)
        return err;
    if (o->topic_len && !memo_has(memo, o->type, o->topic, o->topic_len)) {
        err = topic_check(o->type, o->topic, o->topic_len);
        if (err)
            return err;
        memo_set(memo, o->type, o->topic, o->topic_len);
    }
    for (i = 0; i < o->header_count; i++) {
        err = header_key_check(&o->headers[i]);
        if (err)
            return err;
    }
    if (o->header_count > UINT16_MAX)
        return -TRPC_E_TOO_MANY_HEADERS;
    *hdr_len = hl;
    return 0;
}

ssize_t wire_encoded_len(const struct wire_out *o)
{
    return wire_encoded_len_memo(o, NULL);
}

ssize_t wire_encoded_len_memo(const struct wire_out *o, struct wire_topic_memo *memo)
{
    uint64_t hl;
    int err = out_check(o, &hl, memo);

    if (err)
        return err;
    return (ssize_t)(WIRE_FIXED_LEN + o->topic_len + hl + o->payload_len);
}

void wire_put_fixed(uint8_t out[WIRE_FIXED_LEN], uint8_t type, uint8_t flags, uint32_t length, uint16_t topic_len, uint32_t hdr_len,
                    uint32_t aux, uint64_t id, uint64_t seq)
{
    assert(length >= WIRE_FIXED_LEN);
    assert((uint64_t)WIRE_FIXED_LEN + topic_len + hdr_len <= length);
    put32(out, length);
    out[4] = type;
    out[5] = flags;
    put16(out + 6, topic_len);
    put32(out + 8, hdr_len);
    put32(out + 12, aux);
    put64(out + 16, id);
    put64(out + 24, seq);
}

/* Writes o, checked, whose frame is total bytes with a header block of hl. */
static void encode_checked(uint8_t *buf, const struct wire_out *o, uint64_t hl, uint64_t total)
{
    uint8_t *p;
    size_t i;

    wire_put_fixed(buf, o->type, o->flags, (uint32_t)total, (uint16_t)o->topic_len, (uint32_t)hl, o->aux, o->id, o->seq);
    p = buf + WIRE_FIXED_LEN;
    if (o->topic_len)
        memcpy(p, o->topic, o->topic_len);
    p += o->topic_len;
    for (i = 0; i < o->header_count; i++) {
        const struct wire_header *h = &o->headers[i];
        put16(p, h->key_len);
        put16(p + 2, h->val_len);
        memcpy(p + 4, h->key, h->key_len);
        if (h->val_len)
            memcpy(p + 4 + h->key_len, h->val, h->val_len);
        p += 4u + h->key_len + h->val_len;
    }
    if (o->payload_len)
        memcpy(p, o->payload, o->payload_len);
    p += o->payload_len;
    assert((uint64_t)(p - buf) == total);
}

ssize_t wire_encode(uint8_t *buf, size_t cap, const struct wire_out *o)
{
    uint64_t hl, total;
    int err;

    err = out_check(o, &hl, NULL);
    if (err)
        return err;
    total = WIRE_FIXED_LEN + o->topic_len + hl + o->payload_len;
    if (total > cap)
        return -TRPC_E_NO_SPACE;
    encode_checked(buf, o, hl, total);
    return (ssize_t)total;
}

void wire_encode_sized(uint8_t *buf, size_t cap, const struct wire_out *o, size_t len)
{
    uint64_t fixed = WIRE_FIXED_LEN + (uint64_t)o->topic_len + o->payload_len;

    assert(len >= fixed && len <= cap);
    encode_checked(buf, o, len - fixed, len);
}

int wire_negotiate(uint32_t client_aux, uint16_t server_min, uint16_t server_max)
{
    uint16_t cmin = (uint16_t)client_aux, cmax = (uint16_t)(client_aux >> 16);
    uint16_t hi, lo;

    assert(server_min >= 1);
    assert(server_min <= server_max);
    if (cmin == 0 || cmin > cmax)
        return -TRPC_E_UNSUPPORTED_VERSION;
    hi = cmax < server_max ? cmax : server_max;
    lo = cmin > server_min ? cmin : server_min;
    if (lo > hi)
        return -TRPC_E_UNSUPPORTED_VERSION;
    return hi;
}

void wire_connack_put(uint8_t out[WIRE_CONNACK_PAYLOAD_LEN], const struct wire_connack *c)
{
    put32(out, c->max_frame);
    put32(out + 4, c->max_header_bytes);
    put16(out + 8, c->max_topic);
    put16(out + 10, c->max_headers);
    put32(out + 12, c->keepalive_ms);
    put64(out + 16, c->client_id);
}

int wire_connack_get(const uint8_t *payload, size_t len, struct wire_connack *c)
{
    if (len < WIRE_CONNACK_PAYLOAD_LEN)
        return -TRPC_E_BAD_PAYLOAD;
    c->max_frame = get32(payload);
    c->max_header_bytes = get32(payload + 4);
    c->max_topic = get16(payload + 8);
    c->max_headers = get16(payload + 10);
    c->keepalive_ms = get32(payload + 12);
    c->client_id = get64(payload + 16);
    return 0;
}
