/*
 * storm: a storm of logins that costs its own machine little (perf/trpc-bench.1, "storm").
 *
 * trpc-bench connect logs in through libtrpc, one client and its I/O thread per connection: 300
 * of them take a sixth of a two-CPU machine by themselves, which a run beside an established
 * publisher cannot tell from what the broker takes. Here one thread and one epoll set drive N
 * slots over non-blocking sockets; each slot connects, sends a CONNECT with the credentials,
 * waits for the CONNACK or the ERR, closes, waits --pause and starts over. What the broker spends
 * on the storm is then most of what the storm costs.
 *
 * Credentials as the other workloads take them: TRPC_TOKEN, or TRPC_USER and TRPC_PASSWORD.
 */
#include "perf/storm.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <trpc/errors.h>

#include "driver/wire.h"
#include "perf/idle.h"

#define SLOTS_MAX  4096
#define EVENTS_MAX 256
#define TX_MAX     2048
#define TICK_MS    10
#define WAIT_MS    10000 /* a slot whose answer has not come by then is closed and counted */

enum phase { S_WAIT, S_CONNECTING, S_SENT };

struct slot {
    int fd;
    uint8_t phase;
    uint64_t due_ms; /* S_WAIT: when to connect; S_SENT: when to give up */
    struct idle_rx rx;
};

struct storm {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int ep;
    uint8_t hello[TX_MAX];
    size_t hello_len;
    unsigned pause_ms;
    struct slot *slots;
    unsigned n;
    uint64_t attempts, ok, busy, refused, errors, timeouts;
    char first_refusal[96];
    uint8_t rx_chunk[4096];
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The CONNECT every slot sends: its credentials from the environment. */
static ssize_t hello_encode(uint8_t *buf, size_t cap)
{
    const char *token = getenv("TRPC_TOKEN"), *user = getenv("TRPC_USER"), *pw = getenv("TRPC_PASSWORD");
    struct wire_header h[3];
    struct wire_out o = {.type = WIRE_CONNECT, .aux = wire_versions(WIRE_VERSION_MIN, WIRE_VERSION_MAX), .headers = h};
    const char *keys[3] = {":name", ":token", ":user"}, *vals[3] = {"storm", token, user};

    for (unsigned i = 0; i < 3; i++) {
        if (vals[i] == NULL || vals[i][0] == '\0')
            continue;
        h[o.header_count++] = (struct wire_header){.key = keys[i],
                                                   .key_len = (uint16_t)strlen(keys[i]),
                                                   .val = (const uint8_t *)vals[i],
                                                   .val_len = (uint16_t)strlen(vals[i])};
    }
    if (pw != NULL && (token == NULL || token[0] == '\0'))
        h[o.header_count++] =
            (struct wire_header){.key = ":password", .key_len = 9, .val = (const uint8_t *)pw, .val_len = (uint16_t)strlen(pw)};
    return wire_encode(buf, cap, &o);
}

static void slot_close(struct storm *s, struct slot *k, uint64_t now)
{
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
    k->phase = S_WAIT;
    k->due_ms = now + s->pause_ms;
    memset(&k->rx, 0, sizeof(k->rx));
}

static void slot_open(struct storm *s, unsigned i, uint64_t now)
{
    struct slot *k = &s->slots[i];
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = i};

    s->attempts++;
    k->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k->fd < 0 || (connect(k->fd, (struct sockaddr *)&s->addr, s->addrlen) != 0 && errno != EINPROGRESS) ||
        epoll_ctl(s->ep, EPOLL_CTL_ADD, k->fd, &ev) != 0) {
        s->errors++;
        slot_close(s, k, now);
        return;
    }
    k->phase = S_CONNECTING;
    k->due_ms = now + WAIT_MS;
}

/* The answer to a CONNECT: logged in, told to try again, or refused. */
static void slot_answer(struct storm *s, struct slot *k, const struct idle_events *ev, uint64_t now)
{
    if (ev->err == 0)
        s->ok++;
    else if (ev->err == -TRPC_E_UNAVAILABLE)
        s->busy++;
    else {
        s->refused++;
        if (s->first_refusal[0] == '\0')
            snprintf(s->first_refusal, sizeof(s->first_refusal), "%s", ev->why);
    }
    slot_close(s, k, now);
}

static void slot_event(struct storm *s, const struct epoll_event *e, uint64_t now)
{
    struct slot *k = &s->slots[e->data.u32];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = e->data.u32};

    if (k->phase == S_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0 ||
            send(k->fd, s->hello, s->hello_len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)s->hello_len ||
            epoll_ctl(s->ep, EPOLL_CTL_MOD, k->fd, &ev) != 0) {
            if (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                s->errors++;
                slot_close(s, k, now);
            }
            return;
        }
        k->phase = S_SENT;
        return;
    }
    for (;;) {
        struct idle_events iev = {0};
        ssize_t n = recv(k->fd, s->rx_chunk, sizeof(s->rx_chunk), MSG_DONTWAIT);

        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                s->errors++;
                slot_close(s, k, now);
            }
            return;
        }
        idle_trpc.parse(&k->rx, s->rx_chunk, (size_t)n, &iev);
        if (iev.err != 0 || k->rx.greeted) {
            slot_answer(s, k, &iev, now);
            return;
        }
    }
}

static void help(const char *prog, const char *url_default)
{
    printf("usage: %1$s storm [--url URL] [--conns N] [--pause MS] [--duration S] [--quiet]\n"
           "\n"
           "A storm of logins from one thread: N slots (--conns, default 300, at most %3$d) each connect, send a\n"
           "CONNECT with the credentials of TRPC_TOKEN, or TRPC_USER and TRPC_PASSWORD, wait for the CONNACK or\n"
           "the ERR, close, wait MS (--pause, default 1000) and start over, for S seconds (--duration, default 5).\n"
           "It prints the attempts and how they ended: logged in, told to try again (UNAVAILABLE), refused\n"
           "(another ERR), connection errors and answers not come within %4$d ms.\n"
           "  --url URL  the broker (default %2$s)\n"
           "Exit status: 0 when every attempt got an answer, 1 when some did not, 2 for bad usage.\n",
           prog, url_default, SLOTS_MAX, WAIT_MS);
}

static int parse_args(const char *prog, const char *url_default, int argc, char **argv, struct storm *s, const char **url,
                      double *duration, bool *quiet)
{
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"conns", required_argument, NULL, 'c'},
                                         {"pause", required_argument, NULL, 'p'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    char *end;
    int c;

    *url = url_default;
    s->n = 300;
    s->pause_ms = 1000;
    *duration = 5;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            *url = optarg;
            break;
        case 'c':
            s->n = (unsigned)strtoul(optarg, &end, 10);
            if (*end != '\0' || s->n == 0 || s->n > SLOTS_MAX) {
                fprintf(stderr, "%s storm: --conns takes 1 to %d\n", prog, SLOTS_MAX);
                return 2;
            }
            break;
        case 'p':
            s->pause_ms = (unsigned)strtoul(optarg, &end, 10);
            if (*end != '\0') {
                fprintf(stderr, "%s storm: --pause takes milliseconds\n", prog);
                return 2;
            }
            break;
        case 'd':
            *duration = strtod(optarg, &end);
            if (*end != '\0' || !(*duration > 0)) {
                fprintf(stderr, "%s storm: --duration takes seconds above 0\n", prog);
                return 2;
            }
            break;
        case 'q':
            *quiet = true;
            break;
        case 'h':
            help(prog, url_default);
            return 0;
        default:
            fprintf(stderr, "%s storm: see %s storm --help\n", prog, prog);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s storm: unexpected argument '%s'\n", prog, argv[optind]);
        return 2;
    }
    return -1;
}

int storm_main(const char *prog, const char *url_default, int argc, char **argv)
{
    struct storm s = {.ep = -1};
    const char *url;
    double duration;
    bool quiet = false;
    uint64_t start, end, now;
    unsigned waiting = 0;
    ssize_t n;
    int ret = parse_args(prog, url_default, argc, argv, &s, &url, &duration, &quiet);

    if (ret >= 0)
        return ret;
    if (idle_proto_for(url) != &idle_trpc) {
        fprintf(stderr, "%s storm: --url must start with trpc:// (got '%s')\n", prog, url);
        return 2;
    }
    ret = idle_resolve(url, idle_trpc.port_default, &s.addr, &s.addrlen);
    if (ret != 0) {
        fprintf(stderr, "%s storm: %s: %s\n", prog, url, gai_strerror(ret));
        return 2;
    }
    n = hello_encode(s.hello, sizeof(s.hello));
    if (n < 0) {
        fprintf(stderr, "%s storm: the credentials do not fit a CONNECT\n", prog);
        return 2;
    }
    s.hello_len = (size_t)n;
    s.slots = calloc(s.n, sizeof(*s.slots));
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (s.slots == NULL || s.ep < 0) {
        fprintf(stderr, "%s storm: %s\n", prog, strerror(errno));
        free(s.slots);
        return 1;
    }
    start = now_ms();
    end = start + (uint64_t)(duration * 1000);
    /* Spread over the first pause, so that the storm is a steady rain and not one burst a pause. */
    for (unsigned i = 0; i < s.n; i++)
        s.slots[i] = (struct slot){.fd = -1, .phase = S_WAIT, .due_ms = start + (uint64_t)s.pause_ms * i / s.n};
    for (now = start; now < end; now = now_ms()) {
        struct epoll_event evs[EVENTS_MAX];
        int k = epoll_wait(s.ep, evs, EVENTS_MAX, TICK_MS);

        now = now_ms();
        for (int j = 0; j < k; j++)
            slot_event(&s, &evs[j], now);
        for (unsigned i = 0; i < s.n; i++) {
            struct slot *sl = &s.slots[i];

            if (sl->phase == S_WAIT && now >= sl->due_ms)
                slot_open(&s, i, now);
            else if (sl->phase != S_WAIT && now >= sl->due_ms) {
                s.timeouts++;
                slot_close(&s, sl, now);
            }
        }
    }
    for (unsigned i = 0; i < s.n; i++) {
        waiting += s.slots[i].phase != S_WAIT;
        if (s.slots[i].fd >= 0)
            close(s.slots[i].fd);
    }
    close(s.ep);
    free(s.slots);
    if (!quiet)
        fprintf(stderr, "%s storm: %u slots, a pause of %u ms\n", prog, s.n, s.pause_ms);
    printf("storm attempts=%llu logged_in=%llu try_again=%llu refused=%llu errors=%llu timeouts=%llu unanswered_at_end=%u "
           "logins_per_s=%.0f%s%s\n",
           (unsigned long long)s.attempts, (unsigned long long)s.ok, (unsigned long long)s.busy, (unsigned long long)s.refused,
           (unsigned long long)s.errors, (unsigned long long)s.timeouts, waiting, (double)s.ok / duration,
           s.first_refusal[0] ? " first_refusal=" : "", s.first_refusal);
    return s.errors + s.timeouts > 0 ? 1 : 0;
}
