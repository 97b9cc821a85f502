/*
 * trpc-broker: command line, start-up, signals. The work happens on the core threads (core.c);
 * this thread only waits for SIGTERM or SIGINT, wakes every core and waits for them to finish.
 * Exit status: 0 after a clean stop, 1 when the broker could not start or a core failed, 2 for a
 * bad command line or configuration.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/broker.h"
#include "src/log.h"

/*
 * glibc raises its mmap and trim thresholds as the program frees large blocks (up to 32 and 64
 * MiB): after the broker freed a 4 MiB table the free space at the top of a core's heap was kept
 * up to 8 MiB and more, and malloc_trim() never trims the top of a thread's arena (only the main
 * one's), so an idle broker kept tens of MiB after a load ended. Fixed thresholds keep a core's
 * heap top at most BROKER_HEAP_TRIM_BYTES once a free reaches it; the sweep's malloc_trim() gives
 * back the free pages inside the heaps (core.c, "memory given back"). The mmap threshold stays
 * above every block a hot path allocates and keeps (PUB copy classes, reassembly buffers up to
 * 1 MiB, output chunks), as the dynamic one ended up after warm-up, so those never cost an mmap.
 */
static void heap_setup(void)
{
    if (mallopt(M_MMAP_THRESHOLD, BROKER_HEAP_MMAP_BYTES) != 1 || mallopt(M_TRIM_THRESHOLD, BROKER_HEAP_TRIM_BYTES) != 1)
        log_warn(LOG_NO_CORE, "cannot set the heap's trim and mmap thresholds");
}

static void log_stats(const struct broker *b)
{
    struct broker_stats s;

    broker_stats_sum(b, &s);
    log_always(
        LOG_NO_CORE,
        "stats: accepted=%llu refused=%llu msgs_in=%llu bytes_in=%llu msgs_out=%llu bytes_out=%llu drops=%llu "
        "slow_consumers=%llu protocol_errors=%llu idle_timeouts=%llu requests=%llu request_timeouts=%llu "
        "xmsgs=%llu xbacklog=%llu xblk_reused=%llu xblk_alloc=%llu xblk_oversize=%llu xblk_trimmed=%llu xblk_large_peak=%llu "
        "direct_sends=%llu direct_rests=%llu direct_handbacks=%llu heap_trims=%llu buf_releases=%llu "
        "buf_release_errors=%llu gate_waits=%llu rx_pauses=%llu enobufs=%llu iterations=%llu "
        "cqes=%llu "
        "cqes_per_wait=%.2f",
        (unsigned long long)s.core.accepted, (unsigned long long)s.core.refused, (unsigned long long)s.core.msgs_in,
        (unsigned long long)s.core.bytes_in, (unsigned long long)s.core.msgs_out, (unsigned long long)s.core.bytes_out,
        (unsigned long long)s.core.drops, (unsigned long long)s.core.slow_consumers, (unsigned long long)s.core.protocol_errors,
        (unsigned long long)s.core.idle_timeouts, (unsigned long long)s.core.requests, (unsigned long long)s.core.request_timeouts,
        (unsigned long long)s.core.xmsgs_out, (unsigned long long)s.core.xbacklog, (unsigned long long)s.core.xblk_reused,
        (unsigned long long)s.core.xblk_alloc, (unsigned long long)s.core.xblk_oversize, (unsigned long long)s.core.xblk_trimmed,
        (unsigned long long)s.core.xblk_large_peak, (unsigned long long)s.core.direct_sends,
        (unsigned long long)s.core.direct_rests, (unsigned long long)s.core.direct_handbacks, (unsigned long long)s.core.heap_trims,
        (unsigned long long)s.core.buf_releases, (unsigned long long)s.core.buf_release_errors, (unsigned long long)s.gate_waits,
        (unsigned long long)s.core.rx_pauses, (unsigned long long)s.enobufs, (unsigned long long)s.iterations,
        (unsigned long long)s.cqes, s.iterations ? (double)s.cqes / (double)s.iterations : 0.0);
}

static void free_broker(struct broker *b)
{
    for (unsigned i = 0; b->cores != NULL && i < b->ncores; i++) {
        if (b->cores[i] == NULL)
            continue;
        if (b->cores[i]->listen_fd != -1)
            close(b->cores[i]->listen_fd);
        if (b->cores[i]->efd != -1)
            close(b->cores[i]->efd);
        core_free_gates(b->cores[i]);
        core_free_mbox(b->cores[i]);
        free(b->cores[i]);
    }
    free(b->cores);
    free(b->stats);
    free(b);
}

static int parse_args(struct broker *b, int argc, char **argv)
{
    char err[CONFIG_ERR_MAX];
    enum config_action action;

    config_defaults(&b->cfg);
    if (config_from_args(&b->cfg, argc, argv, &action, err, sizeof(err)) != 0) {
        fprintf(stderr, "trpc-broker: %s\n", err);
        return 2;
    }
    switch (action) {
    case CONFIG_HELP:
        printf("usage: trpc-broker [--listen HOST:PORT] [--cores N] [--config FILE] [OPTION VALUE]...\n"
               "       trpc-broker --help | --version | --print-config\n\noptions:\n");
        config_print_help(stdout);
        return 0;
    case CONFIG_VERSION:
        printf("trpc-broker %s\n", PACKAGE_VERSION);
        return 0;
    case CONFIG_PRINT:
        config_print(&b->cfg, stdout);
        return 0;
    case CONFIG_RUN:
        break;
    }
    return -1;
}

static int wait_signal(void)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    while (sigwait(&set, &sig) != 0)
        ;
    return sig;
}

int main(int argc, char **argv)
{
    struct broker *b = calloc(1, sizeof(*b));
    struct uring_features f;
    sigset_t set;
    long online;
    int ret, sig;

    if (b == NULL) {
        fprintf(stderr, "trpc-broker: out of memory\n");
        return 1;
    }
    ret = parse_args(b, argc, argv);
    if (ret >= 0) {
        free(b);
        return ret;
    }
    log_set_level(b->cfg.log_level);
    online = sysconf(_SC_NPROCESSORS_ONLN);
    b->ncores = b->cfg.cores ? b->cfg.cores : (online > 0 ? (unsigned)online : 1);
    if (b->ncores > BROKER_CORES_MAX)
        b->ncores = BROKER_CORES_MAX;
    if (uring_probe(&f) < 0) {
        log_error(LOG_NO_CORE, "io_uring below tier T0: %s", f.missing);
        free(b);
        return 1;
    }
    log_always(LOG_NO_CORE, "%s starting: io_uring tier %s%s%s", BROKER_NAME, uring_tier_name(f.tier),
               f.missing[0] ? "; next tier needs: " : "", f.missing);
    b->loop_opts.buf_count = b->cfg.recv_buffers;
    b->loop_opts.buf_size = (unsigned)b->cfg.recv_buffer_size;
    b->loop_opts.zc_threshold = (size_t)b->cfg.send_zc_threshold;
    b->features = f;
    b->loop_opts.features = &b->features; /* probed once, here; every core's loop uses it */

    /* Core threads inherit this mask: the signals come to sigwait() here, never to a handler. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    heap_setup();
    ret = core_start_all(b);
    if (ret != 0) {
        log_error(LOG_NO_CORE, "cannot start: %s", strerror(-ret));
        if (b->started)
            core_join_all(b);
        free_broker(b);
        return 1;
    }
    if (strchr(b->cfg.listen_host, ':') != NULL)
        log_always(LOG_NO_CORE, "listening on [%s]:%u with %u cores", b->cfg.listen_host, b->port, b->ncores);
    else
        log_always(LOG_NO_CORE, "listening on %s:%u with %u cores", b->cfg.listen_host, b->port, b->ncores);
    sig = wait_signal();
    log_info(LOG_NO_CORE, "%s received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    core_wake_all(b);
    core_join_all(b);
    log_stats(b);
    ret = atomic_load(&b->failed) ? 1 : 0;
    log_info(LOG_NO_CORE, "stopped");
    free_broker(b);
    return ret;
}
