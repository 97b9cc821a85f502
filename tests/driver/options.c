/* The options object and trpc_connect's argument checks: defaults accepted, bad values refused
 * with INVALID_ARGUMENT and a detail in trpc_last_error(), unreachable brokers reported. */
#include "tests/driver/helpers.h"

int main(void)
{
    trpc_options *o = NULL;
    trpc_client *c = (trpc_client *)0x1;
    int err;

    plan(48);
    /* config.h's PACKAGE_VERSION is AC_INIT's: the header must not keep a version of its own. */
    ok(strcmp(TRPC_VERSION_STRING, PACKAGE_VERSION) == 0, "TRPC_VERSION_STRING %s is AC_INIT's %s", TRPC_VERSION_STRING,
       PACKAGE_VERSION);
    ok_eq(trpc_options_create(NULL), -TRPC_E_INVALID_ARGUMENT, "create with NULL out");
    ok(trpc_last_error()[0] != '\0', "last error says why");
    ok_eq(trpc_options_create(&o), 0, "create");
    ok(trpc_last_error()[0] == '\0', "a successful call clears the last error");
    ok_eq(trpc_options_set_name(o, "tester"), 0, "set_name");
    ok_eq(trpc_options_set_credentials(o, "user", "secret"), 0, "set_credentials");
    ok_eq(trpc_options_set_token(o, NULL), 0, "set_token NULL clears it");
    ok_eq(trpc_options_set_no_echo(o, true), 0, "set_no_echo");
    ok_eq(trpc_options_set_connect_timeout(o, 0), -TRPC_E_INVALID_ARGUMENT, "connect timeout 0 refused");
    ok_eq(trpc_options_set_connect_timeout(o, 300), 0, "connect timeout 300");
    ok_eq(trpc_options_set_reconnect(o, -2, 10, 100), -TRPC_E_INVALID_ARGUMENT, "max_attempts -2 refused");
    ok_eq(trpc_options_set_reconnect(o, 3, 100, 10), -TRPC_E_INVALID_ARGUMENT, "max below initial refused");
    ok_eq(trpc_options_set_reconnect(o, 0, 10, 100), 0, "reconnect never");
    ok_eq(trpc_options_set_send_buffer(o, 10), -TRPC_E_INVALID_ARGUMENT, "a tiny send buffer refused");
    ok_eq(trpc_options_set_send_buffer(o, 1 << 20), 0, "send buffer 1 MiB");
    ok_eq(trpc_options_set_max_pending(o, 0), -TRPC_E_INVALID_ARGUMENT, "max_pending 0 refused");
    ok_eq(trpc_options_set_dispatch(o, TRPC_DISPATCH_THREAD, 65), -TRPC_E_INVALID_ARGUMENT, "65 dispatcher threads refused");
    ok_eq(trpc_options_set_dispatch(o, (trpc_dispatch)7, 1), -TRPC_E_INVALID_ARGUMENT, "unknown dispatch mode refused");
    ok_eq(trpc_options_set_dispatch(o, TRPC_DISPATCH_THREAD, 4), 0, "4 dispatcher threads");
    ok_eq(trpc_options_set_name(NULL, "x"), -TRPC_E_INVALID_ARGUMENT, "setter on NULL options");

    /* TLS settings: copied, checked for what can be checked without reading the files. */
    ok_eq(trpc_options_set_tls_ca(o, "/some/ca.pem"), 0, "set_tls_ca");
    ok_eq(trpc_options_set_tls_ca(o, NULL), 0, "set_tls_ca NULL: the system's store");
    ok_eq(trpc_options_set_tls_ca(o, ""), -TRPC_E_INVALID_ARGUMENT, "set_tls_ca with an empty name refused");
    ok_eq(trpc_options_set_tls_cert(o, "/some/client.pem", NULL), 0, "set_tls_cert with the key in the certificate file");
    ok_eq(trpc_options_set_tls_cert(o, "/some/client.pem", "/some/client.key"), 0, "set_tls_cert with a key file");
    ok_eq(trpc_options_set_tls_cert(o, NULL, "/some/client.key"), -TRPC_E_INVALID_ARGUMENT, "a key without a certificate refused");
    ok(strstr(trpc_last_error(), "key") != NULL, "detail: %s", trpc_last_error());
    ok_eq(trpc_options_set_tls_cert(o, NULL, NULL), 0, "set_tls_cert NULL: no client certificate");
    ok_eq(trpc_options_set_tls_insecure_skip_verify(o, true), 0, "set_tls_insecure_skip_verify");
    ok_eq(trpc_options_set_tls_insecure_skip_verify(o, false), 0, "and back");
    ok_eq(trpc_options_set_tls_server_name(o, "broker.example"), 0, "set_tls_server_name");
    ok_eq(trpc_options_set_tls_server_name(o, ""), -TRPC_E_INVALID_ARGUMENT, "an empty server name refused");
    ok_eq(trpc_options_set_tls_server_name(o, NULL), 0, "set_tls_server_name NULL: each URL's host");
    ok_eq(trpc_options_set_tls_offload(o, TRPC_TLS_OFFLOAD_KERNEL), 0, "set_tls_offload KERNEL");
    ok_eq(trpc_options_set_tls_offload(o, TRPC_TLS_OFFLOAD_USER), 0, "set_tls_offload USER");
    ok_eq(trpc_options_set_tls_offload(o, (trpc_tls_offload)3), -TRPC_E_INVALID_ARGUMENT, "an unknown offload mode refused");
    ok(strstr(trpc_last_error(), "tls_offload") != NULL, "detail: %s", trpc_last_error());
    ok_eq(trpc_options_set_tls_offload(o, TRPC_TLS_OFFLOAD_AUTO), 0, "set_tls_offload AUTO");
    ok_eq(trpc_options_set_tls_ca(NULL, "x"), -TRPC_E_INVALID_ARGUMENT, "TLS setter on NULL options");
    trpc_options_set_tls_ca(o, "/nonexistent/trpc-ca.pem");
    ok_eq(trpc_connect(&c, "trpcs://127.0.0.1:1", o), -TRPC_E_TLS, "trpcs:// with a CA file that cannot be read: TLS");
    ok(strstr(trpc_last_error(), "/nonexistent/trpc-ca.pem") != NULL, "detail names the file: %s", trpc_last_error());
    trpc_options_set_tls_ca(o, NULL);

    ok(c == (trpc_client *)0x1, "out untouched on failure");
    ok_eq(trpc_connect(&c, "http://x:1", o), -TRPC_E_INVALID_ARGUMENT, "unknown scheme refused");
    ok_eq(trpc_connect(&c, " , ", o), -TRPC_E_INVALID_ARGUMENT, "empty URL list refused");
    /* Port 1 on loopback: nothing listens there, both entries are tried and refused. */
    err = trpc_connect(&c, "trpc://127.0.0.1:1, 127.0.0.1:1", o);
    ok(err < 0, "unreachable broker fails (%s)", trpc_strerror(err));
    ok(strstr(trpc_last_error(), "127.0.0.1:1") != NULL, "detail names the address: %s", trpc_last_error());
    trpc_options_destroy(o);
    trpc_options_destroy(NULL);
    ok(1, "destroy and destroy(NULL) return");
    return done_testing();
}
