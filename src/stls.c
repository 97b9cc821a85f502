/*
 * stls: TLS on the broker's connections, OpenSSL in user space over memory (src/stls.h).
 */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "driver/tls.h"
#include "src/core.h"
#include "src/log.h"
#include "src/session.h"
#include "src/stls.h"

/* The listener's context, swapped whole by a reload; a connection holds its own reference. */
struct stls_server {
    pthread_mutex_t lock;
    struct tls_ctx *ctx;
    _Atomic uint64_t gen; /* reloads that took: the HTTP thread follows them (stls_generation) */
};

void stls_tls_config(const struct config *cfg, struct tls_config *tc)
{
    static const enum tls_peer_cert peer[] = {
        [CONFIG_TLS_PEER_NONE] = TLS_PEER_NONE,
        [CONFIG_TLS_PEER_OPTIONAL] = TLS_PEER_OPTIONAL,
        [CONFIG_TLS_PEER_REQUIRED] = TLS_PEER_REQUIRED,
    };
    static const int version[] = {[CONFIG_TLS_1_2] = TLS1_2_VERSION, [CONFIG_TLS_1_3] = TLS1_3_VERSION};
    *tc = (struct tls_config){
        .role = TLS_SERVER,
        .cert_file = cfg->tls_cert,
        .key_file = cfg->tls_key[0] != '\0' ? cfg->tls_key : NULL,
        .ca_file = cfg->tls_ca[0] != '\0' ? cfg->tls_ca : NULL,
        .peer_cert = peer[cfg->tls_client_cert],
        .ciphers = cfg->tls_ciphers[0] != '\0' ? cfg->tls_ciphers : NULL,
        .ciphersuites = cfg->tls_ciphersuites[0] != '\0' ? cfg->tls_ciphersuites : NULL,
        .min_version = version[cfg->tls_min_version],
        .max_version = version[cfg->tls_max_version],
        .ktls = cfg->tls_offload != CONFIG_TLS_OFFLOAD_USER,
    };
}

static int make_ctx(const struct config *cfg, struct tls_ctx **out, char *err, size_t errlen)
{
    struct tls_config tc;

    stls_tls_config(cfg, &tc);
    return tls_ctx_new(&tc, out, err, errlen);
}

/*
 * Whether this kernel can take TLS keys at all: the tls module answers TCP_ULP on an established
 * TCP connection, so one is made on loopback. 0, or -errno with why in err.
 */
static int kernel_probe(char *err, size_t errlen)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, p = -1, ret = 0;

    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &alen) != 0 || (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        connect(c, (struct sockaddr *)&a, sizeof(a)) != 0 || (p = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        ret = -errno;
        snprintf(err, errlen, "tls-offload kernel: no loopback connection to try kernel TLS on: %s", strerror(errno));
    } else if (setsockopt(p, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) != 0) {
        ret = -errno;
        snprintf(err, errlen, "tls-offload kernel: this kernel has no TLS (%s%s); use tls-offload auto or user", strerror(errno),
                 errno == ENOENT ? ": module tls not loaded" : "");
    }
    if (p >= 0)
        close(p);
    if (c >= 0)
        close(c);
    if (l >= 0)
        close(l);
    return ret;
}

int stls_init(struct broker *b, char *err, size_t errlen)
{
    struct stls_server *srv;
    int ret;

    if (b->cfg.tls_listen_host[0] == '\0')
        return 0;
    if (b->cfg.tls_offload == CONFIG_TLS_OFFLOAD_KERNEL && (ret = kernel_probe(err, errlen)) != 0)
        return ret;
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        snprintf(err, errlen, "TLS: out of memory");
        return -ENOMEM;
    }
    ret = make_ctx(&b->cfg, &srv->ctx, err, errlen);
    if (ret != 0) {
        free(srv);
        return ret;
    }
    pthread_mutex_init(&srv->lock, NULL);
    b->tls = srv;
    return 0;
}

void stls_free(struct broker *b)
{
    if (b->tls == NULL)
        return;
    tls_ctx_free(b->tls->ctx);
    pthread_mutex_destroy(&b->tls->lock);
    free(b->tls);
    b->tls = NULL;
}

int stls_reload(struct broker *b, char *err, size_t errlen)
{
    struct tls_ctx *fresh, *old;
    int ret;

    if (b->tls == NULL) {
        snprintf(err, errlen, "no TLS listener (tls-listen is off)");
        return -ESRCH;
    }
    ret = make_ctx(&b->cfg, &fresh, err, errlen);
    if (ret != 0)
        return ret;
    pthread_mutex_lock(&b->tls->lock);
    old = b->tls->ctx;
    b->tls->ctx = fresh;
    pthread_mutex_unlock(&b->tls->lock);
    tls_ctx_free(old); /* connections made from it keep their reference */
    atomic_fetch_add_explicit(&b->tls->gen, 1, memory_order_release);
    return 0;
}

bool stls_enabled(const struct broker *b)
{
    return b->tls != NULL;
}

uint64_t stls_generation(const struct broker *b)
{
    return b->tls != NULL ? atomic_load_explicit(&b->tls->gen, memory_order_acquire) : 0;
}

/* Moves the ciphertext the engine made into the connection's raw output, without a copy in
 * between: 0 or -ENOMEM. */
static int take_out(struct session *s)
{
    while (tls_conn_pending(s->tls) > 0) {
        size_t room, n;
        void *p = uring_conn_raw_reserve(&s->conn, &room);

        if (p == NULL)
            return -ENOMEM;
        n = tls_conn_take(s->tls, p, room);
        uring_conn_raw_commit(&s->conn, n);
        if (n == 0)
            break;
    }
    return 0;
}

/* The sink of a user-space TLS connection once its handshake is done: records go straight into
 * the connection's raw output as OpenSSL makes them. A record goes whole or not at all; a failure
 * (out of memory, the connection closing now) fails the connection (filter_encode's error). */
static int sink_out(void *arg, const void *data, size_t len)
{
    struct session *s = arg;

    return uring_conn_write_raw(&s->conn, data, len);
}

/*
 * Once the engine failed (a bad record was read: its alert is queued already) the plaintext can
 * never go: it is dropped, so that the alert still leaves and the session closes as it began to.
 */
static int filter_encode(struct uring_conn *conn, const void *data, size_t len)
{
    struct session *s = conn->data;
    int ret = tls_conn_write(s->tls, data, len);

    if (ret == -EPROTO || ret == -EAGAIN) {
        if (s->state != SESS_CLOSING) {
            log_info(s->core->id, "client_id=%llu peer=%s: TLS: %s", (unsigned long long)s->client_id, s->peer,
                     ret == -EAGAIN ? "output before the handshake was done" : tls_conn_error(s->tls));
            session_close(s);
        }
        return 0;
    }
    if (ret != 0)
        return ret;
    return take_out(s);
}

static void filter_closing(struct uring_conn *conn)
{
    struct session *s = conn->data;

    if (!s->tls_done)
        return;
    tls_conn_close_notify(s->tls);
    take_out(s);
}

static void handshake_step(struct session *s);
static void handshake_failed(struct session *s, const char *what, const char *why);

/* Kernel TLS receive: the peer's close_notify, or another record that is not data, fails the
 * ring's recv with EIO; read here, it ends the session as the peer meant it. The peer's Finished
 * may be one too, when the receive keys went in before it came: it moves the handshake on. */
static int filter_recv_failed(struct uring_conn *conn, int err)
{
    struct session *s = conn->data;
    struct core *c = s->core;
    int ret;

    /* The kernel's own words for a record: not data (EIO), a bad one (EBADMSG), too long
     * (EMSGSIZE). Anything else is the connection's, as for plaintext. */
    if (!(tls_conn_ktls(s->tls) & TLS_KTLS_RX) || s->state == SESS_CLOSING || (err != -EIO && err != -EBADMSG && err != -EMSGSIZE))
        return err;
    ret = tls_conn_ktls_recv_failed(s->tls, err);
    if (ret == 0) {
        if (!s->tls_done) {
            handshake_step(s);
            stls_drain(s); /* what OpenSSL read ahead with the Finished */
        }
        return 0;
    }
    if (!s->tls_done) {
        handshake_failed(s, "", tls_conn_error(s->tls));
        return 0;
    }
    if (ret == -EPIPE) {
        log_debug(c->id, "client_id=%llu peer=%s: TLS close_notify", (unsigned long long)s->client_id, s->peer);
    } else {
        STAT_ADD(c->st, protocol_errors, 1);
        log_info(c->id, "client_id=%llu peer=%s: TLS: %s", (unsigned long long)s->client_id, s->peer, tls_conn_error(s->tls));
    }
    session_close(s);
    return 0;
}

static const struct uring_filter tls_filter = {
    .encode = filter_encode, .closing = filter_closing, .recv_failed = filter_recv_failed};

/* Kernel TLS: the ring sends plaintext and the kernel makes the records; only the close_notify,
 * a record of another type, is written by hand once everything else went. */
static void ktls_drained(struct uring_conn *conn)
{
    struct session *s = conn->data;

    tls_conn_close_notify(s->tls);
}

static const struct uring_filter ktls_filter = {.drained = ktls_drained, .recv_failed = filter_recv_failed};

static bool conn_idle(void *arg)
{
    struct session *s = arg;

    return uring_conn_out_idle(&s->conn);
}

int stls_session_start(struct session *s)
{
    struct core *c = s->core;
    struct stls_server *srv = c->b->tls;
    int ret;

    assert(srv != NULL);
    pthread_mutex_lock(&srv->lock);
    ret = tls_conn_new(srv->ctx, NULL, &s->tls);
    pthread_mutex_unlock(&srv->lock);
    if (ret != 0)
        return ret;
    if (c->cfg.tls_offload != CONFIG_TLS_OFFLOAD_USER && tls_conn_set_socket(s->tls, s->conn.fd, conn_idle, s))
        tls_conn_want_ktls_rx(s->tls);
    uring_conn_set_filter(&s->conn, &tls_filter);
    uring_conn_set_out_max(&s->conn, c->cfg.max_output_bytes + BROKER_OUT_RESERVE + stls_out_slack(c->cfg.max_output_bytes));
    s->hs_deadline_ns = uring_now_ns() + (uint64_t)c->cfg.tls_handshake_timeout_ms * 1000000;
    blist_add_tail(&c->stls.handshakes, &s->hs_node);
    return 0;
}

/*
 * A client that speaks plaintext TRPC to the TLS port is told so in its own protocol: its CONNECT
 * gets a fatal ERR it can show, rather than a TLS alert it cannot read.
 */
static void tell_plaintext_client(struct session *s)
{
    static const char why[] = "this port speaks TLS: connect with trpcs://";
    struct wire_out o = {
        .type = WIRE_ERR,
        .flags = WIRE_F_FATAL,
        .aux = TRPC_E_PROTOCOL,
        .payload = why,
        .payload_len = sizeof(why) - 1,
    };
    uint8_t buf[128];
    ssize_t n = wire_encode(buf, sizeof(buf), &o);

    if (n > 0)
        uring_conn_write_raw(&s->conn, buf, (size_t)n);
}

static void handshake_failed(struct session *s, const char *what, const char *why)
{
    struct core *c = s->core;

    STAT_ADD(c->st, tls_failures, 1);
    log_info(c->id, "client_id=%llu peer=%s: TLS handshake failed: %s%s", (unsigned long long)s->client_id, s->peer, what, why);
    blist_del(&s->hs_node);
    if (s->tls_fed && s->tls_first != 22 && s->tls_first != 21)
        tell_plaintext_client(s);
    else
        take_out(s); /* the alert that tells the client why */
    session_close(s);
}

static void handshake_step(struct session *s)
{
    struct core *c = s->core;
    int ret = tls_conn_handshake(s->tls);
    const char *subject, *why;
    bool kernel;

    if (ret < 0) {
        handshake_failed(s, "", tls_conn_error(s->tls));
        return;
    }
    if (take_out(s) != 0) {
        session_fail(s, 0, TRPC_E_INTERNAL, "out of memory");
        return;
    }
    if (ret == 0)
        return;
    kernel = (tls_conn_ktls(s->tls) & TLS_KTLS_TX) != 0;
    if (!kernel && c->cfg.tls_offload == CONFIG_TLS_OFFLOAD_KERNEL) {
        handshake_failed(s, "kernel TLS did not take the connection (tls-offload kernel): ", tls_conn_ktls_why(s->tls));
        return;
    }
    /* With the kernel receiving, the ring's buffers are parsed as they are, as in plaintext; but
     * records OpenSSL read ahead (a resumed TLS 1.2 session's client sends its first frames right
     * behind its Finished) are its to decrypt first: stls_drain switches once they are read. */
    s->tls_rx_kernel = (tls_conn_ktls(s->tls) & TLS_KTLS_RX) && tls_conn_ktls_rx_clean(s->tls);
    if (!s->tls_rx_kernel && (s->tls_plain = malloc(STLS_PLAIN_BYTES)) == NULL) {
        log_error(c->id, "client_id=%llu: out of memory after the TLS handshake", (unsigned long long)s->client_id);
        session_close(s);
        return;
    }
    s->tls_done = true;
    s->conn.recv_oneshot = false;
    blist_del(&s->hs_node);
    STAT_ADD(c->st, tls_handshakes, 1);
    if (kernel) {
        /* Nothing was written yet (the CONNECT is still to be read): the filter goes before the
         * first frame, and the gate may open at CONNECT like a plaintext connection's. */
        uring_conn_set_filter(&s->conn, &ktls_filter);
        STAT_ADD(c->st, tls_kernel, 1);
    } else {
        if (tls_conn_pending(s->tls) == 0) /* take_out above took it all */
            tls_conn_set_sink(s->tls, sink_out, s);
        STAT_ADD(c->st, tls_user, 1);
    }
    subject = tls_conn_peer_subject(s->tls);
    /* Why the kernel did not take it, where it was asked to. */
    why = kernel || c->cfg.tls_offload == CONFIG_TLS_OFFLOAD_USER ? "" : tls_conn_ktls_why(s->tls);
    log_info(c->id, "client_id=%llu peer=%s: %s %s, %s%s%s%s%s", (unsigned long long)s->client_id, s->peer,
             tls_conn_version(s->tls), tls_conn_cipher(s->tls),
             kernel ? (s->tls_rx_kernel ? "kernel TLS" : "kernel TLS (send; receive in user space)") : "user-space TLS",
             why[0] != '\0' ? ": " : "", why, subject[0] != '\0' ? ", client certificate " : "", subject);
}

void stls_drain(struct session *s)
{
    struct core *c = s->core;

    if (!s->tls_done || s->tls_rx_kernel)
        return;
    while (s->state != SESS_CLOSING && !s->rx_paused && !s->rx_parsing) {
        ssize_t n = tls_conn_read(s->tls, s->tls_plain, STLS_PLAIN_BYTES);

        if (n == 0)
            break;
        if (n == -EPIPE) {
            log_debug(c->id, "client_id=%llu peer=%s: TLS close_notify", (unsigned long long)s->client_id, s->peer);
            session_close(s);
            break;
        }
        if (n < 0) {
            STAT_ADD(c->st, protocol_errors, 1);
            log_info(c->id, "client_id=%llu peer=%s: TLS: %s", (unsigned long long)s->client_id, s->peer, tls_conn_error(s->tls));
            take_out(s);
            session_close(s);
            break;
        }
        session_rx_plain(s, s->tls_plain, (size_t)n);
    }
    /* All OpenSSL held is read: what the ring brings from now on, the kernel decrypted. */
    if ((tls_conn_ktls(s->tls) & TLS_KTLS_RX) && s->state != SESS_CLOSING && tls_conn_ktls_rx_clean(s->tls))
        s->tls_rx_kernel = true;
    /* Reading may have made records of its own: a key update's answer, or the warning alert
     * OpenSSL answers a renegotiation attempt with, which a peer that never reads can ask for
     * again and again. Those count against the output bound like anything else. */
    if (s->state == SESS_CLOSING)
        return;
    if (take_out(s) != 0) {
        session_fail(s, 0, TRPC_E_INTERNAL, "out of memory");
    } else if (uring_conn_out_queued(&s->conn) > c->cfg.max_output_bytes) {
        STAT_ADD(c->st, slow_consumers, 1);
        log_warn(c->id, "client_id=%llu peer=%s: TLS records the peer asked for and does not read passed max-output-bytes",
                 (unsigned long long)s->client_id, s->peer);
        session_close(s);
        uring_conn_close(&s->conn, URING_CLOSE_NOW);
    }
}

void stls_rx_catch_up(struct session *s)
{
    if (s->tls_done && !s->tls_rx_kernel && (tls_conn_ktls(s->tls) & TLS_KTLS_RX))
        stls_drain(s);
}

void stls_on_recv(struct session *s, const void *data, size_t len, unsigned bid)
{
    struct core *c = s->core;
    int ret;

    if (!s->tls_fed && len > 0) {
        s->tls_fed = true;
        s->tls_first = *(const uint8_t *)data;
    }
    /* Read where the ring put them; what is not read by the end is copied in before the buffer
     * goes back. */
    ret = tls_conn_lend(s->tls, data, len);
    if (ret != 0) {
        /* -EINVAL: plaintext the kernel decrypted, which session_on_recv parses itself. */
        uring_buf_put(&c->loop, bid);
        session_fail(s, 0, TRPC_E_INTERNAL, ret == -ENOMEM ? "out of memory" : "TLS: ciphertext fed after kernel TLS receive");
        return;
    }
    if (!s->tls_done)
        handshake_step(s);
    /* While paused, bytes wait in the engine, bounded by the few buffers a cancelled recv brings. */
    if (s->tls_done && s->state != SESS_CLOSING)
        stls_drain(s);
    ret = tls_conn_unlend(s->tls);
    uring_buf_put(&c->loop, bid);
    if (ret != 0 && s->state != SESS_CLOSING)
        session_fail(s, 0, TRPC_E_INTERNAL, "out of memory");
}

size_t stls_out_slack(uint64_t max_output_bytes)
{
    /* A record adds 22 bytes (TLS 1.3; 29 for TLS 1.2 GCM) to at most 16,368 of a chunk: under
     * 1/512. The rest: handshake flights and alerts. */
    return (size_t)(max_output_bytes / 512) + 16384;
}

/* Who makes the records: "user" (OpenSSL over memory), "kernel-tx" (the kernel sends, OpenSSL
 * reads), "kernel" (both ways). */
static const char *path_name(const struct tls_conn *t)
{
    static const char *const names[] = {"user", "kernel-tx", "kernel-rx", "kernel"};

    return names[tls_conn_ktls(t) & (TLS_KTLS_TX | TLS_KTLS_RX)];
}

void stls_describe(struct session *s, char *buf, size_t len)
{
    if (s->tls == NULL)
        snprintf(buf, len, "%s", "");
    else if (!s->tls_done)
        snprintf(buf, len, "%s", "handshake");
    else
        snprintf(buf, len, "%s %s", tls_conn_version(s->tls), path_name(s->tls));
}

int stls_peer_subject(struct session *s, char *buf, size_t len)
{
    /* A certificate the CA did not sign fails the handshake: one that is here was verified. */
    buf[0] = '\0';
    return s->tls != NULL && s->tls_done ? tls_conn_peer_name(s->tls, buf, len) : -ENOENT;
}

static int stls_core_init(struct core *c)
{
    blist_init(&c->stls.handshakes);
    return 0;
}

static void stls_session_gone(struct session *s)
{
    if (s->tls == NULL)
        return;
    if (s->tls_done && (tls_conn_ktls(s->tls) & TLS_KTLS_TX))
        STAT_SUB(s->core->st, tls_kernel, 1);
    else if (s->tls_done)
        STAT_SUB(s->core->st, tls_user, 1);
    blist_del(&s->hs_node);
    tls_conn_free(s->tls);
    s->tls = NULL;
    free(s->tls_plain);
    s->tls_plain = NULL;
    s->core->freed_bytes += STLS_PLAIN_BYTES + 2 * 17 * 1024; /* ours and OpenSSL's record buffers, roughly */
}

/* Handshakes share one timeout, so the list is in deadline order: the walk stops at the first
 * one not due. The sweep runs at least once a second. */
static void stls_sweep(struct core *c)
{
    uint64_t now = uring_now_ns();

    while (!blist_empty(&c->stls.handshakes)) {
        struct session *s = blist_entry(c->stls.handshakes.next, struct session, hs_node);

        if (s->hs_deadline_ns > now)
            break;
        blist_del(&s->hs_node);
        if (s->state == SESS_CLOSING)
            continue; /* closed some other way (shutdown, out of memory): the closing list has it */
        blist_init(&s->hs_node);
        STAT_ADD(c->st, tls_timeouts, 1);
        log_info(c->id, "client_id=%llu peer=%s: TLS handshake not done within %u ms: dropped", (unsigned long long)s->client_id,
                 s->peer, c->cfg.tls_handshake_timeout_ms);
        session_close(s);
        uring_conn_close(&s->conn, URING_CLOSE_NOW); /* whoever did not finish a handshake reads nothing */
    }
}

const struct core_module stls_module = {
    .name = "tls",
    .init = stls_core_init,
    .session_gone = stls_session_gone,
    .sweep = stls_sweep,
};
