/*
 * The consumer group verbs of the admin API (docs/admin-api.md, "Consumer groups"), on the
 * control thread. A group lives on the owner core of its stream, in the stream's group log (not in
 * the store: its state changes with every delivery); each verb is one question to that core
 * (ADMIN_MB_GROUP, group_admin.c), after what can be checked here is checked: the stream exists,
 * the pattern is one it covers, the policy reads as the SUB headers' would, the dead-letter topic
 * has a stream.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/topic.h"
#include "src/admin.h"
#include "src/admin_api.h"
#include "src/control.h"
#include "src/core.h"
#include "src/group.h"
#include "src/stream.h"

#define GROUP_Q_MS 10000 /* a reset to a time reads the stream: give a large one time */

struct gpend {
    struct admin_wait w; /* first: admin_api_abandon */
    char stream[STREAM_NAME_MAX + 1];
    unsigned owner;
    struct group_admin_req *req; /* the question, copied for the owner by make() */
    size_t req_len;
};

static void gpend_free(struct gpend *p)
{
    free(p->req);
    free(p);
}

static void gpend_cleanup(struct admin_wait *w)
{
    struct gpend *p = (struct gpend *)(void *)w;

    free(p->req);
    p->req = NULL;
}

static json_t *group_doc(const struct group_info *g)
{
    json_t *doc = json_pack("{s:s, s:o, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "name", g->name,
                            "pattern", admin_api_text(g->filter), "members", (int)g->members, "next_seq", (json_int_t)g->next_seq,
                            "lag", (json_int_t)g->lag, "pending", (json_int_t)g->pending, "inflight", (json_int_t)g->inflight,
                            "waiting", (json_int_t)g->waiting, "lost", (json_int_t)g->lost, "delivered", (json_int_t)g->delivered,
                            "redelivered", (json_int_t)g->redelivered, "acked", (json_int_t)g->acked, "dead", (json_int_t)g->dead,
                            "termed", (json_int_t)g->termed, "max_deliveries", (json_int_t)g->max_deliveries, "ack_wait_ms",
                            (json_int_t)g->ack_wait_ms);

    if (doc == NULL)
        return NULL;
    json_object_set_new(doc, "expired", json_integer((json_int_t)g->expired));
    json_object_set_new(doc, "dlq", g->dlq[0] != '\0' ? admin_api_text(g->dlq) : json_null());
    if (g->has_backoff) {
        char text[96];

        policy_backoff_text(g->backoff_initial_ms, g->backoff_factor, g->backoff_max_ms, g->backoff_jitter_pm, text, sizeof(text));
        json_object_set_new(doc, "backoff", json_string(text));
    } else {
        json_object_set_new(doc, "backoff", json_null());
    }
    return doc;
}

static int stream_index(const struct control *ctl, const char *name)
{
    for (unsigned i = 0; i < ctl->nstreams; i++)
        if (strcmp(ctl->streams[i]->name, name) == 0)
            return (int)i;
    return -1;
}

static void *make(void *arg, unsigned core, uint64_t query)
{
    const struct gpend *p = arg;
    struct group_admin_req *r = malloc(p->req_len);

    (void)core;
    if (r != NULL) {
        memcpy(r, p->req, p->req_len);
        r->query = query;
        if (r->pol.dlq != NULL)
            r->pol.dlq = r->text + r->pattern_len;
    }
    return r;
}

static void fail(struct control *ctl, struct gpend *p, int err)
{
    const char *name = p->req->name;

    switch (err) {
    case -ENOENT:
        admin_api_fail(ctl, p->w.call, "NOT_FOUND", "stream %s has no consumer group %s", p->stream, name);
        break;
    case -EEXIST:
        admin_api_fail(ctl, p->w.call, "GROUP_EXISTS",
                       "consumer group %s of stream %s exists with another definition (group.info shows it)", name, p->stream);
        break;
    case -ENOSPC:
        admin_api_fail(ctl, p->w.call, "LIMIT", "a stream has at most %d consumer groups", GROUPS_PER_STREAM);
        break;
    case -EIO:
        admin_api_fail(ctl, p->w.call, "STORAGE_FAILED", "stream %s: its log failed or is being opened again", p->stream);
        break;
    case -ERANGE:
        admin_api_fail(ctl, p->w.call, "BAD_REQUEST", "seq %" PRIu64 " is past the end of stream %s", p->req->seq, p->stream);
        break;
    default:
        admin_api_fail_stream(ctl, p->w.call, p->stream, err, NULL);
        break;
    }
}

static void done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct gpend *p = arg;
    const struct group_info *in;
    json_t *doc;

    if (err == 0 && (n < 1 || parts[0] == NULL))
        err = -ETIMEDOUT;
    if (err == 0)
        err = parts[0]->err;
    if (err == 0 && parts[0]->n != 1)
        err = -ENOMEM;
    if (err != 0) {
        fail(ctl, p, err);
        gpend_free(p);
        return;
    }
    in = parts[0]->items;
    doc = json_pack("{s:b, s:s, s:o}", "ok", 1, "stream", p->stream, "group", group_doc(in));
    if (doc != NULL && p->req->op == GROUP_OP_ADD)
        json_object_set_new(doc, "created", json_boolean(in->created));
    if (doc != NULL && p->req->op == GROUP_OP_RESET)
        json_object_set_new(doc, "dropped", json_integer((json_int_t)in->dropped));
    admin_api_reply(ctl, p->w.call, doc);
    gpend_free(p);
}

/* The pending call for a verb on group name of stream: NULL when answered (no such stream). */
static struct gpend *start(struct control *ctl, struct admin_call *call, const char *stream, const char *name, size_t text_len)
{
    struct gpend *p;

    if (stream_index(ctl, stream) < 0) {
        admin_api_fail(ctl, call, "NOT_FOUND", "no stream %s", stream);
        return NULL;
    }
    if (!stream_name_ok(name, strlen(name), GROUP_NAME_MAX)) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "name: a consumer group's name is 1 to %d letters, digits, '_' and '-'",
                       GROUP_NAME_MAX);
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (p != NULL) {
        p->req_len = sizeof(*p->req) + text_len;
        p->req = calloc(1, p->req_len);
    }
    if (p == NULL || p->req == NULL) {
        free(p);
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
        return NULL;
    }
    p->w.ctl = ctl;
    p->w.call = call;
    p->w.cleanup = gpend_cleanup;
    snprintf(p->stream, sizeof(p->stream), "%s", stream);
    p->owner = stream_owner(stream, ctl->b->ncores);
    p->req->stream_id = ctl->stream_ids[stream_index(ctl, stream)];
    snprintf(p->req->name, sizeof(p->req->name), "%s", name);
    return p;
}

static void ask(struct control *ctl, struct gpend *p, uint8_t op)
{
    p->req->op = op;
    if (control_ask_with(ctl, ADMIN_MB_GROUP, (int)p->owner, GROUP_Q_MS, make, p, done, p) != 0) {
        admin_api_fail(ctl, p->w.call, "INTERNAL", "out of memory");
        gpend_free(p);
    }
}

/* group.info and group.delete: {"stream": S, "name": N}. */
static void named(struct control *ctl, struct admin_call *call, json_t *req, uint8_t op)
{
    const char *stream, *name;
    json_error_t err;
    struct gpend *p;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s, s:s}", "stream", &stream, "name", &name) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    p = start(ctl, call, stream, name, 0);
    if (p != NULL)
        ask(ctl, p, op);
}

void admin_group_info(struct control *ctl, struct admin_call *call, json_t *req)
{
    named(ctl, call, req, GROUP_OP_INFO);
}

void admin_group_delete(struct control *ctl, struct admin_call *call, json_t *req)
{
    named(ctl, call, req, GROUP_OP_DELETE);
}

void admin_group_reset(struct control *ctl, struct admin_call *call, json_t *req)
{
    const char *stream, *name, *when = NULL;
    json_int_t seq = 0;
    json_error_t err;
    struct gpend *p;
    uint64_t ns = 0;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s, s:s, s?I, s?s}", "stream", &stream, "name", &name, "seq", &seq, "time",
                       &when) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    if ((seq != 0) == (when != NULL) || seq < 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "give either seq (1 or more) or time (RFC 3339)");
        return;
    }
    if (when != NULL && policy_time_parse(when, strlen(when), &ns) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "time: RFC 3339 with a 'Z' or an offset, as 2026-12-05T10:00:00Z");
        return;
    }
    p = start(ctl, call, stream, name, 0);
    if (p == NULL)
        return;
    p->req->seq = (uint64_t)seq;
    p->req->time_ns = ns;
    ask(ctl, p, GROUP_OP_RESET);
}

static bool has_stream_for(const struct control *ctl, const char *topic, size_t len)
{
    for (unsigned i = 0; i < ctl->nstreams; i++)
        for (unsigned k = 0; k < ctl->streams[i]->nsubjects; k++)
            if (topic_match(ctl->streams[i]->subjects[k], strlen(ctl->streams[i]->subjects[k]), topic, len))
                return true;
    return false;
}

static void group_add(struct control *ctl, struct admin_call *call, json_t *req, bool may_make);

/* A group.add waiting for its dead-letter stream to be made. */
struct gadd {
    struct admin_call *call;
    json_t *req;
};

static void dlq_made(struct control *ctl, void *arg, const char *code, const char *text)
{
    struct gadd *a = arg;

    if (code == NULL && text == NULL)
        a->call->done(ctl, a->call, NULL, 0); /* stopping: nobody to answer */
    else if (code != NULL)
        admin_api_fail(ctl, a->call, code, "dlq: no stream covered it, and making one failed: %s", text);
    else
        group_add(ctl, a->call, a->req, false);
    json_decref(a->req);
    free(a);
}

void admin_group_add(struct control *ctl, struct admin_call *call, json_t *req)
{
    group_add(ctl, call, req, true);
}

static void group_add(struct control *ctl, struct admin_call *call, json_t *req, bool may_make)
{
    static const char *const fields[][2] = {{"start", "trpc-start"},
                                            {"max_deliveries", "trpc-max-deliveries"},
                                            {"ack_wait_ms", "trpc-ack-wait"},
                                            {"backoff", "trpc-backoff"},
                                            {"dlq", "trpc-dlq"}};
    const char *stream, *name, *pattern = NULL;
    json_t *unused[5];
    json_error_t err;
    struct policy pol = {0};
    const struct stream_def *d;
    char why[POLICY_WHY_MAX + 32];
    struct gpend *p;
    bool covered = false;
    size_t plen;
    int i;

    /* Every key named, so that a misspelt one is refused; the policy is read below. */
    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s, s:s, s?s, s?o, s?o, s?o, s?o, s?o}", "stream", &stream, "name", &name,
                       "pattern", &pattern, "start", &unused[0], "max_deliveries", &unused[1], "ack_wait_ms", &unused[2], "backoff",
                       &unused[3], "dlq", &unused[4]) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    i = stream_index(ctl, stream);
    if (i < 0) {
        admin_api_fail(ctl, call, "NOT_FOUND", "no stream %s", stream);
        return;
    }
    d = ctl->streams[i];
    if (pattern == NULL) {
        if (d->nsubjects != 1) {
            admin_api_fail(ctl, call, "BAD_REQUEST", "pattern: stream %s has %u subjects: say which topics the group reads", stream,
                           d->nsubjects);
            return;
        }
        pattern = d->subjects[0];
    }
    plen = strlen(pattern);
    if (plen > ctl->cfg.limits.max_topic || topic_check_pattern(pattern, plen) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "pattern: not a valid topic pattern of at most %u bytes",
                       (unsigned)ctl->cfg.limits.max_topic);
        return;
    }
    for (unsigned k = 0; !covered && k < d->nsubjects; k++)
        covered = stream_pattern_covers(d->subjects[k], strlen(d->subjects[k]), pattern, plen);
    if (!covered) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "pattern: stream %s does not cover %s", stream, pattern);
        return;
    }
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        if (stream_policy_field(req, fields[f][0], fields[f][1], pattern, ctl->cfg.limits.max_topic, &pol, why, sizeof(why)) != 0) {
            admin_api_fail(ctl, call, "BAD_REQUEST", "%s", why);
            return;
        }
    }
    policy_default(&pol, &d->defaults); /* what the request leaves out, the stream's defaults say */
    if (pol.dlq != NULL && !has_stream_for(ctl, pol.dlq, pol.dlq_len)) {
        struct gadd *a = may_make ? malloc(sizeof(*a)) : NULL;

        if (a == NULL) {
            admin_api_fail(ctl, call, may_make ? "INTERNAL" : "BUSY", "dlq: no stream covers %.*s%s",
                           (int)(pol.dlq_len > 200 ? 200 : pol.dlq_len), pol.dlq,
                           may_make ? ": out of memory" : " (the one made for it went away): try again");
            return;
        }
        /* Made first, so that nothing the group fails is ever without a place. */
        *a = (struct gadd){.call = call, .req = json_incref(req)};
        admin_dlq_stream(ctl, pol.dlq, pol.dlq_len, dlq_made, a);
        return;
    }
    p = start(ctl, call, stream, name, plen + pol.dlq_len);
    if (p == NULL)
        return;
    memcpy(p->req->text, pattern, plen);
    if (pol.dlq_len > 0)
        memcpy(p->req->text + plen, pol.dlq, pol.dlq_len);
    p->req->pattern_len = (uint16_t)plen;
    p->req->pol = pol;
    p->req->pol.durable = true;
    if (pol.dlq != NULL)
        p->req->pol.dlq = p->req->text + plen;
    ask(ctl, p, GROUP_OP_ADD);
}

/* group.list: {"stream": S}, every group of the stream (ADMIN_MB_STREAM_GROUPS). */
static void list_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct gpend *p = arg;
    json_t *list = json_array();

    if (err == 0 && (n < 1 || parts[0] == NULL))
        err = -ETIMEDOUT;
    if (err == 0)
        err = parts[0]->err;
    if (err != 0) {
        json_decref(list);
        fail(ctl, p, err);
        gpend_free(p);
        return;
    }
    for (size_t i = 0; list != NULL && i < parts[0]->n; i++)
        json_array_append_new(list, group_doc(&((const struct group_info *)parts[0]->items)[i]));
    admin_api_reply(ctl, p->w.call,
                    list != NULL ? json_pack("{s:b, s:s, s:o}", "ok", 1, "stream", p->stream, "groups", list) : NULL);
    gpend_free(p);
}

static void *make_list(void *arg, unsigned core, uint64_t query)
{
    const struct gpend *p = arg;
    struct stream_req *r = calloc(1, sizeof(*r));

    (void)core;
    if (r != NULL) {
        r->query = query;
        r->id = p->req->stream_id;
    }
    return r;
}

void admin_group_list(struct control *ctl, struct admin_call *call, json_t *req)
{
    const char *stream;
    json_error_t err;
    struct gpend *p;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s}", "stream", &stream) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    p = start(ctl, call, stream, "list", 0);
    if (p != NULL && control_ask_with(ctl, ADMIN_MB_STREAM_GROUPS, (int)p->owner, GROUP_Q_MS, make_list, p, list_done, p) != 0) {
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
        gpend_free(p);
    }
}
