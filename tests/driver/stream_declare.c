/*
 * trpc_stream_declare against a broker: made, declared again (created false), another definition
 * (STREAM_EXISTS with the broker's reason), a subject of another stream and a bad name
 * (INVALID_ARGUMENT), the limits as given (stream.info), and bad arguments refused before any
 * request.
 */
#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

int main(void)
{
    static const char *const orders[] = {"orders.>", "refunds.*"};
    static const char *const other[] = {"orders.eu"};
    static const char *const quoted[] = {"q.\"x\\y"};
    struct broker_proc b;
    trpc_client *c;
    trpc_stream_config cfg = {
        .subjects = orders, .subject_count = 2, .max_msgs = 1000, .max_age_ms = 3600000, .discard_new = true, .dedup_window_ms = 0};
    bool created = false;
    json_t *st;
    int err;

    plan(11);
    broker_up(&b, NULL);
    c = connect_or_bail(&b, NULL);
    err = trpc_stream_declare(c, "orders", &cfg, 5000, &created);
    ok(err == 0 && created, "declared: made (%s)", err ? trpc_last_error() : "");
    err = trpc_stream_declare(c, "orders", &cfg, 5000, &created);
    ok(err == 0 && !created, "declared again with the same definition: accepted, created false");
    st = adminc_stream(c, "orders");
    ok(adminc_int(st, "max_msgs") == 1000 && adminc_int(st, "max_age_ms") == 3600000 && adminc_int(st, "dedup_window_ms") == 0 &&
           strcmp(json_string_value(json_object_get(st, "discard")), "new") == 0 &&
           json_array_size(json_object_get(st, "subjects")) == 2,
       "the broker has the definition as given");
    json_decref(st);
    cfg.max_msgs = 5;
    err = trpc_stream_declare(c, "orders", &cfg, 5000, NULL);
    ok(err == -TRPC_E_STREAM_EXISTS && strstr(trpc_last_error(), "another definition") != NULL,
       "another definition: STREAM_EXISTS: %s", trpc_last_error());
    cfg.subjects = other;
    cfg.subject_count = 1;
    err = trpc_stream_declare(c, "eu", &cfg, 5000, NULL);
    ok(err == -TRPC_E_INVALID_ARGUMENT && strstr(trpc_last_error(), "overlaps") != NULL,
       "a subject another stream keeps: INVALID_ARGUMENT: %s", trpc_last_error());
    err = trpc_stream_declare(c, "bad name", &cfg, 5000, NULL);
    ok(err == -TRPC_E_INVALID_ARGUMENT, "a bad name: INVALID_ARGUMENT: %s", trpc_last_error());
    cfg.subjects = quoted;
    err = trpc_stream_declare(c, "quoted", &cfg, 5000, &created);
    ok(err == 0 || err == -TRPC_E_INVALID_ARGUMENT, "a subject with a quote and a backslash is sent as valid JSON (%s)",
       err ? trpc_last_error() : "made");
    ok(trpc_stream_declare(c, "x", NULL, 5000, NULL) == -TRPC_E_INVALID_ARGUMENT, "no config: INVALID_ARGUMENT");
    cfg.subject_count = 0;
    ok(trpc_stream_declare(c, "x", &cfg, 5000, NULL) == -TRPC_E_INVALID_ARGUMENT, "no subject: INVALID_ARGUMENT");
    ok(trpc_stream_declare(c, NULL, &cfg, 5000, NULL) == -TRPC_E_INVALID_ARGUMENT, "no name: INVALID_ARGUMENT");
    {
        uint64_t seq = 0;

        ok(trpc_publish_sync(c, "refunds.r1", NULL, 0, "x", 1, 5000, &seq) == 0 && seq == 1,
           "a publish on its second subject is stored");
    }
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
