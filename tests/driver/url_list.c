/* A list of broker URLs is tried in turn: a dead first entry is skipped; malformed entries are
 * refused before anything is tried. */
#include "tests/driver/helpers.h"

int main(void)
{
    char urls[256];
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c = NULL;
    int err;

    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_name(o, "url-list-test");
    trpc_options_set_connect_timeout(o, 1000);
    snprintf(urls, sizeof(urls), "trpc://127.0.0.1:1, 127.0.0.1:%u", b.port);
    err = trpc_connect(&c, urls, o);
    ok_eq(err, 0, "connects through the second URL (%s)", trpc_last_error());
    ok_eq(trpc_client_state(c), TRPC_STATE_CONNECTED, "connected");
    ok_eq(trpc_flush(c, 5000), 0, "the session works");
    trpc_close(c);
    c = NULL;
    ok_eq(trpc_connect(&c, "trpc://[::1", o), -TRPC_E_INVALID_ARGUMENT, "an unbalanced '[' is refused");
    ok_eq(trpc_connect(&c, "127.0.0.1:4x", o), -TRPC_E_INVALID_ARGUMENT, "a non-numeric port is refused");
    ok(strstr(trpc_last_error(), "port") != NULL, "detail: %s", trpc_last_error());
    ok(c == NULL, "out untouched");
    trpc_options_destroy(o);
    broker_proc_stop(&b);
    return done_testing();
}
