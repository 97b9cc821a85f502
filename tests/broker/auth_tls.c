/*
 * Authentication over TLS (issue 19): with client certificates optional, a client whose
 * certificate subject is a user's logs in as that user without a password; one without a
 * certificate needs a password, which works over TLS; a certificate nobody claims is refused.
 * Certificates are real ones (tests/tls/mkcerts.sh).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/tls.h"
#include "src/auth.h"
#include "src/store.h"
#include "tests/broker/itest_auth.h"
#include "tests/tls/certs.h"

#define SVC_SUBJECT "CN=trpc-test-client"
#define ALICE_PW    "tls-password-123"

static void seed(const char *dir, bool claim_cert)
{
    struct store_opts o = {.data_dir = dir};
    char err[STORE_ERR_MAX], hash[AUTH_HASH_MAX];
    struct store *s;

    if (store_open(&o, &s, err, sizeof(err)) != 0)
        BAIL_OUT("store: %s", err);
    if (auth_hash_password(ALICE_PW, strlen(ALICE_PW), hash, sizeof(hash)) != 0)
        BAIL_OUT("hash");
    itest_store_put(s, AUTH_NS_USERS, "alice", json_pack("{s:s, s:{s:[s]}}", "hash", hash, "publish", "allow", "alice.>"));
    itest_store_put(s, AUTH_NS_USERS, "svc", json_pack("{s:s, s:{s:[s]}}", "cert", SVC_SUBJECT, "publish", "allow", "svc.>"));
    if (claim_cert)
        itest_store_put(s, AUTH_NS_CERTS, SVC_SUBJECT, json_pack("{s:s}", "user", "svc"));
    store_close(s);
}

static struct tls_ctx *client_ctx(const char *cert, const char *key)
{
    struct tls_config cfg = {.role = TLS_CLIENT, .ca_file = cert_path("ca.pem"), .cert_file = cert, .key_file = key};
    struct tls_ctx *x;
    char err[256];

    if (tls_ctx_new(&cfg, &x, err, sizeof(err)) != 0)
        BAIL_OUT("client context: %s", err);
    return x;
}

static void start(struct broker_proc *b, char *dir, size_t len, bool claim_cert)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, len, "%s/trpc-auth-tls-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        BAIL_OUT("mkdtemp");
    seed(dir, claim_cert);
    {
        const char *args[] = {"--auth",
                              "--data-dir",
                              dir,
                              "--tls-listen",
                              "127.0.0.1:0",
                              "--tls-cert",
                              cert_path("server.pem"),
                              "--tls-key",
                              cert_path("server.key"),
                              "--tls-ca",
                              cert_path("ca.pem"),
                              "--tls-client-cert",
                              "optional",
                              NULL};

        itest_start(b, args);
    }
}

static void stop(struct broker_proc *b, const char *dir)
{
    itest_stop(b);
    itest_rm_dir(dir);
}

int main(void)
{
    struct tls_ctx *with, *without;
    struct broker_proc b = {0};
    struct wire_frame f;
    char dir[256], why[256];
    struct tc c;

    plan(11);
    certs_make();
    with = client_ctx(cert_path("client.pem"), cert_path("client.key"));
    without = client_ctx(NULL, NULL);
    start(&b, dir, sizeof(dir), true);

    f = tc_open_tls(&c, b.tls_port, with, "localhost", why) == 0 ? itest_login_on(&c, NULL, NULL, NULL) : (struct wire_frame){0};
    ok(f.type == WIRE_CONNACK, "a client certificate whose subject is svc's logs in as svc, no password %s", why);
    ok(pub_ok(&c, "svc.ping") && pub_denied(&c, "alice.x"), "with svc's permissions");
    tc_close(&c);
    ok(broker_proc_log_count(&b, "logged in as svc") == 1, "the log says who");

    ok(tc_open_tls(&c, b.tls_port, without, "localhost", why) == 0 && (f = itest_login_on(&c, NULL, NULL, NULL)).type == WIRE_ERR &&
           f.aux == TRPC_E_AUTH_FAILED,
       "no certificate, no password: AUTH_FAILED");
    tc_close(&c);
    f = tc_open_tls(&c, b.tls_port, without, "localhost", why) == 0 ? itest_login_on(&c, "alice", ALICE_PW, NULL)
                                                                    : (struct wire_frame){0};
    ok(f.type == WIRE_CONNACK, "a password over TLS logs in");
    ok(pub_ok(&c, "alice.x") && pub_denied(&c, "svc.ping"), "with alice's permissions");
    tc_close(&c);
    f = tc_open_tls(&c, b.tls_port, with, "localhost", why) == 0 ? itest_login_on(&c, "alice", ALICE_PW, NULL)
                                                                 : (struct wire_frame){0};
    ok(f.type == WIRE_CONNACK && pub_ok(&c, "alice.x") && pub_denied(&c, "svc.ping"),
       "a password goes before the certificate: the client says who it is");
    tc_close(&c);
    stop(&b, dir);

    /* A certificate nobody claims: verified by the CA, but no user. */
    start(&b, dir, sizeof(dir), false);
    ok(tc_open_tls(&c, b.tls_port, with, "localhost", why) == 0 && (f = itest_login_on(&c, NULL, NULL, NULL)).type == WIRE_ERR &&
           f.aux == TRPC_E_AUTH_FAILED,
       "a certificate no user has: AUTH_FAILED");
    tc_close(&c);
    ok(broker_proc_log_count(&b, "no user has this client certificate") == 1, "the log says why");
    stop(&b, dir);

    tls_ctx_free(with);
    tls_ctx_free(without);
    certs_remove();
    return done_testing();
}
