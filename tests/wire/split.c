/*
 * Stream reassembly: a stream of frames of all 16 types, with a tiny one and one of ~100 KiB,
 * goes through wire_reader split into two buffers at every split point, one byte at a time and in
 * random chunks (fixed seed). Each way, the frames come out identical to what was sent and in
 * order, nothing is left pending at the end, and a frame wholly inside a fed buffer is decoded in
 * place (its pointers are into that buffer). The stream is built by hand (tests/wire/frames.h).
 *
 * Buffers are sized exactly and filled with junk outside the fed range, so a read past a fed
 * buffer either trips ASan or corrupts a frame; the byte-by-byte and random runs free each
 * buffer once the reader is done with it, so a reader that keeps pointers into it trips ASan.
 */
#include <stdlib.h>
#include <string.h>

#include "driver/wire.h"
#include "tests/tap.h"
#include "tests/wire/frames.h"

#define LARGE      (100u << 10)
#define MAX_FRAMES 24

struct expect {
    struct fr_spec s;
    size_t off; /* in the stream */
    size_t len;
    uint16_t header_count;
};

static struct expect frames[MAX_FRAMES];
static size_t n_frames;
static uint8_t *stream;
static size_t stream_len;

/* Header blocks, each frame its own slice of this arena. */
static uint8_t arena[4096];
static size_t arena_used;
static uint8_t large_payload[LARGE];

static const uint8_t *headers(size_t *len, uint16_t *count, const char *const *kv)
{
    uint8_t *start = arena + arena_used;
    size_t n = 0;

    *count = 0;
    for (; kv[0]; kv += 2) {
        n += fr_hdr(start + n, kv[0], strlen(kv[0]), kv[1], strlen(kv[1]));
        (*count)++;
    }
    arena_used += n;
    *len = n;
    return n ? start : NULL;
}

static void add(struct fr_spec s, const char *const *kv)
{
    struct expect *e = &frames[n_frames++];

    if (kv)
        s.hdr = headers(&s.hdr_len, &e->header_count, kv);
    e->s = s;
    e->len = fr_len(&s);
}

static void build_stream(void)
{
    static const char *const h_connect[] = {":name", "split-test", ":token", "t0k3n", NULL};
    static const char *const h_server[] = {":server", "trpc", NULL};
    static const char *const h_pub[] = {"k", "v", "k", "", "trace", "0123456789abcdef", NULL};
    static const char *const h_sub[] = {":group", "g", NULL};
    static const uint8_t connack[24] = {0, 0, 16, 0, 0, 64, 0, 0, 0, 1, 64, 0, 0x30, 0x75, 0, 0, 9};
    size_t i, off = 0;

    for (i = 0; i < LARGE; i++)
        large_payload[i] = (uint8_t)(i * 131 + (i >> 8));
#define P(str) .payload = (const uint8_t *)str, .payload_len = sizeof(str) - 1
#define T(str) .topic = str, .topic_len = sizeof(str) - 1
    add((struct fr_spec){.type = WIRE_CONNECT, .flags = WIRE_F_NO_ECHO, .aux = 0x00010001u}, h_connect);
    add((struct fr_spec){.type = WIRE_CONNACK, .aux = 1, .payload = connack, .payload_len = 24}, h_server);
    add((struct fr_spec){.type = WIRE_PING, .id = 1}, NULL);
    add((struct fr_spec){.type = WIRE_PONG, .id = 1}, NULL);
    add((struct fr_spec){.type = WIRE_PUB, T("a.b"), P("small")}, h_pub);
    add(
        (struct fr_spec){
            .type = WIRE_PUB, .flags = WIRE_F_ACK_REQ, .id = 2, T("big.one"), .payload = large_payload, .payload_len = LARGE},
        h_pub);
    add((struct fr_spec){.type = WIRE_PUBACK, .id = 2, .seq = 77}, NULL);
    add((struct fr_spec){.type = WIRE_SUB, .id = 3, .aux = 16, T("a.*.>")}, h_sub);
    add((struct fr_spec){.type = WIRE_MSG, .id = 3, .seq = 5, T("a.b.c"), P("m")}, h_pub);
    add((struct fr_spec){.type = WIRE_MSG, .flags = WIRE_F_REQUEST, .id = 3, .seq = 0xabcdef, .aux = 900, T("a.x.y")}, NULL);
    add((struct fr_spec){.type = WIRE_MSG,
                         .flags = WIRE_F_ACK_REQUIRED | WIRE_F_REDELIVERED,
                         .id = 3,
                         .seq = 9,
                         .aux = 2,
                         T("d.q"),
                         P("durable")},
        NULL);
    add((struct fr_spec){.type = WIRE_REQ, .id = 4, .aux = 1000, T("svc"), P("question")}, h_pub);
    add((struct fr_spec){.type = WIRE_REP, .seq = 0xabcdef, P("answer")}, h_pub);
    add((struct fr_spec){.type = WIRE_REP, .flags = WIRE_F_ERROR, .id = 4, .aux = TRPC_E_TIMEOUT}, NULL);
    add((struct fr_spec){.type = WIRE_ACK, .id = 3, .seq = 9}, NULL);
    add((struct fr_spec){.type = WIRE_NACK, .id = 3, .seq = 9, .aux = 100}, NULL);
    add((struct fr_spec){.type = WIRE_PROGRESS, .id = 3, .seq = 10}, NULL);
    add((struct fr_spec){.type = WIRE_TERM, .id = 3, .seq = 10, P("unparsable")}, NULL);
    add((struct fr_spec){.type = WIRE_UNSUB, .id = 3}, NULL);
    add((struct fr_spec){.type = WIRE_PING}, NULL);
    add((struct fr_spec){.type = WIRE_PING, .id = UINT64_MAX}, NULL);
    add((struct fr_spec){.type = WIRE_ERR, .flags = WIRE_F_FATAL, .aux = TRPC_E_IDLE_TIMEOUT, P("bye")}, NULL);
#undef P
#undef T
    for (i = 0; i < n_frames; i++) {
        frames[i].off = off;
        off += frames[i].len;
    }
    stream_len = off;
    stream = malloc(stream_len);
    if (!stream)
        BAIL_OUT("out of memory");
    for (i = 0; i < n_frames; i++)
        fr_build(stream + frames[i].off, &frames[i].s);
}

static int same(const struct wire_frame *f, const struct expect *e)
{
    const struct fr_spec *s = &e->s;

    return f->length == e->len && f->type == s->type && f->flags == s->flags && f->topic_len == s->topic_len &&
           f->hdr_len == s->hdr_len && f->payload_len == s->payload_len && f->aux == s->aux && f->id == s->id && f->seq == s->seq &&
           f->header_count == e->header_count && (s->topic_len == 0 || memcmp(f->topic, s->topic, s->topic_len) == 0) &&
           (s->hdr_len == 0 || memcmp(f->headers, s->hdr, s->hdr_len) == 0) &&
           (s->payload_len == 0 || memcmp(f->payload, s->payload, s->payload_len) == 0);
}

/* The frame's sections are at base (where the frame starts in the fed buffer). */
static int in_place(const struct wire_frame *f, const struct expect *e, const uint8_t *base)
{
    const uint8_t *topic = base + WIRE_FIXED_LEN;
    const uint8_t *hdr = topic + e->s.topic_len;
    const uint8_t *payload = hdr + e->s.hdr_len;

    return (e->s.topic_len == 0 || (const uint8_t *)f->topic == topic) && (e->s.hdr_len == 0 || f->headers == hdr) &&
           (e->s.payload_len == 0 || f->payload == payload);
}

struct tally {
    size_t next;      /* index of the next expected frame */
    size_t wrong;     /* frames out of order or with other contents */
    size_t inplace;   /* frames wholly inside a fed buffer */
    size_t misplaced; /* of those, frames not decoded in place */
    size_t errors;    /* negative returns from wire_reader_next */
};

/* Takes every frame the reader can give from the chunk that holds stream[start..start+len). */
static void drain(struct wire_reader *r, struct tally *t, const uint8_t *chunk, size_t start, size_t len)
{
    struct wire_frame f;
    int rc;

    while ((rc = wire_reader_next(r, &f)) == 1) {
        const struct expect *e;

        if (t->next >= n_frames) {
            /* More frames than were sent: stop rather than spin on a broken reader. */
            t->wrong++;
            break;
        }
        e = &frames[t->next++];
        if (!same(&f, e))
            t->wrong++;
        if (e->off >= start && e->off + e->len <= start + len) {
            t->inplace++;
            t->misplaced += !in_place(&f, e, chunk + (e->off - start));
        }
    }
    if (rc < 0)
        t->errors++;
}

static int complete(const struct tally *t, const struct wire_reader *r)
{
    return t->next == n_frames && t->wrong == 0 && t->errors == 0 && wire_reader_pending(r) == 0;
}

static void every_split_point(const struct wire_limits *lim)
{
    uint8_t *a = malloc(stream_len), *b = malloc(stream_len);
    size_t k, bad = 0, misplaced = 0, inplace = 0, first_bad = 0;

    if (!a || !b)
        BAIL_OUT("out of memory");
    /* a holds stream[0..k) then junk, b junk then stream[k..): moving k costs one byte each. */
    memset(a, 0xee, stream_len);
    memcpy(b, stream, stream_len);
    for (k = 1; k < stream_len; k++) {
        struct wire_reader r;
        struct tally t = {0};

        a[k - 1] = stream[k - 1];
        b[k - 1] = 0xee;
        wire_reader_init(&r, lim);
        wire_reader_feed(&r, a, k);
        drain(&r, &t, a, 0, k);
        wire_reader_feed(&r, b + k, stream_len - k);
        drain(&r, &t, b + k, k, stream_len - k);
        if (!complete(&t, &r) && bad++ == 0)
            first_bad = k;
        misplaced += t.misplaced;
        inplace += t.inplace;
        wire_reader_free(&r);
    }
    ok(bad == 0, "every split point (%zu): all %zu frames identical, in order, nothing pending", stream_len - 1, n_frames);
    if (bad)
        diag("%zu split points fail, the first at %zu", bad, first_bad);
    ok(inplace > 0 && misplaced == 0, "every split point: frames inside one buffer decoded in place (%zu of %zu)",
       inplace - misplaced, inplace);
    free(b);
    free(a);
}

static void byte_at_a_time(const struct wire_limits *lim)
{
    struct wire_reader r;
    struct tally t = {0};
    size_t i, j = 0, wrong_pending = 0;

    wire_reader_init(&r, lim);
    for (i = 0; i < stream_len; i++) {
        uint8_t *one = malloc(1);

        if (!one)
            BAIL_OUT("out of memory");
        *one = stream[i];
        wire_reader_feed(&r, one, 1);
        drain(&r, &t, one, i, 1);
        free(one);
        /* What is held is exactly the partial frame fed so far. */
        while (j < n_frames && frames[j].off + frames[j].len <= i + 1)
            j++;
        if (wire_reader_pending(&r) != (j < n_frames ? i + 1 - frames[j].off : 0))
            wrong_pending++;
    }
    ok(complete(&t, &r), "byte at a time: all %zu frames identical, in order, nothing pending (%zu)", n_frames, t.next);
    ok_eq(wrong_pending, 0, "byte at a time: pending is the partial frame's bytes after every byte");
    wire_reader_free(&r);
}

static void random_chunks(const struct wire_limits *lim, int rounds)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    size_t bad = 0, inplace = 0, misplaced = 0;
    int round;

    for (round = 0; round < rounds; round++) {
        struct wire_reader r;
        struct tally t = {0};
        size_t off = 0;

        wire_reader_init(&r, lim);
        while (off < stream_len) {
            uint64_t x = fr_rand(&seed);
            /* Mostly small chunks, sometimes one that can hold the large frame. */
            size_t n = x % 8 == 0 ? (size_t)(x >> 8) % (2 * LARGE) + 1 : (size_t)(x >> 8) % 300 + 1;
            uint8_t *chunk;

            if (n > stream_len - off)
                n = stream_len - off;
            chunk = malloc(n);
            if (!chunk)
                BAIL_OUT("out of memory");
            memcpy(chunk, stream + off, n);
            wire_reader_feed(&r, chunk, n);
            drain(&r, &t, chunk, off, n);
            free(chunk);
            off += n;
        }
        bad += !complete(&t, &r);
        inplace += t.inplace;
        misplaced += t.misplaced;
        wire_reader_free(&r);
    }
    ok_eq(bad, 0, "random chunks, %d rounds: all frames identical, in order, nothing pending", rounds);
    ok(inplace > 0 && misplaced == 0, "random chunks: frames inside one chunk decoded in place (%zu of %zu)", inplace - misplaced,
       inplace);
}

static void whole_stream(const struct wire_limits *lim)
{
    struct wire_reader r;
    struct tally t = {0};
    uint8_t *copy = malloc(stream_len);

    if (!copy)
        BAIL_OUT("out of memory");
    memcpy(copy, stream, stream_len);
    wire_reader_init(&r, lim);
    wire_reader_feed(&r, copy, stream_len);
    drain(&r, &t, copy, 0, stream_len);
    ok(complete(&t, &r), "one buffer: all %zu frames identical and in order", n_frames);
    ok(t.inplace == n_frames && t.misplaced == 0, "one buffer: every frame decoded in place");
    wire_reader_free(&r);
    free(copy);
}

/* The reader's topic memo skips a check only for the same bytes under the same rule: a pattern a
 * SUB made valid is still refused as a PUB's topic, a literal after it too. */
static void topic_memo(const struct wire_limits *lim)
{
    const struct fr_spec sub = {.type = WIRE_SUB, .id = 1, .topic = "a.*", .topic_len = 3};
    const struct fr_spec pub_ok = {.type = WIRE_PUB, .topic = "a.b", .topic_len = 3};
    const struct fr_spec pub_bad = {.type = WIRE_PUB, .topic = "a.*", .topic_len = 3};
    uint8_t buf[3 * (FR_FIXED + 3)];
    size_t n = 0;
    struct wire_reader r;
    struct wire_frame f;

    n += fr_build(buf + n, &sub);
    n += fr_build(buf + n, &pub_ok);
    n += fr_build(buf + n, &pub_ok);
    wire_reader_init(&r, lim);
    wire_reader_feed(&r, buf, n);
    ok(wire_reader_next(&r, &f) == 1 && f.type == WIRE_SUB, "memo: SUB a.* read");
    ok(wire_reader_next(&r, &f) == 1 && f.type == WIRE_PUB, "memo: PUB a.b read");
    ok(wire_reader_next(&r, &f) == 1 && f.type == WIRE_PUB, "memo: PUB a.b again, from the memo");
    ok_eq(wire_reader_next(&r, &f), 0, "memo: stream consumed");
    n = fr_build(buf, &sub);
    n += fr_build(buf + n, &pub_bad);
    wire_reader_feed(&r, buf, n);
    ok(wire_reader_next(&r, &f) == 1 && f.type == WIRE_SUB, "memo: SUB a.* read again");
    ok_eq(wire_reader_next(&r, &f), -TRPC_E_WILDCARD_NOT_ALLOWED, "memo: PUB a.* refused after SUB a.*");
    wire_reader_free(&r);
}

int main(void)
{
    struct wire_limits lim;
    uint8_t types[WIRE_TYPE_MAX + 1] = {0};
    size_t i, covered = 0;

    build_stream();
    for (i = 0; i < n_frames; i++)
        types[frames[i].s.type] = 1;
    for (i = 1; i <= WIRE_TYPE_MAX; i++)
        covered += types[i];
    ok_eq(covered, WIRE_TYPE_MAX, "the stream holds all 16 frame types");
    wire_limits_default(&lim);
    whole_stream(&lim);
    every_split_point(&lim);
    byte_at_a_time(&lim);
    random_chunks(&lim, 40);
    topic_memo(&lim);
    return done_testing();
}
