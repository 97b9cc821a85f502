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

#include "src/admin.h"
#include "src/control.h"
#include "src/contracts.h"
#include "src/core.h"
#include "dashboard/http.h"
#include "src/log.h"
#include "src/user_cli.h"
#include "src/session.h"
#include "src/steer.h"

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

struct stats_line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

static int stats_line_add(void *arg, const char *name, enum broker_stat_kind kind, bool on_line, const char *help, uint64_t value)
{
    struct stats_line *sl = arg;
    int n;

    if (!on_line || sl->len >= sizeof(sl->buf))
        return 0;
    n = snprintf(sl->buf + sl->len, sizeof(sl->buf) - sl->len, " %s=%llu", name, (unsigned long long)value);
    sl->len += n > 0 ? (size_t)n : 0;
    return 0;
}

/* "stats:" and the LINE rows of BROKER_STATS_MAP in its order, then the mean CQEs per wait. */
static void log_stats(const struct broker *b)
{
    struct broker_stats s;
    struct stats_line sl = {.len = 0};

    broker_stats_sum(b, &s);
    broker_stats_foreach(&s, stats_line_add, &sl);
    log_always(LOG_NO_CORE, "stats:%s cqes_per_wait=%.2f", sl.buf, s.iterations ? (double)s.cqes / (double)s.iterations : 0.0);
}

static void free_broker(struct broker *b)
{
    for (unsigned i = 0; b->cores != NULL && i < b->ncores; i++) {
        if (b->cores[i] == NULL)
            continue;
        if (b->cores[i]->listen_fd != -1)
            close(b->cores[i]->listen_fd);
        if (b->cores[i]->tls_listen_fd != -1)
            close(b->cores[i]->tls_listen_fd);
        if (b->cores[i]->efd != -1)
            close(b->cores[i]->efd);
        core_free_mbox(b->cores[i]);
        request_free_metrics(b->cores[i]);
        free(b->cores[i]);
    }
    free(b->cores);
    free(b->stats);
    stls_free(b);
    steer_free(b);
    free(b);
}

/* request-contracts: their rpc topics into cfg->contract_topics, beside request-metrics' patterns
 * (at most CONFIG_REQUEST_CLASSES_MAX together). -1 to run, else the exit status. */
static int contract_classes(struct config *cfg)
{
    char err[CONFIG_ERR_MAX];
    int n, configured;

    if (cfg->request_contracts[0] == '\0')
        return -1;
    n = contracts_rpc_topics(cfg->request_contracts, cfg->request_metrics, cfg->contract_topics, sizeof(cfg->contract_topics), err,
                             sizeof(err));
    if (n < 0) {
        fprintf(stderr, "trpc-broker: %s\n", err);
        return 2;
    }
    configured = config_request_classes(cfg->request_metrics, NULL, NULL, err, sizeof(err));
    if (configured + n > CONFIG_REQUEST_CLASSES_MAX) {
        fprintf(stderr, "trpc-broker: request-metrics (%d patterns) and request-contracts (%d rpc topics): more than %d together\n",
                configured, n, CONFIG_REQUEST_CLASSES_MAX);
        return 2;
    }
    return -1;
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
               "       trpc-broker --help | --version | --print-config\n"
               "       trpc-broker user add|passwd|del|list [NAME] [OPTION VALUE]...\n"
               "                   the users in the store, with no broker running (trpc-broker user --help)\n"
               "\noptions:\n");
        config_print_help(stdout);
        return 0;
    case CONFIG_VERSION:
        printf("trpc-broker %s\n", PACKAGE_VERSION);
        return 0;
    case CONFIG_PRINT:
        config_print(&b->cfg, stdout);
        return 0;
    case CONFIG_RUN:
        return contract_classes(&b->cfg);
    }
    return -1;
}

/* Until SIGTERM or SIGINT, which it returns. SIGHUP reloads the TLS certificates and keys from
 * their files (what operators' ExecReload sends); a reload that fails keeps the old ones. */
static int wait_signal(struct broker *b)
{
    char err[CONFIG_ERR_MAX];
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        while (sigwait(&set, &sig) != 0)
            ;
        if (sig != SIGHUP)
            return sig;
        if (b->tls == NULL)
            log_info(LOG_NO_CORE, "SIGHUP: no TLS listener, nothing to reload");
        else if (stls_reload(b, err, sizeof(err)) != 0)
            log_error(LOG_NO_CORE, "SIGHUP: TLS certificates not reloaded, the old ones stay: %s", err);
        else
            log_always(LOG_NO_CORE, "SIGHUP: TLS certificates reloaded; new connections use them");
    }
}

int main(int argc, char **argv)
{
    struct broker *b;
    struct uring_features f;
    char err[CONFIG_ERR_MAX];
    sigset_t set;
    long online;
    int ret, sig;

    /* The offline user commands (user_cli.h): nothing of a broker is set up for them. */
    if (argc > 1 && strcmp(argv[1], "user") == 0)
        return user_cli_main(argc, argv);
    b = calloc(1, sizeof(*b));
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
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    heap_setup();
    ret = admin_register(b);
    if (ret == 0)
        ret = stream_register(b);
    if (ret == 0)
        ret = session_auth_register(b);
    if (ret != 0) {
        snprintf(err, sizeof(err), "%s", strerror(-ret));
    } else if ((ret = stls_init(b, err, sizeof(err))) == 0 && (ret = control_init(b, err, sizeof(err))) == 0) {
        ret = core_start_all(b, err, sizeof(err));
        if (ret == 0 && (ret = control_start(b)) != 0)
            snprintf(err, sizeof(err), "%s", strerror(-ret));
        if (ret == 0)
            ret = http_start(b, err, sizeof(err));
    }
    if (ret != 0) {
        log_error(LOG_NO_CORE, "cannot start: %s", err);
        control_stop(b);
        if (b->started) {
            core_wake_all(b);
            core_join_all(b);
        }
        http_stop(b);
        control_free(b);
        free_broker(b);
        return 1;
    }
    if (b->cfg.auth && !config_host_is_loopback(b->cfg.listen_host))
        log_warn(LOG_NO_CORE, "listen %s: passwords and tokens cross the network in clear there; use tls-listen",
                 b->cfg.listen_host);
    /* Before the line that says the broker is up: whoever waits for that one finds this one too. */
    if (b->tls != NULL && strchr(b->cfg.tls_listen_host, ':') != NULL)
        log_always(LOG_NO_CORE, "TLS on [%s]:%u (user-space TLS)", b->cfg.tls_listen_host, b->tls_port);
    else if (b->tls != NULL)
        log_always(LOG_NO_CORE, "TLS on %s:%u (user-space TLS)", b->cfg.tls_listen_host, b->tls_port);
    if (strchr(b->cfg.listen_host, ':') != NULL)
        log_always(LOG_NO_CORE, "listening on [%s]:%u with %u cores", b->cfg.listen_host, b->port, b->ncores);
    else
        log_always(LOG_NO_CORE, "listening on %s:%u with %u cores", b->cfg.listen_host, b->port, b->ncores);
    sig = wait_signal(b);
    log_info(LOG_NO_CORE, "%s received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    control_stop(b); /* it posts nothing to the cores from here on */
    core_wake_all(b);
    core_join_all(b);
    http_stop(b); /* /readyz says "stopping" until the cores are gone */
    control_free(b);
    log_stats(b);
    ret = atomic_load(&b->failed) ? 1 : 0;
    log_info(LOG_NO_CORE, "stopped");
    free_broker(b);
    return ret;
}
