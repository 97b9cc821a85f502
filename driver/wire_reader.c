/*
 * wire_reader: frames out of a stream of receive buffers.
 *
 * Frames that lie wholly inside the buffer being fed are decoded in place. Only a frame that
 * straddles the end of a buffer is copied, into a reassembly buffer sized to that frame: its fixed
 * header is checked as soon as its 32 bytes are in (a bad length is refused before anything of the
 * body is buffered), so the copy is bounded by max_frame.
 *
 * The reassembly buffer is kept across frames: a stream of frames larger than the receive buffer
 * straddles on nearly every frame, and freeing and re-allocating a 64 KiB buffer per frame costs
 * a heap trim and the page faults to grow it again. It is released once its frame is out when it
 * is above READER_KEEP_MAX (a rare huge frame must not pin its size), after READER_SPARE_FRAMES
 * frames in a row were decoded in place without it (the stream no longer needs it), and by
 * wire_reader_trim(), which the owner calls when the connection goes idle: only the owner knows
 * that no more bytes are coming for a while.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "driver/wire.h"

#define READER_KEEP_MAX     (1u << 20)
#define READER_SPARE_FRAMES 64u
#define READER_ROUND        4096u /* growth step: frames of similar size reuse one buffer */

void wire_reader_init(struct wire_reader *r, const struct wire_limits *lim)
{
    assert(wire_limits_valid(lim));
    memset(r, 0, sizeof(*r));
    r->lim = *lim;
}

void wire_reader_free(struct wire_reader *r)
{
    free(r->_asm);
    r->_asm = NULL;
    r->_asm_cap = 0;
    r->_asm_len = 0;
    r->_spare = 0;
}

bool wire_reader_trim(struct wire_reader *r)
{
    if (r->_asm_len > 0)
        return false;
    wire_reader_free(r);
    return true;
}

void wire_reader_feed(struct wire_reader *r, const void *buf, size_t len)
{
    /* The previous buffer must have been consumed (next returned 0) or be exhausted. */
    assert(r->_off == r->_chunk_len);
    r->_chunk = buf;
    r->_chunk_len = len;
    r->_off = 0;
}

static int fail(struct wire_reader *r, int err)
{
    assert(err < 0);
    r->_error = err;
    r->_off = r->_chunk_len;
    return err;
}

static int asm_reserve(struct wire_reader *r, uint32_t need)
{
    uint32_t cap;
    uint8_t *p;

    assert(need <= r->lim.max_frame);
    if (need <= r->_asm_cap)
        return 0;
    cap = r->lim.max_frame;
    if ((uint64_t)need + READER_ROUND <= cap)
        cap = (need + READER_ROUND - 1) / READER_ROUND * READER_ROUND;
    p = realloc(r->_asm, cap);
    if (p == NULL)
        return -TRPC_E_NO_MEMORY;
    r->_asm = p;
    r->_asm_cap = cap;
    return 0;
}

/* Moves up to want - _asm_len bytes of the fed buffer into reassembly. */
static void asm_take(struct wire_reader *r, uint32_t want)
{
    size_t avail = r->_chunk_len - r->_off;
    size_t n = want - r->_asm_len;

    if (n > avail)
        n = avail;
    assert(r->_asm_len + n <= r->_asm_cap);
    memcpy(r->_asm + r->_asm_len, r->_chunk + r->_off, n);
    r->_asm_len += (uint32_t)n;
    r->_off += n;
}

/* Continues a frame already partly in reassembly. */
static int next_straddling(struct wire_reader *r, struct wire_frame *f)
{
    ssize_t n;
    int err;

    if (r->_asm_len < WIRE_FIXED_LEN) {
        asm_take(r, WIRE_FIXED_LEN);
        if (r->_asm_len < WIRE_FIXED_LEN) {
            /* Still short: refuse a bad length early, as the one-shot decoder does. */
            n = wire_decode(r->_asm, r->_asm_len, &r->lim, f);
            assert(n <= 0);
            return n < 0 ? fail(r, (int)n) : 0;
        }
    }
    n = wire_check_fixed(r->_asm, &r->lim);
    if (n < 0)
        return fail(r, (int)n);
    err = asm_reserve(r, (uint32_t)n);
    if (err)
        return fail(r, err);
    asm_take(r, (uint32_t)n);
    if (r->_asm_len < (uint32_t)n)
        return 0;
    n = wire_decode_memo(r->_asm, r->_asm_len, &r->lim, f, &r->_memo);
    assert(n != 0);
    if (n < 0)
        return fail(r, (int)n);
    r->_asm_len = 0;
    r->_spare = 0;
    return 1;
}

int wire_reader_next(struct wire_reader *r, struct wire_frame *f)
{
    ssize_t n;
    int err;

    if (r->_error)
        return r->_error;
    if (r->_asm_len == 0 && (r->_asm_cap > READER_KEEP_MAX || r->_spare >= READER_SPARE_FRAMES))
        wire_reader_free(r);
    if (r->_asm_len > 0)
        return next_straddling(r, f);
    if (r->_off == r->_chunk_len)
        return 0;

    n = wire_decode_memo(r->_chunk + r->_off, r->_chunk_len - r->_off, &r->lim, f, &r->_memo);
    if (n > 0) {
        r->_off += (size_t)n;
        if (r->_asm != NULL)
            r->_spare++;
        return 1;
    }
    if (n < 0)
        return fail(r, (int)n);

    /* An incomplete frame at the end of the buffer: keep its bytes and wait for the next. */
    err = asm_reserve(r, WIRE_FIXED_LEN);
    if (err)
        return fail(r, err);
    return next_straddling(r, f);
}
