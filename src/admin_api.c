/*
 * The admin API's verbs (admin_api.h). Documents are parsed and printed with jansson (why:
 * docs/performance.md, "JSON library for the admin API"); requests are unpacked strictly, so a
 * member the verb does not know is an error, never silently ignored.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "src/admin_api.h"
#include "src/control.h"
#include "src/core.h"
#include "src/log.h"
#include "src/store.h"

#define ERR_MSG_MAX 512

/* A call waiting for the cores' answers. */
struct pending {
    struct admin_wait w;
    json_int_t offset, limit, client;
};

void admin_api_reply(struct control *ctl, struct admin_call *call, json_t *doc)
{
    char *s = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;

    json_decref(doc);
    if (s == NULL) {
        /* Out of memory: the smallest reply that still says so. */
        static const char oom[] = "{\"ok\":false,\"error\":{\"code\":\"INTERNAL\",\"message\":\"out of memory\"}}";

        s = strdup(oom);
        if (s == NULL) {
            call->done(ctl, call, NULL, 0); /* the transport lets go; the request times out */
            return;
        }
    }
    call->done(ctl, call, s, strlen(s));
}

static const struct {
    const char *code;
    int status;
    const char *reason;
} errors[] = {
#define XX(code, status, reason) {#code, status, reason},
    ADMIN_API_ERRORS(XX)
#undef XX
};

static int error_find(const char *code)
{
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        if (strcmp(code, errors[i].code) == 0)
            return (int)i;
    return -1;
}

bool admin_api_error_known(const char *code)
{
    return error_find(code) >= 0;
}

int admin_api_error_status(const char *code, const char **reason)
{
    int i = error_find(code);

    *reason = i >= 0 ? errors[i].reason : "Internal Server Error";
    return i >= 0 ? errors[i].status : 500;
}

void admin_api_fail(struct control *ctl, struct admin_call *call, const char *code, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;

    assert(admin_api_error_known(code));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* The message may quote what the client sent (a verb, a value), which need not be UTF-8. */
    admin_api_reply(ctl, call, json_pack("{s:b, s:{s:s, s:o}}", "ok", 0, "error", "code", code, "message", admin_api_text(msg)));
}

void admin_api_fail_stream(struct control *ctl, struct admin_call *call, const char *stream, int err, const char *busy_hint)
{
    switch (err) {
    case -ESRCH:
        admin_api_fail(ctl, call, "NOT_FOUND", "no stream %s", stream);
        break;
    case -ETIMEDOUT:
    case -EAGAIN:
    case -EBUSY:
        admin_api_fail(ctl, call, "BUSY", "the stream's core did not answer in time, or is busy; try again%s%s",
                       busy_hint != NULL ? " " : "", busy_hint != NULL ? busy_hint : "");
        break;
    case -ENOMEM:
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
        break;
    default:
        admin_api_fail(ctl, call, "STORAGE_FAILED", "stream %s: its log failed (%s)", stream, strerror(-err));
        break;
    }
}

static json_t *ok_doc(void)
{
    return json_pack("{s:b}", "ok", 1);
}

/*
 * A JSON string of text that may not be UTF-8 (topics and group names may hold any byte above
 * 0x7f, and jansson refuses invalid UTF-8): each byte of an invalid sequence becomes U+FFFD, so
 * the entry is listed, changed, rather than lost.
 */
json_t *admin_api_textn(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    size_t at = 0;
    char *clean;

    if (j != NULL)
        return j;
    clean = malloc(n * 3 + 1);
    if (clean == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t len = 1;
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x80) {
            /* The longest prefix that is one valid character, if any. */
            len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
            if (len == 0 || i + len > n) {
                len = 0;
            } else {
                char tmp[5] = {0};
                json_t *t;

                memcpy(tmp, s + i, len);
                t = json_string(tmp);
                if (t == NULL)
                    len = 0;
                json_decref(t);
            }
            if (len == 0) {
                memcpy(clean + at, "\xef\xbf\xbd", 3);
                at += 3;
                i++;
                continue;
            }
        }
        memcpy(clean + at, s + i, len);
        at += len;
        i += len;
    }
    j = json_stringn(clean, at);
    free(clean);
    return j;
}

bool admin_api_utf8(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);

    json_decref(j);
    return j != NULL;
}

json_t *admin_api_text(const char *s)
{
    return admin_api_textn(s, strlen(s));
}

/* Appends item to list; false (and the reply should say INTERNAL) when either is missing. */
static bool append(json_t *list, json_t *item)
{
    return item != NULL && json_array_append_new(list, item) == 0;
}

/* RFC 3339, UTC, to the second. */
void admin_api_rfc3339(uint64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- server.info ------------------------------------------------------------------------------- */

static void server_info(struct control *ctl, struct admin_call *call, json_t *req)
{
    const struct broker *b = ctl->b;
    char started[32], listen[CONFIG_HOST_MAX + 16];
    json_t *doc;

    (void)req;
    admin_api_rfc3339(ctl->started_ns, started, sizeof(started));
    config_get(&ctl->cfg, "listen", listen, sizeof(listen));
    doc = json_pack("{s:b, s:s, s:s, s:s, s:I, s:s, s:i, s:s, s:I}", "ok", 1, "name", "trpc-broker", "version", PACKAGE_VERSION,
                    "started", started, "uptime_ms", (json_int_t)((uring_now_ns() - ctl->started_mono_ns) / 1000000), "listen",
                    listen, "cores", (int)b->ncores, "io_uring_tier", uring_tier_name(b->features.tier), "connections",
                    (json_int_t)atomic_load_explicit(&b->conns, memory_order_relaxed));
    if (doc != NULL && ctl->store != NULL &&
        json_object_set_new(doc, "store",
                            json_pack("{s:s, s:s, s:b, s:o, s:I}", "backend", store_backend_name(ctl->store), "url",
                                      store_location(ctl->store), "up", store_up(ctl->store), "last_error",
                                      admin_api_text(store_last_error(ctl->store)), "outages",
                                      (json_int_t)store_outages(ctl->store))) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    admin_api_reply(ctl, call, doc);
}

/* ---- settings ---------------------------------------------------------------------------------- */

static json_t *setting_doc(const struct config *cfg, const struct config_option_info *o)
{
    char value[CONFIG_PATH_MAX + 16];

    config_get(cfg, o->name, value, sizeof(value));
    return json_pack("{s:s, s:o, s:b, s:s}", "name", o->name, "value", admin_api_text(value), "live", o->live, "help", o->help);
}

static void settings_get(struct control *ctl, struct admin_call *call, json_t *req)
{
    const char *name = NULL;
    struct config_option_info o;
    json_t *doc = ok_doc(), *list = json_array();
    json_error_t err;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s?s}", "name", &name) != 0) {
        json_decref(doc);
        json_decref(list);
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    for (size_t i = 0; config_option_info(i, &o) == 0; i++) {
        if ((name == NULL || strcmp(name, o.name) == 0) && !append(list, setting_doc(&ctl->cfg, &o))) {
            json_decref(doc);
            json_decref(list);
            admin_api_fail(ctl, call, "INTERNAL", "out of memory");
            return;
        }
    }
    if (name != NULL && json_array_size(list) == 0) {
        json_decref(doc);
        json_decref(list);
        admin_api_fail(ctl, call, "NOT_FOUND", "no setting '%s'", name);
        return;
    }
    json_object_set_new(doc, "settings", list);
    admin_api_reply(ctl, call, doc);
}

/* Fails the call as control_settings_set's error ret says. */
static void settings_fail(struct control *ctl, struct admin_call *call, int ret, const char *msg)
{
    const char *code = ret == -ENOENT   ? "NOT_FOUND"
                       : ret == -EPERM  ? "NOT_LIVE"
                       : ret == -EAGAIN ? "STORE_UNAVAILABLE"
                       : ret == -ENOMEM ? "INTERNAL"
                                        : "INVALID_VALUE";

    admin_api_fail(ctl, call, code, "%s", msg);
}

/* doc with "ok": true, or NULL (taking doc) when out of memory. */
static json_t *ok_with(json_t *doc)
{
    if (doc != NULL && json_object_set_new(doc, "ok", json_true()) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static json_t *change_doc(const char *name, const char *value, const char *previous)
{
    return json_pack("{s:s, s:o, s:o}", "name", name, "value", admin_api_text(value), "previous", admin_api_text(previous));
}

/*
 * {"name": N, "value": V} changes one setting; {"settings": {N: V, ...}} several at once,
 * validated together (a request-timeout above the max-request-timeout in force can only rise with
 * it). The store takes them first: all or none.
 */
static void settings_set(struct control *ctl, struct admin_call *call, json_t *req)
{
    const char *name = NULL, *value = NULL, *names[ADMIN_SETTINGS_MAX], *values[ADMIN_SETTINGS_MAX], *key;
    char before[ADMIN_SETTINGS_MAX][CONFIG_PATH_MAX + 16], after[CONFIG_PATH_MAX + 16], msg[CONFIG_ERR_MAX];
    json_t *many = NULL, *v, *doc, *list;
    json_error_t err;
    size_t n = 0;
    int ret;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s?s, s?s, s?o}", "name", &name, "value", &value, "settings", &many) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    if (many != NULL ? name != NULL || value != NULL || !json_is_object(many) : name == NULL || value == NULL) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "give \"name\" and \"value\", or \"settings\": an object of names and values");
        return;
    }
    if (many == NULL) {
        names[n] = name;
        values[n++] = value;
    } else {
        if (json_object_size(many) == 0 || json_object_size(many) > ADMIN_SETTINGS_MAX) {
            admin_api_fail(ctl, call, "BAD_REQUEST", "\"settings\" must hold 1 to %d settings", ADMIN_SETTINGS_MAX);
            return;
        }
        json_object_foreach(many, key, v)
        {
            if (!json_is_string(v)) {
                admin_api_fail(ctl, call, "BAD_REQUEST", "setting '%s': the value must be a string", key);
                return;
            }
            names[n] = key;
            values[n++] = json_string_value(v);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (config_get(&ctl->cfg, names[i], before[i], sizeof(before[i])) != 0) {
            admin_api_fail(ctl, call, "NOT_FOUND", "no setting '%s'", names[i]);
            return;
        }
    }
    ret = control_settings_set(ctl, n, names, values, msg, sizeof(msg));
    if (ret != 0) {
        settings_fail(ctl, call, ret, msg);
        return;
    }
    if (many == NULL) {
        config_get(&ctl->cfg, name, after, sizeof(after));
        doc = change_doc(name, after, before[0]);
        admin_api_reply(ctl, call, ok_with(doc));
        return;
    }
    doc = ok_doc();
    list = json_array();
    for (size_t i = 0; i < n && list != NULL; i++) {
        config_get(&ctl->cfg, names[i], after, sizeof(after));
        if (!append(list, change_doc(names[i], after, before[i]))) {
            json_decref(list);
            list = NULL;
        }
    }
    /* json_object_set_new takes list even when doc is missing. */
    if (json_object_set_new(doc, "settings", list) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    admin_api_reply(ctl, call, doc);
}

/* {"name": N}: N takes its configured value again (config file or command line), and the store
 * forgets it. */
static void settings_reset(struct control *ctl, struct admin_call *call, json_t *req)
{
    char before[CONFIG_PATH_MAX + 16], after[CONFIG_PATH_MAX + 16], msg[CONFIG_ERR_MAX];
    const char *name;
    json_error_t err;
    json_t *doc;
    int ret;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s}", "name", &name) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    if (config_get(&ctl->cfg, name, before, sizeof(before)) != 0) {
        admin_api_fail(ctl, call, "NOT_FOUND", "no setting '%s'", name);
        return;
    }
    ret = control_settings_reset(ctl, name, msg, sizeof(msg));
    if (ret != 0) {
        settings_fail(ctl, call, ret, msg);
        return;
    }
    config_get(&ctl->cfg, name, after, sizeof(after));
    doc = change_doc(name, after, before);
    admin_api_reply(ctl, call, ok_with(doc));
}

/* ---- lists and kicks: questions to the cores ---------------------------------------------------- */

static int cmp_client(const void *a, const void *b)
{
    const struct admin_client *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_sub(const void *a, const void *b)
{
    const struct admin_sub *x = a, *y = b;

    if (x->client != y->client)
        return x->client < y->client ? -1 : 1;
    return x->sid < y->sid ? -1 : x->sid > y->sid;
}

/* Gathers the cores' items into one sorted array (borrowed from the parts). */
static void *gather(struct admin_part **parts, unsigned n, size_t size, size_t *total, int (*cmp)(const void *, const void *))
{
    size_t count = 0, at = 0;
    char *all;

    for (unsigned i = 0; i < n; i++)
        count += parts[i] != NULL ? parts[i]->n : 0;
    all = malloc(count ? count * size : 1);
    if (all == NULL)
        return NULL;
    for (unsigned i = 0; i < n; i++) {
        if (parts[i] == NULL || parts[i]->n == 0)
            continue;
        memcpy(all + at * size, parts[i]->items, parts[i]->n * size);
        at += parts[i]->n;
    }
    qsort(all, count, size, cmp);
    *total = count;
    return all;
}

/* Entries of a list of total that the page (offset, limit) holds. */
static size_t page_len(size_t total, const struct pending *p)
{
    size_t off = (size_t)p->offset, lim = (size_t)p->limit;

    return total <= off ? 0 : total - off < lim ? total - off : lim;
}

/* The cores' answers could not all be had: BUSY (retry) or INTERNAL. */
static bool parts_failed(struct control *ctl, struct admin_call *call, struct admin_part **parts, unsigned n, int err)
{
    for (unsigned i = 0; err == 0 && i < n; i++)
        if (parts[i] == NULL || parts[i]->err != 0)
            err = parts[i] == NULL ? -ETIMEDOUT : parts[i]->err;
    if (err == 0)
        return false;
    if (err == -ENOMEM)
        admin_api_fail(ctl, call, "INTERNAL", "a core ran out of memory answering");
    else
        admin_api_fail(ctl, call, "BUSY", "a core did not answer in time (%s): try again",
                       err == -EAGAIN ? "its mailbox is full" : "timeout");
    return true;
}

static json_t *client_doc(const void *item)
{
    const struct admin_client *a = item;
    char since[32];

    admin_api_rfc3339(a->connected_at, since, sizeof(since));
    return json_pack("{s:I, s:o, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o}", "id", (json_int_t)a->id, "name",
                     admin_api_text(a->name), "peer", a->peer, "core", (int)a->core, "subscriptions", (json_int_t)a->subscriptions,
                     "msgs_in", (json_int_t)a->msgs_in, "msgs_out", (json_int_t)a->msgs_out, "bytes_in", (json_int_t)a->bytes_in,
                     "bytes_out", (json_int_t)a->bytes_out, "pending_output", (json_int_t)a->pending_output, "keepalive_ms",
                     (json_int_t)a->keepalive_ms, "connected_since", since, "tls",
                     a->tls[0] != '\0' ? json_string(a->tls) : json_null());
}

static json_t *sub_doc(const void *item)
{
    const struct admin_sub *s = item;

    return json_pack("{s:I, s:I, s:o, s:o, s:I}", "client", (json_int_t)s->client, "sid", (json_int_t)s->sid, "pattern",
                     admin_api_text(s->pattern), "group", s->group ? admin_api_text(s->group) : json_null(), "delivered",
                     (json_int_t)s->delivered);
}

size_t admin_api_reply_budget(const struct control *ctl)
{
    uint64_t half = ctl->cfg.max_output_bytes / 2;

    assert(half > 0);
    return half < ADMIN_REPLY_MAX ? (size_t)half : ADMIN_REPLY_MAX;
}

size_t admin_api_doc_len(const json_t *doc)
{
    return doc != NULL ? json_dumpb(doc, NULL, 0, JSON_COMPACT) + 1 : 0;
}

/* The reply to a list: the cores' items gathered and sorted, then the page asked for, each item
 * as item_doc makes it, under `member`; the page ends early, after at least one item, where the
 * next would take the document past admin_api_reply_budget (the caller pages on from offset + items). */
static void list_done(struct control *ctl, struct pending *p, struct admin_part **parts, unsigned n, int err, size_t size,
                      int (*cmp)(const void *, const void *), json_t *(*item_doc)(const void *), const char *member)
{
    size_t total = 0, bytes = 256, budget = admin_api_reply_budget(ctl), want = 0;
    bool nomem = false;
    char *all;
    json_t *doc, *list;

    if (parts_failed(ctl, p->w.call, parts, n, err))
        return;
    all = gather(parts, n, size, &total, cmp);
    doc = ok_doc();
    list = json_array();
    for (size_t i = 0; all != NULL && list != NULL && i < page_len(total, p); i++) {
        json_t *item = item_doc(all + ((size_t)p->offset + i) * size);
        size_t len = admin_api_doc_len(item);

        if (i > 0 && bytes + len > budget) {
            json_decref(item);
            break;
        }
        bytes += len;
        want++;
        if (!append(list, item)) {
            nomem = true;
            break;
        }
    }
    if (all == NULL || doc == NULL || list == NULL || nomem || json_array_size(list) != want) {
        free(all);
        json_decref(doc);
        json_decref(list);
        admin_api_fail(ctl, p->w.call, "INTERNAL", "out of memory");
        return;
    }
    free(all);
    json_object_set_new(doc, "total", json_integer((json_int_t)total));
    json_object_set_new(doc, "offset", json_integer(p->offset));
    json_object_set_new(doc, member, list);
    admin_api_reply(ctl, p->w.call, doc);
}

static void clients_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    list_done(ctl, arg, parts, n, err, sizeof(struct admin_client), cmp_client, client_doc, "clients");
    free(arg);
}

static void subs_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    list_done(ctl, arg, parts, n, err, sizeof(struct admin_sub), cmp_sub, sub_doc, "subscriptions");
    free(arg);
}

static void kick_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct pending *p = arg;

    if (!parts_failed(ctl, p->w.call, parts, n, err)) {
        if (parts[0]->n == 0)
            admin_api_fail(ctl, p->w.call, "NOT_FOUND", "no client with id %" PRIu64, (uint64_t)p->client);
        else
            admin_api_reply(ctl, p->w.call, json_pack("{s:b, s:I}", "ok", 1, "id", p->client));
    }
    free(p);
}

static struct pending *pending_new(struct control *ctl, struct admin_call *call)
{
    struct pending *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
        return NULL;
    }
    p->w.ctl = ctl;
    p->w.call = call;
    p->limit = ADMIN_LIST_DEFAULT;
    return p;
}

static void ask(struct control *ctl, struct pending *p, uint32_t type, int core, control_parts_fn *fn)
{
    if (control_ask(ctl, type, core, (uint64_t)p->client, fn, p) != 0) {
        admin_api_fail(ctl, p->w.call, "INTERNAL", "out of memory");
        free(p);
    }
}

static void list(struct control *ctl, struct admin_call *call, json_t *req, uint32_t type, control_parts_fn *fn)
{
    struct pending *p = pending_new(ctl, call);
    json_error_t err;

    if (p == NULL)
        return;
    if (json_unpack_ex(req, &err, JSON_STRICT, "{s?I, s?I}", "offset", &p->offset, "limit", &p->limit) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        free(p);
        return;
    }
    if (p->offset < 0 || p->limit < 0 || p->limit > ADMIN_LIST_MAX) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "offset must be at least 0 and limit from 0 to %d", ADMIN_LIST_MAX);
        free(p);
        return;
    }
    ask(ctl, p, type, -1, fn);
}

static void clients_list(struct control *ctl, struct admin_call *call, json_t *req)
{
    list(ctl, call, req, ADMIN_MB_CLIENTS, clients_done);
}

static void subs_list(struct control *ctl, struct admin_call *call, json_t *req)
{
    list(ctl, call, req, ADMIN_MB_SUBS, subs_done);
}

static void clients_kick(struct control *ctl, struct admin_call *call, json_t *req)
{
    struct pending *p = pending_new(ctl, call);
    json_error_t err;
    uint64_t core;

    if (p == NULL)
        return;
    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:I}", "id", &p->client) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        free(p);
        return;
    }
    /* A client id names its core in the bits above 48 (core.c, on_accept), plus one. */
    core = (uint64_t)p->client >> 48;
    if (p->client <= 0 || core == 0 || core > ctl->b->ncores) {
        admin_api_fail(ctl, call, "NOT_FOUND", "no client with id %" PRId64, (int64_t)p->client);
        free(p);
        return;
    }
    ask(ctl, p, ADMIN_MB_KICK, (int)(core - 1), kick_done);
}

/* ---- TLS --------------------------------------------------------------------------------------- */

/* The certificate, key and client CA read again from their files (as SIGHUP does): new
 * connections get them, established ones keep theirs. A reload that fails keeps the old. */
static void tls_reload(struct control *ctl, struct admin_call *call, json_t *req)
{
    char msg[CONFIG_ERR_MAX];
    int ret;

    if (json_object_size(req) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "tls.reload takes {}");
        return;
    }
    ret = stls_reload(ctl->b, msg, sizeof(msg));
    if (ret != 0) {
        log_error(LOG_NO_CORE, "tls.reload: TLS certificates not reloaded, the old ones stay: %s", msg);
        admin_api_fail(ctl, call, ret == -ESRCH ? "NOT_FOUND" : "INVALID_VALUE", "%s", msg);
        return;
    }
    log_always(LOG_NO_CORE, "tls.reload: TLS certificates reloaded; new connections use them");
    admin_api_reply(ctl, call, json_pack("{s:b}", "ok", 1));
}

/* ---- dispatch ---------------------------------------------------------------------------------- */

static const struct verb {
    const char *name;
    void (*fn)(struct control *ctl, struct admin_call *call, json_t *req);
} verbs[] = {
    {"server.info", server_info},         {"settings.get", settings_get},
    {"settings.set", settings_set},       {"settings.reset", settings_reset},
    {"clients.list", clients_list},       {"clients.kick", clients_kick},
    {"tls.reload", tls_reload},           {"subs.list", subs_list},
    {"stream.add", admin_stream_add},     {"stream.delete", admin_stream_delete},
    {"stream.info", admin_stream_info},   {"stream.list", admin_stream_list},
    {"stream.get", admin_stream_get},     {"group.list", admin_group_list},
    {"stream.purge", admin_stream_purge}, {"group.add", admin_group_add},
    {"group.delete", admin_group_delete}, {"group.reset", admin_group_reset},
    {"group.info", admin_group_info},     {"dlq.list", admin_dlq_list},
    {"dlq.redrive", admin_dlq_redrive},   {"dlq.purge", admin_dlq_purge},
    {"stream.edit", admin_stream_edit},   {"user.add", admin_user_add},
    {"user.get", admin_user_get},         {"user.list", admin_user_list},
    {"user.del", admin_user_del},         {"user.passwd", admin_user_passwd},
    {"user.grant", admin_user_grant},     {"user.revoke", admin_user_revoke},
    {"user.enable", admin_user_enable},   {"user.disable", admin_user_disable},
    {"token.add", admin_token_add},       {"token.list", admin_token_list},
    {"token.del", admin_token_del},
};

void admin_api_call(struct control *ctl, struct admin_call *call)
{
    const struct verb *v = NULL;
    json_error_t err;
    json_t *req;

    if (call->http && strncmp(call->verb, "session.", 8) == 0) {
        control_dash_call(ctl, call); /* the dashboard's login, its own checks */
        return;
    }
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(call->verb, verbs[i].name) == 0)
            v = &verbs[i];
    if (v == NULL) {
        admin_api_fail(ctl, call, "UNKNOWN_VERB", "no admin verb '%s'", call->verb);
        return;
    }
    if (call->http && ctl->cfg.auth && !control_dash_allowed(ctl, call, true))
        return; /* answered */
    if (call->too_large) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "request document larger than %u bytes", ADMIN_DOC_MAX);
        return;
    }
    /* An empty document is {}; anything else must be one JSON object. */
    req = call->len == 0 ? json_object() : json_loadb((const char *)call->doc, call->len, JSON_REJECT_DUPLICATES, &err);
    if (req == NULL) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "not JSON: %s at line %d column %d", err.text, err.line, err.column);
        return;
    }
    if (!json_is_object(req)) {
        json_decref(req);
        admin_api_fail(ctl, call, "BAD_REQUEST", "the request must be a JSON object");
        return;
    }
    v->fn(ctl, call, req);
    json_decref(req);
}

/* ---- the client transport ---------------------------------------------------------------------- */

struct client_call {
    struct admin_call call; /* first: done gets it back */
    struct admin_req *req;
};

static void client_done(struct control *ctl, struct admin_call *call, char *doc, size_t len)
{
    struct client_call *cc = (struct client_call *)(void *)call;

    if (doc != NULL)
        control_reply(ctl, cc->req->core, cc->req->token, doc, len);
    /* The request may have carried a password (user.add, user.passwd). */
    OPENSSL_cleanse(cc->req->doc, cc->req->len);
    free(cc->req);
    free(cc);
}

void admin_api_request(struct control *ctl, struct admin_req *r)
{
    struct client_call *cc = calloc(1, sizeof(*cc));

    if (cc == NULL) {
        log_error(LOG_NO_CORE, "admin: out of memory; the request will time out");
        free(r);
        return;
    }
    cc->req = r;
    memcpy(cc->call.verb, r->verb, sizeof(cc->call.verb));
    cc->call.doc = r->doc;
    cc->call.len = r->len;
    cc->call.too_large = r->too_large;
    cc->call.done = client_done;
    admin_api_call(ctl, &cc->call);
}

void admin_api_abandon(void *arg)
{
    struct admin_wait *w = arg;

    if (w->cleanup != NULL)
        w->cleanup(w);
    if (w->call != NULL) /* NULL: the broker's own question (a log closed quietly), nobody to answer */
        w->call->done(w->ctl, w->call, NULL, 0);
    free(w);
}
