/*
 * wal-bench: durable append throughput and latency of the WAL, next to two baselines measured in the
 * same run on the same directory: write()+fdatasync() per record, and the device's O_DIRECT
 * sequential bandwidth (dd oflag=direct).
 *
 *   wal-bench [-d dir] [-s record_bytes] [-a appenders] [-t seconds] [-L large_record_bytes]
 *             [-p pairs] [-i max_inflight] [-m all|large|small]
 *
 * Each comparison runs baseline and WAL alternately, A B A B, for `pairs` pairs (default 5), and
 * prints every pair with its ratio, then the median and the min-max of each column, so that one noisy
 * moment of a shared machine cannot decide the result. The comparisons: dd's O_DIRECT bandwidth
 * against the WAL with large records (O_DSYNC), and write()+fdatasync() per small record against the
 * WAL's group commit (O_DSYNC). The other rows (one appender, write+fdatasync mode) run once.
 *
 * "Appenders" are concurrent logical clients: each keeps one append outstanding and appends again
 * when it is acknowledged (durable), as publishers waiting for PUBACK do. Latency is from wal_append
 * to the completion callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wal/wal.h"

#define LAT_BUCKETS 200000 /* 1 us each, up to 200 ms; slower samples land in the last one */
#define MAX_PAIRS   32

struct result {
    double rec_s;
    double mb_s;
};

static uint32_t max_inflight; /* -i; 0: the WAL's default */

struct bench {
    struct wal *w;
    uint8_t *payload;
    uint32_t len;
    uint32_t *idle; /* stack of appenders with nothing outstanding */
    uint32_t nidle;
    uint64_t *t_start; /* per appender */
    uint32_t *lat;     /* histogram */
    uint64_t acked;
    int err;
};

struct slot {
    struct bench *b;
    uint32_t id;
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_durable(void *arg, uint64_t seq, int res)
{
    struct slot *s = arg;
    struct bench *b = s->b;
    uint64_t us = (now_ns() - b->t_start[s->id]) / 1000;

    (void)seq;
    if (res < 0 && !b->err)
        b->err = res;
    b->lat[us < LAT_BUCKETS ? us : LAT_BUCKETS - 1]++;
    b->acked++;
    b->idle[b->nidle++] = s->id;
}

static double percentile(const uint32_t *lat, uint64_t n, double p)
{
    uint64_t want = (uint64_t)(p * (double)n), seen = 0;

    for (uint32_t i = 0; i < LAT_BUCKETS; i++) {
        seen += lat[i];
        if (seen > want)
            return i;
    }
    return LAT_BUCKETS;
}

static void rmlog(const char *dir)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* Runs the WAL with `appenders` clients of len-byte records for `secs` seconds. */
static int run_wal(const char *base, uint32_t len, uint32_t appenders, double secs, bool dsync, const char *label,
                   struct result *res)
{
    char dir[512];
    struct io_uring ring;
    struct wal_options o = {0};
    struct wal_stats st;
    struct bench b = {0};
    struct slot *slots;
    uint64_t t0, t1, seq;
    int ret;

    snprintf(dir, sizeof(dir), "%s/wal-bench-%d", base, (int)getpid());
    rmlog(dir);
    o.dir = dir;
    o.segment_bytes = 256u << 20;
    o.buffer_bytes = len >= (64u << 10) ? 16u << 20 : 8u << 20;
    o.batch_records = 65536;
    o.fdatasync = !dsync;
    o.max_inflight = max_inflight;
    ret = io_uring_queue_init(256, &ring, 0);
    if (ret == 0)
        ret = wal_open(&o, &ring, &b.w, NULL);
    if (ret) {
        fprintf(stderr, "wal: %s\n", strerror(-ret));
        return ret;
    }
    b.len = len;
    b.payload = calloc(1, len ? len : 1);
    b.idle = calloc(appenders, sizeof(*b.idle));
    b.t_start = calloc(appenders, sizeof(*b.t_start));
    b.lat = calloc(LAT_BUCKETS, sizeof(*b.lat));
    slots = calloc(appenders, sizeof(*slots));
    if (!b.payload || !b.idle || !b.t_start || !b.lat || !slots)
        return -ENOMEM;
    for (uint32_t i = 0; i < appenders; i++) {
        slots[i] = (struct slot){&b, i};
        b.idle[b.nidle++] = appenders - 1 - i;
    }
    t0 = now_ns();
    while (!b.err && (double)(now_ns() - t0) < secs * 1e9) {
        while (b.nidle > 0) {
            uint32_t id = b.idle[b.nidle - 1];
            b.t_start[id] = now_ns();
            ret = wal_append(b.w, 1, b.payload, len, on_durable, &slots[id], &seq);
            if (ret == -EAGAIN)
                break;
            if (ret) {
                b.err = ret;
                break;
            }
            b.nidle--;
        }
        ret = wal_poll(b.w, true);
        if (ret < 0)
            b.err = ret;
    }
    wal_drain(b.w);
    t1 = now_ns();
    wal_get_stats(b.w, &st);
    {
        double s = (double)(t1 - t0) / 1e9;
        uint64_t hist = 0;
        for (int i = 0; i < WAL_HIST_BUCKETS; i++)
            hist += st.fsync_us_hist[i];
        res->rec_s = (double)b.acked / s;
        res->mb_s = (double)st.bytes_appended / s / 1e6;
        printf("%-34s %7u B x %6u appenders: %10.0f rec/s %9.1f MB/s  p50 %6.0f us  p99 %6.0f us  "
               "%6.0f rec/batch  %llu/%llu overlapped  fsync max %llu us (%llu)%s\n",
               label, len, appenders, res->rec_s, res->mb_s, percentile(b.lat, b.acked, 0.50), percentile(b.lat, b.acked, 0.99),
               st.batches ? (double)b.acked / (double)st.batches : 0.0, (unsigned long long)st.overlapped_batches,
               (unsigned long long)st.batches, (unsigned long long)st.fsync_us_max, (unsigned long long)hist,
               st.durable ? "" : "  [NOT durable: tmpfs]");
    }
    wal_close(b.w);
    io_uring_queue_exit(&ring);
    rmlog(dir);
    free(b.payload);
    free(b.idle);
    free(b.t_start);
    free(b.lat);
    free(slots);
    return b.err;
}

/* Baseline 1: one write() and one fdatasync() per record. */
static void run_fdatasync(const char *base, uint32_t len, double secs, struct result *res)
{
    char path[512];
    uint8_t *buf = calloc(1, len ? len : 1);
    uint64_t n = 0, t0, t1;
    int fd;

    snprintf(path, sizeof(path), "%s/wal-bench-sync-%d", base, (int)getpid());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd == -1 || !buf) {
        perror(path);
        return;
    }
    t0 = now_ns();
    while ((double)(now_ns() - t0) < secs * 1e9) {
        if (write(fd, buf, len) != (ssize_t)len || fdatasync(fd) == -1) {
            perror("write/fdatasync");
            break;
        }
        n++;
    }
    t1 = now_ns();
    res->rec_s = (double)n / ((double)(t1 - t0) / 1e9);
    res->mb_s = (double)n * len / ((double)(t1 - t0) / 1e3);
    printf("%-34s %7u B x %6u writer:    %10.0f rec/s %9.1f MB/s  mean %6.0f us\n", "write()+fdatasync()", len, 1, res->rec_s,
           res->mb_s, (double)(t1 - t0) / 1e3 / (double)(n ? n : 1));
    close(fd);
    unlink(path);
    free(buf);
}

/* Baseline 2: the device's O_DIRECT sequential write bandwidth, as dd measures it. The rate is
 * computed from dd's byte count and seconds (its own MB/s is rounded and changes unit). */
static void run_dd(const char *base, struct result *res)
{
    char cmd[600], line[512], path[512];
    FILE *p;

    res->mb_s = res->rec_s = 0;
    snprintf(path, sizeof(path), "%s/wal-bench-dd-%d", base, (int)getpid());
    snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of='%s' bs=1M count=512 oflag=direct conv=fdatasync 2>&1", path);
    p = popen(cmd, "r");
    if (!p)
        return;
    while (fgets(line, sizeof(line), p)) {
        unsigned long long bytes;
        const char *c = strstr(line, "copied, ");
        double secs;

        if (!c || sscanf(line, "%llu", &bytes) != 1 || sscanf(c + 8, "%lf", &secs) != 1 || secs <= 0)
            continue;
        res->mb_s = (double)bytes / secs / 1e6;
        printf("%-34s %7u B blocks:           %9.1f MB/s  (%llu bytes in %.3f s)\n", "dd oflag=direct conv=fdatasync", 1u << 20,
               res->mb_s, bytes, secs);
    }
    pclose(p);
    unlink(path);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Median and extremes of n values (n >= 1). */
static void summary(const double *v, int n, double *med, double *lo, double *hi)
{
    double s[MAX_PAIRS];

    memcpy(s, v, (size_t)n * sizeof(*s));
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    *med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    *lo = s[0];
    *hi = s[n - 1];
}

static void print_summary(const char *name, const char *unit, int prec, const double *v, int n)
{
    double med, lo, hi;

    summary(v, n, &med, &lo, &hi);
    printf("  %-14s median %12.*f %-5s  min-max %.*f-%.*f\n", name, prec, med, unit, prec, lo, prec, hi);
}

/* A B A B: baseline then WAL, pairs times; per pair the ratio WAL / baseline of the chosen measure. */
static int compare(const char *title, const char *dir, int pairs, bool bandwidth, uint32_t len, uint32_t appenders, double secs)
{
    double a[MAX_PAIRS], b[MAX_PAIRS], r[MAX_PAIRS];
    const char *unit = bandwidth ? "MB/s" : "rec/s";

    printf("\n## %s: %d pairs, baseline (A) then WAL (B)\n", title, pairs);
    for (int i = 0; i < pairs; i++) {
        struct result ra = {0}, rb = {0};

        if (bandwidth)
            run_dd(dir, &ra);
        else
            run_fdatasync(dir, len, secs, &ra);
        if (run_wal(dir, len, appenders, secs, true, "wal O_DSYNC", &rb))
            return 1;
        a[i] = bandwidth ? ra.mb_s : ra.rec_s;
        b[i] = bandwidth ? rb.mb_s : rb.rec_s;
        r[i] = a[i] > 0 ? b[i] / a[i] : 0;
        printf("pair %d: A %.1f %s, B %.1f %s, B/A %.2f\n", i + 1, a[i], unit, b[i], unit, r[i]);
    }
    printf("summary (%s):\n", title);
    print_summary("A baseline", unit, 1, a, pairs);
    print_summary("B wal", unit, 1, b, pairs);
    print_summary("B/A per pair", "x", 2, r, pairs);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = "/var/tmp";
    uint32_t len = 256, appenders = 65536, large = 1u << 20;
    double secs = 3;
    int opt;

    int pairs = 5;
    const char *mode = "all";
    struct result res;

    while ((opt = getopt(argc, argv, "d:s:a:t:L:p:i:m:")) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 's':
            len = (uint32_t)atoi(optarg);
            break;
        case 'a':
            appenders = (uint32_t)atoi(optarg);
            break;
        case 't':
            secs = atof(optarg);
            break;
        case 'L':
            large = (uint32_t)atoi(optarg);
            break;
        case 'p':
            pairs = atoi(optarg);
            break;
        case 'i':
            max_inflight = (uint32_t)atoi(optarg);
            break;
        case 'm':
            mode = optarg;
            break;
        default:
            fprintf(
                stderr,
                "usage: %s [-d dir] [-s record_bytes] [-a appenders] [-t seconds] [-L large_bytes] [-p pairs] [-i max_inflight] "
                "[-m all|large|small]\n",
                argv[0]);
            return 2;
        }
    }
    if (pairs < 1 || pairs > MAX_PAIRS) {
        fprintf(stderr, "pairs: 1 to %d\n", MAX_PAIRS);
        return 2;
    }
    printf("# wal-bench on %s, %.1f s per WAL run, max_inflight %u%s\n", dir, secs, max_inflight, max_inflight ? "" : " (default)");
    if (strcmp(mode, "small") != 0 && compare("large records: dd O_DIRECT bandwidth vs WAL", dir, pairs, true, large, 64, secs))
        return 1;
    if (strcmp(mode, "large") != 0 &&
        compare("small records: write()+fdatasync() vs WAL group commit", dir, pairs, false, len, appenders, secs))
        return 1;
    if (strcmp(mode, "all") != 0)
        return 0;
    printf("\n## once each\n");
    if (run_wal(dir, len, 1, secs, true, "wal O_DSYNC, 1 appender", &res) ||
        run_wal(dir, len, 1, secs, false, "wal write+fdatasync, 1 appender", &res) ||
        run_wal(dir, len, appenders, secs, false, "wal write+fdatasync, group", &res) ||
        run_wal(dir, large, 64, secs, false, "wal write+fdatasync, large", &res))
        return 1;
    return 0;
}
