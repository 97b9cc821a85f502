/*
 * libtrpc over TLS to a real broker (trpcs://, src/stls.c), with certificates made by
 * tests/tls/mkcerts.sh: pub/sub and request/reply over TLS 1.3 and TLS 1.2, a 1 MiB message,
 * plaintext and TLS clients of one broker talking to each other; client certificates required
 * (with one and without); an unknown CA and a name mismatch, each with its reason; 1,000 TLS
 * handshakes while established TLS clients keep exchanging requests, which go on during the storm
 * and all get answered.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "driver/tls.h"
#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"
#include "tests/tls/certs.h"

#define STORM 1000

static trpc_options *tls_opts(const char *ca, const char *cert, const char *key)
{
    trpc_options *o;

    if (trpc_options_create(&o) != 0)
        BAIL_OUT("options");
    trpc_options_set_reconnect(o, 0, 50, 50);
    trpc_options_set_connect_timeout(o, 5000);
    if (ca != NULL)
        trpc_options_set_tls_ca(o, ca);
    if (cert != NULL)
        trpc_options_set_tls_cert(o, cert, key);
    return o;
}

/* A responder on svc and a requester: one request and its echo, and a publish to a subscriber.
 * All three clients were connected by the caller, over whatever they use. */
static bool exchange(trpc_client *svc, trpc_client *cli, trpc_client *sub, const char *topic)
{
    struct inbox in = INBOX_INIT;
    trpc_msg *reply = NULL;
    trpc_sub *s1, *s2;
    bool good;

    good = trpc_subscribe_group(svc, "tls.svc", "svc", echo_respond_cb, NULL, &s1) == 0 && trpc_flush(svc, 5000) == 0 &&
           trpc_subscribe(sub, topic, inbox_cb, &in, &s2) == 0 && trpc_flush(sub, 5000) == 0;
    good = good && trpc_request(cli, "tls.svc", "hello", 5, 5000, &reply) == 0 && trpc_msg_len(reply) == 5 &&
           memcmp(trpc_msg_data(reply), "hello", 5) == 0;
    trpc_msg_free(reply);
    good = good && trpc_publish(cli, topic, "news", 4) == 0 && inbox_wait(&in, 1, 5000) == 1 && strcmp(in.data, "news") == 0;
    trpc_unsubscribe(s1);
    trpc_unsubscribe(s2);
    trpc_flush(svc, 5000);
    trpc_flush(sub, 5000);
    return good;
}

struct requester {
    trpc_client *c;
    atomic_int answered, failed;
    atomic_bool stop;
};

static void *request_loop(void *arg)
{
    struct requester *r = arg;

    while (!atomic_load(&r->stop)) {
        trpc_msg *reply = NULL;

        if (trpc_request(r->c, "tls.svc", "tick", 4, 10000, &reply) == 0)
            atomic_fetch_add(&r->answered, 1);
        else
            atomic_fetch_add(&r->failed, 1);
        trpc_msg_free(reply);
    }
    return NULL;
}

/* One TLS handshake to port with the engine over a blocking socket, then close: true when it
 * completed. */
static bool handshake_once(unsigned port, struct tls_ctx *x)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct tls_conn *t = NULL;
    uint8_t buf[16384];
    int ret = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || tls_conn_new(x, "localhost", &t) != 0)
        goto out;
    for (;;) {
        ssize_t n;
        size_t k;

        ret = tls_conn_handshake(t);
        while ((k = tls_conn_take(t, buf, sizeof(buf))) > 0)
            if (send(fd, buf, k, MSG_NOSIGNAL) != (ssize_t)k)
                ret = -1;
        if (ret != 0)
            break;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0 || tls_conn_feed(t, buf, (size_t)n) != 0) {
            ret = -1;
            break;
        }
    }
out:
    tls_conn_free(t);
    if (fd >= 0)
        close(fd);
    return ret == 1;
}

int main(void)
{
    char cmd[256];
    struct broker_proc b, b12, m;
    trpc_options *o, *bad;
    trpc_client *svc, *cli, *sub, *plain;
    struct big_box big = BIG_BOX_INIT;
    struct requester r = {0};
    trpc_sub *s;
    pthread_t th;
    uint8_t *payload;
    int err, done = 0, at_start, at_end;
    struct tls_ctx *x;

    plan(24);
    certs_make();
    {
        const char *args[] = {"--tls-listen",
                              "127.0.0.1:0",
                              "--tls-cert",
                              cert_path("server.pem"),
                              "--tls-key",
                              cert_path("server.key"),
                              "--cores",
                              "2",
                              "--max-frame",
                              "2m",
                              NULL};

        broker_up(&b, args);
    }
    o = tls_opts(cert_path("ca.pem"), NULL, NULL);

    /* TLS 1.3. */
    err = trpc_connect(&svc, b.tls_url, o);
    ok(err == 0, "trpc_connect over %s (%s)", b.tls_url, err ? trpc_last_error() : "ok");
    if (err != 0)
        BAIL_OUT("no TLS connection");
    if (trpc_connect(&cli, b.tls_url, o) != 0 || trpc_connect(&sub, b.tls_url, o) != 0)
        BAIL_OUT("TLS clients: %s", trpc_last_error());
    ok(exchange(svc, cli, sub, "tls.news"), "TLS 1.3: a request answered and a message delivered");
    ok(broker_proc_log_count(&b, "TLSv1.3") >= 3, "the broker logs TLSv1.3 for each");

    payload = pattern_new(1 << 20);
    ok(trpc_subscribe(sub, "tls.big", big_box_cb, &big, &s) == 0 && trpc_flush(sub, 5000) == 0, "a subscriber for 1 MiB messages");
    ok(trpc_publish(cli, "tls.big", payload, 1 << 20) == 0, "a 1 MiB publish over TLS");
    {
        bool intact = false;
        size_t len = big_box_wait(&big, 10000, &intact);

        ok(len == 1 << 20 && intact, "arrives whole and intact (%zu bytes)", len);
    }
    trpc_unsubscribe(s);

    /* A plaintext client of the same broker with TLS ones. */
    plain = connect_or_bail(&b, NULL);
    ok(exchange(svc, plain, sub, "tls.mixed"), "a plaintext requester and publisher, TLS responder and subscriber");
    ok(exchange(plain, cli, sub, "tls.mixed2"), "a plaintext responder, TLS requester");

    /* The admin API says which clients speak TLS. */
    {
        json_t *j = adminc_call(cli, "clients.list", "{}"), *cl;
        size_t i;
        int tls13 = 0, plaintext = 0;

        json_array_foreach(json_object_get(j, "clients"), i, cl)
        {
            json_t *t = json_object_get(cl, "tls");

            /* user here; kernel-tx where the kernel has TLS (tests/ktls/ checks that path). */
            tls13 += json_is_string(t) &&
                     (strcmp(json_string_value(t), "TLSv1.3 user") == 0 || strcmp(json_string_value(t), "TLSv1.3 kernel-tx") == 0);
            plaintext += json_is_null(t);
        }
        ok(tls13 == 3 && plaintext == 1,
           "clients.list: \"tls\": \"TLSv1.3 user\" (or kernel-tx) for the 3 TLS clients, null for the plaintext one");
        json_decref(j);
    }

    /* 1,000 handshakes while a TLS client keeps requesting from a TLS responder. */
    ok(trpc_subscribe_group(svc, "tls.svc", "svc", echo_respond_cb, NULL, &s) == 0 && trpc_flush(svc, 5000) == 0,
       "a responder for the storm");
    r.c = cli;
    if (pthread_create(&th, NULL, request_loop, &r) != 0)
        BAIL_OUT("thread");
    {
        struct tls_config cfg = {.role = TLS_CLIENT, .ca_file = cert_path("ca.pem")};
        char why[256];

        if (tls_ctx_new(&cfg, &x, why, sizeof(why)) != 0)
            BAIL_OUT("context: %s", why);
    }
    while (atomic_load(&r.answered) == 0 && atomic_load(&r.failed) == 0)
        usleep(1000);
    at_start = atomic_load(&r.answered);
    for (int i = 0; i < STORM; i++)
        done += handshake_once(b.tls_port, x);
    at_end = atomic_load(&r.answered);
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    ok(done == STORM, "%d TLS handshakes of %d completed", done, STORM);
    ok(at_end > at_start, "requests went on during the storm (%d answered during it)", at_end - at_start);
    ok(atomic_load(&r.failed) == 0, "and every one was answered (%d answered, %d failed)", atomic_load(&r.answered),
       atomic_load(&r.failed));
    trpc_unsubscribe(s);
    tls_ctx_free(x);

    trpc_close(plain);

    /* Errors a user sees. */
    bad = tls_opts(NULL, NULL, NULL);
    err = trpc_connect(&plain, b.tls_url, bad);
    ok(err == -TRPC_E_TLS && strstr(trpc_last_error(), "certificate") != NULL, "no CA for the test CA: %s", trpc_last_error());
    trpc_options_destroy(bad);
    bad = tls_opts(cert_path("ca.pem"), NULL, NULL);
    trpc_options_set_tls_server_name(bad, "elsewhere.example");
    err = trpc_connect(&plain, b.tls_url, bad);
    ok(err == -TRPC_E_TLS && strstr(trpc_last_error(), "mismatch") != NULL, "another name: %s", trpc_last_error());
    trpc_options_destroy(bad);
    trpc_close(svc);
    trpc_close(cli);
    trpc_close(sub);
    ok(broker_proc_stop(&b) == 0, "the broker stops cleanly");

    /* TLS 1.2 only, its certificate in files of its own for the reloads. */
    snprintf(cmd, sizeof(cmd), "cp %s %s && cp %s %s", cert_path("server.pem"), cert_path("live.pem"), cert_path("server.key"),
             cert_path("live.key"));
    if (system(cmd) != 0)
        BAIL_OUT("cp");
    {
        const char *args[] = {"--tls-listen",        "127.0.0.1:0", "--tls-cert",
                              cert_path("live.pem"), "--tls-key",   cert_path("live.key"),
                              "--tls-max-version",   "1.2",         NULL};

        broker_up(&b12, args);
    }
    if (trpc_connect(&svc, b12.tls_url, o) != 0 || trpc_connect(&cli, b12.tls_url, o) != 0 ||
        trpc_connect(&sub, b12.tls_url, o) != 0)
        BAIL_OUT("TLS 1.2 clients: %s", trpc_last_error());
    ok(exchange(svc, cli, sub, "tls12.news") && broker_proc_log_count(&b12, "TLSv1.2") >= 3,
       "TLS 1.2: a request answered and a message delivered");
    {
        char code[32];

        unlink(cert_path("live.key"));
        ok(strcmp(adminc_code(cli, "tls.reload", "{}", code, sizeof(code)), "INVALID_VALUE") == 0,
           "tls.reload with the key gone: INVALID_VALUE, the old certificate stays (%s)", code);
        snprintf(cmd, sizeof(cmd), "cp %s %s", cert_path("server.key"), cert_path("live.key"));
        if (system(cmd) != 0)
            BAIL_OUT("cp");
        ok(strcmp(adminc_code(cli, "tls.reload", "{}", code, sizeof(code)), "ok") == 0 &&
               broker_proc_log_count(&b12, "tls.reload: TLS certificates reloaded") == 1,
           "with it back: reloaded (%s)", code);
        if (trpc_connect(&plain, b12.tls_url, o) != 0)
            BAIL_OUT("after the reload: %s", trpc_last_error());
        ok(exchange(svc, plain, sub, "tls12.after"), "a client connected after the reload works");
        trpc_close(plain);
    }
    trpc_close(svc);
    trpc_close(cli);
    trpc_close(sub);
    broker_proc_stop(&b12);

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

        broker_up(&m, args);
    }
    err = trpc_connect(&plain, m.tls_url, o);
    ok(err == -TRPC_E_TLS, "mTLS: without a client certificate, refused (%s)", trpc_last_error());
    trpc_options_destroy(o);
    o = tls_opts(cert_path("ca.pem"), cert_path("client.pem"), cert_path("client.key"));
    if (trpc_connect(&svc, m.tls_url, o) != 0 || trpc_connect(&cli, m.tls_url, o) != 0 || trpc_connect(&sub, m.tls_url, o) != 0)
        BAIL_OUT("mTLS clients: %s", trpc_last_error());
    ok(exchange(svc, cli, sub, "mtls.news"), "with one: a request answered and a message delivered");
    ok(broker_proc_log_count(&m, "client certificate CN=trpc-test-client") >= 3, "the broker logs who connected");
    trpc_close(svc);
    trpc_close(cli);
    trpc_close(sub);
    ok(broker_proc_stop(&m) == 0, "the mTLS broker stops cleanly");

    trpc_options_destroy(o);
    free(payload);
    certs_remove();
    return done_testing();
}
