/*
 * wire_peer: the broker's end of one client connection, for tests that must see the frames a
 * client sends (headers of a SUB, ACK/NACK of a durable delivery the broker cannot make yet). It
 * speaks the real codec (driver/wire.h) over a real TCP socket: a peer, not a stand-in for
 * libtrpc. Blocking calls, each bounded by a timeout; PINGs are answered while waiting.
 */
#ifndef TRPC_TESTS_GEN_WIRE_PEER_H
#define TRPC_TESTS_GEN_WIRE_PEER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver/wire.h"

struct wire_peer {
    int lfd;
    int fd;
    char url[64];
    struct wire_reader r;
    uint8_t buf[64 << 10];
};

static inline int wire_peer_listen(struct wire_peer *p)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    struct wire_limits lim;

    memset(p, 0, sizeof(*p));
    p->fd = -1;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->lfd < 0)
        return -errno;
    if (bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(p->lfd, 4) != 0 ||
        getsockname(p->lfd, (struct sockaddr *)&a, &len) != 0) {
        close(p->lfd);
        return -errno;
    }
    snprintf(p->url, sizeof(p->url), "trpc://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    wire_limits_default(&lim);
    wire_reader_init(&p->r, &lim);
    return 0;
}

static inline int wire_peer_send(struct wire_peer *p, const struct wire_out *o)
{
    uint8_t frame[4096];
    ssize_t n = wire_encode(frame, sizeof(frame), o);

    if (n < 0)
        return (int)n;
    return send(p->fd, frame, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -EIO;
}

/* The next frame within timeout_ms, whatever it is (nothing answered): 1, 0 on timeout or EOF, or
 * a negative code. *f is valid until the next call. */
static inline int wire_peer_read(struct wire_peer *p, int timeout_ms, struct wire_frame *f)
{
    for (;;) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        int rc = wire_reader_next(&p->r, f);
        ssize_t n;

        if (rc != 0)
            return rc;
        if (poll(&pfd, 1, timeout_ms) <= 0)
            return 0;
        n = recv(p->fd, p->buf, sizeof(p->buf), 0);
        if (n <= 0)
            return 0;
        wire_reader_feed(&p->r, p->buf, (size_t)n);
    }
}

/* The next frame of `type` within timeout_ms (PINGs answered, other frames skipped): 1, 0 on
 * timeout or EOF, or a negative code. *f is valid until the next call. */
static inline int wire_peer_next(struct wire_peer *p, uint8_t type, int timeout_ms, struct wire_frame *f)
{
    for (;;) {
        int rc = wire_peer_read(p, timeout_ms, f);

        if (rc != 1)
            return rc;
        if (f->type == WIRE_PING) {
            struct wire_out pong = {.type = WIRE_PONG, .id = f->id};

            (void)wire_peer_send(p, &pong);
        }
        if (f->type == type)
            return 1;
    }
}

/* Accepts a client and completes its handshake (CONNECT in, CONNACK with the default limits out). */
static inline int wire_peer_accept(struct wire_peer *p, int timeout_ms)
{
    struct pollfd pfd = {.fd = p->lfd, .events = POLLIN};
    struct wire_connack ca = {
        WIRE_DEFAULT_MAX_FRAME, WIRE_DEFAULT_MAX_HEADER_BYTES, WIRE_DEFAULT_MAX_TOPIC, WIRE_DEFAULT_MAX_HEADERS, 0, 42};
    uint8_t payload[WIRE_CONNACK_PAYLOAD_LEN];
    struct wire_out o = {.type = WIRE_CONNACK, .aux = WIRE_VERSION_MIN, .payload = payload, .payload_len = sizeof(payload)};
    struct wire_frame f;
    struct wire_limits lim;

    if (poll(&pfd, 1, timeout_ms) <= 0)
        return -ETIMEDOUT;
    if (p->fd >= 0)
        close(p->fd);
    p->fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (p->fd < 0)
        return -errno;
    wire_reader_free(&p->r);
    wire_limits_default(&lim);
    wire_reader_init(&p->r, &lim);
    if (wire_peer_next(p, WIRE_CONNECT, timeout_ms, &f) != 1)
        return -EPROTO;
    wire_connack_put(payload, &ca);
    return wire_peer_send(p, &o);
}

/* Drops the client's connection, as a broker crash would. */
static inline void wire_peer_drop(struct wire_peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static inline void wire_peer_close(struct wire_peer *p)
{
    wire_peer_drop(p);
    close(p->lfd);
    wire_reader_free(&p->r);
}

/* The value of header key in f as a NUL-terminated string in out ("" when absent: returns false). */
static inline bool wire_peer_header(const struct wire_frame *f, const char *key, char *out, size_t cap)
{
    struct wire_header h;

    out[0] = '\0';
    if (!wire_header_find(f, key, strlen(key), &h))
        return false;
    snprintf(out, cap, "%.*s", (int)h.val_len, (const char *)h.val);
    return true;
}

struct wire_peer_accept_arg {
    struct wire_peer *p;
    int rc;
};

static inline void *wire_peer_accept_thread(void *arg)
{
    struct wire_peer_accept_arg *a = arg;

    a->rc = wire_peer_accept(a->p, 10000);
    return NULL;
}

/* A thread's body (arg: the struct wire_peer): answers PINGs (trpc_close's flush) until the client
 * goes, skipping everything else. */
static inline void *wire_peer_pong_thread(void *arg)
{
    struct wire_frame f;

    while (wire_peer_next(arg, WIRE_CONNECT, 10000, &f) == 1)
        ;
    return NULL;
}

#endif
