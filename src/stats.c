/* Sums the per-core counter blocks and walks the counter list (see stats.h). */
#include <stddef.h>
#include <string.h>

#include "src/core.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* out += v, or out = max(out, v) for a peak (the largest core's). */
#define SUM_COUNTER(out, v) ((out) += (v))
#define SUM_GAUGE(out, v)   ((out) += (v))
#define SUM_PEAK(out, v)    ((out) = (v) > (out) ? (v) : (out))

/* Written by the loop without atomics; a torn read of one counter is harmless on the 64-bit
 * targets we build for (docs/uring.md section 9). */
#define SUM_ROW_CORE(name, kind)             SUM_##kind(out->core.name, LOAD(s->name));
#define SUM_ROW_LOOP(name, kind)             SUM_##kind(out->name, LOAD(l->name));
#define SUM_ROW(src, name, kind, line, help) SUM_ROW_##src(name, kind)

void broker_stats_sum(const struct broker *b, struct broker_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < b->ncores; i++) {
        const struct broker_core_stats *s = &b->stats[i];
        const struct uring_loop_stats *l = &b->cores[i]->loop.stats;

        BROKER_STATS_MAP(SUM_ROW)
    }
}

void broker_stats_core(const struct broker *b, unsigned core, struct broker_stats *out)
{
    const struct broker_core_stats *s = &b->stats[core];
    const struct uring_loop_stats *l = &b->cores[core]->loop.stats;

    memset(out, 0, sizeof(*out));
    BROKER_STATS_MAP(SUM_ROW)
}

#define OFFSET_CORE(name)                offsetof(struct broker_stats, core.name)
#define OFFSET_LOOP(name)                offsetof(struct broker_stats, name)
#define ON_LINE_LINE                     true
#define ON_LINE_NOLINE                   false
#define ROW(src, name, kind, line, help) {#name, help, OFFSET_##src(name), BROKER_STAT_##kind, ON_LINE_##line},

static const struct {
    const char *name;
    const char *help;
    size_t offset;
    enum broker_stat_kind kind;
    bool on_line;
} rows[] = {BROKER_STATS_MAP(ROW)};

int broker_stats_foreach(const struct broker_stats *s,
                         int (*fn)(void *arg, const char *name, enum broker_stat_kind kind, bool on_line, const char *help,
                                   uint64_t value),
                         void *arg)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t v;
        int r;

        memcpy(&v, (const char *)s + rows[i].offset, sizeof(v));
        r = fn(arg, rows[i].name, rows[i].kind, rows[i].on_line, rows[i].help, v);
        if (r != 0)
            return r;
    }
    return 0;
}
