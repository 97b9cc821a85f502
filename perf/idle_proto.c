/*
 * idle_proto: the two protocols of the idle workload (see idle.h).
 *
 * TRPC: CONNECT, optionally SUB, then PING; the broker answers CONNACK and PONG (docs/protocol.md).
 * The broker holds a PONG until its SUB is visible on every core, so the PONG proves the
 * subscription is in place. Frames up to IDLE_RX_KEEP bytes are kept whole and decoded with the
 * project's codec; a larger frame can only be a MSG (counted, then skipped).
 *
 * NATS: the text protocol of nats-server: CONNECT {json}, optionally SUB, then PING; the server
 * sends INFO first and answers PONG (verbose off: no +OK). Lines are kept up to IDLE_RX_KEEP bytes;
 * only INFO lines are longer, and are skipped.
 */
#include "perf/idle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <trpc/errors.h>

#include "driver/wire.h"

/* ---- TRPC ------------------------------------------------------------------------------------ */

static ssize_t encode(uint8_t *buf, size_t cap, const struct wire_out *o)
{
    ssize_t n = wire_encode(buf, cap, o);
    return n < 0 ? -1 : n;
}

static ssize_t trpc_hello(uint8_t *buf, size_t cap, const char *topic)
{
    struct wire_out connect = {.type = WIRE_CONNECT, .aux = wire_versions(WIRE_VERSION_MIN, WIRE_VERSION_MAX)};
    struct wire_out sub = {.type = WIRE_SUB, .id = 1, .topic = topic, .topic_len = topic ? strlen(topic) : 0};
    struct wire_out ping = {.type = WIRE_PING, .id = 1};
    ssize_t a, b = 0, c;

    a = encode(buf, cap, &connect);
    if (a < 0)
        return -1;
    if (topic) {
        b = encode(buf + a, cap - (size_t)a, &sub);
        if (b < 0)
            return -1;
    }
    c = encode(buf + a + b, cap - (size_t)(a + b), &ping);
    return c < 0 ? -1 : a + b + c;
}

static ssize_t trpc_sub(uint8_t *buf, size_t cap, const char *topic, uint32_t sid)
{
    struct wire_out o = {.type = WIRE_SUB, .id = sid, .topic = topic, .topic_len = strlen(topic)};
    return encode(buf, cap, &o);
}

static ssize_t trpc_pub(uint8_t *buf, size_t cap, const char *topic, size_t size)
{
    struct wire_out o = {.type = WIRE_PUB, .id = 1, .topic = topic, .topic_len = strlen(topic)};
    size_t empty = WIRE_FIXED_LEN + o.topic_len;
    uint8_t *zeros;
    ssize_t n;

    if (size < empty || size > cap)
        return -1;
    o.payload_len = size - empty;
    zeros = calloc(1, o.payload_len + 1);
    if (zeros == NULL)
        return -1;
    o.payload = zeros;
    n = encode(buf, cap, &o);
    free(zeros);
    return n;
}

static ssize_t trpc_ping(uint8_t *buf, size_t cap)
{
    struct wire_out o = {.type = WIRE_PING, .id = 2};
    return encode(buf, cap, &o);
}

static ssize_t trpc_pong(uint8_t *buf, size_t cap)
{
    struct wire_out o = {.type = WIRE_PONG};
    return encode(buf, cap, &o);
}

/* A server may send anything the format allows. */
static const struct wire_limits *server_limits(void)
{
    static const struct wire_limits lim = {
        .max_frame = WIRE_FRAME_MAX_CEILING,
        .max_header_bytes = WIRE_FRAME_MAX_CEILING,
        .max_topic = WIRE_TOPIC_MAX_CEILING,
        .max_headers = 65535,
    };
    return &lim;
}

__attribute__((format(printf, 3, 4))) static void fail(struct idle_events *ev, int err, const char *fmt, ...)
{
    va_list ap;

    ev->err = err;
    va_start(ap, fmt);
    vsnprintf(ev->why, sizeof(ev->why), fmt, ap);
    va_end(ap);
}

static void trpc_frame(struct idle_rx *rx, const struct wire_frame *f, struct idle_events *ev)
{
    struct wire_connack ca;

    if (!rx->greeted && f->type != WIRE_CONNACK && f->type != WIRE_ERR) {
        fail(ev, -EPROTO, "%s before CONNACK", wire_type_name(f->type));
        return;
    }
    switch (f->type) {
    case WIRE_CONNACK:
        if (f->aux == 0 || wire_connack_get(f->payload, f->payload_len, &ca) != 0) {
            fail(ev, -EPROTO, "CONNACK without a version or limits");
            return;
        }
        rx->greeted = true;
        ev->keepalive_ms = ca.keepalive_ms;
        break;
    case WIRE_PONG:
        ev->pongs++;
        break;
    case WIRE_PING:
        ev->pings++;
        break;
    case WIRE_ERR:
        fail(ev, -(int)f->aux, "ERR %s: %.*s", trpc_err_name(-(int)f->aux), (int)f->payload_len,
             f->payload ? (const char *)f->payload : "");
        break;
    default:
        ev->others++;
        break;
    }
}

/* Bytes rx->buf must hold before it can be judged: a fixed header, then the whole frame. 0 with
 * ev->err set when the fixed header is malformed. */
static size_t trpc_want(const struct idle_rx *rx, struct idle_events *ev)
{
    ssize_t n;

    if (rx->len < WIRE_FIXED_LEN)
        return WIRE_FIXED_LEN;
    n = wire_check_fixed(rx->buf, server_limits());
    if (n < 0) {
        fail(ev, (int)n, "malformed frame from the server: %s", trpc_err_name((int)n));
        return 0;
    }
    return (size_t)n;
}

static void trpc_parse(struct idle_rx *rx, const uint8_t *in, size_t len, struct idle_events *ev)
{
    struct wire_frame f;

    while (len > 0 && ev->err == 0) {
        size_t n, want;

        if (rx->skip > 0) {
            n = len < rx->skip ? len : rx->skip;
            rx->skip -= (uint32_t)n;
            in += n;
            len -= n;
            continue;
        }
        want = trpc_want(rx, ev);
        if (want == 0)
            return;
        if (want > sizeof(rx->buf)) {
            if (rx->buf[4] != WIRE_MSG) {
                fail(ev, -EPROTO, "unexpected %s frame of %d bytes", wire_type_name(rx->buf[4]), (int)want);
                return;
            }
            ev->others++;
            rx->skip = (uint32_t)(want - rx->len);
            rx->len = 0;
            continue;
        }
        n = want - rx->len < len ? want - rx->len : len;
        memcpy(rx->buf + rx->len, in, n);
        rx->len = (uint16_t)(rx->len + n);
        in += n;
        len -= n;
        if (rx->len < WIRE_FIXED_LEN || rx->len < trpc_want(rx, ev))
            continue;
        if (ev->err == 0 && wire_decode(rx->buf, rx->len, server_limits(), &f) > 0)
            trpc_frame(rx, &f, ev);
        else if (ev->err == 0)
            fail(ev, -EPROTO, "malformed frame from the server");
        rx->len = 0;
    }
}

const struct idle_proto idle_trpc = {
    .system = "TRPC",
    .scheme = "trpc",
    .port_default = 4250,
    .hello = trpc_hello,
    .sub = trpc_sub,
    .pub = trpc_pub,
    .ping = trpc_ping,
    .pong = trpc_pong,
    .parse = trpc_parse,
};

/* ---- NATS ------------------------------------------------------------------------------------ */

static ssize_t put(uint8_t *buf, size_t cap, const char *text)
{
    size_t n = strlen(text);
    if (n > cap)
        return -1;
    memcpy(buf, text, n);
    return (ssize_t)n;
}

static ssize_t nats_hello(uint8_t *buf, size_t cap, const char *topic)
{
    int n;

    if (topic)
        n = snprintf((char *)buf, cap,
                     "CONNECT {\"verbose\":false,\"pedantic\":false,\"lang\":\"c\",\"version\":\"idle\",\"protocol\":1}\r\n"
                     "SUB %s 1\r\nPING\r\n",
                     topic);
    else
        n = snprintf((char *)buf, cap,
                     "CONNECT {\"verbose\":false,\"pedantic\":false,\"lang\":\"c\",\"version\":\"idle\",\"protocol\":1}\r\n"
                     "PING\r\n");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static ssize_t nats_sub(uint8_t *buf, size_t cap, const char *topic, uint32_t sid)
{
    int n = snprintf((char *)buf, cap, "SUB %s %u\r\n", topic, (unsigned)sid);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* PUB topic N CR LF, N bytes, CR LF: the digits of N depend on N, so try the widths in turn. */
static ssize_t nats_pub(uint8_t *buf, size_t cap, const char *topic, size_t size)
{
    for (size_t digits = 1; digits <= 10; digits++) {
        size_t frame = strlen("PUB  \r\n\r\n") + strlen(topic) + digits, payload;
        char line[300];
        int n;

        if (size < frame)
            return -1;
        payload = size - frame;
        n = snprintf(line, sizeof(line), "PUB %s %zu\r\n", topic, payload);
        if (n < 0 || (size_t)n >= sizeof(line))
            return -1;
        if ((size_t)n + payload + 2 != size)
            continue;
        if (size > cap)
            return -1;
        memcpy(buf, line, (size_t)n);
        memset(buf + n, 'x', payload);
        memcpy(buf + n + payload, "\r\n", 2);
        return (ssize_t)size;
    }
    return -1;
}

static ssize_t nats_ping(uint8_t *buf, size_t cap)
{
    return put(buf, cap, "PING\r\n");
}

static ssize_t nats_pong(uint8_t *buf, size_t cap)
{
    return put(buf, cap, "PONG\r\n");
}

static bool verb(const uint8_t *line, size_t len, const char *v)
{
    size_t n = strlen(v);
    return len >= n && memcmp(line, v, n) == 0 && (len == n || line[n] == ' ' || line[n] == '\t');
}

/* A whole line without its CR LF. MSG and HMSG end with the byte count of what follows. */
static void nats_line(struct idle_rx *rx, const uint8_t *line, size_t len, struct idle_events *ev)
{
    if (verb(line, len, "PING")) {
        ev->pings++;
    } else if (verb(line, len, "PONG")) {
        ev->pongs++;
    } else if (verb(line, len, "+OK") || verb(line, len, "INFO")) {
        /* nothing to do */
    } else if (verb(line, len, "-ERR")) {
        fail(ev, -EPROTO, "%.*s", (int)len, (const char *)line);
    } else if (verb(line, len, "MSG") || verb(line, len, "HMSG")) {
        size_t i = len;
        uint64_t bytes = 0, mult = 1;
        while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9' && mult <= 1000000000) {
            bytes += (uint64_t)(line[--i] - '0') * mult;
            mult *= 10;
        }
        ev->others++;
        rx->skip = (uint32_t)(bytes + 2); /* the payload and its CR LF */
    } else {
        fail(ev, -EPROTO, "unexpected line from the server: %.*s", (int)(len < 40 ? len : 40), (const char *)line);
    }
}

static void nats_parse(struct idle_rx *rx, const uint8_t *in, size_t len, struct idle_events *ev)
{
    while (len > 0 && ev->err == 0) {
        const uint8_t *nl;
        size_t n, room;

        if (rx->skip > 0) {
            n = len < rx->skip ? len : rx->skip;
            rx->skip -= (uint32_t)n;
            in += n;
            len -= n;
            continue;
        }
        nl = memchr(in, '\n', len);
        n = nl ? (size_t)(nl - in) + 1 : len;
        if (rx->skip_line) {
            rx->skip_line = nl == NULL;
            in += n;
            len -= n;
            continue;
        }
        room = sizeof(rx->buf) - rx->len;
        if (n > room) {
            /* Only INFO (the server's description of itself) may be this long. */
            memcpy(rx->buf + rx->len, in, room);
            if (!verb(rx->buf, sizeof(rx->buf), "INFO")) {
                fail(ev, -EPROTO, "line of more than %zu bytes from the server", sizeof(rx->buf));
                return;
            }
            rx->len = 0;
            rx->skip_line = true;
            in += room;
            len -= room;
            continue;
        }
        memcpy(rx->buf + rx->len, in, n);
        rx->len = (uint16_t)(rx->len + n);
        in += n;
        len -= n;
        if (nl) {
            size_t l = rx->len - 1;
            if (l > 0 && rx->buf[l - 1] == '\r')
                l--;
            rx->len = 0;
            nats_line(rx, rx->buf, l, ev);
        }
    }
}

const struct idle_proto idle_nats = {
    .system = "NATS",
    .scheme = "nats",
    .port_default = 4222,
    .hello = nats_hello,
    .sub = nats_sub,
    .pub = nats_pub,
    .ping = nats_ping,
    .pong = nats_pong,
    .parse = nats_parse,
};

const struct idle_proto *idle_proto_for(const char *url)
{
    if (strncmp(url, "trpc://", 7) == 0)
        return &idle_trpc;
    if (strncmp(url, "nats://", 7) == 0)
        return &idle_nats;
    return NULL;
}
