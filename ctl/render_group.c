/*
 * trpcctl's renderers of the consumer group and dead-letter verbs (docs/admin-api.md, "Consumer
 * groups", "Dead letters").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

static int group_row(json_t *v, const char *where, const char **cells, char (*scratch)[64], char *err, size_t errlen)
{
    static const char *const nums[] = {"members", "next_seq", "lag", "pending", "inflight", "redelivered", "acked", "dead"};
    const char *dlq = NULL;

    if (READ(v, where, {"name", K_STR, &cells[0], false}, {"pattern", K_STR, &cells[1], false}, {"dlq", K_STR_OR_NULL, &dlq, true}))
        return -EPROTO;
    for (size_t k = 0; k < 8; k++) {
        json_int_t n;

        if (READ(v, where, {nums[k], K_INT, &n, false}))
            return -EPROTO;
        snprintf(scratch[2 + k], 64, "%lld", (long long)n);
        cells[2 + k] = scratch[2 + k];
    }
    cells[10] = dlq; /* NULL: "-" */
    return 0;
}

int ctl_render_group_ls(json_t *doc, FILE *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"GROUP:l",    "PATTERN:l",     "MEMBERS:r", "NEXT:r", "LAG:r", "PENDING:r",
                                       "INFLIGHT:r", "REDELIVERED:r", "ACKED:r",   "DEAD:r", "DLQ:l"};
    static const struct ctl_list_shape shape = {"groups", cols, 11, false, group_row};

    return ctl_render_list(doc, &shape, out, err, errlen);
}

/* group info, add, reset and rm: one group, as key-value rows, after a line saying what was done. */
int ctl_render_group_info(json_t *doc, FILE *out, char *err, size_t errlen)
{
    char *hold = NULL, *hold2 = NULL;
    static const char *const cols[] = {"KEY:l", "VALUE:l"};
    static const char *const nums[] = {"members",        "next_seq",    "lag",         "pending", "inflight", "waiting",
                                       "lost",           "delivered",   "redelivered", "acked",   "dead",     "termed",
                                       "max_deliveries", "ack_wait_ms", "expired"};
    enum { NNUMS = sizeof(nums) / sizeof(nums[0]) };
    const char *stream, *name, *pattern, *dlq = NULL, *backoff = NULL;
    char cells[NNUMS][64];
    json_int_t dropped = -1;
    json_t *g;
    int created = -1, rc;
    struct ctl_table t;

    rc = READ(doc, "", {"stream", K_STR, &stream, false}, {"group", K_OBJECT, &g, false}, {"created", K_BOOL, &created, true},
              {"dropped", K_INT, &dropped, true});
    if (rc == 0)
        rc = READ(g, "group", {"name", K_STR, &name, false}, {"pattern", K_STR, &pattern, false},
                  {"dlq", K_STR_OR_NULL, &dlq, true}, {"backoff", K_STR_OR_NULL, &backoff, true});
    for (size_t k = 0; rc == 0 && k < NNUMS; k++) {
        json_int_t v = 0;

        rc = READ(g, "group", {nums[k], K_INT, &v, k == 14}); /* expired: a broker before durable requests has none */
        if (k == 12 && v == 0)
            snprintf(cells[k], sizeof(cells[k]), "no limit");
        else
            snprintf(cells[k], sizeof(cells[k]), "%lld", (long long)v);
    }
    if (rc)
        return rc;
    if (created >= 0)
        fprintf(out, "%s consumer group %s of stream %s\n", created ? "created" : "already had", ctl_pr(&hold, name),
                ctl_pr(&hold2, stream));
    free(hold);
    free(hold2);
    hold = hold2 = NULL;
    if (dropped >= 0)
        fprintf(out, "reset consumer group %s of stream %s: %lld messages not settled dropped\n", ctl_pr(&hold, name),
                ctl_pr(&hold2, stream), (long long)dropped);
    free(hold);
    free(hold2);
    ctl_table_init(&t, 2, cols);
    t.no_head = true;
    {
        const char *const rows[][2] = {
            {"group", name},
            {"stream", stream},
            {"pattern", pattern},
            {"members", cells[0]},
            {"next seq", cells[1]},
            {"lag", cells[2]},
            {"pending", cells[3]},
            {"in flight", cells[4]},
            {"waiting", cells[5]},
            {"lost (restart)", cells[6]},
            {"delivered (this run)", cells[7]},
            {"redelivered (this run)", cells[8]},
            {"acked (this run)", cells[9]},
            {"dead (this run)", cells[10]},
            {"termed (this run)", cells[11]},
            {"expired requests (this run)", cells[14]},
            {"max deliveries", cells[12]},
            {"ack wait (ms)", cells[13]},
            {"backoff", backoff},
            {"dead-letter topic", dlq},
        };

        for (size_t i = 0; rc == 0 && i < sizeof(rows) / sizeof(rows[0]); i++)
            rc = ctl_table_add(&t, rows[i]);
    }
    if (rc == 0)
        ctl_table_print(&t, out);
    ctl_table_free(&t);
    return rc;
}

int ctl_render_group_rm(json_t *doc, FILE *out, char *err, size_t errlen)
{
    char *hold = NULL, *hold2 = NULL;
    const char *stream, *name;
    json_int_t pending = 0, members = 0;
    json_t *g;
    int rc = READ(doc, "", {"stream", K_STR, &stream, false}, {"group", K_OBJECT, &g, false});

    if (rc == 0)
        rc = READ(g, "group", {"name", K_STR, &name, false}, {"pending", K_INT, &pending, false},
                  {"members", K_INT, &members, false});
    if (rc == 0)
        fprintf(out, "deleted consumer group %s of stream %s (%lld members, %lld messages not settled)\n", ctl_pr(&hold, name),
                ctl_pr(&hold2, stream), (long long)members, (long long)pending);
    free(hold);
    free(hold2);
    return rc;
}

static int dlq_row(json_t *v, const char *where, const char **cells, char (*scratch)[64], char *err, size_t errlen)
{
    const char *time, *reason = NULL, *term = NULL, *group = NULL, *deliveries = NULL;
    json_int_t seq, size;

    if (READ(v, where, {"seq", K_INT, &seq, false}, {"time", K_STR, &time, false},
             {"origin_topic", K_STR_OR_NULL, &cells[2], false}, {"group", K_STR_OR_NULL, &group, false},
             {"deliveries", K_STR_OR_NULL, &deliveries, false}, {"reason", K_STR_OR_NULL, &reason, false},
             {"term_reason", K_STR_OR_NULL, &term, false}, {"size", K_INT, &size, false}))
        return -EPROTO;
    snprintf(scratch[0], 64, "%lld", (long long)seq);
    cells[0] = scratch[0];
    ctl_fmt_time(time, scratch[1], 64);
    cells[1] = scratch[1];
    cells[3] = group;
    cells[4] = deliveries;
    snprintf(scratch[5], 64, "%lld", (long long)size);
    cells[5] = scratch[5];
    if (reason != NULL && term != NULL)
        snprintf(scratch[6], 64, "%s: %.50s", reason, term);
    else
        snprintf(scratch[6], 64, "%s", reason != NULL ? reason : "-");
    cells[6] = scratch[6];
    return 0;
}

int ctl_render_dlq_ls(json_t *doc, FILE *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"SEQ:r", "TIME:l", "ORIGIN:l", "GROUP:l", "DELIVERIES:r", "SIZE:r", "REASON:l"};
    static const struct ctl_list_shape shape = {"messages", cols, 7, false, dlq_row};
    json_int_t next = 0;
    int more = 0, rc = READ(doc, "", {"next_seq", K_INT, &next, false}, {"more", K_BOOL, &more, false});

    if (rc == 0)
        rc = ctl_render_list(doc, &shape, out, err, errlen);
    if (rc == 0 && more)
        fprintf(out, "(more from sequence %lld: --from %lld)\n", (long long)next, (long long)next);
    return rc;
}

/* dlq.redrive's reply, and dlq.purge's (its count is "purged"). */
int ctl_render_dlq_redrive(json_t *doc, FILE *out, char *err, size_t errlen)
{
    char *hold = NULL;
    json_int_t redriven = -1, purged = -1, failed, skipped;
    const char *stream, *why = NULL;
    int rc =
        READ(doc, "", {"stream", K_STR, &stream, false}, {"redriven", K_INT, &redriven, true}, {"purged", K_INT, &purged, true},
             {"failed", K_INT, &failed, false}, {"skipped", K_INT, &skipped, false}, {"why", K_STR_OR_NULL, &why, true});

    if (rc == 0 && (redriven < 0) == (purged < 0)) {
        snprintf(err, errlen, "expected one of \"redriven\" and \"purged\"");
        rc = -EPROTO;
    }
    if (rc == 0) {
        fprintf(out, "stream %s: %lld %s, %lld failed, %lld skipped\n", ctl_pr(&hold, stream),
                (long long)(purged < 0 ? redriven : purged), purged < 0 ? "redriven" : "purged", (long long)failed,
                (long long)skipped);
        free(hold);
        if (why != NULL) {
            char *p = ctl_printable(why, 200);

            fprintf(out, "first problem: %s\n", p != NULL ? p : "?");
            free(p);
        }
    }
    return rc;
}
