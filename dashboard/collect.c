/*
 * Streams and consumer groups for /metrics. Their numbers live on their owner cores, which only
 * the control thread may ask (admin_api.h): every HTTP_COLLECT_MS the HTTP thread calls stream.list,
 * then group.list for each stream, one call at a time, and keeps the last complete set. /metrics
 * writes that set (trpc_stream_*, trpc_group_*, trpc_wal_sync_duration_seconds) with its age, so
 * that a scrape never waits for a core and never asks one more than once per period, however often
 * Prometheus comes. The label values are stream and group names: at most STREAMS_MAX streams of
 * GROUPS_PER_STREAM groups each, declared by operators, not by clients' traffic.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dashboard/internal.h"
#include "src/log.h"
#include "src/metrics.h"
#include "uring/uring.h"
#include "wal/wal.h"

#define WAL_BUCKETS_SHOWN 24 /* up to 2^24 us (16.8 s); slower batches count in +Inf only */

static void collect_next(struct http *h);

static void collect_end(struct http *h, bool complete)
{
    struct http_collect *c = &h->collect;

    if (complete) {
        json_decref(c->done);
        c->done = c->pending;
        c->done_ns = uring_now_ns();
    } else {
        json_decref(c->pending);
    }
    c->pending = NULL;
    c->running = false;
}

static void groups_in(struct http *h, uint64_t arg, const char *reply, size_t len)
{
    struct http_collect *c = &h->collect;
    json_t *doc = reply != NULL ? json_loadb(reply, len, 0, NULL) : NULL;
    json_t *st = json_array_get(c->pending, c->next - 1);

    (void)arg;
    if (reply == NULL) {
        json_decref(doc);
        collect_end(h, false);
        return;
    }
    /* A stream deleted meanwhile answers NOT_FOUND: it is shown without groups. */
    if (json_is_true(json_object_get(doc, "ok")) && st != NULL)
        json_object_set(st, "group_list", json_object_get(doc, "groups"));
    json_decref(doc);
    collect_next(h);
}

/* Asks for the groups of the next stream, or ends the round. */
static void collect_next(struct http *h)
{
    struct http_collect *c = &h->collect;
    json_t *st = json_array_get(c->pending, c->next);
    json_t *req;
    char *text;
    int ret;

    if (st == NULL) {
        collect_end(h, true);
        return;
    }
    c->next++;
    req = json_pack("{s:O}", "stream", json_object_get(st, "name"));
    text = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    ret = text != NULL ? http_api_internal(h, "group.list", text, NULL, groups_in, 0) : -ENOMEM;
    free(text);
    if (ret != 0)
        collect_end(h, false); /* tried again next period */
}

static void streams_in(struct http *h, uint64_t arg, const char *reply, size_t len)
{
    struct http_collect *c = &h->collect;
    json_t *doc = reply != NULL ? json_loadb(reply, len, 0, NULL) : NULL;
    json_t *streams = json_object_get(doc, "streams");

    (void)arg;
    if (!json_is_array(streams)) {
        json_decref(doc);
        collect_end(h, false);
        return;
    }
    c->pending = json_incref(streams);
    c->next = 0;
    json_decref(doc);
    collect_next(h);
}

void http_collect_tick(struct http *h, uint64_t now_ns)
{
    struct http_collect *c = &h->collect;

    if (c->running || now_ns < c->next_ns)
        return;
    c->next_ns = now_ns + (uint64_t)HTTP_COLLECT_MS * 1000000;
    if (http_api_internal(h, "stream.list", "{}", NULL, streams_in, 0) == 0)
        c->running = true;
}

void http_collect_free(struct http *h)
{
    json_decref(h->collect.done);
    json_decref(h->collect.pending);
    h->collect.done = h->collect.pending = NULL;
}

/* ---- /metrics ------------------------------------------------------------------------------------ */

static uint64_t num(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));

    return v > 0 ? (uint64_t)v : 0;
}

struct family {
    const char *key, *name, *type, *help;
};

static const struct family stream_families[] = {
    {"messages", "trpc_stream_messages", "gauge", "Messages a stream keeps."},
    {"bytes", "trpc_stream_bytes", "gauge", "Bytes a stream keeps (topic, headers and payload)."},
    {"pending", "trpc_stream_pending", "gauge", "PUBs waiting for the disk."},
    {"stored", "trpc_stream_stored_total", "counter", "PUBs stored since the broker started."},
    {"refused", "trpc_stream_refused_total", "counter", "PUBs refused (full, too large, failed log) since the start."},
    {"expired", "trpc_stream_expired_total", "counter", "Messages retention removed since the start."},
    {"duplicates", "trpc_stream_duplicates_total", "counter", "PUBs answered as duplicates of a stored message id."},
};

static const struct family group_families[] = {
    {"members", "trpc_group_members", "gauge", "Members of a consumer group connected now."},
    {"lag", "trpc_group_lag", "gauge", "Messages stored that the group has not read yet."},
    {"pending", "trpc_group_pending", "gauge", "Messages delivered and not settled."},
    {"inflight", "trpc_group_inflight", "gauge", "Pending messages with a member now."},
    {"delivered", "trpc_group_delivered_total", "counter", "Deliveries to members since the start."},
    {"redelivered", "trpc_group_redelivered_total", "counter", "Redeliveries (NACK, ack wait passed) since the start."},
    {"acked", "trpc_group_acked_total", "counter", "Messages acknowledged since the start."},
    {"dead", "trpc_group_dead_lettered_total", "counter", "Messages dead-lettered since the start."},
    {"termed", "trpc_group_termed_total", "counter", "Messages a member terminated (TERM) since the start."},
};

static void write_streams(FILE *f, const json_t *streams)
{
    size_t i;
    json_t *st;

    for (size_t k = 0; k < sizeof(stream_families) / sizeof(stream_families[0]); k++) {
        const struct family *fam = &stream_families[k];

        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, fam->type);
        json_array_foreach(streams, i, st)
        {
            fprintf(f, "%s{stream=\"", fam->name);
            metrics_label_value(f, json_string_value(json_object_get(st, "name")));
            fprintf(f, "\"} %llu\n", (unsigned long long)num(st, fam->key));
        }
    }
}

static void write_groups(FILE *f, const json_t *streams)
{
    size_t i, j;
    json_t *st, *g;

    for (size_t k = 0; k < sizeof(group_families) / sizeof(group_families[0]); k++) {
        const struct family *fam = &group_families[k];

        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, fam->type);
        json_array_foreach(streams, i, st)
        {
            json_array_foreach(json_object_get(st, "group_list"), j, g)
            {
                fprintf(f, "%s{stream=\"", fam->name);
                metrics_label_value(f, json_string_value(json_object_get(st, "name")));
                fputs("\",group=\"", f);
                metrics_label_value(f, json_string_value(json_object_get(g, "name")));
                fprintf(f, "\"} %llu\n", (unsigned long long)num(g, fam->key));
            }
        }
    }
}

/* One of a log's latency histograms (wal.h's log2 buckets, bucket i ending at 2^(i+1) us) for
 * every stream: metric, from the stream's wal document's KEY_log2 and KEY_sum. The count is the
 * buckets' total, so that +Inf never falls behind a bucket. */
static void write_wal_hist(FILE *f, const json_t *streams, const char *metric, const char *help, const char *key)
{
    char log2_key[32], sum_key[32];
    size_t i;
    json_t *st;

    snprintf(log2_key, sizeof(log2_key), "%s_log2", key);
    snprintf(sum_key, sizeof(sum_key), "%s_sum", key);
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", metric, help, metric);
    json_array_foreach(streams, i, st)
    {
        const json_t *wal = json_object_get(st, "wal");
        const json_t *hist = json_object_get(wal, log2_key);
        const char *name = json_string_value(json_object_get(st, "name"));
        uint64_t cum = 0, total = 0;

        if (!json_is_array(hist))
            continue;
        for (size_t b = 0; b < json_array_size(hist); b++) {
            json_int_t v = json_integer_value(json_array_get(hist, b));

            total += v > 0 ? (uint64_t)v : 0;
        }
        for (size_t b = 0; b < WAL_BUCKETS_SHOWN && b < WAL_HIST_BUCKETS; b++) {
            json_int_t v = json_integer_value(json_array_get(hist, b));

            cum += v > 0 ? (uint64_t)v : 0;
            fprintf(f, "%s_bucket{stream=\"", metric);
            metrics_label_value(f, name);
            fprintf(f, "\",le=\"%g\"} %llu\n", (double)(2ull << b) / 1e6, (unsigned long long)cum);
        }
        fprintf(f, "%s_bucket{stream=\"", metric);
        metrics_label_value(f, name);
        fprintf(f, "\",le=\"+Inf\"} %llu\n", (unsigned long long)total);
        fprintf(f, "%s_sum{stream=\"", metric);
        metrics_label_value(f, name);
        fprintf(f, "\"} %.6f\n", (double)num(wal, sum_key) / 1e6);
        fprintf(f, "%s_count{stream=\"", metric);
        metrics_label_value(f, name);
        fprintf(f, "\"} %llu\n", (unsigned long long)total);
    }
}

static void write_wal(FILE *f, const json_t *streams)
{
    write_wal_hist(f, streams, "trpc_wal_sync_duration_seconds",
                   "Time for a stream's log to make a batch durable once written: its O_DSYNC write, or its fdatasync.", "sync_us");
    write_wal_hist(f, streams, "trpc_wal_write_duration_seconds",
                   "Time for a stream's log to write a batch (with O_DSYNC the same as its sync, else the part before fdatasync).",
                   "write_us");
}

void http_collect_metrics(const struct http *h, FILE *f)
{
    const json_t *streams = h->collect.done;

    fprintf(f,
            "# HELP trpc_stream_metrics_age_seconds Age of the stream and group figures below (collected every %d s "
            "from their cores); -1 before the first collection.\n# TYPE trpc_stream_metrics_age_seconds gauge\n",
            HTTP_COLLECT_MS / 1000);
    if (streams == NULL) {
        fputs("trpc_stream_metrics_age_seconds -1\n", f);
        return;
    }
    fprintf(f, "trpc_stream_metrics_age_seconds %.3f\n", (double)(uring_now_ns() - h->collect.done_ns) / 1e9);
    write_streams(f, streams);
    write_groups(f, streams);
    write_wal(f, streams);
}
