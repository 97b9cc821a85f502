/*
 * A whole session over trpcs://, no TRPC broker: the peer is a thread that speaks the real codec
 * (driver/wire.h) through the TLS engine (driver/tls.h) on a real socket, the broker's end of one
 * client connection at a time. It answers CONNECT, PING and REQ, echoes a PUB on echo.* to the
 * client's echo subscription as a MSG, counts the rest, and drops the connection on drop.now.
 * Checked: CONNECT and a 1 MiB frame each way go through TLS intact; many small frames; flush
 * (PING/PONG); a synchronous request from the caller's thread (a direct send would put plaintext
 * on the socket, which the peer would refuse as a bad record); a clean close sends close_notify;
 * a dropped connection comes back with a new TLS handshake and the subscription restored; mTLS;
 * the external-loop mode. Every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "driver/tls.h"
#include "driver/wire.h"
#include "tests/tap.h"
#include "tests/tls/certs.h"
#include <trpc/trpc.h>

#define BIG       (1u << 20) /* payload of the large frames */
#define MAX_FRAME (4u << 20) /* what the peer's CONNACK allows */
#define SMALL     2000       /* small publishes counted */

/* The peer: serves `conns` connections in turn, then ends. Results for the test in the atomics. */
struct peer {
    int lfd;
    unsigned port;
    struct tls_ctx *ctx;
    int conns;
    pthread_t th;
    atomic_bool stop;
    atomic_int accepted, handshakes, connects, pubs, close_notifies, failures;
    char name[64];     /* the last CONNECT's :name */
    char subject[256]; /* the last client certificate's subject */
    char fail[256];    /* the first failure */
    pthread_mutex_t lock;
};

/* One connection's end. */
struct pconn {
    struct peer *p;
    int fd;
    struct tls_conn *t;
    struct wire_reader r;
    uint64_t echo_sub;
    bool shook;
    uint8_t in[64 << 10], plain[64 << 10];
};

static void peer_failed(struct peer *p, const char *what, const char *detail)
{
    pthread_mutex_lock(&p->lock);
    if (atomic_fetch_add(&p->failures, 1) == 0)
        snprintf(p->fail, sizeof(p->fail), "%s%s", what, detail);
    pthread_mutex_unlock(&p->lock);
}

/* Sends the ciphertext waiting, all of it (blocking). */
static int pc_flush(struct pconn *c)
{
    uint8_t buf[16384];
    size_t n;

    while ((n = tls_conn_take(c->t, buf, sizeof(buf))) > 0)
        for (size_t off = 0; off < n;) {
            ssize_t w = send(c->fd, buf + off, n - off, MSG_NOSIGNAL);

            if (w <= 0)
                return -EIO;
            off += (size_t)w;
        }
    return 0;
}

static int pc_send(struct pconn *c, const struct wire_out *o)
{
    ssize_t len = wire_encoded_len(o);
    uint8_t *buf;
    int err;

    if (len < 0)
        return (int)len;
    buf = malloc((size_t)len);
    if (buf == NULL)
        return -ENOMEM;
    len = wire_encode(buf, (size_t)len, o);
    err = len < 0 ? (int)len : tls_conn_write(c->t, buf, (size_t)len);
    free(buf);
    return err != 0 ? err : pc_flush(c);
}

/* The next frame: 1; 0 at the end of the connection (EOF, or a close_notify: counted); -1 when it
 * failed or the peer is told to stop. */
static int pc_read(struct pconn *c, struct wire_frame *f)
{
    for (;;) {
        int rc = wire_reader_next(&c->r, f);
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        ssize_t n;

        if (rc != 0)
            return rc < 0 ? -1 : 1;
        n = tls_conn_read(c->t, c->plain, sizeof(c->plain));
        if (n > 0) {
            wire_reader_feed(&c->r, c->plain, (size_t)n);
            continue;
        }
        if (n == -EPIPE) {
            atomic_fetch_add(&c->p->close_notifies, 1);
            return 0;
        }
        if (n < 0) {
            peer_failed(c->p, "TLS: ", tls_conn_error(c->t));
            return -1;
        }
        if (pc_flush(c) != 0)
            return 0;
        do {
            if (atomic_load(&c->p->stop))
                return -1;
        } while (poll(&pfd, 1, 100) == 0);
        n = recv(c->fd, c->in, sizeof(c->in), 0);
        if (n <= 0)
            return 0;
        if (tls_conn_feed(c->t, c->in, (size_t)n) != 0)
            return -1;
        if (!c->shook && tls_conn_handshake(c->t) == 1) {
            c->shook = true;
            atomic_fetch_add(&c->p->handshakes, 1);
            pthread_mutex_lock(&c->p->lock);
            snprintf(c->p->subject, sizeof(c->p->subject), "%s", tls_conn_peer_subject(c->t));
            pthread_mutex_unlock(&c->p->lock);
        }
    }
}

/* Every payload here is a prefix of one pattern: true when d is intact. */
static bool pattern_ok(const uint8_t *d, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (d[i] != (uint8_t)(i * 31 + 7))
            return false;
    return true;
}

static void pc_serve(struct pconn *c)
{
    struct wire_connack ca = {MAX_FRAME, WIRE_DEFAULT_MAX_HEADER_BYTES, WIRE_DEFAULT_MAX_TOPIC, WIRE_DEFAULT_MAX_HEADERS, 0, 7};
    uint8_t payload[WIRE_CONNACK_PAYLOAD_LEN];
    struct wire_frame f;
    struct wire_header h;

    while (pc_read(c, &f) == 1) {
        struct wire_out o = {0};

        switch (f.type) {
        case WIRE_CONNECT:
            atomic_fetch_add(&c->p->connects, 1);
            pthread_mutex_lock(&c->p->lock);
            c->p->name[0] = '\0';
            if (wire_header_find(&f, ":name", 5, &h))
                snprintf(c->p->name, sizeof(c->p->name), "%.*s", (int)h.val_len, (const char *)h.val);
            pthread_mutex_unlock(&c->p->lock);
            wire_connack_put(payload, &ca);
            o.type = WIRE_CONNACK;
            o.aux = WIRE_VERSION_MIN;
            o.payload = payload;
            o.payload_len = sizeof(payload);
            break;
        case WIRE_PING:
            o.type = WIRE_PONG;
            o.id = f.id;
            break;
        case WIRE_SUB:
            if (f.topic_len >= 5 && memcmp(f.topic, "echo.", 5) == 0)
                c->echo_sub = f.id;
            continue;
        case WIRE_REQ:
            o.type = WIRE_REP;
            o.id = f.id;
            o.payload = f.payload;
            o.payload_len = f.payload_len;
            break;
        case WIRE_PUB:
            atomic_fetch_add(&c->p->pubs, 1);
            if (!pattern_ok(f.payload, f.payload_len))
                peer_failed(c->p, "a PUB's payload damaged", "");
            if (f.topic_len == 8 && memcmp(f.topic, "drop.now", 8) == 0)
                return; /* as a crash would: no close_notify */
            if (f.topic_len < 5 || memcmp(f.topic, "echo.", 5) != 0 || c->echo_sub == 0)
                continue;
            o.type = WIRE_MSG;
            o.id = c->echo_sub;
            o.topic = f.topic;
            o.topic_len = f.topic_len;
            o.payload = f.payload;
            o.payload_len = f.payload_len;
            break;
        default:
            continue;
        }
        if (pc_send(c, &o) != 0)
            return;
    }
}

static void *peer_run(void *arg)
{
    struct peer *p = arg;
    struct wire_limits lim = {MAX_FRAME, WIRE_DEFAULT_MAX_HEADER_BYTES, WIRE_DEFAULT_MAX_TOPIC, WIRE_DEFAULT_MAX_HEADERS};
    struct pconn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    for (int i = 0; i < p->conns && !atomic_load(&p->stop); i++) {
        struct pollfd pfd = {.fd = p->lfd, .events = POLLIN};
        int waited = 0;

        while (poll(&pfd, 1, 100) == 0 && !atomic_load(&p->stop) && (waited += 100) < 20000)
            ;
        if (atomic_load(&p->stop) || waited >= 20000)
            break;
        memset(c, 0, sizeof(*c));
        c->p = p;
        c->fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c->fd < 0)
            break;
        atomic_fetch_add(&p->accepted, 1);
        if (tls_conn_new(p->ctx, NULL, &c->t) != 0) {
            close(c->fd);
            break;
        }
        wire_reader_init(&c->r, &lim);
        pc_serve(c);
        wire_reader_free(&c->r);
        tls_conn_free(c->t);
        close(c->fd);
    }
    free(c);
    return NULL;
}

static void peer_start(struct peer *p, int conns, const char *cert, const char *key, const char *client_ca)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct tls_config cfg = {.role = TLS_SERVER, .cert_file = cert, .key_file = key, .ca_file = client_ca};
    socklen_t len = sizeof(a);
    char err[256];

    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->conns = conns;
    cfg.peer_cert = client_ca != NULL ? TLS_PEER_REQUIRED : TLS_PEER_NONE;
    if (tls_ctx_new(&cfg, &p->ctx, err, sizeof(err)) != 0)
        BAIL_OUT("peer context: %s", err);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(p->lfd, 4) != 0 ||
        getsockname(p->lfd, (struct sockaddr *)&a, &len) != 0)
        BAIL_OUT("listen: %s", strerror(errno));
    p->port = ntohs(a.sin_port);
    pthread_create(&p->th, NULL, peer_run, p);
}

static void peer_end(struct peer *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->th, NULL);
    close(p->lfd);
    tls_ctx_free(p->ctx);
    pthread_mutex_destroy(&p->lock);
}

/* What the echo subscription received. */
struct got {
    pthread_mutex_t lock;
    int count;
    size_t last_len;
    bool intact; /* every payload so far */
};

static void got_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    struct got *g = ud;
    bool good = pattern_ok(trpc_msg_data(m), trpc_msg_len(m));

    (void)c;
    (void)sub;
    pthread_mutex_lock(&g->lock);
    g->count++;
    g->last_len = trpc_msg_len(m);
    g->intact = g->intact && good;
    pthread_mutex_unlock(&g->lock);
    trpc_msg_free(m);
}

static int got_count(struct got *g)
{
    int n;

    pthread_mutex_lock(&g->lock);
    n = g->count;
    pthread_mutex_unlock(&g->lock);
    return n;
}

/* Waits up to timeout_ms for *n to reach want; client c (external loop) is driven meanwhile. */
static bool wait_atomic(atomic_int *n, int want, int timeout_ms, trpc_client *ext)
{
    for (int waited = 0; waited < timeout_ms; waited += 5) {
        if (atomic_load(n) >= want)
            return true;
        if (ext != NULL)
            trpc_client_process(ext);
        usleep(5000);
    }
    return atomic_load(n) >= want;
}

static bool wait_got(struct got *g, int want, int timeout_ms, trpc_client *ext)
{
    for (int waited = 0; waited < timeout_ms; waited += 5) {
        if (got_count(g) >= want)
            return true;
        if (ext != NULL)
            trpc_client_process(ext);
        usleep(5000);
    }
    return got_count(g) >= want;
}

static uint8_t *pattern(size_t len)
{
    uint8_t *d = malloc(len);

    if (d == NULL)
        BAIL_OUT("memory");
    for (size_t i = 0; i < len; i++)
        d[i] = (uint8_t)(i * 31 + 7);
    return d;
}

static trpc_options *opts(const char *name)
{
    trpc_options *o;

    trpc_options_create(&o);
    trpc_options_set_name(o, name);
    trpc_options_set_connect_timeout(o, 5000);
    trpc_options_set_reconnect(o, 0, 10, 100);
    trpc_options_set_tls_ca(o, cert_path("ca.pem"));
    return o;
}

static void session(void)
{
    struct got g = {PTHREAD_MUTEX_INITIALIZER, 0, 0, true};
    trpc_options *o = opts("tls-session");
    uint8_t *big = pattern(BIG);
    struct peer p;
    trpc_client *c = NULL;
    trpc_msg *reply = NULL;
    trpc_sub *sub;
    char url[64];
    int err;

    peer_start(&p, 1, cert_path("server.pem"), cert_path("server.key"), NULL);
    snprintf(url, sizeof(url), "trpcs://localhost:%u", p.port);
    err = trpc_connect(&c, url, o);
    ok_eq(err, 0, "connects over TLS (%s)", trpc_last_error());
    if (err != 0)
        BAIL_OUT("cannot go on");
    pthread_mutex_lock(&p.lock);
    ok(strcmp(p.name, "tls-session") == 0, "the peer read the CONNECT through TLS (name %s)", p.name);
    pthread_mutex_unlock(&p.lock);
    ok_eq(trpc_subscribe(c, "echo.>", got_cb, &g, &sub), 0, "subscribe");
    ok_eq(trpc_flush(c, 5000), 0, "flush: PING and PONG through TLS");
    ok_eq(trpc_publish(c, "echo.big", big, BIG), 0, "publish 1 MiB");
    ok(wait_got(&g, 1, 10000, NULL), "the 1 MiB message comes back");
    pthread_mutex_lock(&g.lock);
    ok(g.last_len == BIG && g.intact, "intact, both ways (%zu bytes)", g.last_len);
    pthread_mutex_unlock(&g.lock);
    for (int i = 0; i < SMALL; i++)
        if (trpc_publish(c, "count.small", big, (size_t)(i % 700)) != 0)
            BAIL_OUT("publish: %s", trpc_last_error());
    ok_eq(trpc_flush(c, 10000), 0, "flush after %d small publishes", SMALL);
    ok_eq(atomic_load(&p.pubs), SMALL + 1, "the peer got every publish");
    for (int i = 0; i < 20; i++) {
        err = trpc_request(c, "svc.echo", big, 100, 5000, &reply);
        if (err != 0 || trpc_msg_len(reply) != 100 || !pattern_ok(trpc_msg_data(reply), 100))
            break;
        trpc_msg_free(reply);
        reply = NULL;
    }
    ok_eq(err, 0, "synchronous requests from the caller's thread: each reply intact (%s)", trpc_last_error());
    trpc_msg_free(reply);
    trpc_close(c);
    ok(wait_atomic(&p.close_notifies, 1, 5000, NULL), "a clean close says close_notify");
    peer_end(&p);
    ok_eq(atomic_load(&p.failures), 0, "the peer saw no bad record (%s)", p.fail);
    trpc_options_destroy(o);
    free(big);
}

static void reconnect(void)
{
    struct got g = {PTHREAD_MUTEX_INITIALIZER, 0, 0, true};
    trpc_options *o = opts("tls-reconnect");
    uint8_t *small = pattern(64);
    struct peer p;
    trpc_client *c = NULL;
    trpc_sub *sub;
    char url[64];
    int err;

    trpc_options_set_reconnect(o, -1, 20, 100);
    peer_start(&p, 2, cert_path("server.pem"), cert_path("server.key"), NULL);
    snprintf(url, sizeof(url), "trpcs://localhost:%u", p.port);
    err = trpc_connect(&c, url, o);
    if (err != 0)
        BAIL_OUT("connect: %s", trpc_last_error());
    trpc_subscribe(c, "echo.>", got_cb, &g, &sub);
    trpc_publish(c, "drop.now", small, 64);
    ok(wait_atomic(&p.connects, 2, 10000, NULL), "dropped, the client comes back: a second TLS handshake and CONNECT");
    ok_eq(atomic_load(&p.handshakes), 2, "two TLS handshakes");
    for (int i = 0; i < 200 && trpc_client_state(c) != TRPC_STATE_CONNECTED; i++)
        usleep(10000);
    trpc_publish(c, "echo.after", small, 64);
    ok(wait_got(&g, 1, 10000, NULL), "the subscription is restored over the new TLS session");
    trpc_close(c);
    peer_end(&p);
    ok_eq(atomic_load(&p.failures), 0, "the peer saw no bad record (%s)", p.fail);
    trpc_options_destroy(o);
    free(small);
}

static void mtls_external(void)
{
    struct got g = {PTHREAD_MUTEX_INITIALIZER, 0, 0, true};
    trpc_options *o = opts("tls-external");
    uint8_t *big = pattern(BIG);
    struct peer p;
    trpc_client *c = NULL;
    trpc_sub *sub;
    char url[64];
    int err;

    trpc_options_set_external_loop(o, true);
    trpc_options_set_tls_cert(o, cert_path("client.pem"), cert_path("client.key"));
    peer_start(&p, 1, cert_path("server.pem"), cert_path("server.key"), cert_path("ca.pem"));
    snprintf(url, sizeof(url), "trpcs://127.0.0.1:%u", p.port);
    err = trpc_connect(&c, url, o);
    ok_eq(err, 0, "external loop, client certificate: connects (%s)", trpc_last_error());
    if (err != 0)
        BAIL_OUT("cannot go on");
    pthread_mutex_lock(&p.lock);
    ok(strstr(p.subject, "CN=trpc-test-client") != NULL, "the peer saw the client's certificate (%s)", p.subject);
    pthread_mutex_unlock(&p.lock);
    trpc_subscribe(c, "echo.>", got_cb, &g, &sub);
    trpc_publish(c, "echo.big", big, BIG);
    ok(wait_got(&g, 1, 10000, c), "1 MiB there and back, driven by trpc_client_process");
    pthread_mutex_lock(&g.lock);
    ok(g.last_len == BIG && g.intact, "intact (%zu bytes)", g.last_len);
    pthread_mutex_unlock(&g.lock);
    trpc_close(c);
    ok(wait_atomic(&p.close_notifies, 1, 5000, NULL), "close_notify in external-loop mode too");
    peer_end(&p);
    ok_eq(atomic_load(&p.failures), 0, "the peer saw no bad record (%s)", p.fail);
    trpc_options_destroy(o);
    free(big);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (system("openssl version >/dev/null 2>&1") != 0)
        skip_all("no openssl command");
    certs_make();
    session();
    reconnect();
    mtls_external();
    certs_remove();
    return done_testing();
}
