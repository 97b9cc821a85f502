/*
 * Reassembly buffer lifetime in wire_reader: a stream of 64 KiB messages fed in 16 KiB receive
 * buffers straddles on every frame, and the reader must reuse one buffer for all of them (not free
 * and re-allocate it per frame) sized within a page of the frame. The buffer stays bounded: a
 * frame above 1 MiB gets a buffer that is released as soon as the frame is out, 64 frames decoded
 * in place in a row release it, and wire_reader_trim() releases it unless a partial frame is held.
 * Every frame's payload is checked, so a reused buffer that is stale or short fails the test.
 * The reader is included with realloc and free counted, since a freed buffer is often handed
 * back at the same address.
 */
#include <stdlib.h>
#include <string.h>

static size_t reallocs, frees;

static void *counting_realloc(void *p, size_t n)
{
    reallocs++;
    return realloc(p, n);
}

static void counting_free(void *p)
{
    if (p != NULL)
        frees++;
    free(p);
}

#define realloc counting_realloc
#define free    counting_free
#include "driver/wire_reader.c"
#undef realloc
#undef free

#include "tests/tap.h"
#include "tests/wire/frames.h"

#define CHUNK (16u << 10)
#define MID   (64u << 10)
#define HUGE  (2u << 20)

static uint8_t *payload;

static size_t pub(uint8_t *out, size_t len, uint8_t fill)
{
    struct fr_spec s = {.type = WIRE_PUB, .topic = "t.x", .topic_len = 3, .payload = payload, .payload_len = len};

    memset(payload, fill, len);
    return fr_build(out, &s);
}

static bool payload_is(const struct wire_frame *f, size_t len, uint8_t fill)
{
    const uint8_t *p = f->payload;
    size_t i;

    if (f->payload_len != len)
        return false;
    for (i = 0; i < len; i++)
        if (p[i] != fill)
            return false;
    return true;
}

/* Twenty 64 KiB frames in 16 KiB buffers: one buffer, never moved, within a page of the frame. */
static void reuse(const struct wire_limits *lim)
{
    enum { N = 20 };
    size_t flen = FR_FIXED + 3 + MID, len = N * flen, off, got = 0, bad = 0, moved = 0;
    uint8_t *stream = malloc(len);
    const uint8_t *first = NULL;
    struct wire_reader r;
    struct wire_frame f;
    int n = 0;

    for (off = 0; off < len; off += flen)
        pub(stream + off, MID, (uint8_t)(off / flen));
    wire_reader_init(&r, lim);
    reallocs = frees = 0;
    for (off = 0; off < len; off += CHUNK) {
        wire_reader_feed(&r, stream + off, len - off < CHUNK ? len - off : CHUNK);
        while ((n = wire_reader_next(&r, &f)) == 1) {
            if (!payload_is(&f, MID, (uint8_t)got))
                bad++;
            got++;
            if (first == NULL)
                first = r._asm;
            else if (r._asm != first)
                moved++;
        }
        if (n < 0)
            break;
    }
    ok_eq(n, 0, "reuse: the stream decodes");
    ok_eq(got, N, "reuse: every frame comes out");
    ok_eq(bad, 0, "reuse: every payload intact");
    ok(first != NULL, "reuse: frames went through reassembly");
    ok_eq(moved, 0, "reuse: one reassembly buffer for all frames");
    ok(reallocs <= 2, "reuse: allocated at most twice (header, then frame) for %d frames: %zu", N, reallocs);
    ok_eq(frees, 0, "reuse: never freed while the stream straddles");
    ok(r._asm_cap >= flen && r._asm_cap <= flen + 4096, "reuse: buffer within a page of the frame (%u)", r._asm_cap);
    wire_reader_free(&r);
    free(stream);
}

/* A 2 MiB frame straddles: its buffer goes once the frame is handed out. */
static void huge_released(const struct wire_limits *lim)
{
    size_t flen = FR_FIXED + 3 + HUGE;
    uint8_t *stream = malloc(flen);
    struct wire_reader r;
    struct wire_frame f;

    pub(stream, HUGE, 0x5a);
    wire_reader_init(&r, lim);
    wire_reader_feed(&r, stream, 100);
    ok_eq(wire_reader_next(&r, &f), 0, "huge: first part buffered");
    wire_reader_feed(&r, stream + 100, flen - 100);
    ok_eq(wire_reader_next(&r, &f), 1, "huge: frame out");
    ok(payload_is(&f, HUGE, 0x5a), "huge: payload intact");
    ok(r._asm_cap <= lim->max_frame, "huge: buffer bounded by max_frame");
    ok_eq(wire_reader_next(&r, &f), 0, "huge: buffer consumed");
    ok(r._asm == NULL && r._asm_cap == 0, "huge: buffer above 1 MiB released after its frame");
    wire_reader_free(&r);
    free(stream);
}

/* After one straddling 64 KiB frame, small frames decoded in place: the 64th releases the buffer. */
static void spare_released(const struct wire_limits *lim)
{
    enum { SMALL = 64 };
    size_t flen = FR_FIXED + 3 + MID, slen = FR_FIXED + 3 + SMALL, i;
    uint8_t *stream = malloc(flen + 64 * slen);
    struct wire_reader r;
    struct wire_frame f;
    bool kept_before = true;

    pub(stream, MID, 1);
    for (i = 0; i < 64; i++)
        pub(stream + flen + i * slen, SMALL, 2);
    wire_reader_init(&r, lim);
    wire_reader_feed(&r, stream, 10);
    ok_eq(wire_reader_next(&r, &f), 0, "spare: partial frame held");
    wire_reader_feed(&r, stream + 10, flen - 10 + 64 * slen);
    ok_eq(wire_reader_next(&r, &f), 1, "spare: large frame out");
    for (i = 0; i < 64; i++) {
        if (r._asm == NULL)
            kept_before = false;
        if (wire_reader_next(&r, &f) != 1 || !payload_is(&f, SMALL, 2))
            break;
        if ((const uint8_t *)f.payload < stream || (const uint8_t *)f.payload >= stream + flen + 64 * slen)
            break; /* not in place */
    }
    ok_eq(i, 64, "spare: 64 small frames decoded in place");
    ok(kept_before, "spare: buffer kept through the first 63");
    ok_eq(wire_reader_next(&r, &f), 0, "spare: buffer consumed");
    ok(r._asm == NULL, "spare: buffer released after 64 frames without it");
    wire_reader_free(&r);
    free(stream);
}

/* trim keeps a partial frame, and otherwise releases the buffer. */
static void trim(const struct wire_limits *lim)
{
    size_t flen = FR_FIXED + 3 + MID;
    uint8_t *stream = malloc(2 * flen);
    struct wire_reader r;
    struct wire_frame f;

    pub(stream, MID, 3);
    pub(stream + flen, MID, 4);
    wire_reader_init(&r, lim);
    ok(wire_reader_trim(&r), "trim: a fresh reader has nothing to keep");
    wire_reader_feed(&r, stream, flen + 1000);
    ok_eq(wire_reader_next(&r, &f), 1, "trim: first frame out in place");
    ok_eq(wire_reader_next(&r, &f), 0, "trim: second frame partial");
    ok(!wire_reader_trim(&r), "trim: refused while a frame is partial");
    ok_eq(wire_reader_pending(&r), 1000, "trim: partial bytes kept");
    wire_reader_feed(&r, stream + flen + 1000, flen - 1000);
    ok_eq(wire_reader_next(&r, &f), 1, "trim: second frame out");
    ok(payload_is(&f, MID, 4), "trim: payload intact");
    ok_eq(wire_reader_next(&r, &f), 0, "trim: stream consumed");
    ok(r._asm != NULL, "trim: buffer kept between frames");
    ok(wire_reader_trim(&r), "trim: released when idle");
    ok(r._asm == NULL && r._asm_cap == 0, "trim: nothing held");
    wire_reader_free(&r);
    free(stream);
}

int main(void)
{
    struct wire_limits lim;

    payload = malloc(HUGE);
    if (payload == NULL)
        skip_all("out of memory");
    wire_limits_default(&lim);
    reuse(&lim);
    spare_released(&lim);
    trim(&lim);
    lim.max_frame = 4u << 20;
    huge_released(&lim);
    free(payload);
    return done_testing();
}
