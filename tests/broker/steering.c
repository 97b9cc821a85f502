/*
 * Connection steering (src/steer.h), read from each CONNACK's client_id (core + 1 in its top
 * bits):
 *
 *  - least-conns: 8 connections made one after another on a 4-core broker land 2 on each core;
 *    once the 2 on one core are closed, the next 2 go to that core; 64 more made at once (a burst)
 *    spread over all 4. Skipped without CAP_BPF (or CAP_SYS_ADMIN): the broker then refuses to
 *    start, which tests/broker/steering_nocap.sh shows with the capabilities dropped. With one of
 *    them, a broker that does not start is a failure.
 *  - least-conns with 16 cores (the program is generated per core: 16 blocks of instructions):
 *    16 connections made in turn land one on each core.
 *  - cpu: a connection made from a thread pinned to CPU k lands on core k (as many cores as CPUs).
 *  - hash: the broker says so, and 32 connections do not all land on one core.
 */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "tests/broker/itest.h"

#define CONNS_MAX 64

/* Whether this process may load eBPF programs: CAP_BPF (39) or CAP_SYS_ADMIN (21) effective. */
static bool may_bpf(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    unsigned long long eff = 0;
    char line[256];

    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "CapEff: %llx", &eff) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return (eff >> 39 & 1) || (eff >> 21 & 1);
}

/* Polls the broker's log until it has `n` lines with `needle`, for 5 s at most. */
static bool wait_logged(const struct broker_proc *b, const char *needle, int n)
{
    for (int i = 0; i < 500; i++) {
        if (broker_proc_log_count(b, needle) >= n)
            return true;
        usleep(10000);
    }
    return false;
}

/* A least-conns broker whose counts start at zero: the harness's readiness probe was a connection
 * too, and must be gone from them first. False (nothing started) without CAP_BPF. */
static bool start_least_conns(struct broker_proc *b, const char *const *args)
{
    if (!may_bpf())
        return false;
    itest_start(b, args);
    if (!wait_logged(b, "closed client_id=", 1))
        BAIL_OUT("the broker did not log the readiness probe's close");
    return true;
}

static void per_core(struct tc *c, unsigned n, unsigned *count, unsigned ncores)
{
    memset(count, 0, ncores * sizeof(*count));
    for (unsigned i = 0; i < n; i++)
        if (c[i].core < ncores)
            count[c[i].core]++;
}

static void least_conns(void)
{
    static const char *const args[] = {"--cores", "4", "--steering", "least-conns", NULL};
    static struct tc c[CONNS_MAX];
    struct broker_proc b;
    unsigned count[4], victim, back = 0, closed = 0;
    bool even = true;
    int before;

    if (!start_least_conns(&b, args)) {
        skip(5, "steering least-conns: needs CAP_BPF");
        return;
    }
    ok(broker_proc_log_count(&b, "connection steering: least-conns") == 1, "least-conns: the broker says it steers so");
    for (unsigned i = 0; i < 8; i++)
        itest_connect(&c[i], &b, 0);
    per_core(c, 8, count, 4);
    for (unsigned k = 0; k < 4; k++)
        even &= count[k] == 2;
    ok(even, "least-conns: 8 connections made in turn land 2 on each of 4 cores (%u %u %u %u)", count[0], count[1], count[2],
       count[3]);

    /* Both on core c[5].core go: it has the fewest, and the next two fill it again. */
    victim = c[5].core;
    before = broker_proc_log_count(&b, "closed client_id=");
    for (unsigned i = 0; i < 8; i++) {
        if (c[i].core == victim) {
            tc_close(&c[i]);
            closed++;
        }
    }
    if (!wait_logged(&b, "closed client_id=", before + (int)closed))
        BAIL_OUT("the broker did not log the closes");
    for (unsigned i = 8; i < 10; i++) {
        itest_connect(&c[i], &b, 0);
        back += c[i].core == victim;
    }
    ok(back == 2, "least-conns: once the %u connections of core %u closed, the next 2 land there (%u did)", closed, victim, back);

    /* A burst at equal counts (2 each): the hash breaks the ties, so it spreads. */
    for (unsigned i = 10; i < CONNS_MAX; i++) {
        int ret = tc_connect(&c[i], &b, 0);

        if (ret != 0)
            BAIL_OUT("connect in the burst");
    }
    per_core(c, CONNS_MAX, count, 4);
    ok(count[0] > 0 && count[1] > 0 && count[2] > 0 && count[3] > 0, "least-conns: %u more reach every core (%u %u %u %u in all)",
       CONNS_MAX - 10, count[0], count[1], count[2], count[3]);
    for (unsigned i = 0; i < CONNS_MAX; i++)
        if (c[i].fd >= 0 && (i >= 8 || c[i].core != victim))
            tc_close(&c[i]);
    itest_stop(&b);
}

static void least_conns_16(void)
{
    static const char *const args[] = {"--cores", "16", "--steering", "least-conns", NULL};
    static struct tc c[16];
    struct broker_proc b;
    unsigned count[16], once = 0;

    if (!start_least_conns(&b, args)) {
        skip(2, "steering least-conns: needs CAP_BPF");
        return;
    }
    for (unsigned i = 0; i < 16; i++)
        itest_connect(&c[i], &b, 0);
    per_core(c, 16, count, 16);
    for (unsigned k = 0; k < 16; k++)
        once += count[k] == 1;
    ok(once == 16, "least-conns, 16 cores: 16 connections made in turn land one on each (%u cores have exactly one)", once);
    for (unsigned i = 0; i < 16; i++)
        tc_close(&c[i]);
    itest_stop(&b);
}

static void cpu(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    char cores[16];
    const char *args[] = {"--cores", cores, "--steering", "cpu", NULL};
    cpu_set_t mine, one;
    struct broker_proc b;
    unsigned tried = 0, right = 0;

    if (ncpu < 2 || ncpu > 64 || sched_getaffinity(0, sizeof(mine), &mine) != 0) {
        skip(3, "steering cpu: needs 2 to 64 CPUs");
        return;
    }
    snprintf(cores, sizeof(cores), "%ld", ncpu);
    itest_start(&b, args);
    ok(broker_proc_log_count(&b, "connection steering: cpu") == 1, "cpu: the broker says it steers so");
    for (int k = 0; k < ncpu; k++) {
        if (!CPU_ISSET(k, &mine))
            continue;
        CPU_ZERO(&one);
        CPU_SET(k, &one);
        if (sched_setaffinity(0, sizeof(one), &one) != 0)
            continue;
        for (int i = 0; i < 3; i++) {
            struct tc c;

            itest_connect(&c, &b, 0);
            tried++;
            right += c.core == (unsigned)k;
            tc_close(&c);
        }
    }
    sched_setaffinity(0, sizeof(mine), &mine);
    ok(tried > 0 && right == tried, "cpu: each connection lands on the core of the CPU it was made on (%u of %u)", right, tried);
    itest_stop(&b);
}

static void hash(void)
{
    static const char *const args[] = {"--cores", "2", "--steering", "hash", NULL};
    static struct tc c[32];
    struct broker_proc b;
    unsigned count[2];

    itest_start(&b, args);
    ok(broker_proc_log_count(&b, "connection steering: hash") == 1, "hash: the broker says it steers so");
    for (unsigned i = 0; i < 32; i++)
        itest_connect(&c[i], &b, 0);
    per_core(c, 32, count, 2);
    ok(count[0] > 0 && count[1] > 0, "hash: 32 connections land on both cores (%u %u)", count[0], count[1]);
    for (unsigned i = 0; i < 32; i++)
        tc_close(&c[i]);
    itest_stop(&b);
}

int main(void)
{
    least_conns();
    least_conns_16();
    cpu();
    hash();
    return done_testing();
}
