/* The error list: every code has a distinct name and a message, and lookups are total. */
#include <string.h>

#include <trpc/errors.h>

#include "tests/tap.h"

static const struct {
    int code;
    const char *name;
    const char *msg;
} all[] = {
#define XX(name, code, msg) {code, #name, msg},
    TRPC_ERR_MAP(XX)
#undef XX
};

#define N_CODES (sizeof(all) / sizeof(all[0]))

int main(void)
{
    size_t i, j;
    int dup = 0;

    for (i = 0; i < N_CODES; i++) {
        ok(strcmp(trpc_err_name(all[i].code), all[i].name) == 0, "name of %d is %s", all[i].code, all[i].name);
        ok(strcmp(trpc_strerror(all[i].code), all[i].msg) == 0, "message of %s", all[i].name);
        ok(strcmp(trpc_strerror(-all[i].code), all[i].msg) == 0, "negated %s maps to the same message", all[i].name);
        ok(all[i].msg[0] != '\0', "message of %s is not empty", all[i].name);
        for (j = i + 1; j < N_CODES; j++)
            dup += strcmp(all[i].name, all[j].name) == 0 || strcmp(all[i].msg, all[j].msg) == 0;
    }
    ok(dup == 0, "names and messages are unique");
    ok(TRPC_E_OK == 0, "OK is zero");
    /* Stability: a handful of codes pinned to the numbers docs/protocol.md publishes. */
    ok_eq(TRPC_E_PROTOCOL, 100, "PROTOCOL is 100");
    ok_eq(TRPC_E_UNSUPPORTED_VERSION, 200, "UNSUPPORTED_VERSION is 200");
    ok_eq(TRPC_E_NO_RESPONDERS, 300, "NO_RESPONDERS is 300");
    ok_eq(TRPC_E_TIMEOUT, 301, "TIMEOUT is 301");
    ok_eq(TRPC_E_SLOW_CONSUMER, 400, "SLOW_CONSUMER is 400");
    ok_eq(TRPC_E_CONNECTION_LOST, 903, "CONNECTION_LOST is 903");
    ok_eq(TRPC_E_TLS, 908, "TLS is 908");
    ok(strcmp(trpc_strerror(12345), "unknown error") == 0, "unknown code has a generic message");
    ok(strcmp(trpc_err_name(-12345), "UNKNOWN") == 0, "unknown code has a generic name");
    ok(strcmp(trpc_strerror(-2147483647 - 1), "unknown error") == 0, "INT_MIN does not overflow");
    return done_testing();
}
