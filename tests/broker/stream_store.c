/*
 * Streams store what they cover (issue 17, first part): declared through the admin API
 * (idempotent; a different definition, overlapping subjects and bad names refused), a PUB with
 * ACK_REQ on a covered topic is answered with a PUBACK carrying its stream sequence, from either
 * core, and other topics' PUBACKs carry 0; max_msg_size refuses larger payloads; stream.get gives
 * back topic, headers and payload; a clean restart and a kill -9 keep every acknowledged message
 * and go on with the next sequence; delete forgets the stream and its files.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tests/broker/itest_admin.h"
#include "tests/broker/itest_group.h"

#define N 200 /* PUBs with ACK_REQ per burst */

/* A stream's figure from stream.info, or -1. */
static long long info_num(struct tc *c, const char *name, const char *field)
{
    char doc[128];
    json_t *j, *v;
    long long n = -1;

    snprintf(doc, sizeof(doc), "{\"name\": \"%s\"}", name);
    j = itest_admin(c, "stream.info", doc);
    v = json_object_get(json_object_get(j, "stream"), field);
    if (json_is_integer(v))
        n = json_integer_value(v);
    json_decref(j);
    return n;
}

/* Waits for the PUBACK or ERR of id (other frames skipped): the frame, type 0 when none came. */
static struct wire_frame answer_of(struct tc *c, uint64_t id)
{
    struct wire_frame f;

    for (int i = 0; i < 10000; i++) {
        f = itest_next(c, 5000);
        if (f.type == 0 || ((f.type == WIRE_PUBACK || f.type == WIRE_ERR) && f.id == id))
            return f;
    }
    memset(&f, 0, sizeof(f));
    return f;
}

/* Publishes n acknowledged PUBs over two connections in turn and checks that the sequences they
 * got are first .. first + n - 1, each once. */
static void burst(struct tc *a, struct tc *b, const char *topic, uint64_t first, int n, const char *what)
{
    static bool seen[4 * N];
    int good = 0, in_range = 0;

    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < n; i++)
        if (pub_ack_send(i % 2 ? b : a, 1000 + (uint64_t)i, topic, "m") != 0)
            BAIL_OUT("send");
    for (int i = 0; i < n; i++) {
        struct wire_frame f = answer_of(i % 2 ? b : a, 1000 + (uint64_t)i);

        if (f.type == WIRE_PUBACK) {
            good++;
            if (f.seq >= first && f.seq < first + (uint64_t)n && !seen[f.seq - first]) {
                seen[f.seq - first] = true;
                in_range++;
            }
        }
    }
    ok(good == n, "%s: %d PUBACKs for %d PUBs", what, good, n);
    ok(in_range == n, "%s: sequences %llu .. %llu, each once (%d)", what, (unsigned long long)first,
       (unsigned long long)(first + (uint64_t)n - 1), in_range);
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

int main(void)
{
    struct broker_proc b;
    struct tc a, c1, sub;
    struct wire_frame f;
    json_t *j = NULL;
    char path[512];
    int st;

    plan(48);
    itest_start(&b, (const char *[]){"--cores", "2", NULL});
    itest_connect_on(&a, &b, 0);
    itest_connect_on(&c1, &b, 1);

    /* Declaring. */
    ok(itest_admin_ok(&a, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.>\", \"refunds.*\"]}", &j) &&
           json_is_true(json_object_get(j, "created")) &&
           json_integer_value(json_object_get(json_object_get(j, "stream"), "messages")) == 0,
       "stream.add creates orders, empty");
    json_decref(j);
    ok(itest_admin_ok(&c1, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"refunds.*\", \"orders.>\"]}", &j) &&
           json_is_false(json_object_get(j, "created")),
       "the same definition again is accepted, not created twice");
    json_decref(j);
    itest_expect_code(&a, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.*\"]}", "STREAM_EXISTS",
                      "another definition under the name");
    itest_expect_code(&a, "stream.add", "{\"name\": \"o2\", \"subjects\": [\"*.new\"]}", "SUBJECTS_OVERLAP",
                      "a subject overlapping another stream's");
    itest_expect_code(&a, "stream.add", "{\"name\": \"a b\", \"subjects\": [\"x\"]}", "BAD_REQUEST", "a name with a blank");
    itest_expect_code(&a, "stream.add", "{\"name\": \"adm\", \"subjects\": [\"$trpc.admin.>\"]}", "BAD_REQUEST",
                      "a subject under $trpc.");
    itest_expect_code(&a, "stream.add", "{\"name\": \"w\", \"subjects\": [\"a.>.b\"]}", "BAD_REQUEST", "a bad pattern");
    itest_expect_code(&a, "stream.add", "{\"name\": \"w\", \"subjects\": [\"a.b\", \"a.*\"]}", "BAD_REQUEST",
                      "two subjects of one stream that overlap");
    itest_expect_code(&a, "stream.add", "{\"name\": \"w\"}", "BAD_REQUEST", "no subjects");
    itest_expect_code(&a, "stream.info", "{\"name\": \"nope\"}", "NOT_FOUND", "info of no such stream");

    /* Storing, from both cores (one of them owns the stream). */
    itest_connect(&sub, &b, 0);
    tc_sub(&sub, 7, "orders.>", NULL);
    tc_sync(&sub, NULL);
    burst(&a, &c1, "orders.eu", 1, N, "first burst");
    f = itest_next(&sub, 5000);
    ok(f.type == WIRE_MSG && f.id == 7 && (f.flags & WIRE_F_ACK_REQUIRED) == 0, "a plain subscriber still gets the messages");
    tc_close(&sub);
    pub_ack_send(&a, 5, "other.topic", "x");
    f = answer_of(&a, 5);
    ok(f.type == WIRE_PUBACK && f.seq == 0, "a topic no stream covers: PUBACK with sequence 0");
    {
        struct wire_header h = {.key = "k", .key_len = 1, .val = (const uint8_t *)"v1", .val_len = 2};
        struct wire_out o = {.type = WIRE_PUB,
                             .flags = WIRE_F_ACK_REQ,
                             .id = 6,
                             .topic = "refunds.x",
                             .topic_len = 9,
                             .headers = &h,
                             .header_count = 1,
                             .payload = "hello",
                             .payload_len = 5};

        tc_send(&c1, &o);
        f = answer_of(&c1, 6);
        ok(f.type == WIRE_PUBACK && f.seq == N + 1, "a second subject of the stream: sequence %d (got %llu)", N + 1,
           (unsigned long long)f.seq);
    }
    tc_pub(&a, "orders.quiet", "q", 1); /* no ACK_REQ: stored all the same */
    /* Counted once appended, last_seq once durable: wait for both. */
    for (int i = 0; i < 100 && (info_num(&a, "orders", "messages") != N + 2 || info_num(&a, "orders", "last_seq") != N + 2); i++)
        usleep(20000);
    ok(info_num(&a, "orders", "messages") == N + 2, "stream.info counts %d messages", N + 2);
    ok(info_num(&a, "orders", "last_seq") == N + 2 && info_num(&a, "orders", "first_seq") == 1, "first and last sequence");
    ok(info_num(&a, "orders", "bytes") > 0, "and their bytes");

    ok(itest_admin_ok(&a, "stream.get", "{\"name\": \"orders\", \"seq\": 201}", &j), "stream.get of sequence 201");
    ok(j != NULL && strcmp(json_string_value(json_object_get(j, "topic")), "refunds.x") == 0 &&
           strcmp(json_string_value(json_object_get(j, "payload")), "hello") == 0 &&
           strcmp(json_string_value(json_object_get(j, "payload_base64")), "aGVsbG8=") == 0,
       "its topic and payload");
    {
        json_t *h = json_array_get(json_object_get(j, "headers"), 0);

        ok(h != NULL && strcmp(json_string_value(json_object_get(h, "key")), "k") == 0 &&
               strcmp(json_string_value(json_object_get(h, "value")), "v1") == 0,
           "and its header");
    }
    json_decref(j);
    itest_expect_code(&a, "stream.get", "{\"name\": \"orders\", \"seq\": 9999}", "NOT_FOUND", "a sequence not stored yet");
    itest_expect_code(&a, "stream.get", "{\"name\": \"orders\", \"seq\": 0}", "BAD_REQUEST", "sequence 0");

    /* Limits. */
    ok(itest_admin_ok(&a, "stream.add", "{\"name\": \"small\", \"subjects\": [\"small.*\"], \"max_msg_size\": 4}", NULL),
       "a stream with max_msg_size 4");
    pub_ack_send(&c1, 8, "small.a", "12345");
    f = answer_of(&c1, 8);
    ok(itest_is_err(&f, TRPC_E_MESSAGE_TOO_LARGE, false), "5 bytes: ERR MESSAGE_TOO_LARGE, not fatal");
    pub_ack_send(&c1, 9, "small.a", "1234");
    f = answer_of(&c1, 9);
    ok(f.type == WIRE_PUBACK && f.seq == 1, "4 bytes: stored as its first");
    itest_expect_code(&a, "stream.add", "{\"name\": \"big\", \"subjects\": [\"big\"], \"max_msg_size\": 999999999}", "BAD_REQUEST",
                      "max_msg_size above max-frame");

    ok(itest_admin_ok(&a, "stream.list", "{}", &j) && json_array_size(json_object_get(j, "streams")) == 2,
       "stream.list: two streams");
    json_decref(j);

    /* A clean restart keeps them, and the sequence goes on. */
    tc_close(&a);
    tc_close(&c1);
    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker stops cleanly");
    if (broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    itest_connect_on(&a, &b, 0);
    itest_connect_on(&c1, &b, 1);
    ok(info_num(&a, "orders", "messages") == N + 2, "after a restart: %d messages", N + 2);
    ok(info_num(&a, "small", "messages") == 1, "and the other stream's one");
    burst(&c1, &a, "orders.us", N + 3, N, "after a restart");

    /* kill -9 right after the PUBACKs: every acknowledged message is there. */
    burst(&a, &c1, "orders.kill", 2 * N + 3, N, "before kill -9");
    tc_close(&a);
    tc_close(&c1);
    broker_proc_kill(&b);
    if (broker_proc_restart(&b) != 0)
        BAIL_OUT("restart after kill -9");
    itest_connect_on(&a, &b, 0);
    itest_connect_on(&c1, &b, 1);
    ok(info_num(&a, "orders", "last_seq") == 3 * N + 2, "after kill -9: the last acknowledged sequence %d is kept (got %lld)",
       3 * N + 2, info_num(&a, "orders", "last_seq"));
    ok(itest_admin_ok(&a, "stream.get", "{\"name\": \"orders\", \"seq\": 602}", &j) &&
           strcmp(json_string_value(json_object_get(j, "topic")), "orders.kill") == 0,
       "and readable");
    json_decref(j);
    pub_ack_send(&c1, 10, "orders.after", "z");
    f = answer_of(&c1, 10);
    ok(f.type == WIRE_PUBACK && f.seq == 3 * N + 3, "the next PUB gets the next sequence");

    /* Delete. */
    snprintf(path, sizeof(path), "%s/streams/orders", b.data_dir);
    ok(exists(path), "the stream's log is in the data directory");
    ok(itest_admin_ok(&a, "stream.delete", "{\"name\": \"orders\"}", NULL), "stream.delete");
    ok(!exists(path), "its directory is gone");
    itest_expect_code(&a, "stream.info", "{\"name\": \"orders\"}", "NOT_FOUND", "info after delete");
    itest_expect_code(&a, "stream.delete", "{\"name\": \"orders\"}", "NOT_FOUND", "delete twice");
    pub_ack_send(&c1, 11, "orders.eu", "z");
    f = answer_of(&c1, 11);
    ok(f.type == WIRE_PUBACK && f.seq == 0, "a PUB on its topics is no longer stored");
    ok(itest_admin_ok(&a, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.>\"]}", NULL) &&
           info_num(&a, "orders", "messages") == 0,
       "declared again, it starts empty");
    pub_ack_send(&a, 12, "orders.eu", "z");
    f = answer_of(&a, 12);
    ok(f.type == WIRE_PUBACK && f.seq == 1, "from sequence 1");
    itest_expect_code(&a, "stream.add", "{\"name\": \"o3\", \"subjects\": [\"*.new\"]}", "SUBJECTS_OVERLAP",
                      "a subject overlapping it is refused again");

    tc_close(&a);
    tc_close(&c1);
    itest_stop(&b);
    return done_testing();
}
