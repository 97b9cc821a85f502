/*
 * trpc-gen's name limits (gen/gen.h) are copies of the broker's: gen refuses a contract whose
 * names the broker would refuse, and must not refuse one it takes. gen does not include the
 * broker's headers (it is a separate program), so this file, which sees both, holds them equal:
 * a change to one side alone breaks the build of `make check`.
 */
#include "gen/gen.h"
#include "src/group.h"
#include "src/route.h"
#include "tests/tap.h"

_Static_assert(GEN_MAX_QUEUE_GROUP == BROKER_GROUP_MAX, "gen/gen.h GEN_MAX_QUEUE_GROUP must equal src/route.h BROKER_GROUP_MAX");
_Static_assert(GEN_MAX_DURABLE_GROUP == GROUP_NAME_MAX, "gen/gen.h GEN_MAX_DURABLE_GROUP must equal src/group.h GROUP_NAME_MAX");

int main(void)
{
    plan(1);
    ok(1, "gen's limits equal the broker's (checked when this test was compiled)");
    return done_testing();
}
