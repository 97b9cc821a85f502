/*
 * A stream's defaults for its consumer groups (issue 17: the group's definition, then its first
 * SUB's trpc-* headers, then the stream's defaults): max_deliveries, ack_wait_ms, backoff and dlq
 * declared with the stream fill what group.add and a SUB leave out; what they say wins; the
 * defaults are checked as group.add checks them (and the dead-letter topic must leave the stream);
 * declaring again compares them; stream.edit changes them for groups made afterwards; a SUB with
 * no headers joins a group made with them; they survive kill -9, and a SUB without headers
 * after the restart still makes its group with them.
 */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define DEFS                                                                                                                       \
    "{\"name\": \"jobs\", \"subjects\": [\"jobs.>\"], \"max_deliveries\": 4, \"ack_wait_ms\": 5000, \"backoff\": \"10,2,100\", "   \
    "\"dlq\": \"jobs_dead.all\"}"

static json_t *group(trpc_client *c, const char *name)
{
    return adminc_group(c, "jobs", name);
}

static bool text_is(json_t *obj, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(obj, key));

    return want == NULL ? json_is_null(json_object_get(obj, key)) : v != NULL && strcmp(v, want) == 0;
}

/* Group name has max_deliveries md, ack wait aw, backoff bo, dead-letter topic dlq. */
static bool policy_is(trpc_client *c, const char *name, long long md, long long aw, const char *bo, const char *dlq)
{
    json_t *g = NULL;
    bool good = false;

    for (int i = 0; i < 100 && g == NULL; i++) { /* a SUB's group is made a moment after it */
        g = group(c, name);
        if (g == NULL)
            usleep(50000);
    }
    good = g != NULL && adminc_int(g, "max_deliveries") == md && adminc_int(g, "ack_wait_ms") == aw && text_is(g, "backoff", bo) &&
           text_is(g, "dlq", dlq);
    if (!good) {
        char *text = g != NULL ? json_dumps(g, JSON_COMPACT) : NULL;

        diag("group %s: %s", name, text != NULL ? text : "none");
        free(text);
    }
    json_decref(g);
    return good;
}

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    trpc_ack(m);
    trpc_msg_free(m);
}

int main(void)
{
    struct broker_proc b;
    trpc_client *c, *m;
    trpc_sub *sub;
    json_t *j, *st;
    char code[64];

    plan(20);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);

    j = adminc_call(c, "stream.add", DEFS);
    st = json_object_get(j, "stream");
    ok(adminc_ok(j) && adminc_int(st, "max_deliveries") == 4 && adminc_int(st, "ack_wait_ms") == 5000 &&
           text_is(st, "backoff", "10,2,100,0") && text_is(st, "dlq", "jobs_dead.all"),
       "stream.add with defaults for its groups: stream.info shows them");
    json_decref(j);
    j = adminc_call(c, "stream.add", DEFS);
    ok(adminc_ok(j) && json_is_false(json_object_get(j, "created")), "the same declaration again: created false");
    json_decref(j);
    ok(strcmp(adminc_code(c, "stream.add", "{\"name\": \"jobs\", \"subjects\": [\"jobs.>\"], \"max_deliveries\": 4}", code,
                          sizeof(code)),
              "STREAM_EXISTS") == 0,
       "other defaults: STREAM_EXISTS");

    /* Checked as group.add checks them. */
    ok(strcmp(adminc_code(c, "stream.add", "{\"name\": \"x\", \"subjects\": [\"x.>\"], \"dlq\": \"x.dead\"}", code, sizeof(code)),
              "BAD_REQUEST") == 0,
       "a dead-letter topic the stream's own subject matches: BAD_REQUEST");
    ok(strcmp(adminc_code(c, "stream.add", "{\"name\": \"x\", \"subjects\": [\"x.>\", \"y.*\"], \"dlq\": \"y.dead\"}", code,
                          sizeof(code)),
              "BAD_REQUEST") == 0,
       "one its second subject matches: BAD_REQUEST");
    ok(strcmp(adminc_code(c, "stream.add", "{\"name\": \"x\", \"subjects\": [\"x.>\"], \"backoff\": \"10,2\"}", code, sizeof(code)),
              "BAD_REQUEST") == 0,
       "a backoff without its max: BAD_REQUEST");
    ok(strcmp(adminc_code(c, "stream.add", "{\"name\": \"x\", \"subjects\": [\"x.>\"], \"max_deliveries\": \"many\"}", code,
                          sizeof(code)),
              "BAD_REQUEST") == 0,
       "max_deliveries that is no number: BAD_REQUEST");

    /* group.add: what it leaves out, the defaults say; its dead-letter stream is made. */
    j = adminc_call(c, "group.add", "{\"stream\": \"jobs\", \"name\": \"plain\"}");
    ok(adminc_ok(j) && policy_is(c, "plain", 4, 5000, "10,2,100,0", "jobs_dead.all"), "group.add with no policy: the defaults");
    json_decref(j);
    st = adminc_stream(c, "dlq-jobs_dead_all");
    ok(st != NULL, "and the stream for its dead-letter topic was made");
    json_decref(st);
    j = adminc_call(c, "group.add", "{\"stream\": \"jobs\", \"name\": \"own\", \"max_deliveries\": 2, \"dlq\": \"own.dead\"}");
    ok(adminc_ok(j) && policy_is(c, "own", 2, 5000, "10,2,100,0", "own.dead"), "group.add saying some: its own, the rest defaults");
    json_decref(j);

    /* A SUB with no policy headers makes its group with the defaults. */
    m = connect_or_bail(&b, NULL);
    if (trpc_subscribe_durable(m, "jobs.>", "bysub", 8, NULL, 0, on_msg, NULL, &sub) != 0 || trpc_flush(m, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    ok(policy_is(c, "bysub", 4, 5000, "10,2,100,0", "jobs_dead.all"), "a SUB without policy headers: the defaults");
    {
        trpc_header h[] = {{"trpc-max-deliveries", "3", 1}};
        trpc_sub *s2;

        if (trpc_subscribe_durable(m, "jobs.>", "bysub2", 8, h, 1, on_msg, NULL, &s2) != 0 || trpc_flush(m, 5000) != 0)
            BAIL_OUT("subscribe: %s", trpc_last_error());
        ok(policy_is(c, "bysub2", 3, 5000, "10,2,100,0", "jobs_dead.all"),
           "a SUB saying trpc-max-deliveries 3: 3, the rest defaults");
        /* Another member with the same header agrees with the group (its defaults filled the same way). */
        if (trpc_subscribe_durable(m, "jobs.>", "bysub2", 8, h, 1, on_msg, NULL, &s2) != 0 || trpc_flush(m, 5000) != 0)
            BAIL_OUT("subscribe: %s", trpc_last_error());
        usleep(200000);
        j = group(c, "bysub2");
        ok(adminc_int(j, "members") == 2, "a second member with the same header joins (members %lld)", adminc_int(j, "members"));
        json_decref(j);
    }
    trpc_close(m);

    /* stream.edit: new defaults for groups made afterwards; the groups there keep theirs. */
    j = adminc_call(c, "stream.edit", "{\"name\": \"jobs\", \"subjects\": [\"jobs.>\"], \"max_deliveries\": 9}");
    st = json_object_get(j, "stream");
    ok(adminc_ok(j) && adminc_int(st, "max_deliveries") == 9 && json_is_null(json_object_get(st, "dlq")),
       "stream.edit: max_deliveries 9, no dead-letter topic any more");
    json_decref(j);
    j = adminc_call(c, "group.add", "{\"stream\": \"jobs\", \"name\": \"later\"}");
    ok(adminc_ok(j) && policy_is(c, "later", 9, 30000, NULL, NULL) && policy_is(c, "plain", 4, 5000, "10,2,100,0", "jobs_dead.all"),
       "a group made afterwards has the new defaults, one made before its own");
    json_decref(j);

    j = adminc_call(c, "stream.edit",
                    "{\"name\": \"jobs\", \"subjects\": [\"jobs.>\"], \"max_deliveries\": 9, \"ack_wait_ms\": 7000, "
                    "\"dlq\": \"jobs_dead.all\"}");
    ok(adminc_ok(j), "stream.edit: max_deliveries 9, ack wait 7000, the dead-letter topic again");
    json_decref(j);

    /* Stored with the stream, and in every core's table after a restart: a SUB with no headers
     * makes its group with them (two connections, which may land on either core). */
    trpc_close(c);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    c = connect_or_bail(&b, NULL);
    st = adminc_stream(c, "jobs");
    ok(adminc_int(st, "max_deliveries") == 9 && adminc_int(st, "ack_wait_ms") == 7000 &&
           json_is_null(json_object_get(st, "backoff")) && text_is(st, "dlq", "jobs_dead.all"),
       "after kill -9: the defaults as edited");
    json_decref(st);
    j = adminc_call(c, "group.delete", "{\"stream\": \"jobs\", \"name\": \"later\"}");
    ok(adminc_ok(j), "group.delete later (a stream has at most 6 groups)");
    json_decref(j);
    for (int i = 0; i < 2; i++) {
        char name[32];

        m = connect_or_bail(&b, NULL);
        snprintf(name, sizeof(name), "after%d", i);
        if (trpc_subscribe_durable(m, "jobs.>", name, 8, NULL, 0, on_msg, NULL, &sub) != 0 || trpc_flush(m, 5000) != 0)
            BAIL_OUT("subscribe: %s", trpc_last_error());
        ok(policy_is(c, name, 9, 7000, NULL, "jobs_dead.all"), "after kill -9, a SUB without headers (connection %d): the defaults",
           i);
        trpc_close(m);
    }
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
