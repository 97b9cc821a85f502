/*
 * The dead-letter verbs of the admin API (docs/admin-api.md, "Dead letters"), on the control
 * thread: dlq.list shows a dead-letter stream's messages with where they came from and why they
 * failed (the trpc-dlq-* headers a consumer group wrote), dlq.redrive publishes them again on
 * their origin topic, dlq.purge deletes them. Each is one question to the stream's owner (ADMIN_MB_DLQ, stream_dlq.c),
 * bounded in count, and say where a next call goes on (next_seq, more).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/admin.h"
#include "src/admin_api.h"
#include "src/control.h"
#include "src/core.h"
#include "src/stream.h"

#define DLQ_Q_MS            30000 /* a redrive waits for the disk of every copy */
#define DLQ_LIST_DEFAULT    100
#define DLQ_LIST_MAX        1000
#define DLQ_REDRIVE_DEFAULT 1000
#define DLQ_REDRIVE_MAX     10000

struct dpend {
    struct admin_wait w; /* first: admin_api_abandon */
    char stream[STREAM_NAME_MAX + 1];
    struct stream_dlq_req req;
};

static void *make(void *arg, unsigned core, uint64_t query)
{
    const struct dpend *p = arg;
    struct stream_dlq_req *r = malloc(sizeof(*r));

    (void)core;
    if (r != NULL) {
        *r = p->req;
        r->query = query;
    }
    return r;
}

/* The value of header key among [{"key", "value"}], or null. */
static json_t *header_value(json_t *headers, const char *key)
{
    json_t *h;
    size_t i;

    json_array_foreach(headers, i, h)
    {
        const char *k = json_string_value(json_object_get(h, "key"));

        if (k != NULL && strcmp(k, key) == 0)
            return json_incref(json_object_get(h, "value"));
    }
    return json_null();
}

static json_t *message_doc(const struct stream_msg *m)
{
    static const char *const from[][2] = {{"origin_topic", "trpc-dlq-topic"},
                                          {"origin_stream", "trpc-dlq-stream"},
                                          {"origin_seq", "trpc-dlq-seq"},
                                          {"group", "trpc-dlq-group"},
                                          {"deliveries", "trpc-dlq-deliveries"},
                                          {"reason", "trpc-dlq-reason"},
                                          {"term_reason", "trpc-dlq-term-reason"},
                                          {"last_client", "trpc-dlq-last-client"},
                                          {"first_delivery", "trpc-dlq-first-delivery"},
                                          {"last_delivery", "trpc-dlq-last-delivery"}};
    json_t *doc = admin_stream_msg_doc(m), *headers = json_object_get(doc, "headers");

    for (size_t i = 0; doc != NULL && i < sizeof(from) / sizeof(from[0]); i++)
        json_object_set_new(doc, from[i][0], header_value(headers, from[i][1]));
    return doc;
}

/* The list of res's messages under "messages" of doc, each taking doc past budget only when it is
 * the first (then without its body: admin_stream_fit): a list cut short says where the next call
 * goes on, as a cut by the core's STREAM_DLQ_LIST_BYTES does. -ENOMEM, or 0. */
static int list_fill(json_t *doc, const struct stream_dlq_result *res, size_t budget)
{
    json_t *list = json_array();
    /* next_seq and more may grow: room for the longest of each */
    size_t bytes = admin_api_doc_len(doc) + sizeof("\"messages\":[],") + 40;

    if (list == NULL)
        return -ENOMEM;
    for (size_t at = 0, i = 0; i < res->count; i++) {
        const struct stream_msg *m = (const struct stream_msg *)(const void *)(res->msgs + at);
        json_t *item = message_doc(m);
        size_t len = admin_api_doc_len(item);

        if (item == NULL) {
            json_decref(list);
            return -ENOMEM;
        }
        if (i > 0 && bytes + len > budget) {
            json_decref(item);
            json_object_set_new(doc, "next_seq", json_integer((json_int_t)m->seq));
            json_object_set_new(doc, "more", json_true());
            break;
        }
        if (i == 0 && bytes + len > budget)
            len = admin_stream_fit(item, budget > bytes ? budget - bytes : 0);
        bytes += len;
        json_array_append_new(list, item);
        at += (sizeof(*m) + m->len + 7) & ~(size_t)7;
    }
    json_object_set_new(doc, "messages", list);
    return 0;
}

static void done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct dpend *p = arg;
    const struct stream_dlq_result *res;
    json_t *doc;

    if (err == 0 && (n < 1 || parts[0] == NULL))
        err = -ETIMEDOUT;
    if (err == 0)
        err = parts[0]->err;
    if (err == 0 && parts[0]->n != 1)
        err = -ENOMEM;
    if (err != 0) {
        admin_api_fail_stream(ctl, p->w.call, p->stream, err, "(a redrive or purge may have gone on: dlq.list shows what is left)");
    } else {
        res = parts[0]->items;
        doc = json_pack("{s:b, s:s, s:I, s:b}", "ok", 1, "stream", p->stream, "next_seq", (json_int_t)res->next_seq, "more",
                        res->more);
        if (doc != NULL && p->req.op == STREAM_DLQ_LIST) {
            if (list_fill(doc, res, admin_api_reply_budget(ctl)) != 0) {
                json_decref(doc);
                doc = NULL;
            }
        } else if (doc != NULL) {
            if (p->req.op == STREAM_DLQ_PURGE)
                json_object_set_new(doc, "purged", json_integer((json_int_t)res->purged));
            else
                json_object_set_new(doc, "redriven", json_integer((json_int_t)res->redriven));
            json_object_set_new(doc, "failed", json_integer((json_int_t)res->failed));
            json_object_set_new(doc, "skipped", json_integer((json_int_t)res->skipped));
            json_object_set_new(doc, "why", res->why[0] != '\0' ? admin_api_text(res->why) : json_null());
        }
        admin_api_reply(ctl, p->w.call, doc);
    }
    free(p);
}

/* The fields the verbs share (redrive and purge also say which); the stream must exist. NULL when
 * answered. */
static struct dpend *parse(struct control *ctl, struct admin_call *call, json_t *req, uint8_t op)
{
    json_int_t seq = 0, from = 0, to = 0, limit = 0;
    const char *stream, *reason = "";
    int all = 0, found = -1;
    json_error_t err;
    struct dpend *p;
    bool redrive = op != STREAM_DLQ_LIST; /* or purge: the same selection */

    if (redrive ? json_unpack_ex(req, &err, JSON_STRICT, "{s:s, s?I, s?I, s?I, s?b, s?s, s?I}", "stream", &stream, "seq", &seq,
                                 "from", &from, "to", &to, "all", &all, "reason", &reason, "limit", &limit) != 0
                : json_unpack_ex(req, &err, JSON_STRICT, "{s:s, s?I, s?s, s?I}", "stream", &stream, "from", &from, "reason",
                                 &reason, "limit", &limit) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return NULL;
    }
    for (unsigned i = 0; i < ctl->nstreams; i++)
        if (strcmp(ctl->streams[i]->name, stream) == 0)
            found = (int)i;
    if (found < 0) {
        admin_api_fail(ctl, call, "NOT_FOUND", "no stream %s", stream);
        return NULL;
    }
    if (seq < 0 || from < 0 || to < 0 || (to != 0 && to < from)) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "seq, from and to are sequences (1 or more), from at most to");
        return NULL;
    }
    if (redrive && (seq != 0) + (from != 0 || to != 0) + (all != 0) != 1) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "say which: seq (one), from and to (a range: either may be left out), or all");
        return NULL;
    }
    if (limit < 0 || limit > (redrive ? DLQ_REDRIVE_MAX : DLQ_LIST_MAX)) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "limit: from 1 to %d (0 or none: %d)", redrive ? DLQ_REDRIVE_MAX : DLQ_LIST_MAX,
                       redrive ? DLQ_REDRIVE_DEFAULT : DLQ_LIST_DEFAULT);
        return NULL;
    }
    if (strlen(reason) > STREAM_DLQ_REASON_MAX) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "reason: at most %d bytes (nack, timeout, member left, term)",
                       STREAM_DLQ_REASON_MAX);
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
        return NULL;
    }
    p->w.ctl = ctl;
    p->w.call = call;
    snprintf(p->stream, sizeof(p->stream), "%s", stream);
    p->req.id = ctl->stream_ids[found];
    p->req.op = op;
    p->req.from = seq != 0 ? (uint64_t)seq : (uint64_t)from;
    p->req.to = seq != 0 ? (uint64_t)seq : (uint64_t)to;
    p->req.limit = limit != 0 ? (uint32_t)limit : redrive ? DLQ_REDRIVE_DEFAULT : DLQ_LIST_DEFAULT;
    snprintf(p->req.reason, sizeof(p->req.reason), "%s", reason);
    return p;
}

static void ask(struct control *ctl, const char *stream, struct dpend *p)
{
    unsigned owner = stream_owner(stream, ctl->b->ncores);

    if (control_ask_with(ctl, ADMIN_MB_DLQ, (int)owner, DLQ_Q_MS, make, p, done, p) != 0) {
        admin_api_fail(ctl, p->w.call, "INTERNAL", "out of memory");
        free(p);
    }
}

static void run(struct control *ctl, struct admin_call *call, json_t *req, uint8_t op)
{
    struct dpend *p = parse(ctl, call, req, op);

    if (p != NULL)
        ask(ctl, p->stream, p);
}

void admin_dlq_list(struct control *ctl, struct admin_call *call, json_t *req)
{
    run(ctl, call, req, STREAM_DLQ_LIST);
}

void admin_dlq_redrive(struct control *ctl, struct admin_call *call, json_t *req)
{
    run(ctl, call, req, STREAM_DLQ_REDRIVE);
}

void admin_dlq_purge(struct control *ctl, struct admin_call *call, json_t *req)
{
    run(ctl, call, req, STREAM_DLQ_PURGE);
}
