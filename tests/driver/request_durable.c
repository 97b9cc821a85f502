/*
 * trpc_request_durable (docs/protocol.md section 7.1): served at once by a queue-group responder
 * when there is one (nothing stored); otherwise stored in the stream covering its topic until a
 * consumer group's member takes it, whose trpc_respond() answers the requester and acknowledges
 * the message. Past its deadline the requester gets TIMEOUT and the broker drops the request
 * undelivered; a requester that went leaves its request to be served all the same, the answer
 * going nowhere; a request stored before a kill -9 is served after the restart. Refusals: no stream
 * (NO_STREAM), a full stream (STREAM_FULL, with the stream's reason).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

static struct {
    pthread_mutex_t lock;
    int served, bad, respond_err;
    char last[64];
    char names[64][64]; /* each payload served (at least once is the promise: a redelivery may repeat one) */
    int nnames;
} worker = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* A member of consumer group "workers": answers "done:<payload>". */
static void on_job(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    char reply[80];
    uint32_t left = trpc_msg_deadline_ms(m);
    int n, err;

    (void)c;
    (void)sub;
    (void)ud;
    n = snprintf(reply, sizeof(reply), "done:%.*s", (int)(trpc_msg_len(m) < 60 ? trpc_msg_len(m) : 60),
                 (const char *)trpc_msg_data(m));
    err = trpc_respond(m, reply, (size_t)n);
    pthread_mutex_lock(&worker.lock);
    worker.served++;
    worker.bad += !trpc_msg_is_request(m) || left == 0 || left > 20000 || trpc_msg_seq(m) == 0;
    worker.respond_err += err != 0;
    snprintf(worker.last, sizeof(worker.last), "%.*s", (int)(trpc_msg_len(m) < 60 ? trpc_msg_len(m) : 60),
             (const char *)trpc_msg_data(m));
    if (worker.nnames < 64)
        snprintf(worker.names[worker.nnames++], sizeof(worker.names[0]), "%s", worker.last);
    pthread_mutex_unlock(&worker.lock);
    trpc_msg_free(m);
}

static atomic_int termed;

/* A member of group "t" on stream tasks: gives up on every message (TERM: a dead letter). */
static void on_task(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    trpc_term(m, "cannot do it");
    atomic_fetch_add(&termed, 1);
    trpc_msg_free(m);
}

static void on_plain(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    trpc_respond(m, "plain", 5);
    trpc_msg_free(m);
}

/* How often the request with payload `name` was served. */
static int times_served(const char *name)
{
    int n = 0;

    pthread_mutex_lock(&worker.lock);
    for (int i = 0; i < worker.nnames; i++)
        n += strcmp(worker.names[i], name) == 0;
    pthread_mutex_unlock(&worker.lock);
    return n;
}

static bool was_served(void *arg)
{
    return times_served(arg) > 0;
}

static bool all_good(void)
{
    bool good;

    pthread_mutex_lock(&worker.lock);
    good = worker.bad == 0 && worker.respond_err == 0;
    pthread_mutex_unlock(&worker.lock);
    return good;
}

struct stream_want {
    trpc_client *c;
    const char *stream, *key;
    long long n;
};

static bool stream_is(void *arg)
{
    struct stream_want *w = arg;
    json_t *st = adminc_stream(w->c, w->stream);
    bool done = adminc_int(st, w->key) == w->n;

    json_decref(st);
    return done;
}

static long long group_int(trpc_client *c, const char *key)
{
    json_t *j = adminc_call(c, "group.info", "{\"stream\": \"jobs\", \"name\": \"workers\"}");
    long long v = adminc_int(json_object_get(j, "group"), key);

    json_decref(j);
    return v;
}

struct group_want {
    trpc_client *c;
    const char *key;
    long long n;
};

static bool group_is(void *arg)
{
    struct group_want *w = arg;

    return group_int(w->c, w->key) == w->n;
}

static trpc_sub *join(trpc_client *m)
{
    trpc_sub *sub;

    if (trpc_subscribe_durable(m, "jobs.>", "workers", 8, NULL, 0, on_job, NULL, &sub) != 0 || trpc_flush(m, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    return sub;
}

static void leave(trpc_client *m, trpc_sub *sub)
{
    trpc_sub_destroy(sub);
    if (trpc_flush(m, 5000) != 0)
        BAIL_OUT("flush: %s", trpc_last_error());
    usleep(100000); /* every core has seen the member go */
}

int main(void)
{
    struct broker_proc b;
    trpc_client *c, *m, *r2;
    trpc_sub *sub, *plain;
    trpc_msg *reply = NULL;
    struct reply_box box = REPLY_BOX_INIT, box2 = REPLY_BOX_INIT, box3 = REPLY_BOX_INIT;
    struct stream_want sw;
    struct group_want gw;
    int err;

    plan(25);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);
    m = connect_or_bail(&b, NULL);

    err = trpc_request_durable(c, "misc.a", NULL, 0, "x", 1, 2000, &reply);
    ok(err == -TRPC_E_NO_STREAM, "no responder and no stream covering the topic: NO_STREAM (%s)", trpc_strerror(err));
    adminc_stream_add(c, "{\"name\": \"jobs\", \"subjects\": [\"jobs.>\"]}");

    /* A queue-group responder answers as for any request: nothing is stored. */
    if (trpc_subscribe_group(m, "jobs.>", "svc", on_plain, NULL, &plain) != 0 || trpc_flush(m, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    err = trpc_request_durable(c, "jobs.a", NULL, 0, "a", 1, 5000, &reply);
    ok(err == 0 && trpc_msg_len(reply) == 5 && memcmp(trpc_msg_data(reply), "plain", 5) == 0,
       "with a queue-group responder it is answered at once (%s)", trpc_strerror(err));
    trpc_msg_free(reply);
    reply = NULL;
    sw = (struct stream_want){c, "jobs", "messages", 0};
    ok(stream_is(&sw), "and nothing is stored");
    leave(m, plain);

    /* No responder: stored until a member of the group comes. */
    ok(trpc_request_durable_async(c, "jobs.b", NULL, 0, "b", 1, 15000, reply_box_cb, &box) == 0, "a durable request, nobody there");
    sw = (struct stream_want){c, "jobs", "messages", 1};
    ok(wait_for(stream_is, &sw, 5000), "it is stored in stream jobs");
    usleep(200000);
    ok(reply_box_wait(&box, 0) == 0, "and the requester waits");
    sub = join(m);
    ok(reply_box_wait(&box, 10000) == 1 && box.err == 0 && strcmp(box.data, "done:b") == 0,
       "a member that joins answers it: '%s' (%s)", box.data, trpc_strerror(box.err));
    ok(all_good(), "the member saw a request with a deadline and a sequence, and its trpc_respond() worked");
    gw = (struct group_want){c, "acked", 1};
    ok(wait_for(group_is, &gw, 5000) && group_int(c, "pending") == 0, "trpc_respond() acknowledged it: 1 acked, none pending");
    err = trpc_request_durable(c, "jobs.c", NULL, 0, "c", 1, 5000, &reply);
    ok(err == 0 && strcmp((const char *)trpc_msg_data(reply), "done:c") == 0,
       "with the member there, the next one is served through the stream too (%s)", trpc_strerror(err));
    trpc_msg_free(reply);
    reply = NULL;

    /* Past its deadline: TIMEOUT, and the member never sees it. */
    leave(m, sub);
    err = trpc_request_durable(c, "jobs.late", NULL, 0, "late", 4, 300, &reply);
    ok(err == -TRPC_E_TIMEOUT, "with no member for 300 ms: TIMEOUT (%s)", trpc_strerror(err));
    sub = join(m);
    gw = (struct group_want){c, "expired", 1};
    ok(wait_for(group_is, &gw, 5000) && times_served("late") == 0,
       "the member that joins later does not get it: group.info expired 1 (expired %lld, served %d)", group_int(c, "expired"),
       times_served("late"));

    /* A requester that went: its request is still served, the answer goes nowhere. */
    leave(m, sub);
    r2 = connect_or_bail(&b, NULL);
    sw = (struct stream_want){c, "jobs", "last_seq", 4};
    ok(trpc_request_durable_async(r2, "jobs.d", NULL, 0, "d", 1, 15000, reply_box_cb, &box2) == 0 && wait_for(stream_is, &sw, 5000),
       "a durable request of another client is stored");
    trpc_close(r2);
    ok(reply_box_wait(&box2, 0) == 1 && box2.err == -TRPC_E_CLOSED, "its client closes: CLOSED (%s)", trpc_strerror(box2.err));
    sub = join(m);
    ok(wait_for(was_served, "d", 5000), "a member still serves it");
    gw = (struct group_want){c, "pending", 0};
    ok(wait_for(group_is, &gw, 5000), "and acknowledges it: nothing pending");
    err = trpc_request_durable(c, "jobs.e", NULL, 0, "e", 1, 5000, &reply);
    ok(err == 0 && strcmp((const char *)trpc_msg_data(reply), "done:e") == 0, "the member goes on serving (%s)",
       trpc_strerror(err));
    trpc_msg_free(reply);
    reply = NULL;

    /* Stored before a kill -9: served after the restart. */
    leave(m, sub);
    trpc_close(m);
    ok(trpc_request_durable_async(c, "jobs.f", NULL, 0, "f", 1, 30000, reply_box_cb, &box3) == 0, "one more, stored");
    sw = (struct stream_want){c, "jobs", "last_seq", 6};
    ok(wait_for(stream_is, &sw, 5000), "and on disk");
    trpc_close(c);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    m = connect_or_bail(&b, NULL);
    sub = join(m);
    ok(wait_for(was_served, "f", 10000), "after kill -9 and a restart a member serves it");

    /* Keys starting with ':' are the protocol's: libtrpc sends none of its caller's. */
    {
        static const trpc_header forged[] = {{":trpc-reply", "00000000000000010000000000000001", 32}};

        c = connect_or_bail(&b, NULL);
        err = trpc_request_durable(c, "jobs.g", forged, 1, "g", 1, 5000, &reply);
        ok(err == -TRPC_E_BAD_HEADER, "a request with a :trpc-reply header of its own is refused by libtrpc (%s)",
           trpc_strerror(err));
    }

    /* Dead-lettered and redriven past its deadline: still a durable request, dropped undelivered. */
    {
        static const trpc_header pol[] = {{"trpc-max-deliveries", "1", 1}, {"trpc-dlq", "dead.tasks", 10}};
        trpc_sub *ts;
        json_t *j;

        adminc_stream_add(c, "{\"name\": \"tasks\", \"subjects\": [\"tasks.>\"]}");
        adminc_stream_add(c, "{\"name\": \"taskdead\", \"subjects\": [\"dead.tasks\"]}");
        if (trpc_subscribe_durable(m, "tasks.>", "t", 8, pol, 2, on_task, NULL, &ts) != 0 || trpc_flush(m, 5000) != 0)
            BAIL_OUT("subscribe: %s", trpc_last_error());
        err = trpc_request_durable(c, "tasks.a", NULL, 0, "a", 1, 600, &reply);
        sw = (struct stream_want){c, "taskdead", "messages", 1};
        ok(err == -TRPC_E_TIMEOUT && atomic_load(&termed) == 1 && wait_for(stream_is, &sw, 5000),
           "a member TERMs a durable request: the requester times out, the request is a dead letter (%s)", trpc_strerror(err));
        j = adminc_call(c, "dlq.redrive", "{\"stream\": \"taskdead\", \"all\": true}");
        ok(adminc_int(j, "redriven") == 1, "redriven after its deadline");
        json_decref(j);
        {
            json_t *g = NULL;
            long long expired = 0;

            for (int i = 0; i < 100 && expired != 1; i++) {
                usleep(50000);
                json_decref(g);
                g = adminc_call(c, "group.info", "{\"stream\": \"tasks\", \"name\": \"t\"}");
                expired = adminc_int(json_object_get(g, "group"), "expired");
            }
            json_decref(g);
            ok(expired == 1 && atomic_load(&termed) == 1, "the group drops it undelivered: expired 1, the member saw it once");
        }
        trpc_sub_destroy(ts);
    }

    /* A full stream refuses it with its reason. */
    adminc_stream_add(c, "{\"name\": \"tiny\", \"subjects\": [\"tiny.>\"], \"max_msgs\": 1, \"discard\": \"new\"}");
    if (trpc_publish_sync(c, "tiny.x", NULL, 0, "x", 1, 5000, NULL) != 0)
        BAIL_OUT("publish: %s", trpc_last_error());
    err = trpc_request_durable(c, "tiny.y", NULL, 0, "y", 1, 2000, &reply);
    ok(err == -TRPC_E_STREAM_FULL && strstr(trpc_last_error(), "max_msgs") != NULL, "a full stream: STREAM_FULL (%s)",
       trpc_last_error());
    trpc_close(c);
    trpc_close(m);
    broker_proc_stop(&b);
    return done_testing();
}
