/*
 * Topics whose bytes are not UTF-8 (allowed: protocol.md section 5) through the admin API: a
 * stored message on such a topic is still read by stream.get and listed by dlq.list, its topic
 * shown with U+FFFD for each byte that is not UTF-8, where JSON would refuse the raw bytes; and a
 * consumer group whose dead-letter topic no stream covers, and which no stream can be made for
 * (a stream's subjects are JSON text), is refused with that reason rather than "out of memory".
 */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

static struct {
    pthread_mutex_t lock;
    int errs;
    char text[512];
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c, (void)sub, (void)ud;
    trpc_msg_free(m);
}

static void on_error(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c, (void)sub, (void)err, (void)ud;
    pthread_mutex_lock(&seen.lock);
    seen.errs++;
    snprintf(seen.text, sizeof(seen.text), "%s", text != NULL ? text : "");
    pthread_mutex_unlock(&seen.lock);
}

static bool got_error(void *arg)
{
    bool done;

    (void)arg;
    pthread_mutex_lock(&seen.lock);
    done = seen.errs > 0;
    pthread_mutex_unlock(&seen.lock);
    return done;
}

static const char *topic_of(json_t *doc)
{
    const char *t = json_string_value(json_object_get(doc, "topic"));

    return t != NULL ? t : "(none)";
}

int main(void)
{
    static const trpc_header policy[] = {{"trpc-dlq", "gone.\xff", 6}};
    struct broker_proc b;
    trpc_options *o = NULL;
    trpc_client *c;
    trpc_sub *sub;
    json_t *j, *list;

    plan(7);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    if (trpc_options_create(&o) != 0)
        BAIL_OUT("options");
    trpc_options_set_error_cb(o, on_error, NULL);
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    adminc_stream_add(c, "{\"name\": \"raw\", \"subjects\": [\"raw.>\"]}");
    ok(trpc_publish_sync(c, "raw.\xff\xfe", NULL, 0, "x", 1, 5000, NULL) == 0, "a message on raw.\\xff\\xfe is stored (%s)",
       trpc_last_error());

    j = adminc_call(c, "stream.get", "{\"name\": \"raw\", \"seq\": 1}");
    ok(adminc_ok(j), "stream.get reads it (%s)", adminc_err_code(j));
    ok(strcmp(topic_of(j), "raw.\xef\xbf\xbd\xef\xbf\xbd") == 0, "its topic with U+FFFD for each byte (%s)", topic_of(j));
    json_decref(j);

    j = adminc_call(c, "dlq.list", "{\"stream\": \"raw\"}");
    list = json_object_get(j, "messages");
    ok(json_array_size(list) == 1, "dlq.list lists it (%zu entries)", json_array_size(list));
    ok(strcmp(topic_of(json_array_get(list, 0)), "raw.\xef\xbf\xbd\xef\xbf\xbd") == 0, "with the same topic");
    json_decref(j);

    ok(trpc_subscribe_durable(c, "raw.>", "g", 4, policy, 1, on_msg, NULL, &sub) == 0 && trpc_flush(c, 5000) == 0,
       "a group whose dead-letter topic is not UTF-8 is asked for");
    wait_for(got_error, NULL, 5000);
    pthread_mutex_lock(&seen.lock);
    ok(seen.errs == 1 && strstr(seen.text, "not UTF-8") != NULL, "and refused, saying why (%s)", seen.text);
    pthread_mutex_unlock(&seen.lock);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
