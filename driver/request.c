/*
 * request: request/reply from both ends, publishes that wait for their PUBACK, and acknowledgements.
 *
 * A request is a REQ frame plus an entry in the pending table (pending.c); the REQ goes out with
 * the next send, without any flush delay. The broker answers every REQ it accepted with exactly
 * one REP (reply, responder error, or its own NO_RESPONDERS/TIMEOUT/RESPONDER_LOST/SHUTTING_DOWN,
 * the last before the ERR that ends the session when the broker stops); a lost
 * connection fails the request with CONNECTION_LOST, and a local deadline a little after the
 * request's own backs the broker up if it vanishes without closing the socket.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/client.h"

/* Sends o (a REQ, or a PUB with ACK_REQ) under a new id with p in the pending table until its
 * answer, or its local deadline deadline_ms from now. On an error p was never in the table. */
static int pending_start(trpc_client *c, struct wire_out *o, const char *fn, const char *topic, const trpc_header *headers,
                         size_t header_count, const void *data, size_t len, int64_t deadline_ms, struct trpc__pending *p)
{
    struct trpc__hdrs hs;
    int err;

    err = trpc__out_prepare(o, &hs, fn, topic, headers, header_count, data, len);
    if (err)
        goto out_release;
    o->id = p->id = atomic_fetch_add(&c->id_next, 1);
    p->deadline_ms = trpc__now_ms() + deadline_ms;
    err = trpc__submit(c, o, hs.bytes, fn, p);
out_release:
    trpc__hdrs_release(&hs);
    return err;
}

static int request_start(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                         size_t len, int timeout_ms, uint8_t flags, struct trpc__pending *p)
{
    struct wire_out o = {.type = WIRE_REQ, .flags = flags};
    uint8_t version;

    if (c == NULL || timeout_ms < 0)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_request: NULL client or negative timeout");
    if (flags & WIRE_F_DURABLE) {
        pthread_mutex_lock(&c->lock);
        version = c->version;
        pthread_mutex_unlock(&c->lock);
        if (version < 3)
            return trpc__fail(-TRPC_E_UNSUPPORTED_VERSION,
                              "trpc_request_durable: the broker speaks protocol version %u, durable requests need 3", version);
    }
    o.aux = (uint32_t)timeout_ms;
    /* In 64 bits: INT_MAX plus the grace overflowed an int, into a deadline already past. Timeout
     * 0 is the broker's request-timeout, which the CONNACK does not tell: the local deadline must
     * not cut the longest a broker accepts short (src/config.c); a broker gone silent is found by
     * the keepalive long before. */
    return pending_start(c, &o, "trpc_request", topic, headers, header_count, data, len,
                         (int64_t)(timeout_ms ? timeout_ms : TRPC__DEFAULT_REQ_MS) + TRPC__LOCAL_GRACE_MS, p);
}

/* The broker never times a PUB out: the local deadline is the only one. */
static int publish_start(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                         size_t len, int timeout_ms, struct trpc__pending *p)
{
    struct wire_out o = {.type = WIRE_PUB, .flags = WIRE_F_ACK_REQ};

    if (c == NULL || timeout_ms < 0)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_publish_sync: NULL client or negative timeout");
    p->publish = true;
    return pending_start(c, &o, "trpc_publish_sync", topic, headers, header_count, data, len,
                         timeout_ms ? timeout_ms : TRPC__DEFAULT_PUBACK_MS, p);
}

/* Waits for a synchronous entry's outcome. */
static void pending_wait(trpc_client *c, struct trpc__pending *p)
{
    struct timespec ts;

    /* The I/O side expires the entry at its deadline; this wait is the last resort if it cannot. */
    trpc__deadline_ts(&ts, p->deadline_ms - trpc__now_ms() + 2000);
    pthread_mutex_lock(&c->pend_lock);
    while (!p->done) {
        if (pthread_cond_timedwait(&p->cond, &c->pend_lock, &ts) == ETIMEDOUT && !p->done && trpc__pend_remove(c, p)) {
            p->done = true;
            p->err = -TRPC_E_TIMEOUT;
        }
    }
    pthread_mutex_unlock(&c->pend_lock);
}

static int request_sync(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                        size_t len, int timeout_ms, uint8_t flags, trpc_msg **reply)
{
    struct trpc__pending p;
    int err;

    trpc__clear_error();
    if (c == NULL || reply == NULL)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_request: NULL argument");
    if (trpc__on_io_side(c))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_request would wait for its own I/O thread: use trpc_request_async");
    memset(&p, 0, sizeof(p));
    trpc__cond_init(&p.cond);
    trpc__api_enter(c);
    err = request_start(c, topic, headers, header_count, data, len, timeout_ms, flags, &p);
    if (err)
        goto out_leave;
    pending_wait(c, &p);
    err = p.err;
    if (err == 0 || err == -TRPC_E_RESPONDER_ERROR)
        *reply = p.reply;
    else
        trpc_msg_free(p.reply);
    if (err)
        trpc__fail(err, "request on '%s': %s%s%s", topic, trpc_strerror(err), p.why[0] ? ": " : "", p.why);
out_leave:
    trpc__api_leave(c);
    pthread_cond_destroy(&p.cond);
    return err;
}

int trpc_request_msg(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                     size_t len, int timeout_ms, trpc_msg **reply)
{
    return request_sync(c, topic, headers, header_count, data, len, timeout_ms, 0, reply);
}

int trpc_request_durable(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                         size_t len, int timeout_ms, trpc_msg **reply)
{
    return request_sync(c, topic, headers, header_count, data, len, timeout_ms, WIRE_F_DURABLE, reply);
}

int trpc_request(trpc_client *c, const char *topic, const void *data, size_t len, int timeout_ms, trpc_msg **reply)
{
    return trpc_request_msg(c, topic, NULL, 0, data, len, timeout_ms, reply);
}

static int request_async(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                         size_t len, int timeout_ms, uint8_t flags, trpc_reply_cb *cb, void *ud)
{
    struct trpc__pending *p;
    int err;

    trpc__clear_error();
    if (c == NULL || cb == NULL)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_request_async: NULL argument");
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return trpc__fail(-TRPC_E_NO_MEMORY, "trpc_request_async: out of memory");
    p->cb = cb;
    p->ud = ud;
    err = request_start(c, topic, headers, header_count, data, len, timeout_ms, flags, p);
    if (err)
        free(p);
    return err;
}

int trpc_request_async(trpc_client *c, const char *topic, const void *data, size_t len, int timeout_ms, trpc_reply_cb *cb, void *ud)
{
    return request_async(c, topic, NULL, 0, data, len, timeout_ms, 0, cb, ud);
}

int trpc_request_durable_async(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                               size_t len, int timeout_ms, trpc_reply_cb *cb, void *ud)
{
    return request_async(c, topic, headers, header_count, data, len, timeout_ms, WIRE_F_DURABLE, cb, ud);
}

int trpc_publish_sync(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                      size_t len, int timeout_ms, uint64_t *seq)
{
    struct trpc__pending p;
    int err;

    trpc__clear_error();
    if (c == NULL)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_publish_sync: NULL client");
    if (trpc__on_io_side(c))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_publish_sync would wait for its own I/O thread: use trpc_publish_async");
    memset(&p, 0, sizeof(p));
    trpc__cond_init(&p.cond);
    trpc__api_enter(c);
    err = publish_start(c, topic, headers, header_count, data, len, timeout_ms, &p);
    if (err == 0) {
        pending_wait(c, &p);
        err = p.err;
        if (err)
            trpc__fail(err, "publish on '%s': %s%s%s", topic, trpc_strerror(err), p.why[0] ? ": " : "", p.why);
        else if (seq != NULL)
            *seq = p.seq;
    }
    trpc__api_leave(c);
    pthread_cond_destroy(&p.cond);
    return err;
}

int trpc_publish_async(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                       size_t len, int timeout_ms, trpc_puback_cb *cb, void *ud)
{
    struct trpc__pending *p;
    int err;

    trpc__clear_error();
    if (c == NULL || cb == NULL)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_publish_async: NULL argument");
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return trpc__fail(-TRPC_E_NO_MEMORY, "trpc_publish_async: out of memory");
    p->pcb = cb;
    p->ud = ud;
    err = publish_start(c, topic, headers, header_count, data, len, timeout_ms, p);
    if (err)
        free(p);
    return err;
}

/* Queues a frame answering m (REP, ACK, NACK) on the connection m came from. */
/* Queues o[0, n) in order; *sent (may be NULL) says how many went before an error. */
static int answer_n(trpc_msg *m, const struct wire_out *o, int n, int *sent)
{
    trpc_client *c = m->c;
    bool wake = false;
    int err = 0, i;

    pthread_mutex_lock(&c->lock);
    if (c->state != TRPC_STATE_CONNECTED || c->conn_gen != m->conn_gen)
        err = trpc__fail(-TRPC_E_CONNECTION_LOST, "%s: the connection the message came on is gone", wire_type_name(o->type));
    for (i = 0; err == 0 && i < n; i++) {
        err = trpc__enqueue_direct_locked(c, &o[i], false, &wake);
        if (err != 0)
            break;
    }
    if (sent != NULL)
        *sent = i;
    pthread_mutex_unlock(&c->lock);
    if (wake)
        trpc__wake(c);
    return err;
}

static int answer(trpc_msg *m, const struct wire_out *o)
{
    return answer_n(m, o, 1, NULL);
}

/* A stored durable request is answered by its REP (the secret in id) and retired by an ACK after it,
 * queued together: redelivered, it would be answered again. A REP that went without its ACK (the
 * buffer filled between them) is an answer all the same: the message comes back after the group's
 * ack wait, and its second answer is refused (BAD_REPLY_TOKEN) while its ACK retires it. */
static int respond(trpc_msg *req, uint8_t flags, uint32_t code, const void *data, size_t len)
{
    struct wire_out o[2] = {{.type = WIRE_REP, .flags = flags, .aux = code, .payload = data, .payload_len = len}};
    uint64_t token, secret;
    int n = 1, sent, err;

    trpc__clear_error();
    if (!trpc_msg_is_request(req) || (data == NULL && len > 0))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_respond: not a request, or NULL data");
    if (atomic_exchange(&req->answered, true))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_respond: request already answered");
    o[0].seq = req->seq;
    if (!(req->flags & WIRE_F_REQUEST) && trpc__msg_reply_token(req, &token, &secret)) {
        o[0].seq = token;
        o[0].id = secret;
        o[1] = (struct wire_out){.type = WIRE_ACK, .id = req->sub_id, .seq = req->seq};
        n = 2;
    }
    err = answer_n(req, o, n, &sent);
    if (sent > 0) {
        trpc__clear_error();
        return 0; /* the answer went */
    }
    if (err == -TRPC_E_BUFFER_FULL)
        atomic_store(&req->answered, false); /* the caller may try again */
    return err;
}

int trpc_respond(trpc_msg *req, const void *data, size_t len)
{
    return respond(req, 0, 0, data, len);
}

int trpc_respond_error(trpc_msg *req, uint32_t code, const char *text)
{
    return respond(req, WIRE_F_APP_ERROR, code, text, text ? strlen(text) : 0);
}

static int acknowledge(trpc_msg *m, uint8_t type, uint32_t delay_ms, const char *reason)
{
    struct wire_out o = {.type = type, .aux = delay_ms};
    uint8_t version;

    trpc__clear_error();
    if (m == NULL || m->type != WIRE_MSG || !(m->flags & WIRE_F_ACK_REQUIRED) || m->sub_id == 0)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "%s: the message needs no acknowledgement", wire_type_name(type));
    if (type == WIRE_PROGRESS || type == WIRE_TERM) {
        pthread_mutex_lock(&m->c->lock);
        version = m->c->version;
        pthread_mutex_unlock(&m->c->lock);
        if (version < 2)
            return trpc__fail(-TRPC_E_UNSUPPORTED_VERSION, "%s: the broker speaks protocol version 1, which has no %s",
                              wire_type_name(type), wire_type_name(type));
    }
    o.id = m->sub_id;
    o.seq = m->seq;
    if (reason != NULL) {
        o.payload = reason;
        o.payload_len = strnlen(reason, WIRE_TERM_REASON_MAX);
    }
    return answer(m, &o);
}

int trpc_ack(trpc_msg *msg)
{
    return acknowledge(msg, WIRE_ACK, 0, NULL);
}

int trpc_nack(trpc_msg *msg, uint32_t delay_ms)
{
    return acknowledge(msg, WIRE_NACK, delay_ms, NULL);
}

int trpc_in_progress(trpc_msg *msg)
{
    return acknowledge(msg, WIRE_PROGRESS, 0, NULL);
}

int trpc_term(trpc_msg *msg, const char *reason)
{
    return acknowledge(msg, WIRE_TERM, 0, reason != NULL ? reason : "");
}
