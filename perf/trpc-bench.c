/*
 * trpc-bench: the bench workloads (perf/bench.c) over libtrpc. See perf/trpc-bench.1.
 *
 * Each bench connection is one trpc_client with default options: its own I/O thread and one
 * dispatcher thread for callbacks, as an application would have; with --inline, callbacks run on
 * the I/O thread instead (TRPC_DISPATCH_IO).
 */
#include "perf/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <trpc/trpc.h>

/* A subscription's or responder's callback and its argument. */
struct handler {
    union {
        bench_msg_fn *msg;
        bench_served_fn *served;
    } fn;
    void *ud;
};

struct conn {
    trpc_client *c;
    struct handler handlers[2]; /* a bench connection subscribes or serves once */
    unsigned nhandlers;
    bench_reply_fn *reply_fn; /* the one requester of this connection */
    void *reply_ud;
};

static int tb_connect(void **out, const char *url, const char *name, bool inline_cb)
{
    struct conn *k = calloc(1, sizeof(*k));
    trpc_options *o = NULL;
    if (!k)
        return -TRPC_E_NO_MEMORY;
    int rc = trpc_options_create(&o);
    if (rc == 0)
        rc = trpc_options_set_name(o, name);
    if (rc == 0 && inline_cb)
        rc = trpc_options_set_dispatch(o, TRPC_DISPATCH_IO, 1);
    if (rc == 0 && bench_tls_ca != NULL)
        rc = trpc_options_set_tls_ca(o, bench_tls_ca);
    if (rc == 0 && bench_tls_offload != BENCH_TLS_OFFLOAD_DEFAULT)
        rc = trpc_options_set_tls_offload(o, bench_tls_offload == BENCH_TLS_OFFLOAD_KERNEL ? TRPC_TLS_OFFLOAD_KERNEL
                                             : bench_tls_offload == BENCH_TLS_OFFLOAD_USER ? TRPC_TLS_OFFLOAD_USER
                                                                                           : TRPC_TLS_OFFLOAD_AUTO);
    if (rc == 0 && bench_connect_timeout_ms != 0)
        rc = trpc_options_set_connect_timeout(o, (int)bench_connect_timeout_ms);
    /* Credentials from the environment, never the command line (ps shows it). */
    if (rc == 0 && getenv("TRPC_TOKEN") != NULL)
        rc = trpc_options_set_token(o, getenv("TRPC_TOKEN"));
    else if (rc == 0 && getenv("TRPC_USER") != NULL)
        rc = trpc_options_set_credentials(o, getenv("TRPC_USER"), getenv("TRPC_PASSWORD") ? getenv("TRPC_PASSWORD") : "");
    if (rc == 0)
        rc = trpc_connect(&k->c, url, o);
    trpc_options_destroy(o);
    if (rc != 0) {
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

static void tb_close(void *conn)
{
    struct conn *k = conn;
    trpc_close(k->c);
    free(k);
}

static struct handler *handler_add(struct conn *k)
{
    if (k->nhandlers == sizeof(k->handlers) / sizeof(k->handlers[0]))
        return NULL;
    return &k->handlers[k->nhandlers++];
}

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *msg, void *ud)
{
    struct handler *h = ud;
    h->fn.msg(h->ud, trpc_msg_data(msg), trpc_msg_len(msg));
    trpc_msg_free(msg);
}

static int tb_subscribe(void *conn, const char *topic, const char *group, bench_msg_fn *fn, void *ud)
{
    struct conn *k = conn;
    struct handler *h = handler_add(k);
    trpc_sub *sub;
    if (!h)
        return -TRPC_E_INVALID_ARGUMENT;
    h->fn.msg = fn;
    h->ud = ud;
    if (group)
        return trpc_subscribe_group(k->c, topic, group, on_msg, h, &sub);
    return trpc_subscribe(k->c, topic, on_msg, h, &sub);
}

static void on_request(trpc_client *c, trpc_sub *sub, trpc_msg *msg, void *ud)
{
    struct handler *h = ud;
    if (trpc_msg_is_request(msg) && trpc_respond(msg, trpc_msg_data(msg), trpc_msg_len(msg)) == 0)
        h->fn.served(h->ud);
    trpc_msg_free(msg);
}

static int tb_serve(void *conn, const char *topic, const char *group, bench_served_fn *fn, void *ud)
{
    struct conn *k = conn;
    struct handler *h = handler_add(k);
    trpc_sub *sub;
    if (!h)
        return -TRPC_E_INVALID_ARGUMENT;
    h->fn.served = fn;
    h->ud = ud;
    return trpc_subscribe_group(k->c, topic, group, on_request, h, &sub);
}

static int tb_publish(void *conn, const char *topic, const void *data, size_t len)
{
    struct conn *k = conn;
    int rc = trpc_publish(k->c, topic, data, len);
    return rc == -TRPC_E_BUFFER_FULL ? BENCH_AGAIN : rc;
}

static void on_reply(trpc_client *c, int err, trpc_msg *reply, void *ud)
{
    struct conn *k = ud;
    if (err == 0)
        k->reply_fn(k->reply_ud, 0, trpc_msg_data(reply), trpc_msg_len(reply));
    else
        k->reply_fn(k->reply_ud, err, NULL, 0);
    trpc_msg_free(reply);
}

static int tb_request(void *conn, const char *topic, const void *data, size_t len, int timeout_ms, bench_reply_fn *fn, void *ud)
{
    struct conn *k = conn;
    /* Set by the first request, before any reply can run; later calls pass the same pair. */
    if (!k->reply_fn) {
        k->reply_fn = fn;
        k->reply_ud = ud;
    }
    return trpc_request_async(k->c, topic, data, len, timeout_ms, on_reply, k);
}

/* The broker puts its core, plus one, in the top 16 bits of the CONNACK's client id. */
static int tb_core(void *conn)
{
    struct conn *k = conn;
    uint64_t id = trpc_client_id(k->c);

    return id >> 48 != 0 ? (int)(id >> 48) - 1 : -1;
}

static int tb_flush(void *conn, int timeout_ms)
{
    struct conn *k = conn;
    return trpc_flush(k->c, timeout_ms);
}

/* An admin call answered {"ok": true, ...}: the admin API's compact JSON starts so. */
static int admin_call(struct conn *k, const char *verb, const char *doc, bool not_found_ok)
{
    char topic[64];
    trpc_msg *reply = NULL;
    int rc;

    snprintf(topic, sizeof(topic), "$trpc.admin.%s", verb);
    rc = trpc_request(k->c, topic, doc, strlen(doc), 10000, &reply);
    if (rc == 0) {
        const char *d = trpc_msg_data(reply);
        size_t n = trpc_msg_len(reply);

        if (!(n >= 10 && memcmp(d, "{\"ok\":true", 10) == 0) && !(not_found_ok && strstr(d, "NOT_FOUND") != NULL)) {
            fprintf(stderr, "trpc-bench: %s: %.*s\n", verb, (int)n, d);
            rc = -TRPC_E_INVALID_ARGUMENT;
        }
    }
    trpc_msg_free(reply);
    return rc;
}

static int tb_stream_delete(void *conn, const char *name)
{
    char doc[128];

    snprintf(doc, sizeof(doc), "{\"name\": \"%s\"}", name);
    return admin_call(conn, "stream.delete", doc, true);
}

/* stream.add: declaring a stream that exists (--keep left it) takes it as it is. */
static int tb_stream_create(void *conn, const char *name, const char *subject)
{
    char doc[256];

    snprintf(doc, sizeof(doc), "{\"name\": \"%s\", \"subjects\": [\"%s\"]}", name, subject);
    return admin_call(conn, "stream.add", doc, false);
}

/* Each acknowledged publish carries its own (fn, ud): the bench's ud names its in-flight slot. */
struct acked_slot {
    struct conn *k;
    bench_reply_fn *fn;
    void *ud;
};

static void on_acked_slot(trpc_client *c, int err, uint64_t seq, void *ud)
{
    struct acked_slot *s = ud;

    (void)c;
    (void)seq;
    s->fn(s->ud, err, NULL, 0);
    free(s);
}

static int tb_publish_acked(void *conn, const char *topic, const void *data, size_t len, int timeout_ms, bench_reply_fn *fn,
                            void *ud)
{
    struct conn *k = conn;
    struct acked_slot *s = malloc(sizeof(*s));
    int rc;

    if (s == NULL)
        return -TRPC_E_NO_MEMORY;
    *s = (struct acked_slot){k, fn, ud};
    rc = trpc_publish_async(k->c, topic, NULL, 0, data, len, timeout_ms, on_acked_slot, s);
    if (rc != 0)
        free(s);
    return rc;
}

static void on_durable(trpc_client *c, trpc_sub *sub, trpc_msg *msg, void *ud)
{
    struct handler *h = ud;

    (void)c;
    (void)sub;
    trpc_ack(msg);
    h->fn.msg(h->ud, trpc_msg_data(msg), trpc_msg_len(msg));
    trpc_msg_free(msg);
}

static int tb_subscribe_durable(void *conn, const char *topic, const char *group, bench_msg_fn *fn, void *ud)
{
    struct conn *k = conn;
    struct handler *h = handler_add(k);
    trpc_sub *sub;

    if (!h)
        return -TRPC_E_INVALID_ARGUMENT;
    h->fn.msg = fn;
    h->ud = ud;
    return trpc_subscribe_durable(k->c, topic, group, 1024, NULL, 0, on_durable, h, &sub);
}

/* The code's text, with the library's detail when the failed call ran on this thread. */
static const char *tb_strerror(int err)
{
    static _Thread_local char text[256];
    const char *detail = trpc_last_error();
    if (!detail || !*detail)
        return trpc_strerror(err);
    snprintf(text, sizeof(text), "%s (%s)", trpc_strerror(err), detail);
    return text;
}

int main(int argc, char **argv)
{
    static const struct bench_backend trpc = {
        .prog = "trpc-bench",
        .system = "TRPC",
        .url_default = "trpc://127.0.0.1:4250",
        .has_inline = true,
        .has_tls_offload = true,
        .connect = tb_connect,
        .close = tb_close,
        .subscribe = tb_subscribe,
        .serve = tb_serve,
        .publish = tb_publish,
        .request = tb_request,
        .flush = tb_flush,
        .strerror = tb_strerror,
        .stream_create = tb_stream_create,
        .stream_delete = tb_stream_delete,
        .publish_acked = tb_publish_acked,
        .subscribe_durable = tb_subscribe_durable,
        .core = tb_core,
    };
    return bench_main(&trpc, argc, argv);
}
