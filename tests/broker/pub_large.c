/*
 * Large messages crossing cores reuse their copy blocks: on a 2-core broker, 64 KiB and 200 KiB
 * messages from a publisher on core 0 reach a subscriber on each core intact and in order, the
 * copies to core 1 come mostly from blocks core 1 handed back, the large-block cache stays within
 * its bound, and an idle core frees what it cached. The counters come from each core's
 * "recycled copies:" log line at shutdown. Direct sends are off: they would replace the copies.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "src/route.h"
#include "tests/broker/itest.h"

#define N      240
#define WINDOW 8 /* messages the publisher runs ahead of the slower reader */
#define SMALL  (64 * 1024)
#define LARGE  (200 * 1024)

struct reader {
    struct tc *c;
    _Atomic unsigned got;
    unsigned in_order, intact;
};

static size_t size_of(unsigned i)
{
    return i % 3 == 2 ? LARGE : SMALL;
}

static void fill(uint8_t *p, unsigned i)
{
    memcpy(p, &i, sizeof(i));
    for (size_t j = sizeof(i); j < size_of(i); j++)
        p[j] = (uint8_t)(i * 31 + j);
}

static bool intact(const uint8_t *p, size_t len, unsigned i)
{
    if (len != size_of(i))
        return false;
    for (size_t j = sizeof(i); j < len; j++)
        if (p[j] != (uint8_t)(i * 31 + j))
            return false;
    return true;
}

static void *read_all(void *arg)
{
    struct reader *r = arg;
    struct wire_frame f;

    while (atomic_load(&r->got) < N && tc_recv(r->c, &f, TC_TIMEOUT_MS) == 0) {
        unsigned v, got = atomic_load(&r->got);

        if (f.type != WIRE_MSG || f.payload_len < sizeof(v))
            break;
        memcpy(&v, f.payload, sizeof(v));
        r->in_order += v == got;
        r->intact += intact(f.payload, f.payload_len, v);
        atomic_store(&r->got, got + 1);
    }
    return NULL;
}

struct counts {
    unsigned long long reused, alloc, oversize, trimmed, peak;
    int lines;
};

/* Sums the cores' "recycled copies:" lines of the broker's log (the peak: the largest). */
static struct counts read_counts(const char *path)
{
    struct counts t = {0};
    char line[512];
    FILE *f = fopen(path, "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "recycled copies:");
        struct counts c;

        if (p == NULL || sscanf(p, "recycled copies: reused=%llu allocated=%llu oversize=%llu trimmed=%llu large_peak=%llu",
                                &c.reused, &c.alloc, &c.oversize, &c.trimmed, &c.peak) != 5)
            continue;
        t.reused += c.reused;
        t.alloc += c.alloc;
        t.oversize += c.oversize;
        t.trimmed += c.trimmed;
        t.peak = c.peak > t.peak ? c.peak : t.peak;
        t.lines++;
    }
    if (f != NULL)
        fclose(f);
    return t;
}

static unsigned slower(struct reader *r)
{
    unsigned a = atomic_load(&r[0].got), b = atomic_load(&r[1].got);

    return a < b ? a : b;
}

int main(void)
{
    /* Copies are what is tested: with direct sends core 0 would write the frames itself while
     * core 1 sleeps (tests/broker/pub_direct covers that). */
    static const char *const args[] = {"--cores", "2", "--direct-sends=false", NULL};
    struct broker_proc b;
    struct tc pub, sub[2];
    struct reader rd[2];
    pthread_t th[2];
    uint8_t *payload = malloc(LARGE);
    struct counts k;
    int st;

    plan(13);
    if (payload == NULL)
        BAIL_OUT("out of memory");
    itest_start(&b, args);
    itest_connect_on(&pub, &b, 0);
    for (unsigned i = 0; i < 2; i++) {
        itest_connect_on(&sub[i], &b, i);
        if (tc_sub(&sub[i], 1, "big.>", NULL) != 0 || tc_sync(&sub[i], NULL) != 0)
            BAIL_OUT("subscribe");
        rd[i] = (struct reader){.c = &sub[i]};
    }
    /* Both subscriptions are in force on every core once each subscriber saw its PONG. */
    for (unsigned i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, read_all, &rd[i]) != 0)
            BAIL_OUT("pthread_create");
    for (unsigned i = 0; i < N; i++) {
        for (int w = 0; w < 20000 && slower(rd) + WINDOW < i; w++)
            usleep(1000);
        fill(payload, i);
        if (tc_pub(&pub, "big.x", payload, size_of(i)) != 0)
            BAIL_OUT("publish %u", i);
    }
    for (unsigned i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (unsigned i = 0; i < 2; i++) {
        ok_eq(atomic_load(&rd[i].got), N, "the subscriber on core %u got every message", i);
        ok_eq(rd[i].in_order, N, "in publishing order on core %u", i);
        ok_eq(rd[i].intact, N, "each payload intact on core %u", i);
    }
    /* The sweep runs every second: two of them with no traffic make a core idle. */
    usleep(2500 * 1000);
    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "broker exits 0 on SIGTERM (status %d)", st);
    k = read_counts(b.log_path);
    diag("reused=%llu allocated=%llu oversize=%llu trimmed=%llu large_peak=%llu", k.reused, k.alloc, k.oversize, k.trimmed, k.peak);
    ok_eq(k.lines, 2, "each core logged its recycling counters");
    ok_eq(k.reused + k.alloc + k.oversize, N, "one copy per message crossed to core 1");
    ok_eq(k.oversize, 0, "200 KiB copies fit a size class");
    ok(k.reused >= N / 2, "most copies reused a block handed back (%llu of %d)", k.reused, N);
    ok(k.peak > 0 && k.peak <= BROKER_RECYCLE_LARGE_BYTES, "the large-block cache stayed within its bound (%llu)", k.peak);
    ok(k.trimmed > 0, "the idle core freed its cached blocks (%llu)", k.trimmed);
    broker_proc_stop(&b);
    for (unsigned i = 0; i < 2; i++)
        tc_close(&sub[i]);
    tc_close(&pub);
    free(payload);
    return done_testing();
}
