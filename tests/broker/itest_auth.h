/*
 * Logging in and checking permissions over the raw test client, for the authentication tests.
 */
#ifndef TRPC_TESTS_BROKER_ITEST_AUTH_H
#define TRPC_TESTS_BROKER_ITEST_AUTH_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/store.h"
#include "tests/broker/itest.h"

/* Removes a test's data directory (made by mkdtemp), saying so when it cannot. */
static inline void itest_rm_dir(const char *dir)
{
    char cmd[320];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("cannot remove %s", dir);
}

/* Writes a record as the admin API would (rec is taken), or bails out. */
static inline void itest_store_put(struct store *s, const char *ns, const char *key, json_t *rec)
{
    char *doc = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;

    if (doc == NULL || store_put(s, ns, key, doc, strlen(doc)) != 0)
        BAIL_OUT("cannot write %s/%s: %s", ns, key, store_last_error(s));
    free(doc);
    json_decref(rec);
}

/* CONNECT with credentials on an open connection: the answer (CONNACK or ERR), type 0 when none. */
static inline struct wire_frame itest_login_on(struct tc *c, const char *user, const char *pw, const char *token)
{
    struct wire_header h[3];
    struct wire_out o = {.type = WIRE_CONNECT, .aux = wire_versions(1, WIRE_VERSION_MAX), .headers = h};
    struct wire_frame f = {0};

    if (user != NULL)
        h[o.header_count++] = (struct wire_header){":user", 5, (uint16_t)strlen(user), (const uint8_t *)user};
    if (pw != NULL)
        h[o.header_count++] = (struct wire_header){":password", 9, (uint16_t)strlen(pw), (const uint8_t *)pw};
    if (token != NULL)
        h[o.header_count++] = (struct wire_header){":token", 6, (uint16_t)strlen(token), (const uint8_t *)token};
    if (tc_send(c, &o) != 0)
        return f;
    return itest_next(c, 15000);
}

/* The same on a new plaintext connection. */
static inline struct wire_frame itest_login(struct tc *c, const struct broker_proc *b, const char *user, const char *pw,
                                            const char *token)
{
    struct wire_frame f = {0};

    if (tc_open(c, b) != 0)
        return f;
    return itest_login_on(c, user, pw, token);
}

static inline bool refused(struct tc *c, const struct broker_proc *b, const char *user, const char *pw, const char *token)
{
    struct wire_frame f = itest_login(c, b, user, pw, token);
    bool good = itest_is_err(&f, TRPC_E_AUTH_FAILED, true) &&
                ((f.payload_len == strlen("bad credentials") && memcmp(f.payload, "bad credentials", f.payload_len) == 0) ||
                 (user == NULL && token == NULL && memmem(f.payload, f.payload_len, "needs credentials", 17) != NULL)) &&
                tc_wait_eof(c, 5000);

    if (!good)
        diag("got type %u code %u flags %#x: %.*s", f.type, f.aux, f.flags, (int)f.payload_len,
             f.payload != NULL ? (const char *)f.payload : "");

    tc_close(c);
    return good;
}

/* After what was sent, a PING comes back first: nothing was refused. */
static inline bool quiet(struct tc *c)
{
    struct wire_out o = {.type = WIRE_PING, .id = 4242};
    struct wire_frame f;

    if (tc_send(c, &o) != 0)
        return false;
    f = itest_next(c, 5000);
    return f.type == WIRE_PONG && f.id == 4242;
}

static inline bool denied(struct tc *c, uint64_t id, const char *topic)
{
    struct wire_frame f = itest_next(c, 5000);

    return itest_is_err(&f, TRPC_E_PERMISSION_DENIED, false) && f.id == id &&
           memmem(f.payload, f.payload_len, topic, strlen(topic)) != NULL;
}

static inline bool sub_ok(struct tc *c, uint64_t sid, const char *pattern, const char *group)
{
    return tc_sub(c, sid, pattern, group) == 0 && quiet(c);
}

static inline bool sub_denied(struct tc *c, uint64_t sid, const char *pattern, const char *group)
{
    return tc_sub(c, sid, pattern, group) == 0 && denied(c, sid, group != NULL ? group : pattern);
}

static inline bool pub_ok(struct tc *c, const char *topic)
{
    return tc_pub(c, topic, "x", 1) == 0 && quiet(c);
}

static inline bool pub_denied(struct tc *c, const char *topic)
{
    return tc_pub(c, topic, "x", 1) == 0 && denied(c, 0, topic);
}

/* The REP of a REQ with id: its ERROR code, 0 for a plain reply, -1 when none came. */
static inline int req_code(struct tc *c, uint64_t id, const char *topic)
{
    struct wire_frame f;

    if (tc_req(c, id, topic, "{}", 2, 2000) != 0)
        return -1;
    f = itest_next(c, 5000);
    if (f.type != WIRE_REP || f.id != id)
        return -1;
    return (f.flags & WIRE_F_ERROR) ? (int)f.aux : 0;
}

/* A PUB then a PING: 1 when the PONG comes first (allowed), 0 after ERR PERMISSION_DENIED, -1. */
static inline int pub_verdict(struct tc *c, const char *topic)
{
    struct wire_out o = {.type = WIRE_PING, .id = 99};
    struct wire_frame f;

    if (tc_pub(c, topic, "x", 1) != 0 || tc_send(c, &o) != 0)
        return -1;
    f = itest_next(c, 5000);
    if (f.type == WIRE_PONG)
        return 1;
    if (!itest_is_err(&f, TRPC_E_PERMISSION_DENIED, false))
        return -1;
    f = itest_next(c, 5000);
    return f.type == WIRE_PONG ? 0 : -1;
}

#endif
