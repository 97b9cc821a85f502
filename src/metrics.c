/*
 * The /metrics exposition (metrics.h). Names follow Prometheus's conventions, which promtool
 * checks: a trpc_ prefix, counters ending in _total, base units in the name (bytes, seconds).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "src/control.h"
#include "src/core.h"
#include "src/metrics.h"
#include "src/request.h"
#include "src/steer.h"

/* Every row's value, in BROKER_STATS_MAP's order, for one core. */
struct row_values {
    size_t n;
    uint64_t v[BROKER_STATS_ROWS];
};

static int collect(void *arg, const char *name, enum broker_stat_kind kind, bool on_line, const char *help, uint64_t value)
{
    struct row_values *r = arg;

    (void)name, (void)kind, (void)on_line, (void)help;
    if (r->n < BROKER_STATS_ROWS)
        r->v[r->n++] = value;
    return 0;
}

struct family {
    FILE *out;
    unsigned ncores;
    const struct row_values *per_core; /* [ncores] */
    size_t row;                        /* the family's row, counted as foreach walks them */
};

static int family(void *arg, const char *name, enum broker_stat_kind kind, bool on_line, const char *help, uint64_t value)
{
    struct family *f = arg;
    const char *suffix = kind == BROKER_STAT_COUNTER ? "_total" : "";

    (void)on_line, (void)value;
    fprintf(f->out, "# HELP trpc_%s%s %s\n# TYPE trpc_%s%s %s\n", name, suffix, help, name, suffix,
            kind == BROKER_STAT_COUNTER ? "counter" : "gauge");
    for (unsigned i = 0; i < f->ncores; i++)
        fprintf(f->out, "trpc_%s%s{core=\"%u\"} %llu\n", name, suffix, i, (unsigned long long)f->per_core[i].v[f->row]);
    f->row++;
    return 0;
}

void metrics_label_value(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', out);
        if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

/* Request latency by topic class, summed over the cores (each counts the replies it wrote). */
static void request_latency(const struct broker *b, FILE *out)
{
    const struct request_core *rq = &b->cores[0]->req;

    fputs("# HELP trpc_request_duration_seconds From a request's arrival to its reply's, by request-metrics pattern or "
          "request-contracts rpc topic.\n"
          "# TYPE trpc_request_duration_seconds histogram\n",
          out);
    for (unsigned k = 0; k < rq->nclasses; k++) {
        uint64_t n[REQ_HIST_BUCKETS] = {0}, sum_ns = 0, cum = 0;

        for (unsigned i = 0; i < b->ncores; i++) {
            const struct req_hist *h = &b->cores[i]->req.hist[k];

            for (unsigned j = 0; j < REQ_HIST_BUCKETS; j++)
                n[j] += __atomic_load_n(&h->n[j], __ATOMIC_RELAXED);
            sum_ns += __atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED);
        }
        for (unsigned j = 0; j < REQ_HIST_BUCKETS; j++) {
            cum += n[j];
            fputs("trpc_request_duration_seconds_bucket{topic=\"", out);
            metrics_label_value(out, rq->class_pat[k]);
            if (j < REQ_HIST_BUCKETS - 1)
                fprintf(out, "\",le=\"%g\"} %llu\n", (double)request_hist_bounds_ns[j] / 1e9, (unsigned long long)cum);
            else
                fprintf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        fputs("trpc_request_duration_seconds_sum{topic=\"", out);
        metrics_label_value(out, rq->class_pat[k]);
        fprintf(out, "\"} %.9f\ntrpc_request_duration_seconds_count{topic=\"", (double)sum_ns / 1e9);
        metrics_label_value(out, rq->class_pat[k]);
        fprintf(out, "\"} %llu\n", (unsigned long long)cum);
    }
}

int metrics_write(const struct broker *b, FILE *out)
{
    struct row_values *per_core = calloc(b->ncores ? b->ncores : 1, sizeof(*per_core));
    struct family f = {.out = out, .ncores = b->ncores, .per_core = per_core};
    const struct control *ctl = b->ctl;
    struct broker_stats one;

    if (per_core == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < b->ncores; i++) {
        broker_stats_core(b, i, &one);
        broker_stats_foreach(&one, collect, &per_core[i]);
    }
    fprintf(out,
            "# HELP trpc_build_info The broker's version.\n# TYPE trpc_build_info gauge\n"
            "trpc_build_info{version=\"%s\"} 1\n",
            PACKAGE_VERSION);
    fprintf(out, "# HELP trpc_cores Core threads, one io_uring each.\n# TYPE trpc_cores gauge\ntrpc_cores %u\n", b->ncores);
    fprintf(out,
            "# HELP trpc_steering_info What picks the core of a new connection (option steering; auto: what it found).\n"
            "# TYPE trpc_steering_info gauge\ntrpc_steering_info{kind=\"%s\"} 1\n",
            steer_kind_name(steer_kind(b)));
    if (ctl != NULL) {
        fprintf(out,
                "# HELP trpc_start_time_seconds When the broker started, in seconds since the epoch.\n"
                "# TYPE trpc_start_time_seconds gauge\ntrpc_start_time_seconds %.3f\n",
                (double)ctl->started_ns / 1e9);
        fprintf(out,
                "# HELP trpc_store_up Whether the store answers (1) or is down (0).\n# TYPE trpc_store_up gauge\n"
                "trpc_store_up %d\n",
                atomic_load_explicit(&ctl->pub_store_up, memory_order_relaxed) ? 1 : 0);
        fprintf(out,
                "# HELP trpc_store_outages_total Times the store went down while the broker ran.\n"
                "# TYPE trpc_store_outages_total counter\ntrpc_store_outages_total %llu\n",
                (unsigned long long)atomic_load_explicit(&ctl->pub_store_outages, memory_order_relaxed));
        fprintf(out,
                "# HELP trpc_auth_logins_total CONNECTs that authenticated.\n# TYPE trpc_auth_logins_total counter\n"
                "trpc_auth_logins_total %llu\n"
                "# HELP trpc_auth_failures_total CONNECTs refused AUTH_FAILED.\n# TYPE trpc_auth_failures_total counter\n"
                "trpc_auth_failures_total %llu\n"
                "# HELP trpc_auth_busy_total Password CONNECTs refused because too many waited for the password worker.\n"
                "# TYPE trpc_auth_busy_total counter\ntrpc_auth_busy_total %llu\n"
                "# HELP trpc_auth_rest_seconds_total Time the password worker rested, the machine having no CPU to spare.\n"
                "# TYPE trpc_auth_rest_seconds_total counter\ntrpc_auth_rest_seconds_total %.3f\n",
                (unsigned long long)atomic_load_explicit(&ctl->pub_auth_logins, memory_order_relaxed),
                (unsigned long long)atomic_load_explicit(&ctl->pub_auth_failures, memory_order_relaxed),
                (unsigned long long)atomic_load_explicit(&ctl->pub_auth_busy, memory_order_relaxed),
                (double)atomic_load_explicit(&ctl->pub_auth_rest_ns, memory_order_relaxed) / 1e9);
    }
    memset(&one, 0, sizeof(one));
    broker_stats_foreach(&one, family, &f);
    if (b->ncores > 0)
        request_latency(b, out);
    free(per_core);
    return ferror(out) ? -EIO : 0;
}
