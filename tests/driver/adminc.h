/*
 * adminc: calls to the broker's admin API ($trpc.admin.<verb>, docs/admin-api.md) for the driver's
 * tests, with the replies parsed by jansson. Every call is bounded by its request timeout.
 */
#ifndef TRPC_TESTS_DRIVER_ADMINC_H
#define TRPC_TESTS_DRIVER_ADMINC_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "tests/tap.h"
#include <trpc/trpc.h>

/* Sends doc[0, len) to $trpc.admin.<verb>; the parsed reply, or NULL (*err set on a transport
 * error, 0 for a reply that is not JSON). */
static inline json_t *adminc_calln(trpc_client *c, const char *verb, const char *doc, size_t len, int *err)
{
    char topic[128];
    trpc_msg *reply = NULL;
    json_error_t jerr;
    json_t *j;

    snprintf(topic, sizeof(topic), "$trpc.admin.%s", verb);
    *err = trpc_request(c, topic, doc, len, 5000, &reply);
    if (*err != 0)
        return NULL;
    j = json_loadb(trpc_msg_data(reply), trpc_msg_len(reply), 0, &jerr);
    if (j == NULL)
        diag("reply to %s is not JSON: %s: %.*s", verb, jerr.text, (int)trpc_msg_len(reply), (const char *)trpc_msg_data(reply));
    trpc_msg_free(reply);
    return j;
}

static inline json_t *adminc_call(trpc_client *c, const char *verb, const char *doc)
{
    int err;
    json_t *j = adminc_calln(c, verb, doc, strlen(doc), &err);

    if (err != 0)
        diag("%s: %s (%s)", verb, trpc_strerror(err), trpc_last_error());
    return j;
}

static inline bool adminc_ok(json_t *j)
{
    return j != NULL && json_is_true(json_object_get(j, "ok"));
}

/* The error code of a failure reply, or "" when it is not one. */
static inline const char *adminc_err_code(json_t *j)
{
    const char *code = NULL;

    if (j == NULL || json_unpack(j, "{s:b, s:{s:s}}", "ok", &(int){0}, "error", "code", &code) != 0 || adminc_ok(j))
        return "";
    return code;
}

/* One call's outcome as text: "ok" or the error code, in buf. */
static inline const char *adminc_code(trpc_client *c, const char *verb, const char *doc, char *buf, size_t len)
{
    json_t *j = adminc_call(c, verb, doc);

    snprintf(buf, len, "%s", adminc_ok(j) ? "ok" : adminc_err_code(j));
    json_decref(j);
    return buf;
}

/* The value of setting `name` in a settings.get reply, or NULL. */
static inline const char *adminc_setting(json_t *get, const char *name)
{
    json_t *list = json_object_get(get, "settings"), *it;
    size_t i;

    json_array_foreach(list, i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "name")), name) == 0)
            return json_string_value(json_object_get(it, "value"));
    }
    return NULL;
}

/* Setting `name` as the broker has it now, into buf ("" when the call failed). */
static inline const char *adminc_get(trpc_client *c, const char *name, char *buf, size_t len)
{
    char doc[128];
    json_t *j;
    const char *v;

    snprintf(doc, sizeof(doc), "{\"name\": \"%s\"}", name);
    j = adminc_call(c, "settings.get", doc);
    v = adminc_setting(j, name);
    snprintf(buf, len, "%s", v != NULL ? v : "");
    json_decref(j);
    return buf;
}

/* stream.info's "stream" object of stream name (a reference of the caller's), or NULL. */
static inline json_t *adminc_stream(trpc_client *c, const char *name)
{
    char doc[128];
    json_t *j, *st;

    snprintf(doc, sizeof(doc), "{\"name\": \"%s\"}", name);
    j = adminc_call(c, "stream.info", doc);
    st = json_object_get(j, "stream");
    json_incref(st);
    json_decref(j);
    return st;
}

/* group.info's "group" object of group name of stream (a reference of the caller's), or NULL. */
static inline json_t *adminc_group(trpc_client *c, const char *stream, const char *name)
{
    char doc[200];
    json_t *j, *g;

    snprintf(doc, sizeof(doc), "{\"stream\": \"%s\", \"name\": \"%s\"}", stream, name);
    j = adminc_call(c, "group.info", doc);
    g = json_object_get(j, "group");
    json_incref(g);
    json_decref(j);
    return g;
}

/* An integer member of obj, -1 when it is not one. */
static inline long long adminc_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* stream.add, or the test bails out. */
static inline void adminc_stream_add(trpc_client *c, const char *doc)
{
    json_t *j = adminc_call(c, "stream.add", doc);

    if (!adminc_ok(j))
        BAIL_OUT("stream.add %s", doc);
    json_decref(j);
}

#endif
