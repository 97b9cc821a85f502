/*
 * Sessions: one per client connection, owned by the core that accepted it. Received bytes go
 * through a wire_reader (frames parsed in place, the receive buffer returned to the ring at
 * once, a straddling frame copied once into a reassembly buffer bounded by max_frame); each
 * frame is dispatched by type. Everything a session sends goes through session_write2(), which
 * enforces max_output_bytes: the session that would pass it is cut off as a slow consumer, with
 * an ERR that fits in the BROKER_OUT_RESERVE bytes kept free above the bound.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/admin.h"
#include "src/core.h"
#include "src/session.h"
#include "src/log.h"
#include "src/policy.h"
#include "src/stls.h"

#define CTRL_FRAME_MAX 512 /* control frames are encoded on the stack up to this size */

const uint8_t *frame_body(const struct wire_frame *f)
{
    if (f->topic != NULL)
        return (const uint8_t *)f->topic;
    if (f->headers != NULL)
        return f->headers - f->topic_len;
    if (f->payload != NULL)
        return f->payload - f->topic_len - f->hdr_len;
    return NULL;
}

/* Raw write that only the uring bound (max_output_bytes + reserve) limits. */
static int write_raw(struct session *s, const void *a, size_t alen, const void *b, size_t blen)
{
    int ret = uring_conn_write2(&s->conn, a, alen, b, blen);

    if (ret == 0)
        s->bytes_out += alen + blen;
    if (ret != 0 && ret != -EPIPE && ret != -ENOBUFS) {
        log_error(s->core->id, "client_id=%llu: cannot queue output: %s", (unsigned long long)s->client_id, strerror(-ret));
        uring_conn_close(&s->conn, URING_CLOSE_NOW);
    }
    return ret;
}

static int encode_and_write(struct session *s, const struct wire_out *o, bool bounded)
{
    uint8_t stack[CTRL_FRAME_MAX], *buf = stack;
    ssize_t len = wire_encoded_len(o);
    int ret;

    assert(len != 0);
    if (len < 0)
        return BROKER_ETRPC((int)-len); /* the codec's -TRPC_E_x, into the broker's space */
    if ((size_t)len > sizeof(stack)) {
        buf = malloc((size_t)len);
        if (buf == NULL)
            return -ENOMEM;
    }
    wire_encode_sized(buf, (size_t)len, o, (size_t)len);
    ret = bounded ? session_write2(s, buf, (size_t)len, NULL, 0) : write_raw(s, buf, (size_t)len, NULL, 0);
    if (buf != stack)
        free(buf);
    return ret;
}

void session_fail(struct session *s, uint64_t id, int code, const char *msg)
{
    struct core *c = s->core;
    struct wire_out o = {
        .type = WIRE_ERR,
        .flags = WIRE_F_FATAL,
        .aux = (uint32_t)code,
        .id = id,
        .payload = msg,
        .payload_len = msg != NULL ? strlen(msg) : 0,
    };

    assert(code > 0);
    if (s->state == SESS_CLOSING)
        return;
    /* Past the bound if need be: the reserve above max_output_bytes is kept for this frame. A TLS
     * session still in its handshake has no way to send it. */
    if (s->tls == NULL || s->tls_done)
        encode_and_write(s, &o, false);
    log_info(c->id, "closing client_id=%llu peer=%s: %s", (unsigned long long)s->client_id, s->peer, trpc_err_name(code));
    session_close(s);
}

void session_close(struct session *s)
{
    struct core *c = s->core;

    if (s->state == SESS_CLOSING)
        return;
    s->state = SESS_CLOSING;
    s->closing_ns = uring_now_ns();
    blist_del(&s->node);
    blist_add_tail(&c->closing, &s->node);
    uring_conn_close(&s->conn, URING_CLOSE_FLUSH);
}

int session_write2(struct session *s, const void *a, size_t alen, const void *b, size_t blen)
{
    struct core *c = s->core;

    if (s->state == SESS_CLOSING)
        return -EPIPE;
    if (uring_conn_out_queued(&s->conn) + alen + blen > c->cfg.max_output_bytes) {
        /* The code's own text says what happened (clients print it before ours): say how much. */
        char why[128];

        STAT_ADD(c->st, slow_consumers, 1);
        STAT_ADD(c->st, drops, 1);
        log_warn(c->id, "client_id=%llu peer=%s: slow consumer cut off with %zu bytes queued", (unsigned long long)s->client_id,
                 s->peer, uring_conn_out_queued(&s->conn));
        snprintf(why, sizeof(why), "%zu bytes queued, %zu more would pass max-output-bytes %" PRIu64,
                 uring_conn_out_queued(&s->conn), alen + blen, c->cfg.max_output_bytes);
        session_fail(s, 0, TRPC_E_SLOW_CONSUMER, why);
        return -ENOBUFS;
    }
    return write_raw(s, a, alen, b, blen);
}

int session_send(struct session *s, const struct wire_out *o)
{
    return encode_and_write(s, o, true);
}

void session_send_err(struct session *s, uint64_t id, int code, bool fatal, const char *msg)
{
    struct wire_out o = {
        .type = WIRE_ERR,
        .aux = (uint32_t)code,
        .id = id,
        .payload = msg,
        .payload_len = msg != NULL ? strlen(msg) : 0,
    };

    if (fatal) {
        session_fail(s, id, code, msg);
        return;
    }
    session_send(s, &o);
}

void session_send_pong(struct session *s, uint64_t id)
{
    struct wire_out o = {.type = WIRE_PONG, .id = id};

    session_send(s, &o);
}

static void copy_name(struct session *s, const struct wire_frame *f)
{
    struct wire_header h;

    if (wire_header_find(f, ":name", 5, &h))
        log_printable(s->name, sizeof(s->name), h.val, h.val_len);
}

void session_connack(struct session *s)
{
    const struct config *cfg = &s->core->cfg;
    uint8_t payload[WIRE_CONNACK_PAYLOAD_LEN];
    struct wire_connack ca = {
        .max_frame = cfg->limits.max_frame,
        .max_header_bytes = cfg->limits.max_header_bytes,
        .max_topic = cfg->limits.max_topic,
        .max_headers = cfg->limits.max_headers,
        .keepalive_ms = s->keepalive_ms,
        .client_id = s->client_id,
    };
    struct wire_header server = {
        .key = ":server",
        .key_len = 7,
        .val = (const uint8_t *)BROKER_NAME,
        .val_len = (uint16_t)strlen(BROKER_NAME),
    };
    struct wire_out o = {
        .type = WIRE_CONNACK,
        .aux = s->version,
        .headers = &server,
        .header_count = 1,
        .payload = payload,
        .payload_len = sizeof(payload),
    };

    s->state = SESS_OPEN;
    wire_connack_put(payload, &ca);
    session_send(s, &o);
    direct_gate_open(s);
    log_debug(s->core->id, "connected client_id=%llu name=%s version=%d", (unsigned long long)s->client_id,
              s->name[0] ? s->name : "-", s->version);
}

static void do_connect(struct session *s, const struct wire_frame *f)
{
    int version = wire_negotiate(f->aux, WIRE_VERSION_MIN, WIRE_VERSION_MAX);

    if (version < 0) { /* the codec's -TRPC_E_x: -version is the wire code */
        session_fail(s, f->id, -version, "no protocol version in common");
        return;
    }
    copy_name(s, f);
    s->no_echo = (f->flags & WIRE_F_NO_ECHO) != 0;
    s->version = (uint8_t)version;
    s->connect_id = f->id;
    if (!s->core->cfg.auth)
        session_connack(s);
    else if (session_auth_begin(s, f) != 0)
        session_fail(s, f->id, TRPC_E_UNAVAILABLE, "the broker is busy authenticating other clients: try again");
}

/*
 * SUB: the delivery policy headers are checked first (src/policy.h), so a refused SUB changes
 * nothing. With `:durable` it joins a consumer group (group.h), which enforces the policy; without,
 * a policy is accepted but not enforced: the log says so for trpc-durable, and the deliveries say
 * so too (no ACK_REQUIRED).
 */
static void do_sub(struct session *s, const struct wire_frame *f)
{
    char why[POLICY_WHY_MAX];
    struct policy p;
    int ret;

    ret = policy_parse(f, s->core->cfg.limits.max_topic, &p, why, sizeof(why));
    if (ret < 0) {
        session_send_err(s, f->id, broker_err_wire(ret), false, why);
        return;
    }
    if (s->perms != NULL && !session_auth_sub(s, f, &p))
        return;
    if (group_sub(s, f, &p))
        return; /* :durable: a consumer group's member */
    ret = route_sub(s, f);
    if (ret < 0) {
        session_send_err(s, f->id, broker_err_wire(ret), false, NULL);
        return;
    }
    if (p.durable)
        log_warn(s->core->id,
                 "client_id=%llu subscription %llu on %.*s: trpc-durable without :durable: plain deliveries (at most once)",
                 (unsigned long long)s->client_id, (unsigned long long)f->id, (int)f->topic_len, f->topic);
}

static void handle_frame(struct session *s, const struct wire_frame *f)
{
    int ret;

    if (s->state == SESS_NEW) {
        if (f->type != WIRE_CONNECT)
            session_fail(s, f->id, TRPC_E_NOT_CONNECTED, "the first frame must be CONNECT");
        else
            do_connect(s, f);
        return;
    }
    switch (f->type) {
    case WIRE_CONNECT:
        session_fail(s, f->id, TRPC_E_ALREADY_CONNECTED, "CONNECT sent twice");
        return;
    case WIRE_PING:
        route_hold_pong(s, f->id);
        return;
    case WIRE_PONG:
        return;
    case WIRE_PUB:
        if (admin_reserved(f->topic, f->topic_len)) {
            session_send_err(s, f->id, TRPC_E_PERMISSION_DENIED, false, "topics under " ADMIN_RESERVED " are the broker's");
            return;
        }
        if (s->perms != NULL && !session_auth_pub(s, f))
            return;
        route_pub(s, f);
        if (!stream_pub(s, f) && (f->flags & WIRE_F_ACK_REQ) && s->state == SESS_OPEN) {
            struct wire_out o = {.type = WIRE_PUBACK, .id = f->id};
            session_send(s, &o);
        }
        return;
    case WIRE_SUB:
        do_sub(s, f);
        return;
    case WIRE_UNSUB:
        if (group_unsub(s, f->id) == 0)
            return;
        ret = route_unsub(s, f->id);
        if (ret < 0)
            session_send_err(s, f->id, broker_err_wire(ret), false, NULL);
        return;
    case WIRE_REQ:
        if ((f->flags & WIRE_F_DURABLE) && s->version < 3) {
            session_fail(s, f->id, TRPC_E_BAD_FLAGS, "a durable REQ needs protocol version 3");
            return;
        }
        if (s->perms != NULL && !session_auth_req(s, f))
            return;
        request_req(s, f);
        return;
    case WIRE_REP:
        request_rep(s, f);
        return;
    case WIRE_PROGRESS:
    case WIRE_TERM:
        if (s->version < 2) {
            session_fail(s, f->id, TRPC_E_UNKNOWN_TYPE, "PROGRESS and TERM are frames of protocol version 2");
            return;
        }
        /* fall through */
    case WIRE_ACK:
    case WIRE_NACK:
        group_settle(s, f);
        return;
    case WIRE_ERR:
        log_debug(s->core->id, "client_id=%llu sent ERR %s", (unsigned long long)s->client_id, trpc_err_name((int)f->aux));
        return;
    default:
        session_fail(s, f->id, TRPC_E_UNEXPECTED_FRAME, "frame type not valid from a client");
        return;
    }
}

/*
 * The id of the frame the reader refused, when its fixed header lies in the buffer just fed: off
 * is where that frame starts in it. 0 when unknown (the frame began in an earlier buffer, or its
 * id has not arrived).
 */
static uint64_t refused_id(const uint8_t *data, size_t len, size_t off, bool straddling)
{
    uint64_t id = 0;

    if (straddling || off + 24 > len)
        return 0;
    for (int i = 7; i >= 0; i--)
        id = id << 8 | data[off + 16 + (size_t)i];
    return id;
}

/*
 * Parses the frames of the buffer the reader was fed (s->rx_*), from where it stands. held: bytes
 * of a frame that straddled into it from an earlier buffer. Stops early when a frame paused the
 * session: the reader keeps its place and the buffer stays held. Otherwise the buffer goes back
 * to the ring: a partial frame was copied into reassembly, and a closing session's reader is
 * never read again.
 */
static void parse_buffer(struct session *s, size_t held)
{
    struct core *c = s->core;
    struct wire_frame f;
    int n;

    assert(s->rx_parsing);
    while (s->state != SESS_CLOSING && !s->rx_paused) {
        n = wire_reader_next(&s->rd, &f);
        if (n == 0)
            break;
        if (n < 0) {
            STAT_ADD(c->st, protocol_errors, 1);
            session_fail(s, refused_id(s->rx_data, s->rx_len, s->rx_off, held > 0), -n, "malformed frame");
            break;
        }
        s->rx_off += f.length - held; /* the first frame may have begun in an earlier buffer */
        held = 0;
        STAT_ADD(c->st, msgs_in, 1);
        s->msgs_in++;
        handle_frame(s, &f);
    }
    if (s->rx_paused && s->state != SESS_CLOSING)
        return;
    s->rx_parsing = false;
    if (s->rx_bid != SESSION_BID_NONE)
        uring_buf_put(&c->loop, s->rx_bid);
}

static void feed(struct session *s, const uint8_t *data, size_t len, unsigned bid)
{
    size_t held = wire_reader_pending(&s->rd);

    assert(!s->rx_parsing);
    s->rx_parsing = true;
    s->rx_bid = bid;
    s->rx_data = data;
    s->rx_len = len;
    s->rx_off = 0;
    wire_reader_feed(&s->rd, data, len);
    parse_buffer(s, held);
}

/* Buffers that arrive while paused wait in arrival order; at most the few a cancelled recv still
 * delivers, bounded by the loop's buffer count. */
static int hold(struct session *s, const uint8_t *data, size_t len, unsigned bid)
{
    struct rx_held *h;

    if (s->rx_count == s->rx_cap && fifo_grow((void **)&s->rx_held, sizeof(*h), &s->rx_head, s->rx_count, &s->rx_cap, 4) != 0)
        return -ENOMEM;
    h = &s->rx_held[(s->rx_head + s->rx_count) % s->rx_cap];
    h->data = data;
    h->len = (uint32_t)len;
    h->bid = bid;
    s->rx_count++;
    return 0;
}

void session_rx_plain(struct session *s, const uint8_t *data, size_t len)
{
    feed(s, data, len, SESSION_BID_NONE);
}

/* A TLS ClientHello's record header (handshake, version 3.x) where a CONNECT was due: a CONNECT
 * has its type where the record has a length byte, and no CONNECT is 1 byte long. */
static bool looks_like_tls(const uint8_t *p, size_t len)
{
    return len >= 6 && p[0] == 22 && p[1] == 3 && p[2] <= 4 && p[4] != WIRE_CONNECT && p[5] == 1;
}

/* Received bytes are ciphertext for the TLS engine (not with kernel TLS receive). */
static bool rx_via_tls(const struct session *s)
{
    return s->tls != NULL && !s->tls_rx_kernel;
}

void session_on_recv(struct uring_conn *conn, void *data, size_t len, unsigned bid)
{
    struct session *s = conn->data;
    struct core *c = s->core;

    if (s->tls == NULL && s->bytes_in == 0 && s->state == SESS_NEW && looks_like_tls(data, len)) {
        /* Told in TRPC: the client's TLS stack reports bytes that are not TLS, which is the point. */
        uring_buf_put(&c->loop, bid);
        STAT_ADD(c->st, protocol_errors, 1);
        log_info(c->id, "client_id=%llu peer=%s: a TLS handshake on the plaintext listener", (unsigned long long)s->client_id,
                 s->peer);
        session_fail(s, 0, TRPC_E_PROTOCOL, "this port speaks plaintext TRPC: use trpc://, or trpcs:// on the TLS port");
        return;
    }

    STAT_ADD(c->st, bytes_in, len);
    s->bytes_in += len;
    if (s->state != SESS_CLOSING) {
        s->last_rx_ns = uring_now_ns();
        blist_del(&s->node);
        blist_add_tail(&c->lru, &s->node);
    }
    if (s->state == SESS_CLOSING) {
        uring_buf_put(&c->loop, bid);
        return;
    }
    if (rx_via_tls(s))
        stls_rx_catch_up(s); /* may switch to kernel TLS receive, or pause */
    if (s->rx_paused || s->rx_parsing) {
        /* A TLS session's too: ciphertext fed to the engine now would sit there unbounded, where
         * held buffers run the ring dry and the peer meets TCP's flow control. */
        if (hold(s, data, len, bid) != 0) {
            uring_buf_put(&c->loop, bid);
            log_error(c->id, "client_id=%llu: out of memory holding received bytes", (unsigned long long)s->client_id);
            session_fail(s, 0, TRPC_E_INTERNAL, "out of memory");
        }
        return;
    }
    if (rx_via_tls(s))
        stls_on_recv(s, data, len, bid);
    else
        feed(s, data, len, bid);
}

/*
 * Backpressure. A session stops being read while it cannot go on: today when it holds
 * BROKER_PONGS_MAX PONGs (route.c), since answering a PING early would break the promise its PONG
 * makes. The frame that paused it was handled; the rest of its buffer and any later ones wait, and
 * the socket is no longer read, so the peer meets TCP's flow control.
 */
void session_rx_pause(struct session *s)
{
    if (s->rx_paused || s->state == SESS_CLOSING)
        return;
    s->rx_paused = true;
    STAT_ADD(s->core->st, rx_pauses, 1);
    uring_conn_recv_pause(&s->conn);
}

void session_rx_resume(struct session *s)
{
    if (!s->rx_paused)
        return;
    s->rx_paused = false;
    if (s->rx_parsing)
        parse_buffer(s, 0);
    while (s->rx_count > 0 && !s->rx_paused && s->state != SESS_CLOSING) {
        struct rx_held h;

        if (rx_via_tls(s)) {
            stls_drain(s); /* what the engine decrypted before comes first */
            if (s->rx_paused || s->rx_parsing || s->state == SESS_CLOSING)
                break;
        }
        h = s->rx_held[s->rx_head];
        s->rx_head = (s->rx_head + 1) % s->rx_cap;
        s->rx_count--;
        if (rx_via_tls(s))
            stls_on_recv(s, h.data, h.len, h.bid);
        else
            feed(s, h.data, h.len, h.bid);
    }
    if (s->rx_count == 0) {
        free(s->rx_held);
        s->rx_held = NULL;
        s->rx_cap = 0;
        s->rx_head = 0;
    }
    if (rx_via_tls(s) && s->rx_count == 0)
        stls_drain(s); /* plaintext the engine decrypted before the pause */
    if (!s->rx_paused && s->state != SESS_CLOSING)
        uring_conn_recv_resume(&s->conn);
}

void session_rx_release(struct session *s)
{
    struct uring_loop *loop = &s->core->loop;

    if (s->rx_parsing && s->rx_bid != SESSION_BID_NONE)
        uring_buf_put(loop, s->rx_bid);
    s->rx_parsing = false;
    for (uint32_t i = 0; i < s->rx_count; i++)
        uring_buf_put(loop, s->rx_held[(s->rx_head + i) % s->rx_cap].bid);
    s->rx_count = 0;
    free(s->rx_held);
    s->rx_held = NULL;
    s->rx_cap = 0;
    if (!blist_empty(&s->rx_node))
        blist_del(&s->rx_node);
}
