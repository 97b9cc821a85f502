/*
 * wal-bench: durable append throughput and latency of the WAL, next to two baselines measured in the
 * same run on the same directory: write()+fdatasync() per record, and the device's O_DIRECT
 * sequential bandwidth (dd oflag=direct).
 *
 *   wal-bench [-d dir] [-s record_bytes] [-a appenders] [-t seconds] [-L large_record_bytes]
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
static int run_wal(const char *base, uint32_t len, uint32_t appenders, double secs, bool dsync, const char *label)
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
        printf("%-34s %7u B x %6u appenders: %10.0f rec/s %9.1f MB/s  p50 %6.0f us  p99 %6.0f us  "
               "%6.0f rec/batch  fsync max %llu us (%llu)%s\n",
               label, len, appenders, (double)b.acked / s, (double)st.bytes_appended / s / 1e6, percentile(b.lat, b.acked, 0.50),
               percentile(b.lat, b.acked, 0.99), st.batches ? (double)b.acked / (double)st.batches : 0.0,
               (unsigned long long)st.fsync_us_max, (unsigned long long)hist, st.durable ? "" : "  [NOT durable: tmpfs]");
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
static void run_fdatasync(const char *base, uint32_t len, double secs)
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
    printf("%-34s %7u B x %6u writer:    %10.0f rec/s %9.1f MB/s  mean %6.0f us\n", "write()+fdatasync()", len, 1,
           (double)n / ((double)(t1 - t0) / 1e9), (double)n * len / ((double)(t1 - t0) / 1e3),
           (double)(t1 - t0) / 1e3 / (double)(n ? n : 1));
    close(fd);
    unlink(path);
    free(buf);
}

/* Baseline 2: the device's O_DIRECT sequential write bandwidth, as dd measures it. */
static void run_dd(const char *base)
{
    char cmd[600], line[512], path[512];
    FILE *p;

    snprintf(path, sizeof(path), "%s/wal-bench-dd-%d", base, (int)getpid());
    snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of='%s' bs=1M count=512 oflag=direct conv=fdatasync 2>&1", path);
    p = popen(cmd, "r");
    if (!p)
        return;
    while (fgets(line, sizeof(line), p))
        if (strstr(line, "copied"))
            printf("%-34s %s", "dd bs=1M oflag=direct", line);
    pclose(p);
    unlink(path);
}

int main(int argc, char **argv)
{
    const char *dir = "/var/tmp";
    uint32_t len = 256, appenders = 65536, large = 1u << 20;
    double secs = 3;
    int opt;

    while ((opt = getopt(argc, argv, "d:s:a:t:L:")) != -1) {
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
        default:
            fprintf(stderr, "usage: %s [-d dir] [-s record_bytes] [-a appenders] [-t seconds] [-L large_bytes]\n", argv[0]);
            return 2;
        }
    }
    printf("# wal-bench on %s, %.1f s per run\n", dir, secs);
    run_dd(dir);
    run_fdatasync(dir, len, secs);
    for (int dsync = 0; dsync < 2; dsync++) {
        const char *mode = dsync ? "O_DSYNC" : "write+fdatasync";
        char l1[64], l2[64], l3[64];

        snprintf(l1, sizeof(l1), "wal %s, 1 appender", mode);
        snprintf(l2, sizeof(l2), "wal %s, group", mode);
        snprintf(l3, sizeof(l3), "wal %s, large", mode);
        if (run_wal(dir, len, 1, secs, dsync, l1) || run_wal(dir, len, appenders, secs, dsync, l2) ||
            run_wal(dir, large, 64, secs, dsync, l3))
            return 1;
    }
    return 0;
}
