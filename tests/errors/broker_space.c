/* The broker's error space (src/err.h): system errors and TRPC codes never collide, and every
 * broker error maps to the wire code it stands for. */
#include <errno.h>
#include <string.h>

#include "src/err.h"
#include "tests/tap.h"

static const int codes[] = {
#define XX(name, code, msg) code,
    TRPC_ERR_MAP(XX)
#undef XX
};

#define N_CODES (sizeof(codes) / sizeof(codes[0]))

int main(void)
{
    int collide = 0, wrong = 0, trpc_errno = 0;

    /* Every errno a syscall, a CQE or libc can give (MAX_ERRNO is 4095) is a system error. */
    for (int e = 1; e <= BROKER_ERRNO_MAX; e++) {
        trpc_errno += broker_err_is_trpc(-e);
        wrong += broker_err_wire(-e) != TRPC_E_INTERNAL;
    }
    ok(trpc_errno == 0, "no errno from 1 to %d reads as a TRPC code", BROKER_ERRNO_MAX);
    ok(wrong == 0, "every system error goes on the wire as INTERNAL");
    for (size_t i = 0; i < N_CODES; i++) {
        if (codes[i] == TRPC_E_OK)
            continue;
        collide += BROKER_ETRPC(codes[i]) >= -BROKER_ERRNO_MAX || !broker_err_is_trpc(BROKER_ETRPC(codes[i]));
        wrong += broker_err_wire(BROKER_ETRPC(codes[i])) != codes[i];
        for (size_t j = i + 1; j < N_CODES; j++)
            collide += BROKER_ETRPC(codes[i]) == BROKER_ETRPC(codes[j]);
    }
    ok(collide == 0, "every TRPC code, encoded, lies below every errno and apart from the others");
    ok(wrong == 0, "every encoded TRPC code maps back to itself for the wire");
    /* The overlaps the old mixed space had: ENETDOWN is PROTOCOL's 100, ENOBUFS SECTION_OVERRUN's 105. */
    ok(ENETDOWN == TRPC_E_PROTOCOL && BROKER_ETRPC(TRPC_E_PROTOCOL) != -ENETDOWN, "-ENETDOWN is not PROTOCOL");
    ok(BROKER_ETRPC(TRPC_E_SECTION_OVERRUN) != -ENOBUFS, "-ENOBUFS is not SECTION_OVERRUN");
    ok_eq(broker_err_wire(-ENOBUFS), TRPC_E_INTERNAL, "ENOBUFS on the wire is INTERNAL");
    ok_eq(broker_err_wire(BROKER_ETRPC(TRPC_E_BAD_POLICY)), TRPC_E_BAD_POLICY, "BAD_POLICY round-trips");
    return done_testing();
}
