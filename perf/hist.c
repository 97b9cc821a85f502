/* hist: log-linear latency histogram (see hist.h for the layout). */
#include "perf/hist.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Bits needed to hold 2 * 10^digits distinct sub-bucket values. */
static int sub_magnitude(int digits)
{
    uint64_t need = 2;
    for (int i = 0; i < digits; i++)
        need *= 10;
    int mag = 0;
    while ((UINT64_C(1) << mag) < need)
        mag++;
    return mag;
}

int hist_init(struct hist *h, uint64_t highest, int digits)
{
    if (digits < HIST_DIGITS_MIN || digits > HIST_DIGITS_MAX)
        return -EINVAL;
    if (highest < 2 || highest > HIST_HIGHEST_MAX)
        return -EINVAL;
    int sub_mag = sub_magnitude(digits);
    uint64_t sub_count = UINT64_C(1) << sub_mag;
    /* Buckets double their range until one holds `highest`; highest <= 2^62 keeps this finite. */
    int buckets = 1;
    for (uint64_t untrackable = sub_count; untrackable <= highest; untrackable <<= 1)
        buckets++;
    size_t len = (size_t)(buckets + 1) * (size_t)(sub_count / 2);
    uint64_t *counts = calloc(len, sizeof(*counts));
    if (!counts)
        return -ENOMEM;
    memset(h, 0, sizeof(*h));
    h->highest = highest;
    h->digits = digits;
    h->min = UINT64_MAX;
    h->_sub_mag = sub_mag;
    h->_sub_count = sub_count;
    h->_sub_half = sub_count / 2;
    h->_sub_mask = sub_count - 1;
    h->_buckets = buckets;
    h->_counts_len = len;
    h->_counts = counts;
    return 0;
}

void hist_destroy(struct hist *h)
{
    free(h->_counts);
    h->_counts = NULL;
    h->_counts_len = 0;
}

void hist_reset(struct hist *h)
{
    assert(h->_counts);
    memset(h->_counts, 0, h->_counts_len * sizeof(*h->_counts));
    h->total = 0;
    h->saturated = 0;
    h->min = UINT64_MAX;
    h->max = 0;
}

/* The bucket of value: 0 below the sub-bucket count, then one more per doubling. */
static int bucket_of(const struct hist *h, uint64_t value)
{
    int pow2ceil = 64 - __builtin_clzll(value | h->_sub_mask);
    return pow2ceil - h->_sub_mag;
}

size_t hist_index_of(const struct hist *h, uint64_t value)
{
    int b = bucket_of(h, value);
    uint64_t sub = value >> b;
    assert(b >= 0);
    assert(sub < h->_sub_count);
    /* (b + 1) * half + (sub - half), written so it never goes negative. */
    return (size_t)b * h->_sub_half + (size_t)sub;
}

/* The first value counted at index i (the inverse of hist_index_of). */
static uint64_t value_at_index(const struct hist *h, size_t i)
{
    long b = (long)(i >> (h->_sub_mag - 1)) - 1;
    uint64_t sub = (i & (h->_sub_half - 1)) + h->_sub_half;
    if (b < 0) {
        sub -= h->_sub_half;
        b = 0;
    }
    return sub << b;
}

uint64_t hist_lowest_equivalent(const struct hist *h, uint64_t value)
{
    int b = bucket_of(h, value);
    return (value >> b) << b;
}

uint64_t hist_highest_equivalent(const struct hist *h, uint64_t value)
{
    int b = bucket_of(h, value);
    return hist_lowest_equivalent(h, value) + ((UINT64_C(1) << b) - 1);
}

size_t hist_counts_len(const struct hist *h)
{
    return h->_counts_len;
}

void hist_record_n(struct hist *h, uint64_t value, uint64_t n)
{
    assert(h->_counts);
    if (n == 0)
        return;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
    if (value > h->highest) {
        value = h->highest;
        h->saturated += n;
    }
    size_t i = hist_index_of(h, value);
    assert(i < h->_counts_len);
    h->_counts[i] += n;
    h->total += n;
}

void hist_record(struct hist *h, uint64_t value)
{
    hist_record_n(h, value, 1);
}

int hist_merge(struct hist *dst, const struct hist *src)
{
    if (dst->highest != src->highest || dst->digits != src->digits)
        return -EINVAL;
    assert(dst->_counts_len == src->_counts_len);
    for (size_t i = 0; i < src->_counts_len; i++)
        dst->_counts[i] += src->_counts[i];
    dst->total += src->total;
    dst->saturated += src->saturated;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    return 0;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
    if (h->total == 0)
        return 0;
    if (pct > 100.0)
        pct = 100.0;
    if (!(pct >= 0.0)) /* also NaN */
        pct = 0.0;
    uint64_t rank = (uint64_t)(pct / 100.0 * (double)h->total + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->total)
        rank = h->total;
    uint64_t seen = 0;
    for (size_t i = 0; i < h->_counts_len; i++) {
        seen += h->_counts[i];
        if (seen >= rank) {
            uint64_t v = hist_highest_equivalent(h, value_at_index(h, i));
            return v < h->max ? v : h->max;
        }
    }
    assert(!"counts sum below total");
    return h->max;
}

double hist_mean(const struct hist *h)
{
    if (h->total == 0)
        return 0.0;
    double sum = 0.0;
    for (size_t i = 0; i < h->_counts_len; i++) {
        if (!h->_counts[i])
            continue;
        uint64_t lo = value_at_index(h, i);
        uint64_t mid = lo + (hist_highest_equivalent(h, lo) - lo) / 2;
        sum += (double)mid * (double)h->_counts[i];
    }
    return sum / (double)h->total;
}
