/*
 * Segment files: naming, listing, creation (preallocated, header durable before the name exists),
 * deletion, and the filesystem probe that decides O_DIRECT, the block size and durability. All of it
 * is synchronous and runs only in wal_open (recovery, before the loop runs); after open, segments are
 * created (prepare.c) and removed (truncate.c) on the ring.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "wal/internal.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

#define SEG_NAME_LEN 20 /* 16 hex digits + ".wal" */

void wal__log(struct wal *w, enum wal_log_level level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (w->opt.log)
        w->opt.log(w->opt.log_arg, level, msg);
    else
        fprintf(stderr, "wal: %s: %s\n", w->dir, msg);
}

void wal__seg_name(char *out, size_t n, uint64_t base_seq)
{
    snprintf(out, n, "%016" PRIx64 ".wal", base_seq);
}

static int parse_seg_name(const char *name, uint64_t *base)
{
    char *end;

    if (strlen(name) != SEG_NAME_LEN || strcmp(name + 16, ".wal") != 0)
        return -1;
    for (int i = 0; i < 16; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return -1;
    *base = strtoull(name, &end, 16);
    return *base == 0 ? -1 : 0;
}

static int cmp_seg(const void *a, const void *b)
{
    const struct wal_seg *x = a, *y = b;

    return x->base_seq < y->base_seq ? -1 : x->base_seq > y->base_seq;
}

static int segs_push(struct wal *w, uint64_t base)
{
    if (w->nsegs == w->segs_cap) {
        uint32_t cap = w->segs_cap ? w->segs_cap * 2 : 16;
        struct wal_seg *s;

        if (w->nsegs >= WAL_MAX_SEGMENTS)
            return -ENOSPC;
        s = realloc(w->segs, cap * sizeof(*s));
        if (!s)
            return -ENOMEM;
        w->segs = s;
        w->segs_cap = cap;
    }
    w->segs[w->nsegs].base_seq = base;
    w->segs[w->nsegs].block_bytes = 0;
    w->segs[w->nsegs].bytes = 0;
    w->nsegs++;
    return 0;
}

/* Fills w->segs, sorted, and deletes leftovers of interrupted segment creations. */
int wal__seg_list(struct wal *w)
{
    DIR *d;
    struct dirent *de;
    int fd, ret = 0;

    fd = dup(w->dir_fd);
    if (fd == -1)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        ret = -errno;
        close(fd);
        return ret;
    }
    w->nsegs = 0;
    while ((de = readdir(d)) != NULL) {
        uint64_t base;
        size_t n = strlen(de->d_name);

        if (de->d_name[0] == '.' && n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) {
            if (unlinkat(w->dir_fd, de->d_name, 0) == 0)
                wal__log(w, WAL_LOG_INFO, "removed unfinished segment %s", de->d_name);
            continue;
        }
        if (parse_seg_name(de->d_name, &base) != 0)
            continue;
        ret = segs_push(w, base);
        if (ret)
            break;
    }
    closedir(d);
    if (ret == 0 && w->nsegs > 1)
        qsort(w->segs, w->nsegs, sizeof(*w->segs), cmp_seg);
    return ret;
}

int wal__pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -errno;
        if (n == 0) { /* past the end of a truncated file: reads as zeros */
            memset(p, 0, len);
            return 0;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int wal__pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -errno;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The header block of a new segment based at base: the header, then zeros up to the block size. */
void wal__seg_hdr_block(const struct wal *w, uint64_t base, uint8_t *blk)
{
    struct wal_seg_hdr h = {
        .base_seq = base,
        .segment_bytes = w->segment_bytes,
        .block_bytes = w->block,
        .created_ns = now_ns(),
        .creator_pid = (uint32_t)getpid(),
    };

    memset(blk, 0, w->block);
    wal__seg_hdr_encode(blk, &h);
}

static int write_header(struct wal *w, int fd, uint64_t base)
{
    uint8_t *blk;
    int ret;

    blk = calloc(1, w->block);
    if (!blk)
        return -ENOMEM;
    wal__seg_hdr_block(w, base, blk);
    ret = wal__pwrite_full(fd, blk, w->block, 0);
    free(blk);
    return ret;
}

/* Name of a segment prepared ahead, until its base is known ("." and ".tmp": deleted at open). */
void wal__prep_name(char *out, size_t n, uint32_t id)
{
    snprintf(out, n, ".next-%u.tmp", id);
}

/* Appends a segment of this log's size and block to w->segs (its file is the caller's business). */
int wal__seg_add(struct wal *w, uint64_t base)
{
    int ret;

    assert(base > 0);
    assert(w->nsegs == 0 || w->segs[w->nsegs - 1].base_seq < base);
    ret = segs_push(w, base);
    if (ret)
        return ret;
    w->segs[w->nsegs - 1].block_bytes = w->block;
    w->segs[w->nsegs - 1].bytes = w->segment_bytes;
    w->st.segments_created++;
    return 0;
}

/* Creates the segment for base and appends it to w->segs. Durable (file, header, name) on return. */
int wal__seg_create(struct wal *w, uint64_t base)
{
    char name[SEG_NAME_LEN + 1], tmp[SEG_NAME_LEN + 8];
    int fd, ret;

    assert(base > 0);
    assert(w->nsegs == 0 || w->segs[w->nsegs - 1].base_seq < base);
    wal__seg_name(name, sizeof(name), base);
    snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
    fd = openat(w->dir_fd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1)
        return -errno;
    if (fallocate(fd, 0, 0, (off_t)w->segment_bytes) == -1) {
        ret = -errno;
        if (ret != -EOPNOTSUPP || ftruncate(fd, (off_t)w->segment_bytes) == -1)
            goto out_unlink;
    }
    ret = write_header(w, fd, base);
    if (ret == 0 && fdatasync(fd) == -1)
        ret = -errno;
    if (ret)
        goto out_unlink;
    close(fd);
    fd = -1;
    if (renameat(w->dir_fd, tmp, w->dir_fd, name) == -1 || fsync(w->dir_fd) == -1) {
        ret = -errno;
        goto out_unlink;
    }
    return wal__seg_add(w, base);

out_unlink:
    if (fd != -1)
        close(fd);
    unlinkat(w->dir_fd, tmp, 0);
    return ret;
}

/* dsync: the writer's descriptor (O_DSYNC unless options.fdatasync); recovery's zeroing does without. */
int wal__seg_open_rw(struct wal *w, uint32_t idx, bool dsync)
{
    char name[SEG_NAME_LEN + 1];
    int fd;

    assert(idx < w->nsegs);
    wal__seg_name(name, sizeof(name), w->segs[idx].base_seq);
    fd = openat(w->dir_fd, name, O_RDWR | O_CLOEXEC | (w->direct ? O_DIRECT : 0) | (dsync && !w->opt.fdatasync ? O_DSYNC : 0));
    if (fd == -1)
        return -errno;
    /* Held while the descriptor lives: in-flight requests keep the open file, and so this lock,
     * alive even after a crash, which is what wal__seg_wait_io waits for. */
    if (flock(fd, LOCK_EX) == -1) {
        int ret = -errno;
        close(fd);
        return ret;
    }
    return fd;
}

/*
 * A process killed with writes in flight does not stop them: its ring is torn down asynchronously and
 * a late write could land after recovery and clobber new records. Every writer descriptor holds an
 * exclusive flock, which outlives the process until its requests have completed; taking the lock on
 * the last two segments (a roll-over may leave a batch in flight in the previous one) waits for them.
 */
int wal__seg_wait_io(struct wal *w)
{
    for (uint32_t i = w->nsegs > 2 ? w->nsegs - 2 : 0; i < w->nsegs; i++) {
        int fd = wal__seg_open_ro(w, i), ret = 0;

        if (fd < 0)
            return fd;
        if (flock(fd, LOCK_EX) == -1)
            ret = -errno;
        close(fd);
        if (ret)
            return ret;
    }
    return 0;
}

/* One live writer per directory: a second wal_open of the same log gets -EBUSY. */
int wal__dir_lock(struct wal *w)
{
    w->lock_fd = openat(w->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lock_fd == -1)
        return -errno;
    if (flock(w->lock_fd, LOCK_EX | LOCK_NB) == -1)
        return errno == EWOULDBLOCK ? -EBUSY : -errno;
    return 0;
}

int wal__seg_open_ro(const struct wal *w, uint32_t idx)
{
    char name[SEG_NAME_LEN + 1];
    int fd;

    assert(idx < w->nsegs);
    wal__seg_name(name, sizeof(name), w->segs[idx].base_seq);
    fd = openat(w->dir_fd, name, O_RDONLY | O_CLOEXEC);
    return fd == -1 ? -errno : fd;
}

int wal__seg_open_wr_buffered(struct wal *w, uint32_t idx)
{
    char name[SEG_NAME_LEN + 1];
    int fd;

    assert(idx < w->nsegs);
    wal__seg_name(name, sizeof(name), w->segs[idx].base_seq);
    fd = openat(w->dir_fd, name, O_WRONLY | O_CLOEXEC);
    return fd == -1 ? -errno : fd;
}

/* Unlinks segments [first, first + count) and drops them from w->segs; then fsyncs the directory.
 * Recovery only (the tail's empty segments, repair). */
int wal__seg_delete(struct wal *w, uint32_t first, uint32_t count)
{
    char name[SEG_NAME_LEN + 1];

    assert(first + count <= w->nsegs);
    for (uint32_t i = first; i < first + count; i++) {
        wal__seg_name(name, sizeof(name), w->segs[i].base_seq);
        if (unlinkat(w->dir_fd, name, 0) == -1 && errno != ENOENT)
            return -errno;
        w->st.segments_deleted++;
    }
    memmove(&w->segs[first], &w->segs[first + count], (w->nsegs - first - count) * sizeof(*w->segs));
    w->nsegs -= count;
    return fsync(w->dir_fd) == -1 ? -errno : 0;
}

/* Direct-I/O alignment from statx (Linux 6.1+); 0 when the kernel or the filesystem does not say. */
static int dio_align(int fd, uint32_t *align, bool *supported)
{
    *align = 0;
    *supported = true;
#ifdef STATX_DIOALIGN
    struct statx stx;

    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == -1)
        return -errno;
    if (stx.stx_mask & STATX_DIOALIGN) {
        *supported = stx.stx_dio_offset_align != 0;
        *align = stx.stx_dio_offset_align > stx.stx_dio_mem_align ? stx.stx_dio_offset_align : stx.stx_dio_mem_align;
    }
#else
    (void)fd;
#endif
    return 0;
}

/* Decides w->direct, w->block and w->durable with a scratch file in the log directory. */
int wal__probe_fs(struct wal *w)
{
    static const char probe[] = ".probe.tmp";
    struct statfs sfs;
    uint32_t align;
    bool supported;
    int fd, ret;

    if (fstatfs(w->dir_fd, &sfs) == -1)
        return -errno;
    w->durable = sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC;
    fd = openat(w->dir_fd, probe, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
    w->direct = fd != -1;
    if (fd == -1 && errno != EINVAL)
        return -errno;
    if (fd == -1)
        fd = openat(w->dir_fd, probe, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1)
        return -errno;
    ret = dio_align(fd, &align, &supported);
    close(fd);
    unlinkat(w->dir_fd, probe, 0);
    if (ret)
        return ret;
    w->direct = w->direct && supported && !w->opt.no_direct;
    w->block = WAL_BLOCK_DEFAULT;
    if (align > w->block && align <= WAL_BLOCK_MAX)
        w->block = align;
    if (!w->direct && !w->opt.no_direct)
        wal__log(w, WAL_LOG_WARN, "O_DIRECT refused here: buffered writes plus fdatasync");
    if (!w->durable)
        wal__log(w, WAL_LOG_WARN, "memory-backed filesystem (tmpfs): the log is NOT durable across a reboot");
    return 0;
}
