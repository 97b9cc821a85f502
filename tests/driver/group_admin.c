/*
 * Consumer groups declared, inspected, reset and deleted through the admin API (group.add,
 * group.info, group.reset, group.delete): a group declared with a policy before any member exists
 * delivers with that policy to a member that sends none (its dead letters included); declaring
 * again is idempotent, another definition is refused; a start or a reset by time picks the first
 * message stored at or after it (also as a SUB's trpc-start time:T); a reset forgets what was
 * pending and reads again; everything survives kill -9, and a deleted group stays deleted.
 */
#include <stdlib.h>
#include <time.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define BATCH 10

struct seen {
    pthread_mutex_t lock;
    int msgs, redelivered;
    uint64_t first, last;
    bool nack_seq3; /* NACK sequence 3, every time */
};

static struct seen billing = {.lock = PTHREAD_MUTEX_INITIALIZER, .nack_seq3 = true};
static struct seen late = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    struct seen *s = ud;
    uint64_t seq = trpc_msg_seq(m);
    bool nack;

    (void)c;
    (void)sub;
    pthread_mutex_lock(&s->lock);
    s->msgs++;
    s->redelivered += trpc_msg_delivery(m) > 1;
    if (s->first == 0 || seq < s->first)
        s->first = seq;
    if (seq > s->last)
        s->last = seq;
    nack = s->nack_seq3 && seq == 3;
    pthread_mutex_unlock(&s->lock);
    if (nack)
        trpc_nack(m, 0);
    else
        trpc_ack(m);
    trpc_msg_free(m);
}

static int count(struct seen *s)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = s->msgs;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void reset_seen(struct seen *s)
{
    pthread_mutex_lock(&s->lock);
    s->msgs = s->redelivered = 0;
    s->first = s->last = 0;
    pthread_mutex_unlock(&s->lock);
}

struct want {
    struct seen *s;
    int n;
};

static bool reached(void *arg)
{
    struct want *w = arg;

    return count(w->s) >= w->n;
}

static void publish_batch(trpc_client *c, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t seq;

        if (trpc_publish_sync(c, "orders.new", NULL, 0, "m", 1, 5000, &seq) != 0)
            BAIL_OUT("publish: %s", trpc_last_error());
    }
}

/* RFC 3339 of now, to the millisecond. */
static void now_rfc3339(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + strlen(buf), len - strlen(buf), ".%03ldZ", ts.tv_nsec / 1000000);
}

static json_t *group(trpc_client *c, const char *name)
{
    return adminc_group(c, "orders", name);
}

static const char *BILLING = "{\"stream\": \"orders\", \"name\": \"billing\", \"max_deliveries\": 2, \"ack_wait_ms\": 60000, "
                             "\"backoff\": \"20,2,100,0.5\", \"dlq\": \"dlq.orders\"}";

int main(void)
{
    struct broker_proc b;
    trpc_client *c, *m;
    trpc_sub *sub, *sub2;
    struct want w;
    char code[64], t_mid[64], doc[256];
    json_t *j, *g, *made;

    plan(37);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);
    adminc_stream_add(c, "{\"name\": \"orders\", \"subjects\": [\"orders.>\"]}");
    adminc_stream_add(c, "{\"name\": \"dead\", \"subjects\": [\"dlq.>\"]}");

    /* Declaring. */
    j = adminc_call(c, "group.add", BILLING);
    g = json_object_get(j, "group");
    ok(adminc_ok(j) && json_is_true(json_object_get(j, "created")) && adminc_int(g, "max_deliveries") == 2 &&
           adminc_int(g, "ack_wait_ms") == 60000 && strcmp(json_string_value(json_object_get(g, "backoff")), "20,2,100,0.5") == 0 &&
           strcmp(json_string_value(json_object_get(g, "dlq")), "dlq.orders") == 0 &&
           strcmp(json_string_value(json_object_get(g, "pattern")), "orders.>") == 0,
       "group.add declares billing with its policy, on the stream's only subject");
    json_decref(j);
    j = adminc_call(c, "group.add", BILLING);
    ok(adminc_ok(j) && json_is_false(json_object_get(j, "created")), "the same declaration again: created false");
    json_decref(j);
    ok(strcmp(adminc_code(c, "group.add", "{\"stream\": \"orders\", \"name\": \"billing\", \"max_deliveries\": 3}", code,
                          sizeof(code)),
              "GROUP_EXISTS") == 0,
       "another definition: GROUP_EXISTS");
    ok(strcmp(adminc_code(c, "group.add", "{\"stream\": \"nope\", \"name\": \"x\"}", code, sizeof(code)), "NOT_FOUND") == 0,
       "no stream: NOT_FOUND");
    ok(strcmp(
           adminc_code(c, "group.add", "{\"stream\": \"orders\", \"name\": \"x\", \"start\": \"yesterday\"}", code, sizeof(code)),
           "BAD_REQUEST") == 0,
       "a start that is not all, new, seq:N or time:T: BAD_REQUEST");
    ok(strcmp(
           adminc_code(c, "group.add", "{\"stream\": \"orders\", \"name\": \"x\", \"pattern\": \"other.>\"}", code, sizeof(code)),
           "BAD_REQUEST") == 0,
       "a pattern the stream does not cover: BAD_REQUEST");
    j = adminc_call(c, "group.add", "{\"stream\": \"orders\", \"name\": \"xd\", \"dlq\": \"nowhere.x\"}");
    made = adminc_stream(c, "dlq-nowhere_x");
    ok(adminc_ok(j) && json_is_true(json_object_get(j, "created")) && made != NULL &&
           strcmp(json_string_value(json_array_get(json_object_get(made, "subjects"), 0)), "nowhere.x") == 0,
       "a dead-letter topic no stream covers: the group is made with stream dlq-nowhere_x for it");
    json_decref(made);
    json_decref(j);
    adminc_stream_add(c, "{\"name\": \"dlq-taken\", \"subjects\": [\"elsewhere.y\"]}");
    j = adminc_call(c, "group.add", "{\"stream\": \"orders\", \"name\": \"yd\", \"dlq\": \"taken\"}");
    ok(strcmp(adminc_err_code(j), "STREAM_EXISTS") == 0 &&
           strstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")), "dlq-taken") != NULL,
       "the name of the stream to make is taken: STREAM_EXISTS, naming it");
    json_decref(j);
    ok(strcmp(adminc_code(c, "group.add", "{\"stream\": \"orders\", \"name\": \"x\", \"max_deliverie\": 3}", code, sizeof(code)),
              "BAD_REQUEST") == 0,
       "a misspelt key: BAD_REQUEST");
    ok(strcmp(adminc_code(c, "group.add", "{\"stream\": \"orders\", \"name\": \"bad name\"}", code, sizeof(code)), "BAD_REQUEST") ==
           0,
       "a name with a blank: BAD_REQUEST");
    ok(strcmp(adminc_code(c, "group.info", "{\"stream\": \"orders\", \"name\": \"x\"}", code, sizeof(code)), "NOT_FOUND") == 0,
       "group.info of no group: NOT_FOUND");
    ok(strcmp(adminc_code(c, "group.reset",
                          "{\"stream\": \"orders\", \"name\": \"billing\", \"seq\": 1, \"time\": \"2026-01-01T00:00:00Z\"}", code,
                          sizeof(code)),
              "BAD_REQUEST") == 0,
       "group.reset with both seq and time: BAD_REQUEST");
    ok(strcmp(adminc_code(c, "group.reset", "{\"stream\": \"orders\", \"name\": \"billing\", \"seq\": 99}", code, sizeof(code)),
              "BAD_REQUEST") == 0,
       "group.reset past the stream's end: BAD_REQUEST");

    /* The declared policy applies to a member that sends none: sequence 3 is NACKed each time and
     * after 2 deliveries goes to the dead-letter stream. */
    publish_batch(c, BATCH);
    usleep(1100000); /* the time between the batches has whole seconds on either side */
    now_rfc3339(t_mid, sizeof(t_mid));
    usleep(100000);
    publish_batch(c, BATCH);
    m = connect_or_bail(&b, NULL);
    if (trpc_subscribe_durable(m, "orders.>", "billing", 64, NULL, 0, on_msg, &billing, &sub) != 0 || trpc_flush(m, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    w = (struct want){&billing, 2 * BATCH + 1};
    ok(wait_for(reached, &w, 10000), "the member gets the %d messages, and sequence 3 once more", 2 * BATCH);
    {
        json_t *st = NULL;
        long long dead = -1;

        for (int i = 0; i < 100 && dead != 1; i++) {
            usleep(50000);
            json_decref(st);
            st = adminc_stream(c, "dead");
            dead = adminc_int(st, "messages");
        }
        json_decref(st);
        ok(dead == 1, "sequence 3 is dead-lettered after max_deliveries 2 (the declared policy)");
    }
    g = group(c, "billing");
    ok(adminc_int(g, "members") == 1 && adminc_int(g, "next_seq") == 2 * BATCH + 1 && adminc_int(g, "pending") == 0 &&
           adminc_int(g, "dead") == 1 && adminc_int(g, "acked") == 2 * BATCH - 1 && adminc_int(g, "lag") == 0,
       "group.info: 1 member, next_seq %d, nothing pending, 1 dead, %d acked", 2 * BATCH + 1, 2 * BATCH - 1);
    json_decref(g);

    /* A member with its own, other policy is refused; one with the same is taken. */
    {
        static const trpc_header other[] = {{"trpc-max-deliveries", "5", 1}};

        ok(trpc_subscribe_durable(m, "orders.>", "billing", 8, other, 1, on_msg, &billing, &sub2) == 0 && trpc_flush(m, 5000) == 0,
           "a SUB with another max-deliveries is sent");
        usleep(300000);
        g = group(c, "billing");
        ok(adminc_int(g, "members") == 1, "and refused (BAD_POLICY): still 1 member");
        json_decref(g);
    }

    /* Reset by sequence: what follows is delivered again, as new deliveries. */
    reset_seen(&billing);
    pthread_mutex_lock(&billing.lock);
    billing.nack_seq3 = false;
    pthread_mutex_unlock(&billing.lock);
    j = adminc_call(c, "group.reset", "{\"stream\": \"orders\", \"name\": \"billing\", \"seq\": 5}");
    ok(adminc_ok(j) && adminc_int(json_object_get(j, "group"), "next_seq") >= 5 && adminc_int(j, "dropped") == 0,
       "group.reset to sequence 5");
    json_decref(j);
    w = (struct want){&billing, 2 * BATCH - 4};
    ok(wait_for(reached, &w, 10000), "sequences 5 to %d come again", 2 * BATCH);
    usleep(200000);
    pthread_mutex_lock(&billing.lock);
    ok(billing.first == 5 && billing.last == 2 * BATCH && billing.msgs == 2 * BATCH - 4 && billing.redelivered == 0,
       "exactly those, first delivery each (got %d, %llu..%llu, %d redelivered)", billing.msgs, (unsigned long long)billing.first,
       (unsigned long long)billing.last, billing.redelivered);
    pthread_mutex_unlock(&billing.lock);

    /* Reset by time: from the second batch. */
    reset_seen(&billing);
    snprintf(doc, sizeof(doc), "{\"stream\": \"orders\", \"name\": \"billing\", \"time\": \"%s\"}", t_mid);
    j = adminc_call(c, "group.reset", doc);
    ok(adminc_ok(j) && adminc_int(json_object_get(j, "group"), "next_seq") == BATCH + 1, "group.reset to %s: sequence %d", t_mid,
       BATCH + 1);
    json_decref(j);
    w = (struct want){&billing, BATCH};
    ok(wait_for(reached, &w, 10000), "the second batch comes again");

    /* Start by time: declared, and by a SUB's trpc-start. */
    snprintf(doc, sizeof(doc), "{\"stream\": \"orders\", \"name\": \"late\", \"start\": \"time:%s\"}", t_mid);
    j = adminc_call(c, "group.add", doc);
    ok(adminc_ok(j) && adminc_int(json_object_get(j, "group"), "next_seq") == BATCH + 1,
       "group.add with start time:T starts at the first message stored after T");
    json_decref(j);
    {
        char start[80];
        trpc_header h[] = {{"trpc-start", start, 0}};
        trpc_sub *s3;

        snprintf(start, sizeof(start), "time:%s", t_mid);
        h[0].value_len = strlen(start);
        if (trpc_subscribe_durable(m, "orders.>", "late2", 64, h, 1, on_msg, &late, &s3) != 0 || trpc_flush(m, 5000) != 0)
            BAIL_OUT("subscribe late2: %s", trpc_last_error());
        w = (struct want){&late, BATCH};
        ok(wait_for(reached, &w, 10000), "a SUB with trpc-start time:T gets the second batch");
        usleep(200000);
        pthread_mutex_lock(&late.lock);
        ok(late.msgs == BATCH && late.first == BATCH + 1, "and only it (%d from %llu)", late.msgs, (unsigned long long)late.first);
        pthread_mutex_unlock(&late.lock);
    }
    j = adminc_call(c, "group.add", "{\"stream\": \"orders\", \"name\": \"future\", \"start\": \"time:2100-01-01T00:00:00Z\"}");
    ok(adminc_ok(j) && adminc_int(json_object_get(j, "group"), "next_seq") == 2 * BATCH + 1,
       "a start time after every message: the stream's end");
    json_decref(j);

    /* Deleting: the member's subscription ends; the group is gone. */
    j = adminc_call(c, "group.delete", "{\"stream\": \"orders\", \"name\": \"late2\"}");
    ok(adminc_ok(j) && strcmp(json_string_value(json_object_get(json_object_get(j, "group"), "name")), "late2") == 0,
       "group.delete late2 (with a member)");
    json_decref(j);
    ok(strcmp(adminc_code(c, "group.info", "{\"stream\": \"orders\", \"name\": \"late2\"}", code, sizeof(code)), "NOT_FOUND") == 0,
       "late2 is gone");
    ok(strcmp(adminc_code(c, "group.delete", "{\"stream\": \"orders\", \"name\": \"late2\"}", code, sizeof(code)), "NOT_FOUND") ==
           0,
       "deleting it again: NOT_FOUND");
    for (int i = 0; i < 3; i++) {
        snprintf(doc, sizeof(doc), "{\"stream\": \"orders\", \"name\": \"g%d\"}", i);
        json_decref(adminc_call(c, "group.add", doc));
    }
    ok(strcmp(adminc_code(c, "group.add", "{\"stream\": \"orders\", \"name\": \"g9\"}", code, sizeof(code)), "LIMIT") == 0,
       "a seventh group: LIMIT");
    j = adminc_call(c, "group.reset", "{\"stream\": \"orders\", \"name\": \"g0\", \"seq\": 7}");
    json_decref(j);

    /* kill -9: definitions, the reset and the deletion are all in the group log. */
    trpc_close(m);
    trpc_close(c);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    c = connect_or_bail(&b, NULL);
    g = group(c, "billing");
    ok(g != NULL && adminc_int(g, "max_deliveries") == 2 &&
           strcmp(json_string_value(json_object_get(g, "backoff")), "20,2,100,0.5") == 0,
       "after kill -9: billing with its policy");
    json_decref(g);
    g = group(c, "g0");
    ok(g != NULL && adminc_int(g, "next_seq") == 7, "g0, declared and reset to 7 with no member ever, is at 7");
    json_decref(g);
    g = group(c, "late2");
    ok(g == NULL, "late2 stays deleted");
    json_decref(g);
    g = group(c, "future");
    ok(g != NULL && adminc_int(g, "next_seq") == 2 * BATCH + 1, "future is at the stream's end");
    json_decref(g);
    j = adminc_call(c, "group.list", "{\"stream\": \"orders\"}");
    ok(adminc_ok(j) && json_array_size(json_object_get(j, "groups")) == 6, "group.list: the 6 groups");
    json_decref(j);
    ok(broker_proc_log_count(&b, "not recorded") == 0, "nothing went unrecorded");
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
