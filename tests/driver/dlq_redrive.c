/*
 * Dead letters through the admin API: dlq.list shows each with where it came from and why it
 * failed (NACKs out of attempts, TERM with its reason), filtered by reason and paged; dlq.redrive
 * publishes one, those of a reason, or all, again on their origin topic (their own headers and
 * payload, not the trpc-dlq-* ones), where the consumer group gets them as new messages, and
 * removes them from the dead-letter stream, so that a second redrive finds nothing, also after
 * kill -9. dlq.purge deletes one, those of a reason, or all (trpcctl dlq purge too). A message of
 * the dead-letter stream that is not a dead letter is skipped and said so.
 */
#include <stdlib.h>
#include <sys/wait.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define N 10

static struct {
    pthread_mutex_t lock;
    bool settle; /* false: NACK 1..5, TERM 6..10; true: ACK */
    int first, again, bad_headers;
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    size_t nh = trpc_msg_header_count(m);
    bool settle, key = false, dlq = false;
    char body[16];
    int i;

    (void)c;
    (void)sub;
    (void)ud;
    snprintf(body, sizeof(body), "%.*s", (int)(trpc_msg_len(m) < 15 ? trpc_msg_len(m) : 15), (const char *)trpc_msg_data(m));
    i = atoi(body + 1);
    for (size_t k = 0; k < nh; k++) {
        const char *hk;
        const void *hv;
        size_t hl;

        if (!trpc_msg_header_at(m, k, &hk, &hv, &hl))
            continue;
        key = key || (strcmp(hk, "x-key") == 0 && hl == 1 && ((const char *)hv)[0] == '0' + i % 10);
        dlq = dlq || strncmp(hk, "trpc-dlq-", 9) == 0;
    }
    pthread_mutex_lock(&seen.lock);
    settle = seen.settle;
    if (settle) {
        seen.again++;
        seen.bad_headers += !key || dlq;
    } else {
        seen.first++;
    }
    pthread_mutex_unlock(&seen.lock);
    if (settle)
        trpc_ack(m);
    else if (i <= N / 2)
        trpc_nack(m, 0);
    else
        trpc_term(m, "bad input");
    trpc_msg_free(m);
}

static long long dead_messages(trpc_client *c)
{
    json_t *st = adminc_stream(c, "dead");
    long long n = adminc_int(st, "messages");

    json_decref(st);
    return n;
}

/* n messages stored and durable: "messages" counts an append at once, dlq.list reads only what is
 * durable ("last_seq"), and the dead-letter stream's sequences start at 1. */
static bool dead_n(void *arg)
{
    struct {
        trpc_client *c;
        long long n;
    } *w = arg;
    json_t *st = adminc_stream(w->c, "dead");
    bool done = adminc_int(st, "messages") == w->n && adminc_int(st, "last_seq") == w->n;

    json_decref(st);
    return done;
}

static int again(void)
{
    int n;

    pthread_mutex_lock(&seen.lock);
    n = seen.again;
    pthread_mutex_unlock(&seen.lock);
    return n;
}

static bool again_n(void *arg)
{
    return again() >= *(int *)arg;
}

/* Runs trpcctl ARGS against b; its output (stdout and stderr) into out, its exit status. */
static int ctl(const struct broker_proc *b, const char *args, char *out, size_t len)
{
    const char *top = getenv("top_builddir");
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "%s/ctl/trpcctl --url %s %s 2>&1", top != NULL ? top : ".", b->url, args);
    return run_capture(cmd, out, len);
}

/* The sum of the first numbers of the lines holding "what" (trpcctl dlq redrive's lines). */
static long sum_of(const char *out, const char *what)
{
    long sum = 0;

    for (const char *at = strstr(out, what); at != NULL; at = strstr(at + 1, what)) {
        const char *p = at;

        while (p > out && p[-1] != ' ' && p[-1] != '\n')
            p--;
        sum += strtol(p, NULL, 10);
    }
    return sum;
}

static json_t *call_ok(trpc_client *c, const char *verb, const char *doc)
{
    json_t *j = adminc_call(c, verb, doc);

    if (!adminc_ok(j))
        diag("%s %s: %s", verb, doc, adminc_err_code(j));
    return j;
}

int main(void)
{
    static const trpc_header policy[] = {{"trpc-max-deliveries", "1", 1}, {"trpc-dlq", "dlq.orders", 10}};
    struct broker_proc b;
    trpc_client *c, *m;
    trpc_sub *sub;
    json_t *j, *list, *e;
    struct {
        trpc_client *c;
        long long n;
    } w;
    char doc[256];
    int want;
    size_t i;
    long long first_dead;

    plan(29);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);
    adminc_stream_add(c, "{\"name\": \"orders\", \"subjects\": [\"orders.>\"]}");
    /* Room for exactly the 10 dead letters: once redriven, they must not count against it. */
    adminc_stream_add(c, "{\"name\": \"dead\", \"subjects\": [\"dlq.>\"], \"max_msgs\": 10, \"discard\": \"new\"}");
    m = connect_or_bail(&b, NULL);
    if (trpc_subscribe_durable(m, "orders.>", "billing", 64, policy, 2, on_msg, NULL, &sub) != 0 || trpc_flush(m, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    usleep(100000);
    for (int k = 1; k <= N; k++) {
        char key[2] = {(char)('0' + k % 10), 0}, body[8];
        /* Forged trpc-dlq-* headers: the broker's own must win (listed, and redriven by). */
        trpc_header h[] = {{"x-key", key, 1},
                           {"trpc-dlq-topic", "forged.x", 8},
                           {"trpc-dlq-reason", "forged", 6},
                           {"trpc-dlq-term-reason", "forged", 6}};
        uint64_t seq;

        snprintf(body, sizeof(body), "m%d", k);
        if (trpc_publish_sync(c, "orders.x", h, 4, body, strlen(body), 5000, &seq) != 0)
            BAIL_OUT("publish: %s", trpc_last_error());
    }
    w.c = c;
    w.n = N;
    ok(wait_for(dead_n, &w, 10000), "the %d messages are dead letters (5 NACKed out of attempts, 5 TERMed)", N);

    /* Listing. */
    j = call_ok(c, "dlq.list", "{\"stream\": \"dead\"}");
    list = json_object_get(j, "messages");
    ok(adminc_ok(j) && json_array_size(list) == N && json_is_false(json_object_get(j, "more")), "dlq.list: %d messages", N);
    e = json_array_get(list, 0);
    first_dead = adminc_int(e, "seq");
    ok(e != NULL && strcmp(json_string_value(json_object_get(e, "origin_topic")), "orders.x") == 0 &&
           strcmp(json_string_value(json_object_get(e, "origin_stream")), "orders") == 0 &&
           strcmp(json_string_value(json_object_get(e, "group")), "billing") == 0 &&
           strcmp(json_string_value(json_object_get(e, "deliveries")), "1") == 0 &&
           strcmp(json_string_value(json_object_get(e, "topic")), "dlq.orders") == 0 &&
           json_string_value(json_object_get(e, "payload")) != NULL && json_string_value(json_object_get(e, "payload"))[0] == 'm' &&
           json_is_array(json_object_get(e, "headers")),
       "each with its origin topic, stream, group, deliveries, topic and payload");
    {
        int nack = 0, term = 0, term_reason = 0, forged = 0;

        json_array_foreach(list, i, e)
        {
            const char *r = json_string_value(json_object_get(e, "reason"));
            const char *t = json_string_value(json_object_get(e, "term_reason"));

            nack += r != NULL && strcmp(r, "nack") == 0;
            term += r != NULL && strcmp(r, "term") == 0;
            term_reason += t != NULL && strcmp(t, "bad input") == 0;
            forged += t != NULL && strcmp(t, "forged") == 0;
        }
        ok(nack == N / 2 && term == N / 2 && term_reason == N / 2 && forged == 0,
           "reasons: %d nack, %d term with \"bad input\", none the publisher's forged ones (%d)", nack, term, forged);
    }
    json_decref(j);
    j = call_ok(c, "dlq.list", "{\"stream\": \"dead\", \"reason\": \"term\"}");
    ok(json_array_size(json_object_get(j, "messages")) == N / 2, "dlq.list by reason term: %d", N / 2);
    json_decref(j);
    j = call_ok(c, "dlq.list", "{\"stream\": \"dead\", \"limit\": 3}");
    ok(json_array_size(json_object_get(j, "messages")) == 3 && json_is_true(json_object_get(j, "more")) &&
           adminc_int(j, "next_seq") == first_dead + 3,
       "dlq.list limit 3: 3, more, next_seq after them");
    snprintf(doc, sizeof(doc), "{\"stream\": \"dead\", \"from\": %lld}", adminc_int(j, "next_seq"));
    json_decref(j);
    j = call_ok(c, "dlq.list", doc);
    ok(json_array_size(json_object_get(j, "messages")) == N - 3, "and from there, the other %d", N - 3);
    json_decref(j);

    /* trpcctl dlq ls: the table, and the term reasons. */
    {
        char out[8192];
        int rc = ctl(&b, "dlq ls dead --reason term", out, sizeof(out));
        int lines = 0;

        for (const char *p = strstr(out, "term: bad input"); p != NULL; p = strstr(p + 1, "term: bad input"))
            lines++;
        ok(rc == 0 && strstr(out, "ORIGIN") != NULL && lines == N / 2, "trpcctl dlq ls --reason term: %d rows (rc %d)", lines, rc);
        if (lines != N / 2)
            diag("%s", out);
        rc = ctl(&b, "dlq ls dead --max 2", out, sizeof(out));
        ok(rc == 0 && strstr(out, "(more from sequence") != NULL, "trpcctl dlq ls --max 2 says where more starts");
    }

    /* Redriving: the consumer now acknowledges. */
    pthread_mutex_lock(&seen.lock);
    seen.settle = true;
    pthread_mutex_unlock(&seen.lock);
    snprintf(doc, sizeof(doc), "{\"stream\": \"dead\", \"seq\": %lld}", first_dead);
    j = call_ok(c, "dlq.redrive", doc);
    ok(adminc_int(j, "redriven") == 1 && adminc_int(j, "failed") == 0 && adminc_int(j, "skipped") == 0,
       "dlq.redrive of one: redriven 1");
    json_decref(j);
    want = 1;
    ok(wait_for(again_n, &want, 5000), "the group gets it again");
    j = call_ok(c, "dlq.redrive", "{\"stream\": \"dead\", \"all\": true, \"reason\": \"term\"}");
    ok(adminc_int(j, "redriven") == N / 2, "dlq.redrive all of reason term: %lld", adminc_int(j, "redriven"));
    json_decref(j);
    {
        char out[8192];
        int rc = ctl(&b, "dlq redrive dead all --max 2", out, sizeof(out));

        ok(rc == 0 && sum_of(out, " redriven") == N / 2 - 1, "trpcctl dlq redrive all --max 2: the other %d, 2 at a time (rc %d)",
           N / 2 - 1, rc);
        if (sum_of(out, " redriven") != N / 2 - 1)
            diag("%s", out);
        rc = ctl(&b, "dlq redrive dead 0-5", out, sizeof(out));
        ok(rc == 2, "trpcctl dlq redrive with a bad range: a usage error");
    }
    want = N;
    ok(wait_for(again_n, &want, 5000), "the group gets all %d again", N);
    usleep(200000);
    pthread_mutex_lock(&seen.lock);
    ok(seen.again == N && seen.bad_headers == 0, "each once, with its own headers and no trpc-dlq-* ones (%d, %d wrong)",
       seen.again, seen.bad_headers);
    pthread_mutex_unlock(&seen.lock);
    j = call_ok(c, "dlq.redrive", "{\"stream\": \"dead\", \"all\": true}");
    ok(adminc_int(j, "redriven") == 0, "a second redrive of all finds nothing");
    json_decref(j);
    ok(dead_messages(c) == 0, "the dead-letter stream holds none");

    /* Not a dead letter: skipped, and said so. */
    {
        uint64_t seq;

        /* The stream (max_msgs 10, discard new) held 10: what was redriven no longer counts. */
        if (trpc_publish_sync(c, "dlq.orders", NULL, 0, "x", 1, 5000, &seq) != 0)
            BAIL_OUT("publish on the emptied dead-letter stream: %s", trpc_last_error());
    }
    j = call_ok(c, "dlq.redrive", "{\"stream\": \"dead\", \"all\": true}");
    ok(adminc_int(j, "skipped") == 1 && adminc_int(j, "redriven") == 0 &&
           strstr(json_string_value(json_object_get(j, "why")), "not a dead letter") != NULL,
       "a message without trpc-dlq-topic is skipped: %s", json_string_value(json_object_get(j, "why")));
    json_decref(j);

    /* Purge: six more (published as a group would, 4 nack and 2 term), one by sequence, those of
     * a reason, then the rest with trpcctl; the one that is not a dead letter stays. */
    {
        uint64_t seq, first = 0;
        char out[4096];
        int rc;

        for (int k = 0; k < 6; k++) {
            trpc_header h[] = {{"trpc-dlq-topic", "orders.x", 8}, {"trpc-dlq-reason", k < 4 ? "nack" : "term", 4}};

            if (trpc_publish_sync(c, "dlq.orders", h, 2, "p", 1, 5000, &seq) != 0)
                BAIL_OUT("publish a dead letter: %s", trpc_last_error());
            first = first != 0 ? first : seq;
        }
        snprintf(doc, sizeof(doc), "{\"stream\": \"dead\", \"seq\": %llu}", (unsigned long long)first);
        j = call_ok(c, "dlq.purge", doc);
        ok(adminc_int(j, "purged") == 1 && adminc_int(j, "skipped") == 0 && dead_messages(c) == 6,
           "dlq.purge of one: purged 1, 6 left");
        json_decref(j);
        j = call_ok(c, "dlq.purge", "{\"stream\": \"dead\", \"all\": true, \"reason\": \"term\"}");
        ok(adminc_int(j, "purged") == 2 && dead_messages(c) == 4, "dlq.purge all of reason term: purged 2, 4 left");
        json_decref(j);
        rc = ctl(&b, "dlq purge dead all", out, sizeof(out));
        ok(rc == 0 && sum_of(out, " purged") == 3 && strstr(out, "1 skipped") != NULL && dead_messages(c) == 1,
           "trpcctl dlq purge dead all: the other 3, the one that is not a dead letter skipped (rc %d)", rc);
        if (sum_of(out, " purged") != 3)
            diag("%s", out);
        j = adminc_call(c, "dlq.purge", "{\"stream\": \"dead\", \"reason\": \"nack\"}");
        ok(strcmp(adminc_err_code(j), "BAD_REQUEST") == 0, "dlq.purge without seq, range or all: BAD_REQUEST");
        json_decref(j);
    }

    /* Bad requests. */
    j = adminc_call(c, "dlq.redrive", "{\"stream\": \"dead\"}");
    ok(strcmp(adminc_err_code(j), "BAD_REQUEST") == 0, "dlq.redrive without seq, range or all: BAD_REQUEST");
    json_decref(j);
    j = adminc_call(c, "dlq.redrive", "{\"stream\": \"dead\", \"seq\": 1, \"all\": true}");
    ok(strcmp(adminc_err_code(j), "BAD_REQUEST") == 0, "with both seq and all: BAD_REQUEST");
    json_decref(j);
    j = adminc_call(c, "dlq.list", "{\"stream\": \"nope\"}");
    ok(strcmp(adminc_err_code(j), "NOT_FOUND") == 0, "dlq.list of no stream: NOT_FOUND");
    json_decref(j);

    /* kill -9: what was redriven or purged stays deleted. */
    usleep(300000); /* the tombstones reach the disk */
    trpc_close(m);
    trpc_close(c);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    c = connect_or_bail(&b, NULL);
    ok(dead_messages(c) == 1, "after kill -9 the dead-letter stream holds only the one that is not a dead letter");
    j = call_ok(c, "dlq.list", "{\"stream\": \"dead\"}");
    ok(json_array_size(json_object_get(j, "messages")) == 1, "dlq.list agrees");
    json_decref(j);
    {
        json_t *st = adminc_stream(c, "dead");

        ok(adminc_int(st, "deleted") == N + 6, "stream.info: %d deleted", N + 6);
        json_decref(st);
    }
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
