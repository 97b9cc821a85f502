/* perf/hist: bucket math, percentiles of known distributions, merge, reset and boundaries. */
#include "perf/hist.h"
#include "tests/tap.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>

#define HOUR_US (UINT64_C(3600) * 1000 * 1000)

/* A small deterministic generator (xorshift64*), so every run checks the same values. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static void test_init_args(void)
{
    struct hist h = {0};
    ok_eq(hist_init(&h, 1000, 0), -EINVAL, "0 digits rejected");
    ok_eq(hist_init(&h, 1000, 6), -EINVAL, "6 digits rejected");
    ok_eq(hist_init(&h, 1, 3), -EINVAL, "highest 1 rejected");
    ok_eq(hist_init(&h, HIST_HIGHEST_MAX + 1, 3), -EINVAL, "highest above 2^62 rejected");
    ok(h._counts == NULL, "h untouched after failures");
    ok_eq(hist_init(&h, HIST_HIGHEST_MAX, 5), 0, "largest range with 5 digits accepted");
    hist_record(&h, HIST_HIGHEST_MAX);
    ok_eq(h.saturated, 0, "highest itself is not saturated");
    hist_destroy(&h);
}

/* HdrHistogram's reference layout: one hour in microseconds at 3 digits. */
static void test_layout(void)
{
    struct hist h;
    ok_eq(hist_init(&h, HOUR_US, 3), 0, "init 1 h in us, 3 digits");
    ok_eq(h._sub_count, 2048, "2048 sub-buckets for 3 digits");
    ok_eq(h._buckets, 22, "22 buckets up to one hour");
    ok_eq(hist_counts_len(&h), 23552, "23552 counters (HdrHistogram's figure)");
    ok(hist_index_of(&h, HOUR_US) < hist_counts_len(&h), "highest value indexes inside the counters");
    hist_destroy(&h);

    static const uint64_t subs[] = {0, 32, 256, 2048, 32768, 262144};
    for (int d = 1; d <= 5; d++) {
        ok_eq(hist_init(&h, 1000000, d), 0, "init 1e6 with %d digits", d);
        ok_eq(h._sub_count, subs[d], "%d digits: 2^ceil(log2(2*10^d)) sub-buckets", d);
        /* Smallest bucket count whose last bucket reaches past highest, computed independently. */
        int want = 1;
        while ((h._sub_count << (want - 1)) <= 1000000)
            want++;
        ok_eq(h._buckets, want, "%d digits: bucket count", d);
        ok_eq(hist_counts_len(&h), (size_t)(want + 1) * h._sub_count / 2, "%d digits: counters", d);
        hist_destroy(&h);
    }
}

static void test_bucket_math(void)
{
    struct hist h;
    hist_init(&h, HOUR_US, 3);
    int exact = 1;
    for (uint64_t v = 0; v < 2048; v++)
        exact &= hist_index_of(&h, v) == v && hist_lowest_equivalent(&h, v) == v && hist_highest_equivalent(&h, v) == v;
    ok(exact, "values below 2048 are their own bucket");
    ok_eq(hist_index_of(&h, 2048), 2048, "2048 follows 2047");
    ok_eq(hist_index_of(&h, 2049), 2048, "2049 shares 2048's counter");
    ok_eq(hist_highest_equivalent(&h, 2048), 2049, "2048..2049 in the second bucket");
    ok_eq(hist_lowest_equivalent(&h, 4095), 4094, "4094..4095");
    ok_eq(hist_index_of(&h, 4096), 3072, "4096 opens the third bucket at 3 * 1024");
    ok_eq(hist_highest_equivalent(&h, 4096), 4099, "width 4 from 4096");
    /* Reference values from HdrHistogram's own tests. */
    ok_eq(hist_lowest_equivalent(&h, 10007), 10000, "lowest equivalent of 10007");
    ok_eq(hist_lowest_equivalent(&h, 10009), 10008, "lowest equivalent of 10009");
    ok_eq(hist_highest_equivalent(&h, 8180), 8183, "highest equivalent of 8180");
    ok_eq(hist_highest_equivalent(&h, 8191), 8191, "highest equivalent of 8191");
    ok_eq(hist_highest_equivalent(&h, 8193), 8199, "highest equivalent of 8193");
    ok_eq(hist_highest_equivalent(&h, 9995), 9999, "highest equivalent of 9995");
    ok_eq(hist_highest_equivalent(&h, 10007), 10007, "highest equivalent of 10007");
    ok_eq(hist_highest_equivalent(&h, 10008), 10015, "highest equivalent of 10008");

    /* Counters tile the range: each value's range starts right after the previous one's. */
    int tiled = 1;
    for (uint64_t v = 0; v < 5000000 && tiled; v = hist_highest_equivalent(&h, v) + 1)
        tiled = hist_index_of(&h, hist_highest_equivalent(&h, v) + 1) == hist_index_of(&h, v) + 1 &&
                hist_lowest_equivalent(&h, hist_highest_equivalent(&h, v) + 1) == hist_highest_equivalent(&h, v) + 1;
    ok(tiled, "ranges tile 0..5e6 with consecutive counters");
    hist_destroy(&h);
}

/* Each counter's width stays within 10^-digits of the values it holds. */
static void test_relative_error(void)
{
    for (int d = 1; d <= 5; d++) {
        struct hist h;
        hist_init(&h, HIST_HIGHEST_MAX, d);
        double bound = pow(10.0, -d);
        int within = 1;
        for (int i = 0; i < 20000 && within; i++) {
            uint64_t v = rng() >> (2 + rng() % 62);
            uint64_t lo = hist_lowest_equivalent(&h, v), hi = hist_highest_equivalent(&h, v);
            within = lo <= v && v <= hi && (lo == 0 || (double)(hi - lo) / (double)lo <= bound);
        }
        ok(within, "%d digits: every range is within 1e-%d of its values", d, d);
        hist_destroy(&h);
    }
}

/* Exact percentile of 1..n: the value of rank round(p/100 * n), at least 1. */
static uint64_t exact_uniform(uint64_t n, double p)
{
    uint64_t rank = (uint64_t)(p / 100.0 * (double)n + 0.5);
    return rank < 1 ? 1 : rank;
}

static void test_percentiles(void)
{
    struct hist h;
    hist_init(&h, HOUR_US, 3);
    ok_eq(hist_percentile(&h, 50), 0, "empty: percentile 0");
    for (uint64_t v = 1; v <= 100000; v++)
        hist_record(&h, v);
    static const double ps[] = {0, 1, 25, 50, 75, 90, 99, 99.9, 99.99};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        uint64_t want = hist_highest_equivalent(&h, exact_uniform(100000, ps[i]));
        want = want < 100000 ? want : 100000;
        ok_eq(hist_percentile(&h, ps[i]), want, "uniform 1..1e5: p%g is the top of the exact value's range, capped by max", ps[i]);
    }
    ok_eq(hist_percentile(&h, 100), 100000, "p100 is the exact max, not the range top");
    ok_eq(h.min, 1, "exact min");
    ok_eq(h.max, 100000, "exact max");
    ok(fabs(hist_mean(&h) - 50000.5) < 50000.5 * 1e-3, "mean within 1e-3 (%.1f)", hist_mean(&h));
    hist_reset(&h);

    /* 1000 fast, 1 slow: the tail shows only past the rank of the slow one. */
    hist_record_n(&h, 100, 1000);
    hist_record(&h, 1000000);
    ok_eq(h.total, 1001, "record_n counts n");
    ok_eq(hist_percentile(&h, 99.9), 100, "p99.9 of 1000x100 + 1x1e6 is 100");
    ok_eq(hist_percentile(&h, 99.99), 1000000, "p99.99 reaches the outlier");
    hist_reset(&h);

    /* A geometric spread over many buckets keeps every percentile within 1e-3 of the exact one. */
    static uint64_t vals[30000];
    for (int i = 0; i < 30000; i++) {
        vals[i] = 1000 + (uint64_t)(1000.0 * pow(1.0004, i));
        hist_record(&h, vals[i]);
    }
    int close = 1;
    for (double p = 1; p < 100; p += 1.5) {
        uint64_t rank = (uint64_t)(p / 100.0 * 30000 + 0.5);
        double want = (double)vals[rank - 1], got = (double)hist_percentile(&h, p);
        close &= got >= want && (got - want) / want <= 1e-3;
    }
    ok(close, "geometric spread: p1..p98.5 within +1e-3 of the exact values");
    hist_destroy(&h);
}

static void test_merge(void)
{
    struct hist a, b, all, other;
    hist_init(&a, HOUR_US, 3);
    hist_init(&b, HOUR_US, 3);
    hist_init(&all, HOUR_US, 3);
    hist_init(&other, HOUR_US, 2);
    for (int i = 0; i < 50000; i++) {
        uint64_t v = rng() % 10000000;
        hist_record(i % 3 ? &a : &b, v);
        hist_record(&all, v);
    }
    ok_eq(hist_merge(&a, &b), 0, "merge same layout");
    ok_eq(a.total, all.total, "merged total");
    ok_eq(a.min, all.min, "merged min");
    ok_eq(a.max, all.max, "merged max");
    int same = 1;
    for (double p = 0; p <= 100; p += 0.5)
        same &= hist_percentile(&a, p) == hist_percentile(&all, p);
    ok(same, "merged percentiles equal those of one histogram fed everything");
    uint64_t before = a.total;
    ok_eq(hist_merge(&a, &other), -EINVAL, "different digits rejected");
    ok_eq(a.total, before, "dst untouched after a rejected merge");
    struct hist empty;
    hist_init(&empty, HOUR_US, 3);
    ok_eq(hist_merge(&empty, &all), 0, "merge into empty");
    ok_eq(empty.min, all.min, "min taken from src");
    hist_destroy(&a);
    hist_destroy(&b);
    hist_destroy(&all);
    hist_destroy(&other);
    hist_destroy(&empty);
}

static void test_boundaries(void)
{
    struct hist h;
    hist_init(&h, 1000000, 3);
    hist_record(&h, 0);
    ok_eq(hist_percentile(&h, 100), 0, "zero is recordable");
    ok_eq(h.min, 0, "min 0");
    hist_record(&h, 1000000);
    ok_eq(h.saturated, 0, "highest is not saturated");
    hist_record(&h, 1000001);
    hist_record(&h, UINT64_MAX);
    ok_eq(h.saturated, 2, "values above highest counted as saturated");
    ok(h.max == UINT64_MAX, "max stays exact when saturated");
    ok_eq(h.total, 4, "saturated values still counted");
    ok(hist_percentile(&h, 100) >= 1000000, "p100 at or above highest");
    hist_reset(&h);
    ok_eq(h.total, 0, "reset clears total");
    ok_eq(h.max, 0, "reset clears max");
    ok(h.min == UINT64_MAX, "reset clears min");
    ok_eq(hist_percentile(&h, 99), 0, "reset: empty again");
    hist_record(&h, 7);
    ok_eq(hist_percentile(&h, 50), 7, "records after reset");
    ok_eq(hist_percentile(&h, 250), 7, "percent above 100 clamps");
    ok_eq(hist_percentile(&h, NAN), 7, "NaN percent treated as 0");
    hist_destroy(&h);
    hist_destroy(&h);
    ok(h._counts == NULL, "destroy twice is harmless");
}

int main(void)
{
    test_init_args();
    test_layout();
    test_bucket_math();
    test_relative_error();
    test_percentiles();
    test_merge();
    test_boundaries();
    return done_testing();
}
