/* A list of broker URLs is tried in turn: a dead first entry is skipped; malformed entries are
 * refused before anything is tried. Entries may mix trpc:// and trpcs://, each with its own
 * scheme: TLS where it says trpcs:// (port 4251 when none is given), plain TCP elsewhere. */
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

    ok_eq(trpc_connect(&c, "trpcs://[::1", o), -TRPC_E_INVALID_ARGUMENT, "trpcs://: an unbalanced '[' is refused");
    ok(strstr(trpc_last_error(), "trpcs://[::1") != NULL, "detail quotes the entry: %s", trpc_last_error());
    ok_eq(trpc_connect(&c, "trpcs://:4251", o), -TRPC_E_INVALID_ARGUMENT, "trpcs:// without a host is refused");
    ok_eq(trpc_connect(&c, "tls://127.0.0.1:1", o), -TRPC_E_INVALID_ARGUMENT, "an unknown scheme is refused");
    ok(strstr(trpc_last_error(), "trpcs://") != NULL, "detail names both schemes: %s", trpc_last_error());
    /* Nothing listens on port 1: the trpcs:// entry fails and the plain one after it is used. */
    snprintf(urls, sizeof(urls), "trpcs://127.0.0.1:1, trpc://127.0.0.1:%u", b.port);
    err = trpc_connect(&c, urls, o);
    ok_eq(err, 0, "a trpcs:// entry, then a trpc:// one: plain TCP for the second (%s)", trpc_last_error());
    ok(err == 0 && trpc_flush(c, 5000) == 0, "the session works");
    trpc_close(c);
    c = NULL;
    /* The broker's plain port does not speak TLS: said so, not a hang. */
    snprintf(urls, sizeof(urls), "trpcs://127.0.0.1:%u", b.port);
    err = trpc_connect(&c, urls, o);
    ok_eq(err, -TRPC_E_TLS, "trpcs:// to the broker's plain port fails with TLS (%s)", trpc_last_error());
    ok(strstr(trpc_last_error(), "not TLS") != NULL, "and says the port is not TLS");
    ok(c == NULL, "out untouched");
    err = trpc_connect(&c, "trpcs://127.0.0.1", o);
    ok(err != 0 && strstr(trpc_last_error(), "127.0.0.1:4251") != NULL, "trpcs:// without a port tries 4251: %s",
       trpc_last_error());
    trpc_options_destroy(o);
    broker_proc_stop(&b);
    return done_testing();
}
