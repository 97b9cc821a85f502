/*
 * Durable requests on the wire (docs/protocol.md section 7.1): REQ with DURABLE needs protocol
 * version 3 (an older session is cut with BAD_FLAGS); with no responder and no stream covering the
 * topic it is answered NO_STREAM; with a stream it is stored and goes to a consumer group's member
 * as a durable MSG whose :trpc-reply header holds the token and the secret and whose
 * :trpc-deadline the requester's deadline. A REP with the token needs the secret in its id (a
 * wrong one is BAD_REPLY_TOKEN, not fatal, and the request still waits), may come from any
 * connection, and completes the request once.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tests/broker/itest_admin.h"

static void connect_v3(struct tc *c, const struct broker_proc *b)
{
    if (tc_open(c, b) != 0 || tc_hello_v(c, 0, 3) != 0)
        BAIL_OUT("connect");
}

/* A version-3 connection on a broker core other than `core` (the REP crosses cores). */
static void connect_v3_off(struct tc *c, const struct broker_proc *b, unsigned core)
{
    for (int i = 0; i < 200; i++) {
        connect_v3(c, b);
        if (c->core != core)
            return;
        tc_close(c);
    }
    BAIL_OUT("no connection landed off core %u in 200 tries", core);
}

/* A durable REQ; with `forged`, carrying a :trpc-reply header of its own. */
static int req_durable_h(struct tc *c, uint64_t id, const char *topic, const char *payload, uint32_t timeout_ms, const char *forged)
{
    struct wire_header h = {.key = ":trpc-reply", .key_len = 11, .val = (const uint8_t *)forged};
    struct wire_out o = {.type = WIRE_REQ,
                         .flags = WIRE_F_DURABLE,
                         .id = id,
                         .aux = timeout_ms,
                         .topic = topic,
                         .topic_len = strlen(topic),
                         .payload = payload,
                         .payload_len = strlen(payload)};

    if (forged != NULL) {
        h.val_len = (uint16_t)strlen(forged);
        o.headers = &h;
        o.header_count = 1;
    }
    return tc_send(c, &o);
}

static int req_durable(struct tc *c, uint64_t id, const char *topic, const char *payload, uint32_t timeout_ms)
{
    return req_durable_h(c, id, topic, payload, timeout_ms, NULL);
}

/* The next frame of a type in `types` (a 0-ended list), others skipped; type 0 when none came. */
static struct wire_frame next_of(struct tc *c, const uint8_t *types, int ms)
{
    struct wire_frame f;

    for (int i = 0; i < 100; i++) {
        f = itest_next(c, ms);
        if (f.type == 0)
            return f;
        for (const uint8_t *t = types; *t != 0; t++)
            if (f.type == *t)
                return f;
    }
    memset(&f, 0, sizeof(f));
    return f;
}

/* The last value of header key in f, copied NUL-terminated into buf ("" when none). */
static const char *last_header(const struct wire_frame *f, const char *key, char *buf, size_t len)
{
    struct wire_header h;
    uint32_t pos = 0;

    buf[0] = '\0';
    while (wire_header_next(f, &pos, &h) == 1)
        if (h.key_len == strlen(key) && memcmp(h.key, key, h.key_len) == 0)
            snprintf(buf, len, "%.*s", (int)h.val_len, (const char *)h.val);
    return buf;
}

#define FORGED "00000000000000010000000000000001"

static void rep(struct tc *c, uint64_t token, uint64_t secret, const char *payload)
{
    struct wire_out o = {.type = WIRE_REP, .id = secret, .seq = token, .payload = payload, .payload_len = strlen(payload)};

    if (tc_send(c, &o) != 0)
        BAIL_OUT("send REP");
}

int main(void)
{
    static const uint8_t msg_err[] = {WIRE_MSG, WIRE_ERR, 0}, rep_err[] = {WIRE_REP, WIRE_ERR, 0};
    struct broker_proc b;
    struct tc old, req, mem, other;
    struct wire_frame f;
    struct wire_header h = {.key = ":durable", .key_len = 8, .val = (const uint8_t *)"workers", .val_len = 7};
    struct wire_out sub = {
        .type = WIRE_SUB, .id = 7, .aux = 4, .topic = "jobs.>", .topic_len = 6, .headers = &h, .header_count = 1};
    char reply[64], deadline[32], hex[17];
    uint64_t token, secret, seq, now_ms;
    struct timespec ts;

    plan(16);
    itest_start(&b, (const char *[]){"--cores", "2", NULL});

    /* Version 1 or 2: DURABLE is not a REQ flag there. */
    if (tc_open(&old, &b) != 0 || tc_hello_v(&old, 0, 2) != 0)
        BAIL_OUT("connect");
    ok(req_durable(&old, 1, "jobs.a", "x", 1000) == 0 &&
           itest_is_err((f = next_of(&old, rep_err, 3000), &f), TRPC_E_BAD_FLAGS, true),
       "a durable REQ of a version-2 session: ERR FATAL BAD_FLAGS");
    tc_close(&old);

    connect_v3(&req, &b);
    ok(req_durable(&req, 2, "jobs.a", "x", 1000) == 0 && (f = next_of(&req, rep_err, 3000)).type == WIRE_REP && f.id == 2 &&
           (f.flags & WIRE_F_ERROR) && f.aux == TRPC_E_NO_STREAM,
       "no responder and no stream: REP ERROR NO_STREAM");
    if (!itest_admin_ok(&req, "stream.add", "{\"name\": \"jobs\", \"subjects\": [\"jobs.>\"]}", NULL))
        BAIL_OUT("stream.add");

    /* Stored, then taken by a member that joins later. */
    ok(req_durable_h(&req, 3, "jobs.resize", "img-1", 10000, FORGED) == 0,
       "a durable REQ with no responder is sent (with a :trpc-reply of its own)");
    usleep(200000);
    connect_v3(&mem, &b);
    if (tc_send(&mem, &sub) != 0)
        BAIL_OUT("send SUB");
    f = next_of(&mem, msg_err, 5000);
    ok(f.type == WIRE_MSG && (f.flags & WIRE_F_ACK_REQUIRED) && !(f.flags & WIRE_F_REQUEST) && f.id == 7 && f.aux == 1 &&
           f.payload_len == 5 && memcmp(f.payload, "img-1", 5) == 0,
       "the member that joins gets it as a durable MSG");
    seq = f.seq;
    last_header(&f, ":trpc-reply", reply, sizeof(reply));
    last_header(&f, ":trpc-deadline", deadline, sizeof(deadline));
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    ok(strlen(reply) == 32 && strspn(reply, "0123456789abcdef") == 32 && strcmp(reply, FORGED) != 0,
       "the last :trpc-reply, the broker's, holds 32 hex digits (%s)", reply);
    ok(strtoull(deadline, NULL, 10) > now_ms && strtoull(deadline, NULL, 10) <= now_ms + 10000,
       ":trpc-deadline is the requester's deadline, Unix ms (%s, now %llu)", deadline, (unsigned long long)now_ms);
    memcpy(hex, reply, 16);
    hex[16] = '\0';
    token = strtoull(hex, NULL, 16);
    secret = strtoull(reply + 16, NULL, 16);

    /* The token alone is not enough. */
    rep(&mem, token, secret ^ 1, "forged");
    f = next_of(&mem, rep_err, 3000);
    ok(itest_is_err(&f, TRPC_E_BAD_REPLY_TOKEN, false), "a REP with the token and another secret: BAD_REPLY_TOKEN, not fatal");
    f = itest_next(&req, 300);
    ok(f.type == 0, "and the requester still waits");

    /* Any connection that shows the secret answers, once: one on another core than the requester's. */
    connect_v3_off(&other, &b, req.core);
    rep(&other, token, secret, "done:img-1");
    f = next_of(&req, rep_err, 3000);
    ok(f.type == WIRE_REP && f.id == 3 && f.flags == 0 && f.payload_len == 10 && memcmp(f.payload, "done:img-1", 10) == 0,
       "a REP with the secret from another connection completes the request");
    rep(&mem, token, secret, "again");
    f = next_of(&mem, rep_err, 3000);
    ok(itest_is_err(&f, TRPC_E_BAD_REPLY_TOKEN, false), "a second REP: BAD_REPLY_TOKEN");
    {
        struct wire_out ack = {.type = WIRE_ACK, .id = 7, .seq = seq};
        json_t *j = NULL;

        ok(tc_send(&mem, &ack) == 0, "the member acknowledges the message");
        usleep(200000);
        itest_admin_ok(&req, "group.info", "{\"stream\": \"jobs\", \"name\": \"workers\"}", &j);
        ok(json_integer_value(json_object_get(json_object_get(j, "group"), "acked")) == 1 &&
               json_integer_value(json_object_get(json_object_get(j, "group"), "pending")) == 0,
           "group.info: 1 acked, none pending");
        json_decref(j);
    }
    /* Answered after its deadline: the requester had TIMEOUT, the late REP is refused. */
    ok(req_durable(&req, 4, "jobs.late", "late", 700) == 0 && (f = next_of(&mem, msg_err, 5000)).type == WIRE_MSG,
       "a durable request with a member there: delivered");
    seq = f.seq;
    last_header(&f, ":trpc-reply", reply, sizeof(reply));
    memcpy(hex, reply, 16);
    hex[16] = '\0';
    token = strtoull(hex, NULL, 16);
    secret = strtoull(reply + 16, NULL, 16);
    f = next_of(&req, rep_err, 3000);
    rep(&mem, token, secret, "too late");
    {
        struct wire_frame g = next_of(&mem, rep_err, 3000);
        struct wire_out ack = {.type = WIRE_ACK, .id = 7, .seq = seq};

        ok(f.type == WIRE_REP && f.id == 4 && (f.flags & WIRE_F_ERROR) && f.aux == TRPC_E_TIMEOUT &&
               itest_is_err(&g, TRPC_E_BAD_REPLY_TOKEN, false),
           "its deadline passes: TIMEOUT to the requester, and the REP after it is BAD_REPLY_TOKEN");
        tc_send(&mem, &ack);
    }
    /* A plain PUB on the topic is no request: no :trpc-reply. */
    tc_pub(&req, "jobs.note", "n", 1);
    f = next_of(&mem, msg_err, 5000);
    ok(f.type == WIRE_MSG && last_header(&f, ":trpc-reply", reply, sizeof(reply))[0] == '\0',
       "a message published on the stream carries no :trpc-reply");
    tc_close(&other);
    tc_close(&mem);
    tc_close(&req);
    itest_stop(&b);
    return done_testing();
}
