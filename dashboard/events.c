/*
 * The dashboard's live view: every second the HTTP thread sums the cores' counter blocks
 * (stats.h), turns them into rates, and pushes one JSON snapshot to every open event stream
 * (GET /api/events, server-sent events). A new stream first gets the last HTTP_HISTORY points, so
 * that its chart starts full.
 *
 * A stream whose client reads slower than one snapshot a second never queues: while a send is
 * still in flight, a newer snapshot replaces the one waiting behind it. Nothing here asks a core
 * anything; the counters are read as they are (relaxed loads), which is what a dashboard needs.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "dashboard/internal.h"
#include "src/control.h"
#include "src/core.h"
#include "src/log.h"

struct http_sse {
    h2o_generator_t gen; /* first: h2o's callbacks get it */
    struct http *h;
    h2o_req_t *req;
    struct http_sse *next;
    bool sending; /* an h2o_send in flight: buf must stay until proceed */
    bool closing; /* send the end once the one in flight is done */
    char *buf, *waiting;
    size_t buf_len, waiting_len;
    /* Authentication on: who opened it, asked about again every HTTP_RECHECK_MS (a logout, a
     * user disabled or no longer an admin ends it). */
    bool checked, checking;
    struct http_cred cred;
    uint64_t id, next_check_ns;
};

/* The rows of BROKER_STATS_MAP, learnt once from broker_stats_foreach. */
struct rows {
    size_t n;
    const char *name[BROKER_STATS_ROWS];
    enum broker_stat_kind kind[BROKER_STATS_ROWS];
    uint64_t v[BROKER_STATS_ROWS];
};

static int collect(void *arg, const char *name, enum broker_stat_kind kind, bool on_line, const char *help, uint64_t value)
{
    struct rows *r = arg;

    (void)on_line, (void)help;
    if (r->n < BROKER_STATS_ROWS) {
        r->name[r->n] = name;
        r->kind[r->n] = kind;
        r->v[r->n++] = value;
    }
    return 0;
}

static uint64_t realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double rate(uint64_t now, uint64_t before, double secs)
{
    return secs > 0 && now >= before ? (double)(now - before) / secs : 0;
}

static json_t *point_json(const struct http_point *p)
{
    return json_pack("{sIsfsfsfsfsfsIsf}", "t", (json_int_t)p->t_ms, "msgs_in", p->msgs_in, "msgs_out", p->msgs_out, "requests",
                     p->requests, "bytes_in", p->bytes_in, "bytes_out", p->bytes_out, "connections", (json_int_t)p->connections,
                     "auth_failures", p->auth_failures);
}

/* ---- streams ----------------------------------------------------------------------------------- */

static void sse_free(struct http_sse *s)
{
    struct http *h = s->h;

    for (struct http_sse **pp = &h->sse; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            h->nsse--;
            break;
        }
    }
    free(s->buf);
    free(s->waiting);
    OPENSSL_cleanse(&s->cred, sizeof(s->cred));
    free(s);
}

static void sse_send(struct http_sse *s)
{
    h2o_iovec_t v;

    assert(!s->sending);
    free(s->buf);
    s->buf = s->waiting;
    s->buf_len = s->waiting_len;
    s->waiting = NULL;
    s->waiting_len = 0;
    if (s->buf == NULL) {
        if (s->closing) {
            h2o_req_t *req = s->req;

            /* h2o forgets the generator at the final send (stop is not called): s goes now. */
            sse_free(s);
            h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        }
        return;
    }
    s->sending = true;
    v = h2o_iovec_init(s->buf, s->buf_len);
    h2o_send(s->req, &v, 1, H2O_SEND_STATE_IN_PROGRESS);
}

/* Queues event text (taken), replacing what waited: a slow reader gets the newest. */
static void sse_push(struct http_sse *s, char *text, size_t len)
{
    if (s->closing) {
        free(text);
        return;
    }
    free(s->waiting);
    s->waiting = text;
    s->waiting_len = len;
    if (!s->sending)
        sse_send(s);
}

static void sse_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    struct http_sse *s = (struct http_sse *)gen;

    (void)req;
    s->sending = false;
    sse_send(s);
}

/* h2o ends the stream: the client left, or the response was finished. */
static void sse_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    sse_free((struct http_sse *)gen);
}

static char *event_text(const char *event, const char *data, size_t data_len, size_t *len)
{
    char *text = NULL;
    int n = asprintf(&text, "event: %s\ndata: %.*s\n\n", event, (int)data_len, data);

    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return text;
}

static char *history_text(const struct http *h, size_t *len)
{
    json_t *points = json_array(), *root;
    char *doc, *text;

    for (unsigned i = 0; i < h->hist_len; i++) {
        unsigned k = (h->hist_head + HTTP_HISTORY - h->hist_len + i) % HTTP_HISTORY;

        json_array_append_new(points, point_json(&h->history[k]));
    }
    root = json_pack("{so}", "points", points);
    doc = root != NULL ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(root);
    if (doc == NULL)
        return NULL;
    /* "retry" asks EventSource to come back after 2 s when the stream breaks. */
    {
        char *body = event_text("history", doc, strlen(doc), len);

        free(doc);
        if (body == NULL || asprintf(&text, "retry: 2000\n%s", body) < 0) {
            free(body);
            return NULL;
        }
        free(body);
        *len = strlen(text);
    }
    return text;
}

void http_events_serve(struct http *h, h2o_req_t *req, const struct http_cred *cred)
{
    struct http_sse *s;
    char *text;
    size_t len;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
        http_respond_json(req, 405, "Method Not Allowed", "BAD_REQUEST", "the event stream takes GET");
        return;
    }
    if (h->nsse >= HTTP_SSE_MAX || h->draining) {
        http_respond_json(req, 503, "Service Unavailable", "BUSY", "too many event streams open: try again later");
        return;
    }
    s = calloc(1, sizeof(*s));
    text = history_text(h, &len);
    if (s == NULL || text == NULL) {
        free(s);
        free(text);
        http_respond_json(req, 500, "Internal Server Error", "INTERNAL", "out of memory");
        return;
    }
    s->gen.proceed = sse_proceed;
    s->gen.stop = sse_stop;
    s->h = h;
    s->id = ++h->sse_ids;
    if (cred != NULL) {
        s->checked = true;
        s->cred = *cred;
        s->next_check_ns = uring_now_ns() + (uint64_t)HTTP_RECHECK_MS * 1000000;
    }
    s->req = req;
    s->next = h->sse;
    h->sse = s;
    h->nsse++;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/event-stream"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_start_response(req, &s->gen);
    if (h->snapshot != NULL) {
        size_t snap_len;
        char *snap = event_text("snapshot", h->snapshot, h->snapshot_len, &snap_len);
        char *both = NULL;

        if (snap != NULL && asprintf(&both, "%s%s", text, snap) >= 0) {
            free(text);
            text = both;
            len = strlen(both);
        }
        free(snap);
    }
    sse_push(s, text, len);
}

/* Ends s: at once, or at the proceed of the send in flight (s is freed either way). */
static void sse_end(struct http_sse *s)
{
    if (s->closing)
        return;
    s->closing = true;
    free(s->waiting);
    s->waiting = NULL;
    if (!s->sending)
        sse_send(s);
}

void http_events_stop(struct http *h)
{
    struct http_sse *next;

    for (struct http_sse *s = h->sse; s != NULL; s = next) {
        next = s->next;
        sse_end(s);
    }
}

void http_events_end_session(struct http *h, const char *session)
{
    struct http_sse *next;

    for (struct http_sse *s = h->sse; s != NULL; s = next) {
        next = s->next;
        if (s->checked && strcmp(s->cred.session, session) == 0)
            sse_end(s);
    }
}

/* The control thread's word on stream id's session: one no longer valid ends it; a store that
 * cannot be read, or a broker stopping, does not. */
static void recheck_in(struct http *h, uint64_t id, const char *reply, size_t len)
{
    json_t *doc = reply != NULL ? json_loadb(reply, len, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
    struct http_sse *s = h->sse;

    while (s != NULL && s->id != id)
        s = s->next;
    if (s != NULL) {
        s->checking = false;
        s->next_check_ns = uring_now_ns() + (uint64_t)HTTP_RECHECK_MS * 1000000;
        if (code != NULL && (strcmp(code, "UNAUTHORIZED") == 0 || strcmp(code, "FORBIDDEN") == 0))
            sse_end(s);
    }
    json_decref(doc);
}

static void recheck(struct http *h, uint64_t now)
{
    struct http_sse *next;

    for (struct http_sse *s = h->sse; s != NULL; s = next) {
        next = s->next;
        if (!s->checked || s->checking || s->closing || now < s->next_check_ns)
            continue;
        /* Busy (HTTP_CALLS_MAX out): next round. */
        if (http_api_internal(h, "session.check", "{}", &s->cred, recheck_in, s->id) == 0)
            s->checking = true;
    }
}

/* ---- the sampler ------------------------------------------------------------------------------- */

static json_t *sample_json(struct http *h, const struct rows *r, double secs, uint64_t now_ms)
{
    struct control *ctl = h->b->ctl;
    json_t *totals = json_object(), *rates = json_object(), *cores = json_array();
    bool store_up = ctl != NULL && atomic_load_explicit(&ctl->pub_store_up, memory_order_relaxed);
    uint64_t up_ms = ctl != NULL ? (uring_now_ns() - ctl->started_mono_ns) / 1000000 : 0;
    struct http_point *p = &h->history[h->hist_head];
    uint64_t auth_failures = ctl != NULL ? atomic_load_explicit(&ctl->pub_auth_failures, memory_order_relaxed) : 0;

    for (size_t i = 0; i < r->n; i++) {
        json_object_set_new(totals, r->name[i], json_integer((json_int_t)r->v[i]));
        if (r->kind[i] == BROKER_STAT_COUNTER)
            json_object_set_new(rates, r->name[i], json_real(h->last_ns != 0 ? rate(r->v[i], h->last_rows[i], secs) : 0));
    }
    for (unsigned i = 0; i < h->ncores; i++) {
        struct broker_stats cs;
        struct timespec ts;
        uint64_t cpu_ns = 0;
        double cpu = 0;

        broker_stats_core(h->b, i, &cs);
        if (h->core_clocks[i] != (clockid_t)-1 && clock_gettime(h->core_clocks[i], &ts) == 0)
            cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        if (h->last_ns != 0 && secs > 0 && cpu_ns >= h->last_cpu_ns[i])
            cpu = (double)(cpu_ns - h->last_cpu_ns[i]) / 1e9 / secs;
        json_array_append_new(
            cores, json_pack("{sIsfsIsIsfsf}", "core", (json_int_t)i, "cpu", cpu, "connections", (json_int_t)cs.core.connections,
                             "subscriptions", (json_int_t)cs.core.subscriptions, "msgs_in",
                             h->last_ns != 0 ? rate(cs.core.msgs_in, h->last_core[i].core.msgs_in, secs) : 0.0, "msgs_out",
                             h->last_ns != 0 ? rate(cs.core.msgs_out, h->last_core[i].core.msgs_out, secs) : 0.0));
        h->last_core[i] = cs;
        h->last_cpu_ns[i] = cpu_ns;
    }
    *p = (struct http_point){
        .t_ms = now_ms,
        .msgs_in = json_real_value(json_object_get(rates, "msgs_in")),
        .msgs_out = json_real_value(json_object_get(rates, "msgs_out")),
        .requests = json_real_value(json_object_get(rates, "requests")),
        .bytes_in = json_real_value(json_object_get(rates, "bytes_in")),
        .bytes_out = json_real_value(json_object_get(rates, "bytes_out")),
        .connections = (uint64_t)json_integer_value(json_object_get(totals, "connections")),
        .auth_failures = h->last_ns != 0 ? rate(auth_failures, h->last_auth_failures, secs) : 0,
    };
    h->last_auth_failures = auth_failures;
    h->hist_head = (h->hist_head + 1) % HTTP_HISTORY;
    if (h->hist_len < HTTP_HISTORY)
        h->hist_len++;
    return json_pack("{sIsIsbsfsososo}", "t", (json_int_t)now_ms, "uptime_ms", (json_int_t)up_ms, "store_up", store_up,
                     "auth_failures", p->auth_failures, "totals", totals, "rates", rates, "cores", cores);
}

static void sample(struct http *h, uint64_t now_ns)
{
    struct broker_stats sum;
    struct rows r = {0};
    double secs = h->last_ns != 0 ? (double)(now_ns - h->last_ns) / 1e9 : 0;
    json_t *doc;
    char *text;

    broker_stats_sum(h->b, &sum);
    broker_stats_foreach(&sum, collect, &r);
    doc = sample_json(h, &r, secs, realtime_ms());
    memcpy(h->last_rows, r.v, sizeof(h->last_rows));
    h->last_ns = now_ns;
    text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(doc);
    if (text == NULL)
        return; /* out of memory: the streams keep the last one */
    free(h->snapshot);
    h->snapshot = text;
    h->snapshot_len = strlen(text);
    for (struct http_sse *s = h->sse; s != NULL; s = s->next) {
        size_t len;
        char *ev = event_text("snapshot", h->snapshot, h->snapshot_len, &len);

        if (ev != NULL)
            sse_push(s, ev, len);
    }
}

void http_events_tick(struct http *h)
{
    uint64_t now = uring_now_ns();

    recheck(h, now);
    if (now < h->next_sample_ns)
        return;
    sample(h, now);
    h->next_sample_ns = now + (uint64_t)HTTP_SAMPLE_MS * 1000000;
}

int http_events_init(struct http *h)
{
    struct broker *b = h->b;

    h->ncores = b->ncores < HTTP_CORES_MAX ? b->ncores : HTTP_CORES_MAX;
    h->last_core = calloc(h->ncores, sizeof(*h->last_core));
    h->last_cpu_ns = calloc(h->ncores, sizeof(*h->last_cpu_ns));
    if (h->last_core == NULL || h->last_cpu_ns == NULL)
        return -ENOMEM;
    /* Taken now, while every core thread runs: a clock id outlives its thread harmlessly (reading
     * it then fails), where a joined pthread_t may not be used at all. */
    for (unsigned i = 0; i < h->ncores; i++)
        if (pthread_getcpuclockid(b->cores[i]->thread, &h->core_clocks[i]) != 0)
            h->core_clocks[i] = (clockid_t)-1;
    return 0;
}

void http_events_free(struct http *h)
{
    /* Streams h2o still holds were freed by their stop when the loop closed their connections;
     * none is left unless the loop never ran. */
    while (h->sse != NULL)
        sse_free(h->sse);
    free(h->last_core);
    free(h->last_cpu_ns);
    free(h->snapshot);
    h->last_core = NULL;
    h->last_cpu_ns = NULL;
    h->snapshot = NULL;
}
