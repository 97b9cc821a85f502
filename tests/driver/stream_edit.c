/*
 * stream.edit: the same definition again changes nothing; a subject added stores at once; a
 * max_msgs set on a stream of 100 messages never leaves fewer than the limit (the old messages,
 * counted in one chunk, go once new ones fill the limit) and then keeps exactly the limit; the new
 * definition is in the store (kill -9 and restart) and the restart counts the log afresh; an
 * overlapping subject, an unknown stream or a misspelt key is refused.
 */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

static uint64_t pub(trpc_client *c, const char *topic)
{
    uint64_t seq = 0;

    if (trpc_publish_sync(c, topic, NULL, 0, "m", 1, 5000, &seq) != 0)
        BAIL_OUT("publish on %s: %s", topic, trpc_last_error());
    return seq;
}

static long long messages(trpc_client *c)
{
    json_t *st = adminc_stream(c, "ev");
    long long n = adminc_int(st, "messages");

    json_decref(st);
    return n;
}

int main(void)
{
    struct broker_proc b;
    trpc_client *c;
    json_t *j;
    char code[64];
    uint64_t seq = 0;

    plan(12);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);
    adminc_stream_add(c, "{\"name\": \"ev\", \"subjects\": [\"ev.a\"]}");
    adminc_stream_add(c, "{\"name\": \"other\", \"subjects\": [\"other.>\"]}");
    for (int i = 0; i < 100; i++)
        pub(c, "ev.a");

    j = adminc_call(c, "stream.edit", "{\"name\": \"ev\", \"subjects\": [\"ev.a\"]}");
    ok(adminc_ok(j) && json_is_false(json_object_get(j, "updated")), "the same definition: updated false");
    json_decref(j);
    j = adminc_call(c, "stream.edit", "{\"name\": \"ev\", \"subjects\": [\"ev.a\", \"ev.b\"]}");
    ok(adminc_ok(j) && json_is_true(json_object_get(j, "updated")) &&
           json_array_size(json_object_get(json_object_get(j, "stream"), "subjects")) == 2,
       "a subject added: updated true, 2 subjects");
    json_decref(j);
    seq = pub(c, "ev.b");
    ok(seq == 101, "a PUB on the new subject is stored at once: sequence %llu", (unsigned long long)seq);

    /* max_bytes far from reached: max_msgs alone decides. */
    j = adminc_call(c, "stream.edit",
                    "{\"name\": \"ev\", \"subjects\": [\"ev.a\", \"ev.b\"], \"max_msgs\": 10, \"max_bytes\": 1000000}");
    ok(adminc_ok(j) && adminc_int(json_object_get(j, "stream"), "max_msgs") == 10, "max_msgs 10 set");
    json_decref(j);
    ok(messages(c) >= 10, "the stream never holds fewer than the limit: %lld", messages(c));
    for (int i = 0; i < 20; i++)
        seq = pub(c, "ev.a");
    usleep(100000);
    ok(messages(c) == 10, "once new messages fill the limit, exactly 10 are kept (%lld)", messages(c));

    ok(strcmp(adminc_code(c, "stream.edit", "{\"name\": \"ev\", \"subjects\": [\"other.x\"]}", code, sizeof(code)),
              "SUBJECTS_OVERLAP") == 0,
       "a subject of another stream: SUBJECTS_OVERLAP");
    ok(strcmp(adminc_code(c, "stream.edit", "{\"name\": \"nope\", \"subjects\": [\"n.x\"]}", code, sizeof(code)), "NOT_FOUND") == 0,
       "no such stream: NOT_FOUND");
    ok(strcmp(adminc_code(c, "stream.edit", "{\"name\": \"ev\", \"subjects\": [\"ev.a\"], \"max_msg\": 3}", code, sizeof(code)),
              "BAD_REQUEST") == 0,
       "a misspelt key: BAD_REQUEST");

    trpc_close(c);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    c = connect_or_bail(&b, NULL);
    j = adminc_stream(c, "ev");
    ok(j != NULL && adminc_int(j, "max_msgs") == 10 && json_array_size(json_object_get(j, "subjects")) == 2,
       "after kill -9: the new definition");
    ok(adminc_int(j, "messages") == 10, "and 10 messages");
    json_decref(j);
    {
        uint64_t next = pub(c, "ev.b");

        ok(next > seq, "the sequence goes on (%llu after %llu)", (unsigned long long)next, (unsigned long long)seq);
    }
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
