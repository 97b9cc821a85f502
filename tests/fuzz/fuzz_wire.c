/*
 * Fuzz target for the wire codec (driver/wire.c). The input is a byte stream from a peer.
 *
 * Oracles, under the default limits and under tight ones:
 *   - one-shot: wire_decode frame after frame; every accepted frame must re-encode with
 *     wire_encode, from its decoded fields and iterated headers, to exactly the bytes it was
 *     decoded from, and every strict prefix of it must decode as "need more";
 *   - streaming: wire_reader fed the same stream in chunks (whole, split at input-derived points,
 *     byte by byte for inputs up to 1 KiB) must yield the same frames and then the same end state:
 *     the same error, or "need more" with the undecoded tail held in reassembly.
 * Each chunk is copied into its own allocation and freed once the reader has drained it, so
 * ASan catches a reader that keeps pointers into buffers it was told it may drop.
 */
#include <string.h>

#include "driver/topic.h"
#include "driver/wire.h"
#include "tests/fuzz/fuzz.h"

/* Frames decoded one-shot: where each starts, and how the stream ends. */
#define MAX_FRAMES 4096

struct oneshot {
    size_t n;
    size_t off[MAX_FRAMES];
    uint32_t len[MAX_FRAMES];
    size_t end;     /* bytes consumed by whole frames */
    ssize_t status; /* 0: the rest is an incomplete frame (or nothing), else -TRPC_E_* */
};

static void check_prefixes(const uint8_t *frame, uint32_t len, const struct wire_limits *lim)
{
    const size_t cuts[] = {0, 1, 3, 4, 5, WIRE_FIXED_LEN - 1, WIRE_FIXED_LEN, (size_t)len / 2, (size_t)len - 1};
    struct wire_frame f;
    size_t i;

    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
        if (cuts[i] < len)
            FUZZ_ASSERT(wire_decode(frame, cuts[i], lim, &f) == 0);
}

/* Rebuilds an accepted frame from its decoded fields and compares the bytes. */
static void check_roundtrip(const uint8_t *frame, const struct wire_frame *f)
{
    struct wire_header *hs = NULL, h;
    struct wire_out o;
    uint8_t *buf;
    uint32_t pos = 0;
    size_t n = 0;

    if (f->header_count > 0) {
        hs = malloc(f->header_count * sizeof(*hs));
        FUZZ_ASSERT(hs != NULL);
    }
    while (wire_header_next(f, &pos, &h) == 1) {
        FUZZ_ASSERT(n < f->header_count);
        FUZZ_ASSERT(h.key == (const char *)f->headers + pos - h.val_len - h.key_len);
        hs[n++] = h;
    }
    FUZZ_ASSERT(n == f->header_count);
    FUZZ_ASSERT(pos == f->hdr_len);
    if (n > 0) {
        struct wire_header found;

        FUZZ_ASSERT(wire_header_find(f, hs[n - 1].key, hs[n - 1].key_len, &found));
        FUZZ_ASSERT(found.key_len == hs[n - 1].key_len);
        FUZZ_ASSERT(found.key <= hs[n - 1].key);
    }

    o = (struct wire_out){
        .type = f->type,
        .flags = f->flags,
        .aux = f->aux,
        .id = f->id,
        .seq = f->seq,
        .topic = f->topic,
        .topic_len = f->topic_len,
        .headers = hs,
        .header_count = n,
        .payload = f->payload,
        .payload_len = f->payload_len,
    };
    FUZZ_ASSERT(wire_encoded_len(&o) == (ssize_t)f->length);
    buf = malloc(f->length);
    FUZZ_ASSERT(buf != NULL);
    FUZZ_ASSERT(wire_encode(buf, f->length - 1, &o) == -TRPC_E_NO_SPACE);
    FUZZ_ASSERT(wire_encode(buf, f->length, &o) == (ssize_t)f->length);
    FUZZ_ASSERT(memcmp(buf, frame, f->length) == 0);
    free(buf);
    free(hs);
}

static void check_frame(const uint8_t *frame, ssize_t n, const struct wire_frame *f, const struct wire_limits *lim)
{
    FUZZ_ASSERT(f->length == (uint64_t)n);
    FUZZ_ASSERT(f->length <= lim->max_frame);
    FUZZ_ASSERT(f->topic_len <= lim->max_topic);
    FUZZ_ASSERT(f->hdr_len <= lim->max_header_bytes);
    FUZZ_ASSERT(f->header_count <= lim->max_headers);
    FUZZ_ASSERT((uint64_t)WIRE_FIXED_LEN + f->topic_len + f->hdr_len + f->payload_len == f->length);
    FUZZ_ASSERT(f->topic == (f->topic_len ? (const char *)frame + WIRE_FIXED_LEN : NULL));
    FUZZ_ASSERT(f->headers == (f->hdr_len ? frame + WIRE_FIXED_LEN + f->topic_len : NULL));
    FUZZ_ASSERT(f->payload == (f->payload_len ? frame + f->length - f->payload_len : NULL));
    FUZZ_ASSERT(strcmp(wire_type_name(f->type), "?") != 0);
    if (f->type == WIRE_SUB)
        FUZZ_ASSERT(topic_check_pattern(f->topic, f->topic_len) == 0);
    if (f->type == WIRE_PUB || f->type == WIRE_MSG || f->type == WIRE_REQ)
        FUZZ_ASSERT(topic_check_literal(f->topic, f->topic_len) == 0);
    FUZZ_ASSERT(wire_check_fixed(frame, lim) == n);
    check_prefixes(frame, f->length, lim);
    check_roundtrip(frame, f);
}

static void decode_oneshot(const uint8_t *data, size_t size, const struct wire_limits *lim, struct oneshot *os)
{
    struct wire_frame f;
    ssize_t n;

    os->n = 0;
    os->end = 0;
    os->status = 0;
    while (os->end < size && os->n < MAX_FRAMES) {
        n = wire_decode(data + os->end, size - os->end, lim, &f);
        if (n <= 0) {
            os->status = n;
            return;
        }
        FUZZ_ASSERT((size_t)n <= size - os->end);
        check_frame(data + os->end, n, &f, lim);
        os->off[os->n] = os->end;
        os->len[os->n] = (uint32_t)n;
        os->n++;
        os->end += (size_t)n;
    }
}

/* The reader's frame must be the one-shot frame number i, byte for byte. */
static void check_same_frame(const uint8_t *data, const struct oneshot *os, size_t i, const struct wire_frame *f)
{
    const uint8_t *want = data + os->off[i];
    uint8_t fixed[WIRE_FIXED_LEN];

    FUZZ_ASSERT(i < os->n);
    FUZZ_ASSERT(f->length == os->len[i]);
    wire_put_fixed(fixed, f->type, f->flags, f->length, f->topic_len, f->hdr_len, f->aux, f->id, f->seq);
    FUZZ_ASSERT(memcmp(fixed, want, WIRE_FIXED_LEN) == 0);
    FUZZ_ASSERT(f->payload_len == f->length - WIRE_FIXED_LEN - f->topic_len - f->hdr_len);
    if (f->topic_len)
        FUZZ_ASSERT(memcmp(f->topic, want + WIRE_FIXED_LEN, f->topic_len) == 0);
    if (f->hdr_len)
        FUZZ_ASSERT(memcmp(f->headers, want + WIRE_FIXED_LEN + f->topic_len, f->hdr_len) == 0);
    if (f->payload_len)
        FUZZ_ASSERT(memcmp(f->payload, want + f->length - f->payload_len, f->payload_len) == 0);
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/*
 * Feeds data to a reader in chunks: chunk == 0 draws sizes 1..64 from a generator seeded with
 * the input, otherwise fixed-size chunks. Compares against the one-shot result.
 */
static void run_reader(const uint8_t *data, size_t size, const struct wire_limits *lim, const struct oneshot *os, size_t chunk,
                       uint64_t seed)
{
    struct wire_reader r;
    struct wire_frame f;
    size_t off = 0, frames = 0;
    int rc = 0;

    wire_reader_init(&r, lim);
    while (off < size && rc >= 0) {
        size_t len = chunk ? chunk : 1 + (size_t)(next_rand(&seed) % 64);
        uint8_t *copy;

        if (len > size - off)
            len = size - off;
        copy = malloc(len);
        FUZZ_ASSERT(copy != NULL);
        memcpy(copy, data + off, len);
        wire_reader_feed(&r, copy, len);
        for (;;) {
            rc = wire_reader_next(&r, &f);
            if (rc != 1)
                break;
            check_same_frame(data, os, frames, &f);
            frames++;
        }
        free(copy);
        off += len;
    }
    FUZZ_ASSERT(frames == os->n);
    if (os->n == MAX_FRAMES) {
        wire_reader_free(&r);
        return; /* one-shot decoding stopped counting; its end state says nothing */
    }
    FUZZ_ASSERT(rc == os->status);
    if (rc < 0) {
        /* Sticky: more calls and more bytes do not revive a malformed stream. */
        FUZZ_ASSERT(wire_reader_next(&r, &f) == rc);
        wire_reader_feed(&r, data, size);
        FUZZ_ASSERT(wire_reader_next(&r, &f) == rc);
    } else {
        FUZZ_ASSERT(wire_reader_pending(&r) == size - os->end);
    }
    wire_reader_free(&r);
}

static void run(const uint8_t *data, size_t size, const struct wire_limits *lim, uint64_t seed)
{
    static struct oneshot os;

    FUZZ_ASSERT(wire_limits_valid(lim));
    decode_oneshot(data, size, lim, &os);
    run_reader(data, size, lim, &os, size > 0 ? size : 1, seed);
    run_reader(data, size, lim, &os, 0, seed);
    if (size <= 1024)
        run_reader(data, size, lim, &os, 1, seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Small enough that generated inputs hit every limit. */
    static const struct wire_limits tight = {
        .max_frame = 512,
        .max_header_bytes = 64,
        .max_topic = 16,
        .max_headers = 3,
    };
    struct wire_limits lim;
    uint64_t seed = 0xcbf29ce484222325ull;
    size_t i;

    for (i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 0x100000001b3ull;
    seed |= 1; /* xorshift needs a non-zero state */
    wire_limits_default(&lim);
    run(data, size, &lim, seed);
    run(data, size, &tight, seed);
    return 0;
}
