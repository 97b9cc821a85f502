/*
 * Injected delay for the WAL tests: the CQEs of one kind of WAL request (an op of the user_data tag,
 * WAL_OP_*) are taken off the ring but kept back from the WAL, as if the kernel had not completed
 * them, and handed over later. Everything else is handled as wal_poll does.
 */
#ifndef TRPC_TESTS_WAL_HOLD_H
#define TRPC_TESTS_WAL_HOLD_H

#include "tests/wal/walt.h"
#include "wal/internal.h" /* WAL_OP_*, WAL_UD_MASK, and nout: how many requests are out */

#define HOLD_MAX 16

struct hold {
    uint32_t op; /* WAL_OP_* kept back; 0: none */
    uint32_t n;
    uint64_t user_data[HOLD_MAX];
    int32_t res[HOLD_MAX];
};

/* wal_poll that keeps back h->op's CQEs. With wait, waits for a CQE only while a request that is not
 * held is out (a held one will not come back). */
static inline void hold_poll(struct wal *w, struct io_uring *ring, struct hold *h, bool wait)
{
    struct io_uring_cqe *cqe;

    wal_flush(w);
    io_uring_submit(ring);
    if (wait && w->nout > h->n && io_uring_wait_cqe(ring, &cqe) < 0)
        BAIL_OUT("io_uring_wait_cqe");
    while (io_uring_peek_cqe(ring, &cqe) == 0) {
        if (((cqe->user_data & WAL_UD_MASK) >> 3) == h->op) {
            if (h->n == HOLD_MAX)
                BAIL_OUT("too many CQEs held");
            h->user_data[h->n] = cqe->user_data;
            h->res[h->n++] = cqe->res;
        } else if (!wal_handle_cqe(w, cqe)) {
            BAIL_OUT("a CQE that is not the WAL's");
        }
        io_uring_cqe_seen(ring, cqe);
    }
    wal_flush(w);
    io_uring_submit(ring);
}

/* hold_poll until only held requests are out. */
static inline void hold_settle(struct wal *w, struct io_uring *ring, struct hold *h)
{
    do
        hold_poll(w, ring, h, true);
    while (w->nout > h->n);
}

/* Hands the held CQEs to the WAL, in the order they came, and stops holding. */
static inline void hold_release(struct wal *w, struct hold *h)
{
    h->op = 0;
    for (uint32_t i = 0; i < h->n; i++) {
        struct io_uring_cqe cqe = {.user_data = h->user_data[i], .res = h->res[i]};

        if (!wal_handle_cqe(w, &cqe))
            BAIL_OUT("held CQE refused");
    }
    h->n = 0;
}

/* Appends record seq (walt_fill payload of len bytes), polling with h while the buffers are busy.
 * Returns -EAGAIN when it is refused with nothing but held requests out: the back-pressure. */
static inline int hold_append(struct wal *w, struct io_uring *ring, struct hold *h, uint32_t len, uint64_t seq,
                              struct walt_acks *acks)
{
    static uint8_t buf[65536];
    uint64_t got;
    int ret;

    if (len > sizeof(buf))
        BAIL_OUT("record too large for hold_append");
    walt_fill(buf, len, seq);
    while ((ret = wal_append(w, 1, buf, len, walt_ack_cb, acks, &got)) == -EAGAIN) {
        if (w->nout == h->n)
            return -EAGAIN;
        hold_poll(w, ring, h, true);
    }
    if (ret == 0 && got != seq)
        BAIL_OUT("sequence %llu, expected %llu", (unsigned long long)got, (unsigned long long)seq);
    return ret;
}

#endif
