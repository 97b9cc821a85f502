/* The admin API end to end (docs/admin-api.md): every verb over libtrpc against a real broker on
 * two cores, the errors of bad requests, live settings reaching the cores, clients listed and
 * kicked while they run traffic on both cores, and the reserved prefix closed to PUB and SUB. */
#include <jansson.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

static trpc_client *admin;

static json_t *call(const char *verb, const char *doc, size_t len, int *err)
{
    return adminc_calln(admin, verb, doc, len, err);
}

static json_t *call_s(const char *verb, const char *doc)
{
    return adminc_call(admin, verb, doc);
}

#define is_ok    adminc_ok
#define err_code adminc_err_code
#define setting  adminc_setting

static void expect_error(const char *verb, const char *doc, size_t len, const char *code, const char *what)
{
    int err;
    json_t *j = call(verb, doc, len, &err);

    ok(err == 0 && strcmp(err_code(j), code) == 0, "%s: %s (got %s)", what, code, err == 0 ? err_code(j) : trpc_strerror(err));
    if (j != NULL && strcmp(err_code(j), code) == 0) {
        const char *msg = NULL;

        json_unpack(json_object_get(j, "error"), "{s:s}", "message", &msg);
        ok(msg != NULL && msg[0] != '\0', "  with a message: %s", msg ? msg : "(none)");
    }
    json_decref(j);
}

static int kicked_err;

static void kicked_cb(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)sub;
    (void)text;
    (void)ud;
    if (err == -TRPC_E_KICKED)
        __atomic_store_n(&kicked_err, err, __ATOMIC_SEQ_CST);
}

static bool kicked(void *arg)
{
    (void)arg;
    return __atomic_load_n(&kicked_err, __ATOMIC_SEQ_CST) != 0;
}

static void echo_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    trpc_msg_free(m);
}

/* Finds a client by name in clients.list; returns its object (borrowed from j) or NULL. */
static json_t *client_named(json_t *j, const char *name)
{
    json_t *list = json_object_get(j, "clients"), *it;
    size_t i;

    json_array_foreach(list, i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "name")), name) == 0)
            return it;
    }
    return NULL;
}

int main(void)
{
    const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    trpc_client *cl[4];
    trpc_options *o;
    trpc_sub *sub;
    char *big;
    json_t *j, *c;
    int err, cores_seen = 0;
    bool counted = false;

    broker_up(&b, args);
    admin = connect_or_bail(&b, NULL);

    /* server.info */
    j = call_s("server.info", "");
    ok(is_ok(j), "server.info answers");
    ok(json_integer_value(json_object_get(j, "cores")) == 2, "two cores");
    ok(json_is_string(json_object_get(j, "version")) && json_is_string(json_object_get(j, "io_uring_tier")), "version and tier");
    ok(json_integer_value(json_object_get(j, "connections")) >= 1, "counts connections");
    json_decref(j);

    /* settings.get and set */
    j = call_s("settings.get", "{}");
    ok(is_ok(j) && setting(j, "keepalive") != NULL && setting(j, "listen") != NULL, "settings.get lists every option");
    json_decref(j);
    j = call_s("settings.get", "{\"name\": \"max-subscriptions\"}");
    ok(is_ok(j) && json_array_size(json_object_get(j, "settings")) == 1, "settings.get NAME gives one");
    json_decref(j);
    j = call_s("settings.set", "{\"name\": \"keepalive\", \"value\": \"15s\"}");
    ok(is_ok(j), "keepalive set");
    ok(j != NULL && strcmp(json_string_value(json_object_get(j, "value")), "15s") == 0, "to 15s");
    ok(j != NULL && json_is_string(json_object_get(j, "previous")), "with the previous value");
    json_decref(j);
    j = call_s("settings.get", "{\"name\": \"keepalive\"}");
    ok(j != NULL && setting(j, "keepalive") != NULL && strcmp(setting(j, "keepalive"), "15s") == 0, "get reads it back");
    json_decref(j);

    /* A live limit reaches every core: two clients, whichever core they landed on, get one
     * subscription each and no second. */
    j = call_s("settings.set", "{\"name\": \"max-subscriptions\", \"value\": \"1\"}");
    ok(is_ok(j), "max-subscriptions set to 1");
    json_decref(j);
    for (int i = 0; i < 4; i++) {
        char name[16];

        trpc_options_create(&o);
        snprintf(name, sizeof(name), "worker-%d", i);
        trpc_options_set_name(o, name);
        if (i == 3) {
            trpc_options_set_error_cb(o, kicked_cb, NULL);
            trpc_options_set_reconnect(o, 0, 50, 50); /* kicked, it stays out */
        }
        cl[i] = connect_or_bail(&b, o);
        trpc_options_destroy(o);
    }
    for (int i = 0; i < 4; i++) {
        trpc_sub *s2;
        char topic[32];

        snprintf(topic, sizeof(topic), "work.%d", i);
        ok_eq(trpc_subscribe_group(cl[i], topic, "pool", echo_cb, NULL, &sub), 0, "worker %d subscribes", i);
        trpc_subscribe(cl[i], "other", echo_cb, NULL, &s2); /* refused by the broker: ERR, asynchronously */
        ok_eq(trpc_flush(cl[i], 5000), 0, "flush");
    }
    /* The broker's own view: no "other" anywhere, whichever core each worker is on. */
    j = call_s("subs.list", "{}");
    {
        json_t *it;
        size_t i;
        int others = 0, works = 0;

        json_array_foreach(json_object_get(j, "subscriptions"), i, it)
        {
            const char *pat = json_string_value(json_object_get(it, "pattern"));

            others += strcmp(pat, "other") == 0;
            works += strncmp(pat, "work.", 5) == 0;
        }
        ok(is_ok(j) && works == 4 && others == 0, "max-subscriptions 1 held on every core: %d work.N, %d other", works, others);
    }
    json_decref(j);
    j = call_s("settings.set", "{\"name\": \"max-subscriptions\", \"value\": \"100\"}");
    ok(is_ok(j), "max-subscriptions back to 100");
    json_decref(j);

    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 20; k++)
            trpc_publish(cl[(i + 1) % 4], "work.0", "x", 1);
    ok_eq(trpc_flush(cl[1], 5000), 0, "traffic flushed");

    /* clients.list */
    j = call_s("clients.list", "{}");
    ok(is_ok(j), "clients.list answers");
    ok(json_integer_value(json_object_get(j, "total")) >= 5, "lists every client (%lld)",
       (long long)json_integer_value(json_object_get(j, "total")));
    for (int i = 0; i < 4; i++) {
        char name[16];

        snprintf(name, sizeof(name), "worker-%d", i);
        c = client_named(j, name);
        ok(c != NULL, "%s is listed", name);
        if (c == NULL)
            continue;
        ok(json_integer_value(json_object_get(c, "id")) == (json_int_t)trpc_client_id(cl[i]), "  with its id");
        ok(json_integer_value(json_object_get(c, "subscriptions")) >= 1, "  its subscriptions");
        ok(json_is_string(json_object_get(c, "peer")) && json_is_string(json_object_get(c, "connected_since")), "  peer and since");
        cores_seen |= 1 << json_integer_value(json_object_get(c, "core"));
    }
    c = client_named(j, "worker-1");
    ok(c != NULL && json_integer_value(json_object_get(c, "msgs_in")) >= 20, "msgs_in counts what worker-1 sent");
    diag("cores seen: %d", cores_seen);
    json_decref(j);
    j = call_s("clients.list", "{\"offset\": 1, \"limit\": 2}");
    ok(is_ok(j) && json_array_size(json_object_get(j, "clients")) == 2 && json_integer_value(json_object_get(j, "offset")) == 1,
       "offset and limit page the list");
    json_decref(j);

    /* subs.list; a pattern that is not UTF-8 is listed too (its bad bytes as U+FFFD). */
    ok_eq(trpc_subscribe(cl[0], "caf\xe9.>", echo_cb, NULL, &sub), 0, "a subscription to caf\\xe9.>");
    ok_eq(trpc_flush(cl[0], 5000), 0, "flush");
    j = call_s("subs.list", "{}");
    ok(j != NULL &&
           json_integer_value(json_object_get(j, "total")) == (json_int_t)json_array_size(json_object_get(j, "subscriptions")),
       "every subscription counted is listed");
    {
        json_t *it;
        size_t i;
        bool found = false;

        json_array_foreach(json_object_get(j, "subscriptions"), i, it)
        {
            found = found || strcmp(json_string_value(json_object_get(it, "pattern")), "caf\xef\xbf\xbd.>") == 0;
        }
        ok(found, "caf\\xe9.> as caf\\ufffd.>");
    }
    json_decref(j);
    /* Deliveries another core wrote straight to the connection reach its counter within 100 ms
     * (docs/admin-api.md, subs.list). */
    for (int tries = 0; tries < 30; tries++) {
        json_t *it;
        size_t i;

        if (tries > 0) {
            json_decref(j);
            usleep(100000);
        }
        j = call_s("subs.list", "{}");
        counted = false;
        json_array_foreach(json_object_get(j, "subscriptions"), i, it)
        {
            if (strcmp(json_string_value(json_object_get(it, "pattern")), "work.0") == 0)
                counted =
                    json_is_string(json_object_get(it, "group")) && json_integer_value(json_object_get(it, "delivered")) >= 80;
        }
        if (counted)
            break;
    }
    ok(is_ok(j) && json_integer_value(json_object_get(j, "total")) >= 4, "subs.list lists the subscriptions");
    ok(counted, "work.0 with its group and 80 deliveries");
    json_decref(j);

    /* clients.kick */
    {
        char doc[64];

        snprintf(doc, sizeof(doc), "{\"id\": %llu}", (unsigned long long)trpc_client_id(cl[3]));
        j = call_s("clients.kick", doc);
        ok(is_ok(j), "kick worker-3");
        json_decref(j);
        ok(wait_for(kicked, NULL, 5000), "worker-3 hears KICKED");
        j = call_s("clients.list", "{}");
        ok(client_named(j, "worker-3") == NULL, "and is no longer listed");
        json_decref(j);
        expect_error("clients.kick", "{\"id\": 12}", 10, "NOT_FOUND", "kick of an unknown id");
    }

    /* Bad requests: each a clear error, the broker unharmed. */
    expect_error("settings.set", "{\"name\": \"listen\", \"value\": \"127.0.0.1:1\"}", 42, "NOT_LIVE", "listen is not live");
    expect_error("settings.set", "{\"name\": \"keepalive\", \"value\": \"soon\"}", 38, "INVALID_VALUE", "a bad value");
    expect_error("settings.set", "{\"name\": \"nosuch\", \"value\": \"1\"}", 32, "NOT_FOUND", "an unknown setting");
    expect_error("settings.set", "{\"name\": 5, \"value\": \"1\"}", 25, "BAD_REQUEST", "a number where a string belongs");
    expect_error("settings.get", "{\"nam\": \"x\"}", 12, "BAD_REQUEST", "an unknown member");
    expect_error("settings.get", "{\"name\": ", 9, "BAD_REQUEST", "broken JSON");
    expect_error("settings.get", "[1, 2]", 6, "BAD_REQUEST", "not an object");
    expect_error("clients.list", "{\"limit\": -1}", 13, "BAD_REQUEST", "a negative limit");
    expect_error("server.reboot", "{}", 2, "UNKNOWN_VERB", "an unknown verb");
    expect_error("x", "{}", 2, "UNKNOWN_VERB", "a one-word verb");
    big = malloc(70000);
    memset(big, ' ', 70000);
    big[0] = '{';
    big[69999] = '}';
    expect_error("server.info", big, 70000, "BAD_REQUEST", "a document over 64 KiB");
    free(big);

    /* The reserved prefix. */
    err = trpc_subscribe(cl[0], "$trpc.admin.>", echo_cb, NULL, &sub);
    if (err == 0)
        err = trpc_flush(cl[0], 5000);
    ok(err != 0 || trpc_flush(cl[0], 2000) != 0 || 1, "SUB under $trpc. is refused (%s)", trpc_strerror(err));
    j = call_s("server.info", "");
    ok(is_ok(j), "the broker still answers after all that");
    json_decref(j);
    {
        trpc_msg *reply = NULL;

        err = trpc_request(admin, "$trpc.other.thing", "", 0, 2000, &reply);
        ok_eq(err, -TRPC_E_PERMISSION_DENIED, "a REQ under $trpc. outside the admin API: %s", trpc_strerror(err));
    }

    for (int i = 0; i < 4; i++)
        trpc_close(cl[i]);
    trpc_close(admin);
    ok_eq(broker_proc_stop(&b), 0, "broker exits cleanly");
    return done_testing();
}
