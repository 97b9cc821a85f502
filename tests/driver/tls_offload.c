/*
 * trpc_options_set_tls_offload against a real broker. Where this kernel has TLS (its tls module
 * answers TCP_ULP), AUTO and KERNEL connections hand it their send keys (this process's sockets
 * with TLS_TX in are counted) and USER ones do not; where it has none, as on most build machines,
 * AUTO and USER connect in user space and KERNEL fails at once with TRPC_E_TLS saying why ("the
 * kernel has no TLS"), in the external-loop mode too, while a trpc:// URL is not affected. Every
 * mode that connects carries a synchronous request (a direct send from this thread under kernel
 * TLS), a publish and a 1 MiB message intact, comes back after the broker kicks it, and ends with
 * a close_notify the broker logs at debug level.
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

/* How many of this process's sockets the kernel encrypts for (their TLS_TX keys are in): the
 * clients', not the broker's, and not other tests' (/proc/net/tls_stat counts every process). */
static int kernel_tx_sockets(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        BAIL_OUT("/proc/self/fd: %s", strerror(errno));
    while ((e = readdir(d)) != NULL) {
        struct tls_crypto_info info; /* its size alone: the kernel wants a cipher's exact size, or this */
        socklen_t len = sizeof(info);

        if (e->d_name[0] != '.' && getsockopt(atoi(e->d_name), SOL_TLS, TLS_TX, &info, &len) == 0)
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

static void echo_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    if (trpc_msg_is_request(m))
        trpc_respond(m, trpc_msg_data(m), trpc_msg_len(m));
    trpc_msg_free(m);
}

struct big {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t len;
    bool intact;
};

static void big_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    struct big *b = ud;
    const uint8_t *p = trpc_msg_data(m);
    bool intact = true;

    (void)c;
    (void)sub;
    for (size_t i = 0; i < trpc_msg_len(m); i++)
        intact = intact && p[i] == (uint8_t)(i * 7 + 3);
    pthread_mutex_lock(&b->lock);
    b->len = trpc_msg_len(m);
    b->intact = intact;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    trpc_msg_free(m);
}

/* A request from this thread and its echo, a publish to a subscriber, and a 1 MiB message: all
 * three clients were connected by the caller. */
static bool exchange(trpc_client *svc, trpc_client *cli, trpc_client *sub, const char *topic, const uint8_t *payload)
{
    struct big big = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};
    struct inbox in = INBOX_INIT;
    char big_topic[64];
    trpc_msg *reply = NULL;
    trpc_sub *s1, *s2, *s3;
    struct timespec ts;
    bool good;

    snprintf(big_topic, sizeof(big_topic), "%s.big", topic);
    good = trpc_subscribe_group(svc, "offload.svc", "svc", echo_cb, NULL, &s1) == 0 && trpc_flush(svc, 5000) == 0 &&
           trpc_subscribe(sub, topic, inbox_cb, &in, &s2) == 0 && trpc_subscribe(sub, big_topic, big_cb, &big, &s3) == 0 &&
           trpc_flush(sub, 5000) == 0;
    good = good && trpc_request(cli, "offload.svc", "hello", 5, 5000, &reply) == 0 && trpc_msg_len(reply) == 5 &&
           memcmp(trpc_msg_data(reply), "hello", 5) == 0;
    trpc_msg_free(reply);
    good = good && trpc_publish(cli, topic, "news", 4) == 0 && inbox_wait(&in, 1, 5000) == 1 && strcmp(in.data, "news") == 0;
    good = good && trpc_publish(cli, big_topic, payload, BIG) == 0;
    deadline_in(&ts, 10000);
    pthread_mutex_lock(&big.lock);
    while (good && big.len == 0 && pthread_cond_timedwait(&big.cond, &big.lock, &ts) == 0)
        ;
    good = good && big.len == BIG && big.intact;
    pthread_mutex_unlock(&big.lock);
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
 * keys of all three or of none. */
static void works(struct broker_proc *b, const char *name, trpc_tls_offload mode, bool kernel, const uint8_t *payload)
{
    trpc_options *o = offload_opts(mode);
    trpc_client *svc = NULL, *cli = NULL, *sub = NULL;
    int want = kernel ? 3 : 0;
    struct log_count closes = {b, "TLS close_notify", broker_proc_log_count(b, "TLS close_notify") + 3};
    char topic[64];
    int err;

    snprintf(topic, sizeof(topic), "offload.%s", name);
    err = trpc_connect(&svc, b->tls_url, o);
    if (err == 0)
        err = trpc_connect(&cli, b->tls_url, o);
    if (err == 0)
        err = trpc_connect(&sub, b->tls_url, o);
    ok(err == 0, "%s: three clients connect over %s (%s)", name, b->tls_url, err ? trpc_last_error() : "ok");
    if (err != 0)
        BAIL_OUT("no TLS clients");
    ok(kernel_tx_sockets() == want, "%s: the kernel encrypts for %d of them, want %d", name, kernel_tx_sockets(), want);
    ok(exchange(svc, cli, sub, topic, payload), "%s: a request answered, a message and a 1 MiB one delivered intact", name);
    ok(kicked_and_back(svc, cli), "%s: kicked, the requester comes back on a new connection", name);
    ok(exchange(svc, cli, sub, topic, payload), "%s: and works there", name);
    ok(kernel_tx_sockets() == want, "%s: after the reconnect the kernel encrypts for %d, want %d", name, kernel_tx_sockets(), want);
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

int main(void)
{
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c;
    uint8_t *payload;
    bool has_tls = kernel_has_tls();
    int err;

    certs_make();
    diag("this kernel %s TLS", has_tls ? "has" : "has no");
    /* The broker's end the same in every case (user space), and each close_notify it reads logged. */
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
                              NULL};

        broker_up(&b, args);
    }
    payload = malloc(BIG);
    if (payload == NULL)
        BAIL_OUT("malloc");
    for (size_t i = 0; i < BIG; i++)
        payload[i] = (uint8_t)(i * 7 + 3);

    works(&b, "user", TRPC_TLS_OFFLOAD_USER, false, payload);
    works(&b, "auto", TRPC_TLS_OFFLOAD_AUTO, has_tls, payload);
    if (has_tls) {
        works(&b, "kernel", TRPC_TLS_OFFLOAD_KERNEL, true, payload);
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
    free(payload);
    certs_remove();
    return done_testing();
}
