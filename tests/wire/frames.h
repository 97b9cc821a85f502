/*
 * Raw frame construction for the wire tests, independent of the codec under test.
 *
 * Everything here writes bytes by hand from docs/protocol.md (section 2: a 32-byte little-endian
 * fixed header, then topic, header block and payload) and validates nothing, so the tests can
 * build malformed frames and compare the codec's output with a second, naive encoder.
 */
#ifndef TRPC_TESTS_WIRE_FRAMES_H
#define TRPC_TESTS_WIRE_FRAMES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "driver/wire.h" /* for struct wire_out only: nothing here calls the codec */

#define FR_FIXED 32

static inline void fr_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void fr_put32(uint8_t *p, uint32_t v)
{
    fr_put16(p, (uint16_t)v);
    fr_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void fr_put64(uint8_t *p, uint64_t v)
{
    fr_put32(p, (uint32_t)v);
    fr_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t fr_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t fr_get32(const uint8_t *p)
{
    return (uint32_t)fr_get16(p) | ((uint32_t)fr_get16(p + 2) << 16);
}

static inline uint64_t fr_get64(const uint8_t *p)
{
    return (uint64_t)fr_get32(p) | ((uint64_t)fr_get32(p + 4) << 32);
}

/* The fixed header exactly as section 2 lays it out; no field is derived or checked. */
static inline void fr_fixed(uint8_t *p, uint32_t length, uint8_t type, uint8_t flags, uint16_t topic_len, uint32_t hdr_len,
                            uint32_t aux, uint64_t id, uint64_t seq)
{
    fr_put32(p + 0, length);
    p[4] = type;
    p[5] = flags;
    fr_put16(p + 6, topic_len);
    fr_put32(p + 8, hdr_len);
    fr_put32(p + 12, aux);
    fr_put64(p + 16, id);
    fr_put64(p + 24, seq);
}

/* Appends one header entry (section 6) at p; returns the bytes written. Lengths are not checked. */
static inline size_t fr_hdr(uint8_t *p, const char *key, size_t key_len, const void *val, size_t val_len)
{
    fr_put16(p, (uint16_t)key_len);
    fr_put16(p + 2, (uint16_t)val_len);
    if (key_len)
        memcpy(p + 4, key, key_len);
    if (val_len)
        memcpy(p + 4 + key_len, val, val_len);
    return 4 + key_len + val_len;
}

/* A frame by its fields and ready-made sections (hdr is a raw header block). */
struct fr_spec {
    uint8_t type;
    uint8_t flags;
    uint32_t aux;
    uint64_t id;
    uint64_t seq;
    const char *topic;
    size_t topic_len;
    const uint8_t *hdr;
    size_t hdr_len;
    const uint8_t *payload;
    size_t payload_len;
};

static inline size_t fr_len(const struct fr_spec *s)
{
    return FR_FIXED + s->topic_len + s->hdr_len + s->payload_len;
}

/* Writes the frame s at out (fr_len(s) bytes) with length, topic_len and hdr_len derived. */
static inline size_t fr_build(uint8_t *out, const struct fr_spec *s)
{
    size_t n = fr_len(s);
    uint8_t *p = out + FR_FIXED;

    fr_fixed(out, (uint32_t)n, s->type, s->flags, (uint16_t)s->topic_len, (uint32_t)s->hdr_len, s->aux, s->id, s->seq);
    if (s->topic_len)
        memcpy(p, s->topic, s->topic_len);
    p += s->topic_len;
    if (s->hdr_len)
        memcpy(p, s->hdr, s->hdr_len);
    p += s->hdr_len;
    if (s->payload_len)
        memcpy(p, s->payload, s->payload_len);
    return n;
}

/*
 * The frame a struct wire_out describes, laid out by hand without any check; hdr is scratch for
 * the header block (at least as large as it). With out NULL, only returns the length.
 */
static inline size_t fr_from_out(uint8_t *out, const struct wire_out *o, uint8_t *hdr)
{
    struct fr_spec s = {
        .type = o->type,
        .flags = o->flags,
        .aux = o->aux,
        .id = o->id,
        .seq = o->seq,
        .topic = o->topic,
        .topic_len = o->topic_len,
        .hdr = hdr,
        .payload = (const uint8_t *)o->payload,
        .payload_len = o->payload_len,
    };
    size_t i;

    for (i = 0; i < o->header_count; i++) {
        const struct wire_header *h = &o->headers[i];

        if (out)
            fr_hdr(hdr + s.hdr_len, h->key, h->key_len, h->val, h->val_len);
        s.hdr_len += 4 + (size_t)h->key_len + h->val_len;
    }
    return out ? fr_build(out, &s) : fr_len(&s);
}

/* Deterministic generator (xorshift64*) so random chunkings are reproducible from a seed. */
static inline uint64_t fr_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
