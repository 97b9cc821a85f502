/*
 * Version negotiation (docs/protocol.md sections 4 and 8): CONNECT aux packs the client's range
 * as low 16 bits lowest, high 16 bits highest; the broker picks the highest version inside both
 * ranges, and refuses with UNSUPPORTED_VERSION when they do not meet, when the client's lowest is
 * 0, or when its lowest is above its highest. The server's own range is configuration, not input:
 * the spec says nothing of a bad one, so only valid server ranges (1 <= min <= max) are used.
 */
#include "driver/wire.h"
#include "tests/tap.h"

#define NO (-TRPC_E_UNSUPPORTED_VERSION)

static const struct {
    const char *what;
    uint16_t cmin, cmax, smin, smax;
    int want;
} cases[] = {
    {"both speak 1..1", 1, 1, 1, 1, 1},
    {"client 1..5, server 3..7", 1, 5, 3, 7, 5},
    {"client 3..7, server 1..5", 3, 7, 1, 5, 5},
    {"client 2..9 contains server 4..6", 2, 9, 4, 6, 6},
    {"server 2..9 contains client 4..6", 4, 6, 2, 9, 6},
    {"ranges touch at 3", 1, 3, 3, 4, 3},
    {"ranges touch at 3, reversed", 3, 4, 1, 3, 3},
    {"identical wide ranges", 1, 65535, 1, 65535, 65535},
    {"single version 65535", 65535, 65535, 1, 65535, 65535},
    {"client 1..65535, server 1..1", 1, 65535, 1, 1, 1},
    {"disjoint: client below", 1, 2, 3, 4, NO},
    {"disjoint: client above", 5, 6, 3, 4, NO},
    {"disjoint: adjacent", 1, 2, 3, 3, NO},
    {"inverted client range", 5, 3, 1, 10, NO},
    {"inverted client range 2..1", 2, 1, 1, 2, NO},
    {"client lowest 0", 0, 5, 1, 10, NO},
    {"client lowest 0 though 1 is in both ranges", 0, 1, 1, 1, NO},
    {"client 0..0", 0, 0, 1, 1, NO},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

int main(void)
{
    size_t i;

    ok_eq(WIRE_VERSION_MIN, 1, "this codec's lowest version is 1");
    ok_eq(WIRE_VERSION_MAX, 3, "this codec's highest version is 3");
    ok_eq(wire_versions(1, 2), 0x00020001u, "wire_versions(1, 2): min low, max high");
    ok_eq(wire_versions(0x1234, 0xabcd), 0xabcd1234u, "wire_versions keeps all 16 bits of each");
    ok_eq(wire_versions(0xffff, 0), 0x0000ffffu, "wire_versions does not sign-extend");
    ok_eq(wire_versions(0, 0xffff), 0xffff0000u, "wire_versions puts max in the high half");

    for (i = 0; i < N_CASES; i++)
        ok_eq(wire_negotiate(wire_versions(cases[i].cmin, cases[i].cmax), cases[i].smin, cases[i].smax), cases[i].want, "%s",
              cases[i].what);

    /* Raw aux values, built without wire_versions. */
    ok_eq(wire_negotiate(0x00050002u, 1, 10), 5, "aux 0x00050002 is 2..5");
    ok_eq(wire_negotiate(0x00020005u, 1, 10), NO, "aux 0x00020005 is 5..2, inverted");
    ok_eq(wire_negotiate(0, 1, 1), NO, "aux 0 is refused");
    ok_eq(wire_negotiate(0x00010001u, WIRE_VERSION_MIN, WIRE_VERSION_MAX), 1, "a v1 client meets this codec");
    ok_eq(wire_negotiate(0x00020001u, WIRE_VERSION_MIN, WIRE_VERSION_MAX), 2, "a 1..2 client meets it at 2");
    ok_eq(wire_negotiate(0x00040001u, WIRE_VERSION_MIN, WIRE_VERSION_MAX), 3, "a 1..4 client meets it at 3");
    return done_testing();
}
