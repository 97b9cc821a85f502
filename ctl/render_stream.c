/*
 * The human form of the stream verbs' replies (docs/admin-api.md, "Streams"), as render.c does
 * for the others: members named with their types, others ignored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

/* "a.>, b.*" of a subjects array, cut to fit a cell. */
static int subjects_cell(json_t *arr, const char *where, char *buf, size_t n, char *err, size_t errlen)
{
    json_t *v;
    size_t i, used = 0;

    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v)) {
            snprintf(err, errlen, "%s.subjects[%zu]: expected string, got %s", where, i, ctl_type_name(v));
            return -EPROTO;
        }
        if (used < n)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", i > 0 ? ", " : "", json_string_value(v));
    }
    return 0;
}

static int stream_row(json_t *v, const char *where, const char **cells, char (*scratch)[64], char *err, size_t errlen)
{
    json_int_t core, msgs = -1, bytes = -1, first = -1, last = -1;
    json_t *subj;

    cells[7] = NULL; /* no error: "-" */
    if (READ(v, where, {"name", K_STR, &cells[0], false}, {"subjects", K_ARRAY, &subj, false}, {"core", K_INT, &core, false},
             {"messages", K_INT, &msgs, true}, {"bytes", K_INT, &bytes, true}, {"first_seq", K_INT, &first, true},
             {"last_seq", K_INT, &last, true}, {"error", K_STR, &cells[7], true}))
        return -EPROTO;
    if (subjects_cell(subj, where, scratch[1], 64, err, errlen))
        return -EPROTO;
    cells[1] = scratch[1];
    snprintf(scratch[2], 64, "%lld", (long long)core);
    cells[2] = scratch[2];
    /* A stream whose core did not say (its log failed to open): "-". */
    const json_int_t nums[] = {msgs, bytes, first, last};
    for (int k = 0; k < 4; k++) {
        cells[3 + k] = NULL;
        if (nums[k] >= 0) {
            snprintf(scratch[3 + k], 64, "%lld", (long long)nums[k]);
            cells[3 + k] = scratch[3 + k];
        }
    }
    return 0;
}

static const char *const stream_cols[] = {"NAME:l",  "SUBJECTS:l", "CORE:r", "MESSAGES:r",
                                          "BYTES:r", "FIRST:r",    "LAST:r", "ERROR:l"};

int ctl_render_stream_ls(json_t *doc, FILE *out, char *err, size_t errlen)
{
    static const struct ctl_list_shape shape = {"streams", stream_cols, 8, false, stream_row};

    return ctl_render_list(doc, &shape, out, err, errlen);
}

/* stream info and stream add: one stream, as key-value rows. */
int ctl_render_stream_info(json_t *doc, FILE *out, char *err, size_t errlen)
{
    char *hold = NULL, *hold2 = NULL;
    static const char *const cols[] = {"KEY:l", "VALUE:l"};
    /* The first two always there; the others absent from a broker that predates them. */
    static const char *const nums[] = {"core",       "max_msg_size", "messages",        "bytes",     "first_seq", "last_seq",
                                       "stored",     "refused",      "pending",         "groups",    "max_msgs",  "max_bytes",
                                       "max_age_ms", "expired",      "dedup_window_ms", "duplicates"};
    enum { NNUMS = sizeof(nums) / sizeof(nums[0]) };
    const char *name, *created, *error = NULL, *recovery = NULL, *discard = "-", *retention = "limits", *backoff = NULL,
                                *dlq = NULL;
    json_int_t max_deliveries = -1, ack_wait = -1;
    char t_maxd[32], t_ack[32];
    char cells[NNUMS][64], subjects[256], t_created[64];
    json_t *st, *subj;
    int created_now = 0, updated = 0, rc;
    struct ctl_table t;

    rc = READ(doc, "", {"stream", K_OBJECT, &st, false}, {"created", K_BOOL, &created_now, true},
              {"updated", K_BOOL, &updated, true});
    if (rc == 0)
        rc = READ(st, "stream", {"name", K_STR, &name, false}, {"subjects", K_ARRAY, &subj, false},
                  {"created", K_STR, &created, false}, {"error", K_STR, &error, true}, {"recovery", K_STR, &recovery, true},
                  {"discard", K_STR, &discard, true}, {"retention", K_STR, &retention, true},
                  {"backoff", K_STR_OR_NULL, &backoff, true}, {"dlq", K_STR_OR_NULL, &dlq, true});
    /* The groups' defaults: null (or absent, from an older broker) when the stream sets none. */
    if (rc == 0 && json_is_integer(json_object_get(st, "max_deliveries")))
        max_deliveries = json_integer_value(json_object_get(st, "max_deliveries"));
    if (rc == 0 && json_is_integer(json_object_get(st, "ack_wait_ms")))
        ack_wait = json_integer_value(json_object_get(st, "ack_wait_ms"));
    snprintf(t_maxd, sizeof(t_maxd), max_deliveries >= 0 ? "%lld" : "-", (long long)max_deliveries);
    snprintf(t_ack, sizeof(t_ack), ack_wait >= 0 ? "%lld" : "-", (long long)ack_wait);
    if (rc == 0)
        rc = subjects_cell(subj, "stream", subjects, sizeof(subjects), err, errlen);
    for (size_t k = 0; rc == 0 && k < NNUMS; k++) {
        json_int_t v = -1;

        rc = READ(st, "stream", {nums[k], K_INT, &v, k >= 2});
        if (((k >= 10 && k <= 12) || k == 14) && v == 0)
            snprintf(cells[k], sizeof(cells[k]), k == 14 ? "off" : "none");
        else
            snprintf(cells[k], sizeof(cells[k]), v >= 0 ? "%lld" : "-", (long long)v);
    }
    if (rc)
        return rc;
    if (json_object_get(doc, "created") != NULL)
        fprintf(out, "%s stream %s\n", created_now ? "created" : "already had", ctl_pr(&hold, name));
    if (json_object_get(doc, "updated") != NULL)
        fprintf(out, updated ? "updated stream %s\n" : "stream %s unchanged: the same definition\n", ctl_pr(&hold2, name));
    free(hold);
    free(hold2);
    ctl_fmt_time(created, t_created, sizeof(t_created));
    ctl_table_init(&t, 2, cols);
    t.no_head = true;
    {
        const char *const rows[][2] = {
            {"name", name},
            {"subjects", subjects},
            {"core", cells[0]},
            {"max msg size", cells[1]},
            {"max msgs", cells[10]},
            {"max bytes", cells[11]},
            {"max age (ms)", cells[12]},
            {"discard", discard},
            {"retention", retention},
            {"dedup window (ms)", cells[14]},
            {"created", t_created},
            {"messages", cells[2]},
            {"bytes", cells[3]},
            {"first seq", cells[4]},
            {"last seq", cells[5]},
            {"stored (this run)", cells[6]},
            {"refused (this run)", cells[7]},
            {"expired (this run)", cells[13]},
            {"duplicates", cells[15]},
            {"pending", cells[8]},
            {"groups", cells[9]},
            /* Shown when set: */
            {"groups' max deliveries", max_deliveries >= 0 ? t_maxd : NULL},
            {"groups' ack wait (ms)", ack_wait >= 0 ? t_ack : NULL},
            {"groups' backoff", backoff},
            {"groups' dead-letter topic", dlq},
            {"error", error},
            {"recovery", recovery},
        };
        size_t nrows = sizeof(rows) / sizeof(rows[0]);

        for (size_t i = 0; rc == 0 && i < nrows; i++)
            if (i < nrows - 6 || rows[i][1] != NULL)
                rc = ctl_table_add(&t, rows[i]);
    }
    if (rc == 0)
        ctl_table_print(&t, out);
    ctl_table_free(&t);
    return rc;
}

int ctl_render_stream_purge(json_t *doc, FILE *out, char *err, size_t errlen)
{
    char *hold = NULL;
    json_int_t purged = 0;
    const char *name;
    json_t *st;
    int rc = READ(doc, "", {"purged", K_INT, &purged, false}, {"stream", K_OBJECT, &st, false});

    if (rc == 0)
        rc = READ(st, "stream", {"name", K_STR, &name, false});
    if (rc == 0)
        fprintf(out, "purged stream %s: %lld messages removed\n", ctl_pr(&hold, name), (long long)purged);
    free(hold);
    return rc;
}

int ctl_render_stream_rm(json_t *doc, FILE *out, char *err, size_t errlen)
{
    char *hold = NULL;
    const char *name;
    int rc = READ(doc, "", {"name", K_STR, &name, false});

    if (rc == 0)
        fprintf(out, "deleted stream %s\n", ctl_pr(&hold, name));
    free(hold);
    return rc;
}

/* A stored message: its place, its headers one per line, then the payload as text when it is
 * UTF-8 (made printable), else its size and base64; or its size when the broker left it out. */
int ctl_render_stream_get(json_t *doc, FILE *out, char *err, size_t errlen)
{
    char *hold = NULL;
    const char *stream, *time, *topic, *b64 = NULL, *text = NULL;
    json_int_t seq, size;
    json_t *headers, *h;
    char t_time[64];
    size_t i;
    int omitted = 0, hdr_omitted = 0;
    int rc = READ(doc, "", {"stream", K_STR, &stream, false}, {"seq", K_INT, &seq, false}, {"time", K_STR, &time, false},
                  {"topic", K_STR, &topic, false}, {"headers", K_ARRAY, &headers, false}, {"size", K_INT, &size, false},
                  {"payload_base64", K_STR_OR_NULL, &b64, false}, {"payload", K_STR_OR_NULL, &text, false},
                  {"payload_omitted", K_BOOL, &omitted, true}, {"headers_omitted", K_BOOL, &hdr_omitted, true});
    char *p;

    if (rc)
        return rc;
    ctl_fmt_time(time, t_time, sizeof(t_time));
    p = ctl_printable(topic, 4096);
    fprintf(out, "stream %s seq %lld at %s on %s\n", ctl_pr(&hold, stream), (long long)seq, t_time, p != NULL ? p : "?");
    free(p);
    free(hold);
    json_array_foreach(headers, i, h)
    {
        const char *key, *val = NULL;
        char where[32], *k, *v;

        snprintf(where, sizeof(where), "headers[%zu]", i);
        if ((rc = READ(h, where, {"key", K_STR, &key, false}, {"value", K_STR_OR_NULL, &val, false})) != 0)
            return rc;
        k = ctl_printable(key, 256);
        v = ctl_printable(val != NULL ? val : "(not UTF-8)", 4096);
        fprintf(out, "%s: %s\n", k != NULL ? k : "?", v != NULL ? v : "?");
        free(k);
        free(v);
    }
    if (hdr_omitted)
        fprintf(out, "(headers left out: too large for one reply)\n");
    if (omitted || b64 == NULL) {
        fprintf(out, "\n(%lld bytes left out: the reply may hold half of max-output-bytes at most)\n", (long long)size);
    } else if (text != NULL) {
        p = ctl_printable(text, (size_t)-1 / 2);
        fprintf(out, "\n%s\n", p != NULL ? p : "?");
        free(p);
    } else {
        p = ctl_printable(b64, (size_t)-1 / 2);
        fprintf(out, "\n(%lld bytes, not UTF-8; base64:)\n%s\n", (long long)size, p != NULL ? p : "?");
        free(p);
    }
    return 0;
}
