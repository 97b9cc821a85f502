/*
 * WAL FILE FORMAT (mirrored in docs/wal.md)
 *
 * A log is a directory of segment files named after the sequence of their first record, in 16 lower-
 * case hex digits: "0000000000000001.wal". Sequences start at 1 and increase by one per record, with no
 * gaps across segments: the base sequence of segment N+1 is one past the last record of segment N.
 * A segment made at open (the first of a new log, or after a repair) is created as ".<name>.tmp",
 * preallocated with fallocate to its full size, given its header, fdatasync'ed, renamed into place, and
 * the directory fsync'ed. Every later segment is prepared on the ring before its base sequence is known,
 * as ".next-<n>.tmp" (preallocated, fdatasync'ed), ahead of the roll-over or, when that comes first,
 * while the new segment's first batch waits; its header block goes out with its first batch's write,
 * and it is renamed into place and the directory fsync'ed once that write is durable, before any of its
 * records is acknowledged. Either way a segment that has its name has a durable, valid header. Leftover
 * ".tmp" files are deleted on open. Truncation unlinks whole segments, oldest first, so a log may start
 * at any segment (recovery takes the oldest present as its start) but never misses one in the middle.
 * All integers are little-endian.
 *
 * Segment header, at offset 0, padded with zeros to one block (block_bytes):
 *
 *     0   4  magic 0x4c415754 ("TWAL")
 *     4   2  format version (1)
 *     6   2  header size (64)
 *     8   8  base sequence: sequence of the first record of this segment
 *    16   8  segment size in bytes (the preallocated size)
 *    24   4  block size in bytes: the direct-I/O alignment when it was created; records start here
 *    28   4  flags (0)
 *    32   8  creation time, nanoseconds since the Unix epoch
 *    40   4  pid of the creating process
 *    44  16  reserved (0)
 *    60   4  CRC32C of bytes 0..59
 *
 * Records follow the header block back to back, each at an 8-byte aligned offset, and may straddle
 * blocks. A record never straddles segments: one that does not fit goes to a new segment.
 *
 *     0   4  CRC32C of bytes 4..23 of this header followed by the payload
 *     4   4  payload length in bytes
 *     8   8  sequence
 *    16   4  batch delta: sequence minus the record's origin (see Writing)
 *    20   2  type (the caller's; 0 and 0xffff are reserved)
 *    22   2  reserved (0)
 *    24   .  payload, then zeros up to the next multiple of 8
 *
 * A record at offset off is valid when off + 24 + length fits in the segment, type is not reserved,
 * the reserved field is 0, the batch delta is below the sequence, its sequence is the one expected (the
 * segment's base for the first record, one more than the previous record afterwards), and the CRC
 * matches. The log of a segment ends at its first invalid record; everything after it is zeros or
 * the remains of a torn write.
 *
 * Writing. Records are grouped in batches; a batch is written as whole blocks and made durable (O_DSYNC
 * writes, or the writes followed by one fdatasync). Up to max_inflight batches (default 2) are in
 * flight at once, all in one segment: a batch joins one in flight only if it is large, and the first
 * batch of a segment goes out only when every earlier batch is durable. A batch that ends inside a
 * block leaves that block partly filled; the next batch starts by rewriting the same block, with the
 * same leading bytes, so a torn rewrite cannot damage what was already durable. Two writes of that
 * shared block are never in flight together (the kernel may finish them in either order, and the older
 * content landing last would erase newer records): a batch written while the previous batch's writes
 * are out writes its first block separately, after them. Any mix of the two versions of that block
 * holds the older batch's bytes. A record's origin is the first sequence of its batch when it was
 * appended with no batch in flight, and otherwise the oldest sequence not yet durable at its append:
 * either way every record below the origin was durable before any write holding the record was
 * submitted. Segments are never reused, so everything past the durable end is zeros (fallocate) or
 * bytes of the batches that were in flight at a crash.
 *
 * Recovery. Segments are scanned in order and every record is checked. Where a segment's records end,
 * either the log ends there (the tail) or the next segment must start at the expected sequence. An
 * invalid record is a torn tail when nothing written after its batch is found: no valid record beyond
 * it in the segment whose origin (sequence minus batch delta) lies after the expected sequence, and no
 * valid record in a later segment. A torn batch's records, and those of batches in flight beside it,
 * have origins at or before its first sequence, so they are cut with it. Such a tail is cut: the bytes
 * from the first invalid record on are zeroed and later (empty) segments deleted. Anything else is
 * corruption of durable data: open fails with the segment and offset, unless the repair option asks to
 * cut there. (Recovery is the same whether batches overlapped or not.)
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "wal/internal.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

static uint32_t crc_table[8][256];
static int crc_hw = -1; /* -1 unknown, 0 no, 1 yes */

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* Slice-by-8 table implementation: the fallback and the reference for the hardware one. */
uint32_t wal__crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;

    if (crc_table[0][1] == 0)
        crc_init();
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t wal__crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;

    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

bool wal__crc32c_hw_ok(void)
{
    if (crc_hw < 0)
        crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    return crc_hw == 1;
}
#else
uint32_t wal__crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    return wal__crc32c_sw(crc, data, len);
}

bool wal__crc32c_hw_ok(void)
{
    return false;
}
#endif

uint32_t wal_crc32c(uint32_t crc, const void *data, size_t len)
{
    if (wal__crc32c_hw_ok())
        return wal__crc32c_hw(crc, data, len);
    return wal__crc32c_sw(crc, data, len);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

void wal__seg_hdr_encode(uint8_t out[WAL_SEG_HDR_BYTES], const struct wal_seg_hdr *h)
{
    assert(h->base_seq > 0);
    assert(h->block_bytes >= 512);
    assert(h->segment_bytes % h->block_bytes == 0);
    memset(out, 0, WAL_SEG_HDR_BYTES);
    put32(out, WAL_MAGIC);
    put16(out + 4, WAL_VERSION);
    put16(out + 6, WAL_SEG_HDR_BYTES);
    put64(out + 8, h->base_seq);
    put64(out + 16, h->segment_bytes);
    put32(out + 24, h->block_bytes);
    put32(out + 28, h->flags);
    put64(out + 32, h->created_ns);
    put32(out + 40, h->creator_pid);
    put32(out + 60, wal_crc32c(0, out, 60));
}

/* Returns 0 or -EBADMSG (checksum, magic or sizes wrong) or -EPROTONOSUPPORT (other version). */
int wal__seg_hdr_decode(const uint8_t in[WAL_SEG_HDR_BYTES], struct wal_seg_hdr *h)
{
    if (get32(in + 60) != wal_crc32c(0, in, 60) || get32(in) != WAL_MAGIC)
        return -EBADMSG;
    if (get16(in + 4) != WAL_VERSION || get16(in + 6) != WAL_SEG_HDR_BYTES)
        return -EPROTONOSUPPORT;
    h->base_seq = get64(in + 8);
    h->segment_bytes = get64(in + 16);
    h->block_bytes = get32(in + 24);
    h->flags = get32(in + 28);
    h->created_ns = get64(in + 32);
    h->creator_pid = get32(in + 40);
    if (h->base_seq == 0 || h->block_bytes < 512 || h->block_bytes > WAL_BLOCK_MAX ||
        (h->block_bytes & (h->block_bytes - 1)) != 0 || h->segment_bytes < 2ull * h->block_bytes)
        return -EBADMSG;
    return 0;
}

/* Bytes a record of len payload bytes occupies, padding included. */
size_t wal__rec_bytes(uint32_t len)
{
    return (WAL_REC_HDR_BYTES + (size_t)len + WAL_REC_ALIGN - 1) & ~(size_t)(WAL_REC_ALIGN - 1);
}

void wal__rec_encode(uint8_t *out, uint64_t seq, uint32_t batch_delta, uint16_t type, const void *data, uint32_t len)
{
    size_t total = wal__rec_bytes(len);
    struct wal_rec_hdr check;

    assert(seq > 0);
    assert(batch_delta < seq);
    assert(type != WAL_TYPE_RESERVED_LOW);
    assert(type != WAL_TYPE_RESERVED_HIGH);
    put32(out + 4, len);
    put64(out + 8, seq);
    put32(out + 16, batch_delta);
    put16(out + 20, type);
    put16(out + 22, 0);
    if (len > 0)
        memcpy(out + WAL_REC_HDR_BYTES, data, len);
    memset(out + WAL_REC_HDR_BYTES + len, 0, total - WAL_REC_HDR_BYTES - len);
    put32(out, wal_crc32c(0, out + 4, WAL_REC_HDR_BYTES - 4 + (size_t)len));

    /* The pair of the check recovery makes after reading it back. */
    wal__rec_hdr_decode(out, &check);
    assert(check.seq == seq);
    assert(check.len == len);
    assert(wal__rec_crc_ok(out, &check));
}

void wal__rec_hdr_decode(const uint8_t *in, struct wal_rec_hdr *h)
{
    h->crc = get32(in);
    h->len = get32(in + 4);
    h->seq = get64(in + 8);
    h->batch_delta = get32(in + 16);
    h->type = get16(in + 20);
    h->reserved = get16(in + 22);
}

/* Everything but the sequence and the CRC: cheap checks that reject zeros and most garbage. */
bool wal__rec_hdr_plausible(const struct wal_rec_hdr *h, uint64_t off, uint64_t segment_bytes)
{
    if (h->seq == 0 || h->batch_delta >= h->seq || h->reserved != 0)
        return false;
    if (h->type == WAL_TYPE_RESERVED_LOW || h->type == WAL_TYPE_RESERVED_HIGH)
        return false;
    return off + WAL_REC_HDR_BYTES + (uint64_t)h->len <= segment_bytes;
}

bool wal__rec_crc_ok(const uint8_t *rec, const struct wal_rec_hdr *h)
{
    return wal_crc32c(0, rec + 4, WAL_REC_HDR_BYTES - 4 + (size_t)h->len) == h->crc;
}
