/* The counter list (src/stats.h): broker_stats_foreach walks every row in order with its value,
 * and the rows on the stats line are exactly the keys tests and scripts grep, in their order. */
#include <string.h>

#include "src/stats.h"
#include "tests/tap.h"

/* The stats line's keys before cqes_per_wait, as main.c has always logged them. */
static const char line_keys[] =
    "accepted refused msgs_in bytes_in msgs_out bytes_out drops slow_consumers protocol_errors "
    "idle_timeouts requests request_timeouts xmsgs xbacklog xblk_reused xblk_alloc xblk_oversize "
    "xblk_trimmed xblk_large_peak direct_sends direct_rests direct_pubs direct_pub_handoffs direct_handbacks heap_trims "
    "buf_releases buf_release_errors gate_waits gate_defers tls_user tls_kernel tls_handshakes tls_failures "
    "tls_timeouts rx_pauses enobufs iterations cqes";

struct seen {
    char line[1024];
    unsigned rows;
    unsigned bad_values;
    unsigned gauges;
    unsigned peaks;
    unsigned no_help;
    unsigned stop_after;
};

static int visit(void *arg, const char *name, enum broker_stat_kind kind, bool on_line, const char *help, uint64_t value)
{
    struct seen *s = arg;

    s->rows++;
    s->bad_values += value != s->rows;
    if (on_line) {
        if (s->line[0] != '\0')
            strcat(s->line, " ");
        strcat(s->line, name);
    }
    if (kind == BROKER_STAT_GAUGE)
        s->gauges += strcmp(name, "connections") == 0 || strcmp(name, "subscriptions") == 0;
    if (kind == BROKER_STAT_PEAK)
        s->peaks += strcmp(name, "xblk_large_peak") == 0;
    s->no_help += help == NULL || help[0] == '\0';
    return s->rows == s->stop_after ? 7 : 0;
}

int main(void)
{
    struct broker_stats st;
    struct seen s = {.rows = 0};
    uint64_t n = 0;

    memset(&st, 0, sizeof(st));
    /* Row i (from 1, in list order) holds i. */
#define SET_CORE(name)                   st.core.name = ++n;
#define SET_LOOP(name)                   st.name = ++n;
#define SET(src, name, kind, line, help) SET_##src(name)
    BROKER_STATS_MAP(SET)
    ok_eq(broker_stats_foreach(&st, visit, &s), 0, "foreach returns 0 after the last row");
    ok(s.rows == n, "every row visited once (%u of %llu)", s.rows, (unsigned long long)n);
    ok(s.bad_values == 0, "each row's value is its own field's");
    ok(strcmp(s.line, line_keys) == 0, "the stats line rows, in order: %s", s.line);
    ok(s.gauges == 2, "connections and subscriptions are gauges");
    ok(s.peaks == 1, "xblk_large_peak is a peak");
    ok(s.no_help == 0, "every row has a help string");
    s = (struct seen){.stop_after = 3};
    ok_eq(broker_stats_foreach(&st, visit, &s), 7, "a nonzero return stops the walk and is returned");
    ok(s.rows == 3, "no row after the stop");
    ok(_Alignof(struct broker_core_stats) == 64 && sizeof(struct broker_core_stats) % 64 == 0,
       "a core's block fills whole cache lines");
    return done_testing();
}
