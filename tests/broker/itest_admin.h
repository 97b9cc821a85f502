/*
 * Admin calls ($trpc.admin.<verb>, docs/admin-api.md) over the raw test client, for the broker's
 * integration tests that need a stream or a look at one; the replies are parsed by jansson.
 */
#ifndef TRPC_TESTS_BROKER_ITEST_ADMIN_H
#define TRPC_TESTS_BROKER_ITEST_ADMIN_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/broker/itest.h"

/* One admin call: the parsed reply, or NULL (no reply in time, or not JSON). Frames that come
 * meanwhile (up to 1000) are skipped. */
static inline json_t *itest_admin(struct tc *c, const char *verb, const char *doc)
{
    static uint64_t next_req = 1ull << 40; /* apart from the ids the tests use themselves */
    char topic[96];
    uint64_t id = next_req++;
    struct wire_frame f;

    snprintf(topic, sizeof(topic), "$trpc.admin.%s", verb);
    if (tc_req(c, id, topic, doc, strlen(doc), 5000) != 0)
        return NULL;
    for (int i = 0; i < 1000; i++) {
        f = itest_next(c, 6000);
        if (f.type == 0)
            return NULL;
        if (f.type == WIRE_REP && f.id == id)
            return json_loadb((const char *)f.payload, f.payload_len, 0, NULL);
    }
    return NULL;
}

/* Whether the call succeeded ("ok": true); the reply in *out when out is not NULL (else freed). */
static inline bool itest_admin_ok(struct tc *c, const char *verb, const char *doc, json_t **out)
{
    json_t *j = itest_admin(c, verb, doc);
    bool good = j != NULL && json_is_true(json_object_get(j, "ok"));

    if (!good) {
        char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

        diag("%s %s: %s", verb, doc, s != NULL ? s : "(no reply)");
        free(s);
    }
    if (out != NULL)
        *out = j;
    else
        json_decref(j);
    return good;
}

/* The error code of a failed call's reply ("" when it succeeded or did not come). */
static inline const char *itest_admin_code(json_t *j)
{
    const char *code = "";

    if (j != NULL && json_is_false(json_object_get(j, "ok")))
        json_unpack(json_object_get(j, "error"), "{s:s}", "code", &code);
    return code;
}

/* One TAP point: the call fails with code. */
static inline void itest_expect_code(struct tc *c, const char *verb, const char *doc, const char *code, const char *what)
{
    json_t *j = itest_admin(c, verb, doc);

    ok(strcmp(itest_admin_code(j), code) == 0, "%s: %s (got '%s')", what, code, itest_admin_code(j));
    json_decref(j);
}

#endif
