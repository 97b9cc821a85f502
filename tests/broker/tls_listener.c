/*
 * The broker's TLS listener (src/stls.c), driven by the raw wire client over the TLS engine, with
 * certificates made by tests/tls/mkcerts.sh: a handshake and frames both ways over TLS 1.3 and
 * 1.2; frames sent as small records in 7-byte sends, so records straddle the broker's receive
 * buffers, up to a 1 MiB frame; plaintext on the TLS port and TLS on the plaintext port, each told
 * clearly; a handshake left unfinished is dropped; a connection over max-connections closed
 * before any handshake; client certificates required (none, the right one, one the broker's CA did
 * not sign), each refusal logged with its reason (no certificate, a self-signed one); a certificate reload on SIGHUP; the log names
 * each connection's TLS. (The admin API's view: tests/driver/tls_broker.)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/utsname.h>

#include <openssl/ssl.h>

#include "driver/tls.h"
#include "tests/broker/tclient.h"
#include "tests/tap.h"
#include "tests/tls/certs.h"

static struct tls_ctx *client_ctx(const char *ca, const char *cert, int max_version)
{
    struct tls_config cfg = {.role = TLS_CLIENT, .ca_file = ca, .max_version = max_version};
    struct tls_ctx *x;
    char err[256];

    if (cert != NULL) {
        char key[128];

        snprintf(key, sizeof(key), "%s", cert);
        strcpy(strrchr(key, '.'), ".key");
        cfg.cert_file = cert_path(cert);
        cfg.key_file = cert_path(key);
    }
    if (tls_ctx_new(&cfg, &x, err, sizeof(err)) != 0)
        BAIL_OUT("client context: %s", err);
    return x;
}

/* CONNECT over an open TLS tc, a SUB and a PUB of len bytes to itself, and the MSG back intact. */
static bool roundtrip(struct tc *c, size_t len)
{
    uint8_t *p = malloc(len);
    struct wire_frame f;
    bool good;

    if (p == NULL)
        return false;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 7 + 3);
    good = tc_hello(c, 0) == 0 && tc_sub(c, 1, "tls.echo", NULL) == 0 && tc_pub(c, "tls.echo", p, len) == 0 &&
           tc_recv(c, &f, TC_TIMEOUT_MS) == 0 && f.type == WIRE_MSG && f.payload_len == len && memcmp(f.payload, p, len) == 0;
    free(p);
    return good;
}

/* Copies file from into to (a certificate swapped in place). */
static void copy(const char *from, const char *to)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "cp %s %s", from, to);
    if (system(cmd) != 0)
        BAIL_OUT("%s failed", cmd);
}

int main(void)
{
    char why[256];
    struct broker_proc b, m, t;
    struct tls_ctx *x, *x12;
    struct wire_frame f;
    struct tc c;
    bool good;
    int ret, failed;

    plan(38);
    certs_make();
    copy(cert_path("server.pem"), cert_path("live.pem"));
    copy(cert_path("server.key"), cert_path("live.key"));
    {
        const char *args[] = {"--tls-listen",
                              "127.0.0.1:0",
                              "--tls-cert",
                              cert_path("live.pem"),
                              "--tls-key",
                              cert_path("live.key"),
                              "--tls-handshake-timeout",
                              "300ms",
                              "--cores",
                              "2",
                              "--max-frame",
                              "2m",
                              NULL};

        if (broker_proc_start(&b, args) != 0)
            BAIL_OUT("broker did not start");
    }
    ok(b.tls_port != 0 && b.tls_port != b.port, "the broker logs its TLS port (%u) beside the plaintext one (%u)", b.tls_port,
       b.port);

    x = client_ctx(cert_path("ca.pem"), NULL, 0);
    x12 = client_ctx(cert_path("ca.pem"), NULL, TLS1_2_VERSION);
    ret = tc_open_tls(&c, b.tls_port, x, "localhost", why);
    ok(ret == 0 && strcmp(tls_conn_version(c.tls), "TLSv1.3") == 0, "a TLS 1.3 handshake, the certificate checked for localhost %s",
       why);
    ok(roundtrip(&c, 100), "CONNECT, SUB, PUB and the MSG back over TLS");
    tc_close(&c);

    ok(tc_open_tls(&c, b.tls_port, x12, "127.0.0.1", why) == 0 && strcmp(tls_conn_version(c.tls), "TLSv1.2") == 0,
       "TLS 1.2, checked for 127.0.0.1 %s", why);
    ok(roundtrip(&c, 1 << 20), "a 1 MiB message both ways over TLS 1.2");
    tc_close(&c);

    ok(tc_open_tls(&c, b.tls_port, x, "localhost", why) == 0, "another TLS client");
    c.tls_piece = 1000;
    ok(roundtrip(&c, 1 << 20), "a 1 MiB frame sent as 1000-byte records in 7-byte sends: records straddle receive buffers");
    tc_close(&c);

    /* Plaintext on the TLS port, TLS on the plaintext port. */
    {
        struct broker_proc tb = b;

        tb.port = b.tls_port;
        ok(tc_open(&c, &tb) == 0 && tc_hello(&c, 0) == -EPROTO, "a plaintext CONNECT on the TLS port is refused");
    }
    ok(tc_open(&c, &(struct broker_proc){.port = b.tls_port}) == 0, "again, reading what comes back");
    {
        struct wire_header name = {.key = ":name", .key_len = 5, .val = (const uint8_t *)"x", .val_len = 1};
        struct wire_out o = {.type = WIRE_CONNECT, .aux = wire_versions(1, 1), .headers = &name, .header_count = 1};

        good = tc_send(&c, &o) == 0 && tc_recv(&c, &f, TC_TIMEOUT_MS) == 0 && f.type == WIRE_ERR && f.aux == TRPC_E_PROTOCOL &&
               f.payload_len > 0 && memmem(f.payload, f.payload_len, "speaks TLS", 10) != NULL;
    }
    ok(good, "it gets ERR PROTOCOL in plaintext: this port speaks TLS");
    ok(tc_wait_eof(&c, TC_TIMEOUT_MS), "and is closed");
    tc_close(&c);
    ret = tc_open_tls(&c, b.port, x, "localhost", why);
    ok(ret == -EPROTO && strstr(why, "not TLS: the server sent byte") != NULL, "TLS on the plaintext port fails clearly: %s", why);
    ok(broker_proc_log_count(&b, "a TLS handshake on the plaintext listener") == 1 &&
           broker_proc_log_count(&b, "TLS handshake failed: not TLS: the client sent byte") >= 1,
       "the broker logs both");

    /* A wrong name, then the certificate swapped and the broker told with SIGHUP. */
    failed = broker_proc_log_count(&b, "TLS handshake failed");
    copy(cert_path("wronghost.pem"), cert_path("live.pem"));
    copy(cert_path("wronghost.key"), cert_path("live.key"));
    kill(b.pid, SIGHUP);
    for (int i = 0; i < 100 && broker_proc_log_count(&b, "SIGHUP: TLS certificates reloaded") == 0; i++)
        usleep(20000);
    ret = tc_open_tls(&c, b.tls_port, x, "localhost", why);
    ok(ret == -EPROTO && strstr(why, "certificate") != NULL,
       "after a reload to a certificate for another host, the name check fails: %s", why);
    for (int i = 0; i < 100 && broker_proc_log_count(&b, "TLS handshake failed") == failed; i++)
        usleep(20000);
    ok(broker_proc_log_count(&b, "TLS handshake failed") == failed + 1, "the broker logs the failed handshake too");
    unlink(cert_path("live.key"));
    kill(b.pid, SIGHUP);
    for (int i = 0; i < 100 && broker_proc_log_count(&b, "SIGHUP: TLS certificates not reloaded") == 0; i++)
        usleep(20000);
    ok(broker_proc_log_count(&b, "SIGHUP: TLS certificates not reloaded, the old ones stay") == 1,
       "a reload that fails keeps the old");
    copy(cert_path("server.pem"), cert_path("live.pem"));
    copy(cert_path("server.key"), cert_path("live.key"));
    kill(b.pid, SIGHUP);
    for (int i = 0; i < 100 && broker_proc_log_count(&b, "SIGHUP: TLS certificates reloaded") < 2; i++)
        usleep(20000);
    ok(tc_open_tls(&c, b.tls_port, x, "localhost", why) == 0 && roundtrip(&c, 10), "reloaded again: the right name works %s", why);
    tc_close(&c);
    ok(broker_proc_stop(&b) == 0, "the broker stops cleanly");

    /* A client that never finishes its handshake; a connection over the limit. */
    {
        const char *args[] = {"--tls-listen",
                              "127.0.0.1:0",
                              "--tls-cert",
                              cert_path("server.pem"),
                              "--tls-key",
                              cert_path("server.key"),
                              "--tls-handshake-timeout",
                              "300ms",
                              "--max-connections",
                              "2",
                              NULL};
        struct tc d, e;

        if (broker_proc_start(&t, args) != 0)
            BAIL_OUT("broker did not start");
        ok(tc_open(&c, &(struct broker_proc){.port = t.tls_port}) == 0 && tc_wait_eof(&c, 5000),
           "a connection that sends nothing on the TLS port is dropped");
        tc_close(&c);
        ok(broker_proc_log_count(&t, "TLS handshake not done within 300 ms") == 1, "after tls-handshake-timeout, logged");
        ok(tc_open_tls(&d, t.tls_port, x, "localhost", why) == 0 && tc_hello(&d, 0) == 0 &&
               tc_open_tls(&e, t.tls_port, x, "localhost", why) == 0 && tc_hello(&e, 0) == 0,
           "two TLS clients, the limit");
        ret = tc_open_tls(&c, t.tls_port, x, "localhost", why);
        ok(ret != 0, "a third is closed before its handshake (%s)", ret == -EPROTO ? why : strerror(-ret));
        ok(broker_proc_log_count(&t, "TOO_MANY_CONNECTIONS (before TLS)") == 1, "and the log says why");
        tc_close(&d);
        tc_close(&e);
        ok(broker_proc_stop(&t) == 0, "that broker stops cleanly");
    }

    /* Client certificates required. */
    {
        const char *args[] = {"--tls-listen",
                              "127.0.0.1:0",
                              "--tls-cert",
                              cert_path("server.pem"),
                              "--tls-key",
                              cert_path("server.key"),
                              "--tls-ca",
                              cert_path("ca.pem"),
                              "--tls-client-cert",
                              "required",
                              NULL};

        if (broker_proc_start(&m, args) != 0)
            BAIL_OUT("mTLS broker did not start");
    }
    ret = tc_open_tls(&c, m.tls_port, x, "localhost", why);
    /* TLS 1.3: the client finishes first and hears of the refusal with its first read. */
    if (ret == 0)
        ret = tc_hello(&c, 0) == 0 ? 0 : -EPROTO;
    ok(ret != 0, "mTLS: a client without a certificate is refused");
    tc_close(&c);
    for (int i = 0; i < 100 && broker_proc_log_count(&m, "TLS handshake failed") == 0; i++)
        usleep(20000);
    ok(broker_proc_log_count(&m, "TLS handshake failed: peer did not return a certificate") == 1, "and the broker logs why");
    {
        struct tls_ctx *xc = client_ctx(cert_path("ca.pem"), "client.pem", 0);
        struct tls_ctx *xo = client_ctx(cert_path("ca.pem"), "self.pem", 0);

        ok(tc_open_tls(&c, m.tls_port, xc, "localhost", why) == 0 && roundtrip(&c, 1000), "with the client certificate it works %s",
           why);
        tc_close(&c);
        ok(broker_proc_log_count(&m, "client certificate CN=trpc-test-client") == 1, "the log names the client's subject");
        ret = tc_open_tls(&c, m.tls_port, xo, "localhost", why);
        if (ret == 0)
            ret = tc_hello(&c, 0) == 0 ? 0 : -EPROTO;
        ok(ret != 0, "a certificate the broker's CA did not sign is refused");
        for (int i = 0; i < 100 && broker_proc_log_count(&m, "TLS handshake failed") < 2; i++)
            usleep(20000);
        ok(broker_proc_log_count(&m, "TLS handshake failed: the client's certificate: self-signed certificate") == 1,
           "and the broker logs why");
        tc_close(&c);
        tls_ctx_free(xc);
        tls_ctx_free(xo);
    }
    ok(broker_proc_stop(&m) == 0, "the mTLS broker stops cleanly");

    /* Client certificates optional: none is fine, a bad one is not. */
    {
        const char *args[] = {"--tls-listen",
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
        struct tls_ctx *xs = client_ctx(cert_path("ca.pem"), "self.pem", 0);

        if (broker_proc_start(&m, args) != 0)
            BAIL_OUT("broker did not start");
        ok(tc_open_tls(&c, m.tls_port, x, "localhost", why) == 0 && roundtrip(&c, 10),
           "client certificates optional: a client without one is served %s", why);
        tc_close(&c);
        ret = tc_open_tls(&c, m.tls_port, xs, "localhost", why);
        if (ret == 0)
            ret = tc_hello(&c, 0) == 0 ? 0 : -EPROTO;
        ok(ret != 0, "one with a certificate the CA did not sign is refused");
        tc_close(&c);
        tls_ctx_free(xs);
        ok(broker_proc_stop(&m) == 0, "that broker stops cleanly");
    }

    /* Settings that cannot work stop the start with one line saying why. */
    {
        static const struct {
            const char *opt[4];
            const char *want;
        } cases[] = {
            {{"--tls-cert", "/nonexistent/server.pem", NULL, NULL},
             "certificate /nonexistent/server.pem: No such file or directory"},
            {{"--tls-key", "client.key", NULL, NULL}, "does not belong to certificate"},
            {{"--tls-ciphersuites", "NOPE", NULL, NULL}, "no TLS 1.3 suite OpenSSL knows"},
        };
        char out[4096], err[8192], data_dir[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const char *args[16] = {"--listen",   "127.0.0.1:0", "--http",       "off",
                                    "--data-dir", data_dir,      "--tls-listen", "127.0.0.1:0"};
            int n = 8, st;

            snprintf(data_dir, sizeof(data_dir), "%s/data%zu", certs_dir, i);
            if (strcmp(cases[i].opt[0], "--tls-cert") != 0) {
                args[n++] = "--tls-cert";
                args[n++] = cert_path("server.pem");
            }
            args[n++] = cases[i].opt[0];
            args[n++] = strcmp(cases[i].opt[1], "client.key") == 0 ? cert_path("client.key") : cases[i].opt[1];
            args[n] = NULL;
            err[0] = '\0';
            st = broker_proc_run(args, out, sizeof(out), err, sizeof(err));
            if (!ok(st == 1 && strstr(err, "cannot start") != NULL && strstr(err, cases[i].want) != NULL,
                    "%s %s: exit 1, saying %s", cases[i].opt[0], cases[i].opt[1], cases[i].want))
                diag("status %d, stderr: %s", st, err);
        }
    }

    /* tls-offload kernel where the kernel has no TLS: refused at start. Only where the tls module
     * is neither loaded nor on disk (modprobe could load it: then the broker would start). */
    {
        struct utsname u;
        char mod[256];

        uname(&u);
        snprintf(mod, sizeof(mod), "/lib/modules/%s/kernel/net/tls", u.release);
        if (access("/proc/net/tls_stat", F_OK) == 0 || access(mod, F_OK) == 0) {
            ok(1, "# SKIP tls-offload kernel's refusal: this kernel has TLS, or its module (tests/ktls/ runs kernel TLS)");
        } else {
            char out[4096], err[8192], data_dir[128];
            const char *args[] = {"--listen",      "127.0.0.1:0",  "--http",      "off",        "--data-dir",
                                  data_dir,        "--tls-listen", "127.0.0.1:0", "--tls-cert", cert_path("server.pem"),
                                  "--tls-offload", "kernel",       NULL};
            int st;

            snprintf(data_dir, sizeof(data_dir), "%s/data-kernel", certs_dir);
            err[0] = '\0';
            st = broker_proc_run(args, out, sizeof(out), err, sizeof(err));
            if (!ok(st == 1 && strstr(err, "this kernel has no TLS") != NULL && strstr(err, "tls-offload") != NULL,
                    "--tls-offload kernel on a kernel without TLS: exit 1, saying so"))
                diag("status %d, stderr: %s", st, err);
        }
    }

    tls_ctx_free(x);
    tls_ctx_free(x12);
    certs_remove();
    return done_testing();
}
