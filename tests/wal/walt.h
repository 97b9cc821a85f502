/*
 * Helpers for the WAL tests: a private ring, temporary log directories on the real disk and on tmpfs
 * (every test body runs on both), deterministic payloads, and append/verify loops.
 */
#ifndef TRPC_TESTS_WALT_H
#define TRPC_TESTS_WALT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/tap.h"
#include "wal/wal.h"

/* Every test body runs in each configuration: the real disk (WAL_TEST_DISK_DIR, default /var/tmp)
 * with O_DIRECT and O_DSYNC writes (the default), the same disk with buffered writes each followed by
 * an fdatasync (the fallback, and the other durability mode), and tmpfs. */
#define WALT_NCONF 3

struct walt_conf {
    const char *name;
    const char *base;
    bool no_direct;
    bool fdatasync;
};

static inline struct walt_conf walt_conf(int i)
{
    const char *disk = getenv("WAL_TEST_DISK_DIR");
    struct walt_conf c = {"disk", disk ? disk : "/var/tmp", false, false};

    if (i == 1) {
        c.name = "buffered";
        c.no_direct = true;
        c.fdatasync = true;
    } else if (i == 2) {
        c.name = "tmpfs";
        c.base = "/dev/shm";
    }
    return c;
}

/* Makes a fresh directory for a log under base; returns 0 or -1 (then the fs is skipped). */
/* Runs one test body in every configuration (liburing's FOR_ALL_TEST_CONFIGS) and ends the TAP run. */
static inline int walt_for_all_configs(void (*run)(const struct walt_conf *c))
{
    for (int i = 0; i < WALT_NCONF; i++) {
        struct walt_conf c = walt_conf(i);
        run(&c);
    }
    return done_testing();
}

static inline int walt_mkdir(char *out, size_t n, const char *base)
{
    snprintf(out, n, "%s/trpc-wal-XXXXXX", base);
    return mkdtemp(out) ? 0 : -1;
}

static inline void walt_rmrf(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[512];

    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static inline void walt_quiet_log(void *arg, enum wal_log_level level, const char *msg)
{
    (void)arg;
    if (level >= WAL_LOG_ERR)
        printf("# wal: %s\n", msg);
}

static inline void walt_silent_log(void *arg, enum wal_log_level level, const char *msg)
{
    (void)arg;
    (void)level;
    (void)msg;
}

static inline struct wal_options walt_options(const char *dir, const struct walt_conf *c)
{
    struct wal_options o = {0};

    o.dir = dir;
    o.no_direct = c->no_direct;
    o.fdatasync = c->fdatasync;
    o.log = walt_quiet_log;
    return o;
}

/* Payload bytes of record seq: a function of (seq, i) so any record can be checked on its own. */
static inline void walt_fill(uint8_t *p, uint32_t len, uint64_t seq)
{
    uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;

    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static inline int walt_check(const void *data, uint32_t len, uint64_t seq)
{
    uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;
    const uint8_t *p = data;

    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (p[i] != (uint8_t)x)
            return 0;
    }
    return 1;
}

struct walt_acks {
    uint64_t count;
    uint64_t last;   /* highest sequence acknowledged durable */
    uint64_t errors; /* completions with res < 0 */
    int first_err;
    int out_of_order;
};

static inline void walt_ack_cb(void *arg, uint64_t seq, int res)
{
    struct walt_acks *a = arg;

    if (res < 0) {
        a->errors++;
        if (!a->first_err)
            a->first_err = res;
        return;
    }
    if (seq <= a->last)
        a->out_of_order = 1;
    a->last = seq;
    a->count++;
}

/* Records what a wal_truncate_before callback said. */
struct walt_trunc {
    int calls;
    int res; /* of the last call */
};

static inline void walt_trunc_cb(void *arg, int res)
{
    struct walt_trunc *t = arg;

    t->calls++;
    t->res = res;
}

/* Appends one record of len bytes (payload from walt_fill), polling while the buffers are busy. */
static inline int walt_append(struct wal *w, uint32_t len, uint64_t expect_seq, struct walt_acks *acks, uint64_t *seq)
{
    static uint8_t *buf;
    static uint32_t cap;
    int ret;

    if (len > cap) {
        free(buf);
        buf = malloc(len);
        cap = len;
    }
    walt_fill(buf, len, expect_seq);
    while ((ret = wal_append(w, 1, buf, len, walt_ack_cb, acks, seq)) == -EAGAIN) {
        ret = wal_poll(w, true);
        if (ret < 0)
            return ret;
    }
    return ret;
}

/* Appends records first..last (lengths from len_of) and drains: 0 or the first error. */
static inline int walt_append_range(struct wal *w, uint64_t first, uint64_t last, uint32_t (*len_of)(uint64_t seq),
                                    struct walt_acks *acks)
{
    uint64_t seq;

    for (uint64_t s = first; s <= last; s++) {
        int ret = walt_append(w, len_of(s), s, acks, &seq);

        if (ret)
            return ret;
        if (seq != s)
            return -EPROTO;
    }
    return wal_drain(w);
}

/* Reads [from, to] back and checks every record against walt_fill and the expected lengths. */
static inline int walt_verify(struct wal *w, uint64_t from, uint64_t to, uint32_t (*len_of)(uint64_t seq))
{
    struct wal_iter *it;
    struct wal_record r;
    uint64_t want = from;
    int ret;

    ret = wal_iter_open(w, from, &it);
    if (ret)
        return ret;
    while (want <= to && (ret = wal_iter_next(it, &r)) == 1) {
        if (r.seq != want || r.type != 1 || (len_of && r.len != len_of(want)) || !walt_check(r.data, r.len, want)) {
            printf("# record %llu wrong (seq %llu len %u)\n", (unsigned long long)want, (unsigned long long)r.seq, r.len);
            ret = -EBADMSG;
            break;
        }
        want++;
    }
    wal_iter_close(it);
    if (ret < 0)
        return ret;
    return want == to + 1 ? 0 : -ENODATA;
}

static inline void walt_ring(struct io_uring *ring)
{
    int ret = io_uring_queue_init(64, ring, 0);

    if (ret == -ENOSYS || ret == -EPERM)
        skip_all("io_uring is not available here");
    if (ret)
        BAIL_OUT("io_uring_queue_init: %s", strerror(-ret));
}

/* Record lengths of 100 B to 1.6 KiB, varied: a few hundred make many small segments. */
static inline uint32_t walt_len_mixed(uint64_t seq)
{
    return (uint32_t)(100 + seq * 37 % 1500);
}

/* Options for a log of small segments (32 KiB) and batch buffers (16 KiB), as the truncation and
 * segment-boundary tests want them. */
static inline struct wal_options walt_small_options(const char *dir, const struct walt_conf *c)
{
    struct wal_options o = walt_options(dir, c);

    o.segment_bytes = 32 << 10;
    o.buffer_bytes = 16 << 10;
    return o;
}

/* A private ring, and the log of *o opened on it with records 1..nrec appended (lengths from
 * len_of) and durable. Bails out on any failure. */
static inline void walt_open_filled(const struct wal_options *o, struct io_uring *ring, struct wal **w, uint64_t nrec,
                                    uint32_t (*len_of)(uint64_t seq))
{
    struct wal_recovery rec;
    struct walt_acks acks = {0};

    walt_ring(ring);
    if (wal_open(o, ring, w, &rec))
        BAIL_OUT("open %s", o->dir);
    if (nrec > 0 && walt_append_range(*w, 1, nrec, len_of, &acks))
        BAIL_OUT("append 1..%llu", (unsigned long long)nrec);
}

static inline int walt_file_count(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".wal") && de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* The base sequence of the k-th oldest segment file in dir (0: none). */
static inline uint64_t walt_segment_base(const char *dir, int k)
{
    uint64_t bases[128];
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL && n < 128)
        if (de->d_name[0] != '.' && strstr(de->d_name, ".wal"))
            bases[n++] = strtoull(de->d_name, NULL, 16);
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && bases[j - 1] > bases[j]; j--) {
            uint64_t t = bases[j];
            bases[j] = bases[j - 1];
            bases[j - 1] = t;
        }
    return k < n ? bases[k] : 0;
}

#endif
