/*
 * trpc/stub.h: what the C stubs written by trpc-gen share (docs/contracts.md, "Generated C").
 *
 * Application code uses the first part: the verdict a server handler returns, the typed error a
 * call reports, and the codes the stubs themselves answer with. The trpc_stub__ functions after it
 * are the generated code's helpers, not an API: they may change with every trpc-gen release, which
 * is why the header ships with trpc-gen and the generated code is rebuilt with it.
 *
 * Conventions are libtrpc's (<trpc/trpc.h>): 0 or a negative -TRPC_E_* code, buffers copied
 * before a call returns, a message handed to a callback owned by the callee.
 */
#ifndef TRPC_STUB_H
#define TRPC_STUB_H

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>
#include <trpc/trpc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of an error text, its NUL included; longer texts are cut. */
#define TRPC_STUB_ERROR_TEXT_MAX 256

/* Application error codes the stubs send by themselves. Codes from 0xffffff00 up are theirs;
 * handlers use the others (0 is not an error and is sent as TRPC_STUB_CODE_INTERNAL). */
#define TRPC_STUB_CODE_BAD_REQUEST 0xffffff00u /* the request payload is not the rpc's message */
#define TRPC_STUB_CODE_INTERNAL    0xffffff01u /* the handler broke its contract, or out of memory */

/* What a server handler tells its stub. */
enum trpc_stub_verdict {
    TRPC_STUB_OK = 0,    /* rpc: send *resp as the reply */
    TRPC_STUB_ERROR = 1, /* rpc: send err's code and text; the caller gets -TRPC_E_RESPONDER_ERROR */
    TRPC_STUB_ACK = 2,   /* event: handled; a durable delivery is retired */
    TRPC_STUB_NACK = 3,  /* event: not handled; a durable delivery comes again after *nack_delay_ms */
    TRPC_STUB_TERM = 4   /* event: never to be handled; a durable delivery goes to the dead-letter topic now */
};

/* A responder's application error: what trpc_respond_error() sent, as the caller receives it. */
struct trpc_stub_error {
    uint32_t code;
    char text[TRPC_STUB_ERROR_TEXT_MAX]; /* NUL-terminated, cut to fit */
};

/* For handlers: fills err and returns TRPC_STUB_ERROR, so `return trpc_stub_fail(err, 404, "no
 * order %s", id);` answers the call with that error. */
__attribute__((format(printf, 3, 4))) static inline enum trpc_stub_verdict trpc_stub_fail(struct trpc_stub_error *err,
                                                                                          uint32_t code, const char *fmt, ...)
{
    va_list ap;

    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    return TRPC_STUB_ERROR;
}

/* ---- helpers of the generated code ----------------------------------------------------------- */

/* Packs m into a malloc'ed buffer (never NULL, also for an empty message). 0, -TRPC_E_INVALID_ARGUMENT
 * when m breaks protobuf-c's rules (protobuf_c_message_check: a count without its array, a NULL
 * required field), -TRPC_E_NO_MEMORY. */
static inline int trpc_stub__pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n, packed;
    uint8_t *buf;

    if (!protobuf_c_message_check(m))
        return -TRPC_E_INVALID_ARGUMENT;
    n = protobuf_c_message_get_packed_size(m);
    buf = (uint8_t *)malloc(n > 0 ? n : 1);
    if (buf == NULL)
        return -TRPC_E_NO_MEMORY;
    packed = protobuf_c_message_pack(m, buf);
    assert(packed == n);
    (void)packed;
    *out = buf;
    *len = n;
    return 0;
}

/* Turns the outcome of a request into the stub's: on 0 the reply decoded as desc into *resp
 * (-TRPC_E_BAD_PAYLOAD if it does not decode), on -TRPC_E_RESPONDER_ERROR the responder's code and
 * text into *err (err may be NULL). Frees reply. */
static inline int trpc_stub__reply(int rc, trpc_msg *reply, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp,
                                   struct trpc_stub_error *err)
{
    if (rc == 0) {
        ProtobufCMessage *m;

        assert(reply != NULL); /* libtrpc sets it on success */
        m = protobuf_c_message_unpack(desc, NULL, trpc_msg_len(reply), (const uint8_t *)trpc_msg_data(reply));
        if (m == NULL)
            rc = -TRPC_E_BAD_PAYLOAD;
        else
            *resp = m;
    } else if (rc == -TRPC_E_RESPONDER_ERROR && err != NULL && reply != NULL) {
        size_t n = trpc_msg_len(reply);

        if (n > sizeof(err->text) - 1)
            n = sizeof(err->text) - 1;
        err->code = trpc_msg_error_code(reply);
        memcpy(err->text, trpc_msg_data(reply), n);
        err->text[n] = '\0';
    }
    trpc_msg_free(reply);
    return rc;
}

/* Sends a packed request: a durable one (trpc_request_durable) where libtrpc has them. */
static inline int trpc_stub__send(trpc_client *c, const char *topic, bool durable, const uint8_t *buf, size_t len, int timeout_ms,
                                  trpc_msg **reply, trpc_reply_cb *done, void *ud)
{
#ifdef TRPC_HAVE_REQUEST_DURABLE
    if (durable)
        return done != NULL ? trpc_request_durable_async(c, topic, NULL, 0, buf, len, timeout_ms, done, ud)
                            : trpc_request_durable(c, topic, NULL, 0, buf, len, timeout_ms, reply);
#else
    (void)durable;
#endif
    return done != NULL ? trpc_request_async(c, topic, buf, len, timeout_ms, done, ud)
                        : trpc_request(c, topic, buf, len, timeout_ms, reply);
}

/* A blocking call: packs req, sends it on topic and decodes the reply as resp_desc. */
static inline int trpc_stub__call_as(trpc_client *c, const char *topic, bool durable, const ProtobufCMessage *req,
                                     const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, ProtobufCMessage **resp,
                                     struct trpc_stub_error *err)
{
    trpc_msg *reply = NULL;
    uint8_t *buf;
    size_t len;
    int rc;

    rc = trpc_stub__pack(req, &buf, &len);
    if (rc != 0)
        return rc;
    rc = trpc_stub__send(c, topic, durable, buf, len, timeout_ms, &reply, NULL, NULL);
    free(buf);
    if (rc != 0 && rc != -TRPC_E_RESPONDER_ERROR)
        return rc;
    return trpc_stub__reply(rc, reply, resp_desc, resp, err);
}

/* An asynchronous call: done runs once with ud unless this returns non-zero. */
static inline int trpc_stub__call_async_as(trpc_client *c, const char *topic, bool durable, const ProtobufCMessage *req,
                                           int timeout_ms, trpc_reply_cb *done, void *ud)
{
    uint8_t *buf;
    size_t len;
    int rc;

    rc = trpc_stub__pack(req, &buf, &len);
    if (rc != 0)
        return rc;
    rc = trpc_stub__send(c, topic, durable, buf, len, timeout_ms, NULL, done, ud);
    free(buf);
    return rc;
}

static inline int trpc_stub__call(trpc_client *c, const char *topic, const ProtobufCMessage *req,
                                  const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, ProtobufCMessage **resp,
                                  struct trpc_stub_error *err)
{
    return trpc_stub__call_as(c, topic, false, req, resp_desc, timeout_ms, resp, err);
}

static inline int trpc_stub__call_async(trpc_client *c, const char *topic, const ProtobufCMessage *req, int timeout_ms,
                                        trpc_reply_cb *done, void *ud)
{
    return trpc_stub__call_async_as(c, topic, false, req, timeout_ms, done, ud);
}

/*
 * A durable rpc's call (contract option durable = true): as trpc_stub__call while an instance
 * serves the topic; with none, it waits in the stream keeping the topic (-TRPC_E_NO_STREAM without
 * one) until an instance serves it or timeout_ms passes (trpc_request_durable). With a libtrpc
 * that has no durable requests, as trpc_stub__call.
 */
static inline int trpc_stub__call_durable(trpc_client *c, const char *topic, const ProtobufCMessage *req,
                                          const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, ProtobufCMessage **resp,
                                          struct trpc_stub_error *err)
{
    return trpc_stub__call_as(c, topic, true, req, resp_desc, timeout_ms, resp, err);
}

/* A durable rpc's asynchronous call, as trpc_stub__call_durable. */
static inline int trpc_stub__call_durable_async(trpc_client *c, const char *topic, const ProtobufCMessage *req, int timeout_ms,
                                                trpc_reply_cb *done, void *ud)
{
    return trpc_stub__call_async_as(c, topic, true, req, timeout_ms, done, ud);
}

/*
 * Packs ev and publishes it on topic. With timeout_ms above 0 (the event's contract timeout_ms),
 * then waits up to that long for the broker to have received it: trpc_flush(), whose PONG the
 * broker sends after it has routed every frame before it. -TRPC_E_TIMEOUT (or -TRPC_E_CONNECTION_LOST)
 * then says the broker may not have it yet; the event stays queued and may still arrive, so a
 * caller that publishes again may deliver it twice. 0 queues it and returns.
 */
static inline int trpc_stub__publish(trpc_client *c, const char *topic, const ProtobufCMessage *ev, int timeout_ms)
{
    uint8_t *buf;
    size_t len;
    int rc;

    rc = trpc_stub__pack(ev, &buf, &len);
    if (rc != 0)
        return rc;
    rc = trpc_publish(c, topic, buf, len);
    free(buf);
    if (rc == 0 && timeout_ms > 0)
        rc = trpc_flush(c, timeout_ms);
    return rc;
}

/*
 * A durable event: packs ev, publishes it on topic and waits (up to timeout_ms; 0: libtrpc's 5 s)
 * for the broker's acknowledgement that the stream keeping topic has it on disk. -TRPC_E_NO_STREAM
 * when no stream keeps topic (the broker delivered it to the subscribers there were, and stored
 * nothing: declare one, trpcctl stream add); the broker's refusals as trpc_publish_sync() returns
 * them; -TRPC_E_TIMEOUT: it may or may not be stored (publish again: delivery is at least once).
 * With a libtrpc that cannot wait for the acknowledgement, as trpc_stub__publish.
 */
static inline int trpc_stub__publish_durable(trpc_client *c, const char *topic, const ProtobufCMessage *ev, int timeout_ms)
{
#ifdef TRPC_HAVE_PUBLISH_ACK
    uint64_t seq = 0;
    uint8_t *buf;
    size_t len;
    int rc;

    rc = trpc_stub__pack(ev, &buf, &len);
    if (rc != 0)
        return rc;
    rc = trpc_publish_sync(c, topic, NULL, 0, buf, len, timeout_ms, &seq);
    free(buf);
    if (rc == 0 && seq == 0)
        rc = -TRPC_E_NO_STREAM;
    return rc;
#else
    return trpc_stub__publish(c, topic, ev, timeout_ms);
#endif
}

/*
 * A durable event's subscription: joins consumer group `group` of the stream that keeps topic, its
 * name with every '.' as '_' (shop.billing: shop_billing), with the contract's delivery policy;
 * the broker keeps the group, and what it delivered and was not settled comes again, to this or
 * another member, after a restart too. A group is required: -TRPC_E_INVALID_ARGUMENT for NULL, or
 * a name a consumer group cannot have (1 to 64 letters, digits, '_', '-' and '.'). Without a
 * libtrpc that subscribes durably, as trpc_stub__subscribe.
 */
static inline int trpc_stub__subscribe_durable(trpc_client *c, const char *topic, const char *group, const trpc_header *policy,
                                               size_t policy_count, trpc_msg_cb *cb, void *ud, trpc_sub **out)
{
#ifdef TRPC_HAVE_SUBSCRIBE_DURABLE
    char name[65];
    size_t i;

    if (group == NULL || group[0] == '\0' || strlen(group) >= sizeof(name))
        return -TRPC_E_INVALID_ARGUMENT;
    for (i = 0; group[i] != '\0'; i++)
        name[i] = group[i] == '.' ? '_' : group[i];
    name[i] = '\0';
    return trpc_subscribe_durable(c, topic, name, 0, policy, policy_count, cb, ud, out);
#else
    return trpc_stub__subscribe(c, topic, group, policy, policy_count, cb, ud, out);
#endif
}

/*
 * Subscribes cb to topic in group (NULL: every subscriber gets every message) and sends the
 * delivery policy headers with the SUB. A libtrpc that cannot attach headers to a SUB (it defines
 * TRPC_HAVE_SUBSCRIBE_MSG when it can) subscribes without them: the broker then applies the topic's
 * configured policy instead of the contract's.
 */
static inline int trpc_stub__subscribe(trpc_client *c, const char *topic, const char *group, const trpc_header *policy,
                                       size_t policy_count, trpc_msg_cb *cb, void *ud, trpc_sub **out)
{
#ifdef TRPC_HAVE_SUBSCRIBE_MSG
    return trpc_subscribe_msg(c, topic, group, policy, policy_count, cb, ud, out);
#else
    (void)policy;
    (void)policy_count;
    if (group == NULL)
        return trpc_subscribe(c, topic, cb, ud, out);
    return trpc_subscribe_group(c, topic, group, cb, ud, out);
#endif
}

/* Decodes a request for its handler. NULL when msg is no request (a publish on an rpc's topic has
 * no one to answer; one that a durable rpc's stream kept is acknowledged, or it would come back),
 * or when it does not decode as desc, which is answered with TRPC_STUB_CODE_BAD_REQUEST. The
 * caller frees the result with protobuf_c_message_free_unpacked. */
static inline ProtobufCMessage *trpc_stub__request(trpc_msg *msg, const ProtobufCMessageDescriptor *desc)
{
    char text[TRPC_STUB_ERROR_TEXT_MAX];
    ProtobufCMessage *m;

    if (!trpc_msg_is_request(msg)) {
        if (trpc_msg_delivery(msg) > 0)
            trpc_ack(msg);
        return NULL;
    }
    m = protobuf_c_message_unpack(desc, NULL, trpc_msg_len(msg), (const uint8_t *)trpc_msg_data(msg));
    if (m == NULL) {
        snprintf(text, sizeof(text), "request does not decode as %s", desc->name);
        trpc_respond_error(msg, TRPC_STUB_CODE_BAD_REQUEST, text);
    }
    return m;
}

/* Answers a request after its handler ran: the reply for TRPC_STUB_OK, the handler's error for
 * TRPC_STUB_ERROR, TRPC_STUB_CODE_INTERNAL when the handler returned anything else or its reply
 * cannot be packed or sent. */
static inline void trpc_stub__respond(trpc_msg *req, enum trpc_stub_verdict v, const ProtobufCMessage *resp,
                                      struct trpc_stub_error *err)
{
    uint8_t *buf;
    size_t len;
    int rc;

    if (v == TRPC_STUB_ERROR) {
        err->text[sizeof(err->text) - 1] = '\0';
        trpc_respond_error(req, err->code != 0 ? err->code : TRPC_STUB_CODE_INTERNAL, err->text);
        return;
    }
    if (v != TRPC_STUB_OK) {
        trpc_respond_error(req, TRPC_STUB_CODE_INTERNAL, "handler returned an event verdict for a call");
        return;
    }
    rc = trpc_stub__pack(resp, &buf, &len);
    if (rc == 0) {
        rc = trpc_respond(req, buf, len);
        free(buf);
    }
    if (rc != 0)
        trpc_respond_error(req, TRPC_STUB_CODE_INTERNAL,
                           rc == -TRPC_E_INVALID_ARGUMENT ? "handler's reply is not a valid message" : trpc_strerror(rc));
}

/* TERM with reason, or NACK from a broker that does not know TERM (protocol version 1). */
static inline void trpc_stub__term(trpc_msg *msg, const char *reason)
{
    if (trpc_term(msg, reason) == -TRPC_E_UNSUPPORTED_VERSION)
        trpc_nack(msg, 0);
}

/* Settles an event after its handler ran: ACK, TERM, or NACK with the delay for any other
 * verdict. A message that needs no acknowledgement (not durable) is left alone. */
static inline void trpc_stub__settle(trpc_msg *msg, enum trpc_stub_verdict v, uint32_t nack_delay_ms)
{
    if (trpc_msg_delivery(msg) == 0)
        return;
    if (v == TRPC_STUB_ACK)
        trpc_ack(msg);
    else if (v == TRPC_STUB_TERM)
        trpc_stub__term(msg, "the handler returned TRPC_STUB_TERM");
    else
        trpc_nack(msg, nack_delay_ms);
}

/* An event that does not decode as desc never will: a durable one goes to the dead-letter topic
 * now, saying so. */
static inline void trpc_stub__settle_undecodable(trpc_msg *msg, const ProtobufCMessageDescriptor *desc)
{
    char reason[TRPC_STUB_ERROR_TEXT_MAX];

    if (trpc_msg_delivery(msg) == 0)
        return;
    snprintf(reason, sizeof(reason), "does not decode as %s", desc->name);
    trpc_stub__term(msg, reason);
}

#ifdef __cplusplus
}
#endif
#endif
