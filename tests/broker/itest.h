/*
 * Shared by the broker's integration tests: start a broker or bail out, stop it and check that it
 * exited with status 0, and small frame assertions.
 */
#ifndef TRPC_TESTS_BROKER_ITEST_H
#define TRPC_TESTS_BROKER_ITEST_H

#include <string.h>
#include <sys/wait.h>

#include "tests/broker/tclient.h"
#include "tests/harness/broker_proc.h"
#include "tests/tap.h"

static inline void itest_start(struct broker_proc *b, const char *const *args)
{
    int ret = broker_proc_start(b, args);

    if (ret != 0) {
        printf("Bail out! cannot start trpc-broker: %s\n", strerror(-ret));
        exit(1);
    }
}

/* SIGTERM, wait, and one TAP point for a clean exit. */
static inline void itest_stop(struct broker_proc *b)
{
    int st = broker_proc_stop(b);

    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "broker exits 0 on SIGTERM (status %d)", st);
}

static inline void itest_connect(struct tc *c, const struct broker_proc *b, uint8_t flags)
{
    int ret = tc_connect(c, b, flags);

    if (ret != 0) {
        printf("Bail out! cannot connect: %s\n", strerror(-ret));
        exit(1);
    }
}

/*
 * Connects until the connection lands on broker core `core` (SO_REUSEPORT spreads connections
 * over the cores' listeners by a hash of the addresses, so a few tries suffice); the core is read
 * from the CONNACK client_id (bits 63..48 hold core + 1). Bails out after 200 tries.
 */
static inline void itest_connect_on(struct tc *c, const struct broker_proc *b, unsigned core)
{
    for (int i = 0; i < 200; i++) {
        itest_connect(c, b, 0);
        if (c->core == core)
            return;
        tc_close(c);
    }
    printf("Bail out! no connection landed on core %u in 200 tries\n", core);
    exit(1);
}

/* itest_connect_on with a small receive buffer (tc_connect_rcvbuf): a reader the broker's
 * output backs up against. */
static inline void itest_connect_rcvbuf_on(struct tc *c, const struct broker_proc *b, int rcvbuf, unsigned core)
{
    for (int i = 0; i < 200; i++) {
        if (tc_connect_rcvbuf(c, b, rcvbuf) != 0) {
            printf("Bail out! cannot connect with a receive buffer of %d\n", rcvbuf);
            exit(1);
        }
        if (c->core == core)
            return;
        tc_close(c);
    }
    printf("Bail out! no connection landed on core %u in 200 tries\n", core);
    exit(1);
}

/* The next frame, or a frame of type 0 when none came. */
static inline struct wire_frame itest_next(struct tc *c, int timeout_ms)
{
    struct wire_frame f;

    if (tc_recv(c, &f, timeout_ms) != 0)
        memset(&f, 0, sizeof(f));
    return f;
}

/* An ERR with code (and FATAL or not) is the next frame. */
static inline bool itest_is_err(const struct wire_frame *f, int code, bool fatal)
{
    return f->type == WIRE_ERR && f->aux == (uint32_t)code && ((f->flags & WIRE_F_FATAL) != 0) == fatal;
}

#endif
