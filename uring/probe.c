/*
 * Feature tiers, detected at run time and never by kernel version (design.md section 1):
 *   T0 (5.19)  provided buffer rings, recv with buffer select, MSG_RING, multishot accept
 *   T1 (6.1)   multishot recv, SEND_ZC, SINGLE_ISSUER|DEFER_TASKRUN
 *   T2 (6.10+) recv/send bundles (IORING_FEAT_RECVSEND_BUNDLE), incremental buffer consumption
 *              (IOU_PBUF_RING_INC, 6.12)
 * The probe reads the opcode table, tries setups and a buffer-ring registration, and runs one
 * single-shot and one multishot recv with buffer select over a socketpair.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "uring/compat.h"
#include "uring/internal.h"

#define PROBE_BGID     7
#define PROBE_BUFS     4
#define PROBE_BUF_SIZE 64

uint64_t uring_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

const char *uring_tier_name(int tier)
{
    switch (tier) {
    case URING_TIER_0:
        return "T0";
    case URING_TIER_1:
        return "T1";
    case URING_TIER_2:
        return "T2";
    default:
        return "none";
    }
}

static bool setup_works(unsigned flags)
{
    struct io_uring_params p = {0};
    struct io_uring r;

    p.flags = flags;
    if (io_uring_queue_init_params(4, &r, &p) != 0)
        return false;
    io_uring_queue_exit(&r);
    return true;
}

/* One recv with buffer select on sv[0]; returns the CQE's res and flags (res -ETIME: no CQE). */
static int try_recv(struct io_uring *r, int fd, bool multishot, unsigned *flags)
{
    struct __kernel_timespec ts = {.tv_sec = 1};
    struct io_uring_sqe *sqe = io_uring_get_sqe(r);
    struct io_uring_cqe *cqe;
    int ret;

    io_uring_prep_recv(sqe, fd, NULL, 0, 0);
    if (multishot)
        sqe->ioprio |= IORING_RECV_MULTISHOT;
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = PROBE_BGID;
    io_uring_sqe_set_data64(sqe, 1);
    ret = io_uring_submit_and_wait_timeout(r, &cqe, 1, &ts, NULL);
    if (ret < 0)
        return ret;
    ret = cqe->res;
    *flags = cqe->flags;
    io_uring_cqe_seen(r, cqe);
    return ret;
}

static void recycle(struct io_uring_buf_ring *br, unsigned char *bufs, unsigned cqe_flags)
{
    unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;

    if (!(cqe_flags & IORING_CQE_F_BUFFER))
        return;
    io_uring_buf_ring_add(br, bufs + bid * PROBE_BUF_SIZE, PROBE_BUF_SIZE, (unsigned short)bid, io_uring_buf_ring_mask(PROBE_BUFS),
                          0);
    io_uring_buf_ring_advance(br, 1);
}

/* Ends the multishot recv still armed on sv[0] (EOF from closing the peer) and reaps its last CQE,
 * so the buffer ring is idle before it is unregistered. */
static void reap_eof(struct io_uring *r, int sv[2])
{
    struct __kernel_timespec ts = {.tv_sec = 1};
    struct io_uring_cqe *cqe;

    shutdown(sv[1], SHUT_WR);
    while (io_uring_wait_cqe_timeout(r, &cqe, &ts) == 0) {
        unsigned flags = cqe->flags;

        io_uring_cqe_seen(r, cqe);
        if (!(flags & IORING_CQE_F_MORE))
            break;
    }
}

/* Buffer ring + recv tests on ring r. */
static void probe_recv(struct io_uring *r, struct uring_features *f)
{
    unsigned char bufs[PROBE_BUFS * PROBE_BUF_SIZE];
    struct io_uring_buf_ring *br;
    unsigned flags = 0;
    int sv[2], err = 0, res;

    br = compat_setup_buf_ring(r, PROBE_BUFS, PROBE_BGID, 0, &err);
    if (br == NULL)
        return;
    f->buf_ring = true;
    for (unsigned i = 0; i < PROBE_BUFS; i++)
        io_uring_buf_ring_add(br, bufs + i * PROBE_BUF_SIZE, PROBE_BUF_SIZE, (unsigned short)i, io_uring_buf_ring_mask(PROBE_BUFS),
                              (int)i);
    io_uring_buf_ring_advance(br, PROBE_BUFS);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        goto out_free_ring;
    if (write(sv[1], "x", 1) != 1)
        goto out_close;
    res = try_recv(r, sv[0], false, &flags);
    f->recv_bufsel = res == 1 && (flags & IORING_CQE_F_BUFFER);
    recycle(br, bufs, flags);
    if (!f->recv_bufsel || write(sv[1], "yz", 2) != 2)
        goto out_close;
    res = try_recv(r, sv[0], true, &flags);
    f->multishot_recv = res == 2 && (flags & IORING_CQE_F_MORE);
    recycle(br, bufs, flags);
    if (f->multishot_recv)
        reap_eof(r, sv);
out_close:
    close(sv[1]);
    close(sv[0]);
out_free_ring:
    compat_free_buf_ring(r, br, PROBE_BUFS, PROBE_BGID);
}

static void probe_inc_bufs(struct io_uring *r, struct uring_features *f)
{
    struct io_uring_buf_ring *br;
    int err = 0;

    br = compat_setup_buf_ring(r, PROBE_BUFS, PROBE_BGID + 1, IOU_PBUF_RING_INC, &err);
    if (br == NULL)
        return;
    f->buf_ring_inc = true;
    compat_free_buf_ring(r, br, PROBE_BUFS, PROBE_BGID + 1);
}

static void set_missing(struct uring_features *f, const char *what)
{
    if (f->missing[0] == '\0')
        snprintf(f->missing, sizeof(f->missing), "%s", what);
}

static void classify(struct uring_features *f, const struct io_uring_probe *p)
{
    static const struct {
        int op;
        const char *name;
    } t0_ops[] = {
        {IORING_OP_RECV, "IORING_OP_RECV"},
        {IORING_OP_SEND, "IORING_OP_SEND"},
        {IORING_OP_ACCEPT, "IORING_OP_ACCEPT"},
        {IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT"},
        {IORING_OP_TIMEOUT_REMOVE, "IORING_OP_TIMEOUT_REMOVE"},
        {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"},
        {IORING_OP_MSG_RING, "IORING_OP_MSG_RING"},
    };
    char line[sizeof(f->missing)];

    for (size_t i = 0; i < sizeof(t0_ops) / sizeof(t0_ops[0]); i++) {
        if (!io_uring_opcode_supported(p, t0_ops[i].op)) {
            snprintf(line, sizeof(line), "io_uring opcode %s (needs Linux 5.19+)", t0_ops[i].name);
            set_missing(f, line);
        }
    }
    f->msg_ring = io_uring_opcode_supported(p, IORING_OP_MSG_RING);
    f->send_zc = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
    /* REPORT_USAGE (6.2) has no probe of its own and an unknown flag fails the send itself: infer
     * it from IORING_FEAT_REG_REG_RING, which came one release later (6.3). */
    f->send_zc_report = f->send_zc && f->reg_reg_ring;
    if (!f->buf_ring)
        set_missing(f, "provided buffer rings (IORING_REGISTER_PBUF_RING, Linux 5.19+)");
    if (!f->recv_bufsel)
        set_missing(f, "recv with IOSQE_BUFFER_SELECT from a buffer ring (Linux 5.19+)");
    if (f->missing[0] != '\0') {
        f->tier = URING_TIER_NONE;
        return;
    }
    f->tier = URING_TIER_0;
    if (!f->multishot_recv)
        set_missing(f, "T1: multishot recv");
    else if (!f->send_zc)
        set_missing(f, "T1: IORING_OP_SEND_ZC");
    else if (!f->defer_taskrun)
        set_missing(f, "T1: IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN");
    if (f->missing[0] != '\0')
        return;
    f->tier = URING_TIER_1;
    if (!f->recvsend_bundle)
        set_missing(f, "T2: IORING_FEAT_RECVSEND_BUNDLE");
    else if (!f->buf_ring_inc)
        set_missing(f, "T2: incremental buffer rings (IOU_PBUF_RING_INC)");
    else
        f->tier = URING_TIER_2;
}

int uring_probe(struct uring_features *out)
{
    struct uring_features f = {.tier = URING_TIER_NONE};
    struct io_uring_params params = {0};
    struct io_uring_probe *p;
    struct io_uring r;
    int ret;

    ret = io_uring_queue_init_params(8, &r, &params);
    if (ret != 0) {
        snprintf(f.missing, sizeof(f.missing), "io_uring itself (io_uring_setup: %s)", strerror(-ret));
        *out = f;
        return -ENOSYS;
    }
    f.cqe_skip = (params.features & IORING_FEAT_CQE_SKIP) != 0;
    f.recvsend_bundle = (params.features & IORING_FEAT_RECVSEND_BUNDLE) != 0;
    f.reg_reg_ring = (params.features & IORING_FEAT_REG_REG_RING) != 0;
    f.defer_taskrun = setup_works(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    f.coop_taskrun = setup_works(IORING_SETUP_COOP_TASKRUN);
    f.submit_all = setup_works(IORING_SETUP_SUBMIT_ALL);
    probe_recv(&r, &f);
    probe_inc_bufs(&r, &f);
    p = io_uring_get_probe_ring(&r);
    io_uring_queue_exit(&r);
    if (p == NULL) {
        snprintf(f.missing, sizeof(f.missing), "io_uring opcode probe (IORING_REGISTER_PROBE, Linux 5.6+)");
        *out = f;
        return -ENOSYS;
    }
    classify(&f, p);
    io_uring_free_probe(p);
    *out = f;
    return f.tier == URING_TIER_NONE ? -ENOSYS : f.tier;
}
