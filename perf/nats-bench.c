/*
 * nats-bench: the bench workloads (perf/bench.c) over the NATS C client, so perf/compare.sh can
 * run the same load against nats-server. Same flags and result line as trpc-bench.
 *
 * natsOptions_SetSendAsap makes every publish go out at once instead of after the client's 1 ms
 * flush delay, as TRPC's client does; without it NATS latency would be that delay. Requests use one
 * reply inbox per requester connection and natsConnection_PublishRequest, so many can be in flight
 * (natsConnection_Request waits for each). Subscriptions keep the client's default pending limits:
 * the bench window stays far below them.
 *
 * The durable workload runs on JetStream (nats-server -js): a file-storage stream, asynchronous
 * publishes (js_PublishMsgAsync) whose acknowledgement handler finds the bench's slot in a header
 * of the message, and a durable queue subscription with explicit acknowledgements (its members
 * share the consumer, as a TRPC consumer group's do). JetStream's file store acknowledges before
 * the data is synced (nats-server syncs every 2 minutes by default; sync_interval), which is the
 * comparison docs/performance.md states, not an equal one.
 */
#include "perf/bench.h"

#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUBS 2

struct handler {
    struct conn *k;
    union {
        bench_msg_fn *msg;
        bench_served_fn *served;
    } fn;
    void *ud;
};

struct conn {
    natsConnection *nc;
    natsSubscription *subs[MAX_SUBS];
    struct handler handlers[MAX_SUBS];
    unsigned nsubs;
    natsInbox *inbox; /* replies of this connection's requests */
    bench_reply_fn *reply_fn;
    void *reply_ud;
    jsCtx *js;                 /* JetStream, made by the first durable call */
    bench_reply_fn *stored_fn; /* the durable publisher's: one per connection, as the bench has */
};

/* Bench codes are negative, natsStatus values positive. */
static int err_of(natsStatus s)
{
    return -(int)s;
}

static int nb_connect(void **out, const char *url, const char *name, bool inline_cb)
{
    (void)inline_cb; /* has_inline is false: bench_main refuses --inline */
    struct conn *k = calloc(1, sizeof(*k));
    natsOptions *o = NULL;
    if (!k)
        return err_of(NATS_NO_MEMORY);
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, name);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK && bench_connect_timeout_ms != 0)
        s = natsOptions_SetTimeout(o, (int64_t)bench_connect_timeout_ms);
    if (s == NATS_OK && bench_tls_ca != NULL)
        s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && bench_tls_ca != NULL)
        s = natsOptions_LoadCATrustedCertificates(o, bench_tls_ca);
    if (s == NATS_OK)
        s = natsConnection_Connect(&k->nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        free(k);
        return err_of(s);
    }
    *out = k;
    return 0;
}

/* Drains the subscriptions first so no callback runs once this returns. */
static void nb_close(void *conn)
{
    struct conn *k = conn;
    for (unsigned i = 0; i < k->nsubs; i++)
        if (natsSubscription_Drain(k->subs[i]) == NATS_OK)
            natsSubscription_WaitForDrainCompletion(k->subs[i], 5000);
    natsConnection_Close(k->nc);
    for (unsigned i = 0; i < k->nsubs; i++)
        natsSubscription_Destroy(k->subs[i]);
    natsConnection_Destroy(k->nc);
    natsInbox_Destroy(k->inbox);
    jsCtx_Destroy(k->js);
    free(k);
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
    struct handler *h = ud;
    h->fn.msg(h->ud, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
    struct handler *h = ud;
    const char *reply = natsMsg_GetReply(msg);
    if (reply && natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg)) == NATS_OK)
        h->fn.served(h->ud);
    natsMsg_Destroy(msg);
}

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
    struct handler *h = ud;
    struct conn *k = h->k;
    k->reply_fn(k->reply_ud, 0, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static int sub_add(struct conn *k, const char *topic, const char *group, natsMsgHandler cb, struct handler **out)
{
    if (k->nsubs == MAX_SUBS)
        return err_of(NATS_INVALID_ARG);
    struct handler *h = &k->handlers[k->nsubs];
    natsStatus s;
    h->k = k;
    if (group)
        s = natsConnection_QueueSubscribe(&k->subs[k->nsubs], k->nc, topic, group, cb, h);
    else
        s = natsConnection_Subscribe(&k->subs[k->nsubs], k->nc, topic, cb, h);
    if (s != NATS_OK)
        return err_of(s);
    k->nsubs++;
    *out = h;
    return 0;
}

static int nb_subscribe(void *conn, const char *topic, const char *group, bench_msg_fn *fn, void *ud)
{
    struct handler *h;
    int rc = sub_add(conn, topic, group, on_msg, &h);
    if (rc == 0) {
        h->fn.msg = fn;
        h->ud = ud;
    }
    return rc;
}

static int nb_serve(void *conn, const char *topic, const char *group, bench_served_fn *fn, void *ud)
{
    struct handler *h;
    int rc = sub_add(conn, topic, group, on_request, &h);
    if (rc == 0) {
        h->fn.served = fn;
        h->ud = ud;
    }
    return rc;
}

static int nb_publish(void *conn, const char *topic, const void *data, size_t len)
{
    struct conn *k = conn;
    return err_of(natsConnection_Publish(k->nc, topic, data, (int)len));
}

/* The first request subscribes the connection's inbox; NATS has no per-request timeout here, so a
 * lost reply stays unanswered and the bench counts it as such. */
static int nb_request(void *conn, const char *topic, const void *data, size_t len, int timeout_ms, bench_reply_fn *fn, void *ud)
{
    struct conn *k = conn;
    if (!k->inbox) {
        struct handler *h;
        natsStatus s = natsInbox_Create(&k->inbox);
        if (s != NATS_OK)
            return err_of(s);
        k->reply_fn = fn;
        k->reply_ud = ud;
        int rc = sub_add(k, k->inbox, NULL, on_reply, &h);
        if (rc == 0)
            rc = err_of(natsConnection_Flush(k->nc));
        if (rc != 0)
            return rc;
    }
    return err_of(natsConnection_PublishRequest(k->nc, topic, k->inbox, data, (int)len));
}

static int nb_flush(void *conn, int timeout_ms)
{
    struct conn *k = conn;
    return err_of(natsConnection_FlushTimeout(k->nc, timeout_ms));
}

/* ---- JetStream ---------------------------------------------------------------------------------- */

/* The acknowledgement of one asynchronous publish: its slot is in header B. */
static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    struct conn *k = closure;
    const char *slot = NULL;
    void *ud = NULL;

    (void)js;
    if (natsMsgHeader_Get(msg, "B", &slot) == NATS_OK && slot != NULL)
        ud = (void *)(uintptr_t)strtoull(slot, NULL, 16);
    if (ud != NULL)
        k->stored_fn(ud, pa != NULL ? 0 : err_of(pae != NULL && pae->Err != NATS_OK ? pae->Err : NATS_ERR), NULL, 0);
    natsMsg_Destroy(msg);
}

static int js_of(struct conn *k)
{
    jsOptions o;
    natsStatus s;

    if (k->js != NULL)
        return 0;
    s = jsOptions_Init(&o);
    if (s == NATS_OK) {
        o.PublishAsync.AckHandler = on_puback;
        o.PublishAsync.AckHandlerClosure = k;
        o.PublishAsync.MaxPending = 65536; /* the bench's in-flight bound is its own */
        s = natsConnection_JetStream(&k->js, k->nc, &o);
    }
    return err_of(s);
}

static int nb_stream_delete(void *conn, const char *name)
{
    struct conn *k = conn;
    int rc = js_of(k);

    if (rc == 0) {
        natsStatus s = js_DeleteStream(k->js, name, NULL, NULL);

        rc = s == NATS_NOT_FOUND ? 0 : err_of(s);
    }
    return rc;
}

static int nb_stream_create(void *conn, const char *name, const char *subject)
{
    struct conn *k = conn;
    const char *subjects[] = {subject};
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    int rc = js_of(k);
    natsStatus s;

    if (rc != 0)
        return rc;
    s = jsStreamConfig_Init(&cfg);
    if (s == NATS_OK) {
        cfg.Name = name;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        s = js_AddStream(&si, k->js, &cfg, NULL, NULL);
        if (s != NATS_OK) { /* it exists (--keep left it): take it as it is */
            jsStreamInfo_Destroy(si);
            si = NULL;
            s = js_GetStreamInfo(&si, k->js, name, NULL, NULL);
        }
    }
    jsStreamInfo_Destroy(si);
    return err_of(s);
}

static int nb_publish_acked(void *conn, const char *topic, const void *data, size_t len, int timeout_ms, bench_reply_fn *fn,
                            void *ud)
{
    struct conn *k = conn;
    natsMsg *m = NULL;
    char slot[24];
    int rc = js_of(k);
    natsStatus s;

    (void)timeout_ms;
    if (rc != 0)
        return rc;
    k->stored_fn = fn;
    snprintf(slot, sizeof(slot), "%" PRIxPTR, (uintptr_t)ud);
    s = natsMsg_Create(&m, topic, NULL, data, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "B", slot);
    if (s == NATS_OK)
        s = js_PublishMsgAsync(k->js, &m, NULL);
    natsMsg_Destroy(m); /* NULL once the library took it */
    return err_of(s);
}

static void on_durable(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
    struct handler *h = ud;

    (void)nc;
    (void)sub;
    natsMsg_Ack(msg, NULL);
    h->fn.msg(h->ud, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static int nb_subscribe_durable(void *conn, const char *topic, const char *group, bench_msg_fn *fn, void *ud)
{
    struct conn *k = conn;
    jsSubOptions so;
    struct handler *h;
    int rc = js_of(k);
    natsStatus s;

    if (rc != 0)
        return rc;
    if (k->nsubs == MAX_SUBS)
        return err_of(NATS_INVALID_ARG);
    h = &k->handlers[k->nsubs];
    h->k = k;
    h->fn.msg = fn;
    h->ud = ud;
    s = jsSubOptions_Init(&so);
    if (s == NATS_OK) {
        so.Queue = group;
        so.Config.Durable = group;
        so.ManualAck = true;
        so.Config.AckPolicy = js_AckExplicit;
        so.Config.MaxAckPending = 1024; /* TRPC's window per member, the bench's */
        s = js_Subscribe(&k->subs[k->nsubs], k->js, topic, on_durable, h, NULL, &so, NULL);
    }
    if (s != NATS_OK)
        return err_of(s);
    k->nsubs++;
    return 0;
}

static const char *nb_strerror(int err)
{
    return natsStatus_GetText((natsStatus)-err);
}

int main(int argc, char **argv)
{
    static const struct bench_backend nats = {
        .prog = "nats-bench",
        .system = "NATS",
        .url_default = "nats://127.0.0.1:4222",
        .connect = nb_connect,
        .close = nb_close,
        .subscribe = nb_subscribe,
        .serve = nb_serve,
        .publish = nb_publish,
        .request = nb_request,
        .flush = nb_flush,
        .strerror = nb_strerror,
        .stream_create = nb_stream_create,
        .stream_delete = nb_stream_delete,
        .publish_acked = nb_publish_acked,
        .subscribe_durable = nb_subscribe_durable,
    };
    int rc = bench_main(&nats, argc, argv);
    nats_Close();
    return rc;
}
