/*
 * Streams declared in the config file (`stream = {...}`, the admin API's stream.add document):
 * made at start, in the store, storing at once; the file changed and the broker restarted, its
 * definition replaces the stored one (the messages stay); a stream added through the admin API is
 * left alone; a bad line stops the broker at start with the file, the line and the reason.
 */
#include <stdlib.h>
#include <sys/wait.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

static char path[256];

static void write_conf(const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        BAIL_OUT("cannot write %s", path);
}

/* Runs the broker on a config that must stop it; its stderr into out. */
static int broker_fails(const char *conf, char *out, size_t len)
{
    const char *top = getenv("top_builddir");
    char cmd[1024], dir[] = "/tmp/trpc-cfgstreams-XXXXXX";

    write_conf(conf);
    if (mkdtemp(dir) == NULL)
        BAIL_OUT("mkdtemp");
    snprintf(
        cmd, sizeof(cmd),
        "timeout 20 %s/src/trpc-broker --config %s --data-dir %s --listen 127.0.0.1:0 --http off 2>&1; s=$?; rm -rf %s; exit $s",
        top != NULL ? top : ".", path, dir, dir);
    return run_capture(cmd, out, len);
}

int main(void)
{
    struct broker_proc b;
    trpc_client *c;
    json_t *st;
    uint64_t seq = 0;
    char out[4096];
    int fd;

    plan(12);
    snprintf(path, sizeof(path), "/tmp/trpc-cfgstreams-XXXXXX.conf");
    fd = mkstemps(path, 5);
    if (fd < 0)
        BAIL_OUT("mkstemps");
    close(fd);
    write_conf("# streams of this broker\n"
               "stream = {\"name\": \"orders\", \"subjects\": [\"orders.>\"], \"max_age_ms\": 604800000}  # a week\n"
               "stream = {\"name\": \"audit\", \"subjects\": [\"audit.#x\"], \"max_msgs\": 100}\n");
    broker_up(&b, (const char *[]){"--config", path, NULL});
    c = connect_or_bail(&b, NULL);
    st = adminc_stream(c, "orders");
    ok(st != NULL && adminc_int(st, "max_age_ms") == 604800000, "stream orders from the config file, with its max_age");
    json_decref(st);
    st = adminc_stream(c, "audit");
    ok(st != NULL && adminc_int(st, "max_msgs") == 100 &&
           strcmp(json_string_value(json_array_get(json_object_get(st, "subjects"), 0)), "audit.#x") == 0,
       "stream audit, a '#' inside its JSON kept (not a comment)");
    json_decref(st);
    ok(trpc_publish_sync(c, "orders.eu", NULL, 0, "m", 1, 5000, &seq) == 0 && seq == 1, "a PUB on its subject is stored");
    adminc_stream_add(c, "{\"name\": \"mine\", \"subjects\": [\"mine.>\"]}");
    trpc_close(c);

    /* The file changed: its definition wins over the stored one, even taking a subject from
     * another of its streams (audit gives audit.#x to orders); the admin API's stream stays. */
    write_conf("stream = {\"name\": \"orders\", \"subjects\": [\"orders.>\", \"refunds.>\", \"audit.#x\"], \"max_age_ms\": "
               "86400000}\nstream = {\"name\": \"audit\", \"subjects\": [\"audit.other\"], \"max_msgs\": 100}\n");
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    c = connect_or_bail(&b, NULL);
    st = adminc_stream(c, "orders");
    ok(st != NULL && adminc_int(st, "max_age_ms") == 86400000 && json_array_size(json_object_get(st, "subjects")) == 3,
       "after a restart, the file's new definition of orders");
    ok(adminc_int(st, "messages") == 1, "its message stayed");
    json_decref(st);
    st = adminc_stream(c, "mine");
    ok(st != NULL, "the stream added through the admin API is still there");
    json_decref(st);
    st = adminc_stream(c, "audit");
    ok(st != NULL && strcmp(json_string_value(json_array_get(json_object_get(st, "subjects"), 0)), "audit.other") == 0,
       "and audit with its new subject, having given the old one to orders");
    json_decref(st);
    trpc_close(c);
    broker_proc_stop(&b);

    /* Bad lines stop the broker at start, saying where and why. */
    ok(broker_fails("\nstream = {\"name\": \"x\"}\n", out, sizeof(out)) != 0 && strstr(out, ":2: stream: ") != NULL &&
           strstr(out, "subjects") != NULL,
       "a definition without subjects: %s", out);
    ok(broker_fails("stream = orders orders.>\n", out, sizeof(out)) != 0 && strstr(out, ":1: stream: not a JSON object") != NULL,
       "a line that is not JSON: %s", out);
    ok(broker_fails("stream = {\"name\": \"a\", \"subjects\": [\"x.>\"]}\nstream = {\"name\": \"b\", \"subjects\": [\"x.y\"]}\n",
                    out, sizeof(out)) != 0 &&
           strstr(out, ":2: stream b: subject 'x.y' overlaps 'x.>' of stream a") != NULL,
       "two streams sharing a topic: %s", out);
    ok(broker_fails("stream =\n", out, sizeof(out)) != 0 && strstr(out, ":1: option 'stream' needs a value") != NULL,
       "an empty stream line: %s", out);
    ok(broker_fails("stream = {\"name\": \"a\", \"subjects\": [\"x.>\"]}\nstream = {\"name\": \"a\", \"subjects\": [\"y.>\"]}\n",
                    out, sizeof(out)) != 0 &&
           strstr(out, ":2: stream a: defined before, at ") != NULL,
       "a stream defined twice: %s", out);
    unlink(path);
    return done_testing();
}
