/*
 * The reading of stream.add's reply in driver/declare.c, alone (compiled in, without a broker):
 * every document the admin API sends is understood, and any other bytes (cut, nested deep, not
 * JSON, binary) give BAD_PAYLOAD or an error, never a read past the end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"

#define trpc_request        fake_request
#define trpc_msg_data       fake_msg_data
#define trpc_msg_len        fake_msg_len
#define trpc_msg_free       fake_msg_free
#define trpc__fail          fake_fail
#define trpc_stream_declare fake_declare
#include "driver/declare.c"

static char last[512];
static bool last_busy;

int fake_fail(int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last, sizeof(last), fmt, ap);
    va_end(ap);
    return err;
}

int fake_request(trpc_client *c, const char *topic, const void *data, size_t len, int timeout_ms, trpc_msg **reply)
{
    (void)c, (void)topic, (void)data, (void)len, (void)timeout_ms, (void)reply;
    return -TRPC_E_NO_RESPONDERS;
}

const void *fake_msg_data(const trpc_msg *m)
{
    (void)m;
    return NULL;
}

size_t fake_msg_len(const trpc_msg *m)
{
    (void)m;
    return 0;
}

void fake_msg_free(trpc_msg *m)
{
    (void)m;
}

/* The reply in a buffer of exactly its length (ASan sees a read past it). */
static int parse(const char *doc, bool *created)
{
    size_t n = strlen(doc);
    char *copy = malloc(n > 0 ? n : 1);
    bool busy;
    int err;

    memcpy(copy, doc, n);
    err = trpc__declare_reply(copy, n, created, &busy);
    last_busy = busy;
    free(copy);
    return err;
}

int main(void)
{
    static const char *const bad[] = {
        "",
        "{",
        "{\"ok\"",
        "{\"ok\":",
        "{\"ok\": tru",
        "{\"ok\": true",
        "[1, 2]",
        "\"ok\"",
        "{\"created\": true}",
        "{\"ok\": true,}",
        "{\"ok\": true \"x\": 1}",
        "{\"ok\": \"yes\"}",
        "{\"ok\": false, \"error\": {\"code\": \"BAD",
        "{\"a\": \"\\",
        "\xff\xfe\x00",
        "{\"ok\": true, \"s\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    };
    bool created = false;
    char deep[4096];
    size_t i;

    plan(10 + (int)(sizeof(bad) / sizeof(bad[0])));
    ok(parse("{\"ok\": true, \"created\": true, \"stream\": {\"name\": \"o\", \"subjects\": [\"a.>\"], \"messages\": 0}}",
             &created) == 0 &&
           created,
       "a stream made");
    ok(parse("{\"ok\":true,\"stream\":{\"name\":\"o\"},\"created\":false}", &created) == 0 && !created, "declared again");
    ok(parse(" {\n\"stream\": {\"x\": [1, {\"y\": null}]}, \"ok\": true\n} ", &created) == 0 && !created,
       "members in any order, blanks anywhere, no created: false");
    ok(parse("{\"ok\": false, \"error\": {\"code\": \"STREAM_EXISTS\", \"message\": \"stream o exists\"}}", NULL) ==
               -TRPC_E_STREAM_EXISTS &&
           strcmp(last, "stream o exists") == 0,
       "STREAM_EXISTS with the broker's message");
    ok(parse("{\"ok\": false, \"error\": {\"message\": \"bad \\\"x\\\"\", \"code\": \"BAD_REQUEST\"}}", NULL) ==
               -TRPC_E_INVALID_ARGUMENT &&
           strcmp(last, "bad \"x\"") == 0,
       "BAD_REQUEST: INVALID_ARGUMENT, escapes read");
    ok(parse("{\"ok\": false, \"error\": {\"code\": \"SUBJECTS_OVERLAP\", \"message\": \"m\"}}", NULL) == -TRPC_E_INVALID_ARGUMENT,
       "SUBJECTS_OVERLAP: INVALID_ARGUMENT");
    ok(parse("{\"ok\": false, \"error\": {\"code\": \"STORAGE_FAILED\", \"message\": \"m\"}}", NULL) == -TRPC_E_STORAGE_FAILED,
       "STORAGE_FAILED");
    ok(parse("{\"ok\": false, \"error\": {\"code\": \"BUSY\", \"message\": \"try again\"}}", NULL) == -TRPC_E_UNAVAILABLE &&
           strstr(last, "BUSY") != NULL && last_busy,
       "BUSY: UNAVAILABLE, the code in the text, busy said");
    ok(parse("{\"ok\": false}", NULL) == -TRPC_E_UNAVAILABLE, "a failure without an error object");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ok(parse(bad[i], &created) != 0, "not a reply: refused (%zu)", i);
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    memcpy(deep, "{\"x\": ", 6);
    ok(parse(deep, &created) == -TRPC_E_BAD_PAYLOAD, "4,000 nested arrays: refused, no deep recursion");
    return done_testing();
}
