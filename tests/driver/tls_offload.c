/*
 * trpc_options_set_tls_offload against a real broker, over TLS 1.3 and TLS 1.2. Where this kernel
 * has TLS (its tls module answers TCP_ULP), AUTO and KERNEL connections hand it their send keys,
 * and over TLS 1.2 their receive keys too (this process's sockets with TLS_TX or TLS_RX in are
 * counted), and USER ones do not; where it has none, as on most build machines, AUTO and USER
 * connect in user space and KERNEL fails at once with TRPC_E_TLS saying why ("the kernel has no
 * TLS"), in the external-loop mode too, while a trpc:// URL is not affected. Every mode that
 * connects carries a synchronous request (a direct send from this thread under kernel TLS), a
 * publish and a 1 MiB message intact, comes back after the broker kicks it, and ends with a
 * close_notify the broker logs at debug level. (tests/ktls/client.sh does the kernel's part in a
 * guest whose kernel has TLS.)
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"
#include "tests/tls/certs.h"

#define BIG (1u << 20)

/* Whether this kernel takes TLS: the tls module answers TCP_ULP on an established connection. */
static bool kernel_has_tls(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, p = -1;
    bool has = false;

    if (l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0 &&
        getsockname(l, (struct sockaddr *)&a, &alen) == 0 && (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
        connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 && (p = accept4(l, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        has = setsockopt(p, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0;
    if (p >= 0)
        close(p);
    if (c >= 0)
        close(c);
    if (l >= 0)
        close(l);
    return has;
}

/* How many of this process's sockets the kernel has the keys of, dir TLS_TX (it encrypts) or
 * TLS_RX (it decrypts): the clients', not the broker's, and not other tests' (/proc/net/tls_stat
 * counts every process). */
static int kernel_sockets(int dir)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        BAIL_OUT("/proc/self/fd: %s", strerror(errno));
    while ((e = readdir(d)) != NULL) {
        struct tls_crypto_info info; /* its size alone: the kernel wants a cipher's exact size, or this */
        socklen_t len = sizeof(info);

        if (e->d_name[0] != '.' && getsockopt(atoi(e->d_name), SOL_TLS, dir, &info, &len) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static trpc_options *offload_opts(trpc_tls_offload mode)
{
    trpc_options *o;

    if (trpc_options_create(&o) != 0)
        BAIL_OUT("options");
    trpc_options_set_reconnect(o, -1, 20, 100);
    trpc_options_set_connect_timeout(o, 5000);
    trpc_options_set_tls_ca(o, cert_path("ca.pem"));
    if (trpc_options_set_tls_offload(o, mode) != 0)
        BAIL_OUT("set_tls_offload: %s", trpc_last_error());
    return o;
}

/* A request from this thread and its echo, a publish to a subscriber, and a 1 MiB message: all
 * three clients were connected by the caller. */
static bool exchange(trpc_client *svc, trpc_client *cli, trpc_client *sub, const char *topic, const uint8_t *payload)
{
    struct big_box big = BIG_BOX_INIT;
    struct inbox in = INBOX_INIT;
    char big_topic[64];
    trpc_msg *reply = NULL;
    trpc_sub *s1, *s2, *s3;
    bool good, intact = false;

    snprintf(big_topic, sizeof(big_topic), "%s.big", topic);
    good = trpc_subscribe_group(svc, "offload.svc", "svc", echo_respond_cb, NULL, &s1) == 0 && trpc_flush(svc, 5000) == 0 &&
           trpc_subscribe(sub, topic, inbox_cb, &in, &s2) == 0 && trpc_subscribe(sub, big_topic, big_box_cb, &big, &s3) == 0 &&
           trpc_flush(sub, 5000) == 0;
    good = good && trpc_request(cli, "offload.svc", "hello", 5, 5000, &reply) == 0 && trpc_msg_len(reply) == 5 &&
           memcmp(trpc_msg_data(reply), "hello", 5) == 0;
    trpc_msg_free(reply);
    good = good && trpc_publish(cli, topic, "news", 4) == 0 && inbox_wait(&in, 1, 5000) == 1 && strcmp(in.data, "news") == 0;
    good = good && trpc_publish(cli, big_topic, payload, BIG) == 0 && big_box_wait(&big, 10000, &intact) == BIG && intact;
    trpc_unsubscribe(s1);
    trpc_unsubscribe(s2);
    trpc_unsubscribe(s3);
    trpc_flush(svc, 5000);
    trpc_flush(sub, 5000);
    return good;
}

static bool reconnected(void *arg)
{
    void **a = arg;
    trpc_client *c = a[0];
    uint64_t id = trpc_client_id(c);

    return trpc_client_state(c) == TRPC_STATE_CONNECTED && id != 0 && id != *(uint64_t *)a[1];
}

/* Kicked by the broker, c comes back on a new connection (a new TLS handshake, the socket given to
 * a new tls_conn) and works there. */
static bool kicked_and_back(trpc_client *admin, trpc_client *c)
{
    char doc[64], code[32];
    uint64_t id = trpc_client_id(c);
    void *args[2] = {c, &id};

    snprintf(doc, sizeof(doc), "{\"id\": %llu}", (unsigned long long)id);
    if (strcmp(adminc_code(admin, "clients.kick", doc, code, sizeof(code)), "ok") != 0) {
        diag("clients.kick: %s", code);
        return false;
    }
    return wait_for(reconnected, args, 10000);
}

struct log_count {
    const struct broker_proc *b;
    const char *needle;
    int want;
};

static bool log_reached(void *arg)
{
    struct log_count *l = arg;

    return broker_proc_log_count(l->b, l->needle) >= l->want;
}

/* Three clients of mode over TLS that must connect and work; the kernel must have taken the send
 * keys (tx) and the receive keys (rx) of all three or of none. */
static void works(struct broker_proc *b, const char *name, trpc_tls_offload mode, bool tx, bool rx, const uint8_t *payload)
{
    trpc_options *o = offload_opts(mode);
    trpc_client *svc = NULL, *cli = NULL, *sub = NULL;
    int want_tx = tx ? 3 : 0, want_rx = rx ? 3 : 0;
    struct log_count closes = {b, "TLS close_notify", broker_proc_log_count(b, "TLS close_notify") + 3};
    static int runs;
    char topic[64];
    int err;

    snprintf(topic, sizeof(topic), "offload.run%d", ++runs); /* a topic per run: names have spaces */
    err = trpc_connect(&svc, b->tls_url, o);
    if (err == 0)
        err = trpc_connect(&cli, b->tls_url, o);
    if (err == 0)
        err = trpc_connect(&sub, b->tls_url, o);
    ok(err == 0, "%s: three clients connect over %s (%s)", name, b->tls_url, err ? trpc_last_error() : "ok");
    if (err != 0)
        BAIL_OUT("no TLS clients");
    ok(kernel_sockets(TLS_TX) == want_tx && kernel_sockets(TLS_RX) == want_rx,
       "%s: the kernel encrypts for %d of them and decrypts for %d, want %d and %d", name, kernel_sockets(TLS_TX),
       kernel_sockets(TLS_RX), want_tx, want_rx);
    ok(exchange(svc, cli, sub, topic, payload), "%s: a request answered, a message and a 1 MiB one delivered intact", name);
    ok(kicked_and_back(svc, cli), "%s: kicked, the requester comes back on a new connection", name);
    ok(exchange(svc, cli, sub, topic, payload), "%s: and works there", name);
    ok(kernel_sockets(TLS_TX) == want_tx && kernel_sockets(TLS_RX) == want_rx,
       "%s: after the reconnect the kernel encrypts for %d and decrypts for %d, want %d and %d", name, kernel_sockets(TLS_TX),
       kernel_sockets(TLS_RX), want_tx, want_rx);
    trpc_close(svc);
    trpc_close(cli);
    trpc_close(sub);
    ok(wait_for(log_reached, &closes, 5000), "%s: each clean close ended with a close_notify the broker read (%d of %d)", name,
       broker_proc_log_count(b, "TLS close_notify"), closes.want);
    trpc_options_destroy(o);
}

/* A KERNEL connect where the kernel has no TLS: refused after the handshake, at once, saying why. */
static void refused(struct broker_proc *b, const char *name, bool external)
{
    trpc_options *o = offload_opts(TRPC_TLS_OFFLOAD_KERNEL);
    trpc_client *c = NULL;
    struct timespec t0, t1;
    const char *why;
    long ms;
    int err;

    trpc_options_set_reconnect(o, 0, 20, 100);
    trpc_options_set_external_loop(o, external);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    err = trpc_connect(&c, b->tls_url, o);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    why = trpc_last_error();
    ok_eq(err, -TRPC_E_TLS, "%s: TRPC_E_TLS (%s)", name, trpc_err_name(err));
    ok(strstr(why, "kernel TLS did not take the connection") != NULL && strstr(why, "the kernel has no TLS") != NULL &&
           strstr(why, "TLS with localhost:") != NULL,
       "%s: the error says why: %s", name, why);
    ok(ms < 2500, "%s: at once, not at the connect timeout (%ld ms)", name, ms);
    if (err == 0)
        trpc_close(c);
    trpc_options_destroy(o);
}

/* A broker whose TLS end is user space whatever its clients do, each close_notify it reads logged,
 * at most TLS max_version (NULL: 1.3). */
static void broker_tls(struct broker_proc *b, const char *max_version)
{
    const char *args[] = {"--tls-listen",
                          "127.0.0.1:0",
                          "--tls-cert",
                          cert_path("server.pem"),
                          "--tls-key",
                          cert_path("server.key"),
                          "--tls-offload",
                          "user",
                          "--log-level",
                          "debug",
                          "--max-frame",
                          "2m",
                          max_version != NULL ? "--tls-max-version" : NULL,
                          max_version,
                          NULL};

    broker_up(b, args);
}

int main(void)
{
    struct broker_proc b, b12;
    trpc_options *o;
    trpc_client *c;
    uint8_t *payload;
    bool has_tls = kernel_has_tls();
    int err;

    certs_make();
    diag("this kernel %s TLS", has_tls ? "has" : "has no");
    broker_tls(&b, NULL);
    broker_tls(&b12, "1.2");
    payload = pattern_new(BIG);

    /* OpenSSL 3.0 gives the kernel receive keys over TLS 1.2 only. */
    works(&b, "user", TRPC_TLS_OFFLOAD_USER, false, false, payload);
    works(&b, "auto", TRPC_TLS_OFFLOAD_AUTO, has_tls, false, payload);
    works(&b12, "TLS 1.2, user", TRPC_TLS_OFFLOAD_USER, false, false, payload);
    works(&b12, "TLS 1.2, auto", TRPC_TLS_OFFLOAD_AUTO, has_tls, has_tls, payload);
    if (has_tls) {
        works(&b, "kernel", TRPC_TLS_OFFLOAD_KERNEL, true, false, payload);
        works(&b12, "TLS 1.2, kernel", TRPC_TLS_OFFLOAD_KERNEL, true, true, payload);
    } else {
        refused(&b, "kernel", false);
        refused(&b, "kernel, external loop", true);
    }

    /* The setting is for trpcs:// only. */
    o = offload_opts(TRPC_TLS_OFFLOAD_KERNEL);
    err = trpc_connect(&c, b.url, o);
    ok(err == 0, "kernel: a trpc:// URL connects as ever (%s)", err ? trpc_last_error() : "ok");
    if (err == 0)
        trpc_close(c);
    trpc_options_destroy(o);

    ok(broker_proc_stop(&b) == 0, "the broker stops cleanly");
    ok(broker_proc_stop(&b12) == 0, "the TLS 1.2 broker stops cleanly");
    free(payload);
    certs_remove();
    return done_testing();
}
