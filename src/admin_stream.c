/*
 * The stream verbs of the admin API (docs/admin-api.md, "Streams"), on the control thread. The
 * definitions live in the store (namespace "streams", key: the name, value: stream_def_encode);
 * the logs on their owner cores. A change takes rounds with the cores, one after another:
 *
 *   add:    the owner opens the log -> the store takes the definition -> every core takes the new
 *           table; the reply comes after the last, so a PUB sent after it is stored.
 *   delete: the store forgets it -> every core takes the new table -> the owner closes the log once
 *           what it holds is settled -> the log's directory is removed.
 *
 * One change at a time (ctl->streams_changing): another meanwhile is answered BUSY.
 */
#include <assert.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/admin.h"
#include "src/admin_api.h"
#include "src/control.h"
#include "src/core.h"
#include "src/log.h"
#include "src/store.h"
#include "src/stream.h"

#define NS          "streams"
#define STREAM_Q_MS 10000 /* opening a log reads it whole (recovery): give a large one time */
#define STREAM_WHY  256

struct spend {
    struct admin_wait w; /* first: admin_api_abandon */
    struct stream_def def;
    uint32_t id;
    unsigned owner;
    struct stream_info info;
    uint64_t seq;
    bool declare; /* stream.add of an existing stream: the reply says "created": false */
    int edit;     /* stream.edit: 1 the reply says "updated": true, -1 false (the same definition) */
};

static void spend_cleanup(struct admin_wait *w)
{
    struct spend *p = (struct spend *)(void *)w;

    stream_def_free(&p->def);
    p->w.ctl->streams_changing = false;
}

static struct spend *spend_new(struct control *ctl, struct admin_call *call)
{
    struct spend *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
        return NULL;
    }
    p->w.ctl = ctl;
    p->w.call = call;
    return p;
}

static void spend_free(struct spend *p)
{
    stream_def_free(&p->def);
    free(p);
}

static int find(const struct control *ctl, const char *name)
{
    for (unsigned i = 0; i < ctl->nstreams; i++)
        if (strcmp(ctl->streams[i]->name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- documents ---------------------------------------------------------------------------------- */

static json_t *log2_doc(const uint64_t *hist)
{
    json_t *a = json_array();

    for (unsigned b = 0; a != NULL && b < WAL_HIST_BUCKETS; b++)
        json_array_append_new(a, json_integer((json_int_t)hist[b]));
    return a;
}

/* The log's durable batches and their latencies (durability, and the writes alone), log2
 * histograms in microseconds. */
static json_t *wal_doc(const struct stream_info *in)
{
    return json_pack("{s:I, s:I, s:o*, s:I, s:o*}", "batches", (json_int_t)in->wal_batches, "sync_us_sum",
                     (json_int_t)in->wal_sync_us_sum, "sync_us_log2", log2_doc(in->wal_sync_us), "write_us_sum",
                     (json_int_t)in->wal_write_us_sum, "write_us_log2", log2_doc(in->wal_write_us));
}

static json_t *stream_doc(const struct control *ctl, unsigned i, const struct stream_info *in)
{
    const struct stream_def *d = ctl->streams[i];
    json_t *subj = json_array(), *doc;
    char created[40];

    for (unsigned j = 0; subj != NULL && j < d->nsubjects; j++)
        json_array_append_new(subj, admin_api_text(d->subjects[j]));
    admin_api_rfc3339(d->created_ns, created, sizeof(created));
    doc = json_pack("{s:s, s:o, s:I, s:s, s:i}", "name", d->name, "subjects", subj, "max_msg_size", (json_int_t)d->max_msg_size,
                    "created", created, "core", (int)stream_owner(d->name, ctl->b->ncores));
    if (doc != NULL) {
        stream_limits_put(doc, &d->lim);
        stream_defaults_put(doc, &d->defaults);
    }
    if (doc == NULL || in == NULL)
        return doc;
    json_object_set_new(doc, "messages", json_integer((json_int_t)in->msgs));
    json_object_set_new(doc, "bytes", json_integer((json_int_t)in->bytes));
    json_object_set_new(doc, "first_seq", json_integer((json_int_t)in->first_seq));
    json_object_set_new(doc, "last_seq", json_integer((json_int_t)in->last_seq));
    json_object_set_new(doc, "stored", json_integer((json_int_t)in->stored));
    json_object_set_new(doc, "refused", json_integer((json_int_t)in->refused));
    json_object_set_new(doc, "expired", json_integer((json_int_t)in->expired));
    json_object_set_new(doc, "duplicates", json_integer((json_int_t)in->duplicates));
    json_object_set_new(doc, "deleted", json_integer((json_int_t)in->deleted));
    json_object_set_new(doc, "pending", json_integer((json_int_t)in->pending));
    json_object_set_new(doc, "groups", json_integer((json_int_t)in->groups));
    json_object_set_new(doc, "direct_io", json_boolean(in->direct));
    json_object_set_new(doc, "wal", wal_doc(in));
    if (in->err != 0)
        json_object_set_new(doc, "error", json_string(strerror(-in->err)));
    if (in->recovery[0] != '\0')
        json_object_set_new(doc, "recovery", admin_api_text(in->recovery));
    return doc;
}

static int parts_err(struct admin_part **parts, unsigned n, int err)
{
    for (unsigned i = 0; err == 0 && i < n; i++)
        if (parts[i] == NULL)
            err = -ETIMEDOUT;
        else if (parts[i]->err != 0)
            err = parts[i]->err;
    return err;
}

static void fail_cores(struct control *ctl, struct admin_call *call, int err)
{
    if (err == -ETIMEDOUT || err == -EAGAIN)
        admin_api_fail(ctl, call, "BUSY", "a core did not answer in time; try again");
    else
        admin_api_fail(ctl, call, "INTERNAL", "%s", strerror(-err));
}

/* ---- tables and rounds ---------------------------------------------------------------------------- */

static void *make_req(void *arg, unsigned core, uint64_t query)
{
    const struct spend *p = arg;
    struct stream_req *r = calloc(1, sizeof(*r));

    (void)core;
    if (r != NULL) {
        r->query = query;
        r->id = p->id;
        r->seq = p->seq;
        snprintf(r->name, sizeof(r->name), "%s", p->def.name);
        r->lim = p->def.lim;
    }
    return r;
}

static struct stream_table *table_now(struct control *ctl)
{
    return stream_table_make((const struct stream_def *const *)ctl->streams, ctl->stream_ids, ctl->nstreams, ctl->b->ncores,
                             ctl->streams_gen);
}

static void *make_table(void *arg, unsigned core, uint64_t query)
{
    struct control *ctl = ((struct spend *)arg)->w.ctl;
    struct stream_req *r = calloc(1, sizeof(*r));

    (void)core;
    if (r == NULL)
        return NULL;
    r->query = query;
    r->table = table_now(ctl);
    if (r->table == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

static void ask(struct spend *p, uint32_t type, int core, control_make_fn *make, control_parts_fn *fn)
{
    struct control *ctl = p->w.ctl;

    if (core >= (int)ctl->b->ncores || control_ask_with(ctl, type, core, STREAM_Q_MS, make, p, fn, p) != 0) {
        if (p->w.cleanup != NULL)
            ctl->streams_changing = false; /* a change ends here */
        admin_api_fail(ctl, p->w.call, "INTERNAL", core >= (int)ctl->b->ncores ? "no core to ask" : "out of memory");
        spend_free(p);
    }
}

/* ---- add ------------------------------------------------------------------------------------------ */

static void add_tables_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct spend *p = arg;
    int i = find(ctl, p->def.name);

    ctl->streams_changing = false;
    err = parts_err(parts, n, err);
    if (err != 0)
        log_warn(LOG_NO_CORE, "stream %s: some cores may not route to it yet: %s", p->def.name, strerror(-err));
    admin_api_reply(ctl, p->w.call,
                    json_pack("{s:b, s:b, s:o}", "ok", 1, "created", 1, "stream", stream_doc(ctl, (unsigned)i, &p->info)));
    spend_free(p);
}

static void close_quietly_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    (void)ctl;
    (void)parts;
    (void)n;
    (void)err;
    free(arg);
}

/* A log opened for a stream that is not added after all. */
static void close_quietly(struct control *ctl, uint32_t id, unsigned owner)
{
    struct spend *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return;
    q->w.ctl = ctl;
    q->id = id;
    if (control_ask_with(ctl, ADMIN_MB_STREAM_CLOSE, (int)owner, STREAM_Q_MS, make_req, q, close_quietly_done, q) != 0)
        free(q);
}

static void add_open_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct spend *p = arg;
    size_t len = 0;
    char *val;
    int ret;

    err = parts_err(parts, n, err);
    if (err == 0 && parts[0]->n == 1)
        p->info = *(const struct stream_info *)parts[0]->items;
    if (err != 0 || p->info.err != 0) {
        ctl->streams_changing = false;
        close_quietly(ctl, p->id, p->owner);
        if (err != 0)
            fail_cores(ctl, p->w.call, err);
        else
            admin_api_fail(ctl, p->w.call, "STORAGE_FAILED", "cannot open the log of stream %s in %s/streams/%s: %s%s%s",
                           p->def.name, ctl->cfg.data_dir, p->def.name, strerror(-p->info.err), p->info.recovery[0] ? ": " : "",
                           p->info.recovery);
        spend_free(p);
        return;
    }
    val = stream_def_encode(&p->def, &len);
    ret = val != NULL ? store_put(ctl->store, NS, p->def.name, val, len) : -ENOMEM;
    free(val);
    if (ret != 0 || ctl->nstreams >= STREAMS_MAX) {
        ctl->streams_changing = false;
        close_quietly(ctl, p->id, p->owner);
        admin_api_fail(ctl, p->w.call, "STORE_UNAVAILABLE", "the store did not take the stream: %s", strerror(-ret));
        spend_free(p);
        return;
    }
    ctl->streams[ctl->nstreams] = malloc(sizeof(struct stream_def));
    if (ctl->streams[ctl->nstreams] == NULL) {
        ctl->streams_changing = false;
        admin_api_fail(ctl, p->w.call, "INTERNAL", "out of memory");
        spend_free(p);
        return;
    }
    *ctl->streams[ctl->nstreams] = p->def; /* the subjects move with it */
    memset(&p->def, 0, sizeof(p->def));
    snprintf(p->def.name, sizeof(p->def.name), "%s", ctl->streams[ctl->nstreams]->name);
    ctl->stream_ids[ctl->nstreams++] = p->id;
    ctl->streams_gen++;
    log_info(LOG_NO_CORE, "stream %s: added", p->def.name);
    ask(p, ADMIN_MB_STREAM_TABLE, -1, make_table, add_tables_done);
}

static int parse_def(struct control *ctl, json_t *req, struct stream_def *d, char *why, size_t whylen)
{
    json_int_t max = 0;
    json_error_t err;
    const char *name;
    json_t *subj, *item, *unused[10];
    size_t i;

    memset(d, 0, sizeof(*d));
    /* Every key named, so that a misspelt one is refused; the limits and defaults are read below. */
    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s, s:o, s?I, s?o, s?o, s?o, s?o, s?o, s?o, s?o, s?o, s?o, s?o}", "name", &name,
                       "subjects", &subj, "max_msg_size", &max, "max_msgs", &unused[0], "max_bytes", &unused[1], "max_age_ms",
                       &unused[2], "discard", &unused[3], "dedup_window_ms", &unused[4], "retention", &unused[5], "max_deliveries",
                       &unused[6], "ack_wait_ms", &unused[7], "backoff", &unused[8], "dlq", &unused[9]) != 0) {
        snprintf(why, whylen, "%s", err.text);
        return -EINVAL;
    }
    if (stream_limits_parse(req, &d->lim, why, whylen) != 0)
        return -EINVAL;
    if (stream_name_check(name, why, whylen) != 0)
        return -EINVAL;
    snprintf(d->name, sizeof(d->name), "%s", name);
    if (max < 0 || max > (json_int_t)ctl->cfg.limits.max_frame) {
        snprintf(why, whylen, "max_msg_size must be from 0 (the frame limit) to max-frame (%u)", ctl->cfg.limits.max_frame);
        return -EINVAL;
    }
    d->max_msg_size = (uint32_t)max;
    if (!json_is_array(subj) || json_array_size(subj) == 0) {
        snprintf(why, whylen, "subjects must be a list of 1 to %d patterns", STREAM_SUBJECTS_MAX);
        return -EINVAL;
    }
    json_array_foreach(subj, i, item)
    {
        if (!json_is_string(item)) {
            snprintf(why, whylen, "subject %zu is not a string", i + 1);
            stream_def_free(d);
            return -EINVAL;
        }
        if (stream_def_add_subject(d, json_string_value(item), ctl->cfg.limits.max_topic, why, whylen) != 0) {
            stream_def_free(d);
            return -EINVAL;
        }
    }
    if (stream_defaults_parse(req, d, ctl->cfg.limits.max_topic, why, whylen) != 0) {
        stream_def_free(d);
        return -EINVAL;
    }
    return 0;
}

/* The stream of another name one of d's subjects overlaps, or -1 (j: which of its subjects). */
static int overlapping(const struct control *ctl, const struct stream_def *d, unsigned *di, unsigned *oj)
{
    for (unsigned i = 0; i < ctl->nstreams; i++) {
        const struct stream_def *o = ctl->streams[i];

        if (strcmp(o->name, d->name) == 0)
            continue;
        for (unsigned a = 0; a < d->nsubjects; a++)
            for (unsigned b = 0; b < o->nsubjects; b++)
                if (stream_patterns_overlap(d->subjects[a], strlen(d->subjects[a]), o->subjects[b], strlen(o->subjects[b]))) {
                    *di = a;
                    *oj = b;
                    return (int)i;
                }
    }
    return -1;
}

static void info_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err);

/* Answers SUBJECTS_OVERLAP (and frees p) when a subject of p's definition overlaps another
 * stream's. */
static bool refuse_overlap(struct control *ctl, struct admin_call *call, struct spend *p)
{
    unsigned a, b;
    int o = overlapping(ctl, &p->def, &a, &b);

    if (o < 0)
        return false;
    admin_api_fail(ctl, call, "SUBJECTS_OVERLAP", "subject '%s' overlaps '%s' of stream %s: a topic belongs to one stream at most",
                   p->def.subjects[a], ctl->streams[o]->subjects[b], ctl->streams[o]->name);
    spend_free(p);
    return true;
}

/* The request's definition in a new pending call, or NULL when it failed (answered). */
static struct spend *parsed(struct control *ctl, struct admin_call *call, json_t *req)
{
    char why[STREAM_WHY];
    struct spend *p = spend_new(ctl, call);

    if (p != NULL && parse_def(ctl, req, &p->def, why, sizeof(why)) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", why);
        spend_free(p);
        p = NULL;
    }
    return p;
}

/* Another change of the streams is under way: answered BUSY and p freed. */
static bool changing(struct control *ctl, struct admin_call *call, struct spend *p)
{
    if (!ctl->streams_changing)
        return false;
    admin_api_fail(ctl, call, "BUSY", "another stream change is under way; try again");
    spend_free(p);
    return true;
}

void admin_stream_add(struct control *ctl, struct admin_call *call, json_t *req)
{
    struct spend *p;
    int i;

    p = parsed(ctl, call, req);
    if (p == NULL)
        return;
    i = find(ctl, p->def.name);
    if (i >= 0) {
        /* Declaring is idempotent: the same definition again is the stream as it is. */
        if (!stream_def_equal(ctl->streams[i], &p->def)) {
            admin_api_fail(ctl, call, "STREAM_EXISTS", "stream %s exists with another definition (stream.info shows it)",
                           p->def.name);
            spend_free(p);
            return;
        }
        p->id = ctl->stream_ids[i];
        p->owner = stream_owner(p->def.name, ctl->b->ncores);
        p->declare = true;
        ask(p, ADMIN_MB_STREAM_INFO, (int)p->owner, make_req, info_done);
        return;
    }
    if (refuse_overlap(ctl, call, p))
        return;
    if (ctl->nstreams >= STREAMS_MAX) {
        admin_api_fail(ctl, call, "LIMIT", "a broker has at most %d streams", STREAMS_MAX);
        spend_free(p);
        return;
    }
    if (changing(ctl, call, p))
        return;
    p->def.created_ns = core_realtime_ns();
    p->id = ++ctl->next_stream_id;
    p->owner = stream_owner(p->def.name, ctl->b->ncores);
    p->w.cleanup = spend_cleanup;
    ctl->streams_changing = true;
    ask(p, ADMIN_MB_STREAM_OPEN, (int)p->owner, make_req, add_open_done);
}

/* ---- edit --------------------------------------------------------------------------------------- */

static void edit_tables_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct spend *p = arg;

    ctl->streams_changing = false;
    p->w.cleanup = NULL;
    err = parts_err(parts, n, err);
    if (err != 0)
        log_warn(LOG_NO_CORE, "stream %s: some cores may not have its new definition yet: %s", p->def.name, strerror(-err));
    ask(p, ADMIN_MB_STREAM_INFO, (int)p->owner, make_req, info_done);
}

/* A stream's definition replaced by another (its name the same): subjects, max_msg_size, limits.
 * The log stays; tighter limits remove what they must at once, new subjects store from the reply
 * on, a subject dropped stores no more (groups read on what was stored). */
void admin_stream_edit(struct control *ctl, struct admin_call *call, json_t *req)
{
    struct stream_def *d;
    struct spend *p;
    size_t len = 0;
    char *val;
    int i, ret;

    p = parsed(ctl, call, req);
    if (p == NULL)
        return;
    i = find(ctl, p->def.name);
    if (i < 0) {
        admin_api_fail(ctl, call, "NOT_FOUND", "no stream %s (stream.add declares one)", p->def.name);
        spend_free(p);
        return;
    }
    p->id = ctl->stream_ids[i];
    p->owner = stream_owner(p->def.name, ctl->b->ncores);
    if (stream_def_equal(ctl->streams[i], &p->def)) {
        p->edit = -1;
        ask(p, ADMIN_MB_STREAM_INFO, (int)p->owner, make_req, info_done);
        return;
    }
    if (refuse_overlap(ctl, call, p))
        return;
    if (changing(ctl, call, p))
        return;
    p->def.created_ns = ctl->streams[i]->created_ns;
    val = stream_def_encode(&p->def, &len);
    ret = val != NULL ? store_put(ctl->store, NS, p->def.name, val, len) : -ENOMEM;
    free(val);
    if (ret != 0) {
        admin_api_fail(ctl, call, "STORE_UNAVAILABLE", "the store did not take the new definition: %s", strerror(-ret));
        spend_free(p);
        return;
    }
    /* The new definition in force here; the old one's subjects go with the copy made from p->def. */
    d = ctl->streams[i];
    stream_def_free(d);
    *d = p->def;
    memset(&p->def, 0, sizeof(p->def));
    snprintf(p->def.name, sizeof(p->def.name), "%s", d->name);
    p->edit = 1;
    ctl->streams_gen++;
    ctl->streams_changing = true;
    p->w.cleanup = spend_cleanup;
    log_info(LOG_NO_CORE, "stream %s: definition changed", d->name);
    ask(p, ADMIN_MB_STREAM_TABLE, -1, make_table, edit_tables_done);
}

/* ---- delete --------------------------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static void delete_closed(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct spend *p = arg;
    char dir[CONFIG_PATH_MAX + 96];

    ctl->streams_changing = false;
    err = parts_err(parts, n, err);
    if (err != 0) {
        /* The log stays on disk; a stream added under this name later recovers it. */
        log_warn(LOG_NO_CORE, "stream %s: deleted, but its core did not close its log in time: %s", p->def.name, strerror(-err));
    } else {
        snprintf(dir, sizeof(dir), "%s/streams/%s", ctl->cfg.data_dir, p->def.name);
        if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
            log_warn(LOG_NO_CORE, "stream %s: cannot remove %s: %s", p->def.name, dir, strerror(errno));
    }
    log_info(LOG_NO_CORE, "stream %s: deleted", p->def.name);
    admin_api_reply(ctl, p->w.call, json_pack("{s:b, s:s}", "ok", 1, "name", p->def.name));
    spend_free(p);
}

static void delete_tables_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct spend *p = arg;

    (void)ctl;
    err = parts_err(parts, n, err);
    if (err != 0)
        log_warn(LOG_NO_CORE, "stream %s: some cores may still route to it: %s", p->def.name, strerror(-err));
    ask(p, ADMIN_MB_STREAM_CLOSE, (int)p->owner, make_req, delete_closed);
}

void admin_stream_delete(struct control *ctl, struct admin_call *call, json_t *req)
{
    json_error_t err;
    const char *name;
    struct spend *p;
    int i, ret;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s}", "name", &name) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    i = find(ctl, name);
    if (i < 0) {
        admin_api_fail(ctl, call, "NOT_FOUND", "no stream %s", name);
        return;
    }
    if (ctl->streams_changing) {
        admin_api_fail(ctl, call, "BUSY", "another stream change is under way; try again");
        return;
    }
    ret = store_del(ctl->store, NS, name);
    if (ret != 0 && ret != -ENOENT) {
        admin_api_fail(ctl, call, "STORE_UNAVAILABLE", "the store did not forget the stream: %s", strerror(-ret));
        return;
    }
    p = spend_new(ctl, call);
    if (p == NULL)
        return;
    snprintf(p->def.name, sizeof(p->def.name), "%s", name);
    p->id = ctl->stream_ids[i];
    p->owner = stream_owner(name, ctl->b->ncores);
    stream_def_free(ctl->streams[i]);
    free(ctl->streams[i]);
    ctl->nstreams--;
    ctl->streams[i] = ctl->streams[ctl->nstreams];
    ctl->stream_ids[i] = ctl->stream_ids[ctl->nstreams];
    ctl->streams_gen++;
    ctl->streams_changing = true;
    p->w.cleanup = spend_cleanup;
    ask(p, ADMIN_MB_STREAM_TABLE, -1, make_table, delete_tables_done);
}

/* ---- info, list, get -------------------------------------------------------------------------------- */

static void info_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct spend *p = arg;
    int i = find(ctl, p->def.name);

    err = parts_err(parts, n, err);
    if (err != 0) {
        fail_cores(ctl, p->w.call, err);
    } else if (i < 0 || parts[0]->n != 1) {
        admin_api_fail(ctl, p->w.call, "NOT_FOUND", "no stream %s", p->def.name);
    } else {
        json_t *doc =
            json_pack("{s:b, s:o}", "ok", 1, "stream", stream_doc(ctl, (unsigned)i, (const struct stream_info *)parts[0]->items));

        if (doc != NULL && p->declare)
            json_object_set_new(doc, "created", json_false());
        if (doc != NULL && p->edit != 0)
            json_object_set_new(doc, "updated", json_boolean(p->edit > 0));
        admin_api_reply(ctl, p->w.call, doc);
    }
    spend_free(p);
}

/* A request naming an existing stream: its pending call, or NULL (answered). */
static struct spend *named(struct control *ctl, struct admin_call *call, json_t *req, const char *key, bool with_seq)
{
    json_int_t seq = 0;
    json_error_t err;
    const char *name;
    struct spend *p;
    int i;

    if (json_unpack_ex(req, &err, JSON_STRICT, with_seq ? "{s:s, s:I}" : "{s:s}", key, &name, "seq", &seq) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return NULL;
    }
    if (with_seq && seq <= 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "seq must be at least 1");
        return NULL;
    }
    i = find(ctl, name);
    if (i < 0) {
        admin_api_fail(ctl, call, "NOT_FOUND", "no stream %s", name);
        return NULL;
    }
    p = spend_new(ctl, call);
    if (p != NULL) {
        snprintf(p->def.name, sizeof(p->def.name), "%s", name);
        p->id = ctl->stream_ids[i];
        p->owner = stream_owner(name, ctl->b->ncores);
        p->seq = (uint64_t)seq;
    }
    return p;
}

static void purge_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct spend *p = arg;
    int i = find(ctl, p->def.name);
    const struct stream_info *in;
    json_t *doc;

    err = parts_err(parts, n, err);
    if (err != 0 && err != -ETIMEDOUT && err != -EAGAIN && err != -ENOMEM) {
        admin_api_fail(ctl, p->w.call, "STORAGE_FAILED", "stream %s cannot be purged: its log failed (%s)", p->def.name,
                       strerror(-err));
    } else if (err != 0) {
        fail_cores(ctl, p->w.call, err);
    } else if (i < 0 || parts[0]->n != 1) {
        admin_api_fail(ctl, p->w.call, "NOT_FOUND", "no stream %s", p->def.name);
    } else {
        in = parts[0]->items;
        doc = json_pack("{s:b, s:I, s:o}", "ok", 1, "purged", (json_int_t)in->purged, "stream", stream_doc(ctl, (unsigned)i, in));
        admin_api_reply(ctl, p->w.call, doc);
    }
    spend_free(p);
}

void admin_stream_purge(struct control *ctl, struct admin_call *call, json_t *req)
{
    struct spend *p = named(ctl, call, req, "name", false);

    if (p != NULL)
        ask(p, ADMIN_MB_STREAM_PURGE, (int)p->owner, make_req, purge_done);
}

void admin_stream_info(struct control *ctl, struct admin_call *call, json_t *req)
{
    struct spend *p = named(ctl, call, req, "name", false);

    if (p != NULL)
        ask(p, ADMIN_MB_STREAM_INFO, (int)p->owner, make_req, info_done);
}

static void list_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct spend *p = arg;
    json_t *list = json_array();

    err = parts_err(parts, n, err);
    if (err != 0) {
        json_decref(list);
        fail_cores(ctl, p->w.call, err);
        spend_free(p);
        return;
    }
    for (unsigned i = 0; list != NULL && i < ctl->nstreams; i++) {
        const struct stream_info *in = NULL;

        for (unsigned c = 0; in == NULL && c < n; c++)
            for (size_t k = 0; k < parts[c]->n; k++)
                if (((const struct stream_info *)parts[c]->items)[k].id == ctl->stream_ids[i])
                    in = &((const struct stream_info *)parts[c]->items)[k];
        json_array_append_new(list, stream_doc(ctl, i, in));
    }
    admin_api_reply(ctl, p->w.call, list != NULL ? json_pack("{s:b, s:o}", "ok", 1, "streams", list) : NULL);
    spend_free(p);
}

void admin_stream_list(struct control *ctl, struct admin_call *call, json_t *req)
{
    json_error_t err;
    struct spend *p;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{}") != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    p = spend_new(ctl, call);
    if (p != NULL)
        ask(p, ADMIN_MB_STREAM_INFO, -1, make_req, list_done);
}

json_t *admin_stream_headers(const uint8_t *h, uint32_t len)
{
    json_t *list = json_array();
    struct wire_header e;
    uint32_t pos = 0;

    /* Checked when it was published; a block that runs short ends the list. */
    while (list != NULL && wire_header_block_next(h, len, &pos, &e) == 1) {
        char key[256];
        json_t *val;

        memcpy(key, e.key, e.key_len < sizeof(key) ? e.key_len : sizeof(key) - 1);
        key[e.key_len < sizeof(key) ? e.key_len : sizeof(key) - 1] = '\0';
        val = json_stringn((const char *)e.val, e.val_len);
        json_array_append_new(list, json_pack("{s:s, s:o}", "key", key, "value", val != NULL ? val : json_null()));
    }
    return list;
}

char *admin_stream_base64(const uint8_t *in, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);

        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? abc[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

json_t *admin_stream_msg_doc(const struct stream_msg *m)
{
    const uint8_t *payload = m->body + m->topic_len + m->hdr_len;
    uint32_t plen = m->len - m->topic_len - m->hdr_len;
    char when[40], *b64;
    json_t *doc, *text;

    assert(m->len >= (uint32_t)m->topic_len + m->hdr_len);
    admin_api_rfc3339(m->time_ns, when, sizeof(when));
    b64 = admin_stream_base64(payload, plen);
    text = json_stringn((const char *)payload, plen); /* NULL unless UTF-8 */
    doc = json_pack("{s:I, s:s, s:o, s:o, s:I, s:s?, s:o, s:b, s:b}", "seq", (json_int_t)m->seq, "time", when, "topic",
                    admin_api_textn((const char *)m->body, m->topic_len), "headers",
                    admin_stream_headers(m->body + m->topic_len, m->hdr_len), "size", (json_int_t)plen, "payload_base64", b64,
                    "payload", text != NULL ? text : json_null(), "payload_omitted", 0, "headers_omitted", 0);
    /* s:s? took a NULL b64 (out of memory) for null: the message would look empty */
    if (b64 == NULL) {
        json_decref(doc);
        doc = NULL;
    }
    free(b64);
    return doc;
}

size_t admin_stream_fit(json_t *doc, size_t room)
{
    size_t len = admin_api_doc_len(doc);

    /* The body goes first: what an operator looks for (where it came from, when, why it failed) is
     * in the rest, and the size says what was left out. */
    if (len > room) {
        json_object_set_new(doc, "payload_base64", json_null());
        json_object_set_new(doc, "payload", json_null());
        json_object_set_new(doc, "payload_omitted", json_true());
        len = admin_api_doc_len(doc);
    }
    if (len > room) { /* a header block larger than the budget (max-header-bytes allows it) */
        json_object_set_new(doc, "headers", json_array());
        json_object_set_new(doc, "headers_omitted", json_true());
        len = admin_api_doc_len(doc);
    }
    return len;
}

static void get_done(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err)
{
    struct spend *p = arg;
    json_t *doc;

    err = parts_err(parts, n, err);
    if (err != 0) {
        fail_cores(ctl, p->w.call, err);
        spend_free(p);
        return;
    }
    if (parts[0]->n == 0) {
        admin_api_fail(ctl, p->w.call, "NOT_FOUND", "stream %s has no message %" PRIu64, p->def.name, p->seq);
        spend_free(p);
        return;
    }
    doc = admin_stream_msg_doc(parts[0]->items);
    if (doc != NULL) {
        /* "ok" and "stream" first, as the verb always answered */
        json_t *head = json_pack("{s:b, s:s}", "ok", 1, "stream", p->def.name);

        if (head != NULL && json_object_update(head, doc) == 0) {
            json_decref(doc);
            doc = head;
        } else {
            json_decref(head);
            json_decref(doc);
            doc = NULL;
        }
    }
    if (doc != NULL)
        admin_stream_fit(doc, admin_api_reply_budget(ctl));
    admin_api_reply(ctl, p->w.call, doc);
    spend_free(p);
}

void admin_stream_get(struct control *ctl, struct admin_call *call, json_t *req)
{
    struct spend *p = named(ctl, call, req, "name", true);

    if (p != NULL)
        ask(p, ADMIN_MB_STREAM_GET, (int)p->owner, make_req, get_done);
}

/* ---- start-up ----------------------------------------------------------------------------------- */

static int load_one(void *arg, const char *key, const void *val, size_t len)
{
    struct control *ctl = arg;
    struct stream_def d, *copy;
    char why[STREAM_WHY];
    unsigned a, b;
    int o;

    if (ctl->nstreams >= STREAMS_MAX) {
        log_warn(LOG_NO_CORE, "stream %.64s in the store: skipped, a broker has at most %d streams", key, STREAMS_MAX);
        return 0;
    }
    if (stream_def_decode(key, val, len, ctl->cfg.limits.max_topic, &d, why, sizeof(why)) != 0) {
        log_warn(LOG_NO_CORE, "stream %.64s in the store: skipped: %s", key, why);
        return 0;
    }
    o = overlapping(ctl, &d, &a, &b);
    if (o >= 0) {
        log_warn(LOG_NO_CORE, "stream %s in the store: skipped: subject '%s' overlaps '%s' of stream %s", d.name, d.subjects[a],
                 ctl->streams[o]->subjects[b], ctl->streams[o]->name);
        stream_def_free(&d);
        return 0;
    }
    copy = malloc(sizeof(*copy));
    if (copy == NULL) {
        stream_def_free(&d);
        return -ENOMEM;
    }
    *copy = d;
    ctl->streams[ctl->nstreams] = copy;
    ctl->stream_ids[ctl->nstreams++] = ++ctl->next_stream_id;
    return 0;
}

/* The config file's streams, read whole before any is applied (config_collect), so that they are
 * checked against each other and against the stored streams the file does not name. */
struct cfg_stream {
    struct control *ctl;
    char *err;
    size_t errlen;
    unsigned n;
    struct stream_def defs[STREAMS_MAX];
    char where[STREAMS_MAX][CONFIG_PATH_MAX + 32];
};

static int config_collect(void *arg, const char *where, const char *text)
{
    struct cfg_stream *cs = arg;
    char why[STREAM_WHY];
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    struct stream_def *d = &cs->defs[cs->n];
    int ret;

    if (doc == NULL || !json_is_object(doc)) {
        snprintf(cs->err, cs->errlen, "%s: stream: not a JSON object as stream.add takes (%s)", where,
                 doc == NULL ? jerr.text : "another JSON value");
        json_decref(doc);
        return -EINVAL;
    }
    if (cs->n >= STREAMS_MAX) {
        snprintf(cs->err, cs->errlen, "%s: stream: a broker has at most %d streams", where, STREAMS_MAX);
        json_decref(doc);
        return -EINVAL;
    }
    ret = parse_def(cs->ctl, doc, d, why, sizeof(why));
    json_decref(doc);
    if (ret != 0) {
        snprintf(cs->err, cs->errlen, "%s: stream: %s", where, why);
        return -EINVAL;
    }
    for (unsigned i = 0; i < cs->n; i++) {
        if (strcmp(cs->defs[i].name, d->name) == 0) {
            snprintf(cs->err, cs->errlen, "%s: stream %s: defined before, at %s", where, d->name, cs->where[i]);
            stream_def_free(d);
            return -EINVAL;
        }
    }
    snprintf(cs->where[cs->n++], sizeof(cs->where[0]), "%s", where);
    return 0;
}

static bool in_file(const struct cfg_stream *cs, const char *name)
{
    for (unsigned i = 0; i < cs->n; i++)
        if (strcmp(cs->defs[i].name, name) == 0)
            return true;
    return false;
}

/* Two streams sharing a topic, among the file's and the stored ones the file does not name. */
static int config_check(struct cfg_stream *cs)
{
    const struct control *ctl = cs->ctl;
    unsigned added = 0;

    for (unsigned i = 0; i < cs->n; i++) {
        const struct stream_def *d = &cs->defs[i];

        added += find(ctl, d->name) < 0;
        for (unsigned o = 0; o < cs->n + ctl->nstreams; o++) {
            const struct stream_def *x = o < cs->n ? &cs->defs[o] : ctl->streams[o - cs->n];

            if ((o < cs->n && o >= i) || (o >= cs->n && in_file(cs, x->name)))
                continue; /* each pair of the file once, said at the later line */
            for (unsigned a = 0; a < d->nsubjects; a++)
                for (unsigned b = 0; b < x->nsubjects; b++)
                    if (stream_patterns_overlap(d->subjects[a], strlen(d->subjects[a]), x->subjects[b], strlen(x->subjects[b]))) {
                        snprintf(cs->err, cs->errlen, "%s: stream %s: subject '%s' overlaps '%s' of %s %s", cs->where[i], d->name,
                                 d->subjects[a], x->subjects[b], o < cs->n ? "stream" : "the stored stream", x->name);
                        return -EINVAL;
                    }
        }
    }
    if (ctl->nstreams + added > STREAMS_MAX) {
        snprintf(cs->err, cs->errlen, "%s: the file's streams and the stored ones: more than %d", ctl->base.config_file,
                 STREAMS_MAX);
        return -EINVAL;
    }
    return 0;
}

/* A checked definition of the file: the stream's, stored or not. d is taken (zeroed). */
static int config_apply(struct cfg_stream *cs, struct stream_def *d, const char *where)
{
    struct control *ctl = cs->ctl;
    int i = find(ctl, d->name), ret;
    struct stream_def *copy;
    size_t len = 0;
    char *val;

    if (i >= 0 && stream_def_equal(ctl->streams[i], d)) {
        stream_def_free(d);
        return 0;
    }
    d->created_ns = i >= 0 ? ctl->streams[i]->created_ns : core_realtime_ns();
    val = stream_def_encode(d, &len);
    ret = val != NULL ? store_put(ctl->store, NS, d->name, val, len) : -ENOMEM;
    free(val);
    if (ret != 0) {
        snprintf(cs->err, cs->errlen, "%s: stream %s: the store did not take it: %s", where, d->name, strerror(-ret));
        stream_def_free(d);
        return ret;
    }
    copy = i >= 0 ? ctl->streams[i] : malloc(sizeof(*copy));
    if (copy == NULL) {
        stream_def_free(d);
        snprintf(cs->err, cs->errlen, "out of memory");
        return -ENOMEM;
    }
    if (i >= 0)
        stream_def_free(copy); /* the file says what the stream is: its definition replaces the stored one */
    *copy = *d;
    memset(d, 0, sizeof(*d));
    if (i < 0) {
        ctl->streams[ctl->nstreams] = copy;
        ctl->stream_ids[ctl->nstreams++] = ++ctl->next_stream_id;
    }
    log_info(LOG_NO_CORE, "stream %s: %s %s", copy->name, i >= 0 ? "the stored definition replaced by" : "added from", where);
    return 0;
}

static int config_streams(struct control *ctl, char *err, size_t errlen)
{
    struct cfg_stream *cs = calloc(1, sizeof(*cs));
    int ret;

    if (cs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *cs = (struct cfg_stream){.ctl = ctl, .err = err, .errlen = errlen};
    ret = config_each_stream(ctl->base.config_file, config_collect, cs, err, errlen);
    if (ret == 0)
        ret = config_check(cs);
    for (unsigned i = 0; ret == 0 && i < cs->n; i++)
        ret = config_apply(cs, &cs->defs[i], cs->where[i]);
    for (unsigned i = 0; i < cs->n; i++)
        stream_def_free(&cs->defs[i]);
    free(cs);
    return ret;
}

int admin_stream_load(struct control *ctl, char *err, size_t errlen)
{
    int ret = store_list(ctl->store, NS, load_one, ctl);

    if (ret != 0) {
        snprintf(err, errlen, "cannot read the streams from the store %s: %s", store_location(ctl->store), strerror(-ret));
        return ret;
    }
    ret = config_streams(ctl, err, errlen);
    if (ret != 0)
        return ret;
    ctl->streams_gen = 1;
    ctl->b->streams_boot = table_now(ctl);
    if (ctl->b->streams_boot == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (ctl->nstreams > 0)
        log_info(LOG_NO_CORE, "%u streams", ctl->nstreams);
    return 0;
}

void admin_stream_free(struct control *ctl)
{
    for (unsigned i = 0; i < ctl->nstreams; i++) {
        stream_def_free(ctl->streams[i]);
        free(ctl->streams[i]);
    }
    ctl->nstreams = 0;
    free(ctl->b->streams_boot);
    ctl->b->streams_boot = NULL;
}
