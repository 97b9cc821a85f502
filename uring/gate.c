/*
 * Gates: foreign sends on a connection (uring.h, "foreign sends"). The gate word is
 * gen << 32 | state:
 *
 *   CLOSED   no connection uses the gate (zeroed memory, or its connection is closing)
 *   IDLE     the owner has nothing queued or in flight: a foreign sender may take it
 *   OWNER    the owner's send path holds it (send.c: CONN_GATE_HELD)
 *   FOREIGN  a foreign sender is inside its sendmsg
 *   REST     a foreign send was short: _rest holds what is left, for the owner alone
 *
 * Foreign: IDLE -> FOREIGN (acquire), then FOREIGN -> IDLE or REST (release). Owner: IDLE -> OWNER
 * (acquire), REST -> OWNER (acquire, takes the rest), OWNER -> IDLE when drained, OWNER -> CLOSED
 * before the fd closes. Every transition checks gen, so a sender holding an old generation finds
 * nothing to take; _fd and _rest are written by the side that holds the gate and read by the next
 * holder after its acquire, so neither needs to be atomic.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "uring/internal.h"

int uring_gate_send(struct uring_gate *g, uint32_t gen, const struct iovec *iov, unsigned n)
{
    uint64_t w = gate_word(gen, GATE_IDLE);
    struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
    size_t total = 0, skip;
    unsigned char *rest;
    ssize_t ret;

    for (unsigned i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (!atomic_compare_exchange_strong_explicit(&g->_word, &w, gate_word(gen, GATE_FOREIGN), memory_order_acquire,
                                                 memory_order_relaxed))
        return -EBUSY;
    do
        ret = sendmsg(g->_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (ret < 0 && errno == EINTR);
    if (ret < 0 || (size_t)ret == total) {
        int err = ret < 0 ? -errno : URING_GATE_SENT;

        atomic_store_explicit(&g->_word, gate_word(gen, GATE_IDLE), memory_order_release);
        return err;
    }
    /* The peer's socket took part of it: the stream now ends inside a frame, and only the owner
     * may go on. A rest that cannot be kept (no memory) makes the owner cut the connection. */
    skip = (size_t)ret;
    rest = malloc(total - skip);
    if (rest != NULL) {
        size_t at = 0;

        for (unsigned i = 0; i < n; i++) {
            size_t len = iov[i].iov_len, off = 0;

            if (skip >= len) {
                skip -= len;
                continue;
            }
            off = skip;
            skip = 0;
            memcpy(rest + at, (const unsigned char *)iov[i].iov_base + off, len - off);
            at += len - off;
        }
    }
    g->_rest = rest;
    g->_rest_len = (uint32_t)(total - (size_t)ret);
    atomic_store_explicit(&g->_word, gate_word(gen, GATE_REST), memory_order_release);
    return URING_GATE_REST;
}
