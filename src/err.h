/*
 * err: the broker's one error space.
 *
 * Every broker function that can fail returns 0 (or a count) on success and a negative int on
 * failure, from one space with two disjoint parts:
 *   - a system error as negative errno (-ENOMEM, -EPIPE, -ENOBUFS, ..., a CQE's res), never below
 *     -BROKER_ERRNO_MAX;
 *   - a protocol refusal as BROKER_ETRPC(TRPC_E_x): -(BROKER_ERR_TRPC_BASE + code), always below it.
 * So a value tells which it is (broker_err_is_trpc), -ENETDOWN is never TRPC_E_PROTOCOL (both 100),
 * and a comparison with -ENOBUFS never matches TRPC_E_SECTION_OVERRUN.
 *
 * A positive int named code is a wire code (TRPC_E_x, driver/include/trpc/errors.h), what an ERR
 * or an error REP carries. broker_err_wire() is the one map from the space to the wire; the codec
 * (driver/wire.h) returns -TRPC_E_x, which the broker sends as is (-ret is the wire code) or turns
 * into this space with BROKER_ETRPC(-ret).
 */
#ifndef TRPC_SRC_ERR_H
#define TRPC_SRC_ERR_H

#include <assert.h>
#include <stdbool.h>

#include <trpc/errors.h>

/* MAX_ERRNO of the kernel: no syscall, CQE or libc errno is above it. */
#define BROKER_ERRNO_MAX     4095
#define BROKER_ERR_TRPC_BASE (BROKER_ERRNO_MAX + 1)
/* The broker error for TRPC code c (c > 0). */
#define BROKER_ETRPC(c) (-(BROKER_ERR_TRPC_BASE + (c)))

/* Every TRPC code, encoded, lies below every errno and stays an int; 0 (OK) is never an error. */
#define BROKER_ERR_CHECK_(name, code, msg)                                                                                         \
    _Static_assert((code) >= 0 && (code) < 1000, "TRPC_E_" #name " is a code from 0 to 999");                                      \
    _Static_assert(BROKER_ETRPC(code) < -BROKER_ERRNO_MAX, "TRPC_E_" #name " encoded lies below every errno");
TRPC_ERR_MAP(BROKER_ERR_CHECK_)
#undef BROKER_ERR_CHECK_

/* True when err (< 0) is a protocol refusal, false when it is a system error. */
static inline bool broker_err_is_trpc(int err)
{
    assert(err < 0);
    return err < -BROKER_ERRNO_MAX;
}

/*
 * The wire code for broker error err (< 0): the TRPC code of a refusal; INTERNAL for a system
 * error, which the client cannot act on.
 */
static inline int broker_err_wire(int err)
{
    assert(err < 0);
    return broker_err_is_trpc(err) ? -err - BROKER_ERR_TRPC_BASE : TRPC_E_INTERNAL;
}

#endif
