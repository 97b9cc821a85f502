/*
 * Shared by the gate tests that need a foreign sender caught inside its sendmsg (preempted there):
 * th_gate_take() takes a connection's gate exactly as uring_gate_send() does and keeps it;
 * th_gate_release() lets it go as uring_gate_send() would, with or without a rest. Reaches into
 * uring/internal.h for the gate word's layout. Also: connections on Unix socketpairs.
 */
#ifndef TRPC_TESTS_URING_GATE_SIM_H
#define TRPC_TESTS_URING_GATE_SIM_H

#include <pthread.h>
#include <stdatomic.h>

#include "tests/uring/helpers.h"
#include "uring/internal.h"

/* Every gate test bails out rather than hang if the owner waits for a gate without bound. */
#define TH_GATE_HANG_S 120

static inline unsigned th_gate_state(struct uring_gate *g)
{
    return (unsigned)(atomic_load(&g->_word) & GATE_STATE_MASK);
}

static inline bool th_gate_wanted(struct uring_gate *g)
{
    return (atomic_load(&g->_word) & GATE_WANTED) != 0;
}

/* IDLE -> FOREIGN for generation gen, retrying while the owner holds the gate (its output drains). */
static inline void th_gate_take(struct uring_gate *g, uint32_t gen)
{
    for (;;) {
        uint64_t w = gate_word(gen, GATE_IDLE);

        if (atomic_compare_exchange_strong(&g->_word, &w, gate_word(gen, GATE_FOREIGN)))
            return;
        usleep(100);
    }
}

/* FOREIGN -> REST with a copy of rest (NULL: -> IDLE), keeping GATE_WANTED as a real sender does. */
static inline void th_gate_release(struct uring_gate *g, uint32_t gen, const char *rest)
{
    uint64_t w = atomic_load(&g->_word);

    if (rest != NULL) {
        g->_rest_len = (uint32_t)strlen(rest);
        g->_rest = malloc(g->_rest_len);
        if (g->_rest == NULL)
            BAIL_OUT("malloc");
        memcpy(g->_rest, rest, g->_rest_len);
    }
    if ((w & GATE_STATE_MASK) != GATE_FOREIGN)
        BAIL_OUT("the simulated sender does not hold the gate");
    while (!atomic_compare_exchange_weak(&g->_word, &w, gate_word(gen, rest != NULL ? GATE_REST : GATE_IDLE) | (w & GATE_WANTED)))
        ;
}

/* The gate tests' start: skips below T0, arms the hang guard, initialises a small loop. */
static inline void th_gate_loop_init(struct uring_loop *loop)
{
    struct uring_loop_opts o = {.buf_count = 16, .buf_size = 4096};

    th_require_t0();
    alarm(TH_GATE_HANG_S);
    if (uring_loop_init(loop, &o) != 0)
        BAIL_OUT("loop init");
}

/* Starts conn on one end of a new Unix socketpair; returns the other end (the peer, blocking). */
static inline int th_conn_socketpair(struct uring_loop *loop, struct uring_conn *conn, const struct uring_conn_cbs *cbs, void *data)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        BAIL_OUT("socketpair");
    conn->data = data;
    if (uring_conn_start(conn, loop, sv[0], cbs, 0) != 0)
        BAIL_OUT("conn start");
    return sv[1];
}

/* Whether the peer has nothing to read and no end of file: the connection sent nothing, fd open. */
static inline bool th_peer_quiet(int peer)
{
    char c;

    return recv(peer, &c, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN;
}

/* Reads until end of file (at most cap bytes): how many came, or -1. */
static inline ssize_t th_read_to_eof(int fd, char *buf, size_t cap)
{
    size_t got = 0;

    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0 || got + (size_t)n == cap)
            return (ssize_t)(got + (size_t)n);
        got += (size_t)n;
    }
}

/* Until *flag reaches want (a loop callback sets it). */
static inline void th_wait_for(atomic_int *flag, int want)
{
    while (atomic_load(flag) < want)
        usleep(100);
}

#endif
