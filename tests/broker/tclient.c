/* The tests' blocking wire client (see tclient.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver/tls.h"
#include "tests/broker/tclient.h"

#define TC_BUF_MAX (WIRE_FRAME_MAX_CEILING + 4096u)

static const struct wire_limits tc_limits = {
    .max_frame = WIRE_FRAME_MAX_CEILING,
    .max_header_bytes = WIRE_FRAME_MAX_CEILING,
    .max_topic = WIRE_TOPIC_MAX_CEILING,
    .max_headers = 65535,
};

int tc_open(struct tc *c, const struct broker_proc *b)
{
    int fd = broker_proc_connect(b);

    if (fd < 0)
        return fd;
    return tc_adopt(c, fd);
}

int tc_connect_rcvbuf(struct tc *c, const struct broker_proc *b, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ret;

    if (fd < 0)
        return -errno;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        ret = -errno;
        close(fd);
        return ret;
    }
    ret = tc_adopt(c, fd);
    return ret != 0 ? ret : tc_hello(c, 0);
}

int tc_adopt(struct tc *c, int fd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->cap = 64 * 1024;
    c->buf = malloc(c->cap);
    if (c->buf == NULL) {
        close(c->fd);
        c->fd = -1;
        return -ENOMEM;
    }
    c->next_ping = 1u << 30;
    return 0;
}

int tc_connect(struct tc *c, const struct broker_proc *b, uint8_t flags)
{
    int ret = tc_open(c, b);

    return ret != 0 ? ret : tc_hello(c, flags);
}

int tc_hello(struct tc *c, uint8_t flags)
{
    return tc_hello_v(c, flags, 1);
}

int tc_hello_v(struct tc *c, uint8_t flags, uint16_t max_version)
{
    struct wire_header name = {.key = ":name", .key_len = 5, .val = (const uint8_t *)"tclient", .val_len = 7};
    struct wire_out o = {
        .type = WIRE_CONNECT, .flags = flags, .aux = wire_versions(1, max_version), .headers = &name, .header_count = 1};
    struct wire_frame f;
    struct wire_connack ca;
    int ret = tc_send(c, &o);

    if (ret == 0)
        ret = tc_recv(c, &f, TC_TIMEOUT_MS);
    if (ret == 0 && f.type != WIRE_CONNACK)
        ret = -EPROTO;
    if (ret == 0)
        ret = wire_connack_get(f.payload, f.payload_len, &ca);
    if (ret != 0) {
        tc_close(c);
        return ret < 0 ? ret : -EPROTO;
    }
    c->client_id = ca.client_id;
    c->core = (unsigned)(ca.client_id >> 48) - 1;
    return 0;
}

void tc_close(struct tc *c)
{
    tls_conn_free(c->tls);
    c->tls = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

static int send_plain(struct tc *c, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL); /* a closed peer is an error, not a signal */

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends what the TLS engine made, in sends of 7 bytes when pieces were asked for, so that records
 * straddle the broker's receive buffers. */
static int send_tls_out(struct tc *c)
{
    uint8_t out[16384];
    size_t n;
    int ret = 0;

    while (ret == 0 && (n = tls_conn_take(c->tls, out, sizeof(out))) > 0) {
        for (size_t at = 0; ret == 0 && at<n; at += c->tls_piece> 0 ? 7 : n)
            ret = send_plain(c, out + at, c->tls_piece > 0 && n - at > 7 ? 7 : n - at);
    }
    return ret;
}

int tc_send_raw(struct tc *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    if (c->tls == NULL)
        return send_plain(c, p, len);
    while (len > 0) {
        size_t piece = c->tls_piece > 0 && c->tls_piece < len ? c->tls_piece : len;
        int ret = tls_conn_write(c->tls, p, piece);

        if (ret == 0)
            ret = send_tls_out(c);
        if (ret != 0)
            return ret;
        p += piece;
        len -= piece;
    }
    return 0;
}

/* Reads what the socket has (waiting up to timeout_ms) into buf: bytes, -ETIMEDOUT, -ECONNRESET. */
static ssize_t read_some(struct tc *c, void *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    ssize_t n;
    int r;

    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -ETIMEDOUT;
    n = read(c->fd, buf, cap);
    if (n < 0)
        return errno == ECONNRESET ? -ECONNRESET : -errno;
    return n == 0 ? -ECONNRESET : n;
}

int tc_open_tls(struct tc *c, unsigned port, struct tls_ctx *x, const char *server_name, char *why)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ret;
    uint8_t in[16384];

    if (why != NULL)
        why[0] = '\0';
    if (fd < 0)
        return -errno;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        ret = -errno;
        close(fd);
        return ret;
    }
    ret = tc_adopt(c, fd);
    if (ret != 0)
        return ret;
    ret = tls_conn_new(x, server_name, &c->tls);
    while (ret == 0) {
        ssize_t n;

        ret = tls_conn_handshake(c->tls);
        if (send_tls_out(c) != 0 && ret >= 0)
            ret = -EPIPE;
        if (ret != 0)
            break;
        n = read_some(c, in, sizeof(in), TC_TIMEOUT_MS);
        if (n < 0) {
            ret = (int)n;
            break;
        }
        ret = tls_conn_feed(c->tls, in, (size_t)n);
    }
    if (ret == 1)
        return 0;
    if (ret == -EPROTO && why != NULL)
        snprintf(why, 256, "%s", tls_conn_error(c->tls));
    tc_close(c);
    return ret;
}

int tc_send(struct tc *c, const struct wire_out *o)
{
    ssize_t len = wire_encoded_len(o);
    uint8_t stack[4096], *buf = stack;
    int ret;

    if (len < 0)
        return (int)len;
    if ((size_t)len > sizeof(stack) && (buf = malloc((size_t)len)) == NULL)
        return -ENOMEM;
    len = wire_encode(buf, (size_t)len, o);
    ret = len < 0 ? (int)len : tc_send_raw(c, buf, (size_t)len);
    if (buf != stack)
        free(buf);
    return ret;
}

int tc_pub(struct tc *c, const char *topic, const void *payload, size_t len)
{
    struct wire_out o = {.type = WIRE_PUB, .topic = topic, .topic_len = strlen(topic), .payload = payload, .payload_len = len};

    return tc_send(c, &o);
}

int tc_sub(struct tc *c, uint64_t sid, const char *pattern, const char *group)
{
    struct wire_header g = {.key = ":group", .key_len = 6};
    struct wire_out o = {.type = WIRE_SUB, .id = sid, .topic = pattern, .topic_len = strlen(pattern)};

    if (group != NULL) {
        g.val = (const uint8_t *)group;
        g.val_len = (uint16_t)strlen(group);
        o.headers = &g;
        o.header_count = 1;
    }
    return tc_send(c, &o);
}

int tc_unsub(struct tc *c, uint64_t sid)
{
    struct wire_out o = {.type = WIRE_UNSUB, .id = sid};

    return tc_send(c, &o);
}

int tc_req(struct tc *c, uint64_t id, const char *topic, const void *payload, size_t len, uint32_t timeout_ms)
{
    struct wire_out o = {.type = WIRE_REQ,
                         .id = id,
                         .aux = timeout_ms,
                         .topic = topic,
                         .topic_len = strlen(topic),
                         .payload = payload,
                         .payload_len = len};

    return tc_send(c, &o);
}

int tc_rep(struct tc *c, uint64_t token, uint8_t flags, uint32_t aux, const void *payload, size_t len)
{
    struct wire_out o = {.type = WIRE_REP, .flags = flags, .aux = aux, .seq = token, .payload = payload, .payload_len = len};

    return tc_send(c, &o);
}

static int fill(struct tc *c, int timeout_ms)
{
    ssize_t n;

    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == c->cap) {
        size_t cap = c->cap * 2;
        uint8_t *nb;

        if (cap > TC_BUF_MAX || (nb = realloc(c->buf, cap)) == NULL)
            return -ENOMEM;
        c->buf = nb;
        c->cap = cap;
    }
    if (c->tls == NULL) {
        n = read_some(c, c->buf + c->len, c->cap - c->len, timeout_ms);
        if (n < 0)
            return (int)n;
        c->len += (size_t)n;
        return 0;
    }
    for (;;) {
        uint8_t in[16384];

        n = tls_conn_read(c->tls, c->buf + c->len, c->cap - c->len);
        if (n > 0) {
            c->len += (size_t)n;
            return 0;
        }
        if (n == -EPIPE)
            return -ECONNRESET; /* close_notify */
        if (n < 0)
            return -EPROTO;
        n = read_some(c, in, sizeof(in), timeout_ms);
        if (n < 0)
            return (int)n;
        if (tls_conn_feed(c->tls, in, (size_t)n) != 0)
            return -ENOMEM;
    }
}

int tc_recv(struct tc *c, struct wire_frame *f, int timeout_ms)
{
    for (;;) {
        ssize_t n = wire_decode(c->buf + c->off, c->len - c->off, &tc_limits, f);
        int ret;

        if (n > 0) {
            c->off += (size_t)n;
            return 0;
        }
        if (n < 0)
            return -EPROTO;
        ret = fill(c, timeout_ms);
        if (ret != 0)
            return ret;
    }
}

int tc_sync(struct tc *c, unsigned *skipped)
{
    uint64_t id = ++c->next_ping;
    struct wire_out o = {.type = WIRE_PING, .id = id};
    struct wire_frame f;
    int ret = tc_send(c, &o);

    if (skipped != NULL)
        *skipped = 0;
    while (ret == 0) {
        ret = tc_recv(c, &f, TC_TIMEOUT_MS);
        if (ret == 0 && f.type == WIRE_PONG && f.id == id)
            return 0;
        if (ret == 0 && skipped != NULL)
            (*skipped)++;
    }
    return ret;
}

bool tc_wait_eof(struct tc *c, int timeout_ms)
{
    struct wire_frame f;
    int ret;

    while ((ret = tc_recv(c, &f, timeout_ms)) == 0)
        ;
    return ret == -ECONNRESET;
}

int tc_raise_nofile(unsigned n)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -errno;
    if (rl.rlim_cur >= n)
        return 0;
    if (rl.rlim_max < n)
        return -EMFILE;
    rl.rlim_cur = n;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : -errno;
}
