/*
 * A consumer group's dead-letter topic that no stream covers gets a stream of its own, made with
 * the group (issue 17): the member's SUB waits for the control thread to add "dlq-<topic>", then
 * joins; what the group fails lands there; two members subscribing at once make one stream; a
 * name that is taken is a clear BAD_POLICY; a member that unsubscribes or leaves while it waits
 * leaves nothing behind; the streams survive a kill -9.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/broker/itest_admin.h"
#include "tests/broker/itest_group.h"

/* stream.info of name: its reply (NULL: none, or not ok). */
static json_t *stream_info(struct tc *adm, const char *name)
{
    char doc[128];
    json_t *j = NULL;

    snprintf(doc, sizeof(doc), "{\"name\": \"%s\"}", name);
    return itest_admin_ok(adm, "stream.info", doc, &j) ? j : (json_decref(j), NULL);
}

static json_int_t stream_num(struct tc *adm, const char *name, const char *key)
{
    json_t *j = stream_info(adm, name);
    json_int_t v = j != NULL ? json_integer_value(json_object_get(json_object_get(j, "stream"), key)) : -1;

    json_decref(j);
    return v;
}

static json_int_t group_num(struct tc *adm, const char *stream, const char *name, const char *key)
{
    char doc[160];
    json_t *j = NULL;
    json_int_t v = -1;

    snprintf(doc, sizeof(doc), "{\"stream\": \"%s\", \"name\": \"%s\"}", stream, name);
    if (itest_admin_ok(adm, "group.info", doc, &j))
        v = json_integer_value(json_object_get(json_object_get(j, "group"), key));
    json_decref(j);
    return v;
}

static unsigned streams_named_like(struct tc *adm, const char *prefix)
{
    json_t *j = NULL, *s;
    unsigned n = 0;
    size_t i;

    if (!itest_admin_ok(adm, "stream.list", "{}", &j)) {
        json_decref(j);
        return 0;
    }
    json_array_foreach(json_object_get(j, "streams"), i, s)
    {
        n += strncmp(json_string_value(json_object_get(s, "name")), prefix, strlen(prefix)) == 0;
    }
    json_decref(j);
    return n;
}

/* No ERR comes before 500 ms pass without a frame (a PING would not do: the SUB waits for the
 * control thread, which a PONG does not wait for). */
static bool no_err(struct tc *c)
{
    for (int i = 0; i < 1000; i++) {
        struct wire_frame f = itest_next(c, 500);

        if (f.type == 0)
            return true;
        if (f.type == WIRE_ERR)
            return false;
    }
    return false;
}

/* Stream name exists, within 10 s: the control thread makes it while the SUB waits, which under
 * a sanitizer may take longer than no_err's quiet spell. */
static bool made(struct tc *adm, const char *name)
{
    for (int i = 0; i < 100; i++) {
        if (stream_num(adm, name, "last_seq") >= 0)
            return true;
        usleep(100000);
    }
    return false;
}

/* Group name of stream has n members, within 5 s. */
static bool members(struct tc *adm, const char *stream, const char *name, json_int_t n)
{
    for (int i = 0; i < 100; i++) {
        if (group_num(adm, stream, name, "members") == n)
            return true;
        usleep(50000);
    }
    return false;
}

int main(void)
{
    struct broker_proc b;
    struct tc adm, pub, m1, m2, m3;
    struct wire_frame f;
    json_t *j = NULL, *subj;
    const char *dead[] = {"trpc-dlq=orders.dead", "trpc-max-deliveries=1", NULL};

    plan(18);
    itest_start(&b, (const char *[]){"--cores", "2", NULL});
    itest_connect(&adm, &b, 0);
    itest_connect(&pub, &b, 0);
    ok(itest_admin_ok(&adm, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.new.>\"]}", NULL),
       "stream orders declared, nothing for orders.dead");

    /* One member: the stream is made, the SUB joins, a failed message lands there. */
    itest_connect_on(&m1, &b, 1);
    sub_durable(&m1, 1, "orders.new.>", "billing", 10, dead);
    ok(no_err(&m1), "a SUB whose dead-letter topic no stream covers is not refused");
    j = made(&adm, "dlq-orders_dead") ? stream_info(&adm, "dlq-orders_dead") : NULL;
    subj = j != NULL ? json_object_get(json_object_get(j, "stream"), "subjects") : NULL;
    ok(json_array_size(subj) == 1 && strcmp(json_string_value(json_array_get(subj, 0)), "orders.dead") == 0,
       "stream dlq-orders_dead was made, covering orders.dead");
    json_decref(j);
    ok(members(&adm, "orders", "billing", 1), "the SUB joined group billing");
    pub_ack(&pub, 1, "orders.new.1", "first");
    f = next_msg(&m1, 5000);
    ok(f.type == WIRE_MSG && f.id == 1 && f.seq == 1, "the member gets the message");
    settle(&m1, WIRE_NACK, 1, 1, 0);
    for (int i = 0; i < 100 && stream_num(&adm, "dlq-orders_dead", "last_seq") < 1; i++)
        usleep(50000);
    ok(stream_num(&adm, "dlq-orders_dead", "last_seq") == 1, "after its one delivery failed it is a dead letter there");

    /* Two members of a new group on two cores at once: one stream, both in. */
    itest_connect_on(&m2, &b, 0);
    sub_durable(&m1, 2, "orders.new.>", "shipping", 10, (const char *const[]){"trpc-dlq=ship.dead", NULL});
    sub_durable(&m2, 2, "orders.new.>", "shipping", 10, (const char *const[]){"trpc-dlq=ship.dead", NULL});
    ok(no_err(&m1) && no_err(&m2), "two members subscribing at once: neither refused");
    ok(made(&adm, "dlq-ship_dead") && streams_named_like(&adm, "dlq-ship") == 1, "one stream made for ship.dead");
    ok(members(&adm, "orders", "shipping", 2), "both joined group shipping");

    /* A name that is taken by a stream covering something else. */
    ok(itest_admin_ok(&adm, "stream.add", "{\"name\": \"dlq-taken\", \"subjects\": [\"other.x\"]}", NULL),
       "stream dlq-taken declared on other.x");
    sub_durable(&m2, 3, "orders.new.>", "audit", 10, (const char *const[]){"trpc-dlq=taken", NULL});
    f = next_msg(&m2, 5000);
    ok(itest_is_err(&f, TRPC_E_BAD_POLICY, false) && f.id == 3 && f.payload_len > 0 &&
           memmem(f.payload, f.payload_len, "STREAM_EXISTS", 13) != NULL,
       "its name taken: BAD_POLICY saying STREAM_EXISTS (%.*s)", (int)f.payload_len, (const char *)f.payload);
    sub_durable(&m2, 3, "orders.new.>", "audit", 10, NULL);
    ok(no_err(&m2) && members(&adm, "orders", "audit", 1), "the same sid joins without a dead-letter topic");

    /* UNSUB while waiting: nothing answers it afterwards, and the sid is free again. */
    {
        struct wire_out u = {.type = WIRE_UNSUB, .id = 4};

        sub_durable(&m2, 4, "orders.new.>", "refunds", 10, (const char *const[]){"trpc-dlq=refunds.dead", NULL});
        if (tc_send(&m2, &u) != 0)
            BAIL_OUT("send UNSUB");
        ok(no_err(&m2), "UNSUB right after: no ERR comes");
        sub_durable(&m2, 4, "orders.new.>", "refunds2", 10, NULL);
        ok(no_err(&m2) && members(&adm, "orders", "refunds2", 1), "the sid is free again");
    }

    /* A member that leaves while it waits. */
    itest_connect(&m3, &b, 0);
    sub_durable(&m3, 1, "orders.new.>", "gone", 10, (const char *const[]){"trpc-dlq=gone.dead", NULL});
    tc_close(&m3);
    ok(made(&adm, "dlq-gone_dead") && stream_num(&adm, "dlq-gone_dead", "last_seq") == 0, "its stream is made all the same, empty");

    /* The streams made are stored like any other. */
    tc_close(&m1);
    tc_close(&m2);
    tc_close(&adm);
    tc_close(&pub);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    itest_connect(&adm, &b, 0);
    ok(stream_num(&adm, "dlq-orders_dead", "last_seq") == 1, "after a restart: dlq-orders_dead with its dead letter");
    ok(stream_num(&adm, "dlq-ship_dead", "last_seq") == 0 && stream_num(&adm, "dlq-refunds_dead", "last_seq") == 0 &&
           stream_num(&adm, "dlq-gone_dead", "last_seq") == 0 && streams_named_like(&adm, "dlq-") == 5,
       "and the others made (and dlq-taken)");
    /* Stopping while streams are being made for SUBs that wait: a clean exit all the same. */
    itest_connect(&m3, &b, 0);
    for (int i = 0; i < 4; i++) {
        char h[64];

        snprintf(h, sizeof(h), "trpc-dlq=stop.dead%d", i);
        sub_durable(&m3, (uint64_t)i + 1, "orders.new.>", "stopping", 10, (const char *const[]){h, NULL});
    }
    tc_close(&adm);
    itest_stop(&b);
    tc_close(&m3);
    return done_testing();
}
