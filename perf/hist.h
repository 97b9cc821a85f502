/*
 * hist: a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Values 0..highest are recorded with a relative error of at most 1 in 10^digits: the range is cut
 * into buckets that each cover twice the range of the previous one, and every bucket is cut into
 * the same number of linear sub-buckets (2^ceil(log2(2 * 10^digits)), e.g. 2048 for 3 digits).
 * Values below that sub-bucket count are recorded exactly. Memory is fixed at init:
 * (buckets + 1) * sub_buckets / 2 counters, about 220 KiB for 3 digits up to 60 s in nanoseconds.
 *
 * Layout (as HdrHistogram's): bucket 0 holds sub-buckets 0..S-1 with unit width; bucket b > 0 holds
 * only its upper half S/2..S-1 with width 2^b (its lower half is bucket b-1's range). Counts index
 * i = (b + 1) * S/2 + (sub - S/2).
 *
 * Values above `highest` are clamped to it and counted in `saturated`; min and max are kept exact.
 * Not thread-safe: give each thread its own histogram and merge them.
 */
#ifndef TRPC_PERF_HIST_H
#define TRPC_PERF_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_DIGITS_MIN  1
#define HIST_DIGITS_MAX  5
#define HIST_HIGHEST_MAX (UINT64_C(1) << 62)

struct hist {
    uint64_t highest;   /* largest value recorded without clamping */
    int digits;         /* significant decimal digits kept */
    uint64_t total;     /* values recorded */
    uint64_t saturated; /* of which clamped to highest */
    uint64_t min;       /* exact; UINT64_MAX while empty */
    uint64_t max;       /* exact; 0 while empty */
    /* private */
    int _sub_mag; /* log2(sub-bucket count) */
    uint64_t _sub_count;
    uint64_t _sub_half;
    uint64_t _sub_mask; /* _sub_count - 1 */
    int _buckets;
    size_t _counts_len;
    uint64_t *_counts;
};

/* Sets up h for values 0..highest (2..HIST_HIGHEST_MAX) kept to `digits` significant digits
 * (HIST_DIGITS_MIN..MAX). Returns 0, -EINVAL for a bad argument, -ENOMEM. h is untouched on failure. */
int hist_init(struct hist *h, uint64_t highest, int digits);
/* Frees the counters; h may be all zero. */
void hist_destroy(struct hist *h);
/* Forgets every recorded value, keeping the layout. */
void hist_reset(struct hist *h);

void hist_record(struct hist *h, uint64_t value);
void hist_record_n(struct hist *h, uint64_t value, uint64_t n);

/* Adds src's counts to dst. Both must have been made with the same highest and digits: -EINVAL
 * otherwise, and dst is untouched. */
int hist_merge(struct hist *dst, const struct hist *src);

/* The value at or below which `pct` percent (0..100) of the recorded values lie: the highest value
 * equivalent to the bucket holding that rank, but never above the exact max. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double pct);
double hist_mean(const struct hist *h);

/* Bucket math, exposed for tests: the counter a value lands in, the first and last value of the
 * counter's range, and the number of counters. */
size_t hist_index_of(const struct hist *h, uint64_t value);
uint64_t hist_lowest_equivalent(const struct hist *h, uint64_t value);
uint64_t hist_highest_equivalent(const struct hist *h, uint64_t value);
size_t hist_counts_len(const struct hist *h);

#endif
