/*
 * What Debian 12's liburing 2.3 lacks, filled in for uring/. Everything here is guarded so a newer
 * liburing takes precedence. Only uring/ sources include this file; users of the module see uring.h.
 *
 * - io_uring_setup_buf_ring(): 2.4 added it; we map the ring memory ourselves and register it
 *   with io_uring_register_buf_ring(), which 2.3 exports.
 * - io_uring_enable_rings() is declared by 2.3 but not exported: never call it (we never set up
 *   rings with IORING_SETUP_R_DISABLED).
 * - Kernel constants newer than 2.3's io_uring.h (6.0 .. 6.12) that the feature probe tests for.
 */
#ifndef TRPC_URING_COMPAT_H
#define TRPC_URING_COMPAT_H

#include <errno.h>
#include <liburing.h>
#include <stddef.h>
#include <sys/mman.h>

#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif

/*
 * Maps and registers a provided-buffer ring of `entries` slots (a power of two) for group `bgid`,
 * as liburing 2.4's io_uring_setup_buf_ring() does. Returns the ring or NULL with *err set to a
 * negative errno. Release with compat_free_buf_ring().
 */
static inline struct io_uring_buf_ring *compat_setup_buf_ring(struct io_uring *ring, unsigned entries, int bgid, unsigned flags,
                                                              int *err)
{
    struct io_uring_buf_reg reg = {0};
    size_t len = (size_t)entries * sizeof(struct io_uring_buf);
    void *mem;
    int ret;

    mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
        *err = -errno;
        return NULL;
    }
    reg.ring_addr = (unsigned long)mem;
    reg.ring_entries = entries;
    reg.bgid = (unsigned short)bgid;
    /* 2.3 names the kernel's 'flags' field 'pad' (6.12 gave it IOU_PBUF_RING_INC). */
    reg.pad = (unsigned short)flags;
    ret = io_uring_register_buf_ring(ring, &reg, 0);
    if (ret != 0) {
        munmap(mem, len);
        *err = ret;
        return NULL;
    }
    io_uring_buf_ring_init((struct io_uring_buf_ring *)mem);
    return (struct io_uring_buf_ring *)mem;
}

static inline void compat_free_buf_ring(struct io_uring *ring, struct io_uring_buf_ring *br, unsigned entries, int bgid)
{
    io_uring_unregister_buf_ring(ring, bgid);
    munmap(br, (size_t)entries * sizeof(struct io_uring_buf));
}

#endif
